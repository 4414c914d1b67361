package cli_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// failOnce makes the next run fail at c; the run after it, with the file
// gone, succeeds.
func failOnce(t *testing.T, e *env) *state.RunFile {
	t.Helper()
	e.write("fail-c", "")
	e.mustRun(cli.ExitPhaseFailed, "run")
	os.Remove("fail-c")
	return e.current()
}

func TestRun_PlainLinesOffTerminal(t *testing.T) {
	e := newEnv(t, commandConfig)
	r := e.mustRun(0, "run")
	for _, re := range []string{
		`(?m)^\d\d:\d\d:\d\d a running \(attempt 1\)`,
		`(?m)^\d\d:\d\d:\d\d a succeeded after \S+$`,
		`(?m)^\d\d:\d\d:\d\d k skipped: disabled: when with_kof: --with-kof not set and kof.enabled is false$`,
		`(?m)^run \S+ succeeded in \S+: 4 succeeded, 1 skipped$`,
	} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("output does not match %s:\n%s", re, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("plain output has ANSI escapes:\n%q", r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("a clean run with a disabled optional phase printed to stderr (no warnings wanted):\n%s", r.stderr)
	}
	got := sideEffects(t)
	slices.Sort(got)
	want := []string{"a ran", "b got from-a", "c ran", "d ran"}
	if !slices.Equal(got, want) {
		t.Errorf("side effects = %q, want %q (k is disabled)", got, want)
	}
	rf := e.current()
	if rf.Outcome != state.OutcomeSucceeded || rf.Nodes["k"].State != workflow.Skipped {
		t.Errorf("outcome %q, k %s; want succeeded with k skipped", rf.Outcome, rf.Nodes["k"].State)
	}
	for _, rec := range rf.Records {
		if rec.Node == "k" && rec.To != workflow.Skipped {
			t.Errorf("disabled k has a %s record", rec.To)
		}
	}
}

func TestRun_LiveViewOnTerminal(t *testing.T) {
	e := newEnv(t, baseConfig+"phases:\n  - name: nap\n    command: [sleep, \"0.7\"]\n")
	e.terminal = true
	r := e.mustRun(0, "run")
	if !strings.Contains(r.stdout, "\x1b[1A\r\x1b[2K") {
		t.Errorf("live view never redrew with ANSI escapes:\n%q", r.stdout)
	}
	if !regexp.MustCompile(`nap\s+running \d`).MatchString(r.stdout) {
		t.Errorf("live view has no running line with elapsed time:\n%q", r.stdout)
	}
	if !regexp.MustCompile(`run \S+ succeeded in \S+: 1 succeeded`).MatchString(r.stdout) {
		t.Errorf("no summary at the end:\n%q", r.stdout)
	}
	// --no-color turns the live view off even on a terminal.
	r = e.mustRun(0, "run", "--fresh", "--no-color")
	if strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("--no-color output has ANSI escapes:\n%q", r.stdout)
	}
}

func TestRun_FailureReport(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.write("fail-c", "")
	r := e.mustRun(cli.ExitPhaseFailed, "run")
	rf := e.current()
	logPath := "state/runs/" + rf.Header.RunID + "/c.log"
	for _, want := range []string{
		"FAILED c (attempt 1): command phase c: exit status 3",
		"blocked by it: d",
		"last ", logPath, "  | c is broken",
		"resume with:\n  k0rdent -c " + filepath.Join(e.dir, "k0rdent.yaml") + " run --resume\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("failure report lacks %q:\n%s", want, r.stderr)
		}
	}
	if rf.Outcome != state.OutcomeFailed || !slices.Equal(rf.FailedNodes(), []string{"c"}) {
		t.Errorf("outcome %q failed %v, want failed [c]", rf.Outcome, rf.FailedNodes())
	}
}

func TestRun_UnfinishedRunNeedsADecisionOffTerminal(t *testing.T) {
	e := newEnv(t, commandConfig)
	failOnce(t, e)
	r := e.mustRun(cli.ExitUsage, "run")
	if !strings.Contains(r.stderr, "--resume") || !strings.Contains(r.stderr, "--fresh") {
		t.Errorf("want both flags named:\n%s", r)
	}
}

