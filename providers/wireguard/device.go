package wireguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Device modes (config vpn.mode).
const (
	ModeAuto      = "auto"      // the kernel's WireGuard when it has it, else wireguard-go
	ModeKernel    = "kernel"    // ip link add type wireguard
	ModeUserspace = "userspace" // wireguard-go, detached
)

// Device kinds, as DeviceInfo and Status report them.
const (
	KindKernel    = "kernel"
	KindUserspace = "userspace"
)

// PersistentKeepalive is the keepalive of every VM peer on the operator's
// device: it starts the handshake as soon as the device is configured and
// keeps NAT mappings alive.
const PersistentKeepalive = 25 * time.Second

// ErrNoDevice is returned by Status when the interface does not exist or
// is not a WireGuard device.
var ErrNoDevice = errors.New("wireguard: no such device")

// DeviceConfig is the operator's device: the hub of the WireGuard network.
type DeviceConfig struct {
	// Interface is the Linux interface name (at most 15 characters).
	Interface string
	// Mode is ModeAuto (the default when empty), ModeKernel or ModeUserspace.
	Mode string
	// WireGuardGo is the wireguard-go binary; empty means from PATH.
	WireGuardGo string
	// PrivateKey is the hub's key (from secrets).
	PrivateKey wgtypes.Key
	// ListenPort is the hub's UDP port; 0 lets WireGuard pick one (the hub
	// dials the VMs, which need no endpoint for it).
	ListenPort int
	// Address is the hub's address with the WireGuard network's prefix
	// length, e.g. 192.168.100.1/24: the device then routes the network.
	Address netip.Prefix
	// Peers are the VMs.
	Peers []DevicePeer
	// RunDir holds the wireguard-go pid file and log (<interface>.pid,
	// <interface>.log) so that a later run or a teardown finds the process.
	// Required for userspace devices and Down.
	RunDir string
}

// DevicePeer is one VM as the hub sees it.
type DevicePeer struct {
	// Name is for humans: the wg-quick file's comment, error messages.
	Name      string
	PublicKey wgtypes.Key
	// Endpoint is the VM's public address and WireGuard port.
	Endpoint netip.AddrPort
	// Address is the VM's WireGuard address; AllowedIPs is Address/32.
	Address netip.Addr
}

// DeviceInfo says what Up did.
type DeviceInfo struct {
	// Kind is KindKernel or KindUserspace.
	Kind string
	// PID is wireguard-go's process id (userspace), 0 for a kernel device
	// or when the running process is not known (a device found as is).
	PID int
	// Reused is true when the device existed and was reconfigured.
	Reused bool
}

// Status is the live state of a device, from wgctrl.
type Status struct {
	Name       string
	Kind       string
	PublicKey  wgtypes.Key
	ListenPort int
	Peers      []PeerStatus
}

// PeerStatus is one peer of a live device.
type PeerStatus struct {
	PublicKey wgtypes.Key
	// Endpoint is the peer's current endpoint, empty when none is known.
	Endpoint string
	// LastHandshake is zero when no handshake happened yet.
	LastHandshake time.Time
	RxBytes       int64
	TxBytes       int64
}

// Peer returns the status of the peer with key k.
func (s *Status) Peer(k wgtypes.Key) (PeerStatus, bool) {
	for _, p := range s.Peers {
		if p.PublicKey == k {
			return p, true
		}
	}
	return PeerStatus{}, false
}

// Device manages the operator-side WireGuard device, the hub. The zero
// value runs `ip` and wireguard-go from PATH in the current network
// namespace.
//
// Kernel or userspace: in ModeAuto, Up first tries `ip link add type
// wireguard` (which fails where the kernel has no WireGuard) and falls back
// to wireguard-go. wireguard-go runs in the foreground of its own session
// (setsid), not as a child that dies with k0rdent: the tunnel must outlive
// `k0rdent run` for the phases and commands that follow. Its pid goes to
// <RunDir>/<interface>.pid and its output to <RunDir>/<interface>.log, so
// that Down, in a later process, finds it; Down signals the pid only if it
// is still a wireguard-go process.
//
// Configuration goes through wgctrl (the kernel's netlink interface or
// wireguard-go's UAPI socket, /var/run/wireguard/<interface>.sock, which
// is shared by all network namespaces: interface names must be unique on
// the machine). Addresses and link state go through ip(8), whose argv is
// built apart from running it.
type Device struct {
	// Wrap is prepended to every command the device runs (ip and
	// wireguard-go), e.g. {"ip", "netns", "exec", "ns1"} in tests. Nil
	// runs them directly.
	Wrap []string
	// IP is the ip(8) binary; empty means "ip" from PATH.
	IP string
	// Ready bounds the wait for a new device's control socket. 0 means 10s.
	Ready time.Duration
}

