package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
)

// Underlay addresses.
const (
	// Underlay is the network joining the operator and the VMs.
	Underlay = "198.51.100.0/24"
	// OperatorIP is the operator namespace's address on it.
	OperatorIP = "198.51.100.1"
	// SSHPort is the port each VM's sshd listens on.
	SSHPort = 22
)

// DefaultPublicIP is the public IP of the VM at index i (counting from 0)
// when VM.PublicIP is empty: 198.51.100.<10+i>, the terraform test module's.
func DefaultPublicIP(i int) string { return fmt.Sprintf("198.51.100.%d", 10+i) }

// VM is one namespace "VM".
type VM struct {
	// Name is the VM's name (k0s-controller-1); it is how the helpers
	// find it.
	Name string
	// PublicIP is its address on the underlay, in 198.51.100.0/24; empty
	// means DefaultPublicIP(index).
	PublicIP string
}

// Options describe a testbed.
type Options struct {
	VMs []VM
	// AuthorizedKey is an authorized_keys line (an SSH public key) that
	// may log in to every VM's sshd (as root: the test runs as root).
	// Empty: no sshd.
	AuthorizedKey string
	// Sandbox runs each VM's sshd in its own mount namespace with
	// overlays over the directories a k0s install writes (see
	// sandbox.go), so what is done over SSH lands in the testbed's
	// directory, never on the machine.
	Sandbox bool
	// AdminUser, with Sandbox, is one more login name for root in each
	// sandboxed VM's /etc/passwd: Azure's admin user (ssh.username, such
	// as k0rdent), who has passwordless sudo there, played by a second
	// name for uid 0 so that no sudo is needed. Empty: only root.
	AdminUser string
	// SandboxDirs, with Sandbox, are the directories overlaid; nil means
	// SandboxedDirs(). (/run overlaid hides the WireGuard UAPI sockets
	// wireguard-go creates later: leave it out to run wg over SSH.)
	SandboxDirs []string
	// PublicSSH makes each VM's sshd listen on its public IP too, as an
	// Azure VM's does (port 22 is open in its network security group):
	// what adds an operator's peer reaches the VM without the tunnel.
	PublicSSH bool
}

// Testbed is a running set of namespaces. Its methods are safe for
// concurrent use.
type Testbed struct {
	t   testing.TB
	id  string
	dir string // logs, configs, host keys
	op  string // operator netns

	mu    sync.Mutex
	vms   []*vmState
	procs []proc // every process started, for cleanup

	sandbox     bool           // Options.Sandbox
	admin       string         // Options.AdminUser
	public      bool           // Options.PublicSSH
	sandboxDirs []string       // Options.SandboxDirs
	extraOps    []string       // AddOperator's namespaces
	stopBoot    chan struct{}  // closed by cleanup: BootFromSecrets watchers stop
	boots       sync.WaitGroup // the watchers
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited and been reaped
}

type vmState struct {
	VM
	index  int
	netns  string
	ifname string    // WireGuard interface
	doc    []byte    // last cloud-init document
	wg     *exec.Cmd // wireguard-go; nil when stopped
	sshd   *exec.Cmd
	waitWG chan struct{} // closed when wg exits
}

// New creates the operator namespace and one namespace per VM, joined by
// veth pairs to a bridge in the operator namespace. It skips the test when
// the machine cannot run it.
func New(t testing.TB, opts Options) *Testbed {
	t.Helper()
	Require(t, opts.AuthorizedKey != "")
	tb := &Testbed{t: t, id: newID(t.Name()), dir: t.TempDir(), sandbox: opts.Sandbox, admin: opts.AdminUser, public: opts.PublicSSH, stopBoot: make(chan struct{})}
	tb.op = "k0tb-" + tb.id + "-op"
	seen := map[string]bool{OperatorIP: true}
	names := map[string]bool{}
	for i, v := range opts.VMs {
		if v.PublicIP == "" {
			v.PublicIP = DefaultPublicIP(i)
		}
		a, err := netip.ParseAddr(v.PublicIP)
		switch {
		case v.Name == "" || names[v.Name]:
			t.Fatalf("testbed: VM %d: empty or duplicate name %q", i, v.Name)
		case err != nil || !netip.MustParsePrefix(Underlay).Contains(a) || seen[v.PublicIP] || a.As4()[3] == 0 || a.As4()[3] == 255:
			t.Fatalf("testbed: VM %s: public IP %q is not a free host address of %s", v.Name, v.PublicIP, Underlay)
		}
		names[v.Name], seen[v.PublicIP] = true, true
		tb.vms = append(tb.vms, &vmState{VM: v, index: i, netns: fmt.Sprintf("k0tb-%s-vm%d", tb.id, i), ifname: fmt.Sprintf("tb%sw%d", tb.id, i)})
	}
	tb.sandboxDirs = opts.SandboxDirs
	if tb.sandboxDirs == nil {
		tb.sandboxDirs = SandboxedDirs()
	}
	t.Cleanup(tb.cleanup)
	if err := tb.setup(opts); err != nil {
		t.Fatalf("testbed: %v", err)
	}
	return tb
}

