package deploy

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// A selection is recorded in the run header; --resume resumes it at its
// frontier (nothing outside it runs), does not run again what already
// succeeded in the run, and the run ends partial, never the last success.
func TestRun_ResumeKeepsSelection(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    RunOptions
	}{
		{"Resume", RunOptions{Resume: true}},
		// today: `run --only a,c --yes` after a failure ran a again
		{"YesWithTheSameSelection", RunOptions{Yes: true, Selection: only("a", "c")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, commandConfig)
			e.write("fail-c", "")
			res, err := e.run(RunOptions{Selection: only("a", "c")})
			if code(err) != 0 || res.Outcome != state.OutcomeFailed {
				t.Fatalf("first run: outcome %v, err %v; want failed at c", res, err)
			}
			if got := e.current().Selection(); !slices.Equal(got.Only, []string{"a", "c"}) {
				t.Fatalf("header selection = %+v, want only a,c", got)
			}
			os.Remove("fail-c")
			resetSide(t)

			res = e.mustRun(tc.o)
			if got, want := sideEffects(t), []string{"c ran"}; !slices.Equal(got, want) {
				t.Errorf("resumed selection ran %q, want %q (a succeeded in the run; b and d are not selected)", got, want)
			}
			if res.Outcome != state.OutcomePartial {
				t.Errorf("outcome %s, want partial", res.Outcome)
			}
			rf := e.current()
			if a := rf.Nodes["a"]; a.Attempt != 1 {
				t.Errorf("a attempt %d, want 1 (reused, not run again)", a.Attempt)
			}
			for _, n := range []string{"b", "d"} {
				if st := rf.Nodes[n].State; st != "" && st != workflow.Pending {
					t.Errorf("unselected %s is %s", n, st)
				}
			}
			rt, err := state.NewStore("state").Current()
			if err != nil {
				t.Fatal(err)
			}
			if rt.LastSuccessfulRun != "" || rt.CurrentOutcome != state.OutcomePartial {
				t.Errorf("runtime: last success %q outcome %q; want none and partial", rt.LastSuccessfulRun, rt.CurrentOutcome)
			}
		})
	}
}

// --replace forces a node that succeeded in the resumed run.
func TestRun_ResumeReplace(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.write("fail-c", "")
	e.run(RunOptions{Selection: only("a", "c")})
	os.Remove("fail-c")
	resetSide(t)
	e.mustRun(RunOptions{Resume: true, Selection: Selection{Replace: []string{"a"}, ReplaceGiven: true}})
	if got := sideEffects(t); !slices.Contains(got, "a ran") || !slices.Contains(got, "c ran") || slices.Contains(got, "b ran") {
		t.Errorf("--resume --replace a ran %q, want a and c only", got)
	}
}

// A new selection given with --resume replaces the run's, recorded in the
// resumed record.
func TestRun_ResumeSelectionChange(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.write("fail-c", "")
	e.run(RunOptions{Selection: only("a", "c")})
	os.Remove("fail-c")
	resetSide(t)
	var st Started
	res := e.mustRun(RunOptions{Resume: true, Selection: only("a", "c", "d"), Started: func(s Started) { st = s }})
	if !st.SelectionChanged || !slices.Equal(st.Selection.Only, []string{"a", "c", "d"}) {
		t.Errorf("started %+v, want a changed selection a,c,d", st)
	}
	if got := sideEffects(t); !slices.Equal(got, []string{"c ran", "d ran"}) {
		t.Errorf("ran %q, want c and d", got)
	}
	if res.Outcome != state.OutcomePartial {
		t.Errorf("outcome %s, want partial (b unrun)", res.Outcome)
	}
	rf := e.current()
	if got := rf.Selection(); !slices.Equal(got.Only, []string{"a", "c", "d"}) {
		t.Errorf("selection after the change %+v", got)
	}
	var found bool
	for _, r := range rf.Records {
		if r.Kind == state.KindResumed && slices.Equal(r.Only, []string{"a", "c", "d"}) {
			found = true
		}
	}
	if !found {
		t.Error("no resumed record carries the new selection")
	}
}

// A partial run is not offered for resume; a full run afterwards
// succeeds and becomes the last success.
func TestRun_PartialThenFull(t *testing.T) {
	e := newEnv(t, commandConfig)
	if res := e.mustRun(RunOptions{Selection: only("a")}); res.Outcome != state.OutcomePartial {
		t.Fatalf("outcome %s, want partial", res.Outcome)
	}
	_, err := e.run(RunOptions{Resume: true})
	if code(err) != CodeUsage || !strings.Contains(err.Error(), "partial") {
		t.Errorf("--resume after a partial run: %v, want a usage error saying it is partial", err)
	}
	res := e.mustRun(RunOptions{})
	if res.Outcome != state.OutcomeSucceeded {
		t.Fatalf("full run: %s", res.Outcome)
	}
	rt, _ := state.NewStore("state").Current()
	if rt.LastSuccessfulRun != res.RunID {
		t.Errorf("last success %q, want %q", rt.LastSuccessfulRun, res.RunID)
	}
}

