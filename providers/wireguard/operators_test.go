package wireguard

import (
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestOperatorAddress(t *testing.T) {
	hosts := []Host{{"c1", RoleController}, {"w1", RoleWorker}}
	plan, err := Plan("10.9.0.0/29", hosts) // usable .1-.6: hub .1, c1 .2, w1 .3
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	tests := []struct {
		name  string
		taken []Operator
		want  string
		err   string
	}{
		{name: "First", want: "10.9.0.6"},
		{name: "Second", taken: []Operator{{Name: "a", Address: a("10.9.0.6")}}, want: "10.9.0.5"},
		{name: "GapReused", taken: []Operator{{Name: "b", Address: a("10.9.0.5")}}, want: "10.9.0.6"},
		{name: "Full", taken: []Operator{{Address: a("10.9.0.6")}, {Address: a("10.9.0.5")}, {Address: a("10.9.0.4")}}, err: "no free address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OperatorAddress(plan, tt.taken)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestOperatorName(t *testing.T) {
	for name, want := range map[string]bool{"alice@laptop": true, "ci-runner.7": true, "": false, "a b": false, "@x": false, strings.Repeat("a", 65): false} {
		if got := ValidOperatorName(name); got != want {
			t.Errorf("ValidOperatorName(%q) = %v, want %v", name, got, want)
		}
	}
	if n := DefaultOperatorName(); !ValidOperatorName(n) {
		t.Errorf("DefaultOperatorName() = %q, not valid", n)
	}
}

func TestOperatorDir(t *testing.T) {
	t.Setenv(OperatorDirEnv, "")
	t.Setenv("XDG_CONFIG_HOME", "/home/x/.config")
	if got, err := OperatorDir("prod"); err != nil || got != "/home/x/.config/k0rdent/prod" {
		t.Errorf("OperatorDir(prod) = %q, %v", got, err)
	}
	if _, err := OperatorDir("../etc"); err == nil {
		t.Error("OperatorDir(../etc): want an error")
	}
	t.Setenv(OperatorDirEnv, "/tmp/op")
	if got, err := OperatorDir("prod"); err != nil || got != "/tmp/op" {
		t.Errorf("OperatorDir with %s = %q, %v", OperatorDirEnv, got, err)
	}
}

func TestPeerSection_AddRemove(t *testing.T) {
	k := func() wgtypes.Key {
		k, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	vm, hub, b, c := k(), k().PublicKey(), k().PublicKey(), k().PublicKey()
	base := WGQuick{PrivateKey: vm, Address: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")}, ListenPort: 51820,
		Peers: []WGQuickPeer{{Comment: "hub", PublicKey: hub, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}}}
	conf := append(base.Marshal(), "# hand-written\nPostUp = true\n"...)
	pb := WGQuickPeer{Comment: "operator bob", PublicKey: b, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.254/32")}}
	pc := WGQuickPeer{Comment: "operator carol", PublicKey: c, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.253/32")}}

	withB, added := AddPeerSection(conf, pb)
	if !added {
		t.Fatal("AddPeerSection: not added")
	}
	if again, added := AddPeerSection(withB, pb); added || string(again) != string(withB) {
		t.Errorf("adding bob twice changed the file:\n%s", again)
	}
	withBC, _ := AddPeerSection(withB, pc)
	q, err := ParseWGQuick(withBC)
	if err != nil {
		t.Fatalf("parse after adds: %v\n%s", err, withBC)
	}
	if len(q.Peers) != 3 || q.Peers[1].PublicKey != b || q.Peers[2].PublicKey != c || q.Peers[2].Comment != "operator carol" || q.PrivateKey != vm {
		t.Fatalf("after adds: %+v\n%s", q, withBC)
	}
	// Removing bob keeps carol, the hub and every other line.
	noB, ok := RemovePeerSection(withBC, b)
	if !ok {
		t.Fatal("RemovePeerSection(bob): not found")
	}
	if want, _ := AddPeerSection(conf, pc); string(noB) != string(want) {
		t.Errorf("without bob:\n%s\nwant:\n%s", noB, want)
	}
	noBC, _ := RemovePeerSection(noB, c)
	if strings.TrimRight(string(noBC), "\n") != strings.TrimRight(string(conf), "\n") {
		t.Errorf("after removing both:\n%s\nwant the original:\n%s", noBC, conf)
	}
	if _, ok := RemovePeerSection(conf, b); ok {
		t.Error("RemovePeerSection of an absent key: ok")
	}
}

func TestParseVMPeers(t *testing.T) {
	k1, _ := wgtypes.GeneratePrivateKey()
	k2, _ := wgtypes.GeneratePrivateKey()
	out := "wg0\n/etc/wireguard/wg0.conf\n" + k1.PublicKey().String() + "\t10.0.0.1/32\n" + k2.PublicKey().String() + "\t10.0.0.254/32\n--- conf\n[Interface]\n"
	v, err := ParseVMPeers([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if v.Interface != "wg0" || v.ConfPath != "/etc/wireguard/wg0.conf" || len(v.Peers) != 2 || v.Peers[k2.PublicKey()][0].String() != "10.0.0.254/32" || string(v.Conf) != "[Interface]\n" {
		t.Errorf("ParseVMPeers: %+v", v)
	}
	if _, err := ParseVMPeers([]byte("wg0\n")); err == nil {
		t.Error("ParseVMPeers without the conf line: want an error")
	}
}

// TestRemoteCommand runs the quoted command line through a real sh: the
// script receives its arguments intact.
func TestRemoteCommand(t *testing.T) {
	cmd := RemoteCommand(`printf '%s|' "$@"`, "a b", "it's", "x=y+/")
	out, err := exec.Command("sh", "-c", cmd).Output()
	if os.Geteuid() != 0 {
		// sudo -n comes first; whether it works here does not matter.
		if !strings.Contains(cmd, "sudo -n") {
			t.Errorf("%q: no sudo -n for a user other than root", cmd)
		}
		return
	}
	if err != nil || string(out) != "a b|it's|x=y+/|" {
		t.Errorf("sh -c %q: %q, %v", cmd, out, err)
	}
}

// TestRemoteScripts_Syntax: the remote scripts parse (sh -n).
func TestRemoteScripts_Syntax(t *testing.T) {
	for name, s := range map[string]string{"read": ReadPeersScript, "set": SetPeerScript} {
		if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
			t.Errorf("%s script: %v: %s", name, err, out)
		}
	}
}
