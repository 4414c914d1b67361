package deploy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// destroyable registers x -> y -> z, each destroying by appending
// "destroy <name>" to ./side, and w (depends on x) without a Destroy.
func destroyable(e *env) {
	mk := func(name string, deps ...string) *fullPhase {
		return &fullPhase{goPhase: goPhase{name: name, deps: deps, run: func(context.Context, *workflow.Env) error { return appendSide("run " + name) }},
			destroy: func(context.Context, *workflow.Env) error { return appendSide("destroy " + name) }}
	}
	e.register(mk("x"), mk("y", "x"), mk("z", "y"),
		&goPhase{name: "w", deps: []string{"x"}, run: func(context.Context, *workflow.Env) error { return appendSide("run w") }})
}

// Reset destroys, dependents first, only what the journal says exists;
// nodes that never ran are not destroyed (today they "succeeded after
// 0s"); the plan lists the same, node by node; afterwards the current run
// is the teardown.
func TestReset_OnlyWhatExists(t *testing.T) {
	e := newEnv(t, baseConfig)
	destroyable(e)
	e.mustRun(RunOptions{Selection: only("x", "y")})
	resetSide(t)

	p, err := e.deployer().ResetPlan(RunOptions{}.Flags)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Destroys(), []string{"y", "x"}; !slices.Equal(got, want) {
		t.Errorf("plan destroys %q, want %q", got, want)
	}
	actions := map[string]string{}
	for _, n := range p.Nodes {
		actions[n.Node] = n.Action
	}
	if actions["z"] != ResetNeverRan || actions["w"] != ResetNeverRan {
		t.Errorf("never-run nodes in the plan: %+v", actions)
	}

	var confirmed *ResetPlanResult
	res, err := e.deployer().Reset(context.Background(), ResetOptions{Confirm: func(p *ResetPlanResult) (bool, error) {
		confirmed = p
		return true, nil
	}})
	if err != nil || res.Outcome != state.OutcomeSucceeded {
		t.Fatalf("reset: %v %+v", err, res)
	}
	if confirmed == nil || !slices.Equal(confirmed.Destroys(), []string{"y", "x"}) {
		t.Errorf("confirm was shown %+v", confirmed)
	}
	if got, want := sideEffects(t), []string{"destroy y", "destroy x"}; !slices.Equal(got, want) {
		t.Errorf("reset did %q, want %q", got, want)
	}
	rf, _ := state.NewStore("state").Load(res.RunID)
	for _, n := range []string{"z", "w"} {
		if st, ok := rf.Nodes[n]; ok {
			t.Errorf("never-run %s recorded in the teardown: %+v", n, st)
		}
	}
	rt, _ := state.NewStore("state").Current()
	if rt.CurrentRunID != res.RunID || !rf.Header.Teardown {
		t.Errorf("current run after reset %s, want the teardown %s", rt.CurrentRunID, res.RunID)
	}
	// A second reset has nothing to destroy.
	p, _ = e.deployer().ResetPlan(RunOptions{}.Flags)
	if len(p.Destroys()) != 0 {
		t.Errorf("after reset the plan still destroys %q", p.Destroys())
	}
}

// A node whose run failed may have left something: it is destroyed too.
// An unfinished run is archived by the teardown, and the plan says so.
func TestReset_FailedNodeAndUnfinishedRun(t *testing.T) {
	e := newEnv(t, baseConfig)
	destroyable(e)
	e.register(&fullPhase{goPhase: goPhase{name: "v", run: func(context.Context, *workflow.Env) error { return errors.New("half built") }},
		destroy: func(context.Context, *workflow.Env) error { return appendSide("destroy v") }})
	e.run(RunOptions{})
	p, err := e.deployer().ResetPlan(RunOptions{}.Flags)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(p.Destroys(), "v") || p.Unfinished == "" {
		t.Errorf("plan %+v: want v destroyed and the unfinished run named", p)
	}
	resetSide(t)
	if _, err := e.deployer().Reset(context.Background(), ResetOptions{Confirm: func(*ResetPlanResult) (bool, error) { return false, nil }}); !errors.Is(err, ErrNotConfirmed) || code(err) != CodeUsage {
		t.Errorf("not confirmed: %v", err)
	}
	if sideEffects(t) != nil {
		t.Error("an unconfirmed reset destroyed something")
	}
	res, err := e.deployer().Reset(context.Background(), ResetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := sideEffects(t); !slices.Contains(got, "destroy v") {
		t.Errorf("reset did %q", got)
	}
	old, _ := state.NewStore("state").Load(p.Unfinished)
	if old.Outcome != state.OutcomeSuperseded || old.SupersededBy != res.RunID {
		t.Errorf("the unfinished run: %s by %s", old.Outcome, old.SupersededBy)
	}
}

func TestReset_DestroyFails(t *testing.T) {
	e := newEnv(t, baseConfig)
	e.register(&fullPhase{goPhase: goPhase{name: "x"}, destroy: func(context.Context, *workflow.Env) error { return errors.New("still in use") }})
	e.mustRun(RunOptions{})
	res, err := e.deployer().Reset(context.Background(), ResetOptions{})
	if err != nil || res.Outcome != state.OutcomeFailed || res.Err == nil || !strings.Contains(res.Err.Error(), "still in use") {
		t.Errorf("reset: %v %+v", err, res)
	}
}
