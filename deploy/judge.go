package deploy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Selection is --only/--from/--skip/--replace as given. Given reports, per
// field, whether the flag was on the command line at all, so that an
// empty value (--only ” from an empty $PHASES) is refused instead of
// selecting everything.
type Selection struct {
	Only, From, Skip, Replace []string
	// OnlyGiven, FromGiven, SkipGiven, ReplaceGiven: the flag was given
	// (perhaps with an empty value).
	OnlyGiven, FromGiven, SkipGiven, ReplaceGiven bool
}

// narrows reports whether the selection narrows the run.
func (s Selection) narrows() bool { return len(s.Only)+len(s.From)+len(s.Skip) > 0 }

// workflow is the engine's selection.
func (s Selection) workflow() workflow.Selection {
	return workflow.Selection{Only: s.Only, From: s.From, Skip: s.Skip, Replace: s.Replace}
}

// fromRecorded is the selection a run recorded.
func fromRecorded(r state.Selection) Selection {
	return Selection{Only: r.Only, From: r.From, Skip: r.Skip}
}

// recorded is the selection as the run header keeps it.
func (s Selection) recorded() state.Selection {
	return state.Selection{Only: s.Only, From: s.From, Skip: s.Skip}
}

// check refuses, before anything is written: a selection flag given
// empty, unknown names, and a selection that selects nothing.
func (s Selection) check(g *workflow.Graph) error {
	for _, f := range []struct {
		flag  string
		given bool
		names []string
	}{{"--only", s.OnlyGiven, s.Only}, {"--from", s.FromGiven, s.From}, {"--skip", s.SkipGiven, s.Skip}, {"--replace", s.ReplaceGiven, s.Replace}} {
		if f.given && len(f.names) == 0 {
			return usagef("%s: empty; name at least one phase (known: %s), or leave %s out to run every phase",
				f.flag, strings.Join(g.Names(), ", "), f.flag)
		}
	}
	ws := s.workflow()
	if err := ws.Validate(g); err != nil {
		flags := "--only/--from/--skip"
		if len(s.Replace) > 0 {
			flags += "/--replace"
		}
		return withCode(CodeUsage, fmt.Errorf("%s: %w", flags, err))
	}
	if s.narrows() && len(ws.Selected(g)) == 0 {
		return usagef("the selection selects no phase (--only %s --from %s --skip %s); nothing would run",
			listOrNone(s.Only), listOrNone(s.From), listOrNone(s.Skip))
	}
	return nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ",")
}

// unfinished returns the current run when it is one `run` offers to
// resume: not succeeded, not partial, not superseded, not a teardown
// (including a run without an outcome: its process died). rt is the
// current projection (state.Store.Current); nil means nothing yet.
func (d *Deployer) unfinished(rt *state.Runtime) (*state.RunFile, error) {
	if rt == nil || rt.CurrentRunID == "" {
		return nil, nil
	}
	rf, err := d.Store.Load(rt.CurrentRunID)
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	switch {
	case rf.Header.Teardown,
		rf.Outcome == state.OutcomeSucceeded, rf.Outcome == state.OutcomePartial, rf.Outcome == state.OutcomeSuperseded:
		return nil, nil
	}
	return rf, nil
}

// current is the projection as the run files say it is (nil: nothing).
func (d *Deployer) current() (*state.Runtime, error) {
	rt, err := d.Store.Current()
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	return rt, err
}

// Describe is one line about an unfinished run.
func Describe(rf *state.RunFile) string {
	id := rf.Header.RunID
	var done, total int
	for _, st := range rf.Nodes {
		total++
		if st.State.Done() {
			done++
		}
	}
	sel := ""
	if s := rf.Selection(); !s.Empty() {
		sel = ", selection " + s.String()
	}
	switch rf.Outcome {
	case state.OutcomeNone:
		return fmt.Sprintf("run %s is unfinished (the process stopped; %d of %d nodes done%s)", id, done, total, sel)
	case state.OutcomeFailed:
		return fmt.Sprintf("run %s failed at %s (%d of %d nodes done%s)", id, strings.Join(rf.FailedNodes(), ", "), done, total, sel)
	default:
		return fmt.Sprintf("run %s was %s (%d of %d nodes done%s)", id, rf.Outcome, done, total, sel)
	}
}

