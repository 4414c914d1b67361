package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"sort"
	"time"
)

// Scheduler runs a Graph. It is a plain struct: set the fields, then call
// Run (or Destroy). The zero value of every field but Graph is usable. A
// Scheduler may be reused for several runs, but not concurrently.
type Scheduler struct {
	// Graph is the graph to run. Required.
	Graph *Graph
	// RunID and SecretsDir are handed to phases in their Env.
	RunID      string
	SecretsDir string
	// Parallelism bounds how many nodes run (or verify) at once; 0 means 4.
	// A slot is taken only when a node is ready.
	Parallelism int
	// ClassLimits bounds how many nodes of one Policy.Class run at once;
	// a class that is absent, or has a limit of 0 or less, is bounded only
	// by Parallelism.
	ClassLimits map[string]int
	// FailFast stops scheduling at the first failure: nodes not started
	// are recorded cancelled (dependents of the failed node blocked);
	// running nodes finish. Without it, dependents of a failed node are
	// blocked and independent branches finish.
	FailFast bool
	// Selection narrows the run (--only, --from, --skip). Zero: everything.
	Selection Selection
	// GracePeriod is how long a cancelled or timed-out phase has to return
	// before it is recorded cancelled (or failed) and abandoned; 0 means
	// 10 seconds.
	GracePeriod time.Duration
	// Recorder makes every transition durable; nil discards them.
	Recorder Recorder
	// LogSink opens each node attempt's log; nil discards node logs. Verify
	// writes to the log of the attempt it verifies, so the sink must append.
	LogSink LogSink
	// Log receives the scheduler's own debug lines ("still running");
	// nil discards them.
	Log *slog.Logger
	// Now stamps events; nil means time.Now.
	Now func() time.Time
}

// Outcome is how a run ended.
type Outcome string

// Run outcomes.
const (
	OutcomeSucceeded Outcome = "succeeded"
	OutcomeFailed    Outcome = "failed"
	OutcomeCancelled Outcome = "cancelled"
)

// Result is what a run did.
type Result struct {
	Outcome Outcome
	// Nodes holds every node's status at the end of the run. After a
	// Recorder error it may be ahead of what was recorded.
	Nodes map[string]NodeStatus
	// Critical is the longest chain of nodes that ran, by how long they
	// ran (all attempts), and CriticalDuration its total.
	Critical         []string
	CriticalDuration time.Duration
}

// PhaseError is how one failed node appears in the error Run returns.
type PhaseError struct {
	Phase   string
	Attempt int
	Err     error
}

func (e *PhaseError) Error() string {
	return fmt.Sprintf("phase %s (attempt %d): %v", e.Phase, e.Attempt, e.Err)
}

func (e *PhaseError) Unwrap() error { return e.Err }

// BlockedError reports a node that a run could not start for a reason other
// than a failure in the same run: a dependency not selected and never
// completed. Nodes blocked by a failed dependency are explained by that
// dependency's *PhaseError instead.
type BlockedError struct {
	Phase  string
	Reason string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("phase %s blocked: %s; select that dependency too, or run it first", e.Phase, e.Reason)
}

// Defaults for the zero Scheduler.
const (
	DefaultParallelism = 4
	DefaultGracePeriod = 10 * time.Second
	livenessInterval   = 30 * time.Second
)

// Run runs the graph, resuming from prior (the node states of an earlier
// attempt of this run, or nil for a fresh run), and records every
// transition. It returns when every node is final, or when the run was
// cancelled or the Recorder failed. The error joins a *PhaseError per
// failed node in topological order, the cancellation and the Recorder
// error; Result is nil only when the arguments are invalid.
func (s *Scheduler) Run(ctx context.Context, prior map[string]NodeStatus) (*Result, error) {
	if s.Graph == nil {
		return nil, errors.New("scheduler: no graph; set Scheduler.Graph")
	}
	if err := s.Selection.Validate(s.Graph); err != nil {
		return nil, fmt.Errorf("selection: %w", err)
	}
	if err := validPrior(prior); err != nil {
		return nil, err
	}
	r := s.newRun(ctx, prior, decide(s.Graph, prior, s.Selection), false)
	return r.run()
}

