package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakePhase is a phase whose every capability is a function field. A nil
// run succeeds; the optional capabilities are exposed through wrappers so
// that a fakePhase alone implements only Phase.
type fakePhase struct {
	name     string
	deps     []string
	run      func(ctx context.Context, env *Env) error
	enabled  func() (bool, string)
	checks   []Check
	verify   func(ctx context.Context, env *Env) error
	volatile bool
	describe []string
	policy   Policy
	destroy  func(ctx context.Context, env *Env) error
}

func (p *fakePhase) Name() string        { return p.name }
func (p *fakePhase) DependsOn() []string { return p.deps }
func (p *fakePhase) Run(ctx context.Context, env *Env) error {
	if p.run == nil {
		return nil
	}
	return p.run(ctx, env)
}

// fullPhase adds every optional capability to a fakePhase; unset function
// fields behave as "enabled", "verified" and "destroyed".
type fullPhase struct{ *fakePhase }

var (
	_ Enabler        = fullPhase{}
	_ Preconditioner = fullPhase{}
	_ Verifier       = fullPhase{}
	_ Volatiler      = fullPhase{}
	_ Describer      = fullPhase{}
	_ Policer        = fullPhase{}
	_ Destroyer      = fullPhase{}
)

func (p fullPhase) Enabled() (bool, string) {
	if p.enabled == nil {
		return true, ""
	}
	return p.enabled()
}
func (p fullPhase) Preconditions() []Check { return p.checks }
func (p fullPhase) Verify(ctx context.Context, env *Env) error {
	if p.verify == nil {
		return nil
	}
	return p.verify(ctx, env)
}
func (p fullPhase) Volatile() bool             { return p.volatile }
func (p fullPhase) Describe(env *Env) []string { return p.describe }
func (p fullPhase) Policy() Policy             { return p.policy }
func (p fullPhase) Destroy(ctx context.Context, env *Env) error {
	if p.destroy == nil {
		return nil
	}
	return p.destroy(ctx, env)
}

// Capability-specific wrappers, for phases that implement one capability.
type (
	enablerPhase  struct{ *fakePhase }
	verifierPhase struct{ *fakePhase }
	policerPhase  struct{ *fakePhase }
	volatilePhase struct{ *fakePhase }
	checkPhase    struct{ *fakePhase }
	destroyPhase  struct{ *fakePhase }
)

func (p enablerPhase) Enabled() (bool, string) { return p.enabled() }
func (p verifierPhase) Verify(ctx context.Context, env *Env) error {
	return p.verify(ctx, env)
}
func (p policerPhase) Policy() Policy       { return p.policy }
func (p volatilePhase) Volatile() bool      { return p.volatile }
func (p checkPhase) Preconditions() []Check { return p.checks }
func (p destroyPhase) Destroy(ctx context.Context, env *Env) error {
	return p.destroy(ctx, env)
}

// ph builds a plain phase: ph("b", "a") is b depending on a.
func ph(name string, deps ...string) *fakePhase { return &fakePhase{name: name, deps: deps} }

// memRecorder keeps events in memory and asserts what the scheduler
// promises: one caller at a time, legal transitions from the last recorded
// state, and no event after a failing Record.
type memRecorder struct {
	t      testing.TB
	mu     sync.Mutex
	busy   bool
	events []Event
	state  map[string]State
	failOn func(Event) error // optional: fail this event
	failed bool
}

func newRecorder(t testing.TB, prior map[string]NodeStatus) *memRecorder {
	r := &memRecorder{t: t, state: map[string]State{}}
	for n, st := range prior {
		r.state[n] = st.State
	}
	return r
}

func (r *memRecorder) Record(ev Event) error {
	r.mu.Lock()
	if r.busy {
		r.t.Errorf("Record called concurrently (event %s %s -> %s)", ev.Node, ev.From, ev.To)
	}
	r.busy = true
	r.mu.Unlock()
	defer func() { r.mu.Lock(); r.busy = false; r.mu.Unlock() }()

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed {
		r.t.Errorf("Record called after it failed: %s %s -> %s", ev.Node, ev.From, ev.To)
	}
	cur, ok := r.state[ev.Node]
	if !ok {
		cur = Pending
	}
	if ev.From != cur {
		r.t.Errorf("event %s %s -> %s: from %s, but the last recorded state is %s", ev.Node, ev.From, ev.To, ev.From, cur)
	}
	if !ev.From.CanTransition(ev.To) {
		r.t.Errorf("event %s: %v", ev.Node, &IllegalTransitionError{Node: ev.Node, From: ev.From, To: ev.To})
	}
	if ev.Time.IsZero() {
		r.t.Errorf("event %s %s -> %s has no time", ev.Node, ev.From, ev.To)
	}
	if r.failOn != nil {
		if err := r.failOn(ev); err != nil {
			r.failed = true
			return err
		}
	}
	r.state[ev.Node] = ev.To
	ev.Seq = uint64(len(r.events) + 1)
	r.events = append(r.events, ev)
	return nil
}

