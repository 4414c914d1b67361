package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// runtime.yaml is a projection: whatever happened to it, every action sees
// what the run files say, readers without writing, and Run rewrites it.
func TestRuntime_IsAProjection(t *testing.T) {
	for _, tc := range []struct {
		name string
		// damage runs after a failed run whose runtime.yaml was saved in
		// good; it may create the situation it tests.
		damage func(t *testing.T, e *env, failed string, good []byte)
	}{
		{"Deleted", func(t *testing.T, e *env, _ string, _ []byte) { os.Remove("state/runtime.yaml") }},
		{"Garbage", func(t *testing.T, e *env, _ string, _ []byte) { e.write("state/runtime.yaml", "{{{ not yaml\x00") }},
		{"NamesAnOlderRun", func(t *testing.T, e *env, failed string, good []byte) {
			// a kill right after a new run's header, before runtime.yaml
			// named it: the newest run file is the unfinished one
			e.write("state/runtime.yaml", strings.Replace(string(good), failed, "20000101-000000-0000", 1))
		}},
		{"BehindTheOutcome", func(t *testing.T, e *env, failed string, good []byte) {
			// a kill between the outcome record and the rewrite
			s := state.NewStore("state")
			rt, err := s.ReadRuntime()
			if err != nil {
				t.Fatal(err)
			}
			rt.CurrentOutcome = ""
			data := strings.Replace(string(good), "current_outcome: failed\n", "", 1)
			if data == string(good) {
				t.Fatalf("no outcome to remove in:\n%s", good)
			}
			e.write("state/runtime.yaml", data)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, commandConfig)
			e.write("fail-c", "")
			first, _ := e.run(RunOptions{})
			good, err := os.ReadFile("state/runtime.yaml")
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, e, first.RunID, good)
			e.write("state/.runtime.yaml.tmp-123", "left by a kill")
			e.write(filepath.Join("state/runs", first.RunID, ".k0rdent.yaml.tmp-9"), "left by a kill")
			damaged, _ := os.ReadFile("state/runtime.yaml")

			rt, err := state.NewStore("state").Current()
			if err != nil || rt.CurrentRunID != first.RunID || rt.CurrentOutcome != state.OutcomeFailed {
				t.Fatalf("Current = %+v, %v; want run %s failed", rt, err, first.RunID)
			}
			p, err := e.deployer().Plan(RunOptions{})
			if err != nil || p.Resume != first.RunID {
				t.Errorf("plan: %v, resumes %q; want the resume of %s", err, p.Resume, first.RunID)
			}
			_, err = e.run(RunOptions{})
			if code(err) != CodeUsage || !strings.Contains(err.Error(), first.RunID) || !strings.Contains(err.Error(), "--resume") {
				t.Errorf("run without flags: %v; want the unfinished run offered for resume", err)
			}
			if now, _ := os.ReadFile("state/runtime.yaml"); string(now) != string(damaged) {
				t.Error("a reader or a refused run wrote runtime.yaml")
			}
			os.Remove("fail-c")
			res := e.mustRun(RunOptions{Resume: true})
			if res.RunID != first.RunID || res.Outcome != state.OutcomeSucceeded {
				t.Errorf("resume: %s %s", res.RunID, res.Outcome)
			}
			rt, err = state.NewStore("state").ReadRuntime()
			if err != nil || rt.CurrentRunID != first.RunID || rt.LastSuccessfulRun != first.RunID {
				t.Errorf("runtime.yaml after the resume: %+v %v", rt, err)
			}
			for _, dir := range []string{"state", filepath.Join("state/runs", first.RunID)} {
				ents, _ := os.ReadDir(dir)
				for _, en := range ents {
					if strings.Contains(en.Name(), ".tmp-") {
						t.Errorf("left behind: %s/%s", dir, en.Name())
					}
				}
			}
		})
	}
}

// After a kill -9 between an outcome and the runtime rewrite, a
// succeeded run is not offered for resume.
func TestRuntime_StaleAfterSuccess(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.write("fail-c", "")
	first, _ := e.run(RunOptions{})
	stale, _ := os.ReadFile("state/runtime.yaml")
	os.Remove("fail-c")
	e.mustRun(RunOptions{Resume: true})
	e.write("state/runtime.yaml", string(stale)) // says failed
	_, err := e.run(RunOptions{Resume: true})
	if code(err) != CodeUsage || !strings.Contains(err.Error(), "succeeded") {
		t.Errorf("--resume of a succeeded run behind a stale runtime.yaml: %v", err)
	}
	res := e.mustRun(RunOptions{})
	if res.RunID == first.RunID {
		t.Error("a new run resumed the succeeded one")
	}
}

// runtime.yaml is rewritten when the run starts, after a node that
// projects facts into it, and at the outcome; not on every transition.
func TestRuntime_NotRewrittenPerTransition(t *testing.T) {
	e := newEnv(t, baseConfig)
	var seen []string
	read := func(context.Context, *workflow.Env) error {
		data, err := os.ReadFile("state/runtime.yaml")
		seen = append(seen, string(data))
		return err
	}
	e.register(&goPhase{name: "x", run: read}, &goPhase{name: "y", deps: []string{"x"}, run: read},
		&goPhase{name: "z", deps: []string{"y"}, run: read})
	e.mustRun(RunOptions{Parallelism: 1})
	if len(seen) != 3 || seen[0] != seen[1] || seen[1] != seen[2] {
		t.Errorf("runtime.yaml changed between non-projecting nodes:\n%s", strings.Join(seen, "\n---\n"))
	}
	rt, _ := state.NewStore("state").ReadRuntime()
	if rt.CurrentOutcome != state.OutcomeSucceeded {
		t.Errorf("runtime.yaml at the end: %+v", rt)
	}
}

// A node projects what its plugin declares (phases.Plugin.Projects,
// recorded in the run header), whatever its name; runtime.yaml shows it as
// soon as the node succeeded.
func TestRuntime_DeclaredProjection(t *testing.T) {
	e := newEnv(t, baseConfig)
	var during string
	net := &goPhase{name: "net", run: func(_ context.Context, env *workflow.Env) error {
		env.SetOutput("listen", "51820")
		env.SetOutput("cidr", "10.20.0.0/24")
		return nil
	}}
	e.reg.RegisterPlugin(phases.Plugin{Name: "net", Factory: func(phases.BuildContext) ([]workflow.Phase, error) { return []workflow.Phase{net}, nil },
		Projects: map[string]string{state.FactWireGuardPort: "listen", state.FactWireGuardNetwork: "cidr", state.FactWireGuardPeers: "peers"}})
	e.register(&goPhase{name: "later", deps: []string{"net"}, run: func(context.Context, *workflow.Env) error {
		data, err := os.ReadFile("state/runtime.yaml")
		during = string(data)
		return err
	}})
	e.mustRun(RunOptions{})
	if !strings.Contains(during, "10.20.0.0/24") || !strings.Contains(during, "51820") {
		t.Errorf("runtime.yaml while a later node ran:\n%s", during)
	}
	if h := e.current().Header; len(h.Projects["net"]) != 3 {
		t.Errorf("header projects %v", h.Projects)
	}
}
