package phases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/providers/kube"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// KOFName is the kof node's name: the journal key.
const KOFName = "kof"

// Outputs of the kof node.
const (
	KOFOutputMothership   = "mothership"    // <namespace>/<release> of kof-mothership
	KOFOutputStorageClass = "storage_class" // the StorageClass KOF's stores use
	KOFOutputRegional     = "regional"      // <namespace>/<name> of the regional ClusterDeployment

	// KOFOutputLegacy is the key under which a teardown hands Destroy the
	// bash tool's KOF of a migrated deployment (JSON: mothership,
	// namespace, regional_cluster, …), and the output Destroy sets once
	// it removed it.
	KOFOutputLegacy = "legacy_kof"
)

// Where the bash tool put KOF: the regional ClusterDeployment in
// kcm-system, kof-istio in istio-system (the operators and the mothership
// in its kof_mothership_namespace, "kof" unless recorded otherwise).
const (
	legacyKOFRegionalNamespace = "kcm-system"
	legacyKOFIstioNamespace    = "istio-system"
	legacyKOFNamespace         = "kof"
	legacyUnknownRegional      = "(unknown name)" // what the migration records when the name was lost
)

// Release names, as the bash tool and the KOF docs install them: up to KOF
// 1.4 kof-istio, kof-operators, kof-mothership; from 1.5 k0rdent-istio
// (from its own registry) and the umbrella chart kof.
const (
	kofIstioRelease      = "kof-istio"
	kofOperatorsRelease  = "kof-operators"
	kofMothershipRelease = "kof-mothership"
	kofIstio15Release    = "k0rdent-istio"
	kofUmbrellaRelease   = "kof"
	azureDiskRelease     = "azuredisk-csi-driver"
	azureDiskVersion     = "v1.30.0"
	azureDiskRepo        = "https://raw.githubusercontent.com/kubernetes-sigs/azuredisk-csi-driver/master/charts/" + azureDiskVersion + "/azuredisk-csi-driver-" + azureDiskVersion + ".tgz"
	kofRegistry          = "oci://ghcr.io/k0rdent/kof/charts/"
	istioRegistry        = "oci://ghcr.io/k0rdent/istio/charts/"
	kofStorageClass      = "managed-csi"
)

// kofChart is one chart of a KOF chart layout, in install order.
type kofChart struct {
	release, namespace, version string
	// wait is Helm's --wait (Istio and the operators, as the KOF docs
	// install them): the next chart's webhooks then find their pods.
	wait bool
	// retries is for the chart that races its own admission webhook.
	retries int
	values  map[string]any
}

// layout returns the charts of kof.version's layout (config.KOFChartLayout).
func (p *KOF) layout() ([]kofChart, error) {
	k := p.cfg.KOF
	l, err := config.KOFChartLayout(k.Version)
	if err != nil {
		return nil, fmt.Errorf("kof.version: %w", err)
	}
	if l == config.KOFLayoutUmbrella {
		return []kofChart{
			{release: kofIstio15Release, namespace: k.Istio.Namespace, version: k.Istio.Version, wait: true},
			// The umbrella chart holds the operators and the mothership:
			// global values reach its subcharts, and its install races the
			// Victoria Metrics webhook as kof-mothership's did.
			{release: kofUmbrellaRelease, namespace: k.Mothership.Namespace, version: k.Version, retries: k.Mothership.InstallRetries, values: p.mothershipValues()},
		}, nil
	}
	return []kofChart{
		{release: kofIstioRelease, namespace: k.Istio.Namespace, version: k.Istio.Version, wait: true},
		{release: kofOperatorsRelease, namespace: k.Mothership.Namespace, version: k.Version, wait: true},
		{release: kofMothershipRelease, namespace: k.Mothership.Namespace, version: k.Version, retries: k.Mothership.InstallRetries, values: p.mothershipValues()},
	}, nil
}

// mothershipRelease is the release Verify checks: the last chart of the
// layout.
func (p *KOF) mothershipRelease() string {
	if l, _ := config.KOFChartLayout(p.cfg.KOF.Version); l == config.KOFLayoutUmbrella {
		return kofUmbrellaRelease
	}
	return kofMothershipRelease
}

