package phases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// fakeDevice is a vpnDevice with one function field per method; a method
// whose field is nil must not be reached and panics.
type fakeDevice struct {
	up     func(ctx context.Context, cfg wireguard.DeviceConfig) (wireguard.DeviceInfo, error)
	status func(ctx context.Context, name string) (*wireguard.Status, error)
	down   func(ctx context.Context, name, runDir string) error
}

func (f *fakeDevice) Up(ctx context.Context, cfg wireguard.DeviceConfig) (wireguard.DeviceInfo, error) {
	if f.up == nil {
		panic("unexpected Up")
	}
	return f.up(ctx, cfg)
}

func (f *fakeDevice) Status(ctx context.Context, name string) (*wireguard.Status, error) {
	if f.status == nil {
		panic("unexpected Status")
	}
	return f.status(ctx, name)
}

func (f *fakeDevice) Down(ctx context.Context, name, runDir string) error {
	if f.down == nil {
		panic("unexpected Down")
	}
	return f.down(ctx, name, runDir)
}

// vpnFixture is a deployment of three VMs whose WireGuard addresses are
// loopback addresses, so that the TCP check reaches real listeners.
type vpnFixture struct {
	secrets string
	hub     wgtypes.Key
	vms     []vpnPeer // k0s-controller-1 127.0.0.2, k0s-worker-1 127.0.0.3, k0s-worker-2 127.0.0.4
	vmKeys  []wgtypes.Key
	sshPort int
	lns     []net.Listener
	inputs  map[string]map[string]string
	now     time.Time
}

func newVPNFixture(t *testing.T) *vpnFixture {
	t.Helper()
	f := &vpnFixture{secrets: t.TempDir(), now: time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)}
	hub, _, err := wireguard.NewKeyStore(f.secrets).LoadOrGenerate(wireguard.HubName)
	if err != nil {
		t.Fatal(err)
	}
	f.hub = hub
	peers := []vpnPeer{{Name: wireguard.HubName, Address: "127.0.0.1", PublicKey: hub.PublicKey().String(), Role: wireguard.RoleHub}}
	ips := map[string]string{}
	for i, name := range []string{"k0s-controller-1", "k0s-worker-1", "k0s-worker-2"} {
		k, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.%d", i+2)
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(f.sshPort)))
		if err != nil {
			t.Skipf("listen on %s: %v", addr, err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		if f.sshPort == 0 {
			f.sshPort = ln.Addr().(*net.TCPAddr).Port
		}
		f.lns = append(f.lns, ln)
		p := vpnPeer{Name: name, Address: addr, PublicKey: k.PublicKey().String(), Role: "worker"}
		if i == 0 {
			p.Role = "controller"
		}
		peers = append(peers, p)
		f.vms = append(f.vms, p)
		f.vmKeys = append(f.vmKeys, k)
		ips[name] = fmt.Sprintf("198.51.100.%d", 10+i)
	}
	details := map[string]map[string]string{}
	for n, ip := range ips {
		details[n] = map[string]string{"public_ip": ip}
	}
	pj, _ := json.Marshal(peers)
	ij, _ := json.Marshal(ips)
	dj, _ := json.Marshal(details)
	f.inputs = map[string]map[string]string{
		"wireguard": {"peers": string(pj), "port": "40000", "network": "127.0.0.0/8"},
		"terraform": {"public_ips": string(ij), "wireguard_port": "40000", "vm_details": string(dj),
			"private_ips": `{}`, "resource_group": "k0rdent-test-resgrp"},
	}
	return f
}

// phase returns the vpn phase over dev with a fast retry loop.
func (f *vpnFixture) phase(dev vpnDevice, connect time.Duration) *VPN {
	cfg := config.Default()
	cfg.VPN.SSHPort = f.sshPort
	cfg.Timeouts.VPNConnect = config.Duration(connect)
	v := NewVPN(cfg, f.secrets, dev)
	v.now = func() time.Time { return f.now }
	v.interval = 5 * time.Millisecond
	return v
}

func (f *vpnFixture) env() *workflow.Env {
	return &workflow.Env{RunID: "r1", Node: "vpn", Attempt: 1, Inputs: f.inputs, SecretsDir: f.secrets,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Output: io.Discard}
}

