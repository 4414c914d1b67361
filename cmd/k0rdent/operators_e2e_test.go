package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/internal/testbed"
	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
	"github.com/k0rdent/k0rdent-deploy/providers/terraform/tftest"
	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TestOperators_TwoOperators is issue 15 item 4 on the namespace testbed:
// two operator machines share one deployment through Azure Blob Storage
// (Azurite). Each is a network namespace of its own with its own operator
// directory (K0RDENT_OPERATOR_DIR: where its WireGuard key lives) and its
// own /run/wireguard (a private mount namespace, so that both can call
// their device by the config's vpn.interface, as two machines would).
// Neither has a local state directory: both run with K0RDENT_STATE_URL,
// and reach the test binary's Azurite through a forwarder listening on
// the loopback of their own namespace (as two machines reach one storage
// account).
//
// Operator A (alice@a) deploys (wireguard, terraform with the real
// terraform binary, vpn through wireguard-go, a probe phase that fails);
// the VMs boot from the cloud-init documents A's run stored in the
// container. Operator B (bob@b) resumes that run: its vpn node generates
// B's key in B's directory, gives B the address at the top of the
// WireGuard network, adds B's public key as a peer of every VM over SSH
// to the VMs' public IPs (the device and the VM's wg-quick file), then
// brings B's tunnel up; the run succeeds through B's tunnel. `status
// --check` passes for B and for A (A's tunnel keeps working). A VM
// restarted from its wg-quick file still knows B. `operators` lists both
// from the container. Then A runs `operators remove bob@b`: journalled in
// the container under the lease, gone from every VM's file, B's `status
// --check` fails on the vpn node while A's passes. No private key of
// either operator is in any blob of the container or in any output, and
// the hub's key stays with A.
func TestOperators_TwoOperators(t *testing.T) {
	testbed.Require(t, true)
	for _, tool := range []string{"unshare", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "operators e2e: %s not found (util-linux)", tool)
		}
	}
	t.Parallel() // its own testbed; terraform's settings go to the children's environment only
	az := testenv.SharedAzurite(t)
	tfSection, _, tfEnv := tftest.TestModuleEnv(t)
	keyDir := t.TempDir()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "e2e", "-f", filepath.Join(keyDir, "id")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(keyDir, "id.pub"))
	if err != nil {
		t.Fatal(err)
	}
	var vms []testbed.VM
	for i, n := range infraVMs {
		vms = append(vms, testbed.VM{Name: n, PublicIP: testbed.DefaultPublicIP(i)})
	}
	// The VMs' sshd answers on their public IPs too (Azure's NSG opens
	// 22), and logs in the admin user k0rdent as root (a sandbox over
	// /etc only: /run stays the machine's, where wireguard-go's sockets
	// are).
	tb := testbed.New(t, testbed.Options{VMs: vms, AuthorizedKey: strings.TrimSpace(string(pub)), PublicSSH: true,
		Sandbox: true, SandboxDirs: []string{"/etc"}, AdminUser: "k0rdent"})
	nsB, err := tb.AddOperator()
	if err != nil {
		t.Fatal(err)
	}
	iface := tb.OperatorInterface()
	p := newBlobProjectOn(t, az, fmt.Sprintf(`azure:
  location: westus2
cluster:
  controllers: {count: 1}
  workers: {count: 2}
ssh:
  key_path: %s
vpn:
  interface: %s
  mode: userspace
timeouts:
  vpn_connect: 90s
%sphases:
  - name: probe
    description: stands for the first phase that needs the VMs (k0s)
    command: [sh, -c, "test -f probe-ok || { echo probe-ok missing; exit 1; }"]
    depends_on: [vpn]
`, filepath.Join(keyDir, "id"), iface, tfSection))
	dirA, dirB, runB := t.TempDir(), t.TempDir(), t.TempDir()
	// Each operator reaches the storage account from its own namespace.
	stateEnv := func(netns string) []string {
		endpoint := "http://" + forwardInto(t, netns, "127.0.0.1:"+az.Port()) + "/" + testenv.AzuriteAccount
		// The default lease (60s): nothing here dies holding it.
		return append([]string{"K0RDENT_STATE_URL=" + p.cfg.URL(), "AZURE_STORAGE_CONNECTION_STRING=" + testenv.AzuriteConnectionString(endpoint)}, tfEnv...)
	}
	downOperatorDevice(t, tb, iface, dirA)
	k0rdentA := operatorCLI(tb, p.project, append(stateEnv(tb.OperatorNetns()), "K0RDENT_OPERATOR=alice@a", "K0RDENT_OPERATOR_DIR="+dirA)...)
	// B: its own namespace, and its own /run/wireguard.
	envB := append(stateEnv(nsB), "K0RDENT_OPERATOR=bob@b", "K0RDENT_OPERATOR_DIR="+dirB)
	k0rdentB := func(ctx context.Context, args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", nsB, "unshare", "--mount", "--propagation", "private", "sh", "-c",
			`mkdir -p /run/wireguard && mount --bind "$0" /run/wireguard && exec "$@"`, runB, binPath}, args...)...)
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		c.Dir = p.dir
		c.Env = append(p.project.cmd().Env, envB...)
		return c
	}
	var outputs []result
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	skip := "--skip=k0s,k0rdent"

	// A deploys; the probe fails, so the run is left to resume.
	cmdA := k0rdentA(ctx, "--no-color", "run", skip)
	var out1, err1 bytes.Buffer
	cmdA.Stdout, cmdA.Stderr = &out1, &err1
	if err := cmdA.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmdA.Wait() }()
	bootVMsFromStore(t, p, tb, done, infraVMs)
	var r1 result
	if werr := <-done; werr != nil {
		r1.code = exitCode(t, werr)
	}
	r1.stdout, r1.stderr = out1.String(), err1.String()
	outputs = append(outputs, r1)
	if r1.code != 1 {
		t.Fatalf("A's run: want exit 1 (probe fails)\n%s", r1)
	}
	// A's key (the hub's) is in A's directory, not in the shared state.
	keyA, err := wireguard.NewKeyStore(dirA).Load(wireguard.OperatorKeyName)
	if err != nil {
		t.Fatalf("A's key in A's directory: %v", err)
	}
	secrets, err := p.store().Backend().ListSecrets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if hub := filepath.ToSlash(wireguard.NewKeyStore("").Path(wireguard.HubName)); slices.Contains(secrets, hub) {
		t.Errorf("the hub's key %s is a secret of the shared state: %v", hub, secrets)
	}
	vpnA := p.currentRun().Nodes["vpn"].Outputs
	if vpnA["operator.name"] != "alice@a" || vpnA["operator.address"] != "192.168.100.1" || vpnA["operator.added_to"] != "" || vpnA["operator.public_key"] != keyA.PublicKey().String() {
		t.Fatalf("A's vpn outputs: %v, want alice@a at the hub's address, added to no VM (the VMs' cloud-init has it)", vpnA)
	}

	// B resumes A's run through its own tunnel.
	if err := os.WriteFile(p.path("probe-ok"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rB := run(t, k0rdentB(ctx, "--no-color", "run", "--resume", "--yes", skip))
	outputs = append(outputs, rB)
	if rB.code != 0 {
		t.Fatalf("B's resumed run: want exit 0\n%s", rB)
	}
	rf := p.currentRun()
	vpnB := rf.Nodes["vpn"].Outputs
	keyB, err := wireguard.NewKeyStore(dirB).Load(wireguard.OperatorKeyName)
	if err != nil {
		t.Fatalf("B's key in B's directory: %v", err)
	}
	if vpnB["operator.name"] != "bob@b" || vpnB["operator.address"] != "192.168.100.254" || vpnB["operator.public_key"] != keyB.PublicKey().String() ||
		vpnB["operator.added_to"] != strings.Join(infraVMs, ",") {
		t.Errorf("B's vpn outputs: %v", vpnB)
	}
	if rf.Nodes["probe"].State != workflow.Succeeded {
		t.Errorf("B's resumed run: probe %s, want succeeded through B's tunnel", rf.Nodes["probe"].State)
	}
	for _, vm := range infraVMs {
		conf, err := os.ReadFile(tb.WGConfPath(vm))
		if err != nil || !bytes.Contains(conf, []byte(keyB.PublicKey().String())) || !bytes.Contains(conf, []byte("# operator bob@b")) {
			t.Errorf("%s wg-quick file: %v, want bob@b's peer in it:\n%s", vm, err, conf)
		}
	}

	// Both tunnels work: status --check passes for B and for A.
	for who, k0rdent := range map[string]func(context.Context, ...string) *exec.Cmd{"A": k0rdentA, "B": k0rdentB} {
		r := run(t, k0rdent(ctx, "--no-color", "status", "--check"))
		outputs = append(outputs, r)
		if r.code != 0 || !strings.Contains(r.stdout, p.cfg.URL()) {
			t.Errorf("%s's status --check of %s: want exit 0\n%s", who, p.cfg.URL(), r)
		}
	}
	// A VM restarted from its wg-quick file still knows B and A (both
	// tunnels carry their checks again, once each has shaken hands anew:
	// a peer whose session the VM lost retries after about 15 s).
	if err := tb.RebootWireGuard("k0s-worker-1"); err != nil {
		t.Fatal(err)
	}
	for who, k0rdent := range map[string]func(context.Context, ...string) *exec.Cmd{"A": k0rdentA, "B": k0rdentB} {
		if r := waitCheck(t, ctx, k0rdent, 0); r.code != 0 {
			t.Errorf("%s's status --check after k0s-worker-1 restarted from its wg-quick file: want exit 0\n%s", who, r)
		}
	}

	// operators lists both; B is "you" for B.
	lst := run(t, k0rdentB(ctx, "operators", "-o", "json"))
	outputs = append(outputs, lst)
	var view struct {
		Operators []struct {
			Name, Address, PublicKey string
			AddedByRun               string `json:"added_by_run"`
			You                      bool
		}
	}
	if err := json.Unmarshal([]byte(lst.stdout), &view); err != nil || lst.code != 0 {
		t.Fatalf("operators -o json: %v\n%s", err, lst)
	}
	if len(view.Operators) != 2 || view.Operators[0].Name != "alice@a" || view.Operators[1].Name != "bob@b" || !view.Operators[1].You ||
		view.Operators[0].You || view.Operators[1].AddedByRun != rf.Header.RunID || !strings.Contains(lst.stdout, `"public_key"`) {
		t.Errorf("operators -o json:\n%s", lst.stdout)
	}

	// Refusals: yourself, an unknown name.
	for _, args := range [][]string{{"operators", "remove", "alice@a"}, {"operators", "remove", "nobody@x"}} {
		r := run(t, k0rdentA(ctx, args...))
		outputs = append(outputs, r)
		if r.code != 2 {
			t.Errorf("%v: want exit 2\n%s", args, r)
		}
	}
	// A removes B, under the lease, journalled in the container.
	rm := run(t, k0rdentA(ctx, "--no-color", "operators", "remove", "bob@b"))
	outputs = append(outputs, rm)
	if rm.code != 0 || !strings.Contains(rm.stdout, "removed operator bob@b") {
		t.Fatalf("operators remove bob@b: want exit 0\n%s", rm)
	}
	rf = p.currentRun()
	if last := rf.Records[len(rf.Records)-1]; last.Kind != state.KindOperator || last.Operator.Name != "bob@b" || last.Operator.By != "alice@a" {
		t.Errorf("last record %+v, want bob@b's removal by alice@a", last)
	}
	if h, err := p.store().ReadHolder(); err != nil || h != nil {
		t.Errorf("lock holder after remove: %+v %v, want none (released)", h, err)
	}
	for _, vm := range infraVMs {
		if conf, _ := os.ReadFile(tb.WGConfPath(vm)); bytes.Contains(conf, []byte(keyB.PublicKey().String())) {
			t.Errorf("%s wg-quick file still has bob@b:\n%s", vm, conf)
		}
	}
	if r := run(t, k0rdentB(ctx, "--no-color", "status", "--check")); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "drifted") {
		t.Errorf("B's status --check after its removal: want a failure, vpn drifted\n%s", r)
	} else {
		outputs = append(outputs, r)
	}
	if r := run(t, k0rdentA(ctx, "--no-color", "status", "--check")); r.code != 0 {
		t.Errorf("A's status --check after B's removal: want exit 0\n%s", r)
	} else {
		outputs = append(outputs, r)
	}

	// Each operator's private key is on its machine only: in no blob of
	// the container, in no output, and no local state directory appeared.
	blobs := p.blobs()
	if len(blobs) == 0 {
		t.Fatal("no blobs in the container")
	}
	for who, key := range map[string]string{"A": keyA.String(), "B": keyB.String()} {
		for name, data := range blobs {
			if bytes.Contains(data, []byte(key)) {
				t.Errorf("blob %s holds %s's private key", name, who)
			}
		}
		for i, o := range outputs {
			if strings.Contains(o.stdout+o.stderr, key) {
				t.Errorf("output of command %d holds %s's private key", i+1, who)
			}
		}
	}
	if _, err := os.Lstat(p.path("state")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a local state directory appeared beside the config: %v", err)
	}
}