var gvrClusterProfile = schema.GroupVersionResource{Group: "config.projectsveltos.io", Version: "v1beta1", Resource: "clusterprofiles"}

// HelmInstaller installs a release; *kube.Client implements it. Tests wrap
// it to play the admission-webhook race.
type HelmInstaller interface {
	UpgradeOrInstall(ctx context.Context, r kube.Release) (kube.Result, error)
}

var _ HelmInstaller = (*kube.Client)(nil)

func kofPlugin() Plugin {
	return Plugin{
		Name:        KOFName,
		Description: "KOF: the Azure Disk CSI driver when there is no default StorageClass, Istio, the KOF operators and mothership charts (Helm SDK, retried over the webhook race), then the regional cluster as a ClusterDeployment",
		DependsOn:   []string{K0rdentName, AzureChildrenName},
		EnabledBy:   KOFComponent.EnabledBy(),
		Factory: func(bc BuildContext) ([]workflow.Phase, error) {
			return []workflow.Phase{NewKOF(bc)}, nil
		},
	}
}

// KOF is the kof node: KOF's mothership on the management cluster and its
// regional cluster on Azure.
//
// Inputs: the k0rdent node's kubeconfig; with kof.regional.enabled, the
// azure-children node's outputs (subscription, credential, client secret
// path, cluster id). Preconditions check before anything is created: the
// API answers; Sveltos's ClusterProfile CRD is served (the Istio chart
// holds ClusterProfiles); the StorageClass KOF needs exists (a default one,
// or kof.mothership.storage_class), or the Azure credentials are there to
// install the Azure Disk CSI driver that provides it; with the regional
// cluster, the Azure credentials are recorded and kof.regional.template
// exists in KCM (and is not invalid).
//
// The charts follow kof.version (config.KOFChartLayout): up to 1.4
// kof-istio, kof-operators, kof-mothership (oci://ghcr.io/k0rdent/kof/charts/);
// from 1.5 k0rdent-istio (oci://ghcr.io/k0rdent/istio/charts/) and the
// umbrella chart kof, as the KOF docs install them. A version of neither
// layout is refused by config validation, naming the known ones.
//
// Run, each step logged with its duration: the Azure Disk CSI driver
// (only when no default StorageClass exists and storage_class is default:
// the azure-cloud-provider Secret, the chart, a default StorageClass
// managed-csi), the namespace kof labelled istio-injection=enabled, then
// the layout's charts: Istio and the operators with Helm's wait (bounded,
// 10m each), so that the mothership's webhooks find running pods; the
// mothership (or the umbrella chart) ships the Victoria Metrics operator
// with its own admission webhook, so its first install often fails calling
// that webhook: such failures are retried kof.mothership.install_retries
// times, kof.mothership.retry_delay apart. Then the regional
// ClusterDeployment (labels kof-cluster-role=regional, istio-role=child;
// the domain and e-mail in spec.config.clusterAnnotations, where the KOF
// operator reads them), created once KCM's admission will take it
// (template valid, Credential ready, waited for and retried as in
// azure-children) and waited Ready within kof.regional.ready_timeout.
// Charts come from ghcr.io, or from kof.charts_dir (air-gapped installs,
// tests).
//
// Verify checks the mothership (or umbrella) release is deployed and the
// regional cluster Ready. Destroy deletes the regional cluster and
// uninstalls the charts.
type KOF struct {
	cfg   *config.Config
	dirs  Dirs
	flags RunFlags

	installer func(c *kube.Client) HelmInstaller // tests wrap the client
	sleep     func(ctx context.Context, d time.Duration) error
	wait      kube.WaitOptions
	admission admission
}

// Annotations the KOF operator reads from a regional cluster, set through
// the ClusterDeployment's spec.config.clusterAnnotations.
const (
	KOFAnnotationRegionalDomain = "k0rdent.mirantis.com/kof-regional-domain"
	KOFAnnotationCertEmail      = "k0rdent.mirantis.com/kof-cert-email"
)

// kofHelmWait bounds Helm's wait for Istio and the operators.
const kofHelmWait = 10 * time.Minute

