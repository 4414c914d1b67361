package phases

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// sysProcAttr puts the child in its own process group, so that signals reach
// everything it starts, and makes the kernel SIGKILL it if k0rdent dies.
// Pdeathsig fires when the thread that started the child exits; Command.exec
// keeps its goroutine locked to that thread until the child is reaped.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// stopGroup ends whatever is left of process group pgid: SIGTERM, then
// SIGKILL once deadline has passed, and waits (up to killWait) for the kill
// to take effect, so that the group is gone when it returns. It returns as
// soon as the group has no live member. Zombies do not count: where PID 1
// does not reap orphans (some containers), an exited grandchild stays a
// zombie forever.
func stopGroup(pgid int, deadline time.Time) {
	if !groupAlive(pgid) {
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	killed := false
	for groupAlive(pgid) {
		now := time.Now()
		switch {
		case !killed && !now.Before(deadline):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			killed, deadline = true, now.Add(killWait)
		case killed && !now.Before(deadline):
			return // stuck in the kernel (D state); nothing more to do
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// groupAlive reports whether process group pgid has a member that is not a
// zombie. It reads /proc; without /proc it asks kill(2), which counts
// zombies too.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return true
	}
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // gone meanwhile
		}
		state, pgrp, ok := parseStat(data)
		if ok && pgrp == pgid && state != 'Z' && state != 'X' {
			return true
		}
	}
	return false
}

// parseStat returns the state and process group of a /proc/<pid>/stat line:
// "pid (comm) state ppid pgrp ...", where comm may contain spaces and ')'.
func parseStat(data []byte) (state byte, pgrp int, ok bool) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := bytes.Fields(data[i+1:])
	if len(fields) < 3 || len(fields[0]) != 1 {
		return 0, 0, false
	}
	pgrp, err := strconv.Atoi(string(fields[2]))
	if err != nil {
		return 0, 0, false
	}
	return fields[0][0], pgrp, true
}

// killWait bounds the wait for a SIGKILLed group to disappear.
const killWait = 5 * time.Second
