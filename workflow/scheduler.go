package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"
)

// Scheduler runs a Graph. It is a plain struct: set the fields, then call
// Run (or Destroy). The zero value of every field but Graph is usable. Run
// and Destroy do not modify the Scheduler.
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
	// Inputs, when set, digests each node's inputs into its succeeded
	// records and, on a run that is not a resume, reuses the nodes whose
	// inputs did not change (see Inputs). Nil: no digests; a new run runs
	// every selected node.
	Inputs *Inputs
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

	liveness time.Duration // "still running" interval; 0 means 30s (tests set it)
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
	r := s.newRun(ctx, prior, decide(s.Graph, prior, s.Selection, s.Inputs, nil), false)
	r.inputs = s.Inputs
	return r.run()
}

// Destroy tears the graph down: every Destroyer phase's Destroy runs after
// the Destroy of everything that depends on it, with the same recording,
// logs, policies, cancellation and failure rules as Run (a succeeded record
// means destroyed; a failed Destroy blocks the teardown of what its node
// depends on). Phases without Destroy are passed over without a record.
// Selection and enablement do not apply: teardown removes everything that
// exists. With a prior, a node exists when its prior state says it ran
// (succeeded, failed, running or cancelled while running): a node that
// never ran, or was skipped, has nothing to destroy and is passed over
// like a phase without Destroy. A nil prior destroys every Destroyer.
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
		if _, ok := p.(Destroyer); ok && (prior == nil || Exists(prior[p.Name()])) {
			ds[i].action, ds[i].reason = ActionRun, "destroy"
		}
	}
	return s.newRun(ctx, prior, ds, true).run()
}

// Exists reports whether a node in state st may have left something to
// destroy: it ran (succeeded, failed, or was left running or cancelled
// after it started, Attempt > 0).
func Exists(st NodeStatus) bool {
	switch st.State {
	case Succeeded, Failed, Running:
		return true
	case Cancelled, Blocked:
		return st.Attempt > 0
	}
	return false
}

func validPrior(prior map[string]NodeStatus) error {
	for _, name := range slices.Sorted(maps.Keys(prior)) {
		if st := prior[name].State; st != "" && !st.Valid() {
			return fmt.Errorf("prior state of %s: unknown state %q (want one of %v)", name, st, States)
		}
	}
	return nil
}