// status is a live device in which every VM shook hands age ago, except
// those listed in silent (no handshake).
func (f *vpnFixture) status(age time.Duration, silent ...string) func(context.Context, string) (*wireguard.Status, error) {
	return func(_ context.Context, name string) (*wireguard.Status, error) {
		st := &wireguard.Status{Name: name, Kind: wireguard.KindUserspace, PublicKey: f.hub.PublicKey()}
		for i, vm := range f.vms {
			ps := wireguard.PeerStatus{PublicKey: f.vmKeys[i].PublicKey(), LastHandshake: f.now.Add(-age)}
			for _, s := range silent {
				if s == vm.Name {
					ps.LastHandshake = time.Time{}
				}
			}
			st.Peers = append(st.Peers, ps)
		}
		return st, nil
	}
}

func TestVPN_Capabilities(t *testing.T) {
	f := newVPNFixture(t)
	v := f.phase(&fakeDevice{}, time.Second)
	if !v.Volatile() || v.Name() != "vpn" || strings.Join(v.DependsOn(), ",") != "wireguard,terraform" {
		t.Errorf("volatile %v, name %q, depends on %v", v.Volatile(), v.Name(), v.DependsOn())
	}
	d := strings.Join(v.Describe(f.env()), "\n")
	for _, want := range []string{"wg-k0rdent", filepath.Join(f.secrets, "vpn", "wg-k0rdent.conf"), "TCP port " + strconv.Itoa(f.sshPort)} {
		if !strings.Contains(d, want) {
			t.Errorf("Describe:\n%s\nwant it to mention %q", d, want)
		}
	}
	if p := v.Policy(); p.Timeout != time.Second+time.Minute {
		t.Errorf("policy timeout %s, want vpn_connect + 1m", p.Timeout)
	}
}

func TestVPN_Preconditions(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(f *vpnFixture)
		wantCheck string // "" when every check passes
		wantErr   string
	}{
		{name: "AllPresent", edit: func(*vpnFixture) {}},
		{
			name:      "NoWireGuardPeers",
			edit:      func(f *vpnFixture) { delete(f.inputs["wireguard"], "peers") },
			wantCheck: "wireguard keys present", wantErr: `wireguard output "peers" missing`,
		},
		{
			name:      "NoHubKey",
			edit:      func(f *vpnFixture) { os.Remove(wireguard.NewKeyStore(f.secrets).Path(wireguard.HubName)) },
			wantCheck: "wireguard keys present", wantErr: "hub key: wireguard: no key",
		},
		{
			name:      "NoPublicIPs",
			edit:      func(f *vpnFixture) { f.inputs["terraform"] = map[string]string{} },
			wantCheck: "terraform outputs present", wantErr: "no outputs of the terraform node",
		},
		{
			name:      "PublicIPMissingForAVM",
			edit:      func(f *vpnFixture) { f.inputs["terraform"]["public_ips"] = `{"k0s-controller-1":"198.51.100.10"}` },
			wantCheck: "terraform outputs present", wantErr: `terraform output "public_ips" has no public IP for k0s-worker-1, k0s-worker-2`,
		},
		{
			name: "NoPort",
			edit: func(f *vpnFixture) {
				delete(f.inputs["terraform"], "wireguard_port")
				delete(f.inputs["wireguard"], "port")
			},
			wantCheck: "terraform outputs present", wantErr: "terraform outputs wireguard_port missing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newVPNFixture(t)
			tt.edit(f)
			v := f.phase(&fakeDevice{}, time.Second)
			var gotCheck, gotErr string
			for _, c := range v.Preconditions() {
				if err := c.Check(context.Background(), f.env()); err != nil {
					gotCheck, gotErr = c.Name, err.Error()
					if !strings.HasPrefix(c.Fix, "k0rdent run --from ") {
						t.Errorf("check %q: fix %q, want a k0rdent run --from command", c.Name, c.Fix)
					}
					break
				}
			}
			if gotCheck != tt.wantCheck || !strings.Contains(gotErr, tt.wantErr) {
				t.Errorf("failed check %q: %s\nwant %q: %s", gotCheck, gotErr, tt.wantCheck, tt.wantErr)
			}
		})
	}
}