// Require skips t unless the machine can run a testbed: root, /dev/net/tun,
// ip, wireguard-go and wg, and with ssh also sshd, ssh-keygen and unshare
// (each VM's sshd has a mount namespace of its own: sandbox.go).
func Require(t testing.TB, ssh bool) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "testbed: needs root for network namespaces (CI runs as root)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		testenv.Missing(t, "testbed: no /dev/net/tun for wireguard-go")
	}
	tools := []string{"ip", "wireguard-go", "wg"}
	if ssh {
		tools = append(tools, "/usr/sbin/sshd", "ssh-keygen", "unshare")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "testbed: %s not found (install iproute2, wireguard-go, wireguard-tools, openssh-server, util-linux)", tool)
		}
	}
}

// newID is 4 hex digits of a hash of the test's name and 4 random ones.
func newID(name string) string {
	h := sha256.Sum256([]byte(name))
	var r [2]byte
	rand.Read(r[:])
	return hex.EncodeToString(h[:2]) + hex.EncodeToString(r[:])
}

func (tb *Testbed) setup(opts Options) error {
	br := "tb" + tb.id + "br"
	steps := [][]string{
		{"netns", "add", tb.op},
		{"-n", tb.op, "link", "set", "lo", "up"},
		{"-n", tb.op, "link", "add", br, "type", "bridge"},
		{"-n", tb.op, "addr", "add", OperatorIP + "/24", "dev", br},
		{"-n", tb.op, "link", "set", br, "up"},
	}
	for _, vm := range tb.vms {
		o, v := fmt.Sprintf("tb%so%d", tb.id, vm.index), fmt.Sprintf("tb%sv%d", tb.id, vm.index)
		steps = append(steps,
			[]string{"netns", "add", vm.netns},
			[]string{"-n", vm.netns, "link", "set", "lo", "up"},
			[]string{"-n", tb.op, "link", "add", o, "type", "veth", "peer", "name", v, "netns", vm.netns},
			[]string{"-n", tb.op, "link", "set", o, "master", br, "up"},
			[]string{"-n", vm.netns, "addr", "add", vm.PublicIP + "/24", "dev", v},
			[]string{"-n", vm.netns, "link", "set", v, "up"},
		)
	}
	for _, s := range steps {
		if err := tb.ip(s...); err != nil {
			return err
		}
	}
	for _, vm := range tb.vms {
		// sshd binds the WireGuard address before wg0 has it, and keeps
		// listening while the tunnel is down.
		if out, err := tb.VMExec(context.Background(), vm.Name, "sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1").CombinedOutput(); err != nil {
			return fmt.Errorf("sysctl in %s: %v: %s", vm.netns, err, out)
		}
	}
	if opts.AuthorizedKey != "" {
		return tb.prepareSSH(opts.AuthorizedKey)
	}
	return nil
}

func (tb *Testbed) ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// ID is the testbed's id, part of every name it creates.
func (tb *Testbed) ID() string { return tb.id }

// Dir is the testbed's directory: logs (<netns>-wireguard.log, -sshd.log),
// configurations and host keys.
func (tb *Testbed) Dir() string { return tb.dir }

// OperatorNetns is the operator namespace's name (for `ip netns exec`).
func (tb *Testbed) OperatorNetns() string { return tb.op }

