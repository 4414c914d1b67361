package phases

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/providers/kube"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// K0rdentName is the k0rdent node's name: the journal key.
const K0rdentName = "k0rdent"

// K0rdentRelease is the Helm release name of KCM, as the bash tool and the
// KCM docs install it.
const K0rdentRelease = "kcm"

// Outputs of the k0rdent node.
const (
	K0rdentOutputRelease      = "release"       // <namespace>/<name> of the Helm release
	K0rdentOutputRevision     = "revision"      // the release revision this run deployed
	K0rdentOutputChartVersion = "chart_version" // the chart version deployed
	K0rdentOutputManagement   = "management"    // the object that reported Ready, e.g. managements.k0rdent.mirantis.com/kcm
	K0rdentOutputKubeconfig   = "kubeconfig"    // the admin kubeconfig used (the k0s node's), for dependents
)

func k0rdentPlugin() Plugin {
	return Plugin{
		Name:        K0rdentName,
		Description: "the KCM chart with the Helm SDK (upgrade or install), then a wait until the Management object is Ready",
		DependsOn:   []string{K0sName},
		Factory: func(bc BuildContext) ([]workflow.Phase, error) {
			return []workflow.Phase{NewK0rdent(bc)}, nil
		},
	}
}

// K0rdent is the k0rdent node: KCM installed with the Helm SDK on the
// management cluster, then a wait for KCM's Management object to be Ready
// (the check the bash tool never made).
//
// Input: the k0s node's kubeconfig (an admin kubeconfig under secrets/).
// Run is an idempotent upgrade-or-install of the release kcm in
// software.k0rdent.namespace (created if missing) from
// software.k0rdent.registry at software.k0rdent.version, or from the local
// chart software.k0rdent.chart (air-gapped installs, tests): a rerun is an
// upgrade to a new revision, and a rerun after a partial install (a failed
// release, or one left pending by a killed run) succeeds (see
// providers/kube). It then polls the Management object
// (software.k0rdent.management; KCM's managements.k0rdent.mirantis.com/kcm
// by default) until its Ready condition is True, logging each change and a
// liveness line every 30 s. Helm and the wait share one budget,
// timeouts.k0rdent_install. Errors are distinct: a chart that cannot be
// pulled names the registry keys; running out of time names what was last
// seen of the object; an object that reports Ready=False lists its
// conditions. Outputs: release, revision, chart_version, management,
// kubeconfig.
//
// Preconditions: the kubeconfig is present and the API server answers with
// it. Verify checks that the release is deployed (at the configured chart
// version, unless a local chart is used) and that the object is Ready.
// Destroy uninstalls the release (the namespace and the CRDs stay, as with
// helm uninstall).
type K0rdent struct {
	cfg  *config.Config
	dirs Dirs

	release kube.Release
	object  kube.ObjectRef
	budget  time.Duration    // timeouts.k0rdent_install: Helm and the wait together
	wait    kube.WaitOptions // Interval and Liveness; tests shorten them
}

var (
	_ workflow.Phase          = (*K0rdent)(nil)
	_ workflow.Describer      = (*K0rdent)(nil)
	_ workflow.Preconditioner = (*K0rdent)(nil)
	_ workflow.Verifier       = (*K0rdent)(nil)
	_ workflow.Policer        = (*K0rdent)(nil)
	_ workflow.Destroyer      = (*K0rdent)(nil)
)

// NewK0rdent returns the k0rdent phase for bc.
func NewK0rdent(bc BuildContext) *K0rdent {
	k := bc.Config.Software.K0rdent
	chart := bc.Config.K0rdentChart()
	if chart == "" {
		chart = k.Registry
	} else if !filepath.IsAbs(chart) {
		chart = absPath(chart) // a local chart must look like a path to the provider
	}
	g, v, r, n := bc.Config.ManagementObject()
	return &K0rdent{
		cfg:     bc.Config,
		dirs:    bc.Dirs,
		release: kube.Release{Name: K0rdentRelease, Namespace: k.Namespace, Chart: chart, Version: k.Version},
		object:  kube.ObjectRef{Group: g, Version: v, Resource: r, Name: n},
		budget:  bc.Config.Timeouts.K0rdentInstall.D(),
		wait:    kube.WaitOptions{Interval: 5 * time.Second, Liveness: 30 * time.Second},
	}
}

// Name implements workflow.Phase.
func (p *K0rdent) Name() string { return K0rdentName }

// DependsOn implements workflow.Phase.
func (p *K0rdent) DependsOn() []string { return []string{K0sName} }

// Policy implements workflow.Policer: timeouts.k0rdent_install bounds Helm
// and the wait together; the attempt gets a minute more so that running out
// of the budget is reported by the phase, with what it last saw.
func (p *K0rdent) Policy() workflow.Policy {
	return workflow.Policy{Timeout: p.budget + time.Minute}
}

func (p *K0rdent) localChart() bool { return p.cfg.K0rdentChart() != "" }

// Describe implements workflow.Describer.
func (p *K0rdent) Describe(env *workflow.Env) []string {
	src := fmt.Sprintf("%s version %s", p.release.Chart, p.release.Version)
	if p.localChart() {
		src = "the local chart " + p.release.Chart
	}
	return []string{
		fmt.Sprintf("helm upgrade --install %s from %s into namespace %s (created if missing)", p.release.Name, src, p.release.Namespace),
		fmt.Sprintf("wait until %s reports Ready; helm and the wait within %s (timeouts.k0rdent_install)", p.object, config.Duration(p.budget)),
	}
}

