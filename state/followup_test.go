package state

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TestStore_NowPinsRunLevelRecords: the store's clock times the header
// and the records the store writes itself.
func TestStore_NowPinsRunLevelRecords(t *testing.T) {
	s := lockedStore(t)
	clock := at(1000)
	s.Now = func() time.Time { return clock }
	h := testHeader("")
	h.Created = time.Time{}
	r, err := s.CreateRun(h)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Header().Created; !got.Equal(at(1000)) || r.ID()[:15] != at(1000).Format("20060102-150405") {
		t.Errorf("created %v, id %s: want the store clock %v", got, r.ID(), at(1000))
	}
	steps := []struct {
		kind Kind
		do   func() error
	}{
		{KindLockTakeover, func() error { return r.LockTakeover(Holder{PID: 7, RunID: "20261125-100000-0001"}) }},
		{KindOutcome, func() error { return r.Finish(OutcomeFailed, "test") }},
		{KindResumed, func() error { return r.Resumed(nil, 2) }},
		{KindSuperseded, func() error { return r.Supersede("20261126-000000-0001") }},
	}
	for i, st := range steps {
		clock = at(1001 + i)
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.kind, err)
		}
	}
	r.Close()
	rf, err := s.Load(r.ID())
	if err != nil || rf.Err != nil {
		t.Fatal(err, rf.Err)
	}
	for i, st := range steps {
		rec := rf.Records[i]
		if rec.Kind != st.kind || !rec.Time.Equal(at(1001+i)) {
			t.Errorf("record %d: got %s at %v, want %s at %v", i+1, rec.Kind, rec.Time, st.kind, at(1001+i))
		}
	}
}

// TestHeader_Deps: the edges round-trip through the run file, nodes
// without dependencies are left out, and the fast decoder reads them.
func TestHeader_Deps(t *testing.T) {
	s := lockedStore(t)
	h := testHeader("20261125-100000-0001")
	h.Deps = map[string][]string{"wireguard": {}, "terraform": {"wireguard"}, "vpn": {"terraform", "wireguard"},
		"azure-children/eu": {"k0rdent"}}
	r, err := s.CreateRun(h)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	want := map[string][]string{"terraform": {"wireguard"}, "vpn": {"terraform", "wireguard"}, "azure-children/eu": {"k0rdent"}}
	if got := r.Header().Deps; !reflect.DeepEqual(got, want) {
		t.Errorf("run header deps %v, want %v", got, want)
	}
	if len(h.Deps) != 4 {
		t.Errorf("CreateRun changed the caller's deps: %v", h.Deps)
	}
	rf, err := s.Load(r.ID())
	if err != nil || rf.Err != nil {
		t.Fatal(err, rf.Err)
	}
	if !reflect.DeepEqual(rf.Header.Deps, want) {
		t.Errorf("loaded deps %v, want %v", rf.Header.Deps, want)
	}
	data, _ := os.ReadFile(r.Path())
	d, ok := parseDoc(data, 0)
	if !ok {
		t.Fatal("no header document")
	}
	if !strings.Contains(string(d.body), "deps:\n    azure-children/eu:\n        - k0rdent\n") {
		t.Errorf("header body:\n%s", d.body)
	}
	if !fastAgrees(t, d.body) {
		t.Errorf("the fast decoder refused a header with deps:\n%s", d.body)
	}
	for _, body := range []string{
		"deps:\n    a:\n", "deps:\n    a: []\n", "deps:\n    a:\n        - b\n    a:\n        - c\n",
		"deps:\n    a:\n        - ~\n", "deps:\n    - a\n        - b\n", "deps:\n        - b\n", "outputs:\n    a:\n        - b\n",
		"flags:\n    a:\n        - b\n", "deps:\n    a:\n        - b\n    c: d\n", "deps:\n    a:\n        - 'b c'\n        - \"d\"\n",
	} {
		fastAgrees(t, []byte(body))
	}
}

