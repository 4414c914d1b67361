//go:build linux

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// stubbornScript is a command phase that ignores SIGTERM and forks two
// grandchildren that ignore it too, appending their pids to ./pids. A
// later attempt only looks for the grandchildren of an earlier one: any
// still alive is written to ./overlap (two copies side by side).
const stubbornScript = `trap '' TERM
echo started
if [ "$K0RDENT_ATTEMPT" -gt 1 ]; then
  for p in $(cat pids); do
    s=$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null)
    if [ -n "$s" ] && [ "$s" != Z ]; then echo "$p" >> overlap; fi
  done
  exit 0
fi
( trap '' TERM; while :; do sleep 0.2; done ) &
echo $! >> pids
( trap '' TERM; while :; do sleep 0.2; done ) &
echo $! >> pids
echo forked
wait
`

// stubbornProject is a project whose phase slow runs stubbornScript
// (with the timeout given, if any) and phase after depends on it.
func stubbornProject(t *testing.T, timeout string) *project {
	t.Helper()
	cfg := baseConfig + "phases:\n  - name: slow\n    command: [sh, ./stubborn.sh]\n"
	if timeout != "" {
		cfg += "    timeout: " + timeout + "\n"
	}
	cfg += "  - name: after\n    command: [\"true\"]\n    depends_on: [slow]\n"
	p := newProject(t, cfg)
	if err := os.WriteFile(p.path("stubborn.sh"), []byte(stubbornScript), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // whatever the outcome, leave nothing behind
		for _, pid := range grandchildren(t, p) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return p
}

// grandchildren are the pids stubbornScript's first attempt forked.
func grandchildren(t *testing.T, p *project) []int {
	t.Helper()
	data, _ := os.ReadFile(p.path("pids"))
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// alive reports whether pid runs (a zombie does not: PID 1 of a container
// may never reap the orphans it inherits).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(data), ')')
	return i >= 0 && i+2 < len(data) && data[i+2] != 'Z' && data[i+2] != 'X'
}

// survivors lists the grandchildren still alive.
func survivors(t *testing.T, p *project) []int {
	t.Helper()
	gc := grandchildren(t, p)
	if len(gc) != 2 {
		t.Fatalf("the phase forked %v, want 2 grandchildren", gc)
	}
	var out []int
	for _, pid := range gc {
		if alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

func TestRun_TimeoutEndsTheWholeProcessGroup(t *testing.T) {
	t.Parallel() // its own project and processes: it runs beside the other slow tests
	p := stubbornProject(t, "2s")
	r := p.run("run")
	if r.code != 1 || !strings.Contains(r.stderr, "timed out after 2s") {
		t.Fatalf("run: want exit 1 with a timeout:\n%s", r)
	}
	if s := survivors(t, p); len(s) > 0 {
		t.Errorf("grandchildren %v (they ignore SIGTERM) outlived the timed-out phase", s)
	}
}

// TestRun_SecondSignalEndsTheProcessGroups: on a second signal k0rdent
// exits 130 at once; the phase's grandchildren, which ignore SIGTERM,
// survived under PID 1. Now they are gone when k0rdent has exited.
func TestRun_SecondSignalEndsTheProcessGroups(t *testing.T) {
	t.Parallel() // its own project and processes
	p := stubbornProject(t, "")
	s := p.start("run")
	s.waitLine(t, "slow running")
	p.waitLog("slow", "forked")
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	s.waitLine(t, "cancelling: waiting up to") // the first signal was handled
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(t); code != 130 {
		t.Fatalf("exit code = %d, want 130; stderr:\n%s", code, s.stderr)
	}
	if sv := survivors(t, p); len(sv) > 0 {
		t.Errorf("grandchildren %v outlived k0rdent's exit on a second signal", sv)
	}
}

// TestRun_KillThenResumeEndsWhatTheDeadRunLeft: kill -9 of k0rdent leaves
// the phase's grandchildren running (Pdeathsig reaches only the child).
// The resume ends them before it runs the phase again, so that the two
// attempts never run side by side, and says so.
func TestRun_KillThenResumeEndsWhatTheDeadRunLeft(t *testing.T) {
	t.Parallel() // its own project and processes: it runs beside the other slow tests
	p := stubbornProject(t, "")
	s := p.start("run")
	s.waitLine(t, "slow running")
	p.waitLog("slow", "forked")
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.wait(t)
	if sv := survivors(t, p); len(sv) != 2 {
		t.Fatalf("after kill -9 the grandchildren alive are %v; the test expects both to outlive k0rdent", sv)
	}

	r := p.run("run", "--resume")
	if r.code != 0 {
		t.Fatalf("resume:\n%s", r)
	}
	if !strings.Contains(r.stderr, "ended process group") || !strings.Contains(r.stderr, "of slow (run ") {
		t.Errorf("resume does not say it ended the dead run's process group:\n%s", r)
	}
	if data, err := os.ReadFile(p.path("overlap")); err == nil {
		t.Errorf("attempt 2 of slow ran beside attempt 1's grandchildren %s", strings.Fields(string(data)))
	}
	if sv := survivors(t, p); len(sv) > 0 {
		t.Errorf("grandchildren %v of the killed run outlived the resume", sv)
	}
	var slow []int
	for _, pg := range p.currentRun().ProcessGroups {
		if pg.Node == "slow" {
			slow = append(slow, pg.Attempt)
		}
	}
	if len(slow) != 2 || slow[0] != 1 || slow[1] != 2 {
		t.Errorf("journalled process groups of slow: attempts %v, want [1 2]", slow)
	}
}
