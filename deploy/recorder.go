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

// recorder is the workflow.Recorder of a run: it makes each event durable
// in the run file (state.Run.Record, which rewrites runtime.yaml only
// after a node that projects into it), then shows the event. It tracks the running nodes so that a second interrupt can
// journal them cancelled before the process exits.
type recorder struct {
	run    *state.Run
	show   func(workflow.Event)
	now    func() time.Time
	killAt int // K0RDENT_TEST_KILL_AT; 0 means never

	mu      sync.Mutex // guards the fields below; held across each durable write
	running map[string]workflow.Event
	groups  map[string][]workflow.ProcessGroup // of the running attempts, by node
	count   int
	closed  bool
}

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
		return errors.New("journal closed: the run was interrupted twice")
	}
	if err := r.run.RecordProcessGroup(pg); err != nil {
		return err
	}
	r.count++
	if r.killAt > 0 && r.count == r.killAt {
		killSelf()
	}
	if r.groups == nil {
		r.groups = map[string][]workflow.ProcessGroup{}
	}
	r.groups[pg.Node] = append(r.groups[pg.Node], pg)
	return nil
}

func (r *recorder) Record(ev workflow.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("journal closed: the run was interrupted twice")
	}
	if err := r.run.Record(ev); err != nil {
		return err
	}
	r.count++
	if r.killAt > 0 && r.count == r.killAt {
		killSelf()
	}
	if ev.To == workflow.Running {
		r.running[ev.Node] = ev
	} else {
		delete(r.running, ev.Node)
		delete(r.groups, ev.Node)
	}
	r.show(ev)
	return nil
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
