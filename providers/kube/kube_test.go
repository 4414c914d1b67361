package kube

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

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/k0rdent/k0rdent-deploy/internal/testbed"
	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
)

// One etcd and kube-apiserver for the package's tests (they take a few
// seconds to start); tests keep apart by release, namespace and object
// names. kubeErr says why there is none.
var (
	kubeAPI *testbed.Kube
	kubeErr error
)

func TestMain(m *testing.M) {
	bins, err := testbed.KubeBinsDir()
	if err != nil {
		kubeErr = err
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "k0rdent-kube-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kubeAPI, kubeErr = testbed.LaunchKube(bins, dir)
	if kubeErr != nil {
		// A binary that is there but does not start is a failure, not a skip.
		fmt.Fprintln(os.Stderr, "start kube-apiserver:", kubeErr)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	kubeAPI.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// logBuf collects log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits up to a minute for the log to hold want; it reports a
// failure (from any goroutine) and returns false if it never does.
func (l *logBuf) waitFor(t *testing.T, want string) bool {
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(l.String(), want) {
		if time.Now().After(deadline) {
			t.Errorf("the log has no %q after a minute", want)
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// newClient returns a client of the test API server (skipping t without
// one) and its log.
func newClient(t *testing.T) (*Client, *logBuf) {
	t.Helper()
	if kubeAPI == nil {
		testenv.Missing(t, "%v", kubeErr)
	}
	lb := &logBuf{}
	c, err := New(kubeAPI.Kubeconfig, Options{Log: slog.New(slog.NewTextHandler(lb, nil)), ChartCache: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client log:\n%s", lb)
		}
	})
	return c, lb
}

func testChart(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("testdata/chart")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// copyChart copies the test chart to a temporary directory and adds the
// extra templates, by file name.
func copyChart(t *testing.T, extra map[string]string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "chart")
	src := testChart(t)
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
	for name, body := range extra {
		if err := os.WriteFile(filepath.Join(dst, "templates", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func configMapData(t *testing.T, c *Client, ns, name string) map[string]string {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(c.rest)
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("configmap %s/%s: %v", ns, name, err)
	}
	return cm.Data
}

func TestClient_ServerVersion(t *testing.T) {
	c, _ := newClient(t)
	got, err := c.ServerVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := "v" + testbed.KubeVersion; got != want {
		t.Errorf("ServerVersion = %q, want %q", got, want)
	}
}

func TestClient_ServerVersion_Unreachable(t *testing.T) {
	kc := writeKubeconfig(t, "https://127.0.0.1:1")
	c, err := New(kc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ServerVersion(context.Background())
	if err == nil || !strings.Contains(err.Error(), "https://127.0.0.1:1/version") {
		t.Errorf("ServerVersion on a closed port: err = %v, want one naming https://127.0.0.1:1/version", err)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error leaks the token: %v", err)
	}
}

// writeKubeconfig writes a kubeconfig for server with a dummy token.
func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	data := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "` + server + `", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: s3cr3t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNew_MissingKubeconfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope")
	_, err := New(p, Options{})
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("New(missing) err = %v, want one naming %s", err, p)
	}
}

func TestClient_UpgradeOrInstall(t *testing.T) {
	c, lb := newClient(t)
	ctx := context.Background()
	r := Release{Name: "kcm", Namespace: "t-install", Chart: testChart(t), Version: "1.4.0", Values: map[string]any{"message": "first"}}

	res, err := c.UpgradeOrInstall(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != ActionInstall || res.Revision != 1 || res.Status != "deployed" || res.ChartVersion != "1.4.0" {
		t.Errorf("first run: got %s %v, want install of revision 1, deployed, chart 1.4.0", res.Action, res.ReleaseInfo)
	}
	if got := configMapData(t, c, "t-install", "kcm-test"); got["message"] != "first" || got["revision"] != "1" {
		t.Errorf("configmap after install = %v, want message first, revision 1", got)
	}

	r.Values = map[string]any{"message": "second"}
	res, err = c.UpgradeOrInstall(ctx, r)
	if err != nil {
		t.Fatalf("second run (an upgrade) failed: %v", err)
	}
	if res.Action != ActionUpgrade || res.Revision != 2 || res.Status != "deployed" || res.Recovered != "" {
		t.Errorf("second run: got %s %v recovered %q, want upgrade to revision 2, deployed", res.Action, res.ReleaseInfo, res.Recovered)
	}
	if got := configMapData(t, c, "t-install", "kcm-test"); got["message"] != "second" || got["revision"] != "2" {
		t.Errorf("configmap after upgrade = %v, want message second, revision 2", got)
	}

	// Values are reset on upgrade: no values means the chart's defaults.
	r.Values = nil
	if _, err := c.UpgradeOrInstall(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := configMapData(t, c, "t-install", "kcm-test"); got["message"] != "hello" {
		t.Errorf("configmap after an upgrade without values = %v, want the chart's default message hello", got)
	}

	info, err := c.Release(ctx, "t-install", "kcm")
	if err != nil {
		t.Fatal(err)
	}
	if info.Revision != 3 || info.Status != "deployed" {
		t.Errorf("Release = %v, want revision 3 deployed", info)
	}
	for _, want := range []string{"chart loaded", "installing release", "upgrading release", "release deployed", "took="} {
		if !strings.Contains(lb.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, lb)
		}
	}

	if err := c.Uninstall(ctx, "t-install", "kcm"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Release(ctx, "t-install", "kcm"); !errors.Is(err, ErrNoRelease) {
		t.Errorf("Release after Uninstall: err = %v, want ErrNoRelease", err)
	}
	if err := c.Uninstall(ctx, "t-install", "kcm"); err != nil {
		t.Errorf("second Uninstall: %v, want nil (nothing to do)", err)
	}
	// Installing again after an uninstall is an install.
	res, err = c.UpgradeOrInstall(ctx, r)
	if err != nil || res.Action != ActionInstall || res.Revision != 1 {
		t.Errorf("after uninstall: got %s %v, %v; want install of revision 1", res.Action, res.ReleaseInfo, err)
	}
}

func TestClient_UpgradeOrInstall_AfterFailedInstall(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	// An object in a namespace that does not exist fails the install
	// after Helm recorded the release: a partial install.
	bad := copyChart(t, map[string]string{"bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad, namespace: no-such-namespace}\n"})
	r := Release{Name: "kcm", Namespace: "t-failed", Chart: bad}
	if _, err := c.UpgradeOrInstall(ctx, r); err == nil {
		t.Fatal("install of the bad chart succeeded, want an error")
	}
	info, err := c.Release(ctx, "t-failed", "kcm")
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != "failed" {
		t.Fatalf("after the bad install: %v, want status failed", info)
	}

	r.Chart = testChart(t)
	res, err := c.UpgradeOrInstall(ctx, r)
	if err != nil {
		t.Fatalf("rerun after a failed install: %v", err)
	}
	if res.Action != ActionUpgrade || res.Revision != 2 || res.Status != "deployed" {
		t.Errorf("rerun after a failed install: got %s %v, want upgrade to revision 2, deployed", res.Action, res.ReleaseInfo)
	}
}

// pending stores a revision of name in ns with a pending status, as a
// process killed in the middle of helm install or upgrade leaves it.
func pending(t *testing.T, c *Client, ns, name string, rev int, status release.Status) {
	t.Helper()
	cfg, err := c.actionConfig(ns)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(testChart(t))
	if err != nil {
		t.Fatal(err)
	}
	now := helmtime.Now()
	rel := &release.Release{
		Name: name, Namespace: ns, Version: rev, Chart: ch, Config: map[string]any{},
		Info: &release.Info{Status: status, FirstDeployed: now, LastDeployed: now, Description: "killed"},
	}
	if err := cfg.Releases.Create(rel); err != nil {
		t.Fatal(err)
	}
}

func TestClient_UpgradeOrInstall_AfterPending(t *testing.T) {
	tests := []struct {
		name      string
		ns        string
		installed bool // a deployed revision 1 before the pending one
		status    release.Status
		wantRev   int
	}{
		{name: "PendingInstall", ns: "t-pending-install", status: release.StatusPendingInstall, wantRev: 2},
		{name: "PendingUpgrade", ns: "t-pending-upgrade", installed: true, status: release.StatusPendingUpgrade, wantRev: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newClient(t)
			ctx := context.Background()
			r := Release{Name: "kcm", Namespace: tt.ns, Chart: testChart(t)}
			rev := 1
			if tt.installed {
				if _, err := c.UpgradeOrInstall(ctx, r); err != nil {
					t.Fatal(err)
				}
				rev = 2
			} else if _, err := kubernetes.NewForConfigOrDie(c.rest).CoreV1().Namespaces().Create(ctx, namespace(tt.ns), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			pending(t, c, tt.ns, "kcm", rev, tt.status)

			res, err := c.UpgradeOrInstall(ctx, r)
			if err != nil {
				t.Fatalf("rerun after %s: %v", tt.status, err)
			}
			wantRecovered := fmt.Sprintf("revision %d (%s)", rev, tt.status)
			if res.Action != ActionUpgrade || res.Revision != tt.wantRev || res.Status != "deployed" || res.Recovered != wantRecovered {
				t.Errorf("got %s %v recovered %q, want upgrade to revision %d, deployed, recovered %q", res.Action, res.ReleaseInfo, res.Recovered, tt.wantRev, wantRecovered)
			}
		})
	}
}

func TestClient_UpgradeOrInstall_ChartErrors(t *testing.T) {
	// The chart is loaded before the cluster is contacted: no API server
	// is needed.
	c, err := New(writeKubeconfig(t, "https://127.0.0.1:1"), Options{ChartCache: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		chart   string
		wantErr string
	}{
		{name: "UnreachableRegistry", chart: "oci://127.0.0.1:1/charts/kcm", wantErr: "chart oci://127.0.0.1:1/charts/kcm version 1.4.0: "},
		{name: "MissingDirectory", chart: filepath.Join(t.TempDir(), "nope"), wantErr: "no such file"},
		{name: "UnknownScheme", chart: "ftp://example.com/kcm", wantErr: "not an oci://, http(s):// or local path reference"},
		{name: "NotAChart", chart: t.TempDir(), wantErr: "Chart.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := c.UpgradeOrInstall(ctx, Release{Name: "kcm", Namespace: "kcm-system", Chart: tt.chart, Version: "1.4.0"})
			var ce *ChartError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want a *ChartError", err, err)
			}
			if ce.Ref != tt.chart || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %q (ref %q), want ref %q and %q in it", err, ce.Ref, tt.chart, tt.wantErr)
			}
		})
	}
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// management plays KCM's controller: it creates or updates the
// Management-shaped object name with the given Ready condition (none when
// status is empty).
func management(t *testing.T, c *Client, ref ObjectRef, status, reason, msg string) {
	t.Helper()
	d, err := c.dynamic()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res := d.Resource(ref.GVR())
	u, err := res.Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		u = &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": ref.Group + "/" + ref.Version, "kind": "Management",
			"metadata": map[string]any{"name": ref.Name},
			"spec":     map[string]any{"release": "kcm-1-4-0"},
		}}
		if u, err = res.Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", ref, err)
		}
	}
	if status == "" {
		return
	}
	conds := []any{
		map[string]any{"type": "CAPIReady", "status": "True", "reason": "Succeeded", "message": "", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)},
		map[string]any{"type": "Ready", "status": status, "reason": reason, "message": msg, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)},
	}
	if err := unstructured.SetNestedSlice(u.Object, conds, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	if _, err := res.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status of %s: %v", ref, err)
	}
}

// withCRD installs the test chart once (it carries the Management CRD).
func withCRD(t *testing.T, c *Client) {
	t.Helper()
	crdOnce.Do(func() {
		_, crdErr = c.UpgradeOrInstall(context.Background(), Release{Name: "crd", Namespace: "t-crd", Chart: testChart(t)})
	})
	if crdErr != nil {
		t.Fatalf("install the test chart: %v", crdErr)
	}
}

var (
	crdOnce sync.Once
	crdErr  error
)

func mgmt(name string) ObjectRef {
	ref := Management
	ref.Name = name
	return ref
}

func TestClient_WaitReady(t *testing.T) {
	c, lb := newClient(t)
	withCRD(t, c)
	ref := mgmt("wait-ready")

	// The controller: the object appears, then reports Ready=False, then
	// Ready=True, each step once the waiter logged that it saw the one
	// before (events, not pauses: under load a pause can be missed).
	// readyAt is when the last update was sent.
	var readyAt time.Time
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, step := range []struct{ seen, status, reason, msg string }{
			{`seen="not found"`, "", "", ""},
			{`seen="no status conditions yet"`, "False", "Installing", "providers are being installed"},
		} {
			if !lb.waitFor(t, step.seen) {
				return
			}
			management(t, c, ref, step.status, step.reason, step.msg)
		}
		if !lb.waitFor(t, "Ready=False (Installing: providers are being installed)") {
			return
		}
		readyAt = time.Now()
		management(t, c, ref, "True", "Succeeded", "")
	}()
	err := c.WaitReady(context.Background(), ref, WaitOptions{Timeout: time.Minute, Interval: 100 * time.Millisecond, Liveness: time.Second})
	returned := time.Now()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if returned.Before(readyAt) {
		t.Errorf("WaitReady returned at %s, before the object was set Ready at %s", returned.Format(time.StampMicro), readyAt.Format(time.StampMicro))
	}
	for _, want := range []string{"seen=\"not found\"", "Ready=False (Installing: providers are being installed)", "msg=ready"} {
		if !strings.Contains(lb.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, lb)
		}
	}
	if err := c.CheckReady(context.Background(), ref); err != nil {
		t.Errorf("CheckReady after Ready: %v", err)
	}
}

