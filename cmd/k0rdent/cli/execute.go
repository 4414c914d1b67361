package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// recorder is the workflow.Recorder of a run: it makes each event durable
// in the run file (which also updates runtime.yaml), then shows it. It
// tracks the running nodes so that a second interrupt can journal them
// cancelled before the process exits.
type recorder struct {
	run      *state.Run
	progress progress
	now      func() time.Time
	killAt   int // K0RDENT_TEST_KILL_AT; 0 means never

	mu      sync.Mutex // guards the fields below; held across each durable write
	running map[string]workflow.Event
	count   int
	closed  bool
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
	}
	r.progress.Event(ev)
	return nil
}

// RecordBatch makes a batch of events durable with one write and one
// fsync (the scheduler's group commit), then shows them.
func (r *recorder) RecordBatch(evs []workflow.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("journal closed: the run was interrupted twice")
	}
	if r.killAt > r.count && r.killAt <= r.count+len(evs) {
		// the test hook kills right after record killAt: write the batch
		// up to it, then die
		if r.run.RecordBatch(evs[:r.killAt-r.count]) == nil {
			killSelf()
		}
	}
	if err := r.run.RecordBatch(evs); err != nil {
		return err
	}
	r.count += len(evs)
	for _, ev := range evs {
		if ev.To == workflow.Running {
			r.running[ev.Node] = ev
		} else {
			delete(r.running, ev.Node)
		}
		r.progress.Event(ev)
	}
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
	now := r.now()
	for _, n := range slices.Sorted(maps.Keys(r.running)) {
		started := r.running[n]
		ev := workflow.Event{Time: now, Node: n, From: workflow.Running, To: workflow.Cancelled,
			Attempt: started.Attempt, Reason: reason, Duration: now.Sub(started.Time)}
		if r.run.Record(ev) == nil {
			r.progress.Event(ev)
		}
	}
	_ = r.run.Finish(state.OutcomeCancelled, reason)
}

// execute runs the graph and reports.
func (a *app) execute(ctx context.Context, o runOptions, lg *loadedGraph, store *state.Store, run *state.Run,
	lock *state.Lock, prior map[string]workflow.NodeStatus, sel workflow.Selection, resumed bool) error {
	if err := os.MkdirAll(store.SecretsDir(), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", store.SecretsDir(), err)
	}
	live := a.IsTerminal(a.Stdout) && !o.NoColor
	prog := newProgress(a.Stdout, live, live, a.Now)
	rec := &recorder{run: run, progress: prog, now: a.Now, running: map[string]workflow.Event{}}
	if v := os.Getenv(killAtEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			prog.Close()
			return usageErrorf("%s=%q: want a record number from 1", killAtEnv, v)
		}
		rec.killAt = n
	}

	verb := "starting run " + run.ID()
	if resumed {
		verb = fmt.Sprintf("resuming run %s, attempt %d", run.ID(), run.Attempt())
	}
	fmt.Fprintf(a.Stdout, "%s (%d nodes, logs in %s)\n", verb, lg.graph.Len(), store.LogDir(run.ID()))

	ctx, stop := interruptContext(ctx, func(sig os.Signal) {
		rec.abort("interrupted twice (" + sig.String() + ")")
		prog.Close()
		fmt.Fprintf(a.Stderr, "\ninterrupted twice: run %s journalled cancelled; resume with: %s run --resume\n", run.ID(), a.Name)
		_ = run.Close()
		_ = lock.Unlock()
		a.Exit(ExitInterrupted)
	})
	defer stop()

	sched := &workflow.Scheduler{
		Graph:       lg.graph,
		RunID:       run.ID(),
		SecretsDir:  store.SecretsDir(),
		Parallelism: o.Parallelism,
		FailFast:    o.FailFast,
		Selection:   sel,
		Recorder:    rec,
		LogSink:     run.LogSink(),
		Log:         a.newLogger(o.LogLevel),
		Now:         a.Now,
	}
	started := a.Now()
	res, runErr := sched.Run(ctx, prior)
	prog.Close()
	if res == nil {
		return runErr
	}
	rec.mu.Lock()
	closed := rec.closed
	rec.mu.Unlock()
	if closed { // a second interrupt already journalled the outcome
		return withCode(ExitInterrupted, errors.New("interrupted"))
	}
	outcome := state.Outcome(res.Outcome)
	reason := ""
	if runErr != nil && res.Outcome == workflow.OutcomeSucceeded {
		outcome, reason = state.OutcomeFailed, runErr.Error()
	}
	if outcome == state.OutcomeCancelled {
		if cause := context.Cause(ctx); cause != nil {
			reason = cause.Error()
		}
	}
	if err := run.Finish(outcome, reason); err != nil {
		return fmt.Errorf("journal outcome of run %s: %w", run.ID(), err)
	}
	a.summary(run, store, lg.graph, res, a.Now().Sub(started))
	switch outcome {
	case state.OutcomeSucceeded:
		return nil
	case state.OutcomeCancelled:
		return shown(withCode(ExitInterrupted, fmt.Errorf("run %s interrupted", run.ID())))
	}
	a.failureReport(run, store, lg.graph, res, runErr)
	code := ExitPhaseFailed
	if onlyPreconditions(runErr) {
		code = ExitPrecondition
	}
	return shown(withCode(code, fmt.Errorf("run %s failed: %w", run.ID(), runErr)))
}

