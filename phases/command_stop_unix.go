//go:build unix

package phases

import (
	"syscall"
	"time"
)

// stopGroup ends whatever is left of process group pgid: SIGTERM, then
// SIGKILL once deadline has passed, and waits (up to killWait) for the kill
// to take effect, so that the group is gone when it returns. It returns as
// soon as groupAlive says the group has no live member (on Linux zombies do
// not count: where PID 1 does not reap orphans, as in some containers, an
// exited grandchild stays a zombie forever).
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
