package cli_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
)

// Nothing runs that was not asked: a positional argument to a command that
// takes none (`k0rdent run fetch` ran the whole deployment), an empty
// selection (an empty $PHASES), a selection that selects nothing, an
// unknown name: exit 2, nothing written, nothing run.
func TestRun_NothingRunsThatWasNotAsked(t *testing.T) {
	for _, args := range [][]string{
		{"run", "fetch"},
		{"run", "--plan", "fetch"},
		{"run", "--only", ""},
		{"run", "--only", ","},
		{"run", "--from", ""},
		{"run", "--skip", ""},
		{"run", "--only", "a", "--skip", "a"},
		{"run", "--plan", "--only", "a", "--skip", "a"},
		{"run", "--only", "nope"},
		{"run", "--replace", "nope"},
		{"status", "extra"},
		{"reset", "--yes", "extra"},
	} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			e := newEnv(t, commandConfig)
			r := e.run(args...)
			if r.code != cli.ExitUsage {
				t.Errorf("exit %d, want 2:\n%s", r.code, r)
			}
			if _, err := os.Stat("state"); !os.IsNotExist(err) {
				t.Errorf("state was created:\n%s", r)
			}
			if got := sideEffects(t); got != nil {
				t.Errorf("phases ran: %q", got)
			}
		})
	}
}

// The selection is part of the run: after an interrupted `run --only
// a,c`, `run --resume` resumes that selection (today it started b and d
// too), and `run --only a,c --yes` does not run a again.
func TestRun_ResumeResumesTheSelection(t *testing.T) {
	for _, resume := range [][]string{{"run", "--resume"}, {"run", "--only", "a,c", "--yes"}} {
		t.Run(strings.Join(resume, "_"), func(t *testing.T) {
			e := newEnv(t, commandConfig)
			e.write("fail-c", "")
			e.mustRun(cli.ExitPhaseFailed, "run", "--only", "a,c")
			os.Remove("fail-c")
			os.Remove("side")
			r := e.mustRun(0, resume...)
			if got := sideEffects(t); !slices.Equal(got, []string{"c ran"}) {
				t.Errorf("ran %q, want only c:\n%s", got, r)
			}
			if !strings.Contains(r.stdout, "partial") || !strings.Contains(r.stdout, "--only a,c") {
				t.Errorf("the resumed run does not say partial and its selection:\n%s", r.stdout)
			}
			st := e.mustRun(0, "status")
			if strings.Contains(st.stdout, "last success") || !strings.Contains(st.stdout, "(partial)") {
				t.Errorf("status after a partial run:\n%s", st.stdout)
			}
			runs := e.mustRun(0, "runs")
			if !strings.Contains(runs.stdout, "partial") {
				t.Errorf("runs does not list the partial run:\n%s", runs.stdout)
			}
		})
	}
}

// run --plan --resume plans what run --resume does, and refuses when it
// would.
func TestRun_PlanResumeAsRunResume(t *testing.T) {
	e := newEnv(t, commandConfig)
	r := e.mustRun(cli.ExitUsage, "run", "--plan", "--resume")
	if !strings.Contains(r.stderr, "nothing to resume") {
		t.Errorf("plan --resume with nothing to resume:\n%s", r)
	}
	e.write("fail-c", "")
	e.mustRun(cli.ExitPhaseFailed, "run", "--only", "a,c")
	r = e.mustRun(0, "run", "--plan", "--resume", "-o", "json")
	for _, n := range []string{`"name": "b"`, `"name": "d"`} {
		i := strings.Index(r.stdout, n)
		if i < 0 || strings.Contains(r.stdout[i:i+80], `"action": "run"`) {
			t.Errorf("plan --resume runs an unselected node %s:\n%s", n, r.stdout)
		}
	}
	e.write("k0rdent.yaml", strings.Replace(commandConfig, "westus2", "eastus", 1))
	r = e.mustRun(cli.ExitUsage, "run", "--plan", "--resume")
	if !strings.Contains(r.stderr, "--force") {
		t.Errorf("plan --resume with a changed config:\n%s", r)
	}
}

// reset --plan lists what will be destroyed, node by node, from the
// journal; nodes that never ran are not destroyed; afterwards status says
// the deployment is torn down.
func TestReset_PlanAndTornDown(t *testing.T) {
	e := newEnv(t, baseConfig)
	e.registry = gateRegistry()
	e.write("gate.open", "")
	e.mustRun(0, "run")
	r := e.mustRun(0, "reset", "--plan")
	if !strings.Contains(r.stdout, "reset would destroy 1 node(s)") || !strings.Contains(r.stdout, "gate") {
		t.Errorf("reset --plan:\n%s", r.stdout)
	}
	if _, err := os.Stat("gate.built"); err != nil {
		t.Fatalf("reset --plan destroyed: %v", err)
	}
	e.terminal, e.stdin = true, "yes\n"
	r = e.mustRun(0, "reset")
	if !strings.Contains(r.stdout, "reset would destroy 1 node(s)") {
		t.Errorf("the prompt does not list what is destroyed:\n%s", r.stdout)
	}
	st := e.mustRun(0, "status")
	if !strings.Contains(st.stdout, "torn down") {
		t.Errorf("status after reset:\n%s", st.stdout)
	}
	r = e.mustRun(0, "reset", "--plan")
	if !strings.Contains(r.stdout, "nothing to destroy") {
		t.Errorf("reset --plan after reset:\n%s", r.stdout)
	}
}

// --yes means one documented thing on every command that has it.
func TestYes_OneMeaning(t *testing.T) {
	e := newEnv(t, commandConfig)
	var usages []string
	for _, cmd := range []string{"run", "reset"} {
		r := e.mustRun(0, cmd, "--help")
		i := strings.Index(r.stdout, "--yes, -y")
		if i < 0 {
			t.Fatalf("%s --help has no --yes", cmd)
		}
		line, _, _ := strings.Cut(r.stdout[i:], "\n")
		usages = append(usages, strings.Join(strings.Fields(line), " "))
	}
	if usages[0] != usages[1] {
		t.Errorf("--yes differs:\n  run:   %s\n  reset: %s", usages[0], usages[1])
	}
}
