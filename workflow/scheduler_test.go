package workflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runGraph runs phases with an in-memory recorder; mod adjusts the
// scheduler first.
func runGraph(t *testing.T, ctx context.Context, prior map[string]NodeStatus, mod func(*Scheduler), phases ...Phase) (*Result, error, *memRecorder) {
	t.Helper()
	rec := newRecorder(t, prior)
	s := &Scheduler{Graph: mustGraph(t, phases...), Recorder: rec, RunID: "r2", GracePeriod: time.Second}
	if mod != nil {
		mod(s)
	}
	res, err := s.Run(ctx, prior)
	if res == nil {
		t.Fatalf("Run returned a nil result (err %v)", err)
	}
	return res, err, rec
}

func wantTrail(t *testing.T, rec *memRecorder, want string, nodes ...string) {
	t.Helper()
	if got := rec.trail(nodes...); got != want {
		t.Errorf("events:\ngot\n%s\nwant\n%s", got, want)
	}
}

// logs is a LogSink that keeps every node attempt's log in memory.
type logs struct {
	mu    sync.Mutex
	files map[string]*bytes.Buffer
}

type logFile struct {
	l   *logs
	key string
}

func (f logFile) Write(b []byte) (int, error) {
	f.l.mu.Lock()
	defer f.l.mu.Unlock()
	return f.l.files[f.key].Write(b)
}
func (f logFile) Close() error { return nil }

func (l *logs) sink(node string, attempt int) (io.WriteCloser, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.files == nil {
		l.files = map[string]*bytes.Buffer{}
	}
	key := fmt.Sprintf("%s.%d", node, attempt)
	if l.files[key] == nil {
		l.files[key] = &bytes.Buffer{}
	}
	return logFile{l, key}, nil
}

func (l *logs) get(key string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.files[key]; b != nil {
		return b.String()
	}
	return ""
}

