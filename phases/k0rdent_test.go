package phases

import (
	"bytes"
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

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/internal/testbed"
	"github.com/k0rdent/k0rdent-deploy/providers/kube"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// kcmTestChart is the stand-in KCM chart: the Management CRD and a ConfigMap.
func kcmTestChart(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "providers", "kube", "testdata", "chart"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// k0rdentPhase returns the phase for a config with the given software.k0rdent
// and timeouts.k0rdent_install, polling fast.
func k0rdentPhase(t *testing.T, k0rdentYAML, budget string) *K0rdent {
	t.Helper()
	doc := "azure:\n  location: westus2\nsoftware:\n  k0rdent:\n" + k0rdentYAML + "timeouts:\n  k0rdent_install: " + budget + "\n"
	cfg, err := config.Parse([]byte(doc), filepath.Join(t.TempDir(), "k0rdent.yaml"))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, doc)
	}
	p := NewK0rdent(BuildContext{Config: cfg, Dirs: Dirs{Secrets: t.TempDir()}})
	p.wait = kube.WaitOptions{Interval: 100 * time.Millisecond, Liveness: time.Second}
	return p
}

// syncBuf is a node log.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the log holds want, for at most timeout.
func (s *syncBuf) waitFor(want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(s.String(), want) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the node log has no %q after %s", want, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func k0rdentEnv(kubeconfig string, log *syncBuf) *workflow.Env {
	env := &workflow.Env{RunID: "r1", Node: K0rdentName, Attempt: 1, Log: slog.New(slog.NewTextHandler(log, nil)), Output: log}
	if kubeconfig != "" {
		env.Inputs = map[string]map[string]string{K0sName: {K0sOutputKubeconfig: kubeconfig}}
	}
	return env
}