// OperatorInterface is a WireGuard interface name for the operator's side,
// unique on the machine like the VMs' (≤ 15 characters).
func (tb *Testbed) OperatorInterface() string { return "tb" + tb.id + "wop" }

func (tb *Testbed) vm(name string) *vmState {
	for _, v := range tb.vms {
		if v.Name == name {
			return v
		}
	}
	tb.t.Fatalf("testbed: no VM %q", name)
	return nil
}

// VMs lists the VMs with their public IPs, in the order given.
func (tb *Testbed) VMs() []VM {
	out := make([]VM, len(tb.vms))
	for i, v := range tb.vms {
		out[i] = v.VM
	}
	return out
}

// VMNetns is the namespace of vm.
func (tb *Testbed) VMNetns(vm string) string { return tb.vm(vm).netns }

// Interface is vm's WireGuard interface name (what wg0 is called here).
func (tb *Testbed) Interface(vm string) string { return tb.vm(vm).ifname }

// OperatorExec returns a command that runs inside the operator namespace.
func (tb *Testbed) OperatorExec(ctx context.Context, name string, args ...string) *exec.Cmd {
	return netnsCmd(ctx, tb.op, name, args...)
}

// VMExec returns a command that runs inside vm's namespace.
func (tb *Testbed) VMExec(ctx context.Context, vm, name string, args ...string) *exec.Cmd {
	return netnsCmd(ctx, tb.vm(vm).netns, name, args...)
}

func netnsCmd(ctx context.Context, netns, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", netns, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// DialOperator opens a connection from inside the operator namespace; the
// socket stays in that namespace (InNetns).
func (tb *Testbed) DialOperator(ctx context.Context, network, address string) (net.Conn, error) {
	return dialIn(ctx, tb.op, network, address)
}

// start runs a long-lived process in netns with its output in a log file
// under Dir, and tracks it for cleanup.
func (tb *Testbed) start(netns, logName string, env []string, name string, args ...string) (*exec.Cmd, chan struct{}, error) {
	logf, err := os.OpenFile(filepath.Join(tb.dir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", netns, name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("start %s in %s: %w", name, netns, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	tb.procs = append(tb.procs, proc{cmd, done})
	return cmd, done, nil
}

// stop ends a process: SIGTERM to its group, SIGKILL after 5 s.
func stop(cmd *exec.Cmd, done chan struct{}) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
		return
	case <-time.After(5 * time.Second):
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// ConfigureVM configures vm from its cloud-init document as the VM would
// at boot: WireGuard from the document's /etc/wireguard/wg0.conf, then
// sshd (when the testbed has an authorized key) on the WireGuard address.
// Configuring a VM again replaces its WireGuard with the new document.
func (tb *Testbed) ConfigureVM(vm string, cloudInit []byte) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	v := tb.vm(vm)
	q, err := wireguard.ParseCloudInit(cloudInit)
	if err != nil {
		return fmt.Errorf("testbed VM %s: %w", vm, err)
	}
	if len(q.Address) == 0 {
		return fmt.Errorf("testbed VM %s: wg0.conf has no Address", vm)
	}
	v.doc = cloudInit
	// cloud-init writes the wg-quick file; the VM's is under Dir (the
	// VM's sshd tells its sessions where: K0RDENT_WG_CONF_DIR).
	if err := os.MkdirAll(tb.wgConfDir(v), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(tb.WGConfPath(vm), q.Marshal(), 0o600); err != nil {
		return err
	}
	tb.stopWG(v)
	if err := tb.startWG(v, q); err != nil {
		return err
	}
	if v.sshd == nil && tb.hasSSH() {
		return tb.startSSHD(v, q.Address[0].Addr())
	}
	return nil
}

// ConfigureVMFile is ConfigureVM with the document read from path (the
// wireguard phase's cloud_init.<vm> output).
func (tb *Testbed) ConfigureVMFile(vm, path string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("testbed VM %s: %w", vm, err)
	}
	return tb.ConfigureVM(vm, doc)
}

// StopWireGuard stops vm's wireguard-go: the interface, its address and
// routes disappear, as after `wg-quick down wg0`.
func (tb *Testbed) StopWireGuard(vm string) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	v := tb.vm(vm)
	if v.wg == nil {
		return fmt.Errorf("testbed VM %s: WireGuard is not running", vm)
	}
	tb.stopWG(v)
	return nil
}

// StartWireGuard brings vm's WireGuard up again from its last document.
func (tb *Testbed) StartWireGuard(vm string) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	v := tb.vm(vm)
	if v.doc == nil {
		return fmt.Errorf("testbed VM %s: not configured (ConfigureVM first)", vm)
	}
	if v.wg != nil {
		return nil
	}
	q, err := wireguard.ParseCloudInit(v.doc)
	if err != nil {
		return err
	}
	return tb.startWG(v, q)
}

