package state

import (
	"errors"
	"os"
	"reflect"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

func TestStore_Paths(t *testing.T) {
	s := NewStore("/st")
	got := []string{s.LocalBackend().Root(), s.LocalBackend().RunsDir(), s.LocalBackend().SecretsPath(), s.LocalBackend().LegacyDir(), s.LocalBackend().TerraformDir(), s.LocalBackend().RuntimePath(), s.LocalBackend().LockPath(), s.LocalBackend().RunPath("x"), s.LocalBackend().LogDir("x"), s.LocalBackend().LogPath("x", "a/b")}
	want := []string{"/st", "/st/runs", "/st/secrets", "/st/legacy", "/st/terraform", "/st/runtime.yaml", "/st/lock", "/st/runs/x.yaml", "/st/runs/x", "/st/runs/x/a/b.log"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("paths %v, want %v", got, want)
	}
}

func TestRecord_Event(t *testing.T) {
	s := lockedStore(t)
	r := writeRun(t, s, "20261125-100000-0001", happyEvents(), "")
	r.Close()
	rf, _ := s.Load(r.ID())
	if rf.File() != s.LocalBackend().RunPath(r.ID()) {
		t.Errorf("File() = %s", rf.File())
	}
	for i, want := range happyEvents() {
		got := rf.Records[i].Event()
		want.Seq = uint64(i + 1)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("record %d: event %+v, want %+v", i+1, got, want)
		}
	}
}

func TestDecode_ReaderError(t *testing.T) {
	if _, err := Decode(iotest.ErrReader(errors.New("boom"))); err == nil {
		t.Error("Decode of a failing reader = nil error")
	}
}

// TestRun_ConcurrentUse: the scheduler records from one goroutine, but
// status readers and log writers run beside it (run with -race).
func TestRun_ConcurrentUse(t *testing.T) {
	s := lockedStore(t)
	r := writeRun(t, s, "20261125-100000-0001", nil, "")
	defer r.Close()
	sink := r.LogSink()
	var wg sync.WaitGroup
	for _, node := range []string{"a", "b", "c", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Record(workflow.Event{Node: node, From: workflow.Pending, To: workflow.Running, Attempt: 1}); err != nil {
				t.Error(err)
			}
			w, err := sink(node, 1)
			if err == nil {
				w.Write([]byte("x\n"))
				w.Close()
			}
			_ = r.Nodes()
			_ = r.Flags()
			if err := r.Record(workflow.Event{Node: node, From: workflow.Running, To: workflow.Succeeded, Attempt: 1}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rf, _ := s.Load(r.ID())
	if rf.Err != nil || len(rf.Records) != 8 {
		t.Fatalf("after concurrent records: err %v, %d records", rf.Err, len(rf.Records))
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		if rf.Nodes[n].State != workflow.Succeeded {
			t.Errorf("node %s %s", n, rf.Nodes[n].State)
		}
	}
}

func TestStore_StartFreshOverCorruptRun(t *testing.T) {
	s := lockedStore(t)
	old := writeRun(t, s, "20261125-100000-0001", happyEvents()[:4], "")
	old.Close()
	data, _ := os.ReadFile(old.Path())
	data[len(data)/3] ^= 1
	os.WriteFile(old.Path(), data, 0o644)
	r, parent, err := s.StartFresh(Header{})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if parent != old.ID() || r.Header().ParentRunID != old.ID() {
		t.Errorf("parent %q, want %s", parent, old.ID())
	}
	if after, _ := os.ReadFile(old.Path()); string(after) != string(data) {
		t.Error("a corrupt run was appended to")
	}
}

func TestLock_SetRunID(t *testing.T) {
	s := NewStore(t.TempDir())
	l, _, err := s.Lock(CurrentHolder("k0rdent run"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if err := l.SetRunID("20261125-100000-0001"); err != nil {
		t.Fatal(err)
	}
	h, err := s.ReadHolder()
	if err != nil || h == nil || !reflect.DeepEqual(*h, l.Holder()) || h.RunID != "20261125-100000-0001" || h.PID != os.Getpid() {
		t.Errorf("holder on disk %+v, lock says %+v (%v)", h, l.Holder(), err)
	}
}

// TestRuntime_LiveWithoutRuntimeFile: a run created after runtime.yaml was
// deleted starts from the fold of the run files, so live still equals
// rebuilt.
func TestRuntime_LiveWithoutRuntimeFile(t *testing.T) {
	s := lockedStore(t)
	writeRun(t, s, "20261125-100000-0001", happyEvents(), OutcomeSucceeded).Close()
	os.Remove(s.LocalBackend().RuntimePath())
	r, err := s.CreateRun(testHeader("20261125-110000-0001"))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	live, _ := s.ReadRuntime()
	if live.Kubeconfig != "/state/secrets/kubeconfig" || live.LastSuccessfulRun != "20261125-100000-0001" {
		t.Errorf("live runtime lost earlier facts: %+v", live)
	}
	rebuilt, err := s.RebuildRuntime()
	if err != nil || !reflect.DeepEqual(live, rebuilt) {
		t.Errorf("live %+v\nrebuilt %+v (%v)", live, rebuilt, err)
	}
}
