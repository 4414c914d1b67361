package phases

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

func TestParseStatStart(t *testing.T) {
	line := "4242 (my (odd) proc) S 1 4240 4240 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10"
	p, ok := parseStatStart([]byte(line))
	if !ok || p.state != 'S' || p.pgrp != 4240 || p.start != 987654 {
		t.Errorf("parseStatStart = %+v, %v; want S, pgrp 4240, start 987654", p, ok)
	}
	if _, ok := parseStatStart([]byte("4242 (x) S 1 4240")); ok {
		t.Error("parseStatStart accepted a short line")
	}
}

// stubbornGroup is a command phase's process tree as a dead k0rdent leaves
// it: a shell that ignores SIGTERM and forks two grandchildren that ignore
// it too. Each appends its pid to $PIDS; the leader exits when LEADER_EXITS
// is set (as when Pdeathsig killed it), else it waits.
const stubbornGroup = `trap '' TERM
( trap '' TERM; while :; do sleep 0.2; done ) &
echo $! >> "$PIDS"
( trap '' TERM; while :; do sleep 0.2; done ) &
echo $! >> "$PIDS"
echo ready >> "$PIDS.ready"
[ -n "$LEADER_EXITS" ] && exit 0
wait`

// leftover starts stubbornGroup in its own process group with the
// K0RDENT_* environment of node slow, attempt 1 of run id, as
// Command.exec does, and returns its identity and the grandchildren.
func leftover(t *testing.T, id string, leaderExits bool, env ...string) (workflow.ProcessGroup, []int) {
	t.Helper()
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	c := exec.Command("/bin/sh", "-c", stubbornGroup)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Env = append(os.Environ(), "PIDS="+pids, EnvRunID+"="+id, EnvNode+"=slow", EnvAttempt+"=1")
	if leaderExits {
		c.Env = append(c.Env, "LEADER_EXITS=1")
	}
	c.Env = append(c.Env, env...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := c.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL); _ = c.Wait() })
	pg, ok := processGroupOf(pgid)
	if !ok {
		t.Fatalf("processGroupOf(%d) failed", pgid)
	}
	pg.RunID, pg.Node, pg.Attempt = id, "slow", 1
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(pids + ".ready"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the group never got ready")
		}
	}
	if leaderExits {
		_ = c.Wait() // reaped: its pid may now be reused
	}
	var out []int
	data, _ := os.ReadFile(pids)
	for _, f := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(f)
		out = append(out, pid)
	}
	if len(out) != 2 {
		t.Fatalf("grandchildren = %v, want 2", out)
	}
	return pg, out
}

func TestEndProcessGroups(t *testing.T) {
	tests := []struct {
		name        string
		leaderExits bool
		env         []string                                             // extra environment of the group
		tamper      func(pg workflow.ProcessGroup) workflow.ProcessGroup // what the journal says
		wantEnded   bool
	}{
		{name: "LeaderAlive", wantEnded: true},
		{name: "LeaderGone", leaderExits: true, wantEnded: true},
		{name: "LeaderAliveOtherStart", tamper: func(pg workflow.ProcessGroup) workflow.ProcessGroup {
			pg.LeaderStart++ // the pid was reused by another leader
			return pg
		}},
		{name: "LeaderGoneOtherAttempt", leaderExits: true, tamper: func(pg workflow.ProcessGroup) workflow.ProcessGroup {
			pg.Attempt = 2 // the members' environment says attempt 1
			return pg
		}},
		{name: "LeaderGoneWithoutEnvironment", leaderExits: true, env: []string{EnvRunID + "=someone-else"}},
		{name: "OtherBoot", tamper: func(pg workflow.ProcessGroup) workflow.ProcessGroup {
			pg.BootID = "another-boot"
			return pg
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pg, grandchildren := leftover(t, "20261203-150000-abcd", tt.leaderExits, tt.env...)
			if tt.tamper != nil {
				pg = tt.tamper(pg)
			}
			ended := EndProcessGroups([]workflow.ProcessGroup{pg}, 200*time.Millisecond)
			if got := len(ended) == 1; got != tt.wantEnded {
				t.Fatalf("EndProcessGroups ended %v, want ended = %v", ended, tt.wantEnded)
			}
			for _, pid := range grandchildren {
				if gone := processGone(t, pid); gone != tt.wantEnded {
					t.Errorf("grandchild %d (ignores SIGTERM) gone = %v, want %v", pid, gone, tt.wantEnded)
				}
			}
		})
	}
	if got := EndProcessGroups(nil, time.Second); got != nil {
		t.Errorf("EndProcessGroups(nil) = %v", got)
	}
}

