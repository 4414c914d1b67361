package workflow

import (
	"context"
	"fmt"
)

// GroupRecorder is the group-commit capability of a Recorder (etcd's WAL
// and litestream batch the same way). Stage checks ev as Record would and
// refuses it the same way, a *RefusedError or any other error, with
// nothing queued; otherwise it queues ev behind the events staged before
// it and returns without waiting for any write. Sync makes every event
// staged before the call durable, in order, typically with one write and
// one sync for all of them, and must not return before they are. The
// scheduler calls Stage from its coordinator goroutine and Sync from one
// journal writer goroutine, so the two run concurrently: Stage must not
// wait for a Sync in progress. After a Sync error the scheduler calls
// neither again.
type GroupRecorder interface {
	Recorder
	Stage(ev Event) error
	Sync() error
}

// ProcessStager is the group-commit form of ProcessRecorder, for a
// GroupRecorder: StageProcessGroup queues the record of a process group
// as Stage queues an event, and the next Sync makes it durable; the phase
// that started the group goes on once it is. A GroupRecorder that is a
// ProcessRecorder but not a ProcessStager gets RecordProcessGroup from the
// coordinator, possibly while a Sync is in progress.
type ProcessStager interface {
	StageProcessGroup(pg ProcessGroup) error
}

// journal is the scheduler's side of the group commit. With a
// GroupRecorder the coordinator stages each event (Stage answers at once,
// refusals included, so the coordinator handles a refusal exactly as with
// Record) and goes on collecting results and dispatching; one writer
// goroutine makes what is staged durable (Sync) and reports back. The
// coordinator keeps the count of events staged (issued) and known durable
// (durable, the watermark); what is staged while a Sync is in progress goes
// with the next one. Whatever needs an event durable waits on the
// watermark: a job launched starts only once every event staged before
// its launch is durable (its own running record and its dependencies'
// succeeded records among them), a phase's process group record is
// answered once it is durable, and the run returns only once everything
// staged is durable. Without a GroupRecorder, events are recorded one at a
// time and are durable when staged.
//
// Every field is owned by the coordinator; kick and acks are the hand-off
// to and from the writer.
type journal struct {
	g       GroupRecorder // nil: Record, synchronously
	ps      ProcessStager // g's, if it has it
	issued  uint64        // events staged
	durable uint64        // events known durable
	busy    bool          // a Sync is in progress
	upTo    uint64        // issued when that Sync was asked for
	waiting []waiter      // in issue order
	kick    chan struct{}
	acks    chan error
}

// waiter is what waits for the events issued up to seq to be durable:
// the start of node i's job (env), or the answer to a process group
// record (reply).
type waiter struct {
	seq   uint64
	i     int
	env   *Env
	reply chan error
}

func (j *journal) init(rec Recorder) {
	g, ok := rec.(GroupRecorder)
	if !ok {
		return
	}
	j.g = g
	j.ps, _ = rec.(ProcessStager)
	j.kick = make(chan struct{}, 1)
	j.acks = make(chan error, 1)
	go func() {
		for range j.kick {
			j.acks <- g.Sync()
		}
	}()
}

// stage hands ev to the Recorder: staged with a GroupRecorder, recorded
// otherwise.
func (r *run) stage(ev Event) error {
	if r.j.g == nil {
		return r.rec.Record(ev)
	}
	if err := r.j.g.Stage(ev); err != nil {
		return err
	}
	r.j.issued++
	return nil
}

// flush asks the writer for a Sync when something staged is not durable
// and no Sync is in progress; the acknowledgement comes on j.acks.
func (r *run) flush() {
	j := &r.j
	if j.g == nil || j.busy || j.durable == j.issued || r.recErr != nil {
		return
	}
	j.busy, j.upTo = true, j.issued
	j.kick <- struct{}{} // never blocks: one Sync at a time
}

// acks is the channel the coordinator waits on for the writer's answer;
// nil (never ready) when no Sync is in progress.
func (r *run) acks() <-chan error {
	if !r.j.busy {
		return nil
	}
	return r.j.acks
}

// synced takes the writer's answer. An error stops the run as a Record
// error does. Then what waited for the watermark goes on: jobs start (or,
// after a Recorder error or once the run is stopping, end cancelled
// without starting) and process group records are answered.
func (r *run) synced(err error) {
	j := &r.j
	j.busy = false
	if err != nil && r.recErr == nil {
		r.recErr = fmt.Errorf("record: %w", err)
		r.stopped = true
		r.stopWork()
	}
	if err == nil {
		j.durable = j.upTo
	}
	ready := 0
	for ready < len(j.waiting) && (j.waiting[ready].seq <= j.durable || r.recErr != nil) {
		ready++
	}
	if ready == 0 {
		return
	}
	now := j.waiting[:ready:ready]
	j.waiting = j.waiting[ready:]
	for _, w := range now {
		switch {
		case w.reply != nil && r.recErr != nil:
			w.reply <- fmt.Errorf("journal process group: %w", r.recErr)
		case w.reply != nil:
			w.reply <- nil
		case r.recErr != nil || r.work.Err() != nil:
			r.finish(result{i: w.i, kind: r.nodes[w.i].kind, err: context.Canceled})
		default:
			r.startJob(w.i, w.env)
		}
	}
}

// startWhenDurable starts node i's job once every event staged so far is
// durable: at once if it is.
func (r *run) startWhenDurable(i int, env *Env) {
	if r.j.durable == r.j.issued {
		r.startJob(i, env)
		return
	}
	r.j.waiting = append(r.j.waiting, waiter{seq: r.j.issued, i: i, env: env})
}

func (r *run) startJob(i int, env *Env) {
	n := &r.nodes[i]
	go r.work1(i, n.kind, n.phase, n.policy.Timeout, env)
}

// drain waits until everything staged is durable, or the Recorder failed,
// and ends the writer.
func (r *run) drain() {
	j := &r.j
	if j.g == nil {
		return
	}
	for {
		if !j.busy {
			if r.recErr != nil || j.durable == j.issued {
				break
			}
			r.flush()
		}
		r.synced(<-j.acks)
	}
	close(j.kick)
}
