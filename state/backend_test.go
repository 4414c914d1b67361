package state_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/state/backendtest"
	"github.com/k0rdent/k0rdent-deploy/workflow"
	"gopkg.in/yaml.v3"
)

// TestLocalBackend_Contract runs the backend contract suite on the local
// state directory.
func TestLocalBackend_Contract(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		root := t.TempDir() + "/state"
		return backendtest.Harness{
			Open: func() state.Backend { return state.NewLocalBackend(root) },
			// A dead holder: its flock is gone (the OS released it), its
			// holder record is still in the lock file.
			Abandon: func(t *testing.T, l state.Lease) {
				data, err := yaml.Marshal(l.Holder())
				if err != nil {
					t.Fatal(err)
				}
				if err := l.Unlock(t.Context()); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(state.NewLocalBackend(root).LockPath(), data, 0o644); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}

// failingSave is the local backend whose SaveSecrets fails (a fake of a
// remote store that cannot be reached), counting the calls.
type failingSave struct {
	*state.LocalBackend
	calls int
	err   error
}

func (f *failingSave) SaveSecrets(context.Context) error { f.calls++; return f.err }

// TestRun_SuccessWaitsForSecrets: a node's success is journalled only
// after the store kept the secrets it wrote (Backend.SaveSecrets); when
// they cannot be kept, the record is refused and nothing is written.
func TestRun_SuccessWaitsForSecrets(t *testing.T) {
	b := &failingSave{LocalBackend: state.NewLocalBackend(t.TempDir())}
	s := state.OpenStore(b)
	lock, _, err := s.Lock(state.CurrentHolder("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	run, err := s.CreateRun(state.Header{Nodes: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	now := time.Now()
	if err := run.Record(workflow.Event{Node: "a", From: workflow.Pending, To: workflow.Running, Attempt: 1, Time: now}); err != nil {
		t.Fatal(err)
	}
	if b.calls != 0 {
		t.Errorf("SaveSecrets called %d times before any success", b.calls)
	}
	if err := run.Record(workflow.Event{Node: "a", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Time: now}); err != nil {
		t.Fatal(err)
	}
	if b.calls != 1 {
		t.Errorf("SaveSecrets called %d times for one success, want 1", b.calls)
	}
	b.err = errors.New("store unreachable")
	err = run.RecordBatch([]workflow.Event{
		{Node: "b", From: workflow.Pending, To: workflow.Running, Attempt: 1, Time: now},
		{Node: "b", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Time: now},
	})
	if err == nil || !strings.Contains(err.Error(), "store unreachable") || !strings.Contains(err.Error(), "node b") {
		t.Errorf("RecordBatch with secrets not kept: %v", err)
	}
	rf, err := s.Load(run.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(rf.Records) != 2 || rf.Nodes["a"].State != workflow.Succeeded {
		t.Errorf("journal has %d records (a %s); want a's two and none of b's", len(rf.Records), rf.Nodes["a"].State)
	}
	if _, ok := rf.Nodes["b"]; ok && rf.Nodes["b"].State != workflow.Pending {
		t.Errorf("node b is %s in the journal; want nothing recorded", rf.Nodes["b"].State)
	}
}