// leafErrors flattens the errors.Join tree the scheduler returns: one
// entry per *workflow.PhaseError or other joined error.
func leafErrors(err error) []error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*workflow.PhaseError); ok {
		return []error{err}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// onlyPreconditions reports whether every error in err is a phase whose
// precondition failed (exit 4 rather than 1).
func onlyPreconditions(err error) bool {
	leaves := leafErrors(err)
	for _, e := range leaves {
		var pe *workflow.PhaseError
		var pre *workflow.PreconditionError
		if !errors.As(e, &pe) || !errors.As(e, &pre) {
			return false
		}
	}
	return len(leaves) > 0
}

// summary prints the end of a run: outcome, counts, critical path.
func (a *app) summary(run *state.Run, store *state.Store, g *workflow.Graph, res *workflow.Result, took time.Duration) {
	counts := map[workflow.State]int{}
	for _, st := range res.Nodes {
		counts[st.State]++
	}
	var parts []string
	for _, s := range workflow.States {
		if counts[s] > 0 {
			label := string(s)
			if s == workflow.Pending {
				label = "not run" // left out by --only/--from/--skip, or by --fail-fast
			}
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], label))
		}
	}
	fmt.Fprintf(a.Stdout, "run %s %s in %s: %s\n", run.ID(), res.Outcome, roundDuration(took), strings.Join(parts, ", "))
	if len(res.Critical) > 0 {
		fmt.Fprintf(a.Stdout, "critical path: %s (%s)\n", strings.Join(res.Critical, " -> "), roundDuration(res.CriticalDuration))
	}
}

// failureReport prints, per failed node: its error, the nodes it blocked,
// the last lines of its log and the log's path; then how to resume.
func (a *app) failureReport(run *state.Run, store *state.Store, g *workflow.Graph, res *workflow.Result, runErr error) {
	w := a.Stderr
	// Errors that are not a phase's own (a journal write refused, say)
	// stopped the run too; say so first.
	for _, e := range leafErrors(runErr) {
		var pe *workflow.PhaseError
		if !errors.As(e, &pe) && !errors.Is(e, context.Canceled) {
			fmt.Fprintf(w, "\nERROR %v\n", e)
		}
	}
	for _, name := range g.TopoOrder() {
		st := res.Nodes[name]
		if st.State != workflow.Failed {
			continue
		}
		fmt.Fprintf(w, "\nFAILED %s (attempt %d): %s\n", name, st.Attempt, st.Error)
		if blocked := blockedBy(g, res.Nodes, name); len(blocked) > 0 {
			fmt.Fprintf(w, "blocked by it: %s\n", strings.Join(blocked, ", "))
		}
		path := store.LogPath(run.ID(), name)
		if tail, err := tailFile(path, 20); err == nil && len(tail) > 0 {
			fmt.Fprintf(w, "last %d lines of %s:\n", len(tail), path)
			for _, l := range tail {
				fmt.Fprintf(w, "  | %s\n", l)
			}
		} else {
			fmt.Fprintf(w, "log: %s\n", path)
		}
	}
	fmt.Fprintf(w, "\nfix the cause, then resume with: %s run --resume\n", a.Name)
}

// blockedBy lists the nodes blocked downstream of failed.
func blockedBy(g *workflow.Graph, nodes map[string]workflow.NodeStatus, failed string) []string {
	var out []string
	for _, d := range g.Descendants(failed) {
		if d != failed && nodes[d].State == workflow.Blocked {
			out = append(out, d)
		}
	}
	return out
}
