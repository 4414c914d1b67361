package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Fixture run ids: three runs of commandConfig's graph.
const (
	runFailed    = "20260102-120000-0001" // failed at c, then superseded by runSucceeded
	runSucceeded = "20260102-130000-0002" // with --with-kof, every node succeeded
	runCurrent   = "20260102-140000-0003" // unfinished: the process died while b and c ran
)

// fixtureRuns writes the three runs through the state package's API with
// fixed times, so that the output of runs, runs show, status and plan is
// the same on every machine.
func fixtureRuns(t *testing.T) (digest string) {
	t.Helper()
	store := state.NewStore("state")
	lock, _, err := store.Lock(state.Holder{PID: 1, Command: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	base := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	nodes := []string{"a", "k", "b", "c", "d"}
	cfg, err := config.Parse([]byte(commandConfig), "k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	flags := func(kof bool) map[string]bool {
		return map[string]bool{"with_kof": kof, "with_azure_children": false, "fail_fast": false}
	}
	create := func(id, parent string, created time.Time, kof bool) *state.Run {
		r, err := store.CreateRun(state.Header{RunID: id, ParentRunID: parent, Created: created, Operator: "ops",
			Host: "laptop", ToolVersion: "v0.0.0-test", ConfigPath: "k0rdent.yaml", ConfigDigest: cfg.Digest(),
			ClusterID: "k0rdent", Flags: flags(kof), Nodes: nodes})
		must(err)
		return r
	}
	tr := func(r *state.Run, at time.Time, node string, from, to workflow.State, attempt int, dur time.Duration, reason, errText string, out map[string]string) {
		t.Helper()
		must(r.Append(state.Record{Kind: state.KindTransition, Time: at, Node: node, From: from, To: to, Attempt: attempt,
			Duration: dur, Reason: reason, Error: errText, Outputs: out}))
	}
	const (
		P, R, S, F = workflow.Pending, workflow.Running, workflow.Succeeded, workflow.Failed
		K, B       = workflow.Skipped, workflow.Blocked
	)
	sec := func(t0 time.Time, n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	outA := map[string]string{"out": "from-a"}

	t1 := base
	r1 := create(runFailed, "", t1, false)
	tr(r1, sec(t1, 1), "k", P, K, 0, 0, "disabled: when with_kof: --with-kof not set", "", nil)
	tr(r1, sec(t1, 1), "a", P, R, 1, 0, "not run before", "", nil)
	tr(r1, sec(t1, 3), "a", R, S, 1, 2*time.Second, "", "", outA)
	tr(r1, sec(t1, 3), "b", P, R, 1, 0, "not run before", "", nil)
	tr(r1, sec(t1, 3), "c", P, R, 1, 0, "not run before", "", nil)
	tr(r1, sec(t1, 4), "c", R, F, 1, time.Second, "", "command phase c: exit status 3 (see log)", nil)
	tr(r1, sec(t1, 4), "d", P, B, 0, 0, "dependency c failed", "", nil)
	tr(r1, sec(t1, 8), "b", R, S, 1, 5*time.Second, "", "", nil)
	must(r1.Append(state.Record{Kind: state.KindOutcome, Time: sec(t1, 8), Outcome: state.OutcomeFailed, FailedNodes: []string{"c"}, Flags: flags(false)}))
	must(os.MkdirAll(store.LocalBackend().LogDir(runFailed), 0o700))
	must(os.WriteFile(filepath.Join(store.LocalBackend().LogDir(runFailed), "c.log"),
		[]byte("===== c attempt 1 2026-01-02T12:00:03Z =====\nc ran\nc is broken\n"), 0o600))

	t2 := base.Add(time.Hour)
	r2 := create(runSucceeded, runFailed, t2, true)
	must(r1.Append(state.Record{Kind: state.KindSuperseded, Time: t2, By: runSucceeded, Flags: flags(false)}))
	must(r1.Close())
	tr(r2, sec(t2, 1), "a", P, R, 1, 0, "not run before", "", nil)
	tr(r2, sec(t2, 1), "k", P, R, 1, 0, "not run before", "", nil)
	tr(r2, sec(t2, 3), "a", R, S, 1, 2*time.Second, "", "", outA)
	tr(r2, sec(t2, 3), "b", P, R, 1, 0, "not run before", "", nil)
	tr(r2, sec(t2, 3), "c", P, R, 1, 0, "not run before", "", nil)
	tr(r2, sec(t2, 4), "k", R, S, 1, 3*time.Second, "", "", nil)
	tr(r2, sec(t2, 6), "c", R, S, 1, 3*time.Second, "", "", nil)
	tr(r2, sec(t2, 6), "d", P, R, 1, 0, "not run before", "", nil)
	tr(r2, sec(t2, 7), "b", R, S, 1, 4*time.Second, "", "", nil)
	tr(r2, sec(t2, 10), "d", R, S, 1, 4*time.Second, "", "", nil)
	must(r2.Append(state.Record{Kind: state.KindOutcome, Time: sec(t2, 10), Outcome: state.OutcomeSucceeded, Flags: flags(true)}))
	must(r2.Close())

	t3 := base.Add(2 * time.Hour)
	r3 := create(runCurrent, "", t3, false)
	tr(r3, sec(t3, 1), "k", P, K, 0, 0, "disabled: when with_kof: --with-kof not set", "", nil)
	tr(r3, sec(t3, 1), "a", P, R, 1, 0, "not run before", "", nil)
	tr(r3, sec(t3, 3), "a", R, S, 1, 2*time.Second, "", "", outA)
	tr(r3, sec(t3, 3), "b", P, R, 1, 0, "not run before", "", nil)
	tr(r3, sec(t3, 3), "c", P, R, 1, 0, "not run before", "", nil)
	must(r3.Close()) // the process died here: no outcome
	return cfg.Digest()
}

func TestGolden_Outputs(t *testing.T) {
	e := newEnv(t, commandConfig)
	// The digest depends on every config default; the goldens must not.
	digest := fixtureRuns(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"runs", []string{"runs"}},
		{"runs_limit", []string{"runs", "--limit", "1"}},
		{"runs_json", []string{"runs", "-o", "json"}},
		{"runs_show_failed", []string{"runs", "show", runFailed}},
		{"runs_show_succeeded", []string{"runs", "show", runSucceeded}},
		{"runs_show_json", []string{"runs", "show", "-o", "json", runFailed}},
		{"status", []string{"status"}},
		{"status_json", []string{"status", "-o", "json"}},
		{"plan_resume", []string{"run", "--plan"}},
		{"plan_fresh", []string{"run", "--plan", "--fresh"}},
		{"plan_only", []string{"run", "--plan", "--fresh", "--only", "d"}},
		{"phases", []string{"phases"}},
		{"phases_json", []string{"phases", "-o", "json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run(tc.args...)
			if r.code != 0 {
				t.Fatalf("want exit 0:\n%s", r)
			}
			golden(t, tc.name, strings.ReplaceAll(r.stdout, digest, "sha256:<digest of k0rdent.yaml>"))
		})
	}
}
