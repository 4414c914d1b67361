package phases

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// fakeVMs plays the VMs' side of the operator peer scripts: each VM (by
// SSH address) has a device's peers and a wg-quick file. It is a fake of
// the remote shell only; the scripts themselves run on the netns testbed
// (cmd/k0rdent TestOperators_TwoOperators).
type fakeVMs struct {
	peers map[netip.AddrPort]map[wgtypes.Key][]netip.Prefix
	conf  map[netip.AddrPort][]byte
	sets  []string // "vm action key"
	fail  map[netip.AddrPort]bool
}

func (f *fakeVMs) Run(ctx context.Context, addr netip.AddrPort, cmd string, stdin []byte) ([]byte, error) {
	if f.fail[addr] {
		return nil, fmt.Errorf("connection refused")
	}
	_, args, ok := strings.Cut(cmd, "k0rdent-wg ")
	if !ok {
		return nil, fmt.Errorf("unexpected command %q", cmd)
	}
	a := strings.Fields(args)
	if strings.Contains(cmd, "--- conf") { // ReadPeersScript
		var b strings.Builder
		fmt.Fprintf(&b, "wg0\n/etc/wireguard/wg0.conf\n")
		for k, ips := range f.peers[addr] {
			fmt.Fprintf(&b, "%s\t%s\n", k, ips[0])
		}
		b.WriteString("--- conf\n")
		b.Write(f.conf[addr])
		return []byte(b.String()), nil
	}
	key, _ := wgtypes.ParseKey(a[2])
	switch a[1] {
	case "add":
		f.peers[addr][key] = []netip.Prefix{netip.MustParsePrefix(a[3] + "/32")}
	case "remove":
		delete(f.peers[addr], key)
	}
	f.conf[addr] = stdin
	f.sets = append(f.sets, addr.Addr().String()+" "+a[1]+" "+a[2])
	return nil, nil
}

