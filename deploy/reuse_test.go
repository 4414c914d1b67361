package deploy

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// dayTwoConfig: a -> b -> c command phases, d (reads ./input.txt)
// depends on a and on the Go phases infra (Verify fails while ./gone
// exists) and tunnel (volatile). Every start appends "<name> ran" to
// ./side, outside the state directory.
func dayTwoConfig(bEnv string) string {
	return baseConfig + `phases:
  - name: a
    command: [sh, -c, "echo a ran >> side; echo out=from-a > $K0RDENT_OUTPUT"]
  - name: b
    command: [sh, -c, "echo b ran >> side; echo out=$B > $K0RDENT_OUTPUT"]
    env: {` + bEnv + `}
    depends_on: [a]
  - name: c
    command: [sh, -c, "echo c ran >> side"]
    depends_on: [b]
  - name: d
    command: [sh, -c, "echo d ran >> side; cat input.txt >/dev/null"]
    depends_on: [a, infra, tunnel]
    inputs: [input.txt]
`
}

// declaredPhase is a Go phase that declares its inputs, verifies, and may
// be volatile.
type declaredPhase struct {
	fullPhase
	volatile bool
}

var (
	_ phases.InputsDeclarer = (*declaredPhase)(nil)
	_ workflow.Volatiler    = (*declaredPhase)(nil)
)

func (p *declaredPhase) Inputs(*config.Config) phases.Inputs {
	return phases.Inputs{Version: "test-1", Config: []string{"azure.location"}}
}
func (p *declaredPhase) Volatile() bool { return p.volatile }

func newDayTwo(t *testing.T) *env {
	e := newEnv(t, dayTwoConfig("B: one"))
	e.write("input.txt", "v1")
	mk := func(name string, volatile bool) *declaredPhase {
		return &declaredPhase{volatile: volatile, fullPhase: fullPhase{
			goPhase: goPhase{name: name, run: func(ctx context.Context, env *workflow.Env) error {
				env.SetOutput("id", name+"-1")
				return appendSide(name + " ran")
			}},
			verify: func(ctx context.Context, env *workflow.Env) error {
				if _, err := os.Stat("gone"); err == nil && name == "infra" {
					return os.ErrNotExist
				}
				return nil
			},
		}}
	}
	e.register(mk("infra", false), mk("tunnel", true))
	return e
}

// ran runs and returns the sorted names of the nodes that started.
func (e *env) ran(o RunOptions) []string {
	e.t.Helper()
	resetSide(e.t)
	res := e.mustRun(o)
	if res.Outcome != "succeeded" {
		e.t.Fatalf("outcome %s: %v", res.Outcome, res.Err)
	}
	var out []string
	for _, l := range sideEffects(e.t) {
		out = append(out, strings.TrimSuffix(l, " ran"))
	}
	slices.Sort(out)
	return out
}

// planned is each node's "action (reason)".
func (e *env) planned(o RunOptions) (map[string]string, *Planned) {
	e.t.Helper()
	p, err := e.deployer().Plan(o)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range p.Plan.Nodes {
		out[n.Name] = string(n.Action) + " (" + n.Reason + ")"
	}
	return out, p
}

