package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// Release is a Helm release to install or upgrade.
type Release struct {
	// Name is the release name, e.g. kcm.
	Name string
	// Namespace holds the release (and Helm's record of it); it is
	// created when missing.
	Namespace string
	// Chart is where the chart comes from: an OCI reference
	// (oci://ghcr.io/k0rdent/kcm/charts/kcm), the URL of a chart archive
	// (https://host/kcm-1.4.0.tgz), or a local chart directory or archive
	// (an absolute path, or one starting with ./ or ../).
	Chart string
	// Version is the chart version pulled from an OCI or URL reference.
	// A local chart is used as it is; a different version there is
	// logged, not refused.
	Version string
	// Values are the chart values. On upgrade they replace the previous
	// release's values (helm upgrade --reset-values): the config is the
	// single source of them.
	Values map[string]any
	// Timeout bounds Helm's own waits (hooks, and Wait); 0 means 5
	// minutes.
	Timeout time.Duration
	// Wait is helm --wait: the install or upgrade returns once the
	// release's Deployments, StatefulSets, DaemonSets, Services and Pods
	// are ready (what the KOF docs do for Istio and the operators, so that
	// a later chart's webhooks find their pods running).
	Wait bool
}

// ReleaseInfo is Helm's record of the latest revision of a release.
type ReleaseInfo struct {
	Name         string
	Namespace    string
	Revision     int
	Status       string // deployed, failed, pending-install, ...
	Chart        string // the chart's name
	ChartVersion string
	AppVersion   string
	Updated      time.Time
	Description  string
}

func (r ReleaseInfo) String() string {
	return fmt.Sprintf("release %s/%s revision %d (%s, chart %s-%s)", r.Namespace, r.Name, r.Revision, r.Status, r.Chart, r.ChartVersion)
}

func infoOf(r *release.Release) ReleaseInfo {
	ri := ReleaseInfo{Name: r.Name, Namespace: r.Namespace, Revision: r.Version}
	if r.Info != nil {
		ri.Status = r.Info.Status.String()
		ri.Updated = r.Info.LastDeployed.Time
		ri.Description = r.Info.Description
	}
	if r.Chart != nil && r.Chart.Metadata != nil {
		ri.Chart, ri.ChartVersion, ri.AppVersion = r.Chart.Metadata.Name, r.Chart.Metadata.Version, r.Chart.Metadata.AppVersion
	}
	return ri
}

// Actions UpgradeOrInstall reports.
const (
	ActionInstall = "install"
	ActionUpgrade = "upgrade"
)

// Result is what UpgradeOrInstall did.
type Result struct {
	ReleaseInfo
	// Action is ActionInstall or ActionUpgrade.
	Action string
	// Recovered names the revision an interrupted operation had left
	// pending and that was marked failed before the upgrade, or is empty.
	Recovered string
}

// ErrNoRelease is wrapped by Release and Verify-style calls when Helm has
// no record of the release.
var ErrNoRelease = errors.New("kube: release not found")

// ChartError is a chart that could not be pulled or loaded.
type ChartError struct {
	Ref     string
	Version string
	Err     error
}

func (e *ChartError) Error() string {
	if e.Version == "" {
		return fmt.Sprintf("chart %s: %v", e.Ref, e.Err)
	}
	return fmt.Sprintf("chart %s version %s: %v", e.Ref, e.Version, e.Err)
}

func (e *ChartError) Unwrap() error { return e.Err }

// isLocal reports whether ref names a chart on disk.
func isLocal(ref string) bool {
	return filepath.IsAbs(ref) || strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../") || ref == "." || ref == ".."
}

// LoadChart pulls (or reads) the chart of r. A failure is a *ChartError.
func (c *Client) LoadChart(ctx context.Context, r Release) (*chart.Chart, error) {
	start := time.Now()
	var path string
	if isLocal(r.Chart) {
		path = r.Chart
	} else {
		if !registry.IsOCI(r.Chart) && !strings.HasPrefix(r.Chart, "https://") && !strings.HasPrefix(r.Chart, "http://") {
			return nil, &ChartError{Ref: r.Chart, Version: r.Version, Err: errors.New("not an oci://, http(s):// or local path reference")}
		}
		c.log.Info("pulling chart", "chart", r.Chart, "version", r.Version)
		p, err := c.pull(ctx, r.Chart, r.Version)
		if err != nil {
			return nil, &ChartError{Ref: r.Chart, Version: r.Version, Err: err}
		}
		path = p
	}
	ch, err := loader.Load(path)
	if err != nil {
		return nil, &ChartError{Ref: r.Chart, Version: r.Version, Err: err}
	}
	if isLocal(r.Chart) && r.Version != "" && ch.Metadata.Version != r.Version {
		c.log.Warn("local chart version differs from the configured version", "chart", r.Chart, "chart_version", ch.Metadata.Version, "version", r.Version)
	}
	c.log.Info("chart loaded", "chart", ch.Metadata.Name, "version", ch.Metadata.Version, "took", since(start))
	return ch, nil
}