func TestRun_ResumeAppendsToTheSameRun(t *testing.T) {
	for _, flag := range []string{"--resume", "--yes"} {
		t.Run(flag, func(t *testing.T) {
			e := newEnv(t, commandConfig)
			failed := failOnce(t, e)
			r := e.mustRun(0, "run", flag)
			rf := e.current()
			if rf.Header.RunID != failed.Header.RunID {
				t.Fatalf("resume made run %s, want %s", rf.Header.RunID, failed.Header.RunID)
			}
			if rf.Attempt != 2 || rf.Outcome != state.OutcomeSucceeded {
				t.Errorf("attempt %d outcome %q, want 2 succeeded", rf.Attempt, rf.Outcome)
			}
			if n := rf.Nodes["c"]; n.Attempt != 2 {
				t.Errorf("c attempt = %d, want 2", n.Attempt)
			}
			if !strings.Contains(r.stdout, "a succeeded: reused from run "+failed.Header.RunID) {
				t.Errorf("a was not reused:\n%s", r.stdout)
			}
			// a and b ran once; c twice; d once (blocked, then ran).
			got := sideEffects(t)
			slices.Sort(got)
			want := []string{"a ran", "b got from-a", "c ran", "c ran", "d ran"}
			if !slices.Equal(got, want) {
				t.Errorf("side effects = %q, want %q", got, want)
			}
			infos, _ := e.store().List()
			if len(infos) != 1 {
				t.Errorf("%d run files, want 1", len(infos))
			}
		})
	}
}

func TestRun_TerminalPrompt(t *testing.T) {
	for _, tc := range []struct {
		answer string
		fresh  bool
	}{{"\n", false}, {"r\n", false}, {"f\n", true}, {"fresh\n", true}} {
		t.Run(strings.TrimSpace(tc.answer)+"_", func(t *testing.T) {
			e := newEnv(t, commandConfig)
			failed := failOnce(t, e)
			e.terminal, e.stdin = true, tc.answer
			r := e.mustRun(0, "run")
			if !strings.Contains(r.stdout, "Resume it, or start fresh") {
				t.Errorf("no prompt:\n%s", r.stdout)
			}
			rf := e.current()
			if got := rf.Header.RunID != failed.Header.RunID; got != tc.fresh {
				t.Fatalf("new run = %v, want %v", got, tc.fresh)
			}
			if !tc.fresh {
				return
			}
			if rf.Header.ParentRunID != failed.Header.RunID {
				t.Errorf("parent_run_id = %q, want %q", rf.Header.ParentRunID, failed.Header.RunID)
			}
			old, _ := e.store().Load(failed.Header.RunID)
			if old.Outcome != state.OutcomeSuperseded || old.SupersededBy != rf.Header.RunID {
				t.Errorf("old run: outcome %q by %q, want superseded by %s", old.Outcome, old.SupersededBy, rf.Header.RunID)
			}
			// A fresh run is a new run: a, unchanged, is reused from the
			// run that built it (and says which); c, which failed, runs.
			if n := rf.Nodes["a"]; n.State != workflow.Succeeded || n.RunID != failed.Header.RunID || !strings.Contains(n.Reason, "unchanged since run "+failed.Header.RunID) {
				t.Errorf("a = %+v, want reused from run %s", n, failed.Header.RunID)
			}
			if n := rf.Nodes["c"]; n.State != workflow.Succeeded || n.RunID != rf.Header.RunID {
				t.Errorf("c = %+v, want run again in the fresh run", n)
			}
		})
	}
	t.Run("Nonsense", func(t *testing.T) {
		e := newEnv(t, commandConfig)
		failOnce(t, e)
		e.terminal, e.stdin = true, "maybe\n"
		e.mustRun(cli.ExitUsage, "run")
	})
	t.Run("AsksAgain", func(t *testing.T) {
		e := newEnv(t, commandConfig)
		failed := failOnce(t, e)
		e.terminal, e.stdin = true, "maybe\nf\n"
		r := e.mustRun(0, "run")
		if n := strings.Count(r.stdout, "Resume it, or start fresh"); n != 2 || !strings.Contains(r.stdout, `"maybe" is not an answer`) {
			t.Errorf("want the question twice and why:\n%s", r.stdout)
		}
		if e.current().Header.RunID == failed.Header.RunID {
			t.Error("the second answer, f, did not start a fresh run")
		}
	})
}