func TestVPN_Run(t *testing.T) {
	f := newVPNFixture(t)
	var got wireguard.DeviceConfig
	dev := &fakeDevice{
		up: func(_ context.Context, cfg wireguard.DeviceConfig) (wireguard.DeviceInfo, error) {
			got = cfg
			return wireguard.DeviceInfo{Kind: wireguard.KindUserspace, PID: 42}, nil
		},
		status: f.status(10 * time.Second),
	}
	v := f.phase(dev, 5*time.Second)
	env := f.env()
	if err := v.Run(context.Background(), env); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got.Interface != "wg-k0rdent" || got.PrivateKey != f.hub || got.Address.String() != "127.0.0.1/8" ||
		got.RunDir != filepath.Join(f.secrets, "vpn") || len(got.Peers) != 3 {
		t.Fatalf("device config: interface %q, hub key %v, address %s, run dir %s, %d peers",
			got.Interface, got.PrivateKey == f.hub, got.Address, got.RunDir, len(got.Peers))
	}
	for i, p := range got.Peers {
		if p.Name != f.vms[i].Name || p.PublicKey != f.vmKeys[i].PublicKey() || p.Address.String() != f.vms[i].Address ||
			p.Endpoint.String() != fmt.Sprintf("198.51.100.%d:40000", 10+i) {
			t.Errorf("peer %d: %+v", i, p)
		}
	}
	hs := f.now.Add(-10 * time.Second).Format(time.RFC3339)
	want := map[string]string{
		"status": "connected", "interface": "wg-k0rdent", "config_path": filepath.Join(f.secrets, "vpn", "wg-k0rdent.conf"),
		"handshake.k0s-controller-1": hs, "handshake.k0s-worker-1": hs, "handshake.k0s-worker-2": hs,
	}
	outs := env.Outputs()
	if fmt.Sprint(outs) != fmt.Sprint(want) {
		t.Errorf("outputs\ngot:  %v\nwant: %v", outs, want)
	}
	fi, err := os.Stat(outs["config_path"])
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(outs["config_path"])
	if fi.Mode().Perm() != 0o600 || !strings.Contains(string(data), "PrivateKey = "+f.hub.String()) {
		t.Errorf("wg-quick file mode %v, want 0600 holding the hub key", fi.Mode().Perm())
	}
	for k, val := range outs {
		if strings.Contains(val, f.hub.String()) {
			t.Errorf("output %s holds the private key", k)
		}
	}
}

func TestVPN_RunUnreachable(t *testing.T) {
	f := newVPNFixture(t)
	f.lns[2].Close() // k0s-worker-2 answers no TCP either
	dev := &fakeDevice{
		up: func(context.Context, wireguard.DeviceConfig) (wireguard.DeviceInfo, error) {
			return wireguard.DeviceInfo{}, nil
		},
		status: f.status(time.Second, "k0s-worker-2"),
	}
	v := f.phase(dev, 300*time.Millisecond)
	env := f.env()
	err := v.Run(context.Background(), env)
	if err == nil {
		t.Fatal("Run: nil, want an error naming k0s-worker-2")
	}
	msg := err.Error()
	for _, want := range []string{"1 of 3 VMs unreachable through wg-k0rdent", "k0s-worker-2 (127.0.0.4:" + strconv.Itoa(f.sshPort) + " via 198.51.100.12:40000): no handshake; tcp 127.0.0.4:", "timeouts.vpn_connect"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q\nwant it to contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "k0s-worker-1") {
		t.Errorf("error names a reachable VM: %s", msg)
	}
	if len(env.Outputs()) != 0 {
		t.Errorf("outputs after a failure: %v", env.Outputs())
	}
}

func TestVPN_RunCancelled(t *testing.T) {
	f := newVPNFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	dev := &fakeDevice{
		up: func(context.Context, wireguard.DeviceConfig) (wireguard.DeviceInfo, error) {
			return wireguard.DeviceInfo{}, nil
		},
		status: func(c context.Context, n string) (*wireguard.Status, error) {
			cancel()
			return f.status(0, "k0s-worker-1")(c, n)
		},
	}
	err := f.phase(dev, time.Hour).Run(ctx, f.env())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel: %v, want context.Canceled", err)
	}
}