// runK0rdent runs the phase as the scheduler would: preconditions, then Run
// bounded by the policy's timeout.
func runK0rdent(t *testing.T, p *K0rdent, env *workflow.Env) error {
	t.Helper()
	ctx := context.Background()
	for _, c := range p.Preconditions() {
		if err := c.Check(ctx, env); err != nil {
			return &workflow.PreconditionError{Phase: K0rdentName, Check: c.Name, Fix: c.Fix, Err: err}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.Policy().Timeout)
	defer cancel()
	return p.Run(ctx, env)
}

// kcm plays KCM's controller on the cluster of kubeconfig.
type kcm struct {
	t   *testing.T
	dyn dynamic.Interface
	ref kube.ObjectRef
}

func newKCM(t *testing.T, kubeconfig string, ref kube.ObjectRef) *kcm {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return &kcm{t: t, dyn: dynamic.NewForConfigOrDie(rc), ref: ref}
}

// create makes the Management object, retrying until its CRD is served
// (the chart installs it) or a minute passes.
func (k *kcm) create() error {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": k.ref.Group + "/" + k.ref.Version, "kind": "Management",
		"metadata": map[string]any{"name": k.ref.Name},
		"spec":     map[string]any{"release": "kcm-1-4-0"},
	}}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := k.dyn.Resource(k.ref.GVR()).Create(context.Background(), u, metav1.CreateOptions{})
		if err == nil || !apierrors.IsNotFound(err) || time.Now().After(deadline) {
			return err // a 404 is the CRD not served yet
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// setReady sets the Ready condition.
func (k *kcm) setReady(status, reason, msg string) error {
	res := k.dyn.Resource(k.ref.GVR())
	u, err := res.Get(context.Background(), k.ref.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	conds := []any{map[string]any{"type": "Ready", "status": status, "reason": reason, "message": msg, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}
	if err := unstructured.SetNestedSlice(u.Object, conds, "status", "conditions"); err != nil {
		return err
	}
	_, err = res.UpdateStatus(context.Background(), u, metav1.UpdateOptions{})
	return err
}

// TestK0rdent_API runs the k0rdent phase against a real kube-apiserver and
// etcd on loopback (the tunnel is TestK0rdent_Testbed's): install of the
// stand-in KCM chart, a wait that ends only when the test, playing KCM,
// sets Management Ready, a rerun that is an upgrade, Verify and its drift,
// Destroy, a partial install, and each distinct error.
func TestK0rdent_API(t *testing.T) {
	t.Parallel() // its own API server: it runs beside the other slow tests
	kapi := testbed.StartLocalKube(t)
	token := kubeToken(t, kapi.Kubeconfig)
	chart := kcmTestChart(t)

	t.Run("InstallWaitsForReady", func(t *testing.T) {
		p := k0rdentPhase(t, "    chart: "+chart+"\n    namespace: kcm-a\n    management: {name: kcm-a}\n", "1m")
		log := &syncBuf{}
		env := k0rdentEnv(kapi.Kubeconfig, log)
		ctl := newKCM(t, kapi.Kubeconfig, p.object)

		// The stand-in reports Ready=False, and Ready=True only once the
		// phase has logged that it saw Ready=False (an event, not a pause:
		// a slow Helm install must not let the phase miss it).
		var readyAt time.Time
		ctlErr := make(chan error, 1)
		go func() {
			if err := ctl.create(); err != nil {
				ctlErr <- err
				return
			}
			if err := ctl.setReady("False", "Installing", "providers are being installed"); err != nil {
				ctlErr <- err
				return
			}
			if err := log.waitFor("Ready=False (Installing: providers are being installed)", time.Minute); err != nil {
				ctlErr <- err
				return
			}
			readyAt = time.Now()
			ctlErr <- ctl.setReady("True", "Succeeded", "")
		}()
		err := runK0rdent(t, p, env)
		returned := time.Now()
		if cerr := <-ctlErr; cerr != nil {
			t.Fatalf("the KCM stand-in: %v", cerr)
		}
		if err != nil {
			t.Fatalf("Run: %v\nlog:\n%s", err, log)
		}
		if returned.Before(readyAt) {
			t.Errorf("Run returned at %s, before Management was set Ready at %s", returned.Format(time.StampMicro), readyAt.Format(time.StampMicro))
		}
		want := map[string]string{
			K0rdentOutputRelease: "kcm-a/kcm", K0rdentOutputRevision: "1", K0rdentOutputChartVersion: "1.4.0",
			K0rdentOutputManagement: "managements.k0rdent.mirantis.com/kcm-a", K0rdentOutputKubeconfig: kapi.Kubeconfig,
		}
		if got := env.Outputs(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("outputs = %v, want %v", got, want)
		}
		for _, w := range []string{"api server answers", "chart loaded", "installing release", "msg=\"release deployed\"", "took=",
			"Ready=False (Installing: providers are being installed)", "msg=ready", "k0rdent installed"} {
			if !strings.Contains(log.String(), w) {
				t.Errorf("node log lacks %q:\n%s", w, log)
			}
		}
		if strings.Contains(log.String(), token) || strings.Contains(fmt.Sprint(env.Outputs()), token) {
			t.Error("the node log or the outputs hold the kubeconfig's token")
		}

		if err := p.Verify(context.Background(), env); err != nil {
			t.Errorf("Verify after Run: %v", err)
		}

		// A second run (a resume, or a run after a config change) is an
		// upgrade to revision 2, not an error.
		env2 := k0rdentEnv(kapi.Kubeconfig, log)
		if err := runK0rdent(t, p, env2); err != nil {
			t.Fatalf("second Run: %v", err)
		}
		if got := env2.Outputs()[K0rdentOutputRevision]; got != "2" {
			t.Errorf("second Run: revision %s, want 2", got)
		}
		if !strings.Contains(log.String(), "upgrading release") {
			t.Errorf("second Run did not upgrade:\n%s", log)
		}

		// Drift: Management no longer Ready, then the release gone.
		if err := ctl.setReady("False", "ComponentsFailed", "capi: crash loop"); err != nil {
			t.Fatal(err)
		}
		var nr *kube.NotReadyError
		if err := p.Verify(context.Background(), env2); !errors.As(err, &nr) || !strings.Contains(err.Error(), "ComponentsFailed: capi: crash loop") {
			t.Errorf("Verify with Management not Ready = %v, want a *kube.NotReadyError with its condition", err)
		}
		if err := p.Destroy(context.Background(), env2); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
		if err := p.Verify(context.Background(), env2); !errors.Is(err, kube.ErrNoRelease) {
			t.Errorf("Verify after Destroy = %v, want kube.ErrNoRelease", err)
		}
		if err := p.Destroy(context.Background(), env2); err != nil {
			t.Errorf("second Destroy = %v, want nil (nothing to do)", err)
		}
	})

	t.Run("RerunAfterFailedInstall", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "chart")
		copyDir(t, chart, bad)
		if err := os.WriteFile(filepath.Join(bad, "templates", "bad.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad, namespace: no-such-namespace}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		log := &syncBuf{}
		p := k0rdentPhase(t, "    chart: "+bad+"\n    namespace: kcm-partial\n    management: {name: kcm-partial}\n", "1m")
		if err := runK0rdent(t, p, k0rdentEnv(kapi.Kubeconfig, log)); err == nil || !strings.Contains(err.Error(), "helm install kcm-partial/kcm") {
			t.Fatalf("Run of a chart that fails = %v, want a helm install error", err)
		}
		ctl := newKCM(t, kapi.Kubeconfig, p.object)
		if err := ctl.create(); err != nil {
			t.Fatal(err)
		}
		if err := ctl.setReady("True", "Succeeded", ""); err != nil {
			t.Fatal(err)
		}
		p = k0rdentPhase(t, "    chart: "+chart+"\n    namespace: kcm-partial\n    management: {name: kcm-partial}\n", "1m")
		env := k0rdentEnv(kapi.Kubeconfig, log)
		if err := runK0rdent(t, p, env); err != nil {
			t.Fatalf("Run after a failed install: %v\n%s", err, log)
		}
		if got := env.Outputs()[K0rdentOutputRevision]; got != "2" {
			t.Errorf("Run after a failed install: revision %s, want 2 (an upgrade of the failed one)", got)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		ctl := newKCM(t, kapi.Kubeconfig, kube.ObjectRef{Group: "k0rdent.mirantis.com", Version: "v1beta1", Resource: "managements", Name: "kcm-broken"})
		if err := ctl.create(); err != nil { // the CRD is there from the first subtest
			t.Fatal(err)
		}
		if err := ctl.setReady("False", "ProviderFailed", "cluster-api-provider-azure: image pull failed"); err != nil {
			t.Fatal(err)
		}
		closed := writeTestKubeconfig(t, "https://127.0.0.1:1")
		tests := []struct {
			name       string
			k0rdent    string
			kubeconfig string
			check      func(error) bool
			want       []string
		}{
			{
				name: "Timeout", k0rdent: "    chart: " + chart + "\n    namespace: kcm-t\n    management: {name: never}\n", kubeconfig: kapi.Kubeconfig,
				check: errAs[*kube.TimeoutError],
				// The wait gets what the install left of the 2s budget, so
				// how long it waited depends on the machine's load.
				want: []string{"timed out after ", " waiting for managements.k0rdent.mirantis.com/never to be Ready; last seen: not found", "timeouts.k0rdent_install (2s)", "kubectl -n kcm-t get pods"},
			},
			{
				name: "NotReady", k0rdent: "    chart: " + chart + "\n    namespace: kcm-n\n    management: {name: kcm-broken}\n", kubeconfig: kapi.Kubeconfig,
				check: errAs[*kube.NotReadyError],
				want:  []string{"managements.k0rdent.mirantis.com/kcm-broken not ready after", "Ready=False (ProviderFailed: cluster-api-provider-azure: image pull failed)", "kubectl get managements.k0rdent.mirantis.com/kcm-broken -o yaml"},
			},
			{
				name: "ChartPull", k0rdent: "    registry: oci://127.0.0.1:1/charts/kcm\n", kubeconfig: kapi.Kubeconfig,
				check: errAs[*kube.ChartError],
				want:  []string{"chart oci://127.0.0.1:1/charts/kcm version 1.4.0:", "check software.k0rdent.registry and software.k0rdent.version"},
			},
			{
				name: "NoKubeconfig", k0rdent: "    chart: " + chart + "\n", kubeconfig: "",
				check: errAs[*workflow.PreconditionError],
				want:  []string{`precondition "kubeconfig present" failed: the k0s node recorded no "kubeconfig" output; fix: k0rdent run --from k0s`},
			},
			{
				name: "APIDown", k0rdent: "    chart: " + chart + "\n", kubeconfig: closed,
				check: errAs[*workflow.PreconditionError],
				want:  []string{`precondition "kubernetes api answers" failed: GET https://127.0.0.1:1/version`, "fix: k0rdent run --from k0s"},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := k0rdentPhase(t, tt.k0rdent, "2s")
				log := &syncBuf{}
				err := runK0rdent(t, p, k0rdentEnv(tt.kubeconfig, log))
				if !tt.check(err) {
					t.Fatalf("err = %v (%T), want another kind\nlog:\n%s", err, err, log)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err = %q\nwant it to say %q", err, w)
					}
				}
				if strings.Contains(err.Error(), token) || strings.Contains(log.String(), token) {
					t.Error("the error or the log holds the kubeconfig's token")
				}
			})
		}
	})
}

func errAs[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

// kubeToken is the bearer token in kubeconfig, for the secret scans.
func kubeToken(t *testing.T, kubeconfig string) string {
	t.Helper()
	c, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range c.AuthInfos {
		if a.Token != "" {
			return a.Token
		}
	}
	t.Fatal("no token in the test kubeconfig")
	return ""
}

func writeTestKubeconfig(t *testing.T, server string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	data := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"" + server + "\", insecure-skip-tls-verify: true}}]\n" +
		"users: [{name: u, user: {token: not-a-real-token}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestK0rdent_Describe(t *testing.T) {
	p := k0rdentPhase(t, "", "25m")
	got := strings.Join(p.Describe(nil), "\n")
	want := "helm upgrade --install kcm from oci://ghcr.io/k0rdent/kcm/charts/kcm version 1.4.0 into namespace kcm-system (created if missing)\n" +
		"wait until managements.k0rdent.mirantis.com/kcm reports Ready; helm and the wait within 25m (timeouts.k0rdent_install)"
	if got != want {
		t.Errorf("Describe =\n%s\nwant\n%s", got, want)
	}
	if got, want := p.Policy().Timeout, 26*time.Minute; got != want {
		t.Errorf("Policy().Timeout = %s, want %s", got, want)
	}
	if p.Name() != "k0rdent" || fmt.Sprint(p.DependsOn()) != "[k0s]" {
		t.Errorf("Name, DependsOn = %s, %v", p.Name(), p.DependsOn())
	}
}