// nothingToResume is the refusal of --resume without an unfinished run.
func (d *Deployer) nothingToResume(rt *state.Runtime) error {
	teardown := false
	if rt != nil && rt.CurrentRunID != "" {
		if rf, err := d.Store.Load(rt.CurrentRunID); err == nil {
			teardown = rf.Header.Teardown
		}
	}
	switch {
	case rt == nil || rt.CurrentRunID == "":
		return usagef("nothing to resume: no run yet; start one with: %s run", d.name())
	case teardown:
		return usagef("nothing to resume: the current run %s is a teardown (k0rdent reset); start a new run with: %s run", rt.CurrentRunID, d.name())
	case rt.CurrentOutcome == state.OutcomeSucceeded:
		return usagef("nothing to resume: run %s succeeded; to converge again use: %s run", rt.CurrentRunID, d.name())
	case rt.CurrentOutcome == state.OutcomePartial:
		return usagef("nothing to resume: run %s ran its whole selection (partial); run the rest with: %s run", rt.CurrentRunID, d.name())
	default:
		return usagef("nothing to resume: the current run %s was archived; start a new run with: %s run", rt.CurrentRunID, d.name())
	}
}

// judgement is what Run (and Plan) do about the current state.
type judgement struct {
	resume     *state.RunFile // the run to resume; nil: a new run
	unfinished *state.RunFile // the unfinished current run, resumed or archived
	sel        Selection      // the effective selection
	selChanged bool           // --resume with a selection other than the run's
	prior      map[string]workflow.NodeStatus
	digestNote string // plan: the resume would be refused without --force
}

// judgeMode is who judges: Plan, Run before the lock (refusals only,
// never a prompt), or Run under the lock.
type judgeMode int

const (
	judgeRun judgeMode = iota
	judgePlan
	judgePreflight
)

// judge decides between a new run and the resume of the unfinished one,
// with the refusals both Run and Plan make. o.Decide is asked when neither
// --resume, --fresh nor --yes decides; without it Run refuses naming both
// flags, and Plan plans the resume (what --yes would do).
func (d *Deployer) judge(o RunOptions, lg *Loaded, rt *state.Runtime, mode judgeMode) (*judgement, error) {
	planning := mode == judgePlan
	j := &judgement{sel: o.Selection}
	un, err := d.unfinished(rt)
	if err != nil {
		return nil, err
	}
	j.unfinished = un
	resume := false
	switch {
	case un == nil:
		if o.Resume {
			return nil, d.nothingToResume(rt)
		}
	case o.Fresh:
	case un.Err != nil:
		return nil, withCode(CodeUsage, fmt.Errorf("current run %s cannot be resumed: %w", un.Header.RunID, un.Err))
	case o.Resume, o.Yes:
		resume = true
	case planning:
		resume = true
	case o.Decide != nil && mode == judgePreflight:
		return j, nil // asked under the lock
	case o.Decide != nil:
		if resume, err = o.Decide(Describe(un)); err != nil {
			return nil, err
		}
	default:
		return nil, usagef("%s; pass --resume to continue it or --fresh to archive it and start a new run", Describe(un))
	}
	if !resume {
		// A new run starts from what earlier runs know: the nodes it does
		// not select keep their state, and those it selects are reused when
		// their inputs did not change (workflow.Inputs).
		if j.prior, err = d.Store.LastKnown(); err != nil {
			return nil, err
		}
		return j, nil
	}
	j.resume = un
	id := un.Header.RunID
	if dg := un.Header.ConfigDigest; dg != "" && dg != lg.Config.Digest() && !o.Force {
		msg := fmt.Sprintf("%s changed since run %s started (changed: %s)", d.ConfigPath, id, d.changedKeys(id, lg.Config))
		if planning && !o.Resume && !o.Yes {
			j.digestNote = msg + "; the resume would be refused without --force"
		} else {
			return nil, usagef("%s; revert the change, or pass --force to resume with the new config, or --fresh to start a new run", msg)
		}
	}
	recorded := fromRecorded(un.Selection())
	if o.Selection.narrows() && !sameSelection(recorded, o.Selection) {
		j.selChanged = true
	} else {
		j.sel.Only, j.sel.From, j.sel.Skip = recorded.Only, recorded.From, recorded.Skip
	}
	for _, n := range j.sel.Only {
		if !lg.Graph.Has(n) {
			return nil, usagef("run %s selected %s, which is not a phase of %s any more; pass --fresh to start a new run", id, n, d.ConfigPath)
		}
	}
	j.prior = un.Nodes
	return j, nil
}

func sameSelection(a, b Selection) bool {
	return slices.Equal(a.Only, b.Only) && slices.Equal(a.From, b.From) && slices.Equal(a.Skip, b.Skip)
}
