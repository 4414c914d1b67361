package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

type jobKind int

const (
	jobRun jobKind = iota
	jobVerify
	jobDestroy
)

// node is the coordinator's view of one node. Only the coordinator
// goroutine reads or writes it.
type node struct {
	name    string
	phase   Phase
	dec     decision
	policy  Policy
	status  NodeStatus // State is the last state set (recorded unless recErr)
	waiting int        // dependencies not done yet
	fin     bool       // final in this run, or not touched by it
	busy    bool       // a worker has it
	touched bool       // the run set its state
	reran   bool       // ran in this run and invalidated its dependents
	kind    jobKind    // of the queued or running job
	reason  string     // for the next running record
	tries   int        // transient retries used
	err     error      // of the last failed attempt
	ran     time.Duration
	since   time.Time // when its current job started
	mustRun bool      // planned to run, or queued to run: not reusable as is
	own     string    // own digest (Inputs.Own); "" without Inputs
	digest  string    // inputs digest, set when its dependencies are done

	refused *RefusedError // the Recorder refused the outputs of its succeeded event
}

type result struct {
	i         int
	kind      jobKind
	err       error
	outputs   map[string]string
	dur       time.Duration
	abandoned bool
}

// run is one Run or Destroy. The coordinator (run and what it calls) owns
// every field; workers only read the immutable ones and send on results.
type run struct {
	s          *Scheduler
	g          *Graph
	ctx        context.Context
	work       context.Context // workers' parent; cancelled on stop
	stopWork   context.CancelFunc
	now        func() time.Time
	rec        Recorder
	j          journal // the group commit, with a GroupRecorder
	par        int
	grace      time.Duration
	destroy    bool
	check      bool                  // Check: verify only, record nothing
	checks     map[string]error      // Check: each verified node's Verify error (nil: ok)
	deps, next [][]int               // edges walked: dependencies / dependents (reversed for Destroy)
	inputs     *Inputs               // digests (Scheduler.Inputs); nil: none
	prior      map[string]NodeStatus // read only
	upWord     string                // "dependency", or "dependent" for Destroy

	nodes        []node
	classes      []string // sorted, every class in use ("" too)
	queues       map[string]*intHeap
	classRunning map[string]int
	inflight     int
	results      chan result
	wake         chan int      // retry timers fire here
	procs        chan procReq  // process groups phases started (Env.StartedProcessGroup)
	exit         chan struct{} // closed when the coordinator returns
	retrying     int
	settleQ      []int
	stopped      bool // no new dispatch
	cancelled    bool
	recErr       error
	discard      *slog.Logger
}

