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

// TestScheduler_GroupCommit checks the group commit: transitions that
// become due together go to the Recorder as one batch; while a batch is
// being written the coordinator still collects finished phases and
// dispatches ready ones (their records wait for the next batch); and
// nothing starts before its own running record and its dependencies'
// succeeded records are durable.
func TestScheduler_GroupCommit(t *testing.T) {
	release, xHeld, yDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	rec := &batchRecorder{memRecorder: newRecorder(t, nil)}
	rec.gate = func(evs []Event) {
		for _, ev := range evs {
			if ev.Node == "x" && ev.To == Succeeded && !held.Swap(true) {
				close(xHeld)
				<-release // the slow fsync: x's succeeded is not durable yet
			}
		}
	}
	x, y, z := ph("x"), ph("y"), ph("z", "y")
	y.run = func(context.Context, *Env) error { <-xHeld; close(yDone); return nil }
	var zStartedEarly atomic.Bool
	z.run = func(context.Context, *Env) error {
		if rec.lastState("y") != Succeeded || rec.lastState("z") != Running {
			zStartedEarly.Store(true)
		}
		return nil
	}
	s := &Scheduler{Graph: mustGraph(t, x, y, z), Recorder: rec, Parallelism: 3, GracePeriod: time.Second}
	done := make(chan error, 1)
	go func() { _, err := s.Run(context.Background(), nil); done <- err }()
	// While x's succeeded is being written, y finishes: the coordinator
	// collects it and launches z; both records queue for the next batch.
	<-yDone
	time.Sleep(100 * time.Millisecond)
	if rec.seq("z", Running) >= 0 {
		t.Errorf("z recorded running while the batch before it was still being written")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if zStartedEarly.Load() {
		t.Errorf("z started before y succeeded and z running were durable:\n%s", rec.trail())
	}
	if b := rec.batchOf("x", Running); b != rec.batchOf("y", Running) {
		t.Errorf("x and y running (due together) went in batches %d and %d, want one:\n%v", b, rec.batchOf("y", Running), rec.batches)
	}
	if by, bz := rec.batchOf("y", Succeeded), rec.batchOf("z", Running); by != bz || by <= rec.batchOf("x", Succeeded) {
		t.Errorf("y succeeded in batch %d, z running in batch %d, want the same batch after x succeeded (%d): the coordinator waited on the write:\n%v",
			by, bz, rec.batchOf("x", Succeeded), rec.batches)
	}
	wantTrail(t, rec.memRecorder, "x pending->running #1\ny pending->running #1\nx running->succeeded #1\ny running->succeeded #1\nz pending->running #1\nz running->succeeded #1\n")
}

// TestScheduler_BatchRecorderError: a failed batch stops the run; no job
// whose records were in it or after it starts, and the error names the
// batch.
func TestScheduler_BatchRecorderError(t *testing.T) {
	errDisk := errors.New("disk full")
	var started atomic.Int32
	var phases []Phase
	for i := range 4 {
		f := ph(fmt.Sprintf("n%d", i))
		f.run = func(context.Context, *Env) error { started.Add(1); return nil }
		phases = append(phases, f)
	}
	rec := &batchRecorder{memRecorder: newRecorder(t, nil)}
	rec.failOn = func(ev Event) error {
		if ev.To == Running {
			return errDisk
		}
		return nil
	}
	s := &Scheduler{Graph: mustGraph(t, phases...), Recorder: rec, Parallelism: 4}
	res, err := s.Run(context.Background(), nil)
	if !errors.Is(err, errDisk) || !strings.Contains(err.Error(), "record 4 events (n0 pending -> running to n3 pending -> running)") {
		t.Fatalf("Run error = %v, want the batch of 4 running records and %v", err, errDisk)
	}
	if n := started.Load(); n != 0 {
		t.Errorf("%d phases started although their running records failed", n)
	}
	if res.Outcome != OutcomeFailed || res.Nodes["n0"].State != Cancelled {
		t.Errorf("outcome %s, n0 %s; want failed, cancelled", res.Outcome, res.Nodes["n0"].State)
	}
}