// trail renders the events of the nodes given (all when none) one per
// line: "node from->to #attempt reason".
func (r *memRecorder) trail(nodes ...string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, ev := range r.events {
		if len(nodes) > 0 && !slices.Contains(nodes, ev.Node) {
			continue
		}
		fmt.Fprintf(&b, "%s %s->%s #%d", ev.Node, ev.From, ev.To, ev.Attempt)
		if ev.Reason != "" {
			fmt.Fprintf(&b, " %s", ev.Reason)
		}
		if ev.Error != "" {
			fmt.Fprintf(&b, " err=%s", ev.Error)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// seq returns the position of the first event node from->to, or -1.
func (r *memRecorder) seq(node string, to State) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, ev := range r.events {
		if ev.Node == node && ev.To == to {
			return i
		}
	}
	return -1
}

func mustGraph(t testing.TB, phases ...Phase) *Graph {
	t.Helper()
	g, err := NewGraph(phases...)
	if err != nil {
		t.Fatalf("NewGraph: %v", err)
	}
	return g
}

// groupRecorder gives a Recorder the group-commit capability: Stage hands
// the event to the inner Recorder at once (its checks and refusals are
// Stage's), and the event becomes durable, in the durable view, only when
// a Sync takes it, as one batch. gate, if set, is called at the start of
// every Sync with the batch it is about to make durable (a slow fsync).
type groupRecorder struct {
	inner   Recorder
	gate    func(batch []Event)
	syncErr func(batch []Event) error // optional: fail this Sync

	mu      sync.Mutex
	staged  []Event
	pgs     []ProcessGroup // staged process groups
	durable []Event
	dpgs    []ProcessGroup // durable process groups
	batches [][]Event
	syncs   int
}

var (
	_ GroupRecorder = (*groupRecorder)(nil)
	_ ProcessStager = (*groupRecorder)(nil)
)

func (r *groupRecorder) Record(ev Event) error {
	if err := r.Stage(ev); err != nil {
		return err
	}
	return r.Sync()
}

func (r *groupRecorder) Stage(ev Event) error {
	if err := r.inner.Record(ev); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.staged = append(r.staged, ev)
	return nil
}

func (r *groupRecorder) StageProcessGroup(pg ProcessGroup) error {
	if pr, ok := r.inner.(ProcessRecorder); ok {
		if err := pr.RecordProcessGroup(pg); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pgs = append(r.pgs, pg)
	return nil
}

func (r *groupRecorder) Sync() error {
	r.mu.Lock()
	batch, pgs := r.staged, r.pgs
	r.staged, r.pgs = nil, nil
	r.syncs++
	r.mu.Unlock()
	if r.gate != nil {
		r.gate(batch)
	}
	if r.syncErr != nil {
		if err := r.syncErr(batch); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.durable = append(r.durable, batch...)
	r.dpgs = append(r.dpgs, pgs...)
	if len(batch) > 0 {
		r.batches = append(r.batches, batch)
	}
	return nil
}

// lastDurable returns the last durable state of node, or prior when
// nothing of it is durable yet.
func (r *groupRecorder) lastDurable(node string, prior State) State {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.durable) - 1; i >= 0; i-- {
		if r.durable[i].Node == node {
			return r.durable[i].To
		}
	}
	return prior
}

// isStaged reports whether node's event to state to is staged, not yet
// durable.
func (r *groupRecorder) isStaged(node string, to State) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.staged {
		if ev.Node == node && ev.To == to {
			return true
		}
	}
	return false
}

// batchOf returns the index of the batch holding node's first event to
// state to, or -1.
func (r *groupRecorder) batchOf(node string, to State) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, b := range r.batches {
		for _, ev := range b {
			if ev.Node == node && ev.To == to {
				return i
			}
		}
	}
	return -1
}

// allDurable fails unless every staged event and process group is
// durable: what the scheduler promises when Run returns.
func (r *groupRecorder) allDurable(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.staged) > 0 || len(r.pgs) > 0 {
		t.Errorf("Run returned with %d events and %d process groups staged, not durable: %v", len(r.staged), len(r.pgs), r.staged)
	}
}

// recorderModes runs f once with the Recorder as it is and once through
// a groupRecorder (the group commit), which f gets to check what is
// durable.
func recorderModes(t *testing.T, f func(t *testing.T, wrap func(Recorder) Recorder)) {
	t.Run("Record", func(t *testing.T) { f(t, func(r Recorder) Recorder { return r }) })
	t.Run("GroupCommit", func(t *testing.T) {
		var gs []*groupRecorder
		f(t, func(r Recorder) Recorder {
			g := &groupRecorder{inner: r}
			gs = append(gs, g)
			return g
		})
		for _, g := range gs {
			g.allDurable(t)
		}
	})
}