// Destroy tears the graph down: every Destroyer phase's Destroy runs after
// the Destroy of everything that depends on it, with the same recording,
// logs, policies, cancellation and failure rules as Run (a succeeded record
// means destroyed; a failed Destroy blocks the teardown of what its node
// depends on). Phases without Destroy are passed over without a record.
// Selection and enablement do not apply: teardown removes everything.
func (s *Scheduler) Destroy(ctx context.Context, prior map[string]NodeStatus) (*Result, error) {
	if s.Graph == nil {
		return nil, errors.New("scheduler: no graph; set Scheduler.Graph")
	}
	if err := validPrior(prior); err != nil {
		return nil, err
	}
	ds := make([]decision, s.Graph.Len())
	for i, p := range s.Graph.phases {
		ds[i] = decision{action: actionPass, attempt: prior[p.Name()].Attempt, selected: true}
		if _, ok := p.(Destroyer); ok {
			ds[i].action, ds[i].reason = ActionRun, "destroy"
		}
	}
	return s.newRun(ctx, prior, ds, true).run()
}

func validPrior(prior map[string]NodeStatus) error {
	for _, name := range slices.Sorted(maps.Keys(prior)) {
		if st := prior[name].State; st != "" && !st.Valid() {
			return fmt.Errorf("prior state of %s: unknown state %q (want one of %v)", name, st, States)
		}
	}
	return nil
}

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
	par        int
	grace      time.Duration
	destroy    bool
	deps, next [][]int // edges walked: dependencies / dependents (reversed for Destroy)
	upWord     string  // "dependency", or "dependent" for Destroy

	nodes        []node
	classes      []string // sorted, every class in use ("" too)
	queues       map[string]*intHeap
	classRunning map[string]int
	inflight     int
	results      chan result
	wake         chan int      // retry timers fire here
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
		destroy: destroy, deps: g.deps, next: g.dependents, upWord: "dependency",
		nodes: make([]node, g.Len()), queues: map[string]*intHeap{}, classRunning: map[string]int{},
		results: make(chan result), wake: make(chan int), exit: make(chan struct{}),
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
	r.start()
	var tick <-chan time.Time
	if r.s.Log != nil {
		t := time.NewTicker(livenessInterval)
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
		select {
		case res := <-r.results:
			r.finish(res)
		case i := <-r.wake:
			r.retrying--
			if n := &r.nodes[i]; !n.fin {
				r.enqueue(i, n.kind)
			}
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
		if action == ActionDecide {
			action = ActionReuse
			if _, ok := n.phase.(Verifier); ok {
				action = ActionVerify
			}
			if reranDep != "" {
				action, reason = ActionRun, fmt.Sprintf("dependency %s re-ran", reranDep)
			}
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
			r.reuse(i, reason)
		}
	}
	r.settleQ = r.settleQ[:0]
}

func (r *run) reuse(i int, reason string) {
	n := &r.nodes[i]
	r.set(i, Succeeded, n.status.Attempt, reason, nil, 0)
	r.done(i)
}

func (r *run) enqueue(i int, kind jobKind) {
	n := &r.nodes[i]
	n.kind = kind
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

// launch records running (except for a verify) and hands the node to a
// worker. Nothing starts unless its running record is durable.
func (r *run) launch(i int) {
	n := &r.nodes[i]
	attempt := n.status.Attempt
	if n.kind != jobVerify {
		attempt++
		if !r.set(i, Running, attempt, n.reason, nil, 0) {
			n.status.State, n.fin = Cancelled, true
			return
		}
		if n.status.Started.IsZero() || n.tries == 0 {
			n.status.Started = r.now()
		}
	}
	n.busy, n.since = true, r.now()
	r.inflight++
	r.classRunning[n.policy.Class]++
	env := &Env{
		RunID: r.s.RunID, Node: n.name, Attempt: attempt, SecretsDir: r.s.SecretsDir,
	}
	for _, j := range r.g.deps[i] {
		if out := r.nodes[j].status.Outputs; out != nil {
			if env.Inputs == nil {
				env.Inputs = make(map[string]map[string]string, len(r.g.deps[i]))
			}
			env.Inputs[r.nodes[j].name] = maps.Clone(out)
		}
	}
	go r.work1(i, n.kind, n.phase, n.policy.Timeout, env)
}

// work1 runs one job in a worker goroutine: the phase itself runs in a
// further goroutine so that one that ignores its context is abandoned
// after the grace period instead of hanging the run.
func (r *run) work1(i int, kind jobKind, p Phase, timeout time.Duration, env *Env) {
	ctx := r.work // no child context per job unless needed: its parent's lock is shared
	if timeout > 0 && kind != jobVerify {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(r.work, timeout)
		defer cancel()
	}
	start := time.Now()
	ch := make(chan result, 1)
	go func() { ch <- r.attempt(ctx, kind, p, env) }()
	var res result
	select {
	case res = <-ch:
	case <-ctx.Done():
		t := time.NewTimer(r.grace)
		select {
		case res = <-ch:
		case <-t.C:
			res = result{abandoned: true, err: fmt.Errorf("did not return within the grace period of %s", r.grace)}
		}
		t.Stop()
	}
	if res.err != nil && timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) && r.work.Err() == nil {
		res.err = fmt.Errorf("timed out after %s: %w", timeout, res.err)
	}
	res.i, res.kind, res.dur = i, kind, time.Since(start)
	r.results <- res
}

