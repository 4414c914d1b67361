package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// What ResetPlan says about a node.
const (
	ResetDestroy  = "destroy"            // it exists and has a Destroy
	ResetKeep     = "no teardown"        // it exists but has no Destroy (nothing of its own to remove)
	ResetNeverRan = "nothing to destroy" // the journal says it never ran (or was torn down)
)

// ResetNode is one node of a reset plan, in teardown order.
type ResetNode struct {
	Node   string
	Action string // ResetDestroy, ResetKeep, ResetNeverRan
	// RunID is the run that last ran it; State its state there.
	RunID string
	State workflow.State
	// Legacy is what of the migrated bash tool's deployment its Destroy
	// is handed to remove (runtime.yaml's legacy), "" if nothing; a node
	// no run of ours built is destroyed for it alone.
	Legacy string
}

// ResetPlanResult is what Reset would destroy, node by node, dependents
// first, from what the journal says exists (state.Store.Existing).
type ResetPlanResult struct {
	Nodes []ResetNode
	// Unfinished is the deployment run Reset would archive ("" if none).
	Unfinished string
}

// Destroys lists the nodes the plan destroys, in teardown order.
func (p *ResetPlanResult) Destroys() []string {
	var out []string
	for _, n := range p.Nodes {
		if n.Action == ResetDestroy {
			out = append(out, n.Node)
		}
	}
	return out
}

// ResetOptions are the choices of one `k0rdent reset`.
type ResetOptions struct {
	Flags       phases.RunFlags
	Parallelism int
	// Confirm is shown the plan and decides whether to go on; nil goes on
	// (the caller confirmed already: --yes).
	Confirm func(*ResetPlanResult) (bool, error)
	// Started, Event and Abort are as for Run.
	Started func(Started)
	Event   func(workflow.Event)
	Abort   func(abort func(reason string))
}

// ResetResult is what a teardown did.
type ResetResult struct {
	RunID   string
	Outcome state.Outcome
	Plan    *ResetPlanResult
	Result  *workflow.Result
	Err     error
	// LegacyLeft is what the migrated bash tool created that runtime.yaml
	// still lists after the teardown (its Destroy could not remove it,
	// or no node of the graph manages it), with the commands that remove
	// it by hand.
	LegacyLeft []state.Leftover
}

// ResetPlan is `reset --plan`: what Reset would destroy, computed from the
// run files without the lock and without writing.
func (d *Deployer) ResetPlan(flags phases.RunFlags) (*ResetPlanResult, error) {
	lg, err := d.Load(flags)
	if err != nil {
		return nil, err
	}
	existing, err := d.Store.Existing()
	if err != nil {
		return nil, err
	}
	rt, rtErr := d.current()
	legacy := d.legacyHandover(lg.Graph, existing, rt)
	p := resetPlan(lg.Graph, existing, legacy)
	if rtErr == nil {
		if un, err := d.unfinished(rt); err == nil && un != nil {
			p.Unfinished = un.Header.RunID
		}
	}
	return p, nil
}

// legacyHandover hands each node of g that declares a fact of
// runtime.yaml's legacy section (what the migrated bash tool created:
// its service principal, its KOF) that thing, under the declared key of
// its prior outputs (its Destroy reads Env.Recorded; state.Handover), and
// makes the node exist for the teardown even when no run of ours built
// it (the latest legacy run had it disabled). It changes existing and
// returns, by node, what it handed.
func (d *Deployer) legacyHandover(g *workflow.Graph, existing map[string]workflow.NodeStatus, rt *state.Runtime) map[string]string {
	if rt == nil || rt.Legacy == nil {
		return nil
	}
	what := map[string]string{}
	for _, l := range rt.Legacy.Leftovers() {
		what[l.Fact] = l.What
	}
	out := map[string]string{}
	proj := d.Registry.Projections()
	for _, node := range slices.Sorted(maps.Keys(proj)) {
		ph, ok := g.Phase(node)
		if !ok {
			continue
		}
		if _, ok := ph.(workflow.Destroyer); !ok {
			continue
		}
		for _, fact := range slices.Sorted(maps.Keys(proj[node])) {
			v, ok := rt.Legacy.Handover(fact)
			if !ok {
				continue
			}
			st := existing[node]
			if !workflow.Exists(st) {
				st = workflow.NodeStatus{State: workflow.Succeeded}
			}
			st.Outputs = maps.Clone(st.Outputs)
			if st.Outputs == nil {
				st.Outputs = map[string]string{}
			}
			st.Outputs[proj[node][fact]] = v
			existing[node] = st
			if out[node] != "" {
				out[node] += "; "
			}
			out[node] += what[fact]
		}
	}
	return out
}

