package state

import (
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

func TestRuntime_LiveEqualsRebuild(t *testing.T) {
	s := lockedStore(t)
	s2 := func() *Runtime {
		rt, err := s.Current()
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}
	// Run 1 succeeds; run 2 (with kof) fails at kof; run 3 is fresh and
	// unfinished, with kof disabled again.
	writeRun(t, s, "20261125-100000-0001", happyEvents(), OutcomeSucceeded).Close()
	h := testHeader("20261125-110000-0001")
	h.Flags = map[string]bool{"with_kof": true}
	h.ClusterID = "k0rdent-ab12"
	r, err := s.CreateRun(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []workflow.Event{
		ev(200, "wireguard", workflow.Succeeded, workflow.Succeeded),
		ev(201, "vpn", workflow.Succeeded, workflow.Running),
		{Time: at(202), Node: "vpn", From: workflow.Running, To: workflow.Failed, Attempt: 1, Error: "no handshake"},
		ev(203, "kof", workflow.Pending, workflow.Running),
		{Time: at(204), Node: "kof", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Outputs: map[string]string{"mothership": "kof-ms"}},
	} {
		if err := r.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Finish(OutcomeFailed, "vpn failed"); err != nil {
		t.Fatal(err)
	}
	r.Close()
	mid := s2()
	if mid.VPN == nil || mid.VPN.Status != VPNDisconnected || !mid.VPN.Checked.Equal(at(202)) {
		t.Errorf("after a failed vpn: %+v, want disconnected checked at the record time", mid.VPN)
	}
	if mid.LastSuccessfulRun != "20261125-100000-0001" || mid.CurrentOutcome != OutcomeFailed || mid.ClusterID != "k0rdent-ab12" {
		t.Errorf("mid runtime %+v", mid)
	}
	r3, err := s.CreateRun(testHeader("20261125-120000-0001"))
	if err != nil {
		t.Fatal(err)
	}
	r3.Record(workflow.Event{Time: at(300), Node: "kof", From: workflow.Pending, To: workflow.Skipped, Reason: "disabled"})
	r3.Record(workflow.Event{Time: at(301), Node: "k0s", From: workflow.Pending, To: workflow.Skipped, Reason: "disabled for the test"})
	r3.Close()

	live := s2()
	if err := os.Remove(s.LocalBackend().RuntimePath()); err != nil {
		t.Fatal(err)
	}
	rebuilt, err := s.RebuildRuntime()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(live, rebuilt) {
		t.Fatalf("rebuilt runtime differs from the live one\nlive:    %+v\nrebuilt: %+v", live, rebuilt)
	}
	if onDisk := s2(); !reflect.DeepEqual(onDisk, rebuilt) {
		t.Errorf("runtime.yaml after rebuild %+v, want %+v", onDisk, rebuilt)
	}
	want := &Runtime{
		Format: FormatVersion, ClusterID: "k0rdent-ab12", CurrentRunID: "20261125-120000-0001",
		LastSuccessfulRun: "20261125-100000-0001", Flags: map[string]bool{"with_kof": false},
		WireGuard: &WireGuard{Port: 51820, Network: "10.8.0.0/24", Peers: []Peer{
			{Name: "hub", Address: "10.8.0.1", PublicKey: "aGVsbG8taHViLXB1YmxpYy1rZXktMDAwMDAwMDAwMDA=", Role: "operator"},
			{Name: "vm-1", Address: "10.8.0.2", PublicKey: "dm0xLXB1YmxpYy1rZXktMDAwMDAwMDAwMDAwMDAwMDA=", Role: "controller", Endpoint: "20.1.2.3:51820"},
		}},
		VPN:       &VPNStatus{Status: VPNDisconnected, Checked: at(202)},
		Terraform: map[string]string{"resource_group": "rg-k0rdent-ab12", "vm_details": `{"vm-1":{"public_ip":"20.1.2.3","private_ip":"10.0.0.4"}}`},
		// k0s skipped in the current run: no kubeconfig carried.
		Updated: at(301),
	}
	if !reflect.DeepEqual(rebuilt, want) {
		t.Errorf("runtime\n got %+v %+v %+v\nwant %+v %+v %+v", rebuilt, rebuilt.WireGuard, rebuilt.VPN, want, want.WireGuard, want.VPN)
	}
}

func TestProject(t *testing.T) {
	prev := &Runtime{ClusterID: "c1", LastSuccessfulRun: "20261125-090000-0001",
		WireGuard: &WireGuard{Port: 1, Peers: []Peer{{Name: "old"}}}, VPN: &VPNStatus{Status: VPNUnverified},
		Terraform: map[string]string{"rg": "old"}, Kubeconfig: "/old"}
	tests := []struct {
		name  string
		evs   []workflow.Event
		check func(t *testing.T, rt *Runtime)
	}{
		{"NothingDecidedKeepsPrev", []workflow.Event{ev(1, "k0s", workflow.Pending, workflow.Running)}, func(t *testing.T, rt *Runtime) {
			if rt.Kubeconfig != "/old" || rt.Terraform["rg"] != "old" || rt.WireGuard.Peers[0].Name != "old" || rt.VPN.Status != VPNUnverified {
				t.Errorf("prev facts not kept: %+v", rt)
			}
		}},
		{"FailedK0sKeepsKubeconfig", []workflow.Event{ev(1, "k0s", workflow.Pending, workflow.Running), ev(2, "k0s", workflow.Running, workflow.Failed)}, func(t *testing.T, rt *Runtime) {
			if rt.Kubeconfig != "/old" {
				t.Errorf("kubeconfig %q", rt.Kubeconfig)
			}
		}},
		{"SkippedClears", []workflow.Event{ev(1, "k0s", workflow.Pending, workflow.Skipped), ev(1, "terraform", workflow.Pending, workflow.Skipped), ev(1, "wireguard", workflow.Pending, workflow.Skipped), ev(1, "vpn", workflow.Pending, workflow.Skipped)}, func(t *testing.T, rt *Runtime) {
			if rt.Kubeconfig != "" || rt.Terraform != nil || rt.WireGuard != nil || rt.VPN != nil {
				t.Errorf("skipped nodes left facts: %+v", rt)
			}
		}},
		{"SkippedThenRunningStaysCleared", []workflow.Event{ev(1, "k0s", workflow.Pending, workflow.Skipped), ev(2, "k0s", workflow.Skipped, workflow.Running)}, func(t *testing.T, rt *Runtime) {
			if rt.Kubeconfig != "" {
				t.Errorf("kubeconfig %q", rt.Kubeconfig)
			}
		}},
		{"TerraformClusterIDWins", []workflow.Event{ev(1, "terraform", workflow.Pending, workflow.Running), {Time: at(2), Node: "terraform", From: workflow.Running, To: workflow.Succeeded, Outputs: map[string]string{"cluster_id": "k0rdent-ab12cd34"}}}, func(t *testing.T, rt *Runtime) {
			if rt.ClusterID != "k0rdent-ab12cd34" {
				t.Errorf("cluster id %q, want terraform's", rt.ClusterID)
			}
		}},
		{"KnownClusterIDKept", []workflow.Event{ev(1, "k0s", workflow.Pending, workflow.Running)}, func(t *testing.T, rt *Runtime) {
			if rt.ClusterID != "c1" {
				t.Errorf("cluster id %q, want prev's c1 over the header's", rt.ClusterID)
			}
		}},
		{"VPNWithoutStatusIsConnected", []workflow.Event{ev(1, "vpn", workflow.Pending, workflow.Running), ev(2, "vpn", workflow.Running, workflow.Succeeded)}, func(t *testing.T, rt *Runtime) {
			if rt.VPN.Status != VPNConnected || !rt.VPN.Checked.Equal(at(2)) {
				t.Errorf("vpn %+v", rt.VPN)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rf := &RunFile{}
			rf.setHeader(Header{RunID: "20261125-100000-0001", Created: t0, ClusterID: "k0rdent"})
			for i, e := range tt.evs {
				rec := Record{Kind: KindTransition, Seq: uint64(i + 1), Time: e.Time, Node: e.Node, From: e.From, To: e.To, Outputs: e.Outputs}
				if err := rf.check(&rec); err != nil {
					t.Fatal(err)
				}
				rf.apply(rec)
			}
			rt := Project(prev, rf)
			tt.check(t, rt)
			if prev.Kubeconfig != "/old" || prev.WireGuard.Peers[0].Name != "old" {
				t.Error("Project changed prev")
			}
			// Idempotent over prefixes.
			for n := 0; n <= len(rf.Records); n++ {
				pre := &RunFile{}
				pre.setHeader(rf.Header)
				for _, rec := range rf.Records[:n] {
					pre.apply(rec)
				}
				if again := Project(Project(prev, pre), rf); !reflect.DeepEqual(again, rt) {
					t.Errorf("Project(Project(prev, first %d), run) = %+v, want %+v", n, again, rt)
				}
			}
		})
	}
	if rt := Project(nil, nil); rt.Format != FormatVersion {
		t.Errorf("Project(nil, nil) = %+v", rt)
	}
}

func TestRuntime_ReadWrite(t *testing.T) {
	s := NewStore(t.TempDir())
	if _, err := s.ReadRuntime(); !errors.Is(err, os.ErrNotExist) || !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadRuntime on empty store = %v, want not-exist", err)
	}
	rt := &Runtime{ClusterID: "c", VPN: &VPNStatus{Status: VPNUnverified, Checked: t0}, Updated: t0}
	if err := s.WriteRuntime(rt); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadRuntime()
	if err != nil {
		t.Fatal(err)
	}
	want := *rt
	want.Format = FormatVersion
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("round trip %+v, want %+v", got, want)
	}
	for _, bad := range []string{"format: 9\n", "format: [\n"} {
		os.WriteFile(s.LocalBackend().RuntimePath(), []byte(bad), 0o644)
		if _, err := s.ReadRuntime(); err == nil {
			t.Errorf("ReadRuntime(%q) = nil error", bad)
		}
	}
	// A broken runtime.yaml stops CreateRun with the fix in the message.
	l, _, err := s.Lock(CurrentHolder("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if _, err := s.CreateRun(Header{}); err == nil {
		t.Error("CreateRun with unreadable runtime.yaml = nil error")
	}
	if rt, err := NewStore(t.TempDir()).RebuildRuntime(); err != nil || rt.CurrentRunID != "" {
		t.Errorf("RebuildRuntime of an empty store = %+v, %v", rt, err)
	}
	_ = time.Second
}