// TestRecognised_MemberThatVanished: the leader is gone and the scan saw,
// beside the group's live members, one that has since exited (a shell's
// `sleep` between the scan and the check). The group is still recognised:
// a vanished member says nothing. A live member of another attempt, or
// only vanished members, is not.
func TestRecognised_MemberThatVanished(t *testing.T) {
	pg, grandchildren := leftover(t, "20261204-020000-abcd", true)
	scan := groupMembers()[pg.PGID]
	if len(scan) == 0 {
		t.Fatalf("no live member of group %d; grandchildren %v", pg.PGID, grandchildren)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	vanished := procInfo{pid: gone.Process.Pid, state: 'S', pgrp: pg.PGID, start: pg.LeaderStart + 1}
	if !recognised(pg, append(scan, vanished)) {
		t.Error("a member that exited after the scan made the group unrecognised")
	}
	if recognised(pg, []procInfo{vanished}) {
		t.Error("a group of vanished members only was recognised")
	}
	other := pg
	other.Attempt = 2
	if recognised(other, append(scan, vanished)) {
		t.Error("live members of attempt 1 were recognised as attempt 2's group")
	}
}

// groupRecorder journals process groups in memory.
type groupRecorder struct {
	mu     sync.Mutex
	groups []workflow.ProcessGroup
	err    error
}

func (r *groupRecorder) Record(workflow.Event) error { return nil }
func (r *groupRecorder) RecordProcessGroup(pg workflow.ProcessGroup) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.groups = append(r.groups, pg)
	return r.err
}

func TestCommand_Run_JournalsItsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	ident := filepath.Join(dir, "ident")
	c := newCommand(t, CommandSpec{Name: "hook", Command: script(t, `echo "$$ $(cut -d' ' -f22 /proc/$$/stat)" > "$IDENT"`),
		Env: map[string]string{"IDENT": ident}})
	g, err := workflow.NewGraph(c)
	if err != nil {
		t.Fatal(err)
	}
	rec := &groupRecorder{}
	if _, err := (&workflow.Scheduler{Graph: g, RunID: "20261203-150000-abcd", Recorder: rec}).Run(context.Background(), nil); err != nil {
		t.Fatalf("Run: %v", err)
	}
	data, err := os.ReadFile(ident)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscan(string(data), &pid, &start); err != nil {
		t.Fatalf("ident %q: %v", data, err)
	}
	want := workflow.ProcessGroup{RunID: "20261203-150000-abcd", Node: "hook", Attempt: 1, PGID: pid, LeaderStart: start, BootID: bootID()}
	if len(rec.groups) != 1 || rec.groups[0] != want {
		t.Errorf("journalled groups = %+v, want [%+v]", rec.groups, want)
	}
}

func TestCommand_Run_UnjournalledGroupDoesNotRun(t *testing.T) {
	done := filepath.Join(t.TempDir(), "done")
	c := newCommand(t, CommandSpec{Name: "hook", Command: script(t, `sleep 1; touch "$DONE"`), Env: map[string]string{"DONE": done}})
	g, err := workflow.NewGraph(c)
	if err != nil {
		t.Fatal(err)
	}
	errDisk := errors.New("disk full")
	rec := &groupRecorder{err: errDisk}
	_, err = (&workflow.Scheduler{Graph: g, Recorder: rec}).Run(context.Background(), nil)
	if !errors.Is(err, errDisk) || !strings.Contains(err.Error(), "journal its process group") {
		t.Fatalf("Run = %v, want the journal error", err)
	}
	time.Sleep(1500 * time.Millisecond) // past the script's sleep; ordering only
	if _, err := os.Stat(done); !os.IsNotExist(err) {
		t.Error("the command ran to completion although its process group was not journalled")
	}
}
