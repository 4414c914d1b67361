package workflow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestScheduler_RandomGraphs runs many random graphs with random prior
// states, capabilities and failures, and checks the invariants that must
// hold whatever happens: legal transitions from the recorded state (the
// recorder asserts them), no phase starting before its dependencies are
// recorded done, every node final at the end, the outcome and the error
// agreeing, and the plan agreeing with what ran.
func TestScheduler_RandomGraphs(t *testing.T) {
	states := []State{"", Pending, Running, Succeeded, Succeeded, Succeeded, Failed, Skipped, Blocked, Cancelled}
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 7))
		n := 2 + rng.IntN(12)
		var rec *memRecorder
		prior := map[string]NodeStatus{}
		var group *groupRecorder // half the graphs go through the group commit
		// durable is what the run journalled durably of a node.
		durable := func(node string) State {
			if group != nil {
				return group.lastDurable(node, cmp.Or(prior[node].State, Pending))
			}
			return rec.lastState(node)
		}
		var mu sync.Mutex
		ran := map[string]bool{}
		var phases []Phase
		for i := range n {
			f := ph(fmt.Sprintf("p%02d", i))
			for j := range i {
				if rng.IntN(3) == 0 {
					f.deps = append(f.deps, fmt.Sprintf("p%02d", j))
				}
			}
			st := states[rng.IntN(len(states))]
			if st != "" {
				prior[f.name] = NodeStatus{State: st, Attempt: rng.IntN(3), RunID: "r1"}
			}
			fails, transient := rng.IntN(8) == 0, rng.IntN(6) == 0
			f.policy = Policy{Retries: 1, Backoff: 1}
			f.run = func(ctx context.Context, env *Env) error {
				if got := durable(env.Node); got != Running {
					t.Errorf("seed %d: %s started while recorded %s", seed, env.Node, got)
				}
				for _, d := range f.deps {
					if got := durable(d); !got.Done() {
						t.Errorf("seed %d: %s started while dependency %s is recorded %s", seed, env.Node, d, got)
					}
				}
				mu.Lock()
				ran[env.Node] = true
				mu.Unlock()
				switch {
				case fails:
					return errors.New("boom")
				case transient && env.Attempt == prior[env.Node].Attempt+1:
					return Transient(errors.New("flaky"))
				}
				return nil
			}
			verifyFails := rng.IntN(3) == 0
			f.verify = func(context.Context, *Env) error {
				if verifyFails {
					return errors.New("drifted")
				}
				return nil
			}
			f.volatile = rng.IntN(6) == 0
			on := rng.IntN(8) != 0
			f.enabled = func() (bool, string) { return on, "off" }
			var p Phase = fullPhase{f}
			if rng.IntN(2) == 0 {
				p = policerPhase{f} // no Verifier, no Enabler
			}
			phases = append(phases, p)
		}
		g := mustGraph(t, phases...)
		var sel Selection
		pick := func() []string { return []string{fmt.Sprintf("p%02d", rng.IntN(n))} }
		switch rng.IntN(6) {
		case 0:
			sel.Only = pick()
		case 1:
			sel.From = pick()
		case 2:
			sel.Skip = pick()
		}
		selected, _ := sel.resolve(g)
		plan := Plan(g, PlanOptions{Prior: prior, Selection: sel})
		rec = newRecorder(t, prior)
		var recorder Recorder = rec
		group = nil
		if seed%2 == 1 {
			group = &groupRecorder{inner: rec}
			recorder = group
		}
		s := &Scheduler{Graph: g, Recorder: recorder, Parallelism: 1 + rng.IntN(4), FailFast: rng.IntN(4) == 0, Selection: sel}
		ctx, cancel := context.WithCancel(context.Background())
		if rng.IntN(5) == 0 {
			left := 1 + rng.IntN(2*n)
			rec.failOn = func(Event) error {
				if left--; left == 0 {
					cancel()
				}
				return nil
			}
		}
		res, err := s.Run(ctx, prior)
		cancel()
		if group != nil {
			group.allDurable(t)
		}
		if (err == nil) != (res.Outcome == OutcomeSucceeded) {
			t.Errorf("seed %d: outcome %s with error %v", seed, res.Outcome, err)
		}
		allDone := true
		for _, pn := range plan.Nodes {
			st := res.Nodes[pn.Name]
			if !selected[g.index[pn.Name]] {
				if ran[pn.Name] || (st.State != prior[pn.Name].State && prior[pn.Name].State != "") {
					t.Errorf("seed %d: %s is not selected but ran or changed to %s", seed, pn.Name, st.State)
				}
				continue
			}
			if !st.State.Final() {
				t.Errorf("seed %d: %s ends %s", seed, pn.Name, st.State)
			}
			allDone = allDone && st.State.Done()
			switch pn.Action {
			case ActionRun:
				if !ran[pn.Name] && st.State != Blocked && st.State != Cancelled {
					t.Errorf("seed %d: %s planned to run, did not, ends %s", seed, pn.Name, st.State)
				}
			case ActionSkip, ActionReuse, ActionBlocked:
				if ran[pn.Name] {
					t.Errorf("seed %d: %s planned %s but ran", seed, pn.Name, pn.Action)
				}
			}
		}
		if res.Outcome != OutcomeCancelled && allDone != (res.Outcome == OutcomeSucceeded) {
			t.Errorf("seed %d: outcome %s, all nodes done %v:\n%s", seed, res.Outcome, allDone, rec.trail())
		}
	}
}
