package workflow

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// tracker records which phases ran and with which inputs.
type tracker struct {
	mu     sync.Mutex
	ran    []string
	inputs map[string]map[string]map[string]string
}

func (tr *tracker) phase(name string, deps ...string) *fakePhase {
	f := ph(name, deps...)
	f.run = func(ctx context.Context, env *Env) error {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.ran = append(tr.ran, env.Node)
		if tr.inputs == nil {
			tr.inputs = map[string]map[string]map[string]string{}
		}
		tr.inputs[env.Node] = env.Inputs
		env.SetOutput("ip", "new-"+env.Node)
		return nil
	}
	return f
}

func (tr *tracker) ranList() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return strings.Join(tr.ran, ",")
}

func done(runID string, attempt int) NodeStatus {
	return NodeStatus{State: Succeeded, Attempt: attempt, RunID: runID, Outputs: map[string]string{"ip": "old"}}
}

func TestScheduler_ResumeReuseWithoutVerifier(t *testing.T) {
	var tr tracker
	prior := map[string]NodeStatus{"a": done("r1", 1), "b": {State: Failed, Attempt: 1}}
	res, err, rec := runGraph(t, context.Background(), prior, nil, tr.phase("a"), tr.phase("b", "a"))
	if err != nil {
		t.Fatal(err)
	}
	wantTrail(t, rec, `a succeeded->succeeded #1 reused from run r1
b failed->running #2 resumed: was failed
b running->succeeded #2
`)
	if got := tr.inputs["b"]["a"]["ip"]; got != "old" {
		t.Errorf("b got input a.ip %q, want the prior output %q", got, "old")
	}
	if got := rec.events[0].Outputs["ip"]; got != "old" {
		t.Errorf("reuse event outputs %v, want the prior outputs", rec.events[0].Outputs)
	}
	if res.Nodes["a"].RunID != "r1" || res.Nodes["b"].RunID != "r2" {
		t.Errorf("run ids a %q b %q, want r1, r2", res.Nodes["a"].RunID, res.Nodes["b"].RunID)
	}
}

func TestScheduler_ResumeVerifyThenReuse(t *testing.T) {
	var tr tracker
	verified := false
	a := tr.phase("a")
	a.verify = func(ctx context.Context, env *Env) error {
		// Verify compares reality with what the journal recorded.
		verified = env.Attempt == 1 && env.Node == "a" && env.Recorded["ip"] == "old"
		return nil
	}
	prior := map[string]NodeStatus{"a": done("r1", 1)}
	_, err, rec := runGraph(t, context.Background(), prior, nil, verifierPhase{a}, tr.phase("b", "a"))
	if err != nil {
		t.Fatal(err)
	}
	wantTrail(t, rec, `a succeeded->succeeded #1 verified, reused from run r1
b pending->running #1
b running->succeeded #1
`)
	if !verified || tr.ranList() != "b" {
		t.Errorf("verified %v, ran %q; want true, b", verified, tr.ranList())
	}
}

func TestScheduler_ResumeVerifyFailedRerunsDownstream(t *testing.T) {
	var tr tracker
	a := tr.phase("a")
	a.verify = func(context.Context, *Env) error { return errors.New("vm deleted") }
	c := tr.phase("c", "b")
	c.verify = func(context.Context, *Env) error { t.Errorf("c verified, but its upstream re-ran"); return nil }
	x := tr.phase("x")
	x.verify = func(context.Context, *Env) error { return nil }
	prior := map[string]NodeStatus{"a": done("r1", 1), "b": done("r1", 2), "c": done("r1", 1), "x": done("r1", 1)}
	_, err, rec := runGraph(t, context.Background(), prior, func(s *Scheduler) { s.Parallelism = 1 },
		verifierPhase{a}, tr.phase("b", "a"), verifierPhase{c}, verifierPhase{x})
	if err != nil {
		t.Fatal(err)
	}
	wantTrail(t, rec, `a succeeded->running #2 verify failed: vm deleted
a running->succeeded #2
b succeeded->running #3 dependency a re-ran
b running->succeeded #3
c succeeded->running #2 dependency b re-ran
c running->succeeded #2
`, "a", "b", "c")
	wantTrail(t, rec, "x succeeded->succeeded #1 verified, reused from run r1\n", "x")
	if got := tr.inputs["c"]["b"]["ip"]; got != "new-b" {
		t.Errorf("c got b.ip %q, want the output of b's re-run", got)
	}
}