func TestVPN_Verify(t *testing.T) {
	tests := []struct {
		name   string
		status func(f *vpnFixture) func(context.Context, string) (*wireguard.Status, error)
		edit   func(f *vpnFixture)
		want   string // "" means no drift
	}{
		{name: "Healthy", status: func(f *vpnFixture) func(context.Context, string) (*wireguard.Status, error) {
			return f.status(2 * time.Minute)
		}},
		{
			name: "DeviceGone",
			status: func(f *vpnFixture) func(context.Context, string) (*wireguard.Status, error) {
				return func(context.Context, string) (*wireguard.Status, error) {
					return nil, fmt.Errorf("%w: wg-k0rdent", wireguard.ErrNoDevice)
				}
			},
			want: "wireguard device wg-k0rdent is gone",
		},
		{
			name: "StaleHandshake",
			status: func(f *vpnFixture) func(context.Context, string) (*wireguard.Status, error) {
				return f.status(4 * time.Minute)
			},
			want: "3 of 3 VMs unreachable through wg-k0rdent: k0s-controller-1 (127.0.0.2:",
		},
		{
			name: "TCPFails",
			status: func(f *vpnFixture) func(context.Context, string) (*wireguard.Status, error) {
				return f.status(time.Second)
			},
			edit: func(f *vpnFixture) { f.lns[1].Close() },
			want: "1 of 3 VMs unreachable through wg-k0rdent: k0s-worker-1 (127.0.0.3:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newVPNFixture(t)
			if tt.edit != nil {
				tt.edit(f)
			}
			v := f.phase(&fakeDevice{status: tt.status(f)}, time.Second)
			err := v.Verify(context.Background(), f.env())
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Verify: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Verify: %v\nwant an error containing %q", err, tt.want)
			}
			if tt.name == "StaleHandshake" && err != nil && !strings.Contains(err.Error(), "last handshake 4m0s ago (stale after 3m0s)") {
				t.Errorf("Verify: %v, want it to say how old the handshake is", err)
			}
		})
	}
}

func TestVPN_Destroy(t *testing.T) {
	f := newVPNFixture(t)
	var gotName, gotDir string
	v := f.phase(&fakeDevice{down: func(_ context.Context, name, runDir string) error {
		gotName, gotDir = name, runDir
		return nil
	}}, time.Second)
	if err := v.Destroy(context.Background(), f.env()); err != nil {
		t.Fatal(err)
	}
	if gotName != "wg-k0rdent" || gotDir != filepath.Join(f.secrets, "vpn") {
		t.Errorf("Down(%q, %q), want wg-k0rdent and the secrets' vpn dir", gotName, gotDir)
	}
}

func TestNewVPN_WireGuardGoPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"wireguard-go", "wireguard-go"},
		{"/opt/wg/wireguard-go", "/opt/wg/wireguard-go"},
		{"./bin/wireguard-go", "/etc/k0rdent/bin/wireguard-go"},
	}
	for _, tt := range tests {
		src := "azure:\n  location: westus2\n"
		if tt.in != "" {
			src += "vpn:\n  wireguard_go: " + tt.in + "\n"
		}
		cfg, err := config.Parse([]byte(src), "/etc/k0rdent/k0rdent.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if got := NewVPN(cfg, t.TempDir(), &fakeDevice{}).cfg.WireGuardGo; got != tt.want {
			t.Errorf("vpn.wireguard_go %q: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestVPNReachable(t *testing.T) {
	f := newVPNFixture(t)
	vpnOut := map[string]string{"status": "connected", "interface": "wg-k0rdent"}
	tests := []struct {
		name   string
		out    map[string]string
		status func(context.Context, string) (*wireguard.Status, error)
		want   string // "" means the check passes
	}{
		{name: "Fresh", out: vpnOut, status: f.status(time.Minute)},
		{name: "NotConnected", out: map[string]string{}, want: `the vpn node recorded status "" and interface ""`},
		{
			name: "DeviceGone", out: vpnOut,
			status: func(context.Context, string) (*wireguard.Status, error) {
				return nil, fmt.Errorf("%w: wg-k0rdent", wireguard.ErrNoDevice)
			},
			want: "wireguard device wg-k0rdent is gone",
		},
		{name: "Stale", out: vpnOut, status: f.status(5 * time.Minute), want: "3 of 3 peers of wg-k0rdent without a fresh handshake"},
		{name: "OneSilent", out: vpnOut, status: f.status(time.Second, "k0s-worker-1"), want: f.vmKeys[1].PublicKey().String() + " (no handshake)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := vpnReachable(&fakeDevice{status: tt.status}, func() time.Time { return f.now })
			if c.Fix != "k0rdent run --from vpn" {
				t.Errorf("fix %q", c.Fix)
			}
			err := c.Check(context.Background(), &workflow.Env{Inputs: map[string]map[string]string{"vpn": tt.out}})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("check: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("check: %v\nwant an error containing %q", err, tt.want)
			}
		})
	}
}
