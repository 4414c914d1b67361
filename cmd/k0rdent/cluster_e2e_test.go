package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/internal/testbed"
	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
	"github.com/k0rdent/k0rdent-deploy/providers/terraform/tftest"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// requireClusterBed skips (or fails under CI) a test of the built-in chain
// on the test bed when what it needs is missing.
func requireClusterBed(t *testing.T) {
	t.Helper()
	testbed.Require(t, true)
	testbed.RequireKube(t)
	if _, err := exec.LookPath("kubectl"); err != nil {
		testenv.Missing(t, "kubectl is not on PATH: the k0s stand-in and the test's KCM stand-in use it against the API server")
	}
}

// clusterBed is a test bed of one VM for the built-in chain, and the
// directory holding the cluster's SSH key (id_ed25519), made here rather
// than by the terraform phase (which reuses the key it finds) so that the
// VM's sshd authorizes it.
func clusterBed(t *testing.T, vm string) (*testbed.Testbed, string) {
	t.Helper()
	keyDir := t.TempDir()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "k0rdent", "-f", filepath.Join(keyDir, "id_ed25519")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(keyDir, "id_ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	tb := testbed.New(t, testbed.Options{
		VMs:           []testbed.VM{{Name: vm, PublicIP: testbed.DefaultPublicIP(0)}},
		AuthorizedKey: strings.TrimSpace(string(pub)),
		Sandbox:       true,
		AdminUser:     "k0rdent", // ssh.username's default
	})
	return tb, keyDir
}

// standinKubeconfig gives the k0s stand-in on vm the API server's
// kubeconfig (at kubeconfig) and returns its token, which no output may show.
func standinKubeconfig(t *testing.T, tb *testbed.Testbed, vm, kubeconfig string) string {
	t.Helper()
	kc, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`token: (\S+)`).FindSubmatch(kc)
	if m == nil {
		t.Fatalf("the API server's kubeconfig has no token:\n%s", kc)
	}
	hp, _ := tb.SandboxPath(vm, "/etc/k0s-standin/kubeconfig")
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hp, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return string(m[1])
}

// seedClusterKey puts clusterBed's key where the terraform phase finds it
// in p's state, and takes the operator's end of the tunnel down.
func seedClusterKey(t *testing.T, p *project, tb *testbed.Testbed, iface, keyDir string) {
	t.Helper()
	sshDir := p.path("state", "secrets", "ssh")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p.path("state", "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(keyDir, "id_ed25519"), filepath.Join(sshDir, "id_ed25519")); err != nil {
		t.Fatal(err)
	}
	downOperatorDevice(t, tb, iface, p.operatorDir())
}