// attempt opens the node log, runs the checks and the phase, and turns a
// panic into an error with the stack in the log.
func (r *run) attempt(ctx context.Context, kind jobKind, p Phase, env *Env) (res result) {
	var w io.WriteCloser = nopCloser{io.Discard}
	if r.s.LogSink != nil {
		lw, err := r.s.LogSink(env.Node, env.Attempt)
		if err != nil {
			res.err = fmt.Errorf("open log of %s attempt %d: %w", env.Node, env.Attempt, err)
			return res
		}
		w = lw
		env.Log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		env.Log = r.discard
	}
	env.Output = w
	defer func() {
		if err := w.Close(); err != nil && res.err == nil {
			res.err = fmt.Errorf("close log of %s attempt %d: %w", env.Node, env.Attempt, err)
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(w, "panic: %v\n\n%s", v, debug.Stack())
			res.err = fmt.Errorf("panic: %v (stack in the node log)", v)
		}
	}()
	switch kind {
	case jobVerify:
		res.err = p.(Verifier).Verify(ctx, env)
		return res
	case jobDestroy:
		res.err = p.(Destroyer).Destroy(ctx, env)
		return res
	}
	if pc, ok := p.(Preconditioner); ok {
		for _, c := range pc.Preconditions() {
			if err := c.Check(ctx, env); err != nil {
				res.err = &PreconditionError{Phase: env.Node, Check: c.Name, Fix: c.Fix, Err: err}
				return res
			}
		}
	}
	if res.err = p.Run(ctx, env); res.err == nil {
		res.outputs = env.Outputs()
	}
	return res
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// finish takes a worker's result and records what it means.
func (r *run) finish(res result) {
	i := res.i
	n := &r.nodes[i]
	n.busy = false
	r.inflight--
	r.classRunning[n.policy.Class]--
	if res.kind == jobVerify {
		switch {
		case r.cancelled || r.recErr != nil:
			n.fin = true // not verified: it stays succeeded
		case res.err == nil:
			reason := "verified, reused"
			if n.status.RunID != "" {
				reason += " from run " + n.status.RunID
			}
			r.reuse(i, reason)
			r.settle()
		case r.stopped: // fail-fast
			r.set(i, Cancelled, n.status.Attempt, "verify failed, not re-run after fail-fast: "+res.err.Error(), nil, 0)
			n.fin = true
		default:
			n.reason, n.reran = "verify failed: "+res.err.Error(), true
			r.enqueue(i, jobRun)
		}
		return
	}
	n.ran += res.dur
	attempt := n.status.Attempt
	switch {
	case res.err == nil:
		n.status.Outputs, n.status.RunID, n.status.Error = res.outputs, r.s.RunID, ""
		if r.set(i, Succeeded, attempt, "", nil, res.dur) {
			n.status.Finished = r.now()
			r.done(i)
			r.settle()
		}
		n.fin = true
	case r.cancelled || (r.stopped && errors.Is(res.err, context.Canceled)) || (r.stopped && res.abandoned):
		n.err = res.err
		r.set(i, Cancelled, attempt, "run cancelled", res.err, res.dur)
		n.fin = true
	case IsTransient(res.err) && n.tries < n.policy.Retries && !res.abandoned && !r.stopped:
		n.tries++
		wait := backoff(n.policy, n.tries)
		reason := fmt.Sprintf("retry %d/%d in %s", n.tries, n.policy.Retries, wait)
		if r.set(i, Failed, attempt, reason, res.err, res.dur) {
			n.reason = fmt.Sprintf("retry %d/%d", n.tries, n.policy.Retries)
			r.retrying++
			time.AfterFunc(wait, func() {
				select {
				case r.wake <- i:
				case <-r.exit:
				}
			})
		}
	default:
		n.err = res.err
		r.set(i, Failed, attempt, "", res.err, res.dur)
		n.status.Finished = r.now()
		n.fin = true
		r.fail(i)
	}
}

// backoff is the wait before retry number try (from 1).
func backoff(p Policy, try int) time.Duration {
	d, maxD := p.Backoff, p.MaxBackoff
	if d <= 0 {
		d = time.Second
	}
	if maxD <= 0 {
		maxD = time.Minute
	}
	for range try - 1 {
		if d >= maxD {
			break
		}
		d *= 2
	}
	return min(d, maxD)
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
	r.cancelled = true
	r.stopWork()
	r.stopAll("run cancelled before it started")
	r.stopped = true
}

// stopAll records cancelled for every node that is neither final nor busy,
// except those the run has not touched and that are done (succeeded or
// skipped before): a resume will find them as they were.
func (r *run) stopAll(reason string) {
	for _, i := range r.g.topo {
		n := &r.nodes[i]
		if n.fin || n.busy {
			continue
		}
		n.fin = true
		if n.dec.action == actionPass || (!n.touched && (n.status.State == Succeeded || n.status.State == Skipped)) {
			continue // nothing happened to it in this run: it stays as it was
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
	}
	return r.record(i, ev)
}

func (r *run) record(i int, ev Event) bool {
	if r.recErr != nil {
		return false
	}
	ev.Node, ev.Time = r.nodes[i].name, r.now()
	if err := r.rec.Record(ev); err != nil {
		r.recErr = fmt.Errorf("record %s %s -> %s: %w", ev.Node, ev.From, ev.To, err)
		r.stopped = true
		r.stopWork()
		return false
	}
	return true
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
// that ran in this run.
func (r *run) critical() ([]string, time.Duration) {
	n := len(r.nodes)
	dist, prev := make([]time.Duration, n), make([]int, n)
	best := -1
	order := r.g.topo
	if r.destroy {
		order = slices.Clone(order)
		slices.Reverse(order)
	}
	for _, i := range order {
		prev[i] = -1
		for _, j := range r.deps[i] {
			if dist[j] > dist[i] {
				dist[i], prev[i] = dist[j], j
			}
		}
		dist[i] += r.nodes[i].ran
		if r.nodes[i].ran > 0 && (best < 0 || dist[i] > dist[best]) {
			best = i
		}
	}
	if best < 0 {
		return nil, 0
	}
	var path []string
	for v := best; v >= 0; v = prev[v] {
		if r.nodes[v].ran > 0 {
			path = append(path, r.nodes[v].name)
		}
	}
	slices.Reverse(path)
	return path, dist[best]
}

func (h *intHeap) pushInt(v int) {
	h.ints = append(h.ints, v)
	for c := len(h.ints) - 1; c > 0; {
		p := (c - 1) / 2
		if h.ints[p] <= h.ints[c] {
			break
		}
		h.ints[p], h.ints[c] = h.ints[c], h.ints[p]
		c = p
	}
}

func (h *intHeap) popInt() int {
	top := h.ints[0]
	last := len(h.ints) - 1
	h.ints[0] = h.ints[last]
	h.ints = h.ints[:last]
	for p := 0; ; {
		c := 2*p + 1
		if c >= last {
			break
		}
		if c+1 < last && h.ints[c+1] < h.ints[c] {
			c++
		}
		if h.ints[p] <= h.ints[c] {
			break
		}
		h.ints[p], h.ints[c] = h.ints[c], h.ints[p]
		p = c
	}
	return top
}
