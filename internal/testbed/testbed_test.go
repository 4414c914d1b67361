package testbed

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
)

// fixture is what the wireguard phase would have produced for two VMs:
// the plan, the keys and each VM's cloud-init document.
type fixture struct {
	plan  wireguard.AddressPlan
	keys  *wireguard.KeyStore
	port  int
	docs  map[string][]byte
	sshID string // private key file for ssh -i
}

func newFixture(t *testing.T, hosts ...wireguard.Host) fixture {
	t.Helper()
	plan, err := wireguard.Plan("192.168.100.0/24", hosts)
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{plan: plan, keys: wireguard.NewKeyStore(t.TempDir()), port: 41873, docs: map[string][]byte{}}
	hub, _, err := f.keys.LoadOrGenerate(wireguard.HubName)
	if err != nil {
		t.Fatal(err)
	}
	for _, vm := range plan.Hosts {
		k, _, err := f.keys.LoadOrGenerate(vm.Name)
		if err != nil {
			t.Fatal(err)
		}
		f.docs[vm.Name], err = wireguard.VMConfig{VM: vm, PrivateKey: k, ListenPort: f.port, Hub: plan.Hub, HubPublicKey: hub.PublicKey()}.CloudInit()
		if err != nil {
			t.Fatal(err)
		}
	}
	f.sshID = filepath.Join(t.TempDir(), "id_ed25519")
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f.sshID).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	return f
}

func (f fixture) authorizedKey(t *testing.T) string {
	data, err := os.ReadFile(f.sshID + ".pub")
	if err != nil {
		t.Skipf("no ssh key: %v", err)
	}
	return string(data)
}

