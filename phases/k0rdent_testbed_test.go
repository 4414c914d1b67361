package phases

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/internal/testbed"
	tf "github.com/k0rdent/k0rdent-deploy/providers/terraform"
	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// k0rdentTestbedChild names the job file that tells a re-executed test
// binary to play the operator inside the testbed's operator namespace.
const k0rdentTestbedChild = "K0RDENT_K0RDENT_TESTBED_CHILD"

// k0rdentTestbedJob is what the parent hands the child, and what the child
// reports back.
type k0rdentTestbedJob struct {
	Config     string
	Secrets    string
	Inputs     map[string]map[string]string // wireguard and terraform outputs
	Kubeconfig string                       // the k0s node's output: the VM's API server
	Log        string                       // the node log
	Result     string                       // where the child writes k0rdentTestbedResult
}

type k0rdentTestbedResult struct {
	Outputs  map[string]string
	ReadyAt  time.Time // when the child, playing KCM, set Management Ready
	Returned time.Time // when Run returned
}

// TestK0rdent_Testbed runs the k0rdent phase from the operator namespace
// against a real kube-apiserver and etcd running in a VM namespace, reached
// only through the real WireGuard tunnel: wireguard phase → the VM booted
// from its cloud-init → etcd and kube-apiserver on the VM's WireGuard
// address (testbed.StartKube, what k0s would run there) → the vpn phase and
// the k0rdent phase in the operator namespace. The child also plays KCM
// (through the tunnel) and sets Management Ready after a delay; the phase
// must return only after that. A second run is an upgrade to revision 2.
func TestK0rdent_Testbed(t *testing.T) {
	if job := os.Getenv(k0rdentTestbedChild); job != "" {
		k0rdentTestbedOperator(t, job)
		return
	}
	t.Parallel() // its own testbed: it runs beside the other slow tests
	testbed.Require(t, false)
	testbed.RequireKube(t)
	root := t.TempDir()
	secrets := filepath.Join(root, "state", "secrets")
	tb := testbed.New(t, testbed.Options{VMs: []testbed.VM{{Name: "k0s-controller-1"}}})
	iface := tb.OperatorInterface()
	cfgPath := filepath.Join(root, "k0rdent.yaml")
	// The vpn phase's reachability check dials vpn.ssh_port on each VM;
	// this VM runs no sshd, so it dials the API server's port instead.
	cfgText := fmt.Sprintf(`azure:
  location: westus2
cluster:
  controllers: {count: 1}
  workers: {count: 0}
software:
  k0rdent:
    chart: %s
vpn:
  interface: %s
  mode: userspace
  ssh_port: %d
timeouts:
  vpn_connect: 60s
  k0rdent_install: 2m
`, kcmTestChart(t), iface, testbed.KubeAPIPort)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	wg := newWireGuard(BuildContext{Config: cfg, Dirs: Dirs{Secrets: secrets}})
	wenv := &workflow.Env{RunID: "r1", Node: WireGuardName, Attempt: 1, SecretsDir: secrets, Log: slog.New(slog.DiscardHandler), Output: io.Discard}
	if err := wg.Run(context.Background(), wenv); err != nil {
		t.Fatal(err)
	}
	if err := tb.ConfigureFromSecrets(secrets); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d := &wireguard.Device{Wrap: []string{"ip", "netns", "exec", tb.OperatorNetns()}}
		if err := d.Down(context.Background(), iface, filepath.Join(secrets, "vpn")); err != nil {
			t.Logf("take the operator device down: %v", err)
		}
	})
	k, err := tb.StartKube("k0s-controller-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("https://192.168.100.2:%d", testbed.KubeAPIPort); k.Server != want {
		t.Errorf("API server at %s, want %s (the VM's WireGuard address)", k.Server, want)
	}
	vm := tb.VMs()[0]
	job := k0rdentTestbedJob{
		Config: cfgPath, Secrets: secrets, Kubeconfig: k.Kubeconfig, Log: filepath.Join(root, "k0rdent.log"),
		Inputs: map[string]map[string]string{
			WireGuardName: wenv.Outputs(),
			TerraformName: {tf.OutputPublicIPs: fmt.Sprintf(`{%q: %q}`, vm.Name, vm.PublicIP), tf.OutputWireGuardPort: wenv.Outputs()[WireGuardOutputPort]},
		},
	}
	child := testbedChild{Test: "TestK0rdent_Testbed", EnvVar: k0rdentTestbedChild, Root: root, Log: job.Log, Timeout: 4 * time.Minute,
		Env: []string{"HOME=" + root}}
	operate := func(name string) k0rdentTestbedResult {
		t.Helper()
		j := job
		j.Result = filepath.Join(root, name+"-result.json")
		var res k0rdentTestbedResult
		child.run(t, tb, name, j, j.Result, &res)
		return res
	}

	first := operate("first")
	if first.Returned.Before(first.ReadyAt) {
		t.Errorf("Run returned at %s, before Management was set Ready at %s", first.Returned.Format(time.StampMicro), first.ReadyAt.Format(time.StampMicro))
	}
	if got := first.Outputs[K0rdentOutputRevision]; got != "1" {
		t.Errorf("first run: outputs %v, want revision 1", first.Outputs)
	}
	second := operate("second")
	if got := second.Outputs[K0rdentOutputRevision]; got != "2" {
		t.Errorf("second run: outputs %v, want revision 2 (an upgrade)", second.Outputs)
	}

	log, _ := os.ReadFile(job.Log)
	for _, w := range []string{"server=https://192.168.100.2:6443", "installing release", "upgrading release", "Ready=False (Installing", "k0rdent installed"} {
		if !strings.Contains(string(log), w) {
			t.Errorf("node log lacks %q:\n%s", w, log)
		}
	}
	token := kubeToken(t, k.Kubeconfig)
	for name, data := range map[string]string{"node log": string(log), "outputs": fmt.Sprint(first.Outputs, second.Outputs)} {
		if strings.Contains(data, token) {
			t.Errorf("the %s holds the API server's token", name)
		}
	}
}

