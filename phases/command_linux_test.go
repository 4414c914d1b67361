package phases

import (
	"fmt"
	"os"
	"testing"
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
