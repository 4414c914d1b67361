package state

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TestRuntime_VPNPeers: a connected vpn record puts the interface and each
// peer's last handshake in runtime.yaml, sorted by name; a later failed
// check says disconnected and drops them; the rebuild agrees with the
// live file.
func TestRuntime_VPNPeers(t *testing.T) {
	s := lockedStore(t)
	r, err := s.CreateRun(testHeader("20261125-130000-0001"))
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string]string{
		"status": "connected", "interface": "wg-k0rdent", "config_path": "/s/secrets/vpn/wg-k0rdent.conf",
		"handshake.k0s-worker-1":     "2026-11-25T12:59:50Z",
		"handshake.k0s-controller-1": "2026-11-25T12:59:40+01:00",
		"handshake.":                 "2026-11-25T12:59:40Z", // no peer name: ignored
		"handshake.bad":              "yesterday",            // not a time: ignored
	}
	for _, e := range []workflow.Event{
		ev(10, "vpn", workflow.Pending, workflow.Running),
		{Time: at(11), Node: "vpn", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Outputs: outs},
	} {
		if err := r.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	rt, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	want := &VPNStatus{Status: VPNConnected, Checked: at(11).UTC(), Interface: "wg-k0rdent", Peers: []VPNPeer{
		{Name: "k0s-controller-1"},
		{Name: "k0s-worker-1"},
	}}
	want.Peers[0].LastHandshake = mustTime(t, "2026-11-25T11:59:40Z")
	want.Peers[1].LastHandshake = mustTime(t, "2026-11-25T12:59:50Z")
	if !reflect.DeepEqual(rt.VPN, want) {
		t.Errorf("vpn after a connected check\ngot:  %+v\nwant: %+v", rt.VPN, want)
	}
	data, err := os.ReadFile(s.LocalBackend().RuntimePath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "last_handshake: 2026-11-25T11:59:40Z") {
		t.Errorf("runtime.yaml does not show the controller's handshake:\n%s", data)
	}

	for _, e := range []workflow.Event{
		ev(20, "vpn", workflow.Succeeded, workflow.Running),
		{Time: at(21), Node: "vpn", From: workflow.Running, To: workflow.Failed, Attempt: 2, Error: "1 of 2 VMs unreachable"},
	} {
		if err := r.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	live, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	if want := (&VPNStatus{Status: VPNDisconnected, Checked: at(21).UTC()}); !reflect.DeepEqual(live.VPN, want) {
		t.Errorf("vpn after a failed check: %+v, want %+v", live.VPN, want)
	}
	rebuilt, err := s.RebuildRuntime()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(live, rebuilt) {
		t.Errorf("rebuilt runtime differs\nlive:    %+v\nrebuilt: %+v", live, rebuilt)
	}

	// Project does not share the peers with prev.
	prev := &Runtime{VPN: &VPNStatus{Status: VPNConnected, Peers: []VPNPeer{{Name: "a"}}}}
	next := Project(prev, nil)
	next.VPN.Peers[0].Name = "b"
	if prev.VPN.Peers[0].Name != "a" {
		t.Error("Project shares VPN peers with prev")
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
