package state

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

func TestStore_WritesNeedTheLock(t *testing.T) {
	s := NewStore(t.TempDir())
	if _, err := s.CreateRun(Header{}); !errors.Is(err, ErrNotLocked) {
		t.Errorf("CreateRun without lock = %v, want ErrNotLocked", err)
	}
	if _, err := s.OpenRun("20261125-100000-0001"); !errors.Is(err, ErrNotLocked) {
		t.Errorf("OpenRun without lock = %v, want ErrNotLocked", err)
	}
	if _, _, err := s.StartFresh(Header{}); !errors.Is(err, ErrNotLocked) {
		t.Errorf("StartFresh without lock = %v, want ErrNotLocked", err)
	}
	l, _, err := s.Lock(CurrentHolder("test"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateRun(Header{})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	l.Unlock()
	if _, err := s.OpenRun(r.ID()); !errors.Is(err, ErrNotLocked) {
		t.Errorf("OpenRun after Unlock = %v, want ErrNotLocked", err)
	}
}

func TestStore_CreateRun(t *testing.T) {
	s := lockedStore(t)
	var prev string
	for i := 0; i < 20; i++ { // many in one second: ids still increase
		r, err := s.CreateRun(Header{})
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		if !ValidRunID(r.ID()) || r.ID() <= prev {
			t.Fatalf("run %d id %q, previous %q: want a valid, increasing id", i, r.ID(), prev)
		}
		prev = r.ID()
		if r.Header().Created.IsZero() || r.Header().Format != FormatVersion {
			t.Errorf("header not filled in: %+v", r.Header())
		}
	}
	if _, err := s.CreateRun(Header{RunID: prev}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("CreateRun of an existing id = %v, want already exists", err)
	}
	for _, h := range []Header{{RunID: "bad"}, {ParentRunID: "../x"}} {
		if _, err := s.CreateRun(h); err == nil {
			t.Errorf("CreateRun(%+v) = nil error", h)
		}
	}
	if _, err := s.Load("../../etc/passwd"); err == nil {
		t.Error("Load of a path accepted")
	}
	if _, err := s.Load("20990101-000000-0000"); !errors.Is(err, ErrNotFound) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load missing = %v, want ErrNotFound", err)
	}
}

func TestRunID(t *testing.T) {
	id := NewRunID(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)))
	if !strings.HasPrefix(id, "20260102-020405-") || !ValidRunID(id) {
		t.Errorf("NewRunID = %q, want 20260102-020405-xxxx in UTC", id)
	}
	tm, err := RunIDTime(id)
	if err != nil || !tm.Equal(time.Date(2026, 1, 2, 2, 4, 5, 0, time.UTC)) {
		t.Errorf("RunIDTime = %v, %v", tm, err)
	}
	for _, bad := range []string{"", "20260102-020405-ABCD", "20261302-020405-abcd", "20260102T020405-abcd", "20260102-020405-abc", "2026010x-020405-abcd"} {
		if ValidRunID(bad) {
			t.Errorf("ValidRunID(%q) = true", bad)
		}
	}
	if _, err := RunIDTime("x"); err == nil {
		t.Error("RunIDTime(x) = nil error")
	}
}

func TestRun_RecordRefusesIllegalTransitions(t *testing.T) {
	s := lockedStore(t)
	r := writeRun(t, s, "20261125-100000-0001", happyEvents()[:2], "")
	defer r.Close()
	sizeBefore := r.rf.Size
	tests := []struct {
		name string
		ev   workflow.Event
	}{
		{"SucceedWithoutRunning", ev(5, "terraform", workflow.Pending, workflow.Succeeded)},
		{"WrongFrom", ev(5, "wireguard", workflow.Running, workflow.Succeeded)},
		{"BackToPending", ev(5, "wireguard", workflow.Succeeded, workflow.Pending)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Record(tt.ev)
			var te *TransitionError
			if !errors.As(err, &te) || te.Node != tt.ev.Node || te.Record != 3 || te.File != r.Path() {
				t.Fatalf("Record = %v, want *TransitionError for node %s record 3", err, tt.ev.Node)
			}
		})
	}
	for _, bad := range []workflow.Event{{Node: "", From: workflow.Pending, To: workflow.Running}, {Node: "x", From: "nope", To: workflow.Running}} {
		if err := r.Record(bad); err == nil || !strings.Contains(err.Error(), "refusing record 3") {
			t.Errorf("Record(%+v) = %v, want a refusal", bad, err)
		}
	}
	if fi, _ := os.Stat(r.Path()); fi.Size() != sizeBefore {
		t.Errorf("refused records changed the file: %d bytes, want %d", fi.Size(), sizeBefore)
	}
	if err := r.Record(ev(5, "wireguard", workflow.Succeeded, workflow.Succeeded)); err != nil {
		t.Errorf("reuse succeeded->succeeded: %v", err)
	}
}

