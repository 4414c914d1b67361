package phases

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/k0rdent/k0rdent-deploy/internal/testbed"
	"github.com/k0rdent/k0rdent-deploy/providers/kube"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// webhookRacer wraps the real Helm installer and fails the first n installs
// of one release with the error the bash tool hit: the chart's own
// admission webhook has no endpoint yet. The API server here runs no pods,
// so a real webhook cannot come up; this is the injected part.
type webhookRacer struct {
	next    HelmInstaller
	release string

	mu       sync.Mutex
	failLeft int
	calls    map[string]int
	order    []string        // releases in call order
	waited   map[string]bool // release → installed with Helm's wait
}

func (w *webhookRacer) UpgradeOrInstall(ctx context.Context, r kube.Release) (kube.Result, error) {
	w.mu.Lock()
	w.calls[r.Name]++
	w.order = append(w.order, r.Name)
	w.waited[r.Name] = r.Wait
	fail := r.Name == w.release && w.failLeft > 0
	if fail {
		w.failLeft--
	}
	w.mu.Unlock()
	if fail {
		return kube.Result{}, fmt.Errorf("helm install %s/%s: Internal error occurred: failed calling webhook \"vmalert.victoriametrics.com\": Post \"https://vm-operator.kof.svc:9443/validate\": dial tcp 10.96.0.12:9443: connect: connection refused", r.Namespace, r.Name)
	}
	return w.next.UpgradeOrInstall(ctx, r)
}

func kofEnv(kubeconfig string, azureOut map[string]string, log *syncBuf) *workflow.Env {
	env := &workflow.Env{RunID: "r1", Node: KOFName, Attempt: 1, Log: slog.New(slog.NewTextHandler(log, nil)), Output: log,
		Inputs: map[string]map[string]string{K0rdentName: {K0rdentOutputKubeconfig: kubeconfig}}}
	if azureOut != nil {
		env.Inputs[AzureChildrenName] = azureOut
	}
	return env
}

func runPhase(ctx context.Context, p interface {
	workflow.Phase
	workflow.Preconditioner
}, env *workflow.Env) error {
	for _, c := range p.Preconditions() {
		if err := c.Check(ctx, env); err != nil {
			return &workflow.PreconditionError{Phase: p.Name(), Check: c.Name, Fix: c.Fix, Err: err}
		}
	}
	return p.Run(ctx, env)
}

// TestKOF_API runs the kof phase against a real kube-apiserver with the
// real KCM CRDs, the KCM stand-in (its templates, Credential readiness and
// admission webhook; it sets the regional cluster Ready) and local
// stand-in charts, once per chart layout: KOF 1.1.0 (kof-istio,
// kof-operators, kof-mothership) and KOF 1.5.0 (k0rdent-istio, kof). The
// cross-requirements fail before anything is created; then a run installs
// the Azure Disk CSI driver (no default StorageClass), Istio and the
// operators with Helm's wait, the mothership (whose install fails twice
// with the webhook race and is retried), and the regional
// ClusterDeployment with the domain and e-mail in
// spec.config.clusterAnnotations, admitted by KCM on the first try; every
// step is in the node log with its duration.
func TestKOF_API(t *testing.T) {
	t.Parallel() // its own API server: it runs beside the other slow tests
	for _, tt := range []struct {
		version    string
		charts     []string // in install order
		waited     []string // installed with Helm's wait
		mothership string   // the release that races its webhook
	}{
		{"1.1.0", []string{kofIstioRelease, kofOperatorsRelease, kofMothershipRelease}, []string{kofIstioRelease, kofOperatorsRelease}, kofMothershipRelease},
		{"1.5.0", []string{kofIstio15Release, kofUmbrellaRelease}, []string{kofIstio15Release}, kofUmbrellaRelease},
	} {
		t.Run("KOF"+tt.version, func(t *testing.T) {
			t.Parallel()
			testKOFLayout(t, tt.version, tt.charts, tt.waited, tt.mothership)
		})
	}
}