func TestRun_ResumeWithChangedConfigIsRefused(t *testing.T) {
	e := newEnv(t, commandConfig)
	failOnce(t, e)
	e.write("k0rdent.yaml", strings.Replace(commandConfig, `"echo d ran >> side"`, `"echo d changed >> side"`, 1))
	r := e.mustRun(cli.ExitUsage, "run", "--resume")
	for _, want := range []string{"changed since run", "phases[3].command", "--force"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("refusal lacks %q:\n%s", want, r.stderr)
		}
	}
	e.mustRun(0, "run", "--resume", "--force")
	if !slices.Contains(sideEffects(t), "d changed") {
		t.Error("forced resume did not run the new d")
	}
}

func TestRun_FreshWithOnlyReusesDoneNodesOfEarlierRuns(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.mustRun(0, "run")
	os.Remove("side")
	r := e.mustRun(0, "run", "--only", "b")
	got := sideEffects(t)
	if !slices.Equal(got, []string{"b got from-a"}) {
		t.Errorf("side effects = %q, want only b, with a's output from the earlier run", got)
	}
	rf := e.current()
	if rf.Nodes["a"].State != workflow.Succeeded || rf.Nodes["c"].State != workflow.Succeeded {
		t.Errorf("unselected done nodes not reused: a %s c %s\n%s", rf.Nodes["a"].State, rf.Nodes["c"].State, r.stdout)
	}
}

// Nodes a selection leaves out of a first run are counted as not run in
// the summary, not as pending work of a finished run.
func TestRun_SummaryCountsUnselectedAsNotRun(t *testing.T) {
	e := newEnv(t, commandConfig)
	r := e.mustRun(0, "run", "--only", "a")
	if !strings.Contains(r.stdout, "partial in") || !strings.Contains(r.stdout, "1 succeeded") ||
		!strings.Contains(r.stdout, " not run") || strings.Contains(r.stdout, "pending") {
		t.Errorf("summary of run --only a: want 1 succeeded and the rest not run, no pending:\n%s", r.stdout)
	}
}

func TestRun_PlanChangesNothing(t *testing.T) {
	e := newEnv(t, commandConfig)
	for _, o := range []string{"text", "json", "dot", "mermaid"} {
		r := e.mustRun(0, "run", "--plan", "-o", o)
		if !strings.Contains(r.stdout, "b") {
			t.Errorf("-o %s: %s", o, r.stdout)
		}
	}
	if _, err := os.Stat("state"); !os.IsNotExist(err) {
		t.Errorf("--plan created the state directory (%v)", err)
	}
	if sideEffects(t) != nil {
		t.Error("--plan ran a phase")
	}
}

// gate is a Go phase with a precondition and a Verify that look at a file.
type gate struct{ name string }

func (g gate) Name() string        { return g.name }
func (g gate) DependsOn() []string { return nil }
func (g gate) Run(ctx context.Context, env *workflow.Env) error {
	return os.WriteFile(g.name+".built", nil, 0o644)
}
func (g gate) Preconditions() []workflow.Check {
	return []workflow.Check{{Name: "open", Fix: "touch " + g.name + ".open", Check: func(context.Context, *workflow.Env) error {
		if _, err := os.Stat(g.name + ".open"); err != nil {
			return errors.New("gate is closed")
		}
		return nil
	}}}
}
func (g gate) Verify(ctx context.Context, env *workflow.Env) error {
	if _, err := os.Stat(g.name + ".built"); err != nil {
		return errors.New(g.name + ".built is gone")
	}
	return nil
}