func TestScheduler_Run(t *testing.T) {
	var rec *memRecorder
	var sinks logs
	checked := map[string]bool{}
	var mu sync.Mutex
	var phases []Phase
	for _, p := range k0rdentGraph() {
		f := p.(*fakePhase)
		f.run = func(ctx context.Context, env *Env) error {
			// durability: running is recorded before Run, and every
			// dependency's succeeded before a dependent starts.
			if got := rec.lastState(env.Node); got != Running {
				t.Errorf("%s started while its recorded state is %s", env.Node, got)
			}
			for _, d := range f.deps {
				if got := rec.lastState(d); got != Succeeded {
					t.Errorf("%s started while dependency %s is recorded %s", env.Node, d, got)
				}
				if got, _ := env.Input(d, "from"); got != d {
					t.Errorf("%s: Inputs[%s][from] = %q, want %q", env.Node, d, got, d)
				}
			}
			if env.RunID != "r2" || env.Attempt != 1 || env.SecretsDir != "/secrets" || env.Node != f.name {
				t.Errorf("env = %+v", env)
			}
			env.Log.Info("hello", "node", env.Node)
			fmt.Fprintf(env.Output, "output of %s\n", env.Node)
			env.SetOutput("from", env.Node)
			mu.Lock()
			checked[env.Node] = true
			mu.Unlock()
			return nil
		}
		phases = append(phases, f)
	}
	rec = newRecorder(t, nil)
	s := &Scheduler{Graph: mustGraph(t, phases...), Recorder: rec, RunID: "r2", SecretsDir: "/secrets", LogSink: sinks.sink, Parallelism: 1}
	res, err := s.Run(context.Background(), nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantTrail(t, rec, `wireguard pending->running #1
wireguard running->succeeded #1
terraform pending->running #1
terraform running->succeeded #1
vpn pending->running #1
vpn running->succeeded #1
k0s pending->running #1
k0s running->succeeded #1
k0rdent pending->running #1
k0rdent running->succeeded #1
azure-children pending->running #1
azure-children running->succeeded #1
kof pending->running #1
kof running->succeeded #1
`)
	if res.Outcome != OutcomeSucceeded || len(checked) != 7 {
		t.Errorf("outcome %s, ran %d phases; want succeeded, 7", res.Outcome, len(checked))
	}
	if got := res.Nodes["k0s"]; got.State != Succeeded || got.Outputs["from"] != "k0s" || got.RunID != "r2" || got.Attempt != 1 {
		t.Errorf("Nodes[k0s] = %+v", got)
	}
	if ev := rec.events[rec.seq("vpn", Succeeded)]; ev.Outputs["from"] != "vpn" || ev.Duration <= 0 {
		t.Errorf("vpn succeeded event = %+v, want outputs and a duration", ev)
	}
	if got := sinks.get("k0s.1"); !strings.Contains(got, "msg=hello node=k0s") || !strings.Contains(got, "output of k0s") {
		t.Errorf("k0s log = %q", got)
	}
	if len(res.Critical) != 6 || res.Critical[0] != "wireguard" || res.CriticalDuration <= 0 {
		t.Errorf("critical = %v (%s)", res.Critical, res.CriticalDuration)
	}
}

func (r *memRecorder) lastState(node string) State {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.state[node]; ok {
		return st
	}
	return Pending
}

// TestScheduler_Parallelism runs a wide graph many times: the highest
// concurrency observed must equal the limit, overall and per class.
func TestScheduler_Parallelism(t *testing.T) {
	const width, limit, netLimit = 24, 5, 2
	for iter := range 50 {
		var mu sync.Mutex
		cur, maxSeen, started := 0, 0, 0
		curNet, maxNet := 0, 0
		reached := func() bool {
			mu.Lock()
			defer mu.Unlock()
			return (maxSeen == limit && maxNet == netLimit) || started == width
		}
		mk := func(name, class string) Phase {
			f := ph(name, "root")
			f.policy = Policy{Class: class}
			f.run = func(ctx context.Context, env *Env) error {
				mu.Lock()
				cur++
				started++
				maxSeen = max(maxSeen, cur)
				if class == "net" {
					curNet++
					maxNet = max(maxNet, curNet)
				}
				mu.Unlock()
				for deadline := time.Now().Add(10 * time.Second); !reached() && time.Now().Before(deadline); {
					time.Sleep(50 * time.Microsecond)
				}
				mu.Lock()
				cur--
				if class == "net" {
					curNet--
				}
				mu.Unlock()
				return nil
			}
			return policerPhase{f}
		}
		phases := []Phase{ph("root"), ph("sink")}
		for i := range width {
			class := ""
			if i%2 == 0 {
				class = "net"
			}
			name := fmt.Sprintf("n%02d", i)
			phases = append(phases, mk(name, class))
			phases[1].(*fakePhase).deps = append(phases[1].(*fakePhase).deps, name)
		}
		res, err, _ := runGraph(t, context.Background(), nil, func(s *Scheduler) {
			s.Parallelism = limit
			s.ClassLimits = map[string]int{"net": netLimit}
		}, phases...)
		if err != nil || res.Outcome != OutcomeSucceeded {
			t.Fatalf("iteration %d: %s, %v", iter, res.Outcome, err)
		}
		if maxSeen != limit || maxNet != netLimit {
			t.Fatalf("iteration %d: highest concurrency %d (net %d), want %d (net %d)", iter, maxSeen, maxNet, limit, netLimit)
		}
	}
}

func TestScheduler_DefaultParallelism(t *testing.T) {
	var cur, maxSeen atomic.Int32
	var phases []Phase
	release := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	for i := range 8 {
		f := ph(fmt.Sprintf("n%d", i))
		f.run = func(ctx context.Context, env *Env) error {
			mu.Lock()
			cur.Add(1)
			maxSeen.Store(max(maxSeen.Load(), cur.Load()))
			full := maxSeen.Load() == DefaultParallelism
			mu.Unlock()
			if full {
				once.Do(func() { close(release) })
			}
			<-release
			mu.Lock()
			cur.Add(-1)
			mu.Unlock()
			return nil
		}
		phases = append(phases, f)
	}
	s := &Scheduler{Graph: mustGraph(t, phases...)} // nil Recorder, nil LogSink
	if _, err := s.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if maxSeen.Load() != DefaultParallelism {
		t.Errorf("highest concurrency %d, want %d", maxSeen.Load(), DefaultParallelism)
	}
}

func TestScheduler_RecorderError(t *testing.T) {
	errDisk := errors.New("disk full")
	var startedAfter atomic.Bool
	var sawCancel atomic.Bool
	recorderFailed := make(chan struct{})
	a := ph("a")
	a.run = func(ctx context.Context, env *Env) error {
		<-ctx.Done() // runs until the scheduler gives up
		sawCancel.Store(true)
		return ctx.Err()
	}
	b := ph("b")
	late := func(ctx context.Context, env *Env) error {
		select {
		case <-recorderFailed:
			startedAfter.Store(true)
		default:
		}
		return nil
	}
	c, d := ph("c"), ph("d", "b")
	c.run, d.run = late, late
	rec := newRecorder(t, nil)
	rec.failOn = func(ev Event) error {
		if ev.Node == "b" && ev.To == Succeeded {
			close(recorderFailed)
			return errDisk
		}
		return nil
	}
	s := &Scheduler{Graph: mustGraph(t, a, b, c, d), Recorder: rec, Parallelism: 2, GracePeriod: time.Second}
	res, err := s.Run(context.Background(), nil)
	if !errors.Is(err, errDisk) {
		t.Fatalf("Run error = %v, want %v", err, errDisk)
	}
	if want := "record b running -> succeeded: disk full"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if !sawCancel.Load() {
		t.Errorf("running phase a was not cancelled")
	}
	if startedAfter.Load() || rec.seq("c", Running) >= 0 || rec.seq("d", Running) >= 0 {
		t.Errorf("a phase started after the recorder failed:\n%s", rec.trail())
	}
	if res.Outcome != OutcomeFailed || res.Nodes["a"].State != Cancelled {
		t.Errorf("outcome %s, a %s; want failed, a cancelled (in the result only)", res.Outcome, res.Nodes["a"].State)
	}
	wantTrail(t, rec, "a pending->running #1\nb pending->running #1\n")
}

func TestScheduler_FailureBlocksDependents(t *testing.T) {
	errBoom := errors.New("boom")
	b := ph("b", "a")
	b.run = func(context.Context, *Env) error { return errBoom }
	res, err, rec := runGraph(t, context.Background(), nil, func(s *Scheduler) { s.Parallelism = 1 },
		ph("a"), b, ph("c", "b"), ph("d", "c"), ph("e", "a", "d"), ph("x"), ph("y", "x"))
	wantTrail(t, rec, `b pending->running #1
b running->failed #1 err=boom
c pending->blocked #0 dependency b failed
d pending->blocked #0 dependency b failed (via c)
e pending->blocked #0 dependency b failed (via d)
`, "b", "c", "d", "e")
	for _, n := range []string{"a", "x", "y"} {
		if res.Nodes[n].State != Succeeded {
			t.Errorf("independent %s is %s, want succeeded", n, res.Nodes[n].State)
		}
	}
	var pe *PhaseError
	if !errors.As(err, &pe) || pe.Phase != "b" || pe.Attempt != 1 || !errors.Is(err, errBoom) {
		t.Errorf("error = %v, want a PhaseError for b attempt 1 wrapping boom", err)
	}
	if got, want := err.Error(), "phase b (attempt 1): boom"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if res.Outcome != OutcomeFailed {
		t.Errorf("outcome %s, want failed", res.Outcome)
	}
}

func TestScheduler_FailFast(t *testing.T) {
	aFailed := make(chan struct{})
	a := ph("a")
	a.run = func(context.Context, *Env) error { return errors.New("boom") }
	b := ph("b") // running when a fails: it finishes
	b.run = func(ctx context.Context, env *Env) error { <-aFailed; return nil }
	res, err, rec := runGraph(t, context.Background(), nil, func(s *Scheduler) {
		s.Parallelism = 2
		s.FailFast = true
		s.Recorder.(*memRecorder).failOn = func(ev Event) error {
			if ev.Node == "a" && ev.To == Failed {
				close(aFailed)
			}
			return nil
		}
	}, a, b, ph("c"), ph("d", "a"), ph("e", "b"))
	if err == nil || res.Outcome != OutcomeFailed {
		t.Fatalf("outcome %s, err %v; want failed", res.Outcome, err)
	}
	wantTrail(t, rec, `a pending->running #1
b pending->running #1
a running->failed #1 err=boom
d pending->blocked #0 dependency a failed
c pending->cancelled #0 not started: fail-fast after a failed
e pending->cancelled #0 not started: fail-fast after a failed
b running->succeeded #1
`)
}

func TestScheduler_Panic(t *testing.T) {
	var sinks logs
	a := ph("a")
	a.run = func(context.Context, *Env) error { panic("nil map") }
	res, err, rec := runGraph(t, context.Background(), nil, func(s *Scheduler) { s.LogSink = sinks.sink }, a, ph("b", "a"), ph("c"))
	if got := res.Nodes["a"]; got.State != Failed || got.Error != "panic: nil map (stack in the node log)" {
		t.Errorf("a = %+v", got)
	}
	if log := sinks.get("a.1"); !strings.Contains(log, "panic: nil map") || !strings.Contains(log, "goroutine ") {
		t.Errorf("a's log has no panic stack: %q", log)
	}
	if !strings.Contains(err.Error(), "phase a (attempt 1): panic: nil map") || res.Nodes["c"].State != Succeeded {
		t.Errorf("err %v, c %s", err, res.Nodes["c"].State)
	}
	wantTrail(t, rec, "b pending->blocked #0 dependency a failed\n", "b")
}

func TestScheduler_Cancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := ph("a")
	a.run = func(ctx context.Context, env *Env) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	res, err, rec := runGraph(t, ctx, nil, func(s *Scheduler) { s.Parallelism = 1 }, a, ph("b", "a"), ph("c"))
	if res.Outcome != OutcomeCancelled || !errors.Is(err, context.Canceled) {
		t.Errorf("outcome %s, err %v; want cancelled, context.Canceled", res.Outcome, err)
	}
	wantTrail(t, rec, `a pending->running #1
b pending->cancelled #0 run cancelled before it started
c pending->cancelled #0 run cancelled before it started
a running->cancelled #1 run cancelled err=context canceled
`)
}

