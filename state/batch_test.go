package state

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TestOpenRun_TornBatchAtEveryByte is the torn-tail test for a group
// commit: the last write is a batch of several documents; a crash may cut
// it anywhere. Whole documents before the cut are kept, a torn one is cut
// off (with a .broken copy), and the run can be appended to after repair.
func TestOpenRun_TornBatchAtEveryByte(t *testing.T) {
	t.Parallel() // its own store
	s := lockedStore(t)
	const id = "20261125-100000-0001"
	evs := happyEvents()
	const inBatch = 4
	r := writeRun(t, s, id, evs[:len(evs)-inBatch], "")
	before, err := os.ReadFile(s.LocalBackend().RunPath(id))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RecordBatch(evs[len(evs)-inBatch:]); err != nil {
		t.Fatalf("RecordBatch: %v", err)
	}
	r.Close()
	full, err := os.ReadFile(s.LocalBackend().RunPath(id))
	if err != nil {
		t.Fatal(err)
	}
	offs := docOffsets(full)
	batchStart := len(before)
	if offs[len(offs)-inBatch] != batchStart {
		t.Fatalf("the batch does not start where the file ended before it: %d, want %d", offs[len(offs)-inBatch], batchStart)
	}
	kept := len(evs) - inBatch
	path := s.LocalBackend().RunPath(id)
	for cut := batchStart; cut <= len(full); cut++ {
		if err := os.WriteFile(path, full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		whole := 0 // documents of the batch wholly before the cut
		for _, o := range offs[len(offs)-inBatch:] {
			if o < cut {
				whole++
			}
		}
		boundary := cut == len(full) || slices.Contains(offs, cut)
		if !boundary {
			whole-- // the last one started is torn
		}
		rf, err := s.Load(id)
		if err != nil || rf.Err != nil {
			t.Fatalf("cut %d: Load: %v / %v", cut, err, rf.Err)
		}
		if got, want := len(rf.Records), kept+whole; got != want {
			t.Fatalf("cut %d: %d records, want %d", cut, got, want)
		}
		if rf.Torn != !boundary {
			t.Fatalf("cut %d: Torn = %v, want %v", cut, rf.Torn, !boundary)
		}
		run, err := s.OpenRun(id)
		if err != nil {
			t.Fatalf("cut %d: OpenRun: %v", cut, err)
		}
		if !boundary {
			broken, err := os.ReadFile(path + ".broken")
			if err != nil || !bytes.Equal(broken, full[:cut]) {
				t.Fatalf("cut %d: .broken copy missing or different: %v", cut, err)
			}
		}
		if err := run.Finish(OutcomeFailed, "again"); err != nil {
			t.Fatalf("cut %d: append after repair: %v", cut, err)
		}
		run.Close()
		rf, err = s.Load(id)
		if err != nil || rf.Err != nil || rf.Torn || len(rf.Records) != kept+whole+1 || rf.Outcome != OutcomeFailed {
			t.Fatalf("cut %d: after repair+append: err %v/%v torn %v records %d outcome %q", cut, err, rf.Err, rf.Torn, len(rf.Records), rf.Outcome)
		}
		os.Remove(path + ".broken")
	}
}

// TestRun_RecordBatch: a batch gets contiguous sequence numbers, is checked
// record by record against what the records before it leave (a node may
// move twice in one batch), and a refused record leaves the ones before
// it written and the ones after it not.
func TestRun_RecordBatch(t *testing.T) {
	s := lockedStore(t)
	r := writeRun(t, s, "20261125-100000-0001", nil, "")
	defer r.Close()
	err := r.RecordBatch([]workflow.Event{
		ev(1, "a", workflow.Pending, workflow.Running),
		ev(2, "b", workflow.Pending, workflow.Running),
		ev(3, "a", workflow.Running, workflow.Cancelled),
		ev(4, "a", workflow.Cancelled, workflow.Running),
	})
	if err != nil {
		t.Fatalf("RecordBatch: %v", err)
	}
	err = r.RecordBatch([]workflow.Event{
		ev(5, "b", workflow.Running, workflow.Succeeded),
		ev(6, "a", workflow.Pending, workflow.Succeeded), // a is running
		ev(7, "c", workflow.Pending, workflow.Running),
	})
	var te *TransitionError
	if !errors.As(err, &te) || te.Node != "a" || te.Record != 6 {
		t.Fatalf("RecordBatch error = %v, want a *TransitionError for a at record 6", err)
	}
	rf, err := s.Load(r.ID())
	if err != nil || rf.Err != nil {
		t.Fatal(err, rf.Err)
	}
	var got []uint64
	for _, rec := range rf.Records {
		got = append(got, rec.Seq)
	}
	if want := []uint64{1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("seqs on disk = %v, want %v (the record before the refused one written, none after)", got, want)
	}
	if st := rf.Nodes["b"].State; st != workflow.Succeeded {
		t.Errorf("b is %s, want succeeded", st)
	}
	if _, ok := rf.Nodes["c"]; ok {
		t.Errorf("c was written after a refused record")
	}
	if n := r.Nodes(); n["a"].State != workflow.Running || n["b"].State != workflow.Succeeded {
		t.Errorf("replayed in memory: a %s, b %s; want running, succeeded", n["a"].State, n["b"].State)
	}
}

// TestRun_StageSync: Stage checks and refuses at once and writes nothing;
// what is staged is checked against what is staged before it, gets
// contiguous sequence numbers and reaches the file only with Sync, all in
// one write; staging goes on while a Sync writes (Stage does not wait for
// it), and what was staged during a Sync is written by the next one.
func TestRun_StageSync(t *testing.T) {
	s := lockedStore(t)
	r := writeRun(t, s, "20261125-100000-0001", nil, "")
	defer r.Close()
	size := func() int64 {
		fi, err := os.Stat(r.Path())
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	for _, e := range []workflow.Event{
		ev(1, "a", workflow.Pending, workflow.Running),
		ev(2, "b", workflow.Pending, workflow.Running),
		ev(3, "a", workflow.Running, workflow.Succeeded),
	} {
		if err := r.Stage(e); err != nil {
			t.Fatalf("Stage %s -> %s: %v", e.Node, e.To, err)
		}
	}
	// Checked against what is staged: a is succeeded there, not pending.
	var te *TransitionError
	if err := r.Stage(ev(4, "a", workflow.Pending, workflow.Running)); !errors.As(err, &te) || te.Record != 4 {
		t.Fatalf("Stage of a stale transition = %v, want a *TransitionError at record 4", err)
	}
	secret := ev(4, "b", workflow.Running, workflow.Succeeded)
	secret.Outputs = map[string]string{"hub_private_key": "c2VjcmV0"}
	var re *workflow.RefusedError
	if err := r.Stage(secret); !errors.As(err, &re) || re.Field != workflow.RefusedOutputs {
		t.Fatalf("Stage of a secret output = %v, want a *workflow.RefusedError of the outputs", err)
	}
	if got := size(); got != before {
		t.Fatalf("the run file grew from %d to %d bytes before Sync", before, got)
	}
	if st := r.Nodes()["a"].State; st != "" {
		t.Errorf("a is %s in the replayed run before Sync, want absent (staged is not durable)", st)
	}
	// A Sync in progress (held here by wmu, as during its write and
	// fsync) does not stop staging.
	r.wmu.Lock()
	staged := make(chan error, 1)
	go func() { staged <- r.Stage(ev(4, "b", workflow.Running, workflow.Succeeded)) }()
	select {
	case err := <-staged:
		if err != nil {
			t.Fatalf("Stage while a Sync writes: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stage waited for the Sync in progress")
	}
	r.wmu.Unlock()
	if err := r.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	rf, err := s.Load(r.ID())
	if err != nil || rf.Err != nil {
		t.Fatal(err, rf.Err)
	}
	var got []uint64
	for _, rec := range rf.Records {
		got = append(got, rec.Seq)
	}
	if want := []uint64{1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("seqs on disk = %v, want %v", got, want)
	}
	if a, b := rf.Nodes["a"].State, rf.Nodes["b"].State; a != workflow.Succeeded || b != workflow.Succeeded {
		t.Errorf("a %s, b %s on disk; want succeeded, succeeded", a, b)
	}
	if err := r.Sync(); err != nil || size() != rf.Size {
		t.Errorf("an empty Sync = %v and the file is %d bytes, want nil and %d (nothing written)", err, size(), rf.Size)
	}
}