func TestRun_DayTwoReuse(t *testing.T) {
	e := newDayTwo(t)
	if got := e.ran(RunOptions{}); !slices.Equal(got, []string{"a", "b", "c", "d", "infra", "tunnel"}) {
		t.Fatalf("first run ran %v, want everything", got)
	}
	first := e.current().Header.RunID

	t.Run("NothingChanged", func(t *testing.T) {
		plan, p := e.planned(RunOptions{})
		if p.Plan.Counts() != "1 run, 1 verify then reuse, 1 decided at run time, 3 reuse" {
			t.Errorf("summary %q, want 1 run (the volatile tunnel), 1 verify then reuse (infra), 1 decided at run time (d, after infra's Verify), 3 reuse", p.Plan.Counts())
		}
		if got, want := plan["infra"], "verify then reuse (unchanged since run "+first+")"; got != want {
			t.Errorf("infra planned %q, want %q", got, want)
		}
		plan, p = e.planned(RunOptions{Verify: true})
		if got, want := plan["infra"], "reuse (unchanged since run "+first+", verified)"; got != want {
			t.Errorf("plan --verify: infra %q, want %q", got, want)
		}
		if p.Plan.Counts() != "1 run, 5 reuse" {
			t.Errorf("plan --verify summary %q, want 1 run, 5 reuse", p.Plan.Counts())
		}
		if got := e.ran(RunOptions{}); !slices.Equal(got, []string{"tunnel"}) {
			t.Errorf("ran %v, want only the volatile tunnel", got)
		}
		rf := e.current()
		for _, n := range []string{"a", "b", "c", "d", "infra"} {
			if st := rf.Nodes[n]; st.State != workflow.Succeeded || !strings.Contains(st.Reason, "unchanged since run") || st.Digest == "" {
				t.Errorf("%s: %s %q digest %q, want reused (unchanged since run …) with its digest", n, st.State, st.Reason, st.Digest)
			}
		}
	})
	t.Run("EnvChangedOutputsChanged", func(t *testing.T) {
		e.write("k0rdent.yaml", dayTwoConfig("B: two"))
		plan, p := e.planned(RunOptions{})
		if got, want := plan["b"], "run (changed: phases[1].env.B one → two)"; got != want {
			t.Errorf("b planned %q, want %q", got, want)
		}
		if !strings.HasPrefix(plan["c"], "decided at run time (reuse if the outputs of b are unchanged") {
			t.Errorf("c planned %q, want decided at run time by b's outputs", plan["c"])
		}
		if len(p.Diff.Keys) != 1 || p.Diff.Keys[0].Key != "phases[1].env.B" || !slices.Equal(p.Diff.Keys[0].Nodes, []string{"b"}) {
			t.Errorf("diff %+v, want phases[1].env.B feeding b", p.Diff)
		}
		if got := e.ran(RunOptions{}); !slices.Equal(got, []string{"b", "c", "tunnel"}) {
			t.Errorf("ran %v, want b (changed), c (its input changed) and the tunnel", got)
		}
		if got := e.runningReason("c"); got != "input from b changed: out" {
			t.Errorf("c ran because %q, want the changed input named", got)
		}
	})
	t.Run("EnvChangedSameOutputs", func(t *testing.T) {
		e.write("k0rdent.yaml", dayTwoConfig("B: two, UNUSED: x"))
		if got := e.ran(RunOptions{}); !slices.Equal(got, []string{"b", "tunnel"}) {
			t.Errorf("ran %v, want b only (and the tunnel): its outputs did not change, so c is reused", got)
		}
	})
	t.Run("InputFileChanged", func(t *testing.T) {
		e.write("input.txt", "v2")
		plan, _ := e.planned(RunOptions{})
		if !strings.HasPrefix(plan["d"], "run (changed since run") {
			t.Errorf("d planned %q, want run: its input file changed", plan["d"])
		}
		if got := e.ran(RunOptions{}); !slices.Equal(got, []string{"d", "tunnel"}) {
			t.Errorf("ran %v, want d only (and the tunnel)", got)
		}
	})
	t.Run("Drift", func(t *testing.T) {
		e.write("gone", "")
		defer os.Remove("gone")
		plan, _ := e.planned(RunOptions{Verify: true})
		if got := plan["infra"]; got != "run (drift: verify failed: file does not exist)" {
			t.Errorf("plan --verify: infra %q, want run (drift: …)", got)
		}
		if got := plan["a"]; !strings.HasPrefix(got, "reuse (unchanged since run ") {
			t.Errorf("plan --verify: a %q, want reuse", got)
		}
		if got := e.ran(RunOptions{}); !slices.Equal(got, []string{"infra", "tunnel"}) {
			t.Errorf("ran %v, want infra (drift; same outputs after, so d is reused) and the tunnel", got)
		}
		if got := e.runningReason("infra"); !strings.HasPrefix(got, "drift: verify failed") {
			t.Errorf("infra ran because %q, want drift", got)
		}
	})
	t.Run("Replace", func(t *testing.T) {
		if got := e.ran(RunOptions{Selection: Selection{Replace: []string{"c"}, ReplaceGiven: true}}); !slices.Equal(got, []string{"c", "tunnel"}) {
			t.Errorf("ran %v, want c (replaced) and the tunnel", got)
		}
	})
}

// runningReason is the reason of node's last running record in the
// current run.
func (e *env) runningReason(node string) string {
	e.t.Helper()
	why := "(did not run)"
	for _, r := range e.current().Records {
		if r.Node == node && r.To == workflow.Running {
			why = r.Reason
		}
	}
	return why
}