var (
	_ workflow.Phase          = (*KOF)(nil)
	_ workflow.Enabler        = (*KOF)(nil)
	_ workflow.Describer      = (*KOF)(nil)
	_ workflow.Preconditioner = (*KOF)(nil)
	_ workflow.Verifier       = (*KOF)(nil)
	_ workflow.Policer        = (*KOF)(nil)
	_ workflow.Destroyer      = (*KOF)(nil)
)

// NewKOF returns the kof phase for bc.
func NewKOF(bc BuildContext) *KOF {
	return &KOF{
		cfg: bc.Config, dirs: bc.Dirs, flags: bc.Flags,
		installer: func(c *kube.Client) HelmInstaller { return c },
		sleep:     sleepCtx,
		wait:      kube.WaitOptions{Interval: 30 * time.Second, Liveness: 2 * time.Minute},
		admission: defaultAdmission(),
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Name implements workflow.Phase.
func (p *KOF) Name() string { return KOFName }

func (p *KOF) regional() bool { return p.cfg.KOF.Regional.Enabled }

// DependsOn implements workflow.Phase: the regional cluster is created with
// the azure-children credentials.
func (p *KOF) DependsOn() []string {
	if p.regional() {
		return []string{K0rdentName, AzureChildrenName}
	}
	return []string{K0rdentName}
}

// Enabled implements workflow.Enabler: --with-kof or --with-kof=false
// when given, else kof.enabled; the reason says which decided, e.g.
// "--with-kof=false given (kof.enabled is true in k0rdent.yaml)".
func (p *KOF) Enabled() (bool, string) {
	if d := KOFComponent.Decide(p.cfg, p.flags); !d.On {
		return false, d.Reason
	}
	return true, ""
}

// Policy implements workflow.Policer: the charts, their retries and the
// regional cluster's wait.
func (p *KOF) Policy() workflow.Policy {
	m := p.cfg.KOF.Mothership
	return workflow.Policy{Timeout: 30*time.Minute + 2*kofHelmWait + time.Duration(m.InstallRetries)*m.RetryDelay.D() + p.admission.total() + p.cfg.KOF.Regional.ReadyTimeout.D()}
}

func (p *KOF) chart(name, version string) string {
	if dir := p.cfg.KOF.ChartsDir; dir != "" {
		if !filepath.IsAbs(dir) && p.cfg.File() != "" {
			dir = filepath.Join(filepath.Dir(p.cfg.File()), dir)
		}
		return absPath(filepath.Join(dir, name))
	}
	switch name {
	case azureDiskRelease:
		return azureDiskRepo
	case kofIstio15Release:
		return istioRegistry + name
	}
	return kofRegistry + name
}

func (p *KOF) regionalName(env *workflow.Env) string {
	r := p.cfg.KOF.Regional
	if r.ClusterName != "" {
		return r.ClusterName
	}
	id, _ := env.Input(AzureChildrenName, AzureOutputClusterID)
	if id == "" {
		id = p.cfg.Metadata.Name
	}
	return "kof-regional-" + id + "-" + r.Location
}

// Describe implements workflow.Describer.
func (p *KOF) Describe(env *workflow.Env) []string {
	k := p.cfg.KOF
	lines := []string{
		"when no default StorageClass exists: the Azure Disk CSI driver " + azureDiskVersion + " and a default StorageClass " + kofStorageClass,
	}
	charts, err := p.layout()
	if err != nil {
		return append(lines, err.Error())
	}
	for _, ch := range charts {
		line := fmt.Sprintf("helm upgrade --install %s %s %s into %s", ch.release, p.chart(ch.release, ch.version), ch.version, ch.namespace)
		if ch.wait {
			line += " --wait"
		}
		if ch.retries > 0 {
			line += fmt.Sprintf("; up to %s %s apart over the webhook race", plural(ch.retries, "retry"), k.Mothership.RetryDelay)
		}
		lines = append(lines, line)
	}
	if p.regional() {
		r := k.Regional
		lines = append(lines, fmt.Sprintf("apply ClusterDeployment %s/%s (regional, template %s, %s, domain %s) once the template is valid and Credential %s ready; wait until Ready within %s",
			p.cfg.AzureChildren.Namespace, p.regionalName(env), orUnset(r.Template, "kof.regional.template"), orUnset(r.Location, "kof.regional.location"),
			orUnset(r.Domain, "kof.regional.domain"), orUnset(r.Credential, "kof.regional.credential"), r.ReadyTimeout))
	}
	return lines
}

func (p *KOF) kubeconfig(env *workflow.Env) (string, error) {
	return kubeconfigFrom(env, p.dirs, K0rdentName, K0rdentOutputKubeconfig, false)
}

func (p *KOF) azureInputs(env *workflow.Env) error {
	for _, k := range []string{AzureOutputSubscription, AzureOutputCredential, AzureOutputTenant, AzureOutputClientID, AzureOutputSecretPath} {
		if v, ok := env.Input(AzureChildrenName, k); !ok || v == "" {
			return fmt.Errorf("the azure-children node recorded no %q output: it did not run in this deployment", k)
		}
	}
	return nil
}

// Preconditions implements workflow.Preconditioner. They run before
// anything is created.
func (p *KOF) Preconditions() []workflow.Check {
	checks := kubeChecks(p.dirs, K0rdentName, K0rdentOutputKubeconfig, "k0rdent run --from k0rdent",
		[]schema.GroupVersionResource{gvrClusterProfile}, "KCM installs Sveltos: wait until its Management is Ready, then k0rdent run --resume")
	if p.regional() {
		checks = append(checks, workflow.Check{
			Name: "azure credentials for the regional cluster",
			Fix:  "k0rdent run --with-azure-children --with-kof (or set kof.regional.enabled: false)",
			Check: func(ctx context.Context, env *workflow.Env) error {
				return p.azureInputs(env)
			},
		}, clusterTemplateCheck(p.cfg, p.dirs, K0rdentName, K0rdentOutputKubeconfig, "kof.regional.template", p.cfg.AzureChildren.Namespace, p.cfg.KOF.Regional.Template))
	}
	checks = append(checks, workflow.Check{
		Name: "storage class",
		Fix:  "k0rdent run --with-azure-children --with-kof (the Azure Disk CSI driver brings one), or create a default StorageClass, or set kof.mothership.storage_class",
		Check: func(ctx context.Context, env *workflow.Env) error {
			path, err := p.kubeconfig(env)
			if err != nil {
				return nil // reported above
			}
			c, err := kubeClient(env, path)
			if err != nil {
				return nil
			}
			sc := p.cfg.KOF.Mothership.StorageClass
			if sc != "default" {
				u, err := c.Get(ctx, kube.ObjectRef{Group: kube.StorageClasses.Group, Version: kube.StorageClasses.Version, Resource: kube.StorageClasses.Resource, Name: sc})
				if err != nil {
					return err
				}
				if u == nil {
					return fmt.Errorf("no StorageClass %s (kof.mothership.storage_class)", sc)
				}
				return nil
			}
			def, err := c.DefaultStorageClass(ctx)
			if err != nil {
				return err
			}
			if def != "" {
				return nil
			}
			if err := p.azureInputs(env); err != nil {
				return fmt.Errorf("no default StorageClass, and no Azure credentials to install the Azure Disk CSI driver: %w", err)
			}
			return nil
		},
	})
	return checks
}

// webhookRace reports whether err is the admission-webhook race: the chart
// ships a webhook whose service has no ready endpoint yet.
func webhookRace(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "failed calling webhook") || strings.Contains(s, "no endpoints available for service") ||
		(strings.Contains(s, "webhook") && strings.Contains(s, "connection refused"))
}

// install upgrades-or-installs r, retrying the webhook race retries times.
func (p *KOF) install(ctx context.Context, env *workflow.Env, h HelmInstaller, r kube.Release, retries int) (kube.Result, error) {
	delay := p.cfg.KOF.Mothership.RetryDelay.D()
	for attempt := 1; ; attempt++ {
		res, err := h.UpgradeOrInstall(ctx, r)
		if err == nil || !webhookRace(err) || attempt > retries {
			if err != nil && webhookRace(err) {
				return res, fmt.Errorf("%w; the webhook was still not answering after %d attempts (raise kof.mothership.install_retries or retry_delay, then k0rdent run --resume)", err, attempt)
			}
			return res, err
		}
		env.Log.Warn("admission webhook not ready; retrying", "release", r.Namespace+"/"+r.Name, "attempt", attempt, "of", retries+1, "in", delay.String(), "error", err.Error())
		if err := p.sleep(ctx, delay); err != nil {
			return res, err
		}
	}
}

// Run implements workflow.Phase.
func (p *KOF) Run(ctx context.Context, env *workflow.Env) error {
	k := p.cfg.KOF
	kc, err := p.kubeconfig(env)
	if err != nil {
		return fmt.Errorf("%w (k0rdent run --from k0rdent)", err)
	}
	c, err := kubeClient(env, kc)
	if err != nil {
		return err
	}
	h := p.installer(c)
	step := stepper(env)
	charts, err := p.layout()
	if err != nil {
		return err
	}

	sc := k.Mothership.StorageClass
	if sc == "default" {
		var def string
		if err := step("default storage class", func() error {
			def, err = c.DefaultStorageClass(ctx)
			return err
		}); err != nil {
			return err
		}
		if def == "" {
			if err := step("azure disk csi driver", func() error { return p.installCSI(ctx, env, c, h) }); err != nil {
				return err
			}
			def = kofStorageClass
		}
		env.SetOutput(KOFOutputStorageClass, def)
	} else {
		env.SetOutput(KOFOutputStorageClass, sc)
	}

	if err := step("namespace "+k.Mothership.Namespace, func() error {
		return c.Apply(ctx, gvrNamespace, obj("v1", "Namespace", "", k.Mothership.Namespace, map[string]any{
			"labels": map[string]any{"istio-injection": "enabled"},
		}))
	}); err != nil {
		return err
	}
	for _, ch := range charts {
		r := kube.Release{Name: ch.release, Namespace: ch.namespace, Chart: p.chart(ch.release, ch.version), Version: ch.version, Values: ch.values, Wait: ch.wait}
		if ch.wait {
			r.Timeout = kofHelmWait
		}
		if err := step("helm "+ch.release, func() error {
			_, err := p.install(ctx, env, h, r, ch.retries)
			return err
		}); err != nil {
			var ce *kube.ChartError
			if errors.As(err, &ce) {
				return fmt.Errorf("%w (check kof.version and kof.istio.version and that this machine reaches ghcr.io; for an air-gapped install set kof.charts_dir)", err)
			}
			return err
		}
	}
	env.SetOutput(KOFOutputMothership, k.Mothership.Namespace+"/"+p.mothershipRelease())

	if !p.regional() {
		return nil
	}
	r := k.Regional
	ac := p.cfg.AzureChildren
	sub, _ := env.Input(AzureChildrenName, AzureOutputSubscription)
	name := p.regionalName(env)
	// The KOF operator reads the domain and the e-mail from the
	// cluster's annotations, which the template sets from
	// spec.config.clusterAnnotations (metadata.annotations of the
	// ClusterDeployment do not reach it).
	cd := clusterDeployment(ac.Namespace, name, r.Template, r.Credential, ac.Identity, sub, r.Location,
		1, r.ControlPlaneSize, 3, r.WorkerSize, r.RootVolumeSizeGB,
		map[string]string{"k0rdent.mirantis.com/kof-cluster-role": "regional", "k0rdent.mirantis.com/istio-role": "child"},
		map[string]string{KOFAnnotationRegionalDomain: r.Domain, KOFAnnotationCertEmail: r.AdminEmail})
	if err := waitAdmissible(ctx, env, c, p.admission, ac.Namespace, r.Template, r.Credential); err != nil {
		return err
	}
	return applyAndWait(ctx, env, c, p.admission, cd, p.regionalRef(env), r.ReadyTimeout.D(), p.wait, kc, KOFOutputRegional, r.Location)
}

func (p *KOF) regionalRef(env *workflow.Env) kube.ObjectRef {
	return kube.ObjectRef{Group: gvrClusterDeployment.Group, Version: gvrClusterDeployment.Version, Resource: gvrClusterDeployment.Resource,
		Namespace: p.cfg.AzureChildren.Namespace, Name: p.regionalName(env)}
}

func (p *KOF) mothershipValues() map[string]any {
	if sc := p.cfg.KOF.Mothership.StorageClass; sc != "default" {
		return map[string]any{"global": map[string]any{"storageClass": sc}}
	}
	return nil
}

// installCSI installs the Azure Disk CSI driver with the azure-children
// service principal: the kube-system/azure-cloud-provider Secret it reads,
// the chart, and a default StorageClass.
func (p *KOF) installCSI(ctx context.Context, env *workflow.Env, c *kube.Client, h HelmInstaller) error {
	if err := p.azureInputs(env); err != nil {
		return err
	}
	in := func(k string) string { v, _ := env.Input(AzureChildrenName, k); return v }
	secret, err := os.ReadFile(in(AzureOutputSecretPath))
	if err != nil {
		return fmt.Errorf("azure client secret: %w (k0rdent run --from azure-children)", err)
	}
	rg, _ := env.Input(TerraformName, "resource_group")
	cloud := fmt.Sprintf(`{"cloud":"AzurePublicCloud","tenantId":%q,"subscriptionId":%q,"aadClientId":%q,"aadClientSecret":%q,"resourceGroup":%q,"location":%q,"useInstanceMetadata":true,"vmType":"standard"}`,
		in(AzureOutputTenant), in(AzureOutputSubscription), in(AzureOutputClientID), strings.TrimSpace(string(secret)), rg, p.cfg.Azure.Location)
	if err := c.Apply(ctx, gvrSecret, obj("v1", "Secret", "kube-system", "azure-cloud-provider", map[string]any{
		"type":       "Opaque",
		"stringData": map[string]any{"cloud-config": cloud, "azure.json": cloud},
	})); err != nil {
		return err
	}
	r := kube.Release{Name: azureDiskRelease, Namespace: "kube-system", Chart: p.chart(azureDiskRelease, azureDiskVersion), Version: azureDiskVersion}
	if _, err := p.install(ctx, env, h, r, 0); err != nil {
		return err
	}
	return c.Apply(ctx, kube.StorageClasses, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
		"metadata": map[string]any{
			"name":        kofStorageClass,
			"annotations": map[string]any{kube.DefaultStorageClassAnnotation: "true"},
		},
		"provisioner":          "disk.csi.azure.com",
		"parameters":           map[string]any{"skuName": "StandardSSD_ZRS"},
		"reclaimPolicy":        "Delete",
		"volumeBindingMode":    "WaitForFirstConsumer",
		"allowVolumeExpansion": true,
	}})
}

