package deploy

import (
	"errors"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// recorder is the workflow.Recorder of a run, with the group commit
// (workflow.GroupRecorder): the scheduler stages each event in the run
// file (state.Run.Stage: checked, refused at once) and its journal writer
// makes what is staged durable with one write and one fsync (Sync, which
// rewrites runtime.yaml only after a node that projects into it); an
// event is shown once it is durable. It tracks the running nodes so that a
// second interrupt can journal them cancelled before the process exits.
type recorder struct {
	run    *state.Run
	show   func(workflow.Event)
	now    func() time.Time
	killAt int // K0RDENT_TEST_KILL_AT; 0 means never

	syncMu sync.Mutex // one Sync at a time; taken before mu

	mu      sync.Mutex // guards the fields below; held across Record's durable write, not Sync's
	staged  []staged   // staged in the run, not known durable yet, in order
	running map[string]workflow.Event
	groups  map[string][]workflow.ProcessGroup // of the running attempts, by node
	count   int
	closed  bool
}

// staged is an event or a process group staged and not yet known durable.
type staged struct {
	ev workflow.Event
	pg *workflow.ProcessGroup
}

var (
	_ workflow.GroupRecorder   = (*recorder)(nil)
	_ workflow.ProcessStager   = (*recorder)(nil)
	_ workflow.ProcessRecorder = (*recorder)(nil)
)

var errJournalClosed = errors.New("journal closed: the run was interrupted twice")

// KillAtEnv makes the recorder kill -9 its own process right after the
// n-th durable transition record. It exists for the crash-safety tests.
const KillAtEnv = "K0RDENT_TEST_KILL_AT"

func newRecorder(run *state.Run, show func(workflow.Event), now func() time.Time) (*recorder, error) {
	if show == nil {
		show = func(workflow.Event) {}
	}
	rec := &recorder{run: run, show: show, now: now, running: map[string]workflow.Event{}}
	if v := os.Getenv(KillAtEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, usagef("%s=%q: want a record number from 1", KillAtEnv, v)
		}
		rec.killAt = n
	}
	return rec, nil
}

// RecordProcessGroup journals a process group a running phase started
// (workflow.ProcessRecorder) and keeps it until the node's attempt ends,
// so that a second interrupt can end it before the process exits.
func (r *recorder) RecordProcessGroup(pg workflow.ProcessGroup) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errJournalClosed
	}
	if err := r.run.RecordProcessGroup(pg); err != nil {
		return err
	}
	r.durableNow() // written before pg, with it
	r.durable(staged{pg: &pg})
	return nil
}

func (r *recorder) Record(ev workflow.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errJournalClosed
	}
	if err := r.run.Record(ev); err != nil {
		return err
	}
	r.durableNow()
	r.durable(staged{ev: ev})
	return nil
}

// Stage stages ev in the run file (workflow.GroupRecorder): checked and
// refused at once, written by the next Sync.
func (r *recorder) Stage(ev workflow.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errJournalClosed
	}
	if err := r.run.Stage(ev); err != nil {
		return err
	}
	r.staged = append(r.staged, staged{ev: ev})
	return nil
}

// StageProcessGroup stages the record of a process group
// (workflow.ProcessStager).
func (r *recorder) StageProcessGroup(pg workflow.ProcessGroup) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errJournalClosed
	}
	if err := r.run.StageProcessGroup(pg); err != nil {
		return err
	}
	r.staged = append(r.staged, staged{pg: &pg})
	return nil
}

// Sync makes everything staged durable (state.Run.Sync: one write, one
// fsync), without holding mu across the write so that staging goes on,
// then shows and tracks what became durable.
func (r *recorder) Sync() error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	r.mu.Lock()
	k, closed := len(r.staged), r.closed
	r.mu.Unlock()
	if closed {
		return errJournalClosed
	}
	if err := r.run.Sync(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed { // abort took what was staged, and wrote it
		return errJournalClosed
	}
	for _, st := range r.staged[:k] {
		r.durable(st)
	}
	r.staged = slices.Delete(r.staged, 0, k)
	return nil
}

// durableNow takes everything staged as durable: an append writes what
// is staged before its own record. mu held.
func (r *recorder) durableNow() {
	for _, st := range r.staged {
		r.durable(st)
	}
	r.staged = r.staged[:0]
}

// durable tracks and shows what became durable, and is where
// K0RDENT_TEST_KILL_AT kills. mu held.
func (r *recorder) durable(st staged) {
	r.count++
	if r.killAt > 0 && r.count == r.killAt {
		killSelf()
	}
	if pg := st.pg; pg != nil {
		if r.groups == nil {
			r.groups = map[string][]workflow.ProcessGroup{}
		}
		r.groups[pg.Node] = append(r.groups[pg.Node], *pg)
		return
	}
	ev := st.ev
	if ev.To == workflow.Running {
		r.running[ev.Node] = ev
	} else {
		delete(r.running, ev.Node)
		delete(r.groups, ev.Node)
	}
	r.show(ev)
}

// abort journals every running node cancelled and the run outcome
// cancelled, then refuses further records. It is the flush of a second
// interrupt; the caller exits right after.
func (r *recorder) abort(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	// What is staged is written before the records below: track it.
	r.durableNow()
	// The processes go first: the leaders die with this process
	// (Pdeathsig), what they forked would not.
	var groups []workflow.ProcessGroup
	for _, n := range slices.Sorted(maps.Keys(r.groups)) {
		groups = append(groups, r.groups[n]...)
	}
	phases.EndProcessGroups(groups, 0)
	now := r.now()
	for _, n := range slices.Sorted(maps.Keys(r.running)) {
		started := r.running[n]
		ev := workflow.Event{Time: now, Node: n, From: workflow.Running, To: workflow.Cancelled,
			Attempt: started.Attempt, Reason: reason, Duration: now.Sub(started.Time)}
		if r.run.Record(ev) == nil {
			r.show(ev)
		}
	}
	_ = r.run.Finish(state.OutcomeCancelled, reason)
}

func (r *recorder) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}
