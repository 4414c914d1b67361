package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

const baseConfig = "azure:\n  location: westus2\n"

// currentRun loads the run runtime.yaml names as current.
// runningNodes names the nodes a run file leaves running: a killed run's
// in-flight phases.
func runningNodes(r *state.RunFile) []string {
	var names []string
	for name, st := range r.Nodes {
		if st.State == workflow.Running {
			names = append(names, name)
		}
	}
	return names
}

func (p *project) currentRun() *state.RunFile {
	p.t.Helper()
	store := state.NewStore(p.path("state"))
	rt, err := store.ReadRuntime()
	if err != nil {
		p.t.Fatalf("read runtime: %v", err)
	}
	rf, err := store.Load(rt.CurrentRunID)
	if err != nil {
		p.t.Fatalf("load current run: %v", err)
	}
	if rf.Err != nil {
		p.t.Fatalf("current run %s: %v", rt.CurrentRunID, rf.Err)
	}
	return rf
}

// started is a k0rdent process running in the background whose stdout is
// scanned line by line.
type started struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *strings.Builder
	done   chan error
}

func (p *project) start(args ...string) *started {
	p.t.Helper()
	c := p.cmd(args...)
	out, err := c.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	s := &started{cmd: c, lines: make(chan string, 100), stderr: &strings.Builder{}, done: make(chan error, 1)}
	c.Stderr = s.stderr
	if err := c.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { c.Process.Kill() })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		s.done <- c.Wait()
	}()
	return s
}

// waitLine waits for a stdout line containing want.
func (s *started) waitLine(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("k0rdent ended before printing %q; stderr:\n%s", want, s.stderr)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no line %q after 20s", want)
		}
	}
}

// wait drains stdout and returns the exit code.
func (s *started) wait(t *testing.T) int {
	t.Helper()
	go func() {
		for range s.lines {
		}
	}()
	select {
	case err := <-s.done:
		if err == nil {
			return 0
		}
		return exitCode(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("k0rdent did not exit within 30s")
	}
	return -1
}

// waitLog waits until the log of node in the current run contains want:
// the phase's process is then really running.
func (p *project) waitLog(node, want string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		matches, _ := filepath.Glob(p.path("state", "runs", "*", node+".log"))
		for _, m := range matches {
			if data, _ := os.ReadFile(m); strings.Contains(string(data), want) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("log of %s never contained %q", node, want)
}

// slowConfig has one phase that takes a while; ignoreTerm makes it (and
// its children) ignore SIGTERM.
func slowConfig(ignoreTerm bool) string {
	// The log shows "2-started" only once the script runs (and after the
	// trap): its argv line, logged before, spells "$((1+1))-started".
	script := "echo $((1+1))-started; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 0.5; done"
	if ignoreTerm {
		script = "trap '' TERM; " + script
	}
	return baseConfig + fmt.Sprintf("phases:\n  - name: slow\n    command: [sh, -c, %q]\n  - name: after\n    command: [\"true\"]\n    depends_on: [slow]\n", script)
}

func TestRun_FirstSignalCancelsGracefully(t *testing.T) {
	t.Parallel() // its own project and processes
	p := newProject(t, slowConfig(false))
	s := p.start("run")
	s.waitLine(t, "slow running")
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(t); code != 130 {
		t.Fatalf("exit code = %d, want 130; stderr:\n%s", code, s.stderr)
	}
	rf := p.currentRun()
	if rf.Outcome != state.OutcomeCancelled {
		t.Errorf("outcome = %q, want cancelled", rf.Outcome)
	}
	if got := rf.Nodes["slow"].State; got != workflow.Cancelled {
		t.Errorf("slow = %s, want cancelled", got)
	}
	if got := rf.Nodes["after"].State; got != workflow.Cancelled {
		t.Errorf("after = %s, want cancelled (never started)", got)
	}
}

func TestRun_SecondSignalExits130AfterFlushingJournal(t *testing.T) {
	t.Parallel() // its own project and processes

	p := newProject(t, slowConfig(true)) // the phase ignores SIGTERM: only a second signal ends the run early
	s := p.start("run")
	s.waitLine(t, "slow running")
	p.waitLog("slow", "2-started") // the trap is set
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	s.waitLine(t, "cancelling: waiting up to") // the first signal was handled
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		var rest []string
		for l := range s.lines {
			rest = append(rest, l)
		}
		t.Fatalf("%v; stdout:\n%s\nstderr:\n%s", err, strings.Join(rest, "\n"), s.stderr)
	}
	if code := s.wait(t); code != 130 {
		t.Fatalf("exit code = %d, want 130; stderr:\n%s", code, s.stderr)
	}
	if !strings.Contains(s.stderr.String(), "interrupted twice") {
		t.Errorf("stderr does not say it was interrupted twice:\n%s", s.stderr)
	}
	if want := "resume with: k0rdent -c " + p.path("k0rdent.yaml") + " run --resume"; !strings.Contains(s.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, s.stderr)
	}
	rf := p.currentRun()
	if rf.Outcome != state.OutcomeCancelled {
		t.Errorf("outcome = %q, want cancelled", rf.Outcome)
	}
	slow := rf.Nodes["slow"]
	if slow.State != workflow.Cancelled || !strings.Contains(slow.Reason, "interrupted twice") {
		t.Errorf("slow = %s (%q), want cancelled by the second interrupt", slow.State, slow.Reason)
	}
	// The lock was released: migrate (which takes it) runs at once.
	if r := p.run("migrate"); r.code != 0 {
		t.Fatalf("migrate after a double interrupt: the lock should be free:\n%s", r)
	}
}

