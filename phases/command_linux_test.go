package phases

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// processGone reports whether pid has exited (a zombie counts as exited:
// PID 1 of some containers never reaps orphans).
func processGone(t *testing.T, pid int) bool {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	state, _, ok := parseStat(data)
	if !ok {
		t.Fatalf("cannot parse /proc/%d/stat: %q", pid, data)
	}
	return state == 'Z' || state == 'X'
}

func TestParseStat(t *testing.T) {
	state, pgrp, ok := parseStat([]byte("4242 (my (odd) proc) S 1 4240 4240 0 -1 4194560"))
	if !ok || state != 'S' || pgrp != 4240 {
		t.Errorf("parseStat = (%c, %d, %v), want (S, 4240, true)", state, pgrp, ok)
	}
}

// TestCommand_PdeathsigHelper is not a test: TestCommand_Run_DiesWithParent
// runs the test binary with it as a stand-in k0rdent process.
func TestCommand_PdeathsigHelper(t *testing.T) {
	pidfile := os.Getenv("K0RDENT_TEST_PDEATHSIG_PIDFILE")
	if pidfile == "" {
		t.Skip("helper process for TestCommand_Run_DiesWithParent")
	}
	c, err := NewCommand(CommandSpec{
		Name:    "orphan",
		Command: []string{"/bin/sh", "-c", `echo $$ > "$PIDFILE.tmp" && mv "$PIDFILE.tmp" "$PIDFILE" && exec sleep 300`},
		Env:     map[string]string{"PIDFILE": pidfile},
	}, nil, RunFlags{})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Run(context.Background(), &workflow.Env{})
	t.Fatal("the command returned; the parent test was meant to kill this process first")
}

func TestCommand_Run_DiesWithParent(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "child.pid")
	helper := exec.Command(os.Args[0], "-test.run=^TestCommand_PdeathsigHelper$", "-test.count=1")
	helper.Env = append(os.Environ(), "K0RDENT_TEST_PDEATHSIG_PIDFILE="+pidfile)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })

	// Wait for the command to start (the pid file appears atomically).
	var pid int
	for deadline := time.Now().Add(30 * time.Second); pid == 0; time.Sleep(10 * time.Millisecond) {
		if data, err := os.ReadFile(pidfile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		} else if time.Now().After(deadline) {
			t.Fatal("the helper never started its command")
		}
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

	// k0rdent dies without any chance to clean up.
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	// Pdeathsig is delivered asynchronously; wait for it rather than time it.
	for deadline := time.Now().Add(10 * time.Second); !processGone(t, pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("command %d still runs 10s after its parent was killed: Pdeathsig not set?", pid)
		}
	}
}