func testKOFLayout(t *testing.T, version string, wantCharts, wantWaited []string, mothership string) {
	kapi := testbed.StartLocalKube(t)
	kcm, kc := startKCM(t, kapi.Kubeconfig, 500*time.Millisecond)
	ctx := context.Background()
	// What the azure-children node made: KCM's namespace holds its Credential.
	if err := kc.Apply(ctx, gvrCredential, obj("k0rdent.mirantis.com/v1beta1", "Credential", "kcm-system", "azure-cluster-credential", map[string]any{
		"spec": map[string]any{"identityRef": map[string]any{"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "AzureClusterIdentity", "name": "azure-cluster-identity", "namespace": "kcm-system"}},
	})); err != nil {
		t.Fatal(err)
	}
	charts, _ := filepath.Abs(filepath.Join("testdata", "kofcharts"))
	cfg := testConfig(t, `azure_children:
  enabled: true
kof:
  enabled: true
  version: `+version+`
  charts_dir: `+charts+`
  mothership:
    install_retries: 3
    retry_delay: 10ms
  regional:
    domain: kof.acme.internal
    admin_email: ops@acme.internal
    location: westeurope
    ready_timeout: 30s
`)
	newKOF := func() (*KOF, *webhookRacer) {
		p := NewKOF(BuildContext{Config: cfg, Flags: RunFlags{}, Dirs: Dirs{Secrets: t.TempDir()}})
		p.wait = kube.WaitOptions{Interval: 100 * time.Millisecond, Liveness: time.Second}
		p.admission = fastAdmission()
		racer := &webhookRacer{release: mothership, failLeft: 2, calls: map[string]int{}, waited: map[string]bool{}}
		p.installer = func(c *kube.Client) HelmInstaller { racer.next = c; return racer }
		return p, racer
	}

	// Without the azure-children outputs: refused before anything is made.
	p, racer := newKOF()
	err := runPhase(ctx, p, kofEnv(kapi.Kubeconfig, nil, &syncBuf{}))
	var pe *workflow.PreconditionError
	if !errors.As(err, &pe) || pe.Check != "azure credentials for the regional cluster" || !strings.Contains(err.Error(), "--with-azure-children") {
		t.Fatalf("run without Azure credentials = %v, want the regional cluster's precondition", err)
	}
	if len(racer.calls) != 0 {
		t.Errorf("charts installed before the preconditions passed: %v", racer.calls)
	}
	if ns, _ := kc.Get(ctx, kube.ObjectRef{Version: "v1", Resource: "namespaces", Name: "kof"}); ns != nil {
		t.Error("namespace kof created before the preconditions passed")
	}

	secret := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secret, []byte("sp-secret-value"), 0o600); err != nil {
		t.Fatal(err)
	}
	azureOut := map[string]string{AzureOutputSubscription: "sub-1", AzureOutputTenant: "tenant-1", AzureOutputClientID: "client-1",
		AzureOutputSecretPath: secret, AzureOutputCredential: "kcm-system/azure-cluster-credential", AzureOutputClusterID: "k0rdent-ab12"}
	p, racer = newKOF()
	log := &syncBuf{}
	env := kofEnv(kapi.Kubeconfig, azureOut, log)
	if err := runPhase(ctx, p, env); err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log)
	}
	if racer.calls[mothership] != 3 || strings.Count(log.String(), "admission webhook not ready; retrying") != 2 {
		t.Errorf("%s installed %d times, %d retry lines; want 3 and 2\n%s", mothership, racer.calls[mothership], strings.Count(log.String(), "admission webhook not ready"), log)
	}
	// The install order, each retried release once.
	var order []string
	for _, r := range racer.order {
		if len(order) == 0 || order[len(order)-1] != r {
			order = append(order, r)
		}
	}
	if want := append([]string{azureDiskRelease}, wantCharts...); fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("charts installed in order %v, want %v", order, want)
	}
	for r, w := range racer.waited {
		if want := slices.Contains(wantWaited, r); w != want {
			t.Errorf("release %s installed with Helm's wait %v, want %v", r, w, want)
		}
	}
	steps := []string{"default storage class", "azure disk csi driver", "namespace kof"}
	for _, c := range wantCharts {
		steps = append(steps, "helm "+c)
	}
	steps = append(steps, "wait for clustertemplates.k0rdent.mirantis.com/kcm-system/azure-standalone-cp-1-0-15 status.valid",
		"wait for credentials.k0rdent.mirantis.com/kcm-system/azure-cluster-credential status.ready",
		"apply clusterdeployments.k0rdent.mirantis.com/kcm-system/kof-regional-k0rdent-ab12-westeurope", "wait for clusterdeployments.k0rdent.mirantis.com/kcm-system/kof-regional-k0rdent-ab12-westeurope")
	for _, step := range steps {
		if !strings.Contains(log.String(), `msg="step done" step="`+step+`" took=`) {
			t.Errorf("node log lacks step %q with its duration", step)
		}
	}
	out := env.Outputs()
	if !strings.HasPrefix(out[OutputAdmission], "template azure-standalone-cp-1-0-15 valid, credential azure-cluster-credential ready after ") {
		t.Errorf("admission output = %q", out[OutputAdmission])
	}
	delete(out, OutputAdmission)
	want := map[string]string{KOFOutputStorageClass: "managed-csi", KOFOutputMothership: "kof/" + mothership,
		KOFOutputRegional: "kcm-system/kof-regional-k0rdent-ab12-westeurope", AzureChildOutputLocation: "westeurope"}
	if fmt.Sprint(out) != fmt.Sprint(want) {
		t.Errorf("outputs = %v, want %v", out, want)
	}
	if sc, _ := kc.DefaultStorageClass(ctx); sc != "managed-csi" {
		t.Errorf("default StorageClass = %q, want managed-csi from the CSI step", sc)
	}
	cd, _ := kc.Get(ctx, p.regionalRef(env))
	ann, _, _ := unstructured.NestedStringMap(cd.Object, "spec", "config", "clusterAnnotations")
	if cd.GetLabels()["k0rdent.mirantis.com/kof-cluster-role"] != "regional" ||
		ann[KOFAnnotationRegionalDomain] != "kof.acme.internal" || ann[KOFAnnotationCertEmail] != "ops@acme.internal" {
		t.Errorf("regional ClusterDeployment labels %v, spec.config.clusterAnnotations %v", cd.GetLabels(), ann)
	}
	if len(cd.GetAnnotations()) != 0 {
		t.Errorf("regional ClusterDeployment metadata.annotations = %v, want none (KOF reads spec.config.clusterAnnotations)", cd.GetAnnotations())
	}
	if r := kcm.Refusals(); len(r) != 0 || kcm.Checked() == 0 {
		t.Errorf("KCM admission: refusals %q, %d configs checked against the values schema", r, kcm.Checked())
	}
	if strings.Contains(log.String(), "sp-secret-value") || strings.Contains(fmt.Sprint(env.Outputs()), "sp-secret-value") {
		t.Error("the node log or the outputs hold the client secret")
	}
	if err := p.Verify(ctx, env); err != nil {
		t.Errorf("Verify: %v", err)
	}

	// A rerun: a default StorageClass exists now, so no CSI step; and the
	// releases are upgraded.
	p, racer = newKOF()
	racer.failLeft = 0
	log2 := &syncBuf{}
	if err := runPhase(ctx, p, kofEnv(kapi.Kubeconfig, azureOut, log2)); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if racer.calls[azureDiskRelease] != 0 || !strings.Contains(log2.String(), "upgrading release") {
		t.Errorf("second run: CSI installs %d (want 0), upgraded: %v", racer.calls[azureDiskRelease], strings.Contains(log2.String(), "upgrading release"))
	}

	// The webhook never comes up: the retries run out with a clear error.
	p, racer = newKOF()
	racer.failLeft = 100
	err = runPhase(ctx, p, kofEnv(kapi.Kubeconfig, azureOut, &syncBuf{}))
	if err == nil || !strings.Contains(err.Error(), "still not answering after 4 attempts") || !strings.Contains(err.Error(), "kof.mothership.install_retries") {
		t.Errorf("Run with a webhook that never answers = %v", err)
	}

	if err := p.Destroy(ctx, env); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if u, _ := kc.Get(ctx, p.regionalRef(env)); u != nil {
		t.Error("the regional ClusterDeployment is still there after Destroy")
	}
	for i, c := range wantCharts {
		ns := "kof"
		if i == 0 {
			ns = "istio-system"
		}
		if _, err := kc.Release(ctx, ns, c); !errors.Is(err, kube.ErrNoRelease) {
			t.Errorf("release %s/%s after Destroy: %v, want kube.ErrNoRelease", ns, c, err)
		}
	}
}