// bootVMsFromStore waits until the journal in the container shows the
// terraform node succeeded (the VMs exist) and configures each testbed VM
// of vms from its cloud-init document as stored in the container (the
// wireguard node's secret), as the VM would at first boot. It returns
// early, failing, if k0rdent exits first.
func bootVMsFromStore(t *testing.T, p *blobProject, tb *testbed.Testbed, done chan error, vms []string) {
	t.Helper()
	store := p.store()
	whenTerraformSucceeded(t, store, done, func(*state.RunFile) {
		for _, vm := range vms {
			name := filepath.ToSlash(wireguard.NewKeyStore("").CloudInitPath(vm))
			doc, err := store.Backend().GetSecret(context.Background(), name)
			if err != nil {
				t.Fatalf("boot %s: cloud-init document %s in the container: %v", vm, name, err)
			}
			if err := tb.ConfigureVM(vm, doc); err != nil {
				t.Fatalf("boot %s: %v", vm, err)
			}
		}
	})
}

// forwardInto listens on the loopback of network namespace netns and
// forwards every connection to target (an address of the test's own
// namespace): how a process in that namespace reaches the test's
// Azurite. It returns the listening address (as seen inside netns).
func forwardInto(t *testing.T, netns, target string) string {
	t.Helper()
	var l net.Listener
	err := testbed.InNetns(netns, func() (err error) {
		l, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", netns, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, u)
			}()
		}
	}()
	return l.Addr().String()
}

// waitCheck runs `status --check` until it exits with want (a handshake
// after a VM restarted can take a few seconds) or 60 s pass.
func waitCheck(t *testing.T, ctx context.Context, k0rdent func(context.Context, ...string) *exec.Cmd, want int) result {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := run(t, k0rdent(ctx, "--no-color", "status", "--check"))
		if r.code == want || time.Now().After(deadline) {
			return r
		}
		time.Sleep(2 * time.Second)
	}
}