// Up brings the device up: it creates it (kernel or wireguard-go, per
// cfg.Mode) unless it exists already, configures key, port and peers
// through wgctrl (replacing any other peer), sets the address and the link
// up. It is idempotent: a second Up with the same config reuses the device
// and changes nothing. An existing device with another private key is an
// error, so that k0rdent never takes over someone else's interface.
func (d *Device) Up(ctx context.Context, cfg DeviceConfig) (DeviceInfo, error) {
	if err := cfg.validate(); err != nil {
		return DeviceInfo{}, err
	}
	wg, err := wgctrl.New()
	if err != nil {
		return DeviceInfo{}, fmt.Errorf("open wireguard control: %w", err)
	}
	defer wg.Close()

	var info DeviceInfo
	if dev, err := wg.Device(cfg.Interface); err == nil {
		var zero wgtypes.Key
		if dev.PrivateKey != zero && dev.PrivateKey != cfg.PrivateKey {
			return DeviceInfo{}, fmt.Errorf("interface %s exists with another key (public key %s): set vpn.interface to another name, or remove it (ip link del %s)", cfg.Interface, dev.PublicKey, cfg.Interface)
		}
		info = DeviceInfo{Kind: kind(dev.Type), Reused: true}
		if info.Kind == KindUserspace {
			info.PID, _ = readPID(cfg.pidPath())
		}
	} else {
		info, err = d.create(ctx, cfg, wg)
		if err != nil {
			return DeviceInfo{}, err
		}
	}
	if err := wg.ConfigureDevice(cfg.Interface, cfg.wgConfig()); err != nil {
		return info, fmt.Errorf("configure wireguard device %s: %w", cfg.Interface, err)
	}
	for _, argv := range [][]string{
		addrArgs(cfg.Interface, cfg.Address),
		linkUpArgs(cfg.Interface),
	} {
		if err := d.run(ctx, d.ipArgv(argv)); err != nil {
			return info, err
		}
	}
	return info, nil
}

// create makes a new device and waits until wgctrl sees it.
func (d *Device) create(ctx context.Context, cfg DeviceConfig, wg *wgctrl.Client) (DeviceInfo, error) {
	mode := cfg.Mode
	if mode == "" {
		mode = ModeAuto
	}
	var kernelErr error
	if mode == ModeAuto || mode == ModeKernel {
		kernelErr = d.run(ctx, d.ipArgv(linkAddArgs(cfg.Interface)))
		if kernelErr == nil {
			if err := d.waitReady(ctx, wg, cfg.Interface, nil); err != nil {
				return DeviceInfo{}, err
			}
			return DeviceInfo{Kind: KindKernel}, nil
		}
		if mode == ModeKernel {
			return DeviceInfo{}, fmt.Errorf("create kernel wireguard device %s: %w (set vpn.mode: userspace to use wireguard-go)", cfg.Interface, kernelErr)
		}
	}
	pid, exited, err := d.startUserspace(cfg)
	if err != nil {
		if kernelErr != nil {
			err = fmt.Errorf("%w (kernel device: %v)", err, kernelErr)
		}
		return DeviceInfo{}, err
	}
	if err := d.waitReady(ctx, wg, cfg.Interface, exited); err != nil {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		_ = os.Remove(cfg.pidPath())
		return DeviceInfo{}, fmt.Errorf("%w; see %s", err, cfg.logPath())
	}
	return DeviceInfo{Kind: KindUserspace, PID: pid}, nil
}

