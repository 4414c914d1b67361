package phases

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
}

func (w *webhookRacer) UpgradeOrInstall(ctx context.Context, r kube.Release) (kube.Result, error) {
	w.mu.Lock()
	w.calls[r.Name]++
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
// CRDs installed and local stand-in charts: the cross-requirements fail
// before anything is created; then a run installs the Azure Disk CSI
// driver (no default StorageClass), Istio, the operators and the
// mothership (whose install fails twice with the webhook race and is
// retried), and the regional ClusterDeployment, which the test sets Ready;
// every step is in the node log with its duration.
func TestKOF_API(t *testing.T) {
	kapi := testbed.StartLocalKube(t)
	kc := installCRDs(t, kapi.Kubeconfig)
	startCAPI(t, kapi.Kubeconfig, 500*time.Millisecond)
	// The azure-children node made kcm-system (KCM's namespace) exist.
	if err := kc.Apply(context.Background(), gvrNamespace, obj("v1", "Namespace", "", "kcm-system", nil)); err != nil {
		t.Fatal(err)
	}
	charts, _ := filepath.Abs(filepath.Join("testdata", "kofcharts"))
	cfg := testConfig(t, `azure_children:
  enabled: true
kof:
  enabled: true
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
	ctx := context.Background()
	newKOF := func() (*KOF, *webhookRacer) {
		p := NewKOF(BuildContext{Config: cfg, Flags: RunFlags{}, Dirs: Dirs{Secrets: t.TempDir()}})
		p.wait = kube.WaitOptions{Interval: 100 * time.Millisecond, Liveness: time.Second}
		racer := &webhookRacer{release: kofMothershipRelease, failLeft: 2, calls: map[string]int{}}
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
	if racer.calls[kofMothershipRelease] != 3 || strings.Count(log.String(), "admission webhook not ready; retrying") != 2 {
		t.Errorf("mothership installed %d times, %d retry lines; want 3 and 2\n%s", racer.calls[kofMothershipRelease], strings.Count(log.String(), "admission webhook not ready"), log)
	}
	for _, step := range []string{"default storage class", "azure disk csi driver", "namespace kof", "helm kof-istio", "helm kof-operators", "helm kof-mothership",
		"apply clusterdeployments.k0rdent.mirantis.com/kcm-system/kof-regional-k0rdent-ab12-westeurope", "wait for clusterdeployments.k0rdent.mirantis.com/kcm-system/kof-regional-k0rdent-ab12-westeurope"} {
		if !strings.Contains(log.String(), `msg="step done" step="`+step+`" took=`) {
			t.Errorf("node log lacks step %q with its duration", step)
		}
	}
	want := map[string]string{KOFOutputStorageClass: "managed-csi", KOFOutputMothership: "kof/kof-mothership",
		KOFOutputRegional: "kcm-system/kof-regional-k0rdent-ab12-westeurope", AzureChildOutputLocation: "westeurope"}
	if got := env.Outputs(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outputs = %v, want %v", got, want)
	}
	if sc, _ := kc.DefaultStorageClass(ctx); sc != "managed-csi" {
		t.Errorf("default StorageClass = %q, want managed-csi from the CSI step", sc)
	}
	cd, _ := kc.Get(ctx, p.regionalRef(env))
	if cd.GetLabels()["k0rdent.mirantis.com/kof-cluster-role"] != "regional" || cd.GetAnnotations()["k0rdent.mirantis.com/kof-regional-domain"] != "kof.acme.internal" {
		t.Errorf("regional ClusterDeployment labels %v annotations %v", cd.GetLabels(), cd.GetAnnotations())
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
	if _, err := kc.Release(ctx, "kof", kofMothershipRelease); !errors.Is(err, kube.ErrNoRelease) {
		t.Errorf("mothership release after Destroy: %v, want kube.ErrNoRelease", err)
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