// TestRun_DayTwoEnableComponent: enabling an optional component on a
// succeeded deployment runs only what it enables (and the volatile
// tunnel); everything else is reused after Verify.
func TestRun_DayTwoEnableComponent(t *testing.T) {
	e := newDayTwo(t)
	e.write("k0rdent.yaml", strings.Replace(dayTwoConfig("B: one"), "phases:", "kof:\n  regional:\n    enabled: false\nphases:", 1)+`  - name: observe
    command: [sh, -c, "echo observe ran >> side"]
    depends_on: [c]
    when: with_kof
`)
	if got := e.ran(RunOptions{}); slices.Contains(got, "observe") {
		t.Fatalf("first run ran %v, want observe skipped", got)
	}
	with := phases.RunFlags{"with_kof": true}
	plan, _ := e.planned(RunOptions{Flags: with})
	if !strings.HasPrefix(plan["observe"], "run (enabled: was skipped") {
		t.Errorf("observe planned %q, want run (enabled: was skipped …)", plan["observe"])
	}
	if got := e.ran(RunOptions{Flags: with}); !slices.Equal(got, []string{"observe", "tunnel"}) {
		t.Errorf("ran %v, want only observe (enabled) and the tunnel", got)
	}
}

// TestPlan_VerifyFollowsTheChain: `run --plan --verify` on a chain of
// verifying nodes (infra → cluster → app, as terraform → k0s → k0rdent)
// verifies each node
// once its dependency's Verify has passed, with the dependency's recorded
// outputs as its inputs, so that the plan says reuse (verified) or run
// (drift) for every node, not "verify then reuse" for all but the first;
// when a node drifts, every node decided by it says it runs.
func TestPlan_VerifyFollowsTheChain(t *testing.T) {
	e := newEnv(t, baseConfig)
	var sawInput []string // what cluster's Verify got from infra
	mk := func(name string, deps []string) *declaredPhase {
		return &declaredPhase{fullPhase: fullPhase{
			goPhase: goPhase{name: name, deps: deps, run: func(ctx context.Context, env *workflow.Env) error {
				env.SetOutput("id", name+"-1")
				return appendSide(name + " ran")
			}},
			verify: func(ctx context.Context, env *workflow.Env) error {
				if name == "cluster" {
					id, _ := env.Input("infra", "id")
					sawInput = append(sawInput, id)
				}
				if _, err := os.Stat(name + "-gone"); err == nil {
					return os.ErrNotExist
				}
				return nil
			},
		}}
	}
	e.register(mk("infra", nil), mk("cluster", []string{"infra"}), mk("app", []string{"cluster"}))
	if got := e.ran(RunOptions{}); !slices.Equal(got, []string{"app", "cluster", "infra"}) {
		t.Fatalf("first run ran %v, want all three", got)
	}
	first := e.current().Header.RunID

	plan, p := e.planned(RunOptions{Verify: true})
	for _, n := range []string{"infra", "cluster", "app"} {
		if got, want := plan[n], "reuse (unchanged since run "+first+", verified)"; got != want {
			t.Errorf("plan --verify, nothing gone: %s %q, want %q", n, got, want)
		}
	}
	if p.Plan.Counts() != "3 reuse" {
		t.Errorf("plan --verify summary %q, want 3 reuse", p.Plan.Counts())
	}
	if !slices.Equal(sawInput, []string{"infra-1"}) {
		t.Errorf("cluster's Verify ran with infra's id %q, want once with infra's recorded output infra-1", sawInput)
	}

	e.write("cluster-gone", "")
	plan, _ = e.planned(RunOptions{Verify: true})
	if got, want := plan["infra"], "reuse (unchanged since run "+first+", verified)"; got != want {
		t.Errorf("plan --verify, cluster gone: infra %q, want %q", got, want)
	}
	if got := plan["cluster"]; got != "run (drift: verify failed: file does not exist)" {
		t.Errorf("plan --verify, cluster gone: cluster %q, want run (drift: …)", got)
	}
	if got, want := plan["app"], "decided at run time (reuse if the outputs of cluster are unchanged after it runs, else run)"; got != want {
		t.Errorf("plan --verify, cluster gone: app %q, want %q", got, want)
	}
	os.Remove("cluster-gone")

	e.write("infra-gone", "")
	sawInput = nil
	plan, _ = e.planned(RunOptions{Verify: true})
	if got := plan["infra"]; got != "run (drift: verify failed: file does not exist)" {
		t.Errorf("plan --verify, infra gone: infra %q, want run (drift: …)", got)
	}
	for _, n := range []string{"cluster", "app"} {
		if got, want := plan[n], "decided at run time (reuse if the outputs of infra are unchanged after it runs, else run)"; got != want {
			t.Errorf("plan --verify, infra gone: %s %q, want %q", n, got, want)
		}
	}
	if sawInput != nil {
		t.Errorf("cluster verified although infra drifted (the plan cannot use it)")
	}
}