func TestRun_RecordRefusesSecrets(t *testing.T) {
	s := lockedStore(t)
	r := writeRun(t, s, "20261125-100000-0001", nil, "")
	defer r.Close()
	tests := []struct {
		name    string
		node    string
		outputs map[string]string
	}{
		{"PEM", "k0s", map[string]string{"key": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"}},
		{"OpenSSH", "k0s", map[string]string{"ssh": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n"}},
		{"Kubeconfig", "k0s", map[string]string{"kubeconfig": "users:\n- name: admin\n  user:\n    client-key-data: LS0tLS1CRUdJTi\n"}},
		{"PrivateKeyNamed", "wireguard", map[string]string{"hub_private_key": "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="}},
		{"Password", "azure-children", map[string]string{"client_password": "hunter2"}},
		{"PeersWithPrivateKey", "wireguard", map[string]string{"peers": `[{"name":"hub","address":"10.8.0.1","public_key":"x","private_key":"y"}]`}},
		{"WgQuickConfig", "vpn", map[string]string{"config": "[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"}},
		{"PeersNotJSON", "wireguard", map[string]string{"peers": "hub,vm-1"}},
		{"VPNStatusUnknown", "vpn", map[string]string{"status": "up"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := ev(1, tt.node, workflow.Pending, workflow.Running)
			if cur, ok := r.rf.Nodes[tt.node]; ok {
				start.From = cur.State
			}
			if err := r.Record(start); err != nil {
				t.Fatal(err)
			}
			done := ev(2, tt.node, workflow.Running, workflow.Succeeded)
			done.Outputs = tt.outputs
			if err := r.Record(done); err == nil {
				t.Fatalf("Record accepted outputs %v", tt.outputs)
			}
			if err := r.Record(ev(3, tt.node, workflow.Running, workflow.Failed)); err != nil {
				t.Fatal(err)
			}
		})
	}
	ok := ev(9, "k0s", workflow.Failed, workflow.Running)
	if err := r.Record(ok); err != nil {
		t.Fatal(err)
	}
	ok = ev(10, "k0s", workflow.Running, workflow.Succeeded)
	ok.Outputs = map[string]string{"kubeconfig": "/state/secrets/kubeconfig", "private_key_path": "/state/secrets/ssh/id", "token_file": "/state/secrets/t"}
	if err := r.Record(ok); err != nil {
		t.Errorf("paths to secrets refused: %v", err)
	}
}

func TestRun_ReplayForResume(t *testing.T) {
	s := lockedStore(t)
	const id = "20261125-100000-0001"
	evs := happyEvents()[:7] // wireguard, terraform, vpn succeeded; k0s running
	r := writeRun(t, s, id, evs, "")
	if err := r.Record(workflow.Event{Time: at(20), Node: "k0s", From: workflow.Running, To: workflow.Failed, Attempt: 1, Error: "ssh: connect timeout", Duration: 7 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := r.Record(workflow.Event{Time: at(20), Node: "k0rdent", From: workflow.Pending, To: workflow.Blocked, Reason: "dependency k0s failed"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(OutcomeFailed, "k0s failed"); err != nil {
		t.Fatal(err)
	}
	r.Close()

	r, err := s.OpenRun(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	nodes := r.Nodes()
	want := map[string]workflow.State{"wireguard": workflow.Succeeded, "terraform": workflow.Succeeded, "vpn": workflow.Succeeded, "k0s": workflow.Failed, "k0rdent": workflow.Blocked}
	if len(nodes) != len(want) {
		t.Errorf("nodes = %v, want %v", nodes, want)
	}
	for n, st := range want {
		if got := nodes[n].State; got != st {
			t.Errorf("node %s state %s, want %s", n, got, st)
		}
	}
	if got := nodes["terraform"]; got.RunID != id || got.Outputs["resource_group"] != "rg-k0rdent-ab12" {
		t.Errorf("terraform status %+v: want RunID %s and outputs", got, id)
	}
	if got := nodes["k0s"]; got.RunID != "" || got.Error != "ssh: connect timeout" || got.Outputs != nil {
		t.Errorf("k0s status %+v", got)
	}
	// Resume: attempt 2 with new flags, re-run k0s, succeed.
	if err := r.Resumed(map[string]bool{"with_kof": true}, 2); err != nil {
		t.Fatal(err)
	}
	rf, _ := s.Load(id)
	if rf.Outcome != OutcomeNone || rf.Attempt != 2 || !rf.Flags["with_kof"] {
		t.Errorf("after resumed: outcome %q attempt %d flags %v", rf.Outcome, rf.Attempt, rf.Flags)
	}
	for _, e := range []workflow.Event{
		ev(30, "k0s", workflow.Failed, workflow.Running),
		{Time: at(50), Node: "k0s", From: workflow.Running, To: workflow.Succeeded, Attempt: 2, Duration: 20 * time.Second, Outputs: map[string]string{"kubeconfig": "/s/kc"}},
		ev(51, "wireguard", workflow.Succeeded, workflow.Succeeded),
	} {
		if err := r.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Finish(OutcomeSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	if r.Attempt() != 2 || !r.Flags()["with_kof"] {
		t.Errorf("Attempt %d Flags %v", r.Attempt(), r.Flags())
	}
	rf, _ = s.Load(id)
	if rf.Outcome != OutcomeSucceeded || !rf.Succeeded() || len(rf.FailedNodes()) != 0 {
		t.Errorf("outcome %q failed %v", rf.Outcome, rf.FailedNodes())
	}
	// Timeline for `runs show`.
	tl := rf.Timeline()
	var names []string
	for _, n := range tl {
		names = append(names, n.Node)
	}
	if got := strings.Join(names, ","); got != "wireguard,terraform,vpn,k0s,k0rdent" {
		t.Errorf("timeline order %s", got)
	}
	for _, n := range tl {
		if n.Node != "k0s" {
			continue
		}
		if n.Attempts != 2 || !n.Started.Equal(at(13)) || !n.Finished.Equal(at(50)) || n.Duration != 27*time.Second || n.State != workflow.Succeeded {
			t.Errorf("k0s timeline %+v", n)
		}
	}
}

func TestRun_AppendAfterCloseAndSupersede(t *testing.T) {
	s := lockedStore(t)
	r := writeRun(t, s, "20261125-100000-0001", nil, "")
	if err := r.Supersede("20261125-100001-0001"); err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(OutcomeFailed, ""); err == nil || !strings.Contains(err.Error(), "superseded") {
		t.Errorf("append after superseded = %v", err)
	}
	r.Close()
	if err := r.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := r.Finish(OutcomeFailed, ""); err == nil {
		t.Error("append after Close accepted")
	}
	if _, err := s.OpenRun(r.ID()); err == nil || !strings.Contains(err.Error(), "superseded by run 20261125-100001-0001") {
		t.Errorf("OpenRun of a superseded run = %v", err)
	}
}

func TestStore_StartFresh(t *testing.T) {
	s := lockedStore(t)
	// Nothing current: a plain new run.
	a, parent, err := s.StartFresh(Header{})
	if err != nil || parent != "" || a.Header().ParentRunID != "" {
		t.Fatalf("StartFresh on empty store: parent %q err %v", parent, err)
	}
	a.Record(ev(1, "wireguard", workflow.Pending, workflow.Running))
	a.Close() // unfinished: the process "died"

	b, parent, err := s.StartFresh(Header{})
	if err != nil {
		t.Fatal(err)
	}
	if parent != a.ID() || b.Header().ParentRunID != a.ID() {
		t.Errorf("parent = %q, header parent %q, want %s", parent, b.Header().ParentRunID, a.ID())
	}
	old, err := s.Load(a.ID())
	if err != nil || old.Outcome != OutcomeSuperseded || old.SupersededBy != b.ID() {
		t.Fatalf("old run: outcome %q by %q err %v", old.Outcome, old.SupersededBy, err)
	}
	rt, err := s.ReadRuntime()
	if err != nil || rt.CurrentRunID != b.ID() {
		t.Fatalf("runtime current %v, want %s (%v)", rt, b.ID(), err)
	}
	if err := b.Finish(OutcomeSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	b.Close()
	// Current run succeeded: nothing to supersede.
	c, parent, err := s.StartFresh(Header{})
	if err != nil || parent != "" {
		t.Fatalf("after success: parent %q err %v", parent, err)
	}
	c.Close()
	infos, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]RunInfo{}
	for _, in := range infos {
		got[in.ID] = in
	}
	if in := got[a.ID()]; in.Outcome != OutcomeSuperseded || in.SupersededBy != b.ID() {
		t.Errorf("listed old run %+v", in)
	}
	if in := got[b.ID()]; in.ParentRunID != a.ID() || in.Outcome != OutcomeSucceeded {
		t.Errorf("listed new run %+v", in)
	}
	// Nothing deleted.
	for _, id := range []string{a.ID(), b.ID(), c.ID()} {
		if _, err := os.Stat(s.LocalBackend().RunPath(id)); err != nil {
			t.Error(err)
		}
	}
}

func TestRun_LogSink(t *testing.T) {
	s := lockedStore(t)
	r := writeRun(t, s, "20261125-100000-0001", nil, "")
	defer r.Close()
	sink := r.LogSink()
	for attempt := 1; attempt <= 2; attempt++ {
		for _, node := range []string{"k0s", "azure-children/eu"} {
			w, err := sink(node, attempt)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(w, "line from attempt\n")
			w.Close()
		}
	}
	for _, rel := range []string{"k0s.log", "azure-children/eu.log"} {
		path := filepath.Join(s.LocalBackend().LogDir(r.ID()), rel)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(data), "line from attempt\n"); got != 2 {
			t.Errorf("%s: %d lines, want 2 (appended)", rel, got)
		}
		if !strings.Contains(string(data), "attempt 1") || !strings.Contains(string(data), "attempt 2") {
			t.Errorf("%s lacks attempt separators:\n%s", rel, data)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", rel, fi.Mode().Perm())
		}
	}
	for _, bad := range []string{"../x", "/etc/x", "a//b", ""} {
		if _, err := sink(bad, 1); err == nil {
			t.Errorf("sink(%q) accepted", bad)
		}
	}
}