func TestSyncOperatorPeer(t *testing.T) {
	key := func() wgtypes.Key {
		k, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		return k.PublicKey()
	}
	hub, bob, lost := key(), key(), key()
	vm1, vm2 := netip.MustParseAddrPort("198.51.100.10:22"), netip.MustParseAddrPort("198.51.100.11:22")
	a := vmAccess{
		plan:   wireguard.AddressPlan{Network: netip.MustParsePrefix("10.8.0.0/24")},
		hubKey: hub,
		user:   "root",
		targets: []vmTarget{
			{name: "vm-1", ssh: vm1, wgAddr: netip.MustParseAddr("10.8.0.2")},
			{name: "vm-2", ssh: vm2, wgAddr: netip.MustParseAddr("10.8.0.3")},
		},
	}
	hubConf := wireguard.WGQuick{Peers: []wireguard.WGQuickPeer{{Comment: "hub", PublicKey: hub, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.8.0.1/32")}}}}.Marshal()
	o := wireguard.Operator{Name: "bob@b", Address: netip.MustParseAddr("10.8.0.254"), PublicKey: bob}
	mine := []netip.Prefix{netip.MustParsePrefix("10.8.0.254/32")}
	f := &fakeVMs{
		peers: map[netip.AddrPort]map[wgtypes.Key][]netip.Prefix{
			// vm-1 has bob already (device and file); vm-2 has a key bob lost at bob's address.
			vm1: {hub: {netip.MustParsePrefix("10.8.0.1/32")}, bob: mine},
			vm2: {hub: {netip.MustParsePrefix("10.8.0.1/32")}, lost: mine},
		},
		conf: map[netip.AddrPort][]byte{},
	}
	f.conf[vm1], _ = wireguard.AddPeerSection(hubConf, wireguard.WGQuickPeer{PublicKey: bob, AllowedIPs: mine})
	f.conf[vm2], _ = wireguard.AddPeerSection(hubConf, wireguard.WGQuickPeer{PublicKey: lost, AllowedIPs: mine})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	changed, err := syncOperatorPeer(context.Background(), f, a, o, true, log)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(changed, ",") != "vm-2" {
		t.Errorf("added to %v, want only vm-2 (vm-1 has bob)", changed)
	}
	if want := []string{"198.51.100.11 remove " + lost.String(), "198.51.100.11 add " + bob.String()}; strings.Join(f.sets, "|") != strings.Join(want, "|") {
		t.Errorf("remote changes %q, want %q", f.sets, want)
	}
	for _, vm := range []netip.AddrPort{vm1, vm2} {
		q, err := wireguard.ParseWGQuick(f.conf[vm])
		if err != nil || len(q.Peers) != 2 || q.Peers[0].PublicKey != hub || q.Peers[1].PublicKey != bob {
			t.Errorf("%s wg-quick file: %v\n%s", vm, err, f.conf[vm])
		}
		if len(f.peers[vm]) != 2 || f.peers[vm][lost] != nil || f.peers[vm][bob] == nil {
			t.Errorf("%s device peers %v", vm, f.peers[vm])
		}
	}
	// Again: nothing to do.
	f.sets = nil
	if changed, err := syncOperatorPeer(context.Background(), f, a, o, true, log); err != nil || len(changed) != 0 || len(f.sets) != 0 {
		t.Errorf("second add: changed %v, %v, remote changes %q; want none", changed, err, f.sets)
	}
	// Remove: off both VMs, the hub stays; an unreachable VM is named.
	f.fail = map[netip.AddrPort]bool{vm2: true}
	changed, err = syncOperatorPeer(context.Background(), f, a, o, false, log)
	if err == nil || !strings.Contains(err.Error(), "vm-2") || strings.Join(changed, ",") != "vm-1" {
		t.Errorf("remove with vm-2 down: changed %v, %v; want vm-1 and an error naming vm-2", changed, err)
	}
	f.fail = nil
	if changed, err = syncOperatorPeer(context.Background(), f, a, o, false, log); err != nil || strings.Join(changed, ",") != "vm-2" {
		t.Errorf("remove again: changed %v, %v; want vm-2", changed, err)
	}
	for _, vm := range []netip.AddrPort{vm1, vm2} {
		if q, _ := wireguard.ParseWGQuick(f.conf[vm]); len(q.Peers) != 1 || q.Peers[0].PublicKey != hub || len(f.peers[vm]) != 1 {
			t.Errorf("%s after remove: file %s, device %v", vm, f.conf[vm], f.peers[vm])
		}
	}
}

// TestVPN_SecondOperator: an operator other than the hub brings up its
// tunnel with its own key (generated in its own directory, not under
// secrets/) and a new address from the top of the network, after it has
// been added as a peer of every VM; the outputs journal it. A second run
// finds it on every VM and adds nothing.
func TestVPN_SecondOperator(t *testing.T) {
	f := newVPNFixture(t)
	f.inputs["terraform"]["ssh_user"] = "k0rdent"
	f.inputs["terraform"]["ssh_key_path"] = "/nonexistent/ssh-key"
	opDir := t.TempDir()
	vms := &fakeVMs{peers: map[netip.AddrPort]map[wgtypes.Key][]netip.Prefix{}, conf: map[netip.AddrPort][]byte{}}
	for i := range f.vms {
		ap := netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("198.51.100.%d", 10+i)), uint16(f.sshPort))
		vms.peers[ap] = map[wgtypes.Key][]netip.Prefix{f.hub.PublicKey(): {netip.MustParsePrefix("127.0.0.1/32")}}
	}
	var up wireguard.DeviceConfig
	dev := &fakeDevice{
		up: func(_ context.Context, cfg wireguard.DeviceConfig) (wireguard.DeviceInfo, error) {
			up = cfg
			return wireguard.DeviceInfo{Kind: wireguard.KindUserspace}, nil
		},
		status: f.status(time.Second),
	}
	v := f.phase(dev, time.Second)
	v.op = Operator{Name: "bob@b", Dir: opDir, Known: []wireguard.Operator{{Name: "alice@a", Address: netip.MustParseAddr("127.0.0.1"), PublicKey: f.hub.PublicKey()}}}
	var shellUser string
	v.shell = func(user, keyPath, knownHosts string, _ time.Duration) (vmShell, error) {
		shellUser = user
		if knownHosts != filepath.Join(opDir, "known_hosts") || keyPath != "/nonexistent/ssh-key" {
			t.Errorf("shell: key %s, known hosts %s", keyPath, knownHosts)
		}
		return vms, nil
	}
	if d := strings.Join(v.Describe(f.env()), "\n"); !strings.Contains(d, "operator bob@b, new: address 127.255.255.254") {
		t.Errorf("Describe:\n%s", d)
	}
	env := f.env()
	if err := v.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	key, err := wireguard.NewKeyStore(opDir).Load(wireguard.OperatorKeyName)
	if err != nil {
		t.Fatalf("operator key in its own directory: %v", err)
	}
	if up.PrivateKey != key || up.Address.String() != "127.255.255.254/8" || up.RunDir != filepath.Join(opDir, "vpn") {
		t.Errorf("device: address %s, run dir %s, own key %v", up.Address, up.RunDir, up.PrivateKey == key)
	}
	out := env.Outputs()
	if out[VPNOutputOperatorName] != "bob@b" || out[VPNOutputOperatorAddress] != "127.255.255.254" || out[VPNOutputOperatorPublicKey] != key.PublicKey().String() ||
		out[VPNOutputOperatorAddedTo] != "k0s-controller-1,k0s-worker-1,k0s-worker-2" || out[VPNOutputConfigPath] != filepath.Join(opDir, "vpn", "wg-k0rdent.conf") {
		t.Errorf("outputs %v", out)
	}
	if shellUser != "k0rdent" || len(vms.sets) != 3 {
		t.Errorf("ssh user %q, remote changes %q", shellUser, vms.sets)
	}
	for ap, peers := range vms.peers {
		if ips := peers[key.PublicKey()]; len(ips) != 1 || ips[0].String() != "127.255.255.254/32" {
			t.Errorf("VM %s peers %v", ap, peers)
		}
	}

	// Recorded now: the same address, nothing added.
	v.op.Known = append(v.op.Known, wireguard.Operator{Name: "bob@b", Address: netip.MustParseAddr("127.255.255.254"), PublicKey: key.PublicKey()})
	vms.sets = nil
	env = f.env()
	if err := v.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if out := env.Outputs(); out[VPNOutputOperatorAddedTo] != "" || out[VPNOutputOperatorAddress] != "127.255.255.254" || len(vms.sets) != 0 {
		t.Errorf("second run: outputs %v, remote changes %q", out, vms.sets)
	}
	// Verify uses bob's key too, and writes nothing.
	if err := v.Verify(context.Background(), f.env()); err != nil {
		t.Errorf("Verify: %v", err)
	}

	// The hub (the first operator) adds nothing and journals itself.
	h := f.phase(dev, time.Second)
	h.op = Operator{Name: "alice@a", Dir: t.TempDir(), Known: v.op.Known}
	h.shell = func(string, string, string, time.Duration) (vmShell, error) { panic("the hub needs no SSH") }
	env = f.env()
	if err := h.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if out := env.Outputs(); out[VPNOutputOperatorAddress] != "127.0.0.1" || out[VPNOutputOperatorPublicKey] != f.hub.PublicKey().String() || up.PrivateKey != f.hub {
		t.Errorf("hub outputs %v", out)
	}
}

// The journal's operator outputs are the vpn node's.
func TestVPN_OperatorOutputsAreTheJournals(t *testing.T) {
	for got, want := range map[string]string{
		VPNOutputOperatorName: state.OutputOperatorName, VPNOutputOperatorAddress: state.OutputOperatorAddress,
		VPNOutputOperatorPublicKey: state.OutputOperatorPublicKey, VPNOutputOperatorAddedTo: state.OutputOperatorAddedTo,
	} {
		if got != want {
			t.Errorf("vpn output %q, state reads %q", got, want)
		}
	}
}

// TestWireGuard_HubKeyStaysWithTheFirstOperator: on a new deployment the
// hub's key is the first operator's own key, generated in its directory,
// never under the shared secrets. Another operator, with only the shared
// state (no hub key anywhere on its machine), renders byte-identical
// cloud-init documents from the hub's recorded public key, generates no
// hub key, and Verify passes for it.
func TestWireGuard_HubKeyStaysWithTheFirstOperator(t *testing.T) {
	cfg := wgTestConfig(t, "")
	store := state.NewStore(t.TempDir())
	secrets := store.LocalBackend().SecretsPath()
	dirA, dirB := t.TempDir(), t.TempDir()
	a := wgTestNode(t, cfg, store)
	a.op = Operator{Name: "alice@a", Dir: dirA}
	envA := &workflow.Env{Node: WireGuardName, SecretsDir: secrets, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := a.Run(context.Background(), envA); err != nil {
		t.Fatal(err)
	}
	keyA, err := wireguard.NewKeyStore(dirA).Load(wireguard.OperatorKeyName)
	if err != nil {
		t.Fatalf("the first operator's key in its directory: %v", err)
	}
	ks := wireguard.NewKeyStore(secrets)
	if ks.Exists(wireguard.HubName) {
		t.Errorf("a hub key under the shared secrets: %s", ks.Path(wireguard.HubName))
	}
	outA := envA.Outputs()
	if !strings.Contains(outA[WireGuardOutputPeers], keyA.PublicKey().String()) {
		t.Errorf("peers %s do not name the first operator's key as the hub's", outA[WireGuardOutputPeers])
	}
	docs := map[string][]byte{}
	for k, path := range outA {
		if strings.HasPrefix(k, WireGuardOutputCloudInit) {
			docs[k], _ = os.ReadFile(path)
		}
	}

	for name, setup := range map[string]func(*WireGuard, *workflow.Env){
		"Recorded": func(_ *WireGuard, env *workflow.Env) { env.Recorded = outA },
		"Known": func(w *WireGuard, _ *workflow.Env) {
			w.op.Known = []wireguard.Operator{{Name: "alice@a", Address: netip.MustParseAddr("192.168.100.1"), PublicKey: keyA.PublicKey()}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			b := wgTestNode(t, cfg, store)
			b.op = Operator{Name: "bob@b", Dir: dirB}
			envB := &workflow.Env{Node: WireGuardName, SecretsDir: secrets, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			setup(b, envB)
			if err := b.Run(context.Background(), envB); err != nil {
				t.Fatal(err)
			}
			if wireguard.NewKeyStore(dirB).Exists(wireguard.OperatorKeyName) || ks.Exists(wireguard.HubName) {
				t.Error("another operator's wireguard run generated a hub key")
			}
			outB := envB.Outputs()
			if outB[WireGuardOutputPeers] != outA[WireGuardOutputPeers] {
				t.Errorf("peers differ:\n%s\n%s", outB[WireGuardOutputPeers], outA[WireGuardOutputPeers])
			}
			for k, want := range docs {
				if got, _ := os.ReadFile(outB[k]); string(got) != string(want) {
					t.Errorf("%s differs when rendered by another operator", k)
				}
			}
			envB.Recorded = outA
			if err := b.Verify(context.Background(), envB); err != nil {
				t.Errorf("Verify by another operator: %v", err)
			}
		})
	}
}

// TestVPN_HubKeyInTheOperatorsDirectory: the first operator's tunnel uses
// its own key and keeps the wg-quick file (which holds it) in its own
// directory; a machine whose key is not the hub's is not the hub.
func TestVPN_HubKeyInTheOperatorsDirectory(t *testing.T) {
	f := newVPNFixture(t)
	dir := t.TempDir()
	// The hub's key moves from secrets/ to the operator's directory.
	ks := wireguard.NewKeyStore(dir)
	if err := os.MkdirAll(ks.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(wireguard.NewKeyStore(f.secrets).Path(wireguard.HubName), ks.Path(wireguard.OperatorKeyName)); err != nil {
		t.Fatal(err)
	}
	var up wireguard.DeviceConfig
	dev := &fakeDevice{
		up: func(_ context.Context, cfg wireguard.DeviceConfig) (wireguard.DeviceInfo, error) {
			up = cfg
			return wireguard.DeviceInfo{}, nil
		},
		status: f.status(time.Second),
	}
	v := f.phase(dev, time.Second)
	v.op = Operator{Name: "alice@a", Dir: dir}
	v.shell = func(string, string, string, time.Duration) (vmShell, error) { panic("the hub needs no SSH") }
	env := f.env()
	if err := v.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if up.PrivateKey != f.hub || up.RunDir != filepath.Join(dir, "vpn") || env.Outputs()[VPNOutputOperatorAddress] != "127.0.0.1" {
		t.Errorf("device run dir %s, hub key %v, outputs %v", up.RunDir, up.PrivateKey == f.hub, env.Outputs())
	}
	// Another machine's key: not the hub (it would be added over SSH).
	other := t.TempDir()
	if _, _, err := wireguard.NewKeyStore(other).LoadOrGenerate(wireguard.OperatorKeyName); err != nil {
		t.Fatal(err)
	}
	w := f.phase(dev, time.Second)
	w.op = Operator{Name: "bob@b", Dir: other}
	if _, hub, err := w.wireguardInputs(f.env()); err != nil || w.isHub(f.env(), hub.Addr()) {
		t.Errorf("a machine without the hub's key: inputs %v, hub %v", err, w.isHub(f.env(), hub.Addr()))
	}
}