// The regional cluster's template is checked before anything is created:
// a template KCM does not ship fails the precondition, naming it, the KCM
// version and the templates there are.
func TestKOF_RegionalTemplateMissing(t *testing.T) {
	t.Parallel() // its own API server: it runs beside the other slow tests
	kapi := testbed.StartLocalKube(t)
	startKCM(t, kapi.Kubeconfig, time.Second)
	cfg := testConfig(t, "azure_children:\n  enabled: true\nkof:\n  enabled: true\n  regional: {domain: kof.acme.internal, admin_email: ops@acme.internal, template: azure-standalone-cp-1-0-8}\n")
	p := NewKOF(BuildContext{Config: cfg, Flags: RunFlags{}, Dirs: Dirs{Secrets: t.TempDir()}})
	racer := &webhookRacer{calls: map[string]int{}, waited: map[string]bool{}}
	p.installer = func(c *kube.Client) HelmInstaller { racer.next = c; return racer }
	azureOut := map[string]string{AzureOutputSubscription: "sub-1", AzureOutputTenant: "tenant-1", AzureOutputClientID: "client-1",
		AzureOutputSecretPath: "/nonexistent", AzureOutputCredential: "kcm-system/azure-cluster-credential"}
	err := runPhase(context.Background(), p, kofEnv(kapi.Kubeconfig, azureOut, &syncBuf{}))
	var pe *workflow.PreconditionError
	if !errors.As(err, &pe) || pe.Check != "cluster template exists" {
		t.Fatalf("Run = %v, want the cluster template precondition", err)
	}
	for _, w := range []string{"ClusterTemplate kcm-system/azure-standalone-cp-1-0-8 (kof.regional.template) does not exist in KCM 1.4.0",
		"the ClusterTemplates in kcm-system: azure-standalone-cp-1-0-15"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	if len(racer.calls) != 0 {
		t.Errorf("charts installed before the precondition failed: %v", racer.calls)
	}
}

// TestKOF_Plan: enablement, dependencies and the regional switch.
func TestKOF_Plan(t *testing.T) {
	cfg := testConfig(t, "kof:\n  regional:\n    enabled: false\n")
	p := NewKOF(BuildContext{Config: cfg, Flags: RunFlags{}})
	if ok, why := p.Enabled(); ok || why != "--with-kof not set and kof.enabled is false" {
		t.Errorf("Enabled = %v, %q", ok, why)
	}
	if fmt.Sprint(p.DependsOn()) != "[k0rdent]" {
		t.Errorf("DependsOn without the regional cluster = %v", p.DependsOn())
	}
	cfg = testConfig(t, "kof:\n  enabled: true\n  regional: {domain: kof.acme.internal, admin_email: a@acme.internal}\n")
	p = NewKOF(BuildContext{Config: cfg, Flags: RunFlags{}})
	if ok, _ := p.Enabled(); !ok || fmt.Sprint(p.DependsOn()) != "[k0rdent azure-children]" {
		t.Errorf("kof.enabled: Enabled %v, DependsOn %v", ok, p.DependsOn())
	}
	if !strings.Contains(strings.Join(p.Describe(nil), "\n"), "apply ClusterDeployment kcm-system/kof-regional-k0rdent-westus2") {
		t.Errorf("Describe = %q", p.Describe(nil))
	}
}
