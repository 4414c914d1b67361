package cli_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// twoSlowConfig has two phases that sleep side by side, then one after both.
const twoSlowConfig = baseConfig + `phases:
  - name: slow-a
    command: [sh, -c, "sleep 0.6"]
  - name: slow-b
    command: [sh, -c, "sleep 0.6"]
  - name: after
    command: ["true"]
    depends_on: [slow-a, slow-b]
`

// heartbeats counts, per node, the heartbeat lines ("12:00:31 k0s running
// 30s") printed while it ran, and fails on one printed when it did not.
func heartbeats(t *testing.T, stdout string) map[string]int {
	t.Helper()
	beat := regexp.MustCompile(`^\d\d:\d\d:\d\d (\S+) running (\d+(\.\d+)?(ms|s)|\d+m\d+s)$`)
	running := map[string]bool{}
	counts := map[string]int{}
	for _, l := range strings.Split(stdout, "\n") {
		f := strings.Fields(l)
		if m := beat.FindStringSubmatch(l); m != nil {
			if !running[m[1]] {
				t.Errorf("heartbeat of %s while it was not running: %q", m[1], l)
			}
			counts[m[1]]++
			continue
		}
		if len(f) >= 3 {
			running[f[1]] = f[2] == "running"
		}
	}
	return counts
}

// Piped (as in CI) or with NO_COLOR, every running node gets a line at
// least every heartbeat interval; here 50 ms, with phases that sleep.
func TestRun_HeartbeatWhenPiped(t *testing.T) {
	for _, tc := range []struct {
		name     string
		terminal bool
		noColor  bool
	}{
		{name: "Piped"},
		{name: "TerminalWithNoColor", terminal: true, noColor: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, twoSlowConfig)
			e.terminal, e.heartbeat = tc.terminal, 50*time.Millisecond
			if tc.noColor {
				t.Setenv("NO_COLOR", "1")
			}
			r := e.mustRun(0, "run")
			counts := heartbeats(t, r.stdout)
			for _, n := range []string{"slow-a", "slow-b"} {
				// 600 ms at 50 ms: about 11 each; a loaded machine may
				// delay some, never all.
				if counts[n] < 3 {
					t.Errorf("%s got %d heartbeat lines in 600 ms at a 50 ms interval, want several:\n%s", n, counts[n], r.stdout)
				}
			}
			if strings.Contains(r.stdout, "\x1b[") {
				t.Errorf("plain progress has escape codes:\n%q", r.stdout)
			}
		})
	}
}

// The default interval (30 s) leaves a short run's output as it was.
func TestRun_NoHeartbeatWithinTheDefaultInterval(t *testing.T) {
	e := newEnv(t, twoSlowConfig)
	r := e.mustRun(0, "run")
	if counts := heartbeats(t, r.stdout); len(counts) != 0 {
		t.Errorf("heartbeats %v within 30 s:\n%s", counts, r.stdout)
	}
}

// flakyConfig has a phase that fails transiently (exit 75) once, then
// succeeds.
const flakyConfig = baseConfig + `phases:
  - name: flaky
    command: [sh, -c, "if [ -e tried ]; then exit 0; fi; touch tried; echo connection refused >&2; exit 75"]
    retries: 2
`

// A retried transient failure is shown as a retry, not as a failure, both
// piped and in the live view (yellow, not red).
func TestRun_RetryShownAsRetry(t *testing.T) {
	t.Run("Piped", func(t *testing.T) {
		e := newEnv(t, flakyConfig)
		r := e.mustRun(0, "run")
		retry := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d flaky retry 1/2 in 1s: \S`)
		if !retry.MatchString(r.stdout) {
			t.Errorf("no retry line:\n%s", r.stdout)
		}
		if strings.Contains(r.stdout, "flaky failed") {
			t.Errorf("a retried attempt is shown as failed:\n%s", r.stdout)
		}
		for _, want := range []string{"flaky running (attempt 2)", "flaky succeeded"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("Live", func(t *testing.T) {
		e := newEnv(t, flakyConfig)
		e.terminal = true
		os.Unsetenv("NO_COLOR")
		r := e.mustRun(0, "run")
		const yellow, red = "\x1b[33m", "\x1b[31m"
		if !regexp.MustCompile(regexp.QuoteMeta(yellow) + `\d\d:\d\d:\d\d flaky retry 1/2 in 1s: `).MatchString(r.stdout) {
			t.Errorf("no yellow retry line:\n%q", r.stdout)
		}
		if strings.Contains(r.stdout, red) {
			t.Errorf("something is red in a run that succeeded:\n%q", r.stdout)
		}
	})
}
