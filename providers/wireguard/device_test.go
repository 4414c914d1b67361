package wireguard

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
)

func newKey(t *testing.T) wgtypes.Key {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDevice_Argv(t *testing.T) {
	d := &Device{Wrap: []string{"ip", "netns", "exec", "ns1"}, IP: "/sbin/ip"}
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"LinkAdd", d.ipArgv(linkAddArgs("wg-k0rdent")), []string{"/sbin/ip", "link", "add", "dev", "wg-k0rdent", "type", "wireguard"}},
		{"LinkDel", d.ipArgv(linkDelArgs("wg-k0rdent")), []string{"/sbin/ip", "link", "del", "dev", "wg-k0rdent"}},
		{"LinkUp", d.ipArgv(linkUpArgs("wg-k0rdent")), []string{"/sbin/ip", "link", "set", "dev", "wg-k0rdent", "up"}},
		{"Address", d.ipArgv(addrArgs("wg-k0rdent", netip.MustParsePrefix("192.168.100.1/24"))), []string{"/sbin/ip", "address", "replace", "192.168.100.1/24", "dev", "wg-k0rdent"}},
		{"Userspace", userspaceArgs("/usr/bin/wireguard-go", "wg-k0rdent"), []string{"/usr/bin/wireguard-go", "-f", "wg-k0rdent"}},
		{"DefaultIP", (&Device{}).ipArgv(linkUpArgs("x")), []string{"ip", "link", "set", "dev", "x", "up"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !slices.Equal(tt.got, tt.want) {
				t.Errorf("argv\ngot:  %q\nwant: %q", tt.got, tt.want)
			}
		})
	}
}

func TestDeviceConfig_WGConfig(t *testing.T) {
	hub, vm := newKey(t), newKey(t)
	cfg := DeviceConfig{
		Interface: "wg-k0rdent", PrivateKey: hub, Address: netip.MustParsePrefix("192.168.100.1/24"), RunDir: "/run",
		Peers: []DevicePeer{{Name: "k0s-controller-1", PublicKey: vm.PublicKey(), Endpoint: netip.MustParseAddrPort("198.51.100.10:40000"), Address: netip.MustParseAddr("192.168.100.2")}},
	}
	c := cfg.wgConfig()
	if c.PrivateKey == nil || *c.PrivateKey != hub || !c.ReplacePeers || c.ListenPort != nil {
		t.Errorf("interface config: key set %v, replace peers %v, listen port %v; want key, replace, no port", c.PrivateKey != nil, c.ReplacePeers, c.ListenPort)
	}
	if len(c.Peers) != 1 {
		t.Fatalf("got %d peers, want 1", len(c.Peers))
	}
	p := c.Peers[0]
	if p.PublicKey != vm.PublicKey() || p.Endpoint.String() != "198.51.100.10:40000" || *p.PersistentKeepaliveInterval != 25*time.Second ||
		!p.ReplaceAllowedIPs || len(p.AllowedIPs) != 1 || p.AllowedIPs[0].String() != "192.168.100.2/32" {
		t.Errorf("peer config %+v, want the VM's key, endpoint 198.51.100.10:40000, keepalive 25s, allowed 192.168.100.2/32 replaced", p)
	}
}

func TestDeviceConfig_Validate(t *testing.T) {
	good := DeviceConfig{Interface: "wg-k0rdent", PrivateKey: newKey(t), Address: netip.MustParsePrefix("10.0.0.1/24"), RunDir: "/x"}
	tests := []struct {
		name string
		edit func(*DeviceConfig)
		want string // substring; "" means valid
	}{
		{"Valid", func(*DeviceConfig) {}, ""},
		{"KernelNeedsNoRunDir", func(c *DeviceConfig) { c.Mode = ModeKernel; c.RunDir = "" }, ""},
		{"LongName", func(c *DeviceConfig) { c.Interface = "wg-k0rdent-12345" }, "1-15 characters"},
		{"Mode", func(c *DeviceConfig) { c.Mode = "tun" }, `mode "tun"`},
		{"NoKey", func(c *DeviceConfig) { c.PrivateKey = wgtypes.Key{} }, "k0rdent run --from wireguard"},
		{"NoAddress", func(c *DeviceConfig) { c.Address = netip.Prefix{} }, "hub's IPv4 address"},
		{"NoRunDir", func(c *DeviceConfig) { c.RunDir = "" }, "pid file"},
		{"PeerWithoutEndpoint", func(c *DeviceConfig) {
			c.Peers = []DevicePeer{{Name: "k0s-worker-1", Address: netip.MustParseAddr("10.0.0.3")}}
		}, "peer k0s-worker-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			err := c.validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("validate: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("validate: %v, want an error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), c.PrivateKey.String()) {
				t.Errorf("error quotes the private key: %v", err)
			}
		})
	}
}

