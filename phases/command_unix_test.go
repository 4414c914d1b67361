//go:build unix && !linux

package phases

import (
	"errors"
	"syscall"
	"testing"
)

// processGone reports whether pid has exited. Without /proc a zombie counts
// as running.
func processGone(t *testing.T, pid int) bool {
	t.Helper()
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