// startUserspace starts wireguard-go in the foreground of its own session,
// so that it outlives k0rdent, and records its pid. exited is closed when
// the process ends while k0rdent still runs (it is reaped then).
func (d *Device) startUserspace(cfg DeviceConfig) (pid int, exited <-chan struct{}, err error) {
	bin := cfg.WireGuardGo
	if bin == "" {
		bin = "wireguard-go"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return 0, nil, fmt.Errorf("find wireguard-go: %w (install wireguard-go, or set vpn.wireguard_go to its path)", err)
	}
	if err := os.MkdirAll(cfg.RunDir, 0o700); err != nil {
		return 0, nil, fmt.Errorf("create vpn run dir: %w", err)
	}
	logf, err := os.OpenFile(cfg.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, nil, fmt.Errorf("open wireguard-go log: %w", err)
	}
	defer logf.Close()
	argv := append(append([]string(nil), d.Wrap...), userspaceArgs(path, cfg.Interface)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "WG_PROCESS_FOREGROUND=1", "LOG_LEVEL=error")
	cmd.Stdin = nil
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("start wireguard-go for %s: %w", cfg.Interface, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	pid = cmd.Process.Pid
	if err := writePID(cfg.pidPath(), pid); err != nil {
		_ = cmd.Process.Kill()
		return 0, nil, err
	}
	return pid, done, nil
}

// waitReady polls wgctrl until the device answers, the process exits, or
// the wait runs out.
func (d *Device) waitReady(ctx context.Context, wg *wgctrl.Client, name string, exited <-chan struct{}) error {
	limit := d.Ready
	if limit <= 0 {
		limit = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := wg.Device(name); err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("wireguard-go for %s exited before its device came up", name)
		case <-ctx.Done():
			return fmt.Errorf("wait for wireguard device %s: %w", name, ctx.Err())
		case <-tick.C:
		}
	}
}

// Status reads the live device through wgctrl. A missing device is
// ErrNoDevice.
func (d *Device) Status(ctx context.Context, name string) (*Status, error) {
	wg, err := wgctrl.New()
	if err != nil {
		return nil, fmt.Errorf("open wireguard control: %w", err)
	}
	defer wg.Close()
	dev, err := wg.Device(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoDevice, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read wireguard device %s: %w", name, err)
	}
	st := &Status{Name: dev.Name, Kind: kind(dev.Type), PublicKey: dev.PublicKey, ListenPort: dev.ListenPort}
	for _, p := range dev.Peers {
		ps := PeerStatus{PublicKey: p.PublicKey, LastHandshake: p.LastHandshakeTime, RxBytes: p.ReceiveBytes, TxBytes: p.TransmitBytes}
		if p.Endpoint != nil {
			ps.Endpoint = p.Endpoint.String()
		}
		if ps.LastHandshake.Unix() <= 0 {
			ps.LastHandshake = time.Time{}
		}
		st.Peers = append(st.Peers, ps)
	}
	return st, nil
}