func TestRun_SecondRunOnSameStateExits3NamingHolder(t *testing.T) {
	t.Parallel() // its own project and processes
	p := newProject(t, slowConfig(false))
	s := p.start("run")
	s.waitLine(t, "slow running")
	holder := p.currentRun().Header.RunID

	r := p.run("run", "--yes")
	if r.code != 3 {
		t.Fatalf("second run: want exit 3:\n%s", r)
	}
	for _, want := range []string{holder, "pid " + strconv.Itoa(s.cmd.Process.Pid), "started "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("second run's error does not name %q:\n%s", want, r.stderr)
		}
	}
	// Readers never take the lock: status and runs work during the run.
	if r := p.run("status"); r.code != 0 || !regexp.MustCompile(`slow\s+running`).MatchString(r.stdout) || !strings.Contains(r.stdout, "in progress, pid "+strconv.Itoa(s.cmd.Process.Pid)) {
		t.Errorf("status during a run:\n%s", r)
	}
	if r := p.run("runs"); r.code != 0 || !strings.Contains(r.stdout, holder) {
		t.Errorf("runs during a run:\n%s", r)
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	s.wait(t)
}

// crashConfig is a diamond of command phases; each appends its name to
// side, the side effect the crash test counts.
func crashConfig(side string) string {
	var b strings.Builder
	b.WriteString(baseConfig + "phases:\n")
	for _, n := range []struct{ name, deps string }{{"a", ""}, {"b", "a"}, {"c", "a"}, {"d", "b, c"}} {
		fmt.Fprintf(&b, "  - name: %s\n    command: [sh, -c, 'echo %s >> %s']\n    depends_on: [%s]\n", n.name, n.name, side, n.deps)
	}
	return b.String()
}

