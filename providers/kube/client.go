package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Client talks to one cluster through an admin kubeconfig: Helm releases
// (UpgradeOrInstall, Release, Uninstall), objects' Ready conditions
// (WaitReady, Ready) and the server's version. Create it with New. Its
// methods are safe for concurrent use; Helm actions on one client are
// serialized.
type Client struct {
	kubeconfig string
	rest       *rest.Config
	log        *slog.Logger
	out        io.Writer
	chartCache string

	helmMu sync.Mutex // serializes Helm actions (their configuration is per call, their registry client is not)
}

// Options tune a Client. The zero value logs nowhere.
type Options struct {
	// Log receives progress lines (info) and Helm's debug output (debug).
	// Nil discards them.
	Log *slog.Logger
	// Output receives what a chart pull prints (registry digests). Nil
	// discards it.
	Output io.Writer
	// ChartCache is where pulled charts are kept; empty means Helm's
	// repository cache ($HELM_REPOSITORY_CACHE, ~/.cache/helm/repository).
	ChartCache string
}

// New reads the kubeconfig at path (its current context) and returns a
// client for that cluster. It does not contact the server. The file holds
// credentials: errors name the path, never its contents.
func New(kubeconfig string, opts Options) (*Client, error) {
	if _, err := os.Stat(kubeconfig); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{})
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	rc.UserAgent = "k0rdent"
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out := opts.Output
	if out == nil {
		out = io.Discard
	}
	return &Client{kubeconfig: kubeconfig, rest: rc, log: log, out: out, chartCache: opts.ChartCache}, nil
}

// Kubeconfig is the path the client was created from.
func (c *Client) Kubeconfig() string { return c.kubeconfig }

// Host is the API server's URL from the kubeconfig.
func (c *Client) Host() string { return c.rest.Host }

// ServerVersion asks the API server for its version (GET /version) and
// returns its gitVersion, e.g. v1.33.4. It is the cheapest proof that the
// server answers and accepts the kubeconfig's credentials.
func (c *Client) ServerVersion(ctx context.Context) (string, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(c.rest))
	if err != nil {
		return "", fmt.Errorf("discovery client for %s: %w", c.rest.Host, err)
	}
	body, err := dc.RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", fmt.Errorf("GET %s/version: %w", c.rest.Host, err)
	}
	var v version.Info
	if err := json.Unmarshal(body, &v); err != nil || v.GitVersion == "" {
		return "", fmt.Errorf("GET %s/version: not a Kubernetes version document: %.100q", c.rest.Host, body)
	}
	return v.GitVersion, nil
}

func (c *Client) dynamic() (dynamic.Interface, error) {
	d, err := dynamic.NewForConfig(rest.CopyConfig(c.rest))
	if err != nil {
		return nil, fmt.Errorf("dynamic client for %s: %w", c.rest.Host, err)
	}
	return d, nil
}

// restGetter is Helm's view of the cluster. It is built here rather than
// with genericclioptions.ConfigFlags so that nothing is cached under
// ~/.kube/cache: discovery is cached in memory for one Helm action.
type restGetter struct {
	c         *Client
	namespace string

	once   sync.Once
	disc   discovery.CachedDiscoveryInterface
	err    error
	mapper meta.RESTMapper
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.c.rest), nil }

func (g *restGetter) init() {
	g.once.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(g.c.rest))
		if err != nil {
			g.err = err
			return
		}
		g.disc = memory.NewMemCacheClient(dc)
		g.mapper = restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(g.disc), g.disc, nil)
	})
}

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.init()
	return g.disc, g.err
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	g.init()
	return g.mapper, g.err
}

func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: g.c.kubeconfig},
		&clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}})
}