func (g gate) Destroy(ctx context.Context, env *workflow.Env) error {
	return os.Remove(g.name + ".built")
}

var (
	_ workflow.Preconditioner = gate{}
	_ workflow.Verifier       = gate{}
	_ workflow.Destroyer      = gate{}
)

func gateRegistry() *phases.Registry {
	reg := phases.NewRegistry()
	reg.RegisterPlugin(phases.Plugin{Name: "gate", Description: "a test phase with a precondition",
		Factory: func(phases.BuildContext) ([]workflow.Phase, error) { return []workflow.Phase{gate{"gate"}}, nil }})
	return reg
}

func TestRun_FailedPreconditionExits4(t *testing.T) {
	e := newEnv(t, baseConfig)
	e.registry = gateRegistry()
	r := e.mustRun(cli.ExitPrecondition, "run")
	if !strings.Contains(r.stderr, `precondition "open" failed: gate is closed; fix: touch gate.open`) {
		t.Errorf("report lacks the check, what was found and the fix:\n%s", r.stderr)
	}
	e.write("gate.open", "")
	e.mustRun(0, "run", "--resume")
}

func TestStatus_CheckVerifiesCompletedNodes(t *testing.T) {
	e := newEnv(t, baseConfig)
	e.registry = gateRegistry()
	e.write("gate.open", "")
	e.mustRun(0, "run")
	r := e.mustRun(0, "status", "--check")
	if !regexp.MustCompile(`(?m)^gate\s+succeeded\s+1\s+ok$`).MatchString(strings.TrimRight(r.stdout, " \n")) {
		t.Errorf("status --check:\n%s", r.stdout)
	}
	os.Remove("gate.built")
	r = e.mustRun(cli.ExitPhaseFailed, "status", "--check", "-o", "json")
	if !strings.Contains(r.stdout, `"check": "drifted"`) || !strings.Contains(r.stdout, "gate.built is gone") {
		t.Errorf("status --check -o json after drift:\n%s", r.stdout)
	}
	// Without --check nothing is verified.
	e.mustRun(0, "status")
}

func TestRun_MigratesLegacyStateFirst(t *testing.T) {
	src, err := filepath.Abs("../../../state/testdata/legacy/v040-azure-children/project")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, commandConfig)
	copyTree(t, src, ".")
	r := e.mustRun(0, "run")
	if !strings.Contains(r.stderr, "found state of the bash tool; migrated it first") {
		t.Errorf("run did not say it migrated:\n%s", r.stderr)
	}
	if _, err := os.Stat("state/legacy/deployment-state.yaml"); err != nil {
		t.Errorf("legacy state not moved: %v", err)
	}
	infos, err := e.store().List()
	if err != nil {
		t.Fatal(err)
	}
	migrated := 0
	for _, ri := range infos {
		if ri.Migrated {
			migrated++
		}
	}
	if migrated == 0 || len(infos) != migrated+1 {
		t.Errorf("runs: %d migrated of %d, want the migrated ones plus the new run", migrated, len(infos))
	}
	r = e.mustRun(0, "run")
	if strings.Contains(r.stderr, "migrated") {
		t.Errorf("second run migrated again:\n%s", r.stderr)
	}
	// migrate --dry-run now has nothing to do.
	r = e.mustRun(0, "migrate", "--dry-run")
	if !strings.Contains(r.stdout, "nothing to migrate") {
		t.Errorf("migrate --dry-run after migration: %s", r.stdout)
	}
}

func TestMigrate_DryRunMovesNothing(t *testing.T) {
	src, err := filepath.Abs("../../../state/testdata/legacy/v040-azure-children/project")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, commandConfig)
	copyTree(t, src, ".")
	r := e.mustRun(0, "migrate", "--dry-run")
	if !strings.Contains(r.stdout, "deployment-state.yaml") {
		t.Errorf("dry run report does not mention the state file:\n%s", r.stdout)
	}
	if _, err := os.Stat("state/deployment-state.yaml"); err != nil {
		t.Errorf("dry run moved the state file: %v", err)
	}
	e.mustRun(0, "migrate")
	if _, err := os.Stat("state/legacy/deployment-state.yaml"); err != nil {
		t.Errorf("migrate did not move the state file: %v", err)
	}
}

