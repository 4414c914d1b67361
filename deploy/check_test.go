package deploy

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Check runs every Verify through the scheduler: a panic is recovered
// into drifted with its stack in the node log, a Verify that hangs is
// ended by the phase's timeout, nothing is recorded.
func TestCheck_ThroughTheScheduler(t *testing.T) {
	e := newEnv(t, baseConfig)
	e.register(
		&fullPhase{goPhase: goPhase{name: "ok"}},
		&fullPhase{goPhase: goPhase{name: "gone"}, verify: func(context.Context, *workflow.Env) error { return errors.New("vm deleted") }},
		&fullPhase{goPhase: goPhase{name: "panics"}, verify: func(context.Context, *workflow.Env) error { panic("boom") }},
		&fullPhase{goPhase: goPhase{name: "hangs"}, timeout: 50 * time.Millisecond, verify: func(ctx context.Context, _ *workflow.Env) error {
			<-ctx.Done()
			return ctx.Err()
		}},
		&goPhase{name: "plain"},
		&fullPhase{goPhase: goPhase{name: "broken", run: func(context.Context, *workflow.Env) error { return errors.New("no") }}},
	)
	res, _ := e.run(RunOptions{})
	rf := e.current()
	before := len(rf.Records)
	checks, err := e.deployer().Check(context.Background(), rf, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]NodeCheck{}
	for _, c := range checks {
		got[c.Node] = c
	}
	for node, want := range map[string]string{"ok": CheckOK, "gone": CheckDrifted, "panics": CheckDrifted, "hangs": CheckDrifted,
		"plain": CheckNone, "broken": CheckSkipped} {
		if got[node].Result != want {
			t.Errorf("%s: %+v, want %s", node, got[node], want)
		}
	}
	if !strings.Contains(got["panics"].Detail, "panic: boom") || !strings.Contains(got["hangs"].Detail, "timed out") {
		t.Errorf("details: panics %q, hangs %q", got["panics"].Detail, got["hangs"].Detail)
	}
	log, err := os.ReadFile(state.NewLocalBackend("state").LogPath(res.RunID, "panics"))
	if err != nil || !strings.Contains(string(log), "goroutine") {
		t.Errorf("the panic's stack is not in the node log (%v):\n%s", err, log)
	}
	if rf2, _ := state.NewStore("state").Load(res.RunID); len(rf2.Records) != before {
		t.Errorf("check recorded %d records", len(rf2.Records)-before)
	}
}
