package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestScheduler_GroupCommit checks the group commit with a GroupRecorder:
// transitions that become due together are made durable by one Sync;
// while a Sync is in progress (a slow fsync) the coordinator still
// collects finished phases and dispatches ready ones, staging their
// records for the next Sync; and nothing starts before its own running
// record and its dependencies' succeeded records are durable.
func TestScheduler_GroupCommit(t *testing.T) {
	release, xHeld := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	mem := newRecorder(t, nil)
	rec := &groupRecorder{inner: mem}
	rec.gate = func(batch []Event) {
		for _, ev := range batch {
			if ev.Node == "x" && ev.To == Succeeded && !held.Swap(true) {
				close(xHeld)
				<-release // the slow fsync: x's succeeded is not durable yet
			}
		}
	}
	x, y, z := ph("x"), ph("y"), ph("z", "y")
	y.run = func(context.Context, *Env) error { <-xHeld; return nil }
	var zEarly atomic.Value
	z.run = func(context.Context, *Env) error {
		if y, z := rec.lastDurable("y", Pending), rec.lastDurable("z", Pending); y != Succeeded || z != Running {
			zEarly.Store(fmt.Sprintf("z started with y %s and z %s durable", y, z))
		}
		return nil
	}
	s := &Scheduler{Graph: mustGraph(t, x, y, z), Recorder: rec, Parallelism: 3, GracePeriod: time.Second}
	done := make(chan error, 1)
	go func() { _, err := s.Run(context.Background(), nil); done <- err }()
	// While x's succeeded is being written, y finishes: the coordinator
	// collects it and launches z; both records are staged, not durable, and
	// z does not start.
	waitFor(t, "z's running record is staged while x's batch is being written", func() bool { return rec.isStaged("z", Running) })
	if rec.isStaged("y", Succeeded) != true || rec.lastDurable("z", Pending) != Pending {
		t.Errorf("y succeeded staged %v, z durable %s; want staged, pending", rec.isStaged("y", Succeeded), rec.lastDurable("z", Pending))
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if why := zEarly.Load(); why != nil {
		t.Errorf("%s:\n%s", why, mem.trail())
	}
	if b := rec.batchOf("x", Running); b != rec.batchOf("y", Running) {
		t.Errorf("x and y running (due together) went in batches %d and %d, want one: %v", b, rec.batchOf("y", Running), rec.batches)
	}
	if by, bz := rec.batchOf("y", Succeeded), rec.batchOf("z", Running); by != bz || by <= rec.batchOf("x", Succeeded) {
		t.Errorf("y succeeded in batch %d, z running in batch %d, want the same batch after x succeeded (%d): %v",
			by, bz, rec.batchOf("x", Succeeded), rec.batches)
	}
	if got, want := len(rec.batches), 4; got != want {
		t.Errorf("%d batches, want %d (x+y running, x succeeded, y succeeded+z running, z succeeded): %v", got, want, rec.batches)
	}
	rec.allDurable(t)
	wantTrail(t, mem, "x pending->running #1\ny pending->running #1\nx running->succeeded #1\ny running->succeeded #1\nz pending->running #1\nz running->succeeded #1\n")
}

// TestScheduler_GroupCommitRefusalInBatch: a refusal comes from Stage, at
// once, so the coordinator handles it as with Record even while a Sync is
// in progress: a's refused outputs fail a, its dependent b is blocked and
// never staged running, and the independent c, staged in the same batch,
// finishes.
func TestScheduler_GroupCommitRefusalInBatch(t *testing.T) {
	release := make(chan struct{})
	var held atomic.Bool
	a, b, c := ph("a"), ph("b", "a"), ph("c")
	a.run = func(ctx context.Context, env *Env) error {
		env.SetOutput("hub", secretValue)
		return nil
	}
	inner := &refusingRecorder{memRecorder: newRecorder(t, nil)}
	rec := &groupRecorder{inner: inner}
	rec.gate = func(batch []Event) {
		if len(batch) > 0 && batch[0].To == Running && !held.Swap(true) {
			<-release // the first batch (a and c running) is slow
		}
	}
	var bRan atomic.Bool
	b.run = func(context.Context, *Env) error { bRan.Store(true); return nil }
	s := &Scheduler{Graph: mustGraph(t, a, b, c), Recorder: rec, Parallelism: 2}
	done := make(chan error, 1)
	var res *Result
	go func() { var err error; res, err = s.Run(context.Background(), nil); done <- err }()
	waitFor(t, "the first batch is being written", held.Load)
	close(release)
	err := <-done
	var re *RefusedError
	if !errors.As(err, &re) || re.Field != RefusedOutputs {
		t.Fatalf("Run error = %v, want the refusal of a's outputs", err)
	}
	if res.Nodes["a"].State != Failed || res.Nodes["b"].State != Blocked || res.Nodes["c"].State != Succeeded || bRan.Load() {
		t.Errorf("a %s, b %s (ran %v), c %s; want failed, blocked (not run), succeeded", res.Nodes["a"].State, res.Nodes["b"].State, bRan.Load(), res.Nodes["c"].State)
	}
	rec.allDurable(t)
	wantTrail(t, inner.memRecorder, "a pending->running #1\n"+
		"a running->failed #1 err=outputs refused: it holds the content of secrets/hub.key\n"+
		"b pending->blocked #0 dependency a failed\n", "a", "b")
	noSecret(t, inner, err)
}

// TestScheduler_GroupCommitProcessGroup: a staged process group is
// answered only once it is durable, and the phase goes on after that.
func TestScheduler_GroupCommitProcessGroup(t *testing.T) {
	inner := &refusingRecorder{memRecorder: newRecorder(t, nil)}
	rec := &groupRecorder{inner: inner}
	a := ph("a")
	var durableAtReturn atomic.Int32
	a.run = func(ctx context.Context, env *Env) error {
		if err := env.StartedProcessGroup(ProcessGroup{PGID: 4242}); err != nil {
			return err
		}
		rec.mu.Lock()
		durableAtReturn.Store(int32(len(rec.dpgs)))
		rec.mu.Unlock()
		return nil
	}
	s := &Scheduler{Graph: mustGraph(t, a), Recorder: rec}
	if _, err := s.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if n := durableAtReturn.Load(); n != 1 {
		t.Errorf("%d process groups durable when StartedProcessGroup returned, want 1", n)
	}
	if len(inner.groups) != 1 || inner.groups[0].PGID != 4242 {
		t.Errorf("recorded groups = %+v", inner.groups)
	}
	rec.allDurable(t)
}

// TestScheduler_GroupCommitSyncError: a failed Sync stops the run; no job
// whose running record was in that batch or after it starts, the phases
// running get their context cancelled, and the error is the Sync's.
func TestScheduler_GroupCommitSyncError(t *testing.T) {
	errDisk := errors.New("disk full")
	var started atomic.Int32
	var phases []Phase
	for i := range 4 {
		f := ph(fmt.Sprintf("n%d", i))
		f.run = func(context.Context, *Env) error { started.Add(1); return nil }
		phases = append(phases, f)
	}
	rec := &groupRecorder{inner: newRecorder(t, nil)}
	rec.syncErr = func(batch []Event) error {
		if len(batch) > 0 && batch[0].To == Running {
			return errDisk
		}
		return nil
	}
	s := &Scheduler{Graph: mustGraph(t, phases...), Recorder: rec, Parallelism: 4}
	res, err := s.Run(context.Background(), nil)
	if !errors.Is(err, errDisk) || !strings.Contains(err.Error(), "record: disk full") {
		t.Fatalf("Run error = %v, want the Sync's %v", err, errDisk)
	}
	if n := started.Load(); n != 0 {
		t.Errorf("%d phases started although their running records failed", n)
	}
	if res.Outcome != OutcomeFailed || res.Nodes["n0"].State != Cancelled {
		t.Errorf("outcome %s, n0 %s; want failed, cancelled", res.Outcome, res.Nodes["n0"].State)
	}
	if rec.syncs != 1 {
		t.Errorf("%d Syncs, want 1: nothing after a failed Sync", rec.syncs)
	}
}