// Down removes the device and stops the wireguard-go process recorded in
// runDir, if any. A device that is already gone is not an error.
func (d *Device) Down(ctx context.Context, name, runDir string) error {
	var errs []error
	if err := d.run(ctx, d.ipArgv(linkDelArgs(name))); err != nil && !isNoDevice(err) {
		errs = append(errs, err)
	}
	if runDir != "" {
		pidPath := filepath.Join(runDir, name+".pid")
		if pid, err := readPID(pidPath); err == nil {
			if err := stopWireGuardGo(ctx, pid); err != nil {
				errs = append(errs, err)
			}
		}
		if err := os.Remove(pidPath); err != nil && !os.IsNotExist(err) {
			errs = append(errs, fmt.Errorf("remove pid file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// stopWireGuardGo sends SIGTERM to pid if it is a wireguard-go process,
// then waits for it to go (wireguard-go also exits by itself once its
// link is deleted).
func stopWireGuardGo(ctx context.Context, pid int) error {
	if !isWireGuardGo(pid) {
		return nil // gone, or the pid was reused by another program
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop wireguard-go (pid %d): %w", pid, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for isWireGuardGo(pid) {
		select {
		case <-ctx.Done():
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// isWireGuardGo reports whether pid is a live (not zombie) wireguard-go.
func isWireGuardGo(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...
	s := string(stat)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || end+2 >= len(s) {
		return false
	}
	comm, state := s[open+1:end], s[end+2]
	return strings.HasPrefix(comm, "wireguard-go") && state != 'Z' && state != 'X'
}

// run runs argv and returns its output in the error.
func (d *Device) run(ctx context.Context, argv []string) error {
	argv = append(append([]string(nil), d.Wrap...), argv...)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return &CommandError{Argv: argv, Output: strings.TrimSpace(string(out)), Err: err}
	}
	return nil
}

func (d *Device) ipArgv(args []string) []string {
	ip := d.IP
	if ip == "" {
		ip = "ip"
	}
	return append([]string{ip}, args...)
}

// CommandError is a command of the device that failed.
type CommandError struct {
	Argv   []string
	Output string
	Err    error
}

func (e *CommandError) Error() string {
	msg := strings.Join(e.Argv, " ") + ": " + e.Err.Error()
	if e.Output != "" {
		msg += ": " + e.Output
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

func isNoDevice(err error) bool {
	var ce *CommandError
	return errors.As(err, &ce) && (strings.Contains(ce.Output, "Cannot find device") || strings.Contains(ce.Output, "does not exist"))
}

// The commands, built apart from running them so that tests can pin argv.

func linkAddArgs(name string) []string {
	return []string{"link", "add", "dev", name, "type", "wireguard"}
}
func linkDelArgs(name string) []string { return []string{"link", "del", "dev", name} }
func linkUpArgs(name string) []string  { return []string{"link", "set", "dev", name, "up"} }
func addrArgs(name string, p netip.Prefix) []string {
	return []string{"address", "replace", p.String(), "dev", name}
}
func userspaceArgs(bin, name string) []string { return []string{bin, "-f", name} }

// wgConfig is the wgctrl configuration of cfg: every peer replaced.
func (cfg DeviceConfig) wgConfig() wgtypes.Config {
	key := cfg.PrivateKey
	c := wgtypes.Config{PrivateKey: &key, ReplacePeers: true}
	if cfg.ListenPort > 0 {
		port := cfg.ListenPort
		c.ListenPort = &port
	}
	for _, p := range cfg.Peers {
		ka := PersistentKeepalive
		c.Peers = append(c.Peers, wgtypes.PeerConfig{
			PublicKey:                   p.PublicKey,
			Endpoint:                    net.UDPAddrFromAddrPort(p.Endpoint),
			PersistentKeepaliveInterval: &ka,
			ReplaceAllowedIPs:           true,
			AllowedIPs:                  []net.IPNet{{IP: p.Address.AsSlice(), Mask: net.CIDRMask(32, 32)}},
		})
	}
	return c
}

func (cfg DeviceConfig) validate() error {
	var errs []error
	if cfg.Interface == "" || len(cfg.Interface) > 15 || strings.ContainsAny(cfg.Interface, "/ \t\n") {
		errs = append(errs, fmt.Errorf("interface %q: want a Linux interface name of 1-15 characters (vpn.interface)", cfg.Interface))
	}
	switch cfg.Mode {
	case "", ModeAuto, ModeKernel, ModeUserspace:
	default:
		errs = append(errs, fmt.Errorf("mode %q: want auto, kernel or userspace (vpn.mode)", cfg.Mode))
	}
	var zero wgtypes.Key
	if cfg.PrivateKey == zero {
		errs = append(errs, errors.New("no private key (run k0rdent run --from wireguard)"))
	}
	if !cfg.Address.IsValid() || !cfg.Address.Addr().Is4() {
		errs = append(errs, fmt.Errorf("address %v: want the hub's IPv4 address with the network's prefix length", cfg.Address))
	}
	if cfg.RunDir == "" && cfg.Mode != ModeKernel {
		errs = append(errs, errors.New("no run directory for the wireguard-go pid file"))
	}
	for _, p := range cfg.Peers {
		if !p.Endpoint.IsValid() || !p.Address.Is4() {
			errs = append(errs, fmt.Errorf("peer %s: endpoint %v, address %v: want an IPv4 endpoint with port and an IPv4 address", p.Name, p.Endpoint, p.Address))
		}
	}
	return errors.Join(errs...)
}

func (cfg DeviceConfig) pidPath() string { return filepath.Join(cfg.RunDir, cfg.Interface+".pid") }
func (cfg DeviceConfig) logPath() string { return filepath.Join(cfg.RunDir, cfg.Interface+".log") }

func kind(t wgtypes.DeviceType) string {
	if t == wgtypes.Userspace {
		return KindUserspace
	}
	return KindKernel
}

func writePID(path string, pid int) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

func readPID(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: not a pid: %q", path, data)
	}
	return pid, nil
}
