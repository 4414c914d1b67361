package state

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// The test binary re-executes itself as a helper process when
// STATE_TEST_HELPER is set:
//
//	hold  take the lock of STATE_TEST_DIR, print "locked <pid>", wait for stdin to close
//	try   try the lock once, print "locked-by <pid>" and exit 3 if it is held
func TestMain(m *testing.M) {
	switch os.Getenv("STATE_TEST_HELPER") {
	case "":
		os.Exit(m.Run())
	case "hold":
		s := NewStore(os.Getenv("STATE_TEST_DIR"))
		l, _, err := s.Lock(CurrentHolder("helper hold"))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		if err := l.SetRunID("20261125-100000-0001"); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("locked", os.Getpid())
		bufio.NewReader(os.Stdin).ReadString('\n') // until killed or stdin closes
		l.Unlock()
		os.Exit(0)
	case "append":
		// Take the lock, create a run and append retries forever.
		s := NewStore(os.Getenv("STATE_TEST_DIR"))
		if _, _, err := s.Lock(CurrentHolder("helper append")); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		r, err := s.CreateRun(Header{RunID: "20261125-100000-0001"})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		if err := r.Record(workflow.Event{Node: "k0s", From: workflow.Pending, To: workflow.Running, Attempt: 1}); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("appending")
		for i := 2; ; i++ {
			if err := r.Record(workflow.Event{Node: "k0s", From: workflow.Running, To: workflow.Running, Attempt: i, Reason: "retry"}); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
		}
	case "try":
		s := NewStore(os.Getenv("STATE_TEST_DIR"))
		_, _, err := s.Lock(CurrentHolder("helper try"))
		var le *LockedError
		if errors.As(err, &le) && errors.Is(err, ErrLocked) {
			fmt.Println("locked-by", le.Holder.PID, le.Holder.RunID)
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Println("unexpected", err)
		os.Exit(1)
	}
}

func helper(t *testing.T, mode, dir string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "STATE_TEST_HELPER="+mode, "STATE_TEST_DIR="+dir)
	return cmd
}