func TestScheduler_CancelGracePeriod(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stuck := make(chan struct{})
	defer close(stuck)
	a := ph("a")
	a.run = func(context.Context, *Env) error { cancel(); <-stuck; return nil } // ignores ctx
	res, err, rec := runGraph(t, ctx, nil, func(s *Scheduler) { s.GracePeriod = 20 * time.Millisecond }, a)
	if res.Outcome != OutcomeCancelled || !errors.Is(err, context.Canceled) {
		t.Errorf("outcome %s, err %v", res.Outcome, err)
	}
	wantTrail(t, rec, "a pending->running #1\na running->cancelled #1 run cancelled err=did not return within the grace period of 20ms\n")
}

func TestScheduler_CancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err, rec := runGraph(t, ctx, nil, nil, ph("a"), ph("b", "a"))
	if res.Outcome != OutcomeCancelled || !errors.Is(err, context.Canceled) {
		t.Errorf("outcome %s, err %v", res.Outcome, err)
	}
	wantTrail(t, rec, "a pending->cancelled #0 run cancelled before it started\nb pending->cancelled #0 run cancelled before it started\n")
}

func TestScheduler_Timeout(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	tests := []struct {
		name string
		run  func(ctx context.Context, env *Env) error
		want string
	}{
		{"ReturnsOnDeadline", func(ctx context.Context, env *Env) error { <-ctx.Done(); return ctx.Err() },
			"timed out after 10ms: context deadline exceeded"},
		{"IgnoresDeadline", func(ctx context.Context, env *Env) error { <-stuck; return nil },
			"timed out after 10ms: did not return within the grace period of 10ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ph("a")
			a.run = tt.run
			a.policy = Policy{Timeout: 10 * time.Millisecond, Retries: 2}
			res, err, _ := runGraph(t, context.Background(), nil, func(s *Scheduler) { s.GracePeriod = 10 * time.Millisecond }, policerPhase{a})
			if got := res.Nodes["a"]; got.State != Failed || got.Error != tt.want || got.Attempt != 1 {
				t.Errorf("a = %s attempt %d %q, want failed attempt 1 %q", got.State, got.Attempt, got.Error, tt.want)
			}
			if !errors.Is(err, context.DeadlineExceeded) && tt.name == "ReturnsOnDeadline" {
				t.Errorf("err %v does not wrap DeadlineExceeded", err)
			}
		})
	}
}