// Verify implements workflow.Verifier.
func (p *KOF) Verify(ctx context.Context, env *workflow.Env) error {
	kc, err := kubeconfigFrom(env, p.dirs, K0rdentName, K0rdentOutputKubeconfig, true)
	if err != nil {
		return err
	}
	c, err := kubeClient(env, kc)
	if err != nil {
		return err
	}
	info, err := c.Release(ctx, p.cfg.KOF.Mothership.Namespace, p.mothershipRelease())
	if err != nil {
		return err
	}
	if info.Status != "deployed" {
		return fmt.Errorf("%s is %s, want deployed", info, info.Status)
	}
	if p.regional() {
		return c.CheckReady(ctx, p.regionalRef(env))
	}
	return nil
}

// Destroy implements workflow.Destroyer: the regional cluster, then the
// charts in reverse order (the namespaces and CRDs stay, as with helm
// uninstall).
//
// Handed the bash tool's KOF of a migrated deployment (KOFOutputLegacy),
// it also deletes the regional cluster and uninstalls the releases the
// bash tool installed, under its names and namespaces, and says so in
// that output; without the admin kubeconfig it removes nothing and says
// nothing, so that runtime.yaml keeps listing it.
func (p *KOF) Destroy(ctx context.Context, env *workflow.Env) error {
	legacy, err := legacyKOF(env)
	if err != nil {
		return err
	}
	kc, err := kubeconfigFrom(env, p.dirs, K0rdentName, K0rdentOutputKubeconfig, true)
	if err != nil {
		if legacy != nil {
			env.Log.Warn("no admin kubeconfig: the legacy tool's KOF is left as it is; runtime.yaml keeps listing it")
		}
		env.Log.Info("no admin kubeconfig: nothing to delete")
		return nil
	}
	c, err := kubeClient(env, kc)
	if err != nil {
		return err
	}
	var errs []error
	if p.regional() {
		if err := deleteAndWait(ctx, env, c, p.regionalRef(env), p.cfg.KOF.Regional.ReadyTimeout.D()); err != nil {
			errs = append(errs, err)
		}
	}
	charts, err := p.layout()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	// The charts in reverse order, then the CSI driver (the stores'
	// volumes use it).
	slices.Reverse(charts)
	charts = append(charts, kofChart{release: azureDiskRelease, namespace: "kube-system"})
	for _, r := range charts {
		if err := c.Uninstall(ctx, r.namespace, r.release); err != nil && !errors.Is(err, kube.ErrNoRelease) {
			errs = append(errs, err)
		}
	}
	if legacy != nil {
		if err := p.destroyLegacy(ctx, env, c, legacy); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// legacyKOFInstall is the bash tool's KOF as a teardown hands it over
// (state.LegacyKOFInstall's JSON names).
type legacyKOFInstall struct {
	Mothership      bool   `json:"mothership"`
	Namespace       string `json:"namespace"`
	AzureCSI        bool   `json:"azure_csi"`
	RegionalCluster string `json:"regional_cluster"`
}

func legacyKOF(env *workflow.Env) (*legacyKOFInstall, error) {
	v := env.Recorded[KOFOutputLegacy]
	if v == "" {
		return nil, nil
	}
	var l legacyKOFInstall
	if err := json.Unmarshal([]byte(v), &l); err != nil {
		return nil, fmt.Errorf("the legacy KOF handed to the teardown: %w", err)
	}
	return &l, nil
}

// legacyKOFReleases are the releases the bash tool installed for its
// mothership, in uninstall order.
func legacyKOFReleases(l *legacyKOFInstall) []kofChart {
	if !l.Mothership {
		return nil
	}
	ns := l.Namespace
	if ns == "" {
		ns = legacyKOFNamespace
	}
	return []kofChart{
		{release: kofMothershipRelease, namespace: ns},
		{release: kofOperatorsRelease, namespace: ns},
		{release: kofIstioRelease, namespace: legacyKOFIstioNamespace},
	}
}

// destroyLegacy removes the bash tool's KOF: the regional cluster (waited
// until KCM deleted it and its Azure resources), then its releases (one
// already gone is fine). The Azure Disk CSI manifests it applied stay
// with the management cluster. It sets KOFOutputLegacy only when all of
// that is gone.
func (p *KOF) destroyLegacy(ctx context.Context, env *workflow.Env, c *kube.Client, l *legacyKOFInstall) error {
	var done []string
	var failed []error
	switch l.RegionalCluster {
	case "":
	case legacyUnknownRegional:
		failed = append(failed, fmt.Errorf("the legacy tool's KOF regional cluster has no recorded name: find it with kubectl -n %s get clusterdeployment -l k0rdent.mirantis.com/kof-cluster-role=regional and delete it by hand",
			legacyKOFRegionalNamespace))
	default:
		ref := kube.ObjectRef{Group: gvrClusterDeployment.Group, Version: gvrClusterDeployment.Version, Resource: gvrClusterDeployment.Resource,
			Namespace: legacyKOFRegionalNamespace, Name: l.RegionalCluster}
		timeout := p.cfg.KOF.Regional.ReadyTimeout.D()
		if timeout <= 0 {
			timeout = defaultChildReadyTimeout
		}
		if err := deleteAndWait(ctx, env, c, ref, timeout); err != nil {
			failed = append(failed, fmt.Errorf("the legacy tool's KOF regional cluster: %w (delete it by hand: kubectl -n %s delete clusterdeployment %s)", err, ref.Namespace, ref.Name))
		} else {
			done = append(done, "regional cluster "+ref.Namespace+"/"+ref.Name)
		}
	}
	for _, r := range legacyKOFReleases(l) {
		err := c.Uninstall(ctx, r.namespace, r.release)
		switch {
		case err == nil || errors.Is(err, kube.ErrNoRelease):
			done = append(done, r.namespace+"/"+r.release)
		default:
			failed = append(failed, fmt.Errorf("the legacy tool's KOF: %w (by hand: helm uninstall -n %s %s)", err, r.namespace, r.release))
		}
	}
	if len(failed) > 0 {
		return errors.Join(failed...)
	}
	what := "removed " + strings.Join(done, ", ")
	if l.AzureCSI {
		what += "; the Azure Disk CSI manifests go with the management cluster"
	}
	env.SetOutput(KOFOutputLegacy, what)
	return nil
}
