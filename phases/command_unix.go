//go:build unix && !linux

package phases

import (
	"errors"
	"syscall"
	"time"
)

// sysProcAttr puts the child in its own process group, so that signals reach
// everything it starts. (Pdeathsig exists only on Linux.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// stopGroup ends whatever is left of process group pgid: SIGTERM, then
// SIGKILL once deadline has passed, and waits (up to killWait) for the
// kill to take effect, so that the group is gone when it returns.
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

// killWait bounds the wait for a SIGKILLed group to disappear.
const killWait = 5 * time.Second

func groupAlive(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}