func TestScheduler_Retries(t *testing.T) {
	tests := []struct {
		name    string
		retries int
		errs    []error
		want    string
	}{
		{"SucceedsOnThirdAttempt", 3, []error{Transient(errors.New("503")), Transient(errors.New("503"))}, `a pending->running #1
a running->failed #1 retry 1/3 in 1ms err=503
a failed->running #2 retry 1/3
a running->failed #2 retry 2/3 in 2ms err=503
a failed->running #3 retry 2/3
a running->succeeded #3
`},
		{"Exhausted", 1, []error{Transient(errors.New("503")), Transient(errors.New("504"))}, `a pending->running #1
a running->failed #1 retry 1/1 in 1ms err=503
a failed->running #2 retry 1/1
a running->failed #2 err=504
`},
		{"NotTransient", 3, []error{errors.New("403")}, `a pending->running #1
a running->failed #1 err=403
`},
		{"TransientPrecondition", 1, nil, `a pending->running #1
a running->failed #1 retry 1/1 in 1ms err=a: precondition "reachable" failed: timeout
a failed->running #2 retry 1/1
a running->succeeded #2
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			a := ph("a")
			a.policy = Policy{Retries: tt.retries, Backoff: time.Millisecond}
			a.run = func(context.Context, *Env) error {
				calls++
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			}
			checks := 0
			if tt.name == "TransientPrecondition" {
				a.checks = []Check{{Name: "reachable", Check: func(context.Context, *Env) error {
					if checks++; checks == 1 {
						return Transient(errors.New("timeout"))
					}
					return nil
				}}}
			}
			_, _, rec := runGraph(t, context.Background(), nil, nil, fullPhase{a})
			wantTrail(t, rec, tt.want)
		})
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		p    Policy
		try  int
		want time.Duration
	}{
		{Policy{}, 1, time.Second},
		{Policy{}, 3, 4 * time.Second},
		{Policy{}, 20, time.Minute},
		{Policy{Backoff: 2 * time.Second, MaxBackoff: 5 * time.Second}, 2, 4 * time.Second},
		{Policy{Backoff: 2 * time.Second, MaxBackoff: 5 * time.Second}, 3, 5 * time.Second},
	}
	for _, tt := range tests {
		if got := backoff(tt.p, tt.try); got != tt.want {
			t.Errorf("backoff(%+v, %d) = %s, want %s", tt.p, tt.try, got, tt.want)
		}
	}
}

func TestScheduler_Preconditions(t *testing.T) {
	ran := false
	second := false
	b := ph("b", "a")
	b.run = func(context.Context, *Env) error { ran = true; return nil }
	b.checks = []Check{
		{Name: "ip-known", Fix: "k0rdent run --only a", Check: func(ctx context.Context, env *Env) error {
			if ip, ok := env.Input("a", "ip"); ok {
				return fmt.Errorf("found ip %s, want none", ip)
			}
			return nil
		}},
		{Name: "second", Check: func(context.Context, *Env) error { second = true; return nil }},
	}
	a := ph("a")
	a.run = func(ctx context.Context, env *Env) error { env.SetOutput("ip", "10.0.0.1"); return nil }
	res, err, rec := runGraph(t, context.Background(), nil, nil, a, checkPhase{b}, ph("c", "b"))
	var pe *PreconditionError
	if !errors.As(err, &pe) || pe.Check != "ip-known" || pe.Phase != "b" {
		t.Fatalf("err = %v, want a PreconditionError for ip-known", err)
	}
	if ran || second {
		t.Errorf("Run or the second check ran after a failed check (run %v, second %v)", ran, second)
	}
	wantTrail(t, rec, `b pending->running #1
b running->failed #1 err=b: precondition "ip-known" failed: found ip 10.0.0.1, want none; fix: k0rdent run --only a
c pending->blocked #0 dependency b failed
`, "b", "c")
	if res.Nodes["b"].State != Failed {
		t.Errorf("b is %s", res.Nodes["b"].State)
	}
}

func TestScheduler_Disabled(t *testing.T) {
	kof := ph("kof", "k0rdent")
	kof.enabled = func() (bool, string) { return false, "--with-kof not set" }
	_, err, rec := runGraph(t, context.Background(), nil, func(s *Scheduler) { s.Parallelism = 1 },
		ph("k0rdent"), enablerPhase{kof}, ph("kof-dashboards", "kof"))
	if err != nil {
		t.Fatal(err)
	}
	wantTrail(t, rec, `kof pending->skipped #0 disabled: --with-kof not set
k0rdent pending->running #1
k0rdent running->succeeded #1
kof-dashboards pending->running #1
kof-dashboards running->succeeded #1
`)
}

func TestScheduler_LogSinkError(t *testing.T) {
	res, err, _ := runGraph(t, context.Background(), nil, func(s *Scheduler) {
		s.LogSink = func(node string, attempt int) (io.WriteCloser, error) {
			return nil, errors.New("read-only file system")
		}
	}, ph("a"))
	if res.Nodes["a"].State != Failed || !strings.Contains(err.Error(), "open log of a attempt 1: read-only file system") {
		t.Errorf("a %s, err %v", res.Nodes["a"].State, err)
	}
}

func TestScheduler_InvalidArguments(t *testing.T) {
	tests := []struct {
		name  string
		s     *Scheduler
		prior map[string]NodeStatus
		want  string
	}{
		{"NoGraph", &Scheduler{}, nil, "scheduler: no graph; set Scheduler.Graph"},
		{"BadPriorState", &Scheduler{Graph: mustGraph(t, ph("a"))}, map[string]NodeStatus{"a": {State: "done"}},
			`prior state of a: unknown state "done" (want one of [pending running succeeded failed skipped blocked cancelled])`},
		{"UnknownSelection", &Scheduler{Graph: mustGraph(t, ph("a"), ph("b")), Selection: Selection{Only: []string{"x"}, Skip: []string{"y"}}}, nil,
			"selection: unknown phase \"x\" in only (known: a, b)\nunknown phase \"y\" in skip (known: a, b)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.s.Run(context.Background(), tt.prior)
			if err == nil || err.Error() != tt.want || res != nil {
				t.Errorf("Run() = %v, %v; want nil, %q", res, err, tt.want)
			}
		})
	}
	if _, err := (&Scheduler{}).Destroy(context.Background(), nil); err == nil {
		t.Errorf("Destroy without a graph: no error")
	}
}

func TestScheduler_CancelAfterLastNode(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := ph("a")
	a.run = func(context.Context, *Env) error { return nil }
	res, err, _ := runGraph(t, ctx, nil, func(s *Scheduler) {
		s.Recorder.(*memRecorder).failOn = func(ev Event) error {
			if ev.To == Succeeded {
				cancel() // the context ends as the last node is recorded
			}
			return nil
		}
	}, a)
	if err != nil || res.Outcome != OutcomeSucceeded {
		t.Errorf("outcome %s, err %v; want succeeded: nothing was left to cancel", res.Outcome, err)
	}
}

func TestScheduler_LivenessLog(t *testing.T) {
	var buf syncBuffer
	a := ph("a")
	a.run = func(ctx context.Context, env *Env) error {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if strings.Contains(buf.String(), "still running") {
				return nil
			}
		}
		return errors.New("no liveness line in 10s")
	}
	_, err, _ := runGraph(t, context.Background(), nil, func(s *Scheduler) {
		s.Log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s.liveness = time.Millisecond
	}, a)
	if err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.Contains(got, "msg=\"still running\" node=a attempt=1") {
		t.Errorf("log = %q", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