func TestQuickConfig(t *testing.T) {
	hub, c1, w1 := newKey(t), newKey(t), newKey(t)
	cfg := DeviceConfig{
		Interface: "wg-k0rdent", PrivateKey: hub, Address: netip.MustParsePrefix("192.168.100.1/24"),
		Peers: []DevicePeer{
			{Name: "k0s-controller-1", PublicKey: c1.PublicKey(), Endpoint: netip.MustParseAddrPort("198.51.100.10:40000"), Address: netip.MustParseAddr("192.168.100.2")},
			{Name: "k0s-worker-1", PublicKey: w1.PublicKey(), Endpoint: netip.MustParseAddrPort("198.51.100.11:40000"), Address: netip.MustParseAddr("192.168.100.3")},
		},
	}
	got := string(QuickConfig(cfg))
	want := fmt.Sprintf(`# wg-quick configuration of the k0rdent operator device wg-k0rdent (the hub).
# Written by k0rdent's vpn phase. It holds a private key: keep it 0600.
[Interface]
PrivateKey = %s
Address = 192.168.100.1/24

# k0s-controller-1
[Peer]
PublicKey = %s
AllowedIPs = 192.168.100.2/32
Endpoint = 198.51.100.10:40000
PersistentKeepalive = 25

# k0s-worker-1
[Peer]
PublicKey = %s
AllowedIPs = 192.168.100.3/32
Endpoint = 198.51.100.11:40000
PersistentKeepalive = 25
`, hub, c1.PublicKey(), w1.PublicKey())
	if got != want {
		t.Errorf("QuickConfig\ngot:\n%s\nwant:\n%s", got, want)
	}
	// The file reads back as what the device is configured with.
	q, err := ParseWGQuick([]byte(got))
	if err != nil {
		t.Fatalf("ParseWGQuick: %v", err)
	}
	if q.PrivateKey != hub || len(q.Peers) != 2 || q.Peers[1].Endpoint != "198.51.100.11:40000" || q.Peers[1].PersistentKeepalive != 25 {
		t.Errorf("parsed back %+v", q)
	}

	path := filepath.Join(t.TempDir(), "vpn", "wg-k0rdent.conf")
	if err := WriteQuickConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if data, _ := os.ReadFile(path); string(data) != want {
		t.Errorf("file content differs from QuickConfig")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file (no temporary left)", len(entries))
	}
}

// netnsPair is two network namespaces joined by a veth pair: "op"
// (10.201.0.1) and "vm" (10.201.0.2), with no default route.
type netnsPair struct {
	op, vm string // namespace names
	tag    string // unique short tag for interface names
}

func requireNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root for network namespaces and wireguard-go")
	}
	for _, bin := range []string{"ip", "wireguard-go", "wg"} {
		if _, err := exec.LookPath(bin); err != nil {
			testenv.Missing(t, "needs %s on PATH", bin)
		}
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		testenv.Missing(t, "needs /dev/net/tun")
	}
}

func sh(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
}

func newNetnsPair(t *testing.T) netnsPair {
	t.Helper()
	requireNetns(t)
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	tag := fmt.Sprintf("%07x", h.Sum32()&0xfffffff)
	p := netnsPair{op: "k0vo" + tag, vm: "k0vv" + tag, tag: tag}
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", p.op).Run()
		exec.Command("ip", "netns", "del", p.vm).Run()
	})
	sh(t, "ip", "netns", "add", p.op)
	sh(t, "ip", "netns", "add", p.vm)
	sh(t, "ip", "link", "add", "vo"+tag, "netns", p.op, "type", "veth", "peer", "name", "vv"+tag, "netns", p.vm)
	sh(t, "ip", "-n", p.op, "addr", "add", "10.201.0.1/24", "dev", "vo"+tag)
	sh(t, "ip", "-n", p.vm, "addr", "add", "10.201.0.2/24", "dev", "vv"+tag)
	for _, ns := range []string{p.op, p.vm} {
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	sh(t, "ip", "-n", p.op, "link", "set", "vo"+tag, "up")
	sh(t, "ip", "-n", p.vm, "link", "set", "vv"+tag, "up")
	return p
}