func resetPlan(g *workflow.Graph, existing map[string]workflow.NodeStatus, legacy map[string]string) *ResetPlanResult {
	order := g.TopoOrder()
	slices.Reverse(order)
	p := &ResetPlanResult{}
	for _, name := range order {
		st, ok := existing[name]
		n := ResetNode{Node: name, Action: ResetNeverRan, Legacy: legacy[name]}
		if ok && workflow.Exists(st) {
			n.RunID, n.State = st.RunID, st.State
			ph, _ := g.Phase(name)
			n.Action = ResetKeep
			if _, ok := ph.(workflow.Destroyer); ok {
				n.Action = ResetDestroy
			}
		}
		p.Nodes = append(p.Nodes, n)
	}
	return p
}

// ErrNotConfirmed is returned when Confirm says no.
var ErrNotConfirmed = errors.New("deploy: reset not confirmed")

// Reset is `k0rdent reset`: take the lock, compute what exists from the
// journal, confirm, then run the teardown as a run of its own (header kind
// teardown, which archives an unfinished deployment run): Destroy of each
// existing node, dependents first. Nodes that never ran are not touched
// and not recorded. Afterwards the current run is the teardown, which
// `status` reports as torn down.
func (d *Deployer) Reset(ctx context.Context, o ResetOptions) (*ResetResult, error) {
	lg, err := d.Load(o.Flags)
	if err != nil {
		return nil, err
	}
	id, err := d.newRunID()
	if err != nil {
		return nil, err
	}
	lock, prevHolder, err := d.lock(id)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if err := d.migrate(); err != nil {
		return nil, err
	}
	if _, err := d.Store.Refresh(); err != nil && !errors.Is(err, state.ErrNotFound) {
		return nil, err
	}
	existing, err := d.Store.Existing()
	if err != nil {
		return nil, err
	}
	rt, err := d.current()
	if err != nil {
		return nil, err
	}
	plan := resetPlan(lg.Graph, existing, d.legacyHandover(lg.Graph, existing, rt))
	if o.Confirm != nil {
		ok, err := o.Confirm(plan)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, withCode(CodeUsage, ErrNotConfirmed)
		}
	}
	h := d.header(d.Registry.Journal(o.Flags, lg.Config), lg)
	h.Teardown = true
	if again, err := d.newRunID(); err == nil && again != id {
		id = again
		if err := lock.SetRunID(id); err != nil {
			return nil, err
		}
	}
	h.RunID = id
	run, superseded, err := d.Store.StartFresh(h)
	if err != nil {
		return nil, err
	}
	defer run.Close()
	started := Started{RunID: run.ID(), Attempt: 1, Nodes: len(plan.Destroys()), LogDir: d.Store.LogLocation(run.ID(), ""), Superseded: superseded}
	if prevHolder != nil {
		if err := run.LockTakeover(*prevHolder); err != nil {
			return nil, err
		}
		started.Takeover = prevHolder
	}
	rec, err := d.startRecording(run, lock, o.Event, o.Abort, o.Started, started)
	if err != nil {
		return nil, err
	}
	prior := map[string]workflow.NodeStatus{}
	for name, st := range existing {
		if lg.Graph.Has(name) {
			prior[name] = st
		}
	}
	sched := &workflow.Scheduler{Graph: lg.Graph, RunID: run.ID(), SecretsDir: lg.Dirs.Secrets, Parallelism: o.Parallelism,
		Recorder: rec, LogSink: run.LogSink(), Log: d.logger(), Now: d.Now}
	res, destroyErr := sched.Destroy(ctx, prior)
	if err := d.saveStore(); err != nil {
		destroyErr = errors.Join(destroyErr, err)
	}
	if res == nil {
		return nil, destroyErr
	}
	out := &ResetResult{RunID: run.ID(), Plan: plan, Result: res, Err: destroyErr}
	if rec.isClosed() {
		out.Outcome = state.OutcomeCancelled
		return out, withCode(CodeInterrupted, errors.New("interrupted"))
	}
	outcome, reason := state.Outcome(res.Outcome), ""
	if destroyErr != nil && outcome == state.OutcomeSucceeded {
		outcome, reason = state.OutcomeFailed, destroyErr.Error()
	}
	if err := run.Finish(outcome, reason); err != nil {
		return out, fmt.Errorf("journal outcome of teardown %s: %w", run.ID(), err)
	}
	out.Outcome = outcome
	if rt, err := d.current(); err == nil && rt != nil {
		out.LegacyLeft = rt.Legacy.Leftovers()
	}
	return out, nil
}
