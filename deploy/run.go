package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// RunOptions are the choices of one `k0rdent run`.
type RunOptions struct {
	// Flags are the optional components' flags as given (nil: the config
	// decides); see phases.Components.
	Flags     phases.RunFlags
	Selection Selection

	Resume bool // resume the unfinished current run
	Fresh  bool // archive the unfinished current run and start a new one
	Yes    bool // do not ask: resume an unfinished run
	Force  bool // resume although the config changed

	// Verify, for Plan of a new run: run the Verify of each node that
	// would be reused (read-only, as status --check), so that the plan
	// says reuse (verified) or run (drift) instead of verify then reuse.
	Verify bool

	// Decide is asked, with one line about the unfinished run, when
	// neither Resume, Fresh nor Yes decides; true resumes. Nil refuses
	// with a usage error naming both flags.
	Decide func(unfinished string) (resume bool, err error)

	Parallelism int
	FailFast    bool

	// Started is told the run before the first node starts.
	Started func(Started)
	// Event shows each durable transition.
	Event func(workflow.Event)
	// Abort receives the function that journals a second interrupt
	// (every running node cancelled, the outcome cancelled) before the
	// caller exits; it is called once the run is open.
	Abort func(abort func(reason string))
}

// Started describes a run that is about to schedule.
type Started struct {
	RunID            string
	Resumed          bool
	Attempt          int
	Nodes            int
	LogDir           string
	Superseded       string        // the unfinished run a fresh start archived
	Takeover         *state.Holder // the dead holder whose lock was taken over
	Selection        state.Selection
	SelectionChanged bool
	EndedGroups      []workflow.ProcessGroup // left running by a k0rdent that died, ended before anything ran
}

// RunResult is what a run did.
type RunResult struct {
	RunID   string
	Outcome state.Outcome
	// Result is the scheduler's: every node's final state, the critical
	// path.
	Result *workflow.Result
	// Err is the scheduler's error (failed phases, cancellation).
	Err   error
	Took  time.Duration
	Graph *workflow.Graph
	// Aborted: a second interrupt journalled the outcome.
	Aborted bool
}

// Run is `k0rdent run`: check what was asked, take the lock (naming the
// run from the start), judge the current run from the run files, migrate,
// record, schedule, finish. A refusal before the lock writes nothing.
func (d *Deployer) Run(ctx context.Context, o RunOptions) (*RunResult, error) {
	lg, err := d.loadChecked(o)
	if err != nil {
		return nil, err
	}
	// Lock first, then judge: a live holder is reported as such whatever
	// the flags. Refusals that the run files decide are made before the
	// lock is taken, so that a refused run writes nothing; the judgement
	// is made again under the lock.
	if err := d.Store.Probe(); err != nil {
		var le *state.LockedError
		if errors.As(err, &le) {
			return nil, withCode(CodeLocked, LockedError(le))
		}
		return nil, err
	}
	if rt, err := d.current(); err == nil && !d.legacyPending() {
		// (an unreadable state directory is reported by the lock)
		if _, err := d.judge(o, lg, rt, judgePreflight); err != nil {
			return nil, err
		}
	}

	// The holder record names the run from the moment the lock is
	// taken: the one this run would resume, or a new id.
	guess, err := d.guessRunID(o)
	if err != nil {
		return nil, err
	}
	lock, prevHolder, err := d.lock(guess)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if err := d.migrate(); err != nil {
		return nil, err
	}
	rt, err := d.Store.Refresh()
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return nil, err
	}
	j, err := d.judge(o, lg, rt, judgeRun)
	if err != nil {
		return nil, err
	}
	// Before any node runs again: end what a dead k0rdent left running.
	ended := phases.EndProcessGroups(d.Store.LeftoverProcessGroups(j.unfinished, prevHolder), phases.DefaultGracePeriod)
	flags := d.journalFlags(o.Flags, lg.Config, o.FailFast)
	var (
		run     *state.Run
		started = Started{Nodes: lg.Graph.Len(), SelectionChanged: j.selChanged, EndedGroups: ended}
	)
	if j.resume != nil {
		id := j.resume.Header.RunID
		if err := lock.SetRunID(id); err != nil {
			return nil, err
		}
		if run, err = d.Store.OpenRun(id); err != nil {
			return nil, withCode(CodeUsage, fmt.Errorf("resume run %s: %w", id, err))
		}
		var changed state.Selection
		if j.selChanged {
			changed = j.sel.recorded()
		}
		if err := run.ResumedWith(flags, run.Attempt()+1, changed); err != nil {
			run.Close()
			return nil, err
		}
		started.Resumed = true
	} else {
		h := d.header(flags, lg)
		sel := j.sel.recorded()
		h.Only, h.From, h.Skip = sel.Only, sel.From, sel.Skip
		if h.RunID, err = d.newRunID(); err != nil {
			return nil, err
		}
		if h.RunID != guess {
			if err := lock.SetRunID(h.RunID); err != nil {
				return nil, err
			}
		}
		var superseded string
		if run, superseded, err = d.Store.StartFresh(h); err != nil {
			return nil, err
		}
		started.Superseded = superseded
	}
	defer run.Close()
	if err := d.saveRunConfig(run.ID(), lg.Config); err != nil {
		return nil, err
	}
	if prevHolder != nil {
		if err := run.LockTakeover(*prevHolder); err != nil {
			return nil, err
		}
		started.Takeover = prevHolder
	}
	started.RunID, started.Attempt, started.LogDir = run.ID(), run.Attempt(), d.Store.LogLocation(run.ID(), "")
	started.Selection = j.sel.recorded()
	rec, err := d.startRecording(run, lock, o.Event, o.Abort, o.Started, started)
	if err != nil {
		return nil, err
	}
	ws := j.sel.workflow()
	ws.Resume = j.resume != nil
	in, err := d.inputs(lg)
	if err != nil {
		return nil, err
	}
	sched := &workflow.Scheduler{
		Inputs:      in,
		Graph:       lg.Graph,
		RunID:       run.ID(),
		SecretsDir:  lg.Dirs.Secrets,
		Parallelism: o.Parallelism,
		FailFast:    o.FailFast,
		Selection:   ws,
		Recorder:    rec,
		LogSink:     run.LogSink(),
		Log:         d.logger(),
		Now:         d.Now,
	}
	begin := d.now()
	res, runErr := sched.Run(ctx, j.prior)
	if err := d.saveStore(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if res == nil {
		return nil, runErr
	}
	out := &RunResult{RunID: run.ID(), Result: res, Err: runErr, Graph: lg.Graph}
	if rec.isClosed() { // a second interrupt already journalled the outcome
		out.Aborted, out.Outcome = true, state.OutcomeCancelled
		return out, withCode(CodeInterrupted, errors.New("interrupted"))
	}
	outcome, reason := runOutcome(ctx, res, runErr)
	if err := run.Finish(outcome, reason); err != nil {
		return out, fmt.Errorf("journal outcome of run %s: %w", run.ID(), err)
	}
	out.Outcome, out.Took = outcome, d.now().Sub(begin)
	return out, nil
}