func TestLock_TwoProcessesAndTakeover(t *testing.T) {
	dir := t.TempDir()
	holder := helper(t, "hold", dir)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "locked ") {
		t.Fatalf("holder said %q, %v", line, err)
	}
	pid := holder.Process.Pid
	if line != fmt.Sprintf("locked %d\n", pid) {
		t.Fatalf("holder said %q, want pid %d", line, pid)
	}

	// A second process fails at once, naming the holder.
	out, err := helper(t, "try", dir).Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("second process: %v, output %q", err, out)
	}
	if want := fmt.Sprintf("locked-by %d 20261125-100000-0001\n", pid); string(out) != want {
		t.Errorf("second process said %q, want %q", out, want)
	}
	// So does this process.
	s := NewStore(dir)
	_, _, err = s.Lock(CurrentHolder("test"))
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.PID != pid || !strings.Contains(err.Error(), fmt.Sprint(pid)) {
		t.Fatalf("Lock while held = %v, want *LockedError naming pid %d", err, pid)
	}
	if h, err := s.ReadHolder(); err != nil || h == nil || h.PID != pid || h.Command != "helper hold" {
		t.Errorf("ReadHolder = %+v, %v", h, err)
	}

	// kill -9 the holder: the OS lock dies with it, the record stays.
	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	holder.Wait()
	l, prev, err := s.Lock(CurrentHolder("test takeover"))
	if err != nil {
		t.Fatalf("Lock after the holder died: %v", err)
	}
	if prev == nil || prev.PID != pid || prev.RunID != "20261125-100000-0001" {
		t.Fatalf("takeover previous holder = %+v, want pid %d", prev, pid)
	}
	// The CLI journals the takeover in the run file.
	r, err := s.CreateRun(Header{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.LockTakeover(*prev); err != nil {
		t.Fatal(err)
	}
	r.Close()
	rf, _ := s.Load(r.ID())
	if len(rf.Takeovers) != 1 || rf.Takeovers[0].PID != pid {
		t.Errorf("journalled takeovers = %+v", rf.Takeovers)
	}
	if h, _ := s.ReadHolder(); h == nil || h.PID != os.Getpid() || h.Command != "test takeover" {
		t.Errorf("holder after takeover = %+v", h)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Errorf("second Unlock = %v", err)
	}
	if h, err := s.ReadHolder(); h != nil || err != nil {
		t.Errorf("holder after Unlock = %+v, %v", h, err)
	}
	// A clean unlock leaves nothing to take over.
	l, prev, err = s.Lock(CurrentHolder("again"))
	if err != nil || prev != nil {
		t.Fatalf("Lock after clean Unlock: prev %+v err %v", prev, err)
	}
	l.Unlock()
}

func TestLockedError_Message(t *testing.T) {
	e := &LockedError{Path: "state", Holder: Holder{PID: 7, User: "bob", Host: "h", Command: "k0rdent run", RunID: "20261125-100000-0001", Started: t0}}
	want := `state state is locked by pid 7 (bob@h) running "k0rdent run" for run 20261125-100000-0001 since 2026-11-25T10:00:00Z; wait for it to finish or stop that process`
	if got := e.Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := (&LockedError{Path: "s"}).Error(); !strings.Contains(got, "holder record unreadable") {
		t.Errorf("no holder: %s", got)
	}
}

func TestLock_UnreadableHolderIsTakenOver(t *testing.T) {
	s := NewStore(t.TempDir())
	os.WriteFile(s.LocalBackend().LockPath(), []byte("pid: [\n"), 0o644)
	if _, err := s.ReadHolder(); err == nil {
		t.Error("ReadHolder of garbage = nil error")
	}
	l, prev, err := s.Lock(CurrentHolder("t"))
	if err != nil || prev == nil {
		t.Fatalf("Lock over garbage holder: prev %+v err %v", prev, err)
	}
	l.Unlock()
}

// TestRun_KillWriter kills -9 a process in the middle of appending: the
// run file it leaves loads (clean or with a torn tail, never corrupt),
// the lock is taken over, and the run resumes and appends.
func TestRun_KillWriter(t *testing.T) {
	t.Parallel() // its own directories and processes
	for round := 0; round < 3; round++ {
		dir := t.TempDir()
		w := helper(t, "append", dir)
		stdout, err := w.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if line != "appending\n" {
			w.Process.Kill()
			w.Wait()
			t.Fatalf("writer said %q, %v", line, err)
		}
		s := NewStore(dir)
		// Let it write some records: wait until the file has grown.
		for {
			fi, err := os.Stat(s.LocalBackend().RunPath("20261125-100000-0001"))
			if err == nil && fi.Size() > int64(2000*(round+1)) {
				break
			}
			time.Sleep(time.Millisecond) // polling a condition, not timing
		}
		w.Process.Signal(syscall.SIGKILL)
		w.Wait()
		rf, err := s.Load("20261125-100000-0001")
		if err != nil || rf.Err != nil {
			t.Fatalf("round %d: load after kill -9: %v %v", round, err, rf.Err)
		}
		l, prev, err := s.Lock(CurrentHolder("resume"))
		if err != nil || prev == nil || prev.Command != "helper append" {
			t.Fatalf("round %d: takeover: prev %+v err %v", round, prev, err)
		}
		r, err := s.OpenRun("20261125-100000-0001")
		if err != nil {
			t.Fatalf("round %d: OpenRun: %v", round, err)
		}
		n := len(rf.Records)
		if err := r.LockTakeover(*prev); err != nil {
			t.Fatal(err)
		}
		if err := r.Resumed(nil, 2); err != nil {
			t.Fatal(err)
		}
		r.Close()
		l.Unlock()
		rf, _ = s.Load("20261125-100000-0001")
		if rf.Err != nil || rf.Torn || len(rf.Records) != n+2 || rf.Nodes["k0s"].State != workflow.Running {
			t.Fatalf("round %d: after resume: err %v torn %v records %d (want %d)", round, rf.Err, rf.Torn, len(rf.Records), n+2)
		}
	}
}