// TestRun_CrashAtEveryTransitionThenResume kills k0rdent with SIGKILL right
// after each durable record (transition or process group) in turn (after
// the batch that holds it, with the group commit), then resumes: every run
// ends succeeded, every side effect happened, and only nodes in flight at
// the kill ran twice.
func TestRun_CrashAtEveryTransitionThenResume(t *testing.T) {
	t.Parallel() // its own project and processes: it runs beside the other slow tests

	const transitions = 12 // 4 nodes: running, process (its process group), succeeded each
	for n := 1; n <= transitions; n++ {
		t.Run(fmt.Sprintf("KillAt%d", n), func(t *testing.T) {
			t.Parallel() // each kill point has its own project
			dir := t.TempDir()
			side := filepath.Join(dir, "side-effects")
			p := newProject(t, crashConfig(side))
			c := p.cmd("run")
			c.Env = append(c.Env, "K0RDENT_TEST_KILL_AT="+strconv.Itoa(n))
			if r := run(t, c); r.code != 128+int(syscall.SIGKILL) {
				t.Fatalf("run with kill at %d: want death by SIGKILL:\n%s", n, r)
			}
			crashed := p.currentRun()
			// The kill comes right after the batch holding the n-th record is
			// durable (group commit): records due with it are there too.
			if len(crashed.Records) < n {
				t.Fatalf("run file has %d records after the kill, want at least %d", len(crashed.Records), n)
			}
			inFlight := runningNodes(crashed)

			if r := p.run("run", "--resume", "--yes"); r.code != 0 {
				t.Fatalf("resume:\n%s", r)
			}
			rf := p.currentRun()
			if rf.Header.RunID != crashed.Header.RunID {
				t.Errorf("resume started run %s, want to continue %s", rf.Header.RunID, crashed.Header.RunID)
			}
			if rf.Outcome != state.OutcomeSucceeded {
				t.Errorf("outcome = %q, want succeeded", rf.Outcome)
			}
			if len(rf.Takeovers) != 1 {
				t.Errorf("lock takeovers journalled = %d, want 1 (the killed process held the lock)", len(rf.Takeovers))
			}
			data, err := os.ReadFile(side)
			if err != nil {
				t.Fatal(err)
			}
			ranOnceUnlessInFlight(t, string(data), inFlight, "a", "b", "c", "d")
		})
	}
}

// ranOnceUnlessInFlight checks the side effects of a killed and resumed
// run (one node name per run of it): every node ran, once, or twice if it
// was in flight at the kill.
func ranOnceUnlessInFlight(t *testing.T, side string, inFlight []string, names ...string) {
	t.Helper()
	count := map[string]int{}
	for _, l := range strings.Fields(side) {
		count[l]++
	}
	for _, name := range names {
		switch got := count[name]; {
		case got == 0:
			t.Errorf("node %s never ran", name)
		case got == 2 && !slices.Contains(inFlight, name):
			t.Errorf("node %s ran twice but was not in flight at the kill (in flight: %v)", name, inFlight)
		case got > 2:
			t.Errorf("node %s ran %d times", name, got)
		}
	}
}

func TestRun_UnfinishedRunOutsideTerminalNeedsResumeOrFresh(t *testing.T) {
	t.Parallel() // its own project and processes
	p := newProject(t, baseConfig+"phases:\n  - name: boom\n    command: [sh, -c, 'echo kaput; exit 1']\n")
	r := p.run("run")
	if r.code != 1 {
		t.Fatalf("failing run: want exit 1:\n%s", r)
	}
	for _, want := range []string{"FAILED boom", "kaput", "boom.log", "k0rdent -c " + p.path("k0rdent.yaml") + " run --resume"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("failure report lacks %q:\n%s", want, r.stderr)
		}
	}
	c := p.cmd("run")
	c.Stdin = strings.NewReader("r\n") // a pipe is not a terminal: no prompt
	r = run(t, c)
	if r.code != 2 || !strings.Contains(r.stderr, "--resume") || !strings.Contains(r.stderr, "--fresh") {
		t.Fatalf("want exit 2 naming --resume and --fresh:\n%s", r)
	}
}

func TestThirdPartyBinary_ShowsItsPhase(t *testing.T) {
	t.Parallel() // its build (unless cached) runs beside the other tests
	bin, err := testenv.Binary("../../examples/thirdparty")
	if err != nil {
		t.Fatalf("build examples/thirdparty: %v", err)
	}
	p := newProject(t, baseConfig)
	for _, args := range [][]string{{"phases"}, {"run", "--plan"}} {
		c := p.cmd(args...)
		c.Path, c.Args[0] = bin, bin
		r := run(t, c)
		if r.code != 0 || !strings.Contains(r.stdout, "hello") {
			t.Errorf("k0rdent-hello %v: want exit 0 and the hello phase:\n%s", args, r)
		}
	}
}