// runOutcome is the journalled outcome of a scheduled run: partial when
// it succeeded but the selection left nodes not done: never run
// (pending), or failed, blocked or cancelled in an earlier attempt of
// the run and not selected since.
func runOutcome(ctx context.Context, res *workflow.Result, runErr error) (state.Outcome, string) {
	outcome, reason := state.Outcome(res.Outcome), ""
	switch {
	case runErr != nil && res.Outcome == workflow.OutcomeSucceeded:
		outcome, reason = state.OutcomeFailed, runErr.Error()
	case outcome == state.OutcomeCancelled:
		if cause := context.Cause(ctx); cause != nil {
			reason = cause.Error()
		}
	case outcome == state.OutcomeSucceeded:
		var left []string
		for _, name := range slices.Sorted(maps.Keys(res.Nodes)) {
			if st := res.Nodes[name]; !st.State.Done() {
				left = append(left, name+" "+string(st.State))
			}
		}
		if len(left) > 0 {
			return state.OutcomePartial, "the selection left nodes not done: " + strings.Join(left, ", ")
		}
	}
	return outcome, reason
}

// guessRunID is the run id the lock's holder record names from the
// start: the unfinished run this run would resume, else a new id.
func (d *Deployer) guessRunID(o RunOptions) (string, error) {
	if !o.Fresh {
		if rt, err := d.current(); err == nil {
			if un, err := d.unfinished(rt); err == nil && un != nil {
				return un.Header.RunID, nil
			}
		}
	}
	return d.newRunID()
}

// journalFlags are the run's flags as journalled in its header and in
// resumed records: each optional component's effective value for this
// run under cfg (the flag if given, else the config's enabled key), keyed
// by the journal key its Registry declaration gives, and fail_fast.
func (d *Deployer) journalFlags(f phases.RunFlags, cfg *config.Config, failFast bool) map[string]bool {
	out := d.Registry.Journal(f, cfg)
	out["fail_fast"] = failFast
	return out
}

// startRecording prepares a run or teardown to schedule: the secrets
// directory, the recorder, the caller's second-interrupt abort (journal
// what runs as cancelled, close the run, release the lock) and the notice
// that it started.
func (d *Deployer) startRecording(run *state.Run, lock *state.Lock, event func(workflow.Event),
	abort func(func(string)), notify func(Started), started Started) (*recorder, error) {
	secrets, err := d.Store.SecretsDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", secrets, err)
	}
	rec, err := newRecorder(run, event, d.now)
	if err != nil {
		return nil, err
	}
	if abort != nil {
		abort(func(reason string) {
			rec.abort(reason)
			_ = run.Close()
			_ = lock.Unlock()
		})
	}
	if notify != nil {
		notify(started)
	}
	return rec, nil
}

// loadChecked loads the graph of o's flags and refuses a selection it does
// not name and --resume with --fresh: what Run and Plan refuse alike
// before they look at the state.
func (d *Deployer) loadChecked(o RunOptions) (*Loaded, error) {
	lg, err := d.Load(o.Flags)
	if err != nil {
		return nil, err
	}
	if err := o.Selection.check(lg.Graph); err != nil {
		return nil, err
	}
	if o.Resume && o.Fresh {
		return nil, usagef("--resume and --fresh exclude each other; pick one")
	}
	return lg, nil
}
