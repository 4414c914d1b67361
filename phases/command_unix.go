//go:build unix && !linux

package phases

import (
	"errors"
	"syscall"
)

// sysProcAttr puts the child in its own process group, so that signals reach
// everything it starts. (Pdeathsig exists only on Linux.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// groupAlive reports whether process group pgid has a member, zombies
// included (there is no /proc to tell them apart).
func groupAlive(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}
