package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/k0rdent/k0rdent-deploy/deploy"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// report prints the end of a run (summary, and per failed node its error,
// log tail and how to resume) and maps its outcome to the exit code.
func (a *app) report(store *state.Store, res *deploy.RunResult) error {
	a.summary(res.RunID, res.Outcome, res.Result, res.Took)
	switch res.Outcome {
	case state.OutcomeSucceeded:
		return nil
	case state.OutcomePartial:
		fmt.Fprintf(a.Stdout, "the selection left enabled phases unrun: the run is partial and does not count as a successful deployment; run them with: %s run\n", a.Name)
		return nil
	case state.OutcomeCancelled:
		return shown(withCode(ExitInterrupted, fmt.Errorf("run %s interrupted", res.RunID)))
	}
	a.failureReport(res.RunID, store, res.Graph, res.Result, res.Err)
	code := ExitPhaseFailed
	if onlyPreconditions(res.Err) {
		code = ExitPrecondition
	}
	return shown(withCode(code, fmt.Errorf("run %s failed: %w", res.RunID, res.Err)))
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
func (a *app) summary(runID string, outcome state.Outcome, res *workflow.Result, took time.Duration) {
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
	fmt.Fprintf(a.Stdout, "run %s %s in %s: %s\n", runID, outcome, roundDuration(took), strings.Join(parts, ", "))
	if len(res.Critical) > 0 {
		fmt.Fprintf(a.Stdout, "critical path: %s (%s)\n", strings.Join(res.Critical, " -> "), roundDuration(res.CriticalDuration))
	}
}

// failureReport prints, per failed node: its error, the nodes it blocked,
// the last lines of its log and the log's path; then how to resume.
func (a *app) failureReport(runID string, store *state.Store, g *workflow.Graph, res *workflow.Result, runErr error) {
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
		path := store.LogLocation(runID, name)
		if tail, err := store.TailLog(runID, name, 20); err == nil && len(tail) > 0 {
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