// k0rdentTestbedOperator is the child: inside the operator namespace it
// brings the tunnel up with the vpn phase, then runs the k0rdent phase's
// preconditions and Run while playing KCM through the same tunnel.
func k0rdentTestbedOperator(t *testing.T, jobPath string) {
	var job k0rdentTestbedJob
	readTestbedJob(t, jobPath, &job)
	cfg, logger, logf, _ := testbedVPNUp(t, job.Config, job.Log, job.Secrets, job.Inputs)

	p := NewK0rdent(BuildContext{Config: cfg, Dirs: Dirs{Secrets: job.Secrets}})
	p.wait.Interval = 200 * time.Millisecond
	env := &workflow.Env{RunID: "r1", Node: K0rdentName, Attempt: 1, SecretsDir: job.Secrets, Log: logger, Output: logf,
		Inputs: map[string]map[string]string{K0sName: {K0sOutputKubeconfig: job.Kubeconfig}}}

	// KCM: the Management object appears once the chart's CRD is there,
	// reports Ready=False, and Ready=True once the phase has logged that
	// it saw Ready=False (an event, not a pause: a slow Helm install, as
	// under load, must not let the phase miss it; see TestK0rdent_API).
	// On the second run it is Ready already.
	var res k0rdentTestbedResult
	ctl := newKCM(t, job.Kubeconfig, p.object)
	ctlErr := make(chan error, 1)
	go func() {
		if err := ctl.create(); err != nil {
			if apierrors.IsAlreadyExists(err) {
				ctlErr <- nil
				return
			}
			ctlErr <- err
			return
		}
		if err := ctl.setReady("False", "Installing", "providers are being installed"); err != nil {
			ctlErr <- err
			return
		}
		if err := waitForFile(job.Log, "Ready=False (Installing", time.Minute); err != nil {
			ctlErr <- err
			return
		}
		res.ReadyAt = time.Now()
		ctlErr <- ctl.setReady("True", "Succeeded", "")
	}()
	err := runK0rdent(t, p, env)
	res.Returned = time.Now()
	if cerr := <-ctlErr; cerr != nil {
		t.Fatalf("the KCM stand-in: %v", cerr)
	}
	if err != nil {
		t.Fatalf("k0rdent: %v", err)
	}
	res.Outputs = env.Outputs()
	out, _ := json.Marshal(res)
	if err := os.WriteFile(job.Result, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitForFile waits until the file at path holds want, for at most
// timeout.
func waitForFile(path, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if data, _ := os.ReadFile(path); strings.Contains(string(data), want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s has no %q after %s", path, want, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