// kubeconfig is the k0s node's kubeconfig output; for Destroy, which may
// run without inputs, the path the k0s node writes.
func (p *K0rdent) kubeconfig(env *workflow.Env) (string, error) {
	path, ok := env.Input(K0sName, K0sOutputKubeconfig)
	if !ok || path == "" {
		return "", fmt.Errorf("the k0s node recorded no %q output", K0sOutputKubeconfig)
	}
	path = secretPath(env, path)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("admin kubeconfig: %w", err)
	}
	return path, nil
}

func (p *K0rdent) client(env *workflow.Env, kubeconfig string) (*kube.Client, error) {
	return kube.New(kubeconfig, kube.Options{Log: env.Log, Output: env.Output})
}

// Preconditions implements workflow.Preconditioner.
func (p *K0rdent) Preconditions() []workflow.Check {
	return []workflow.Check{
		{
			Name: "kubeconfig present",
			Fix:  "k0rdent run --from k0s",
			Check: func(ctx context.Context, env *workflow.Env) error {
				_, err := p.kubeconfig(env)
				return err
			},
		},
		{
			Name: "kubernetes api answers",
			Fix:  "k0rdent run --from k0s",
			Check: func(ctx context.Context, env *workflow.Env) error {
				path, err := p.kubeconfig(env)
				if err != nil {
					return nil // reported by the check above
				}
				c, err := p.client(env, path)
				if err != nil {
					return err
				}
				vctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				defer cancel()
				v, err := c.ServerVersion(vctx)
				if err != nil {
					return err
				}
				env.Log.Info("api server answers", "server", c.Host(), "version", v)
				return nil
			},
		},
	}
}

// Run implements workflow.Phase.
func (p *K0rdent) Run(ctx context.Context, env *workflow.Env) error {
	start := time.Now()
	path, err := p.kubeconfig(env)
	if err != nil {
		return fmt.Errorf("%w (k0rdent run --from k0s)", err)
	}
	c, err := p.client(env, path)
	if err != nil {
		return err
	}
	res, err := c.UpgradeOrInstall(ctx, p.release)
	if err != nil {
		var ce *kube.ChartError
		if errors.As(err, &ce) {
			if p.localChart() {
				return fmt.Errorf("%w (check software.k0rdent.chart: a chart directory or archive)", err)
			}
			return fmt.Errorf("%w (check software.k0rdent.registry and software.k0rdent.version, and that this machine reaches the registry; for an air-gapped install set software.k0rdent.chart to a local copy)", err)
		}
		return err
	}
	if res.Recovered != "" {
		env.Log.Warn("a release left pending by an interrupted run was marked failed and upgraded", "recovered", res.Recovered)
	}
	env.SetOutput(K0rdentOutputRelease, res.Namespace+"/"+res.Name)
	env.SetOutput(K0rdentOutputRevision, strconv.Itoa(res.Revision))
	env.SetOutput(K0rdentOutputChartVersion, res.ChartVersion)
	env.SetOutput(K0rdentOutputKubeconfig, path)

	wo := p.wait
	wo.Timeout = p.budget - time.Since(start)
	if wo.Timeout <= 0 {
		wo.Timeout = time.Second
	}
	if err := c.WaitReady(ctx, p.object, wo); err != nil {
		var te *kube.TimeoutError
		var nr *kube.NotReadyError
		switch {
		case errors.As(err, &te):
			return fmt.Errorf("%w; KCM never reported on it within timeouts.k0rdent_install (%s): look at its pods with KUBECONFIG=%s kubectl -n %s get pods, or raise the timeout and k0rdent run --resume",
				err, config.Duration(p.budget), path, p.release.Namespace)
		case errors.As(err, &nr):
			return fmt.Errorf("%w (KUBECONFIG=%s kubectl get %s -o yaml shows why; k0rdent run --resume waits again)",
				err, path, p.object)
		}
		return err
	}
	env.SetOutput(K0rdentOutputManagement, p.object.String())
	env.Log.Info("k0rdent installed", "release", res.String(), "took", time.Since(start).Round(100*time.Millisecond).String())
	return nil
}

// Verify implements workflow.Verifier: the release is deployed (at the
// configured version unless the chart is local) and the object is Ready.
func (p *K0rdent) Verify(ctx context.Context, env *workflow.Env) error {
	path, err := p.kubeconfig(env)
	if err != nil {
		return err
	}
	c, err := p.client(env, path)
	if err != nil {
		return err
	}
	info, err := c.Release(ctx, p.release.Namespace, p.release.Name)
	if err != nil {
		return err
	}
	if info.Status != "deployed" {
		return fmt.Errorf("%s is %s, want deployed", info, info.Status)
	}
	if !p.localChart() && info.ChartVersion != p.release.Version {
		return fmt.Errorf("%s has chart version %s, want software.k0rdent.version %s", info, info.ChartVersion, p.release.Version)
	}
	return c.CheckReady(ctx, p.object)
}

// Destroy implements workflow.Destroyer: helm uninstall of the release. No
// kubeconfig means no cluster was installed from this state directory.
func (p *K0rdent) Destroy(ctx context.Context, env *workflow.Env) error {
	path, err := p.kubeconfig(env)
	if err != nil {
		path = absPath(filepath.Join(p.dirs.Secrets, k0sSecretsSubdir, kubeconfigFile))
		if _, serr := os.Stat(path); serr != nil {
			env.Log.Info("no admin kubeconfig: nothing to uninstall", "path", path)
			return nil
		}
	}
	c, err := p.client(env, path)
	if err != nil {
		return err
	}
	if err := c.Uninstall(ctx, p.release.Namespace, p.release.Name); err != nil {
		return fmt.Errorf("%w (the cluster must be reachable: k0rdent run --only vpn first)", err)
	}
	return nil
}