// TestCluster_EndToEnd is issue 6's end-to-end test: the real k0rdent
// binary, in the testbed's operator namespace, runs wireguard → terraform
// (the test module, real terraform) → vpn (wireguard-go) → k0s (k0sctl as a
// library over SSH through the tunnel) → k0rdent (the Helm SDK through the
// tunnel into a real kube-apiserver on the VM), and is killed with SIGKILL
// while k0s is installing. `run --resume --yes` then finishes the run:
// wireguard and terraform are reused, vpn is re-established, k0s runs again
// as attempt 2 (k0sctl waits out the host lock the killed run left), and
// k0rdent installs KCM and waits for Management Ready. `runs show` shows
// both attempts. No secret appears in any run file, log or output.
//
// What is real and what stands in: one namespace VM (a single controller,
// so controller+worker) runs a real sshd, sandboxed, and a real etcd and
// kube-apiserver on its WireGuard address (what k0s would run there). No
// k0s binary can be had here, so the binary k0sctl uploads is the k0s
// STAND-IN script (providers/k0sctl/testdata/k0s-standin): it records its
// calls and, given the API server's kubeconfig, answers `k0s kubectl` and
// `k0s kubeconfig admin` with the real API server, registering its Node as
// the kubelet would. The test plays KCM's controller: it creates the
// Management object once the chart's CRD is served and sets it Ready.
func TestCluster_EndToEnd(t *testing.T) {
	requireClusterBed(t)
	t.Parallel() // its own testbed; terraform's settings go to the child's environment only
	tfSection, _, tfEnv := tftest.TestModuleEnv(t)
	standin, err := filepath.Abs(filepath.Join("..", "..", "providers", "k0sctl", "testdata", "k0s-standin"))
	if err != nil {
		t.Fatal(err)
	}
	chart, err := filepath.Abs(filepath.Join("..", "..", "providers", "kube", "testdata", "chart"))
	if err != nil {
		t.Fatal(err)
	}
	const vm = "k0s-controller-1"
	vms := []string{vm}
	tb, keyDir := clusterBed(t, vm)
	iface := tb.OperatorInterface()
	p := newProject(t, fmt.Sprintf(`azure:
  location: westus2
cluster:
  controllers: {count: 1}
  workers: {count: 0}
software:
  k0s:
    binary_path: %s
  k0rdent:
    chart: %s
vpn:
  interface: %s
  mode: userspace
timeouts:
  vpn_connect: 90s
  k0s_install: 5m
  k0rdent_install: 3m
%s`, standin, chart, iface, tfSection))
	seedClusterKey(t, p, tb, iface, keyDir)

	home := t.TempDir() // k0sctl's own log and cache
	var outputs []result
	k0rdent := operatorCLI(tb, p, append(tfEnv, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"))...)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// Run 1, killed while k0s installs.
	first := k0rdent(ctx, "--no-color", "run")
	out1, err1, done := startBootingVMs(t, p, tb, first, vms)

	// The VM's API server comes up while k0rdent goes on (as k0s would
	// start it); the stand-in uses it once its kubeconfig is in place.
	type kubeResult struct {
		k   *testbed.Kube
		err error
	}
	kubeCh := make(chan kubeResult, 1)
	go func() {
		k, err := tb.StartKube(vm)
		kubeCh <- kubeResult{k, err}
	}()

	calls, ok := tb.SandboxPath(vm, "/var/lib/k0s-standin/calls.log")
	if !ok {
		t.Fatal("no sandbox path for the stand-in's call log")
	}
	store := state.NewStore(p.path("state"))
	deadline := time.Now().Add(4 * time.Minute)
	killed := false
	for !killed {
		select {
		case err := <-done:
			t.Fatalf("k0rdent exited (%v) before the test could kill it during k0s\nstdout:\n%s\nstderr:\n%s", err, out1.String(), err1.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("k0s did not start installing within 4 minutes\nstdout:\n%s", out1.String())
		}
		data, _ := os.ReadFile(calls)
		if !strings.Contains(string(data), "install controller") {
			continue
		}
		if err := first.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed = true
	}
	werr := <-done
	outputs = append(outputs, result{stdout: out1.String(), stderr: err1.String()})
	if ee, ok := werr.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("first run: %v, want killed by SIGKILL", werr)
	}
	rf := p.currentRun()
	runID := rf.Header.RunID
	for node, want := range map[string]workflow.State{
		"wireguard": workflow.Succeeded, "terraform": workflow.Succeeded, "vpn": workflow.Succeeded, "k0s": workflow.Running,
		"k0rdent": "", // never reached: no record
	} {
		if got := rf.Nodes[node].State; got != want {
			t.Errorf("killed run: node %s %s, want %s", node, got, want)
		}
	}
	if rf.Outcome != "" {
		t.Errorf("killed run has outcome %q, want none", rf.Outcome)
	}

	kr := <-kubeCh
	if kr.err != nil {
		t.Fatalf("API server on %s: %v", vm, kr.err)
	}
	token := standinKubeconfig(t, tb, vm, kr.k.Kubeconfig)
	kcmDone := playKCM(ctx, t, tb, vm, kr.k.Kubeconfig)

	// Resume: it finishes the job.
	resume := run(t, k0rdent(ctx, "--no-color", "run", "--resume", "--yes"))
	outputs = append(outputs, resume)
	if resume.code != 0 {
		log, _ := os.ReadFile(filepath.Join(store.LocalBackend().LogDir(runID), "k0s.log"))
		t.Fatalf("resume: want exit 0\n%s\nk0s log:\n%s", resume, log)
	}
	if err := <-kcmDone; err != nil {
		t.Errorf("the KCM stand-in: %v", err)
	}
	rf = p.currentRun()
	if rf.Header.RunID != runID || rf.Outcome != state.OutcomeSucceeded || rf.Attempt != 2 {
		t.Errorf("after the resume: run %s outcome %q attempt %d, want run %s succeeded at attempt 2", rf.Header.RunID, rf.Outcome, rf.Attempt, runID)
	}
	ranAgain := map[string]bool{}
	for _, rec := range rf.Records {
		if rec.Attempt >= 2 && rec.To == workflow.Running {
			ranAgain[rec.Node] = true
		}
	}
	for node, want := range map[string]bool{"wireguard": false, "terraform": false, "vpn": true, "k0s": true, "k0rdent": false} {
		if ranAgain[node] != want {
			t.Errorf("resume: node %s ran again = %v, want %v", node, ranAgain[node], want)
		}
	}
	for _, node := range []string{"k0s", "k0rdent"} {
		if st := rf.Nodes[node]; st.State != workflow.Succeeded {
			t.Errorf("node %s %s, want succeeded", node, st.State)
		}
	}
	if got := rf.Nodes["k0s"].Outputs["api_endpoint"]; got != "https://192.168.100.2:6443" {
		t.Errorf("k0s api_endpoint %q, want the controller's WireGuard address", got)
	}
	if got := rf.Nodes["k0rdent"].Outputs["revision"]; got != "1" {
		t.Errorf("k0rdent outputs %v, want revision 1", rf.Nodes["k0rdent"].Outputs)
	}
	// k0sctl installed k0s on the one host, as controller+worker.
	callLog, _ := os.ReadFile(calls)
	if !strings.Contains(string(callLog), "install controller") || !strings.Contains(string(callLog), "--enable-worker") {
		t.Errorf("the stand-in was not installed as controller+worker:\n%s", callLog)
	}

	// Killed between `k0s install` and the service start (the usual case),
	// k0sctl refuses the host until applied with --force; killed later, a
	// plain apply goes on. Either way the resume finished.
	k0sLog, _ := os.ReadFile(filepath.Join(store.LocalBackend().LogDir(runID), "k0s.log"))
	t.Logf("resumed k0s re-applied with --force after the interrupted install: %v", bytes.Contains(k0sLog, []byte("earlier attempt was interrupted")))

	// runs show: both attempts, as text and as data.
	show := run(t, k0rdent(ctx, "--no-color", "runs", "show", runID))
	outputs = append(outputs, show)
	if show.code != 0 || !strings.Contains(show.stdout, "attempt 2") {
		t.Errorf("runs show: want exit 0 and attempt 2\n%s", show)
	}
	showJSON := run(t, k0rdent(ctx, "runs", "show", "-o", "json", runID))
	outputs = append(outputs, showJSON)
	var view struct {
		Attempt int `json:"attempt"`
		Nodes   []struct {
			Node     string `json:"node"`
			State    string `json:"state"`
			Attempts int    `json:"attempts"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(showJSON.stdout), &view); err != nil {
		t.Fatalf("runs show -o json: %v\n%s", err, showJSON)
	}
	attempts := map[string]int{}
	for _, n := range view.Nodes {
		attempts[n.Node] = n.Attempts
	}
	if view.Attempt != 2 || attempts["k0s"] != 2 || attempts["k0rdent"] != 1 || attempts["terraform"] != 1 {
		t.Errorf("runs show -o json: attempt %d, node attempts %v; want 2, k0s 2, k0rdent 1, terraform 1", view.Attempt, attempts)
	}

	check := run(t, k0rdent(ctx, "--no-color", "status", "--check"))
	outputs = append(outputs, check)
	if check.code != 0 {
		t.Errorf("status --check after the run: want exit 0 (k0s and k0rdent verify against the API server)\n%s", check)
	}

	// Day two: a new run with nothing changed re-establishes the volatile
	// VPN and reuses everything else once its Verify passed.
	again := run(t, k0rdent(ctx, "--no-color", "run"))
	outputs = append(outputs, again)
	if again.code != 0 {
		t.Fatalf("second run, nothing changed: want exit 0\n%s", again)
	}
	rf = p.currentRun()
	ran := map[string]bool{}
	for _, rec := range rf.Records {
		if rec.To == workflow.Running {
			ran[rec.Node] = true
		}
	}
	if rf.Header.RunID == runID || rf.Outcome != state.OutcomeSucceeded {
		t.Errorf("second run: %s %s, want a new run, succeeded", rf.Header.RunID, rf.Outcome)
	}
	for node, want := range map[string]bool{"wireguard": false, "terraform": false, "vpn": true, "k0s": false, "k0rdent": false} {
		if ran[node] != want {
			t.Errorf("second run: node %s ran = %v, want %v", node, ran[node], want)
		}
	}
	for _, node := range []string{"wireguard", "terraform", "k0s", "k0rdent"} {
		if st := rf.Nodes[node]; st.State != workflow.Succeeded || !strings.Contains(st.Reason, "unchanged since run "+runID+", verified") {
			t.Errorf("second run: %s %s %q, want reused after Verify, unchanged since run %s", node, st.State, st.Reason, runID)
		}
	}

	scanForSecrets(t, p.path("state"), outputs, len(vms), [2]string{"the API server's token", token})
}

// playKCM plays KCM's controller on the VM's API server: once the chart's
// Management CRD is served it creates the object, reports Ready=False, and
// a second later Ready=True. It uses kubectl inside the VM's namespace (the
// API server listens on the VM's WireGuard address).
func playKCM(ctx context.Context, t *testing.T, tb *testbed.Testbed, vm, kubeconfig string) <-chan error {
	t.Helper()
	kubectl := func(stdin string, args ...string) error {
		c := tb.VMExec(ctx, vm, "kubectl", append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
		c.Stdin = strings.NewReader(stdin)
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	ready := func(status, reason string) error {
		now := time.Now().UTC().Format(time.RFC3339)
		patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":%q,"reason":%q,"message":"k0rdent test","lastTransitionTime":%q}]}}`, status, reason, now)
		return kubectl("", "patch", "managements.k0rdent.mirantis.com", "kcm", "--subresource=status", "--type=merge", "-p", patch)
	}
	const mgmt = `{"apiVersion":"k0rdent.mirantis.com/v1beta1","kind":"Management","metadata":{"name":"kcm"},"spec":{"release":"kcm-1-4-0"}}`
	done := make(chan error, 1)
	go func() {
		for {
			err := kubectl(mgmt, "create", "-f", "-")
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				done <- fmt.Errorf("the Management CRD was never served: %v", err)
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
		if err := ready("False", "Installing"); err != nil {
			done <- err
			return
		}
		time.Sleep(time.Second)
		done <- ready("True", "Succeeded")
	}()
	return done
}