// wgConfDir is where vm's wg-quick files are: what /etc/wireguard is on a
// VM.
func (tb *Testbed) wgConfDir(v *vmState) string {
	return filepath.Join(tb.dir, v.netns+"-etc-wireguard")
}

// WGConfPath is vm's wg-quick file (its /etc/wireguard/wg0.conf): written
// from the cloud-init document by ConfigureVM, changed over SSH by what
// manages the VM's peers (K0RDENT_WG_CONF_DIR in its sessions).
func (tb *Testbed) WGConfPath(vm string) string {
	v := tb.vm(vm)
	return filepath.Join(tb.wgConfDir(v), v.ifname+".conf")
}

// RebootWireGuard restarts vm's WireGuard from its wg-quick file, as
// `systemctl enable wg-quick@wg0` does at boot: what was changed on the
// device alone is gone, what is in the file comes back.
func (tb *Testbed) RebootWireGuard(vm string) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	v := tb.vm(vm)
	data, err := os.ReadFile(tb.WGConfPath(vm))
	if err != nil {
		return fmt.Errorf("testbed VM %s: %w", vm, err)
	}
	q, err := wireguard.ParseWGQuick(data)
	if err != nil {
		return fmt.Errorf("testbed VM %s: %s: %w", vm, tb.WGConfPath(vm), err)
	}
	tb.stopWG(v)
	return tb.startWG(v, q)
}

// WireGuardRunning reports whether vm's wireguard-go runs.
func (tb *Testbed) WireGuardRunning(vm string) bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.vm(vm).wg != nil
}

func (tb *Testbed) stopWG(v *vmState) {
	if v.wg == nil {
		return
	}
	stop(v.wg, v.waitWG)
	v.wg, v.waitWG = nil, nil
	os.Remove(socketPath(v.ifname)) // gone already unless it was killed
}

func socketPath(ifname string) string { return filepath.Join("/var/run/wireguard", ifname+".sock") }

func (tb *Testbed) startWG(v *vmState, q wireguard.WGQuick) error {
	cmd, done, err := tb.start(v.netns, v.netns+"-wireguard.log", []string{"WG_PROCESS_FOREGROUND=1", "LOG_LEVEL=verbose"}, "wireguard-go", "-f", v.ifname)
	if err != nil {
		return err
	}
	v.wg, v.waitWG = cmd, done
	fail := func(err error) error {
		tb.stopWG(v)
		return fmt.Errorf("testbed VM %s: %w (log: %s)", v.Name, err, filepath.Join(tb.dir, v.netns+"-wireguard.log"))
	}
	// wireguard-go is ready when its UAPI socket exists.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(socketPath(v.ifname)); err == nil {
			break
		}
		select {
		case <-done:
			return fail(errors.New("wireguard-go exited"))
		default:
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("no %s after 10s", socketPath(v.ifname)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	conf := filepath.Join(tb.dir, v.netns+"-wg.conf")
	if err := os.WriteFile(conf, q.SetConf(), 0o600); err != nil {
		return fail(err)
	}
	if out, err := tb.VMExec(context.Background(), v.Name, "wg", "setconf", v.ifname, conf).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("wg setconf: %v: %s", err, bytes.TrimSpace(out)))
	}
	steps := [][]string{}
	for _, a := range q.Address {
		steps = append(steps, []string{"-n", v.netns, "addr", "add", a.String(), "dev", v.ifname})
	}
	steps = append(steps, []string{"-n", v.netns, "link", "set", v.ifname, "up"})
	for _, p := range q.Peers {
		for _, a := range p.AllowedIPs {
			steps = append(steps, []string{"-n", v.netns, "route", "replace", a.Masked().String(), "dev", v.ifname})
		}
	}
	for _, s := range steps {
		if err := tb.ip(s...); err != nil {
			return fail(err)
		}
	}
	return nil
}