func (s *Scheduler) newRun(ctx context.Context, prior map[string]NodeStatus, ds []decision, destroy bool) *run {
	g := s.Graph
	r := &run{
		s: s, g: g, ctx: ctx, now: s.Now, rec: s.Recorder, par: s.Parallelism, grace: s.GracePeriod,
		destroy: destroy, deps: g.deps, prior: prior, next: g.dependents, upWord: "dependency",
		nodes: make([]node, g.Len()), queues: map[string]*intHeap{}, classRunning: map[string]int{},
		results: make(chan result), wake: make(chan int), procs: make(chan procReq), exit: make(chan struct{}),
		discard: slog.New(slog.DiscardHandler),
	}
	if destroy {
		r.deps, r.next, r.upWord = g.dependents, g.deps, "dependent"
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.rec == nil {
		r.rec = RecorderFunc(func(Event) error { return nil })
	}
	if r.par <= 0 {
		r.par = DefaultParallelism
	}
	if r.grace <= 0 {
		r.grace = DefaultGracePeriod
	}
	r.work, r.stopWork = context.WithCancel(context.WithoutCancel(ctx))
	for i, p := range g.phases {
		n := &r.nodes[i]
		n.name, n.phase, n.dec = g.names[i], p, ds[i]
		n.mustRun = ds[i].action == ActionRun
		n.status = prior[n.name]
		n.status.Outputs = maps.Clone(n.status.Outputs)
		if n.status.State == "" {
			n.status.State = Pending
		}
		if pol, ok := p.(Policer); ok {
			n.policy = pol.Policy()
		}
		n.waiting = len(r.deps[i])
		if _, ok := r.queues[n.policy.Class]; !ok {
			r.queues[n.policy.Class] = &intHeap{}
			r.classes = append(r.classes, n.policy.Class)
		}
	}
	sort.Strings(r.classes)
	return r
}

func (r *run) run() (*Result, error) {
	defer close(r.exit)
	defer r.stopWork()
	r.j.init(r.rec)
	r.start()
	var tick <-chan time.Time
	if r.s.Log != nil {
		every := r.s.liveness
		if every <= 0 {
			every = livenessInterval
		}
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	ctxDone := r.ctx.Done()
	for {
		if !r.cancelled && r.ctx.Err() != nil {
			r.cancel()
		}
		r.dispatch()
		if r.inflight == 0 && (r.stopped || r.retrying == 0) {
			break
		}
		r.flush()
		select {
		case err := <-r.acks():
			r.synced(err)
		case res := <-r.results:
			r.finish(res)
		case i := <-r.wake:
			r.retrying--
			if n := &r.nodes[i]; !n.fin {
				r.enqueue(i, n.kind)
			}
		case req := <-r.procs:
			r.recordProcess(req)
		case <-ctxDone:
			ctxDone = nil
			r.cancel()
		case <-tick:
			for i := range r.nodes {
				if n := &r.nodes[i]; n.busy {
					r.s.Log.Debug("still running", "node", n.name, "attempt", n.status.Attempt,
						"elapsed", r.now().Sub(n.since).Round(time.Second))
				}
			}
		}
	}
	r.drain()
	return r.result()
}

// start records what is decided before anything runs (disabled, blocked,
// not-selected reuse) and makes the nodes without pending dependencies
// ready, in topological order.
func (r *run) start() {
	for _, i := range r.g.topo {
		n := &r.nodes[i]
		d := n.dec
		switch {
		case !d.selected && d.action == ActionReuse:
			r.reuse(i, d.reason)
		case !d.selected && n.status.State == Skipped:
			r.set(i, Skipped, n.status.Attempt, d.reason, nil, 0)
			r.done(i)
		case !d.selected:
			n.fin = true // not touched; dependents were planned blocked
		case d.action == ActionSkip:
			r.set(i, Skipped, n.status.Attempt, d.reason, nil, 0)
			r.done(i)
		case d.action == ActionBlocked:
			r.set(i, Blocked, n.status.Attempt, d.reason, nil, 0)
			n.fin = true
		}
		if r.recErr != nil {
			return
		}
	}
	for _, i := range r.g.topo { // the others become ready through done
		if len(r.deps[i]) == 0 && !r.nodes[i].fin {
			r.settleQ = append(r.settleQ, i)
		}
	}
	r.settle()
}

// done marks node i done (succeeded or skipped) and queues the dependents
// it was the last missing dependency of.
func (r *run) done(i int) {
	r.nodes[i].fin = true
	for _, j := range r.next[i] {
		if m := &r.nodes[j]; !m.fin {
			if m.waiting--; m.waiting == 0 {
				r.settleQ = append(r.settleQ, j)
			}
		}
	}
}

// settle resolves the nodes whose dependencies are all done: it reuses them
// or queues their verify or run. A worklist, not recursion: a chain of
// reused nodes may be long.
func (r *run) settle() {
	for len(r.settleQ) > 0 && !r.stopped {
		i := r.settleQ[0]
		r.settleQ = r.settleQ[1:]
		n := &r.nodes[i]
		if n.fin {
			continue
		}
		reranDep := ""
		for _, j := range r.deps[i] {
			if r.nodes[j].reran {
				reranDep = r.nodes[j].name
				break
			}
		}
		action, reason := n.dec.action, n.dec.reason
		if r.inputs != nil && !r.destroy && !r.check {
			n.own = r.inputs.Own[n.name]
			n.digest = r.digestOf(i)
		}
		if action == ActionDecide && n.dec.byDigest {
			action = ActionReuse
			if _, ok := n.phase.(Verifier); ok {
				action = ActionVerify
			}
			if n.digest != n.status.Digest {
				action, reason = ActionRun, r.inputChange(i)
			}
		} else if action == ActionDecide {
			action = ActionReuse
			if _, ok := n.phase.(Verifier); ok {
				action = ActionVerify
			}
			if reranDep != "" {
				action, reason = ActionRun, fmt.Sprintf("dependency %s re-ran", reranDep)
			}
		}
		if reason == reasonNew {
			reason = ""
		}
		n.reason = reason
		switch action {
		case ActionRun:
			n.reran = n.dec.invalidates || reranDep != ""
			kind := jobRun
			if r.destroy {
				kind = jobDestroy
			}
			r.enqueue(i, kind)
		case ActionVerify:
			r.enqueue(i, jobVerify)
		case actionPass:
			r.done(i)
		case ActionReuse:
			reason := "reused"
			if n.status.RunID != "" {
				reason += " from run " + n.status.RunID
			}
			if n.dec.byDigest {
				reason = "unchanged since run " + n.status.RunID + ", reused"
			}
			r.reuse(i, reason)
		}
	}
	r.settleQ = r.settleQ[:0]
}

// reuse records node i succeeded as it was. When the Recorder refuses the
// outputs it would be reused with (a RefusedError), they are not usable:
// the node runs again, or is blocked when the selection leaves it out.
func (r *run) reuse(i int, reason string) {
	n := &r.nodes[i]
	if r.set(i, Succeeded, n.status.Attempt, reason, nil, 0) {
		r.done(i)
		return
	}
	re := n.refused
	if re == nil { // the Recorder failed: the run stops
		r.done(i)
		return
	}
	n.refused, n.status.Outputs, n.status.RunID = nil, nil, ""
	why := "recorded " + re.Error()
	if !n.dec.selected || r.destroy {
		r.set(i, Blocked, n.status.Attempt, why+"; select it to run it again", nil, 0)
		n.fin = true
		r.fail(i)
		return
	}
	n.reason, n.reran = why, true
	r.enqueue(i, jobRun)
}

// digestOf is node i's inputs digest from its dependencies as they are
// now (all done).
func (r *run) digestOf(i int) string {
	n := &r.nodes[i]
	if n.own == "" {
		return ""
	}
	parts := make([]digestPart, 0, len(r.g.deps[i]))
	for _, j := range r.g.deps[i] {
		m := &r.nodes[j]
		parts = append(parts, digestPart{name: m.name, state: m.status.State, volatile: volatile(m.phase), outputs: m.status.Outputs})
	}
	return inputsDigest(n.own, parts)
}

// inputChange says which dependencies' outputs differ from those known
// before the run, for a node decided at dispatch whose digest changed.
func (r *run) inputChange(i int) string {
	n := &r.nodes[i]
	var items []string
	for _, j := range r.g.deps[i] {
		m := &r.nodes[j]
		if volatile(m.phase) {
			continue
		}
		if keys := changedKeys(r.prior[m.name].Outputs, m.status.Outputs); len(keys) > 0 {
			items = append(items, "input from "+m.name+" changed: "+strings.Join(keys, ", "))
		} else if r.prior[m.name].State != m.status.State {
			items = append(items, "input from "+m.name+" changed: now "+string(m.status.State))
		}
	}
	if len(items) == 0 {
		return "input changed since run " + n.status.RunID
	}
	return strings.Join(items, "; ")
}

func (r *run) enqueue(i int, kind jobKind) {
	n := &r.nodes[i]
	n.kind = kind
	n.mustRun = n.mustRun || kind != jobVerify
	r.queues[n.policy.Class].pushInt(i)
}

// dispatch starts ready nodes, smallest name first, while a slot is free
// overall and in the node's class.
func (r *run) dispatch() {
	for !r.stopped && r.inflight < r.par {
		best, bestClass := -1, ""
		for _, c := range r.classes {
			q := r.queues[c]
			for q.Len() > 0 && r.nodes[q.ints[0]].fin { // cancelled while queued
				q.popInt()
			}
			if q.Len() == 0 {
				continue
			}
			if lim := r.s.ClassLimits[c]; lim > 0 && r.classRunning[c] >= lim {
				continue
			}
			if best < 0 || q.ints[0] < best {
				best, bestClass = q.ints[0], c
			}
		}
		if best < 0 {
			return
		}
		r.queues[bestClass].popInt()
		r.launch(best)
	}
}

// fail blocks every transitive dependent of i that the run has not
// finished, naming i, and with FailFast cancels everything not started.
func (r *run) fail(i int) {
	root := r.nodes[i].name
	stack := []int{i}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, j := range r.next[v] {
			m := &r.nodes[j]
			if m.fin || m.busy {
				continue
			}
			reason := fmt.Sprintf("%s %s failed", r.upWord, root)
			if v != i {
				reason += " (via " + r.nodes[v].name + ")"
			}
			if m.dec.action != actionPass {
				r.set(j, Blocked, m.status.Attempt, reason, nil, 0)
			}
			m.fin = true
			stack = append(stack, j)
		}
	}
	if r.s.FailFast {
		r.stopAll(fmt.Sprintf("not started: fail-fast after %s failed", root))
		r.stopped = true
	}
}

// cancel handles the cancellation of the caller's context: running nodes
// get the grace period, everything else is recorded cancelled.
func (r *run) cancel() {
	if r.inflight == 0 && r.retrying == 0 && !slices.ContainsFunc(r.nodes, func(n node) bool { return !n.fin }) {
		return // cancelled after the last node finished: the run is complete
	}
	r.cancelled = true
	r.stopWork()
	r.stopAll("run cancelled before it started")
	r.stopped = true
}

// stopAll records cancelled for every node that is neither final nor busy,
// except those that are done (succeeded or skipped before), untouched by
// the run and not known to need a run: a resume will find them as they
// were. A node that must run (planned so, found drifted, or downstream of
// a node re-done in this run) is recorded cancelled so that the next
// resume runs it.
func (r *run) stopAll(reason string) {
	for _, i := range r.g.topo {
		n := &r.nodes[i]
		if n.fin || n.busy {
			continue
		}
		for _, j := range r.deps[i] { // downstream of work redone in this run
			if d := &r.nodes[j]; d.reran && d.touched && d.status.State == Succeeded {
				n.mustRun = true
			}
		}
		n.fin = true
		if n.dec.action == actionPass || (!n.touched && !n.mustRun && (n.status.State == Succeeded || n.status.State == Skipped)) {
			continue // done before and not known to need a run: it stays as it was
		}
		why := reason
		if n.status.State == Failed && n.tries > 0 {
			why = "cancelled while waiting to retry"
		}
		r.set(i, Cancelled, n.status.Attempt, why, nil, 0)
	}
}

// set moves node i to state to and records it, unless the Recorder has
// failed. It reports whether the event is durable. A node left running by
// a crashed run goes through cancelled first when to is not reachable
// from running.
func (r *run) set(i int, to State, attempt int, reason string, err error, dur time.Duration) bool {
	n := &r.nodes[i]
	from := n.status.State
	if from == Running && !from.CanTransition(to) && r.record(i, Event{From: Running, To: Cancelled, Attempt: n.status.Attempt, Reason: "interrupted in a prior run"}) {
		from = Cancelled
	}
	n.status.State, n.status.Attempt, n.status.Reason, n.touched = to, attempt, reason, true
	ev := Event{From: from, To: to, Attempt: attempt, Reason: reason, Duration: dur}
	if err != nil {
		ev.Error = err.Error()
		n.status.Error = ev.Error
	}
	if to == Skipped {
		n.status.Outputs = nil
	}
	if to == Succeeded {
		ev.Outputs = maps.Clone(n.status.Outputs)
		ev.Digest, ev.OwnDigest = n.status.Digest, n.status.OwnDigest
		if from == Succeeded {
			ev.Built = n.status.RunID
		}
	}
	if r.record(i, ev) {
		return true
	}
	if re := n.refused; re != nil && from == Running {
		// The attempt's outputs were refused: the attempt failed.
		n.refused = nil
		n.status.State, n.status.Outputs, n.status.RunID = Failed, nil, ""
		n.status.Error, n.err = re.Error(), re
		r.record(i, Event{From: Running, To: Failed, Attempt: attempt, Error: re.Error(), Duration: dur})
	}
	return false
}

// record journals ev for node i. When the Recorder refuses the reason or
// the error text (a *RefusedError), ev is recorded again with that text
// replaced by the refusal, which becomes the node's reason or error. A
// refused output is left to the caller (n.refused; record returns false).
// Any other Recorder error stops the run.
func (r *run) record(i int, ev Event) bool {
	if r.recErr != nil {
		return false
	}
	n := &r.nodes[i]
	ev.Node, ev.Time = n.name, r.now()
	for range 3 { // reason, error, then anything left is a failure
		err := r.stage(ev)
		if err == nil {
			return true
		}
		var re *RefusedError
		if !errors.As(err, &re) {
			r.recordFailed(ev, err)
			return false
		}
		switch {
		case re.Field == RefusedReason && ev.Reason != "":
			ev.Reason = re.Error()
			n.status.Reason = ev.Reason
		case re.Field == RefusedErrorText && ev.Error != "":
			ev.Error = re.Error()
			n.status.Error, n.err = ev.Error, re
		case re.Field == RefusedOutputs && ev.To == Succeeded:
			n.refused = re
			return false
		default:
			r.recordFailed(ev, err)
			return false
		}
	}
	r.recordFailed(ev, errors.New("refused three times"))
	return false
}

func (r *run) recordFailed(ev Event, err error) {
	r.recErr = fmt.Errorf("record %s %s -> %s: %w", ev.Node, ev.From, ev.To, err)
	r.stopped = true
	r.stopWork()
}

func (r *run) result() (*Result, error) {
	res := &Result{Outcome: OutcomeSucceeded, Nodes: make(map[string]NodeStatus, len(r.nodes))}
	var errs []error
	for _, i := range r.g.topo {
		n := &r.nodes[i]
		res.Nodes[n.name] = n.status
		if !n.touched {
			continue
		}
		switch n.status.State {
		case Failed:
			errs = append(errs, &PhaseError{Phase: n.name, Attempt: n.status.Attempt, Err: n.err})
			res.Outcome = OutcomeFailed
		case Blocked:
			res.Outcome = OutcomeFailed
			if n.dec.action == ActionBlocked { // by the selection: no failure explains it
				errs = append(errs, &BlockedError{Phase: n.name, Reason: n.status.Reason})
			}
		case Cancelled:
			res.Outcome = OutcomeFailed
		}
	}
	if r.recErr != nil {
		res.Outcome = OutcomeFailed
		errs = append(errs, r.recErr)
	}
	if r.cancelled {
		res.Outcome = OutcomeCancelled
		errs = append(errs, fmt.Errorf("run cancelled: %w", context.Cause(r.ctx)))
	}
	res.Critical, res.CriticalDuration = r.critical()
	return res, errors.Join(errs...)
}

// critical finds the longest chain, by time spent running, of the nodes
// that ran in this run (criticalPath; a teardown walks the edges reversed).
func (r *run) critical() ([]string, time.Duration) {
	order := r.g.topo
	if r.destroy {
		order = slices.Clone(order)
		slices.Reverse(order)
	}
	path, total := criticalPath(order, r.deps, func(i int) string { return r.g.names[i] }, func(i int) (time.Duration, bool) {
		return r.nodes[i].ran, r.nodes[i].ran > 0
	})
	if path == nil {
		return nil, 0
	}
	return r.g.namesOf(path), total
}
