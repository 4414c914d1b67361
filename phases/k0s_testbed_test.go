package phases

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/internal/testbed"
	tf "github.com/k0rdent/k0rdent-deploy/providers/terraform"
	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// k0sTestbedChild names the file that tells a re-executed test binary to
// play the operator inside the testbed's operator namespace: k0sctl runs
// in this process, so the process must be in that namespace.
const k0sTestbedChild = "K0RDENT_K0S_TESTBED_CHILD"

// k0sTestbedJob is what the parent hands the child.
type k0sTestbedJob struct {
	Config  string                       // k0rdent.yaml
	Dirs    Dirs                         // state directories
	Inputs  map[string]map[string]string // wireguard and terraform outputs
	Log     string                       // the node log (k0sctl's lines)
	Outputs string                       // where the child writes the k0s outputs
}

// TestK0s_Testbed runs the k0s phase for real against three namespace VMs
// (one controller, two workers): wireguard phase → VMs booted from its
// cloud-init → vpn phase (the operator's wireguard-go) → k0s phase, whose
// preconditions dial every sshd through the tunnel and whose Run drives
// k0sctl's real phases over SSH (connect, OS detection, facts, host
// validation, binary upload, configuration, install, start, join tokens,
// kubeconfig). Each VM's sshd is sandboxed (testbed.Options.Sandbox), so
// the install lands in the testbed's directory. The uploaded k0s binary is
// the k0s-standin script, which records its argv; the test asserts the
// install commands per role. A second Run (a resume) installs nothing.
func TestK0s_Testbed(t *testing.T) {
	if job := os.Getenv(k0sTestbedChild); job != "" {
		k0sTestbedOperator(t, job)
		return
	}
	testbed.Require(t, true)
	standin, err := filepath.Abs(filepath.Join("..", "providers", "k0sctl", "testdata", "k0s-standin"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dirs := Dirs{K0s: filepath.Join(root, "state", K0sWorkDir), Secrets: filepath.Join(root, "state", "secrets"), Terraform: filepath.Join(root, "state", "terraform")}
	sshKey := filepath.Join(dirs.Secrets, "ssh", "id_ed25519")
	if err := os.MkdirAll(filepath.Dir(sshKey), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "k0rdent-test", "-f", sshKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(sshKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"k0s-controller-1", "k0s-worker-1", "k0s-worker-2"}
	var vms []testbed.VM
	for _, n := range names {
		vms = append(vms, testbed.VM{Name: n})
	}
	tb := testbed.New(t, testbed.Options{VMs: vms, AuthorizedKey: string(pub), Sandbox: true})
	iface := tb.OperatorInterface()
	cfgPath := filepath.Join(root, "k0rdent.yaml")
	cfgText := fmt.Sprintf(`azure:
  location: westus2
cluster:
  controllers: {count: 1}
  workers: {count: 2}
software:
  k0s:
    binary_path: %s
vpn:
  interface: %s
  mode: userspace
timeouts:
  vpn_connect: 60s
  k0s_install: 4m
`, standin, iface)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}

	// wireguard: keys and cloud-init; the VMs boot from it.
	wg := newWireGuard(BuildContext{Config: cfg, Dirs: dirs})
	wenv := &workflow.Env{RunID: "r1", Node: WireGuardName, Attempt: 1, SecretsDir: dirs.Secrets, Log: slog.New(slog.DiscardHandler), Output: io.Discard}
	if err := wg.Run(context.Background(), wenv); err != nil {
		t.Fatal(err)
	}
	if err := tb.ConfigureFromSecrets(dirs.Secrets); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d := &wireguard.Device{Wrap: []string{"ip", "netns", "exec", tb.OperatorNetns()}}
		if err := d.Down(context.Background(), iface, filepath.Join(dirs.Secrets, "vpn")); err != nil {
			t.Logf("take the operator device down: %v", err)
		}
	})
	// terraform's outputs as the test module reports them; the SSH user is
	// root, the only user the testbed's sshd lets in.
	ips := map[string]string{}
	for _, v := range tb.VMs() {
		ips[v.Name] = v.PublicIP
	}
	ij, _ := json.Marshal(ips)
	job := k0sTestbedJob{
		Config: cfgPath, Dirs: dirs,
		Inputs: map[string]map[string]string{
			WireGuardName: wenv.Outputs(),
			TerraformName: {tf.OutputPublicIPs: string(ij), tf.OutputWireGuardPort: wenv.Outputs()[WireGuardOutputPort],
				TerraformOutputClusterID: "k0rdent-testbed1", TerraformOutputSSHUser: "root", TerraformOutputSSHKeyPath: sshKey},
		},
		Log: filepath.Join(root, "k0s.log"),
	}

	child := testbedChild{Test: "TestK0s_Testbed", EnvVar: k0sTestbedChild, Root: root, Log: job.Log, Timeout: 5 * time.Minute,
		Env: []string{"HOME=" + root, "XDG_CACHE_HOME=" + filepath.Join(root, "cache")}}
	operate := func(name string) map[string]string {
		t.Helper()
		j := job
		j.Outputs = filepath.Join(root, name+"-outputs.json")
		var outputs map[string]string
		child.run(t, tb, name, j, j.Outputs, &outputs)
		return outputs
	}
	out := operate("first")

	// The outputs and the files they name.
	if got, want := out[K0sOutputAPIEndpoint], "https://192.168.100.2:6443"; got != want {
		t.Errorf("api_endpoint = %q, want %q", got, want)
	}
	kc, err := os.Stat(out[K0sOutputKubeconfig])
	if err != nil || kc.Mode().Perm() != 0o600 || !strings.HasPrefix(out[K0sOutputKubeconfig], dirs.Secrets) {
		t.Errorf("kubeconfig %s: %v %v, want a 0600 file under secrets", out[K0sOutputKubeconfig], kc, err)
	}
	k0sctlYAML, err := os.ReadFile(out[K0sOutputK0sctlConfig])
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"address: 192.168.100.2", "address: 192.168.100.4", "keyPath: " + sshKey, "role: controller+worker", "uploadBinary: true", "k0sBinaryPath: " + standin} {
		if !strings.Contains(string(k0sctlYAML), w) {
			t.Errorf("k0sctl.yaml does not say %q:\n%s", w, k0sctlYAML)
		}
	}

	// What k0sctl asked of k0s on each host, in order.
	standinBytes, _ := os.ReadFile(standin)
	installs := map[string]*regexp.Regexp{
		"k0s-controller-1": regexp.MustCompile(`(?m)^install controller .*--enable-worker=true`),
		"k0s-worker-1":     regexp.MustCompile(`(?m)^install worker .*--token-file=/etc/k0s/k0stoken`),
		"k0s-worker-2":     regexp.MustCompile(`(?m)^install worker .*--token-file=/etc/k0s/k0stoken`),
	}
	calls := map[string]string{}
	for _, vm := range names {
		calls[vm] = sandboxRead(t, tb, vm, "/var/lib/k0s-standin/calls.log")
		if !installs[vm].MatchString(calls[vm]) {
			t.Errorf("%s: no %s in the stand-in's calls:\n%s", vm, installs[vm], calls[vm])
		}
		if strings.Count(calls[vm], "install ") != 1 {
			t.Errorf("%s: want one install, got:\n%s", vm, calls[vm])
		}
		if got := sandboxRead(t, tb, vm, "/usr/local/bin/k0s"); got != string(standinBytes) {
			t.Errorf("%s: /usr/local/bin/k0s is not the uploaded stand-in", vm)
		}
	}
	for _, w := range []string{"version", "config validate", "kubectl get --raw=/readyz", "token create --role=worker", "kubeconfig admin"} {
		if !strings.Contains(calls["k0s-controller-1"], "\n"+w) && !strings.HasPrefix(calls["k0s-controller-1"], w) {
			t.Errorf("controller: k0sctl never ran k0s %s:\n%s", w, calls["k0s-controller-1"])
		}
	}
	if !strings.Contains(sandboxRead(t, tb, "k0s-controller-1", "/etc/init.d/k0scontroller"), "k0s-standin") ||
		!strings.Contains(sandboxRead(t, tb, "k0s-worker-1", "/etc/init.d/k0sworker"), "k0s-standin") {
		t.Error("the services were not installed in the sandboxes")
	}
	// Nothing landed on the machine.
	for _, p := range []string{"/etc/init.d/k0scontroller", "/etc/init.d/k0sworker", "/var/lib/k0s-standin", "/etc/k0s/k0s.yaml"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists on the machine: the sandbox leaked", p)
		}
	}

	// A resume runs the phase again: k0s runs at the configured version,
	// so k0sctl installs nothing more and still hands out the kubeconfig.
	again := operate("second")
	if again[K0sOutputKubeconfig] != out[K0sOutputKubeconfig] {
		t.Errorf("second run outputs %v, want %v", again, out)
	}
	for _, vm := range names {
		if c := sandboxRead(t, tb, vm, "/var/lib/k0s-standin/calls.log"); strings.Count(c, "install ") != 1 {
			t.Errorf("%s: the second run installed again:\n%s", vm, c)
		}
	}

	// No secret in the node log, the k0sctl.yaml or the outputs.
	key, _ := os.ReadFile(sshKey)
	kcData, _ := os.ReadFile(out[K0sOutputKubeconfig])
	log, _ := os.ReadFile(job.Log)
	oj, _ := json.Marshal(again)
	secrets := []string{strings.TrimSpace(string(key)), "k0s-standin-admin-token", "abcdef.0123456789abcdef"}
	for _, l := range strings.Split(string(key), "\n")[1:3] {
		secrets = append(secrets, l)
	}
	if !bytes.Contains(kcData, []byte("k0s-standin-admin-token")) {
		t.Errorf("the saved kubeconfig is not the one k0s printed:\n%s", kcData)
	}
	for name, data := range map[string][]byte{"node log": log, "k0sctl.yaml": k0sctlYAML, "outputs": oj} {
		for _, s := range secrets {
			if s != "" && bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds a secret (%.12s...)", name, s)
			}
		}
	}
	if !bytes.Contains(log, []byte("Install workers")) {
		t.Errorf("node log without k0sctl's phases:\n%s", log)
	}
}