func TestClient_WaitReady_Errors(t *testing.T) {
	c, _ := newClient(t)
	withCRD(t, c)
	notReady := mgmt("not-ready")
	management(t, c, notReady, "False", "ProviderFailed", "cluster-api-provider-azure: image pull failed")
	noConds := mgmt("no-conditions")
	management(t, c, noConds, "", "", "")
	unserved := ObjectRef{Group: "example.com", Version: "v1", Resource: "widgets", Name: "kcm"}

	tests := []struct {
		name    string
		ref     ObjectRef
		check   func(error) bool
		wantErr string
	}{
		{name: "NeverCreated", ref: mgmt("never"), check: isTimeout, wantErr: "waiting for managements.k0rdent.mirantis.com/never to be Ready; last seen: not found"},
		{name: "TypeNotServed", ref: unserved, check: isTimeout, wantErr: "last seen: its resource type is not served (CRD not installed)"},
		{name: "NoConditions", ref: noConds, check: isTimeout, wantErr: "last seen: no status conditions yet"},
		{name: "ReadyFalse", ref: notReady, check: isNotReady, wantErr: "managements.k0rdent.mirantis.com/not-ready not ready after 1s: Ready=False (ProviderFailed: cluster-api-provider-azure: image pull failed)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.WaitReady(context.Background(), tt.ref, WaitOptions{Timeout: time.Second, Interval: 100 * time.Millisecond})
			if !tt.check(err) || !strings.Contains(fmt.Sprint(err), tt.wantErr) {
				t.Errorf("err = %v (%T), want %q", err, err, tt.wantErr)
			}
		})
	}

	t.Run("CheckReady", func(t *testing.T) {
		err := c.CheckReady(context.Background(), notReady)
		var nr *NotReadyError
		if !errors.As(err, &nr) || len(nr.Conditions) != 2 || nr.Waited != 0 {
			t.Errorf("CheckReady(not ready) = %v, want a *NotReadyError with 2 conditions", err)
		}
		err = c.CheckReady(context.Background(), mgmt("never"))
		var nf *NotFoundError
		if !errors.As(err, &nf) {
			t.Errorf("CheckReady(missing) = %v, want a *NotFoundError", err)
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := c.WaitReady(ctx, mgmt("never"), WaitOptions{Timeout: time.Minute})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("WaitReady on a cancelled context = %v, want context.Canceled", err)
		}
	})
}

func isTimeout(err error) bool {
	var te *TimeoutError
	return errors.As(err, &te)
}

func isNotReady(err error) bool {
	var nr *NotReadyError
	return errors.As(err, &nr)
}