// pull downloads ref at version into the chart cache and returns the
// archive's path. The downloader takes no context, so it runs in a
// goroutine that is abandoned (and finishes on its own) when ctx ends.
func (c *Client) pull(ctx context.Context, ref, version string) (string, error) {
	settings := cli.New()
	cache := c.chartCache
	if cache == "" {
		cache = settings.RepositoryCache
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("chart cache: %w", err)
	}
	rc, err := registry.NewClient(registry.ClientOptWriter(c.out), registry.ClientOptCredentialsFile(settings.RegistryConfig))
	if err != nil {
		return "", fmt.Errorf("registry client: %w", err)
	}
	dl := downloader.ChartDownloader{
		Out:              c.out,
		Getters:          getter.All(settings),
		RegistryClient:   rc,
		RepositoryConfig: settings.RepositoryConfig,
		RepositoryCache:  cache,
	}
	if registry.IsOCI(ref) {
		dl.Options = append(dl.Options, getter.WithRegistryClient(rc))
	}
	type result struct {
		path string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		p, _, err := dl.DownloadTo(ref, version, cache)
		ch <- result{p, err}
	}()
	select {
	case r := <-ch:
		return r.path, r.err
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
}

// actionConfig is a Helm configuration for namespace, storing releases as
// Secrets (Helm's default driver).
func (c *Client) actionConfig(namespace string) (*action.Configuration, error) {
	cfg := new(action.Configuration)
	debug := func(format string, v ...any) { c.log.Debug("helm: " + fmt.Sprintf(format, v...)) }
	if err := cfg.Init(&restGetter{c: c, namespace: namespace}, namespace, "secret", debug); err != nil {
		return nil, fmt.Errorf("helm configuration for %s: %w", c.rest.Host, err)
	}
	return cfg, nil
}

// lastRelease returns the highest revision of name, or ErrNoRelease.
func lastRelease(cfg *action.Configuration, name string) (*release.Release, error) {
	rels, err := action.NewHistory(cfg).Run(name)
	if errors.Is(err, driver.ErrReleaseNotFound) || (err == nil && len(rels) == 0) {
		return nil, ErrNoRelease
	}
	if err != nil {
		return nil, err
	}
	return slices.MaxFunc(rels, func(a, b *release.Release) int { return a.Version - b.Version }), nil
}

// UpgradeOrInstall makes r's release exist at r's chart and values, as
// `helm upgrade --install --create-namespace --reset-values` does: it
// installs when Helm has no record of the release (or only an uninstalled
// one) and upgrades otherwise, so running it again is an upgrade to a new
// revision, not an error. A release left pending by an interrupted install
// or upgrade (the process died between Helm's records) would block every
// later operation ("another operation is in progress"); k0rdent holds the
// state lock while it runs, so such a revision is marked failed first
// (Result.Recovered says which), and the upgrade proceeds from it. A failed
// release is upgraded. It does not wait for workloads (there may be no
// nodes yet); WaitReady waits for what matters.
func (c *Client) UpgradeOrInstall(ctx context.Context, r Release) (Result, error) {
	c.helmMu.Lock()
	defer c.helmMu.Unlock()
	ch, err := c.LoadChart(ctx, r)
	if err != nil {
		return Result{}, err
	}
	cfg, err := c.actionConfig(r.Namespace)
	if err != nil {
		return Result{}, err
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	res := Result{Action: ActionUpgrade}
	last, err := lastRelease(cfg, r.Name)
	switch {
	case errors.Is(err, ErrNoRelease):
		res.Action = ActionInstall
	case err != nil:
		return Result{}, fmt.Errorf("helm history of %s/%s on %s: %w", r.Namespace, r.Name, c.rest.Host, err)
	case last.Info.Status == release.StatusUninstalled:
		res.Action = ActionInstall
	case last.Info.Status.IsPending():
		res.Recovered = fmt.Sprintf("revision %d (%s)", last.Version, last.Info.Status)
		c.log.Warn("release left pending by an interrupted operation; marking it failed", "release", r.Namespace+"/"+r.Name, "revision", last.Version, "status", last.Info.Status.String())
		last.SetStatus(release.StatusFailed, fmt.Sprintf("%s interrupted; marked failed by k0rdent before upgrading", last.Info.Status))
		if err := cfg.Releases.Update(last); err != nil {
			return Result{}, fmt.Errorf("mark %s/%s revision %d failed: %w", r.Namespace, r.Name, last.Version, err)
		}
	}

	start := time.Now()
	var rel *release.Release
	if res.Action == ActionInstall {
		c.log.Info("installing release", "release", r.Namespace+"/"+r.Name, "chart", ch.Metadata.Name, "version", ch.Metadata.Version)
		in := action.NewInstall(cfg)
		in.ReleaseName, in.Namespace, in.CreateNamespace = r.Name, r.Namespace, true
		in.Replace = last != nil // an uninstalled release kept in history
		in.Timeout = timeout
		in.Version = r.Version
		in.Wait = r.Wait
		rel, err = in.RunWithContext(ctx, ch, valuesOrEmpty(r.Values))
	} else {
		c.log.Info("upgrading release", "release", r.Namespace+"/"+r.Name, "from_revision", last.Version, "from_status", last.Info.Status.String(), "chart", ch.Metadata.Name, "version", ch.Metadata.Version)
		up := action.NewUpgrade(cfg)
		up.Namespace = r.Namespace
		up.ResetValues = true
		up.MaxHistory = 10
		up.Timeout = timeout
		up.Version = r.Version
		up.Wait = r.Wait
		rel, err = up.RunWithContext(ctx, r.Name, ch, valuesOrEmpty(r.Values))
	}
	if err != nil {
		return res, fmt.Errorf("helm %s %s/%s on %s: %w", res.Action, r.Namespace, r.Name, c.rest.Host, err)
	}
	res.ReleaseInfo = infoOf(rel)
	c.log.Info("release "+res.Status, "release", r.Namespace+"/"+r.Name, "action", res.Action, "revision", res.Revision, "took", since(start))
	return res, nil
}

func valuesOrEmpty(v map[string]any) map[string]any {
	if v == nil {
		return map[string]any{}
	}
	return v
}

// Release returns Helm's record of the latest revision of name in
// namespace; an error wrapping ErrNoRelease when there is none.
func (c *Client) Release(ctx context.Context, namespace, name string) (ReleaseInfo, error) {
	c.helmMu.Lock()
	defer c.helmMu.Unlock()
	if err := ctx.Err(); err != nil {
		return ReleaseInfo{}, err
	}
	cfg, err := c.actionConfig(namespace)
	if err != nil {
		return ReleaseInfo{}, err
	}
	last, err := lastRelease(cfg, name)
	if err != nil {
		return ReleaseInfo{}, fmt.Errorf("release %s/%s on %s: %w", namespace, name, c.rest.Host, err)
	}
	return infoOf(last), nil
}

// Uninstall removes the release and what it created (helm uninstall). A
// release that does not exist is not an error: there is nothing to do.
// The namespace stays.
func (c *Client) Uninstall(ctx context.Context, namespace, name string) error {
	c.helmMu.Lock()
	defer c.helmMu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg, err := c.actionConfig(namespace)
	if err != nil {
		return err
	}
	start := time.Now()
	un := action.NewUninstall(cfg)
	un.Timeout = 5 * time.Minute
	if _, err := lastRelease(cfg, name); errors.Is(err, ErrNoRelease) {
		c.log.Info("release not installed; nothing to uninstall", "release", namespace+"/"+name)
		return nil
	}
	if _, err = un.Run(name); err != nil {
		return fmt.Errorf("helm uninstall %s/%s on %s: %w", namespace, name, c.rest.Host, err)
	}
	c.log.Info("release uninstalled", "release", namespace+"/"+name, "took", since(start))
	return nil
}

// since is a duration for a log line, rounded to what a reader cares about.
func since(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}
