package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/state"
)

// resumableConfig has two phases that block until interrupted the first
// time they run (a marker file says they started) and return at once
// after that, and a third phase outside the selection the tests use.
func resumableConfig() string {
	slow := func(name string) string {
		script := fmt.Sprintf("if [ -e started-%[1]s ]; then echo resumed; exit 0; fi; touch started-%[1]s; echo $((6*7))-ready; "+
			"for i in $(seq 1 100); do sleep 0.2; done", name)
		return fmt.Sprintf("  - name: %s\n    command: [sh, -c, %q]\n", name, script)
	}
	return baseConfig + "phases:\n" + slow("one") + slow("two") + "  - name: other\n    command: [\"true\"]\n"
}

// The first Ctrl-C says what it does; the interrupted run ends with the
// exact command that resumes it, selection included; that command, run
// from another directory, resumes the same run with the same selection.
func TestRun_InterruptSaysWhatItDoesAndHowToResume(t *testing.T) {
	t.Parallel() // its own project and processes
	p := newProject(t, resumableConfig())
	s := p.start("run", "--only", "one,two")
	s.waitLine(t, "one running")
	// The marker is written (the log shows what the script echoes after it,
	// not the argv line that spells it).
	p.waitLog("one", "42-ready")
	p.waitLog("two", "42-ready")
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	s.waitLine(t, "cancelling: waiting up to 10s for 2 running phases; press Ctrl-C again to stop at once")
	if code := s.wait(t); code != 130 {
		t.Fatalf("exit code = %d, want 130; stderr:\n%s", code, s.stderr)
	}
	rf := p.currentRun()
	if rf.Outcome != state.OutcomeCancelled {
		t.Fatalf("outcome = %q, want cancelled", rf.Outcome)
	}
	want := fmt.Sprintf("run %s interrupted; resume it with:\n  k0rdent -c %s run --resume\n", rf.Header.RunID, p.path("k0rdent.yaml"))
	stderr := s.stderr.String()
	if !strings.Contains(stderr, want) {
		t.Fatalf("stderr lacks %q:\n%s", want, stderr)
	}

	// Run the printed command as printed, from elsewhere.
	line := strings.TrimSpace(strings.SplitAfter(stderr, "resume it with:\n")[1])
	words := strings.Fields(line)
	c := exec.Command(bareBinPath, words[1:]...)
	c.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "K0RDENT_") && !strings.HasPrefix(kv, "NO_COLOR=") {
			c.Env = append(c.Env, kv)
		}
	}
	r := run(t, c)
	if r.code != 0 {
		t.Fatalf("%s:\n%s", line, r)
	}
	after := p.currentRun()
	if after.Header.RunID != rf.Header.RunID || after.Outcome != state.OutcomePartial {
		t.Errorf("after %s: run %s %s, want run %s resumed and partial", line, after.Header.RunID, after.Outcome, rf.Header.RunID)
	}
	if got := after.Selection(); strings.Join(got.Only, ",") != "one,two" {
		t.Errorf("resumed selection = %+v, want --only one,two", got)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "state")); err == nil {
		t.Errorf("the resume command made a state directory where it was run")
	}
	// A partial run ends with the command that runs the rest.
	rest := fmt.Sprintf("run them with:\n  k0rdent -c %s run\n", p.path("k0rdent.yaml"))
	if !strings.Contains(r.stdout, rest) {
		t.Errorf("the partial run does not end with %q:\n%s", rest, r.stdout)
	}
}