// TestDevice_UpStatusDown brings the hub up in one namespace against a VM
// run by wireguard-go in another, sees the handshake, re-runs Up (reused,
// same process), refuses another key, and takes it down.
func TestDevice_UpStatusDown(t *testing.T) {
	p := newNetnsPair(t)
	ctx := context.Background()
	hubKey, vmKey := newKey(t), newKey(t)
	hubIf, vmIf := "k0h"+p.tag, "k0m"+p.tag

	// The VM: wireguard-go (daemonized; it exits when its link is deleted)
	// configured with wg setconf from a wg-quick file, as a VM's wg0 would be.
	t.Cleanup(func() { exec.Command("ip", "-n", p.vm, "link", "del", vmIf).Run() })
	sh(t, "ip", "netns", "exec", p.vm, "wireguard-go", vmIf)
	vmConf := WGQuick{PrivateKey: vmKey, ListenPort: 51820, Peers: []WGQuickPeer{{PublicKey: hubKey.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.77.0.1/32")}}}}
	confPath := filepath.Join(t.TempDir(), "vm.conf")
	if err := os.WriteFile(confPath, vmConf.SetConf(), 0o600); err != nil {
		t.Fatal(err)
	}
	sh(t, "ip", "netns", "exec", p.vm, "wg", "setconf", vmIf, confPath)
	sh(t, "ip", "-n", p.vm, "addr", "add", "10.77.0.2/24", "dev", vmIf)
	sh(t, "ip", "-n", p.vm, "link", "set", vmIf, "up")

	runDir := filepath.Join(t.TempDir(), "vpn")
	d := &Device{Wrap: []string{"ip", "netns", "exec", p.op}}
	cfg := DeviceConfig{
		Interface: hubIf, Mode: ModeAuto, PrivateKey: hubKey, Address: netip.MustParsePrefix("10.77.0.1/24"), RunDir: runDir,
		Peers: []DevicePeer{{Name: "vm", PublicKey: vmKey.PublicKey(), Endpoint: netip.MustParseAddrPort("10.201.0.2:51820"), Address: netip.MustParseAddr("10.77.0.2")}},
	}
	t.Cleanup(func() { d.Down(context.Background(), hubIf, runDir) })
	info, err := d.Up(ctx, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if info.Kind != KindUserspace || info.PID == 0 || info.Reused {
		t.Errorf("Up: %+v, want a new userspace device with a pid (no kernel WireGuard here)", info)
	}
	if !isWireGuardGo(info.PID) {
		t.Errorf("pid %d is not a running wireguard-go", info.PID)
	}
	if pid, err := readPID(filepath.Join(runDir, hubIf+".pid")); err != nil || pid != info.PID {
		t.Errorf("pid file: %d, %v; want %d", pid, err, info.PID)
	}

	// The keepalive starts the handshake; wait for it (bounded).
	var hs time.Time
	deadline := time.Now().Add(20 * time.Second)
	for hs.IsZero() && time.Now().Before(deadline) {
		st, err := d.Status(ctx, hubIf)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if ps, ok := st.Peer(vmKey.PublicKey()); ok {
			hs = ps.LastHandshake
		}
		if hs.IsZero() {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if hs.IsZero() {
		t.Fatal("no handshake with the VM within 20s")
	}
	sh(t, "ip", "netns", "exec", p.op, "ping", "-c1", "-W2", "10.77.0.2")

	st, err := d.Status(ctx, hubIf)
	if err != nil {
		t.Fatal(err)
	}
	if st.Kind != KindUserspace || st.PublicKey != hubKey.PublicKey() || len(st.Peers) != 1 || st.Peers[0].Endpoint != "10.201.0.2:51820" {
		t.Errorf("Status %+v", st)
	}

	again, err := d.Up(ctx, cfg)
	if err != nil {
		t.Fatalf("second Up: %v", err)
	}
	if !again.Reused || again.PID != info.PID {
		t.Errorf("second Up: %+v, want the device reused with pid %d", again, info.PID)
	}

	other := cfg
	other.PrivateKey = newKey(t)
	if _, err := d.Up(ctx, other); err == nil || !strings.Contains(err.Error(), "exists with another key") {
		t.Errorf("Up with another key: %v, want an error", err)
	} else if strings.Contains(err.Error(), other.PrivateKey.String()) || strings.Contains(err.Error(), hubKey.String()) {
		t.Errorf("error quotes a private key: %v", err)
	}

	if err := d.Down(ctx, hubIf, runDir); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if _, err := d.Status(ctx, hubIf); !errors.Is(err, ErrNoDevice) {
		t.Errorf("Status after Down: %v, want ErrNoDevice", err)
	}
	if isWireGuardGo(info.PID) {
		t.Errorf("wireguard-go %d still runs after Down", info.PID)
	}
	if _, err := os.Stat(filepath.Join(runDir, hubIf+".pid")); !os.IsNotExist(err) {
		t.Errorf("pid file after Down: %v, want it removed", err)
	}
	if err := d.Down(ctx, hubIf, runDir); err != nil {
		t.Errorf("second Down: %v, want nil (already down)", err)
	}
}

func TestDevice_KernelModeWithoutKernelSupport(t *testing.T) {
	p := newNetnsPair(t)
	d := &Device{Wrap: []string{"ip", "netns", "exec", p.op}}
	err := exec.Command("ip", "netns", "exec", p.op, "ip", "link", "add", "k0p"+p.tag, "type", "wireguard").Run()
	if err == nil {
		exec.Command("ip", "netns", "exec", p.op, "ip", "link", "del", "k0p"+p.tag).Run()
		t.Skip("this kernel has WireGuard")
	}
	cfg := DeviceConfig{Interface: "k0k" + p.tag, Mode: ModeKernel, PrivateKey: newKey(t), Address: netip.MustParsePrefix("10.77.0.1/24")}
	_, err = d.Up(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "vpn.mode: userspace") {
		t.Errorf("Up in kernel mode: %v, want an error naming vpn.mode: userspace", err)
	}
}
