package k0sctl

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/tools/clientcmd"
)

// SaveKubeconfig writes the admin kubeconfig to path, 0600, atomically.
// It checks first that data is a kubeconfig with a current context, as the
// bash tool did (a kubeconfig with `contexts: []` was refused there too).
func SaveKubeconfig(path string, data []byte) error {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return fmt.Errorf("k0sctl: kubeconfig from the controller: %w", err)
	}
	if len(cfg.Contexts) == 0 || cfg.Contexts[cfg.CurrentContext] == nil {
		return fmt.Errorf("k0sctl: kubeconfig from the controller has no current context")
	}
	return writeFileAtomic(path, data, 0o600)
}

// ServerVersion asks the API server named by the kubeconfig at path for
// its version (GET /version with the kubeconfig's credentials) and returns
// its git version, e.g. v1.33.4+k0s.
func ServerVersion(ctx context.Context, path string, timeout time.Duration) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read kubeconfig: %w", err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return "", fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if timeout > 0 {
		rc.Timeout = timeout
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return "", fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	type result struct {
		v   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := dc.ServerVersion()
		if err != nil {
			ch <- result{err: err}
			return
		}
		ch <- result{v: v.GitVersion}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case r := <-ch:
		if r.err != nil {
			return "", fmt.Errorf("api server %s: version: %w", rc.Host, r.err)
		}
		return r.v, nil
	}
}