// operatorUp plays the vpn phase with the wg CLI: wireguard-go in the
// operator namespace, the hub's key, one peer per VM with its public IP as
// endpoint.
func operatorUp(t *testing.T, tb *Testbed, f fixture) {
	t.Helper()
	ifname := tb.OperatorInterface()
	cmd := tb.OperatorExec(context.Background(), "wireguard-go", "-f", ifname)
	cmd.Env = append(os.Environ(), "WG_PROCESS_FOREGROUND=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { stop(cmd, done) })
	sock := socketPath(ifname)
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 500 {
			t.Fatalf("operator wireguard-go: no %s", sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
	args := []string{"set", ifname, "private-key", f.keys.Path(wireguard.HubName)}
	for i, vm := range f.plan.Hosts {
		k, err := f.keys.Load(vm.Name)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "peer", k.PublicKey().String(), "endpoint", tb.VMs()[i].PublicIP+":"+strconv.Itoa(f.port),
			"allowed-ips", vm.Prefix().String(), "persistent-keepalive", "25")
	}
	run(t, tb.OperatorExec(context.Background(), "wg", args...))
	run(t, tb.OperatorExec(context.Background(), "ip", "addr", "add", f.plan.Hub.Prefix().String(), "dev", ifname))
	run(t, tb.OperatorExec(context.Background(), "ip", "link", "set", ifname, "up"))
	for _, vm := range f.plan.Hosts {
		run(t, tb.OperatorExec(context.Background(), "ip", "route", "add", vm.Prefix().String(), "dev", ifname))
	}
}

func run(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out)
}

// reach reports whether the operator reaches addr's sshd: a TCP connection
// that reads the SSH banner.
func reach(tb *Testbed, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := tb.DialOperator(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read banner: %w", err)
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("banner %q", line)
	}
	return nil
}

// eventually retries reach for up to 45 s: a handshake initiated while the
// responder was down is retried only after about 5 s, and a peer that lost
// its session is re-keyed after about 15 s of one-way traffic.
func eventually(t *testing.T, tb *Testbed, addr string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		err := reach(tb, addr, 2*time.Second)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s unreachable through the tunnel after 45s: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestTestbed_TunnelSSHStopStart: two VMs configured from their cloud-init
// documents, a tunnel from the operator namespace, ping and SSH through it;
// a VM whose WireGuard stops becomes unreachable while the other stays
// reachable, and comes back when it starts again.
func TestTestbed_TunnelSSHStopStart(t *testing.T) {
	t.Parallel() // its own namespaces or API server: it runs beside the other slow tests
	Require(t, true)
	f := newFixture(t, wireguard.Host{Name: "k0s-controller-1", Role: wireguard.RoleController}, wireguard.Host{Name: "k0s-worker-1", Role: wireguard.RoleWorker})
	tb := New(t, Options{VMs: []VM{{Name: "k0s-controller-1"}, {Name: "k0s-worker-1"}}, AuthorizedKey: f.authorizedKey(t)})
	if got := tb.VMs()[1].PublicIP; got != "198.51.100.11" {
		t.Errorf("default public IP of VM 1 = %s, want 198.51.100.11", got)
	}
	// Nothing routes outside: no default route in any namespace.
	for _, ns := range []string{tb.OperatorNetns(), tb.VMNetns("k0s-controller-1"), tb.VMNetns("k0s-worker-1")} {
		if out := run(t, exec.Command("ip", "-n", ns, "route", "show", "default")); strings.TrimSpace(out) != "" {
			t.Errorf("netns %s has a default route: %s", ns, out)
		}
	}
	// The underlay works before any tunnel.
	run(t, tb.OperatorExec(context.Background(), "ping", "-c1", "-W2", "198.51.100.10"))

	// Responders first (the handshake gotcha), then the operator.
	for _, vm := range f.plan.Hosts {
		if err := tb.ConfigureVM(vm.Name, f.docs[vm.Name]); err != nil {
			t.Fatal(err)
		}
	}
	operatorUp(t, tb, f)

	addrs := map[string]string{}
	for _, vm := range f.plan.Hosts {
		a, err := tb.SSHAddress(vm.Name)
		if err != nil {
			t.Fatal(err)
		}
		if want := vm.Address.String() + ":22"; a != want {
			t.Errorf("SSHAddress(%s) = %s, want %s", vm.Name, a, want)
		}
		addrs[vm.Name] = a
		eventually(t, tb, a)
		run(t, tb.OperatorExec(context.Background(), "ping", "-c1", "-W2", vm.Address.String()))
	}
	// The VM's interface carries the document's address and listen port.
	if out := run(t, tb.VMExec(context.Background(), "k0s-worker-1", "wg", "show", tb.Interface("k0s-worker-1"), "listen-port")); strings.TrimSpace(out) != "41873" {
		t.Errorf("listen port of k0s-worker-1 = %q, want 41873", out)
	}
	// A real SSH login lands in the VM's namespace.
	login := []string{"-F", "/dev/null", "-i", f.sshID, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", "root@192.168.100.3"}
	ssh := func(command ...string) string {
		return run(t, tb.OperatorExec(context.Background(), "ssh", append(login[:len(login):len(login)], command...)...))
	}
	if out := ssh("ip", "-o", "addr", "show"); !strings.Contains(out, tb.Interface("k0s-worker-1")) || !strings.Contains(out, "192.168.100.3/32") {
		t.Errorf("ssh k0s-worker-1 `ip addr` does not show its WireGuard interface:\n%s", out)
	}
	// The login's home is the VM's own, empty, not the machine's.
	checkHome(t, tb, "k0s-worker-1", func(script string) string { return ssh(script) })

	// Stop one VM's WireGuard: it is unreachable, the other is not.
	if err := tb.StopWireGuard("k0s-controller-1"); err != nil {
		t.Fatal(err)
	}
	if tb.WireGuardRunning("k0s-controller-1") {
		t.Error("WireGuardRunning after StopWireGuard")
	}
	if err := reach(tb, addrs["k0s-controller-1"], 3*time.Second); err == nil {
		t.Error("k0s-controller-1 reachable with its WireGuard stopped")
	}
	if err := reach(tb, addrs["k0s-worker-1"], 5*time.Second); err != nil {
		t.Errorf("k0s-worker-1 unreachable while only k0s-controller-1 is stopped: %v", err)
	}
	if _, err := os.Stat(socketPath(tb.Interface("k0s-controller-1"))); !os.IsNotExist(err) {
		t.Errorf("UAPI socket of a stopped VM: %v, want it gone", err)
	}
	// Start it again: reachable again.
	if err := tb.StartWireGuard("k0s-controller-1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, tb, addrs["k0s-controller-1"])
}

// checkHome runs a script on vm through ssh that shows the login's home
// and writes a file there: the home is VMHome, holds nothing of the
// machine's (no .bashrc), and the file lands in the testbed's directory.
func checkHome(t *testing.T, tb *Testbed, vm string, ssh func(script string) string) {
	t.Helper()
	name := "k0tb-home-" + tb.ID()
	t.Cleanup(func() { os.Remove(filepath.Join(VMHome, name)) })
	out := ssh(`cd && pwd && ls -A && echo written > ` + name)
	if want := VMHome + "\n"; out != want {
		t.Errorf("%s: home and its entries = %q, want %q (an empty %s)", vm, out, want, VMHome)
	}
	if _, err := os.Stat(filepath.Join(VMHome, name)); err == nil {
		t.Errorf("%s: a file written in the home over ssh landed in the machine's %s", vm, VMHome)
	}
	if data, err := os.ReadFile(filepath.Join(tb.homeDir(tb.vm(vm)), name)); err != nil || string(data) != "written\n" {
		t.Errorf("%s: the file written in the home is not in the testbed's directory: %q, %v", vm, data, err)
	}
}

// TestTestbed_Cleanup: after a testbed's test ends, its namespaces,
// processes and UAPI sockets are gone.
func TestTestbed_Cleanup(t *testing.T) {
	Require(t, true)
	f := newFixture(t, wireguard.Host{Name: "vm-a", Role: wireguard.RoleWorker})
	var (
		netns []string
		pids  []int
		sock  string
	)
	t.Run("Inner", func(t *testing.T) {
		tb := New(t, Options{VMs: []VM{{Name: "vm-a", PublicIP: "198.51.100.77"}}, AuthorizedKey: f.authorizedKey(t)})
		if err := tb.ConfigureVM("vm-a", f.docs["vm-a"]); err != nil {
			t.Fatal(err)
		}
		netns = []string{tb.OperatorNetns(), tb.VMNetns("vm-a")}
		sock = socketPath(tb.Interface("vm-a"))
		tb.mu.Lock()
		for _, p := range tb.procs {
			pids = append(pids, p.cmd.Process.Pid)
		}
		tb.mu.Unlock()
		if len(pids) != 2 {
			t.Errorf("%d processes, want wireguard-go and sshd", len(pids))
		}
		if len(tb.ID()) != 8 || len(tb.Interface("vm-a")) > 15 || len(tb.OperatorInterface()) > 15 {
			t.Errorf("id %q, interface names %q %q: want 8 hex digits and at most 15 characters", tb.ID(), tb.Interface("vm-a"), tb.OperatorInterface())
		}
		// A process the test starts in a namespace and forgets.
		stray := tb.VMExec(context.Background(), "vm-a", "sleep", "600")
		if err := stray.Start(); err != nil {
			t.Fatal(err)
		}
		go stray.Wait()
		pids = append(pids, stray.Process.Pid)
		if err := tb.ConfigureVM("vm-a", []byte("#cloud-config\nwrite_files: []\n")); err == nil || !strings.Contains(err.Error(), "testbed VM vm-a: cloud-init: no write_files entry") {
			t.Errorf("ConfigureVM with a document without wg0.conf = %v", err)
		}
	})
	out := run(t, exec.Command("ip", "netns", "list"))
	for _, ns := range netns {
		if strings.Contains(out, ns) {
			t.Errorf("netns %s left behind", ns)
		}
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("process %d left running", pid)
		}
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("UAPI socket %s left behind", sock)
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