func (tb *Testbed) hasSSH() bool {
	_, err := os.Stat(filepath.Join(tb.dir, "authorized_keys"))
	return err == nil
}

func (tb *Testbed) prepareSSH(authorizedKey string) error {
	if err := os.WriteFile(filepath.Join(tb.dir, "authorized_keys"), []byte(strings.TrimSpace(authorizedKey)+"\n"), 0o600); err != nil {
		return err
	}
	// sshd's privilege separation directory.
	return os.MkdirAll("/run/sshd", 0o755)
}

func (tb *Testbed) startSSHD(v *vmState, addr netip.Addr) error {
	hostKey := filepath.Join(tb.dir, v.netns+"-ssh_host_ed25519_key")
	if _, err := os.Stat(hostKey); err != nil {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", v.Name, "-f", hostKey).CombinedOutput(); err != nil {
			return fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	publicListen := "# no public ListenAddress (Options.PublicSSH)"
	if tb.public {
		publicListen = "ListenAddress " + v.PublicIP
	}
	cfg := strings.Join([]string{
		"Port " + strconv.Itoa(SSHPort),
		"ListenAddress " + addr.String(),
		publicListen,
		"SetEnv K0RDENT_WG_CONF_DIR=" + tb.wgConfDir(v),
		"HostKey " + hostKey,
		"AuthorizedKeysFile " + filepath.Join(tb.dir, "authorized_keys"),
		"PidFile none",
		"UsePAM no",
		"StrictModes no",
		"PermitRootLogin prohibit-password",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"LogLevel VERBOSE",
		"",
	}, "\n")
	path := filepath.Join(tb.dir, v.netns+"-sshd_config")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return err
	}
	argv := tb.sshdArgv(v, []string{"/usr/sbin/sshd", "-D", "-e", "-f", path})
	cmd, done, err := tb.start(v.netns, v.netns+"-sshd.log", nil, argv[0], argv[1:]...)
	if err != nil {
		return err
	}
	v.sshd = cmd
	// sshd is ready when it listens: probe from inside the VM.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := tb.VMExec(context.Background(), v.Name, "ss", "-Hltn", "sport = :"+strconv.Itoa(SSHPort)).Output()
		if len(bytes.TrimSpace(out)) > 0 {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("testbed VM %s: sshd exited (log: %s)", v.Name, filepath.Join(tb.dir, v.netns+"-sshd.log"))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testbed VM %s: sshd not listening after 10s", v.Name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SSHAddress is vm's sshd address (its WireGuard address, port 22), known
// once ConfigureVM ran.
func (tb *Testbed) SSHAddress(vm string) (string, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	v := tb.vm(vm)
	if v.doc == nil {
		return "", fmt.Errorf("testbed VM %s: not configured", vm)
	}
	q, err := wireguard.ParseCloudInit(v.doc)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(q.Address[0].Addr().String(), strconv.Itoa(SSHPort)), nil
}

func (tb *Testbed) cleanup() {
	close(tb.stopBoot)
	tb.boots.Wait()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range tb.procs {
		wg.Add(1)
		go func() { defer wg.Done(); stop(p.cmd, p.done) }()
	}
	wg.Wait()
	// Anything else still in the namespaces (a device the code under test
	// left up, a command a test started) goes too.
	namespaces := append([]string{tb.op}, tb.extraOps...)
	for _, v := range tb.vms {
		namespaces = append(namespaces, v.netns)
	}
	for _, ns := range namespaces {
		if n := killNetnsPIDs(ns); n > 0 {
			tb.t.Logf("testbed: stopped %d leftover processes in netns %s", n, ns)
		}
	}
	for _, v := range tb.vms {
		os.Remove(socketPath(v.ifname))
	}
	os.Remove(socketPath(tb.OperatorInterface()))
	if tb.t.Failed() {
		tb.dumpLogs()
	}
	for _, v := range tb.vms {
		exec.Command("ip", "netns", "del", v.netns).Run()
	}
	for _, ns := range tb.extraOps {
		exec.Command("ip", "netns", "del", ns).Run()
	}
	exec.Command("ip", "netns", "del", tb.op).Run()
}

// AddOperator adds one more operator machine: a namespace on the underlay
// at 198.51.100.<2+n> (n counting AddOperator calls from 0), joined to
// the bridge like the VMs. It returns the namespace's name (for `ip netns
// exec`); cleanup stops what runs in it and deletes it.
func (tb *Testbed) AddOperator() (string, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	n := len(tb.extraOps) + 1
	if n > 7 {
		return "", errors.New("testbed: at most 7 more operators (198.51.100.2-8)")
	}
	ns := fmt.Sprintf("k0tb-%s-op%d", tb.id, n)
	o, p := fmt.Sprintf("tb%sp%d", tb.id, n), fmt.Sprintf("tb%sq%d", tb.id, n)
	tb.extraOps = append(tb.extraOps, ns)
	for _, s := range [][]string{
		{"netns", "add", ns},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", tb.op, "link", "add", o, "type", "veth", "peer", "name", p, "netns", ns},
		{"-n", tb.op, "link", "set", o, "master", "tb" + tb.id + "br", "up"},
		{"-n", ns, "addr", "add", fmt.Sprintf("198.51.100.%d/24", 1+n), "dev", p},
		{"-n", ns, "link", "set", p, "up"},
	} {
		if err := tb.ip(s...); err != nil {
			return "", err
		}
	}
	return ns, nil
}

// dumpLogs logs the tail of every log file, for a failed test.
func (tb *Testbed) dumpLogs() {
	logs, _ := filepath.Glob(filepath.Join(tb.dir, "*.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		tb.t.Logf("testbed log %s:\n%s", filepath.Base(l), data)
	}
}

// ConfigureFromSecrets configures every VM from the document the wireguard
// phase wrote for it under secretsDir (<secretsDir>/wireguard/cloud-init/
// <vm>.yaml), as if each VM had booted with it.
func (tb *Testbed) ConfigureFromSecrets(secretsDir string) error {
	ks := wireguard.NewKeyStore(secretsDir)
	var errs []error
	for _, v := range tb.VMs() {
		errs = append(errs, tb.ConfigureVMFile(v.Name, ks.CloudInitPath(v.Name)))
	}
	return errors.Join(errs...)
}

// BootFromSecrets plays the cloud: in the background, each VM is configured
// as soon as the wireguard phase has written its document under secretsDir,
// and configured again when the document changes, until the test ends. A
// whole `k0rdent run` (wireguard, terraform, vpn) can then run in one go.
// A document that does not configure is reported with t.Errorf.
func (tb *Testbed) BootFromSecrets(secretsDir string) {
	ks := wireguard.NewKeyStore(secretsDir)
	tb.boots.Add(1)
	go func() {
		defer tb.boots.Done()
		seen := map[string][]byte{}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, v := range tb.VMs() {
				doc, err := os.ReadFile(ks.CloudInitPath(v.Name))
				if err != nil || bytes.Equal(doc, seen[v.Name]) {
					continue
				}
				if _, err := wireguard.ParseCloudInit(doc); err != nil {
					continue // being written (it is replaced atomically, but be lenient)
				}
				seen[v.Name] = doc
				if err := tb.ConfigureVM(v.Name, doc); err != nil {
					tb.t.Errorf("testbed: boot %s from %s: %v", v.Name, ks.CloudInitPath(v.Name), err)
				}
			}
			select {
			case <-tb.stopBoot:
				return
			case <-tick.C:
			}
		}
	}()
}

// killNetnsPIDs stops every process in netns: SIGTERM, then SIGKILL after
// 5 s. It returns how many there were.
func killNetnsPIDs(netns string) int {
	pids := func() []int {
		out, _ := exec.Command("ip", "netns", "pids", netns).Output()
		var ps []int
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				ps = append(ps, pid)
			}
		}
		return ps
	}
	first := pids()
	for _, pid := range first {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	for i := 0; i < 250 && len(first) > 0; i++ {
		if len(pids()) == 0 {
			return len(first)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, pid := range pids() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return len(first)
}