func TestScheduler_ResumeVolatile(t *testing.T) {
	var tr tracker
	vpn := tr.phase("vpn")
	vpn.volatile = true
	prior := map[string]NodeStatus{"vpn": done("r1", 1), "k0s": done("r1", 1)}
	_, err, rec := runGraph(t, context.Background(), prior, nil, volatilePhase{vpn}, tr.phase("k0s", "vpn"))
	if err != nil {
		t.Fatal(err)
	}
	// re-establishing a tunnel does not invalidate what was built through it
	wantTrail(t, rec, `vpn succeeded->running #2 volatile: re-established on every run
vpn running->succeeded #2
k0s succeeded->succeeded #1 reused from run r1
`)
}

func TestScheduler_ResumeVolatileAfterVerifyFailed(t *testing.T) {
	var tr tracker
	wg := tr.phase("wireguard")
	wg.verify = func(context.Context, *Env) error { return errors.New("keys missing") }
	vpn := tr.phase("vpn", "wireguard")
	vpn.volatile = true
	k0s := tr.phase("k0s", "vpn")
	k0s.verify = func(context.Context, *Env) error { t.Errorf("k0s verified, but wireguard re-ran"); return nil }
	prior := map[string]NodeStatus{"wireguard": done("r1", 1), "vpn": done("r1", 1), "k0s": done("r1", 1)}
	_, err, rec := runGraph(t, context.Background(), prior, nil, verifierPhase{wg}, volatilePhase{vpn}, verifierPhase{k0s})
	if err != nil {
		t.Fatal(err)
	}
	// a drifted upstream travels through the volatile node
	wantTrail(t, rec, "k0s succeeded->running #2 dependency vpn re-ran\nk0s running->succeeded #2\n", "k0s")
	if tr.ranList() != "wireguard,vpn,k0s" {
		t.Errorf("ran %s", tr.ranList())
	}
}

func TestScheduler_ResumeCancelLeavesDoneNodesAlone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := ph("a")
	a.verify = func(ctx context.Context, env *Env) error { cancel(); <-ctx.Done(); return ctx.Err() }
	b := ph("b")
	b.verify = func(context.Context, *Env) error { t.Errorf("b verified after the cancellation"); return nil }
	prior := map[string]NodeStatus{"a": done("r1", 1), "b": done("r1", 1), "c": {State: Skipped, Reason: "disabled: x"}}
	res, err, rec := runGraph(t, ctx, prior, func(s *Scheduler) { s.Parallelism = 1 }, verifierPhase{a}, verifierPhase{b}, ph("c"), ph("d"))
	if !errors.Is(err, context.Canceled) || res.Outcome != OutcomeCancelled {
		t.Errorf("outcome %s, err %v", res.Outcome, err)
	}
	// a was being verified and b was not reached: a resume finds them as
	// they were. c (enabled now, so planned to run) and d (never ran) are
	// cancelled, so that the next resume runs them.
	wantTrail(t, rec, "c skipped->cancelled #0 run cancelled before it started\nd pending->cancelled #0 run cancelled before it started\n")
	if res.Nodes["a"].State != Succeeded || res.Nodes["b"].State != Succeeded {
		t.Errorf("nodes %+v", res.Nodes)
	}
}

func TestScheduler_ResumeNotDoneRunsAgain(t *testing.T) {
	for _, st := range []State{Running, Failed, Blocked, Cancelled, Pending} {
		t.Run(string(st), func(t *testing.T) {
			var tr tracker
			prior := map[string]NodeStatus{"a": {State: st, Attempt: 3}}
			res, err, rec := runGraph(t, context.Background(), prior, nil, tr.phase("a"))
			if err != nil {
				t.Fatal(err)
			}
			reason := "resumed: was " + string(st)
			if st == Running {
				reason = "resumed: was left running (interrupted)"
			}
			wantTrail(t, rec, "a "+string(st)+"->running #4 "+reason+"\na running->succeeded #4\n")
			if res.Nodes["a"].Attempt != 4 {
				t.Errorf("attempt %d, want 4", res.Nodes["a"].Attempt)
			}
		})
	}
}

