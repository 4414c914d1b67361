package workflow

import (
	"context"
	"errors"
)

// Check asks every node that succeeded in prior and implements Verifier
// whether what it built still exists, as a run would before reusing it:
// through the scheduler, so with each node's Policy.Timeout, the grace
// period, panic recovery and the node's log (LogSink, at the attempt that
// built it), in dependency order (a node is verified after its
// dependencies were), at most Parallelism at once. Nothing is recorded
// and nothing runs but Verify; Selection and FailFast do not apply. The
// map has one entry per verified node: nil when it is still there, else
// what Verify found (context.Canceled if the check was interrupted).
func (s *Scheduler) Check(ctx context.Context, prior map[string]NodeStatus) (map[string]error, error) {
	return s.check(ctx, prior, nil)
}

// CheckNodes is Check of the named nodes only: the other nodes of prior
// are not verified, but hand their recorded outputs to their dependents'
// Env.Inputs, as in a run (`run --plan --verify` verifies what the plan
// would verify then reuse, given its dependencies' last success).
func (s *Scheduler) CheckNodes(ctx context.Context, prior map[string]NodeStatus, names []string) (map[string]error, error) {
	only := make(map[string]bool, len(names))
	for _, n := range names {
		only[n] = true
	}
	return s.check(ctx, prior, only)
}

func (s *Scheduler) check(ctx context.Context, prior map[string]NodeStatus, only map[string]bool) (map[string]error, error) {
	if s.Graph == nil {
		return nil, errors.New("scheduler: no graph; set Scheduler.Graph")
	}
	if err := validPrior(prior); err != nil {
		return nil, err
	}
	ds := make([]decision, s.Graph.Len())
	for i, p := range s.Graph.phases {
		ds[i] = decision{action: actionPass, attempt: prior[p.Name()].Attempt, selected: true}
		if _, ok := p.(Verifier); ok && prior[p.Name()].State == Succeeded && (only == nil || only[p.Name()]) {
			ds[i].action = ActionVerify
		}
	}
	cs := *s
	cs.Recorder = nil
	r := cs.newRun(ctx, prior, ds, false)
	r.check, r.checks = true, map[string]error{}
	if _, err := r.run(); err != nil && !errors.Is(err, context.Canceled) {
		return r.checks, err
	}
	return r.checks, ctx.Err()
}