// sandboxRead reads path as VM vm sees it (from its sandbox).
func sandboxRead(t *testing.T, tb *testbed.Testbed, vm, path string) string {
	t.Helper()
	hp, ok := tb.SandboxPath(vm, path)
	if !ok {
		t.Fatalf("%s is not sandboxed", path)
	}
	data, err := os.ReadFile(hp)
	if err != nil {
		t.Errorf("%s: %s: %v", vm, path, err)
	}
	return string(data)
}

// k0sTestbedOperator is the child: inside the operator namespace it runs
// the vpn phase, then the k0s phase's preconditions and Run, as the
// scheduler would, and writes the k0s outputs.
func k0sTestbedOperator(t *testing.T, jobPath string) {
	var job k0sTestbedJob
	readTestbedJob(t, jobPath, &job)
	cfg, logger, logf, venv := testbedVPNUp(t, job.Config, job.Log, job.Dirs.Secrets, job.Inputs)
	ctx := context.Background()
	inputs := map[string]map[string]string{VPNName: venv.Outputs()}
	for k, v := range job.Inputs {
		inputs[k] = v
	}
	p := NewK0s(BuildContext{Config: cfg, Dirs: job.Dirs})
	env := &workflow.Env{RunID: "r1", Node: K0sName, Attempt: 1, SecretsDir: job.Dirs.Secrets, Log: logger, Output: logf, Inputs: inputs}
	for _, c := range p.Preconditions() {
		if err := c.Check(ctx, env); err != nil {
			t.Fatalf("precondition %s: %v", c.Name, err)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, p.Policy().Timeout)
	defer cancel()
	if err := p.Run(rctx, env); err != nil {
		t.Fatalf("k0s: %v", err)
	}
	out, _ := json.Marshal(env.Outputs())
	if err := os.WriteFile(job.Outputs, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// testbedChild re-executes this test binary as Test's child (the
// operator) inside the testbed's operator namespace: the job goes to the
// child in a file named by EnvVar, and the child writes its result as JSON.
type testbedChild struct {
	Test    string        // the test function the child runs
	EnvVar  string        // names the job file
	Root    string        // where job files go
	Log     string        // the node log, shown when the child fails
	Timeout time.Duration // for the whole child
	Env     []string      // added to the environment
}

// run hands the child job (written to <Root>/<name>-job.json), waits for
// it, and decodes the JSON file at resultPath into result. A failing child
// fails t with its output and the node log.
func (c testbedChild) run(t *testing.T, tb *testbed.Testbed, name string, job any, resultPath string, result any) {
	t.Helper()
	jb, _ := json.Marshal(job)
	jobPath := filepath.Join(c.Root, name+"-job.json")
	if err := os.WriteFile(jobPath, jb, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	cmd := tb.OperatorExec(ctx, os.Args[0], "-test.run=^"+c.Test+"$", "-test.v")
	cmd.Env = append(append(os.Environ(), c.EnvVar+"="+jobPath), c.Env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(c.Log)
		t.Fatalf("%s: operator: %v\n%s\nnode log:\n%s", name, err, out, log)
	}
	data, err := os.ReadFile(resultPath)
	if err == nil {
		err = json.Unmarshal(data, result)
	}
	if err != nil {
		t.Fatalf("%s: no result: %v\n%s", name, err, out)
	}
}

// readTestbedJob reads the job file a testbed test hands its re-executed
// child (the operator) into job.
func readTestbedJob(t *testing.T, jobPath string, job any) {
	t.Helper()
	data, err := os.ReadFile(jobPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, job); err != nil {
		t.Fatal(err)
	}
}

// testbedVPNUp is the start of a testbed child in the operator namespace:
// the config, a node log (appended to, closed when the test ends), and the
// tunnel brought up by the vpn phase with the wireguard and terraform
// inputs. It returns the vpn node's env, whose outputs later nodes take.
func testbedVPNUp(t *testing.T, cfgPath, logPath, secrets string, inputs map[string]map[string]string) (*config.Config, *slog.Logger, *os.File, *workflow.Env) {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	logger := slog.New(slog.NewTextHandler(logf, nil))
	vpn := NewVPN(cfg, secrets, &wireguard.Device{})
	venv := &workflow.Env{RunID: "r1", Node: VPNName, Attempt: 1, SecretsDir: secrets, Log: logger, Output: logf, Inputs: inputs}
	if err := vpn.Run(context.Background(), venv); err != nil {
		t.Fatalf("vpn: %v", err)
	}
	return cfg, logger, logf, venv
}