func TestScheduler_ResumeEnablementChanged(t *testing.T) {
	tests := []struct {
		name    string
		prior   NodeStatus
		enabled bool
		want    string
	}{
		{"NowEnabled", NodeStatus{State: Skipped, Reason: "disabled: --with-kof not set"}, true,
			"kof skipped->running #1 enabled: was skipped (disabled: --with-kof not set)\nkof running->succeeded #1\n"},
		{"NowDisabled", done("r1", 1), false,
			"kof succeeded->skipped #1 disabled: --with-kof not set (was succeeded in run r1)\n"},
		{"StillDisabled", NodeStatus{State: Skipped, Reason: "disabled: --with-kof not set"}, false,
			"kof skipped->skipped #0 disabled: --with-kof not set\n"},
		{"LeftRunningNowDisabled", NodeStatus{State: Running, Attempt: 1}, false,
			"kof running->cancelled #1 interrupted in a prior run\nkof cancelled->skipped #1 disabled: --with-kof not set\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr tracker
			kof := tr.phase("kof")
			kof.enabled = func() (bool, string) { return tt.enabled, "--with-kof not set" }
			res, err, rec := runGraph(t, context.Background(), map[string]NodeStatus{"kof": tt.prior}, nil, enablerPhase{kof}, tr.phase("after", "kof"))
			if err != nil {
				t.Fatal(err)
			}
			wantTrail(t, rec, tt.want, "kof")
			if res.Nodes["after"].State != Succeeded {
				t.Errorf("after = %s; a skipped dependency must not block", res.Nodes["after"].State)
			}
			if !tt.enabled && res.Nodes["kof"].Outputs != nil {
				t.Errorf("skipped kof keeps outputs %v", res.Nodes["kof"].Outputs)
			}
		})
	}
}

func TestScheduler_ResumeSelection(t *testing.T) {
	all := map[string]NodeStatus{"a": done("r1", 1), "b": done("r1", 1), "c": done("r1", 1)}
	tests := []struct {
		name  string
		sel   Selection
		prior map[string]NodeStatus
		ran   string
		want  string
	}{
		{"OnlyRunsSelectedEvenIfDone", Selection{Only: []string{"b"}}, all, "b", `a succeeded->succeeded #1 not selected; succeeded in run r1
c succeeded->succeeded #1 not selected; succeeded in run r1; stale: upstream b re-runs
b succeeded->running #2 selected (was succeeded in run r1)
b running->succeeded #2
`},
		{"FromIsDescendantsToo", Selection{From: []string{"b"}}, all, "b,c", `a succeeded->succeeded #1 not selected; succeeded in run r1
b succeeded->running #2 selected (was succeeded in run r1)
b running->succeeded #2
c succeeded->running #2 selected (was succeeded in run r1)
c running->succeeded #2
`},
		{"NotSelectedDoneDependencyIsEnough", Selection{Only: []string{"c"}}, map[string]NodeStatus{"b": done("r1", 1)}, "c",
			"b succeeded->succeeded #1 not selected; succeeded in run r1\nc pending->running #1\nc running->succeeded #1\n"},
		{"DependencyNotSelectedNotDone", Selection{Only: []string{"c"}}, nil, "",
			"c pending->blocked #0 dependency b not selected and not completed\n"},
		{"DirectDependencyNotDone", Selection{Only: []string{"b", "c"}}, nil, "",
			"b pending->blocked #0 dependency a not selected and not completed\nc pending->blocked #0 dependency a not selected and not completed (via b)\n"},
		{"SkipAloneForcesNothing", Selection{Skip: []string{"c"}}, map[string]NodeStatus{"a": done("r1", 1)}, "b",
			"a succeeded->succeeded #1 reused from run r1\nb pending->running #1\nb running->succeeded #1\n"},
		{"NotSelectedSkipped", Selection{Only: []string{"a"}}, map[string]NodeStatus{"b": {State: Skipped, Reason: "disabled: x"}}, "a",
			"b skipped->skipped #0 not selected; was skipped (disabled: x)\na pending->running #1\na running->succeeded #1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr tracker
			res, err, rec := runGraph(t, context.Background(), tt.prior, func(s *Scheduler) { s.Selection = tt.sel; s.Parallelism = 1 },
				tr.phase("a"), tr.phase("b", "a"), tr.phase("c", "b"))
			wantTrail(t, rec, tt.want)
			if got := tr.ranList(); got != tt.ran {
				t.Errorf("ran %q, want %q", got, tt.ran)
			}
			blocked := strings.Contains(tt.want, "blocked")
			var be *BlockedError
			if blocked != errors.As(err, &be) || blocked != (res.Outcome == OutcomeFailed) {
				t.Errorf("outcome %s, err %v", res.Outcome, err)
			}
		})
	}
}