// TestTeardown_ProjectionAndList: run, tear down, and runtime.yaml has
// no facts of the destroyed nodes, is rebuilt equal to the live one, and
// the teardown is listed as one.
func TestTeardown_ProjectionAndList(t *testing.T) {
	s := lockedStore(t)
	writeRun(t, s, "20261125-100000-0001", happyEvents(), OutcomeSucceeded).Close()
	before, err := s.Current()
	if err != nil || before.WireGuard == nil || before.Kubeconfig == "" || before.Terraform == nil {
		t.Fatalf("runtime before teardown %+v %v", before, err)
	}
	h := testHeader("20261125-110000-0001")
	h.Teardown = true
	r, err := s.CreateRun(h)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []string{"k0rdent", "k0s", "vpn", "terraform", "wireguard"} {
		for _, e := range []workflow.Event{
			{Time: at(200 + 2*i), Node: n, From: workflow.Succeeded, To: workflow.Running, Attempt: 2, Reason: "destroy"},
			{Time: at(201 + 2*i), Node: n, From: workflow.Running, To: workflow.Succeeded, Attempt: 2, Duration: time.Second},
		} {
			if err := r.Record(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.Finish(OutcomeSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	r.Close()
	live, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	if live.WireGuard != nil || live.Terraform != nil || live.Kubeconfig != "" {
		t.Errorf("facts of destroyed nodes kept: %+v", live)
	}
	if live.VPN == nil || live.VPN.Status != VPNDisconnected || !live.VPN.Checked.Equal(at(205)) {
		t.Errorf("vpn after teardown %+v, want disconnected at %v", live.VPN, at(205))
	}
	if live.CurrentRunID != "20261125-110000-0001" || live.LastSuccessfulRun != "20261125-100000-0001" {
		t.Errorf("current %s, last successful %s: want the teardown current and the deployment last successful",
			live.CurrentRunID, live.LastSuccessfulRun)
	}
	os.Remove(s.LocalBackend().RuntimePath())
	rebuilt, err := s.RebuildRuntime()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(live, rebuilt) {
		t.Errorf("rebuilt runtime differs\nlive:    %+v\nrebuilt: %+v", live, rebuilt)
	}
	infos, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || !infos[0].Teardown || infos[1].Teardown || infos[0].Outcome != OutcomeSucceeded {
		t.Errorf("List = %+v, want the teardown then the deployment", infos)
	}
	rf, _ := s.Load("20261125-110000-0001")
	if !rf.Header.Teardown {
		t.Error("Load lost the teardown kind")
	}
	if data, _ := os.ReadFile(rf.File()); !strings.HasPrefix(string(data), "---\nkind: teardown\n") {
		t.Errorf("teardown run file starts %q", data[:min(len(data), 30)])
	}
	known, err := s.LastKnown()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := known["kof"]; len(known) != 1 || !ok {
		t.Errorf("LastKnown after teardown = %v, want only kof (skipped, never destroyed)", known)
	}
}

func TestStore_LastKnown(t *testing.T) {
	s := lockedStore(t)
	writeRun(t, s, "20261125-100000-0001", happyEvents(), OutcomeSucceeded).Close()
	// Run 2 re-runs vpn (fails) and k0rdent (blocked before it started).
	writeRun(t, s, "20261125-110000-0001", []workflow.Event{
		ev(200, "vpn", workflow.Pending, workflow.Running),
		{Time: at(201), Node: "vpn", From: workflow.Running, To: workflow.Failed, Attempt: 1, Error: "no handshake"},
		{Time: at(201), Node: "k0rdent", From: workflow.Pending, To: workflow.Blocked, Reason: "dependency vpn failed"},
		ev(202, "k0s", workflow.Pending, workflow.Running),
		{Time: at(203), Node: "k0s", From: workflow.Running, To: workflow.Succeeded, Attempt: 1,
			Outputs: map[string]string{"kubeconfig": "/new/kubeconfig"}},
	}, OutcomeFailed).Close()
	got, err := s.LastKnown()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		state workflow.State
		run   string
	}{
		"wireguard": {workflow.Succeeded, "20261125-100000-0001"},
		"terraform": {workflow.Succeeded, "20261125-100000-0001"},
		"k0s":       {workflow.Succeeded, "20261125-110000-0001"},
		"k0rdent":   {workflow.Succeeded, "20261125-100000-0001"},
		"kof":       {workflow.Skipped, ""},
	}
	if len(got) != len(want) {
		t.Errorf("LastKnown has %d nodes, want %d: %v", len(got), len(want), got)
	}
	for n, w := range want {
		if g := got[n]; g.State != w.state || g.RunID != w.run {
			t.Errorf("%s: got %s in run %q, want %s in run %q", n, g.State, g.RunID, w.state, w.run)
		}
	}
	if got["k0s"].Outputs["kubeconfig"] != "/new/kubeconfig" || got["wireguard"].Outputs["port"] != "51820" {
		t.Errorf("outputs not kept: k0s %v, wireguard %v", got["k0s"].Outputs, got["wireguard"].Outputs)
	}
}

func TestStore_History(t *testing.T) {
	s := lockedStore(t)
	for i, d := range []time.Duration{10 * time.Second, 30 * time.Second, 20 * time.Second, 1000 * time.Second} {
		id := "20261125-1" + string(rune('0'+i)) + "0000-0001"
		evs := []workflow.Event{
			ev(i*100, "k0s", workflow.Pending, workflow.Running),
			{Time: at(i*100 + 1), Node: "k0s", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Duration: d},
		}
		if i == 3 { // the newest run is a teardown: its 1000s do not count
			h := testHeader(id)
			h.Teardown = true
			r, err := s.CreateRun(h)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if err := r.Record(e); err != nil {
					t.Fatal(err)
				}
			}
			r.Close()
			continue
		}
		writeRun(t, s, id, evs, OutcomeSucceeded).Close()
	}
	got, err := s.History(3)
	if err != nil {
		t.Fatal(err)
	}
	if got["k0s"] != 20*time.Second || len(got) != 1 {
		t.Errorf("History(3) = %v, want k0s 20s (median of 10s, 30s, 20s; the teardown does not count)", got)
	}
	got, _ = s.History(2)
	if got["k0s"] != 25*time.Second {
		t.Errorf("History(2) = %v, want k0s 25s (median of the newest two deployments)", got)
	}
}