// Nothing runs that was not asked: an empty selection flag, a selection
// that selects nothing, an unknown name: exit 2, nothing written.
func TestRun_NothingAsked(t *testing.T) {
	for _, tc := range []struct {
		name string
		sel  Selection
		want string
	}{
		{"EmptyOnly", Selection{OnlyGiven: true}, "--only: empty"},
		{"EmptyFrom", Selection{FromGiven: true}, "--from: empty"},
		{"EmptySkip", Selection{SkipGiven: true}, "--skip: empty"},
		{"EmptyReplace", Selection{ReplaceGiven: true}, "--replace: empty"},
		{"SelectsNothing", Selection{Only: []string{"a"}, OnlyGiven: true, Skip: []string{"a"}, SkipGiven: true}, "selects no phase"},
		{"Unknown", only("nope"), `unknown phase "nope"`},
		{"UnknownReplace", Selection{Replace: []string{"nope"}, ReplaceGiven: true}, "--replace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, commandConfig)
			for _, plan := range []bool{false, true} {
				var err error
				if plan {
					_, err = e.deployer().Plan(RunOptions{Selection: tc.sel})
				} else {
					_, err = e.run(RunOptions{Selection: tc.sel})
				}
				if code(err) != CodeUsage || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("plan=%v: %v, want exit 2 with %q", plan, err, tc.want)
				}
			}
			if _, err := os.Stat("state"); !os.IsNotExist(err) {
				t.Error("the state directory was created")
			}
			if sideEffects(t) != nil {
				t.Error("a phase ran")
			}
		})
	}
}

func TestRun_ResumeFreshExclusive(t *testing.T) {
	e := newEnv(t, commandConfig)
	if _, err := e.run(RunOptions{Resume: true, Fresh: true}); code(err) != CodeUsage {
		t.Errorf("--resume --fresh: %v", err)
	}
	if _, err := e.deployer().Plan(RunOptions{Resume: true, Fresh: true}); code(err) != CodeUsage {
		t.Errorf("plan --resume --fresh: %v", err)
	}
}

// An unfinished run: no flag off a terminal refuses naming both flags;
// Decide is asked; --fresh archives it.
func TestRun_Unfinished(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.write("fail-c", "")
	first, _ := e.run(RunOptions{})
	os.Remove("fail-c")

	_, err := e.run(RunOptions{})
	if code(err) != CodeUsage || !strings.Contains(err.Error(), "--resume") || !strings.Contains(err.Error(), "--fresh") {
		t.Errorf("undecided: %v", err)
	}
	asked := ""
	_, err = e.run(RunOptions{Decide: func(desc string) (bool, error) { asked = desc; return false, nil }})
	if err != nil || !strings.Contains(asked, first.RunID) {
		t.Fatalf("decide fresh: %v, asked %q", err, asked)
	}
	old, err := state.NewStore("state").Load(first.RunID)
	if err != nil || old.Outcome != state.OutcomeSuperseded {
		t.Errorf("the unfinished run after a fresh start: %v %v, want superseded", old.Outcome, err)
	}
}

// The config changed since the run started: --resume is refused with the
// changed keys unless --force, by Run and Plan alike.
func TestRun_ResumeChangedConfig(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.write("fail-c", "")
	e.run(RunOptions{})
	e.write("k0rdent.yaml", strings.Replace(commandConfig, "westus2", "eastus", 1))
	_, errRun := e.run(RunOptions{Resume: true})
	_, errPlan := e.deployer().Plan(RunOptions{Resume: true})
	for _, err := range []error{errRun, errPlan} {
		if code(err) != CodeUsage || !strings.Contains(err.Error(), "azure.location") || !strings.Contains(err.Error(), "--force") {
			t.Errorf("changed config: %v", err)
		}
	}
	p, err := e.deployer().Plan(RunOptions{})
	if err != nil || !strings.Contains(p.Title, "refused without --force") {
		t.Errorf("plan without --resume: %v %+v, want a note", err, p)
	}
	os.Remove("fail-c")
	if _, err := e.run(RunOptions{Resume: true, Force: true}); err != nil {
		t.Errorf("--force: %v", err)
	}
}