func TestScheduler_Destroy(t *testing.T) {
	var mu sync.Mutex
	var order []string
	mk := func(name string, fail bool, deps ...string) Phase {
		f := ph(name, deps...)
		f.run = func(context.Context, *Env) error { t.Errorf("Run called during teardown"); return nil }
		f.destroy = func(ctx context.Context, env *Env) error {
			mu.Lock()
			order = append(order, env.Node)
			mu.Unlock()
			if got, _ := env.Input("wireguard", "ip"); name == "terraform" && got != "old" {
				t.Errorf("terraform's Destroy got input %q, want the prior output", got)
			}
			if fail {
				return errors.New("resource group locked")
			}
			return nil
		}
		return destroyPhase{f}
	}
	phases := []Phase{mk("wireguard", false), mk("terraform", false, "wireguard"), ph("vpn", "terraform"), mk("k0s", false, "vpn"), mk("kof", false, "k0s")}
	prior := map[string]NodeStatus{"wireguard": done("r1", 1), "terraform": done("r1", 1), "k0s": done("r1", 1), "kof": done("r1", 1)}
	rec := newRecorder(t, prior)
	s := &Scheduler{Graph: mustGraph(t, phases...), Recorder: rec, Parallelism: 1}
	res, err := s.Destroy(context.Background(), prior)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ","); got != "kof,k0s,terraform,wireguard" {
		t.Errorf("destroy order %s", got)
	}
	wantTrail(t, rec, "k0s succeeded->running #2 destroy\nk0s running->succeeded #2\n", "k0s")
	if res.Critical[0] != "kof" {
		t.Errorf("critical path %v, want it to start at kof", res.Critical)
	}

	order = nil
	phases[3] = mk("k0s", true, "vpn")
	rec = newRecorder(t, prior)
	s = &Scheduler{Graph: mustGraph(t, phases...), Recorder: rec, Parallelism: 1}
	res, err = s.Destroy(context.Background(), prior)
	if err == nil || !strings.Contains(err.Error(), "phase k0s (attempt 2): resource group locked") {
		t.Errorf("err = %v", err)
	}
	wantTrail(t, rec, "terraform succeeded->blocked #1 dependent k0s failed (via vpn)\nwireguard succeeded->blocked #1 dependent k0s failed (via terraform)\n", "terraform", "wireguard")
	if res.Outcome != OutcomeFailed {
		t.Errorf("outcome %s", res.Outcome)
	}
}

// TestScheduler_DestroyOutputs: a Destroy sees what the node recorded
// (Env.Recorded) and says what it removed with outputs, journalled with
// its succeeded record; a failed Destroy's outputs are not journalled.
func TestScheduler_DestroyOutputs(t *testing.T) {
	mk := func(name string, fail bool) Phase {
		f := ph(name)
		f.destroy = func(ctx context.Context, env *Env) error {
			env.SetOutput("removed", "the thing built from "+env.Recorded["ip"])
			if fail {
				return errors.New("denied")
			}
			return nil
		}
		return destroyPhase{f}
	}
	prior := map[string]NodeStatus{"a": done("r1", 1), "b": done("r1", 1)}
	rec := newRecorder(t, prior)
	s := &Scheduler{Graph: mustGraph(t, mk("a", false), mk("b", true)), Recorder: rec, Parallelism: 1}
	if _, err := s.Destroy(context.Background(), prior); err == nil {
		t.Fatal("Destroy: no error, want b's")
	}
	got := map[string]map[string]string{}
	for _, ev := range rec.events {
		if ev.From == Running {
			got[ev.Node+" "+string(ev.To)] = ev.Outputs
		}
	}
	want := map[string]map[string]string{"a succeeded": {"removed": "the thing built from old"}, "b failed": nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("destroy records' outputs %v, want %v", got, want)
	}
}