// copyTree copies the files under src into dst, keeping modes.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReset_DestroysWithConfirmation(t *testing.T) {
	e := newEnv(t, baseConfig)
	e.registry = gateRegistry()
	e.write("gate.open", "")
	e.mustRun(0, "run")
	r := e.mustRun(cli.ExitUsage, "reset")
	if !strings.Contains(r.stderr, "--yes") {
		t.Errorf("reset off a terminal should ask for --yes:\n%s", r)
	}
	e.terminal, e.stdin = true, "no\n"
	e.mustRun(cli.ExitUsage, "reset")
	if _, err := os.Stat("gate.built"); err != nil {
		t.Fatalf("an unconfirmed reset destroyed: %v", err)
	}
	e.stdin = "yes\n"
	r = e.mustRun(0, "reset")
	if _, err := os.Stat("gate.built"); !os.IsNotExist(err) {
		t.Errorf("reset did not call Destroy (gate.built: %v)\n%s", err, r.stdout)
	}
}

func TestRun_JournalRefusalIsReported(t *testing.T) {
	e := newEnv(t, baseConfig+`phases:
  - name: leak
    command: [sh, -c, "echo key=-----BEGIN PRIVATE KEY----- > $K0RDENT_OUTPUT"]
`)
	r := e.mustRun(cli.ExitPhaseFailed, "run")
	// The node fails with the refusal (the usual FAILED block); it is not
	// left running.
	if !strings.Contains(r.stderr, "FAILED leak (attempt 1): outputs refused: state: refusing to journal secret material") {
		t.Errorf("the refused record is not reported:\n%s", r)
	}
	rf := e.current()
	if rf.Outcome != state.OutcomeFailed {
		t.Errorf("outcome = %q, want failed", rf.Outcome)
	}
	if st := rf.Nodes["leak"].State; st != workflow.Failed {
		t.Errorf("leak = %s, want failed", st)
	}
}

// A node reused run after run names the run that built it, not the run
// before (which only reused it too): the reuse record carries built_in.
func TestRun_ReuseNamesTheRunThatBuiltIt(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.mustRun(0, "run")
	built := e.current().Header.RunID
	e.mustRun(0, "run")
	e.mustRun(0, "run")
	rf := e.current()
	if rf.Header.RunID == built {
		t.Fatal("the third run is the first")
	}
	n := rf.Nodes["a"]
	if n.State != workflow.Succeeded || n.RunID != built || n.Reason != "unchanged since run "+built+", reused" {
		t.Errorf("a in the third run = %+v, want reused from %s and saying so", n, built)
	}
	recorded := false
	for _, rec := range rf.Records {
		recorded = recorded || rec.Node == "a" && rec.From == workflow.Succeeded && rec.BuiltIn == built
	}
	if !recorded {
		t.Errorf("the third run's file has no reuse record of a with built_in %s: %+v", built, rf.Records)
	}
}

// A resume whose selection leaves out a node that failed in an earlier
// attempt did not do everything: partial, not succeeded, naming the node.
func TestRun_ResumeLeavingAFailedNodeIsPartial(t *testing.T) {
	e := newEnv(t, commandConfig)
	failed := failOnce(t, e) // c failed, d blocked
	e.write("fail-c", "")    // c would fail again, but it is not selected
	e.mustRun(0, "run", "--resume", "--only", "a,b")
	rf := e.current()
	if rf.Header.RunID != failed.Header.RunID {
		t.Fatalf("the resume started run %s, want %s resumed", rf.Header.RunID, failed.Header.RunID)
	}
	if rf.Outcome != state.OutcomePartial || !strings.Contains(rf.OutcomeReason, "c failed") {
		t.Errorf("outcome %q (%q), want partial naming c failed", rf.Outcome, rf.OutcomeReason)
	}
}
