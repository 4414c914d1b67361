package workflow

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
)

// TestScheduler_CheckNodes verifies the named nodes only; the others hand
// their recorded outputs to their dependents' inputs, as in a run.
func TestScheduler_CheckNodes(t *testing.T) {
	var mu sync.Mutex
	verified := map[string]map[string]map[string]string{} // node → the inputs its Verify saw
	mk := func(name string, deps ...string) Phase {
		return verifierPhase{&fakePhase{name: name, deps: deps, verify: func(ctx context.Context, env *Env) error {
			mu.Lock()
			defer mu.Unlock()
			verified[name] = env.Inputs
			if name == "b" {
				return errors.New("b is gone")
			}
			return nil
		}}}
	}
	g := mustGraph(t, mk("a"), mk("b", "a"), mk("c", "b"))
	prior := map[string]NodeStatus{}
	for _, n := range []string{"a", "b", "c"} {
		prior[n] = NodeStatus{State: Succeeded, Attempt: 1, RunID: "r1", Outputs: map[string]string{"id": n + "-1"}}
	}
	s := &Scheduler{Graph: g}
	got, err := s.CheckNodes(context.Background(), prior, []string{"b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["b"] == nil || got["c"] != nil {
		t.Errorf("CheckNodes(b, c) = %v, want b's error and c nil, nothing for a", got)
	}
	if _, ok := verified["a"]; ok {
		t.Error("a was verified although not named")
	}
	if in := verified["b"]; !maps.Equal(in["a"], map[string]string{"id": "a-1"}) {
		t.Errorf("b's Verify saw inputs %v, want a's recorded outputs", in)
	}
	if in := verified["c"]; !maps.Equal(in["b"], map[string]string{"id": "b-1"}) {
		t.Errorf("c's Verify saw inputs %v, want b's recorded outputs", in)
	}
}