func TestBlockedError_Error(t *testing.T) {
	_, err, _ := runGraph(t, context.Background(), nil, func(s *Scheduler) { s.Selection = Selection{Only: []string{"b"}} }, ph("a"), ph("b", "a"))
	want := "phase b blocked: dependency a not selected and not completed; select that dependency too, or run it first"
	if err == nil || err.Error() != want {
		t.Errorf("err %v, want %q", err, want)
	}
}

// A node found drifted, or invalidated, but not re-run before a fail-fast
// stop must not look reusable to the next resume.
func TestScheduler_ResumeFailFastKeepsDriftVisible(t *testing.T) {
	prior := map[string]NodeStatus{"b": done("r1", 1), "x": done("r1", 1)}
	t.Run("DriftedWhileFailing", func(t *testing.T) {
		aFailed := make(chan struct{})
		a := ph("a")
		a.run = func(context.Context, *Env) error { return errors.New("boom") }
		x := ph("x")
		x.verify = func(context.Context, *Env) error { <-aFailed; return errors.New("drifted") }
		_, _, rec := runGraph(t, context.Background(), prior, func(s *Scheduler) {
			s.FailFast, s.Parallelism = true, 2
			s.Recorder.(*memRecorder).failOn = func(ev Event) error {
				if ev.Node == "a" && ev.To == Failed {
					close(aFailed)
				}
				return nil
			}
		}, a, ph("b", "x"), verifierPhase{x})
		// b was to be decided by x's Verify and was not reached: it stays.
		wantTrail(t, rec, "x succeeded->cancelled #1 verify failed, not re-run after fail-fast: drifted\n", "x", "b")
	})
	t.Run("InvalidatedWhileFailing", func(t *testing.T) {
		a := ph("a", "x")
		a.run = func(context.Context, *Env) error { return errors.New("boom") }
		x := ph("x")
		x.verify = func(context.Context, *Env) error { return errors.New("drifted") }
		_, _, rec := runGraph(t, context.Background(), prior, func(s *Scheduler) { s.FailFast, s.Parallelism = true, 1 },
			a, ph("b", "x"), verifierPhase{x})
		// x re-ran, so b must run; a runs first and fails: b is cancelled.
		wantTrail(t, rec, "b succeeded->cancelled #1 not started: fail-fast after a failed\n", "b")
	})
}

func TestScheduler_ResumeCancelAfterRedoInvalidates(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rec *memRecorder
	x := ph("x")
	x.verify = func(context.Context, *Env) error { return errors.New("drifted") }
	y := ph("y")
	y.run = func(ctx context.Context, env *Env) error {
		for deadline := time.Now().Add(10 * time.Second); rec.seq("x", Succeeded) < 0 && time.Now().Before(deadline); {
			time.Sleep(100 * time.Microsecond)
		}
		cancel() // x has been re-done; b, waiting for y, has not started
		<-ctx.Done()
		return ctx.Err()
	}
	b := ph("b", "x", "y")
	b.verify = func(context.Context, *Env) error { t.Errorf("b verified"); return nil }
	c := ph("c", "b")
	y.volatile = true // re-run, but without invalidating b: only x's Verify decides b
	prior := map[string]NodeStatus{"x": done("r1", 1), "y": done("r1", 1), "b": done("r1", 1), "c": done("r1", 1)}
	rec = newRecorder(t, prior)
	s := &Scheduler{Graph: mustGraph(t, verifierPhase{x}, volatilePhase{y}, verifierPhase{b}, c), Recorder: rec, Parallelism: 2}
	res, _ := s.Run(ctx, prior)
	// b succeeded before, but x was re-done under it: it must not look
	// reusable to the next resume. c need not be touched: b re-runs next
	// time, which re-runs c.
	wantTrail(t, rec, "b succeeded->cancelled #1 run cancelled before it started\n", "b", "c")
	for _, n := range Plan(s.Graph, PlanOptions{Prior: res.Nodes}).Nodes {
		if (n.Name == "b" || n.Name == "c") && n.Action != ActionRun {
			t.Errorf("next resume: %s %s (%s), want run", n.Name, n.Action, n.Reason)
		}
	}
}
