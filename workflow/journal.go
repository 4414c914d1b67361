package workflow

import (
	"context"
	"fmt"
	"time"
)

// journal is the scheduler's group commit. The coordinator queues events
// without waiting (push); one writer goroutine hands everything queued to
// the Recorder as one batch (one write and one sync for a BatchRecorder)
// while the coordinator goes on collecting results and deciding, and
// reports back how many events are durable: the durable watermark. A job
// starts only once every event queued before its launch is durable
// (run.startWhenDurable), which keeps the ordering promise per batch:
// `running` is durable before the phase starts, `succeeded` before any
// dependent starts (its `running` is queued after it). What becomes due
// while a batch is being written is written together in the next one.
//
// Every field is owned by the coordinator except reqs and acks, which are
// the hand-off to and from the writer.
type journal struct {
	rec     Recorder      // nil: events are durable at once (nothing records)
	batch   BatchRecorder // rec, when it can write a batch at once
	queued  []Event       // not yet handed to the writer
	spare   []Event       // the buffer the writer handed back, for reuse
	issued  uint64        // events queued so far
	durable uint64        // events known durable (the watermark)
	busy    bool          // a batch is with the writer
	reqs    chan []Event
	acks    chan journalAck
}

// journalAck is the writer's answer to one batch: n events are durable, or
// the batch failed with err (some prefix may be durable, no later batch is
// written).
type journalAck struct {
	n   int
	err error
	buf []Event // the batch, handed back for reuse
}

// pending is a job launched but not started: it waits for the events
// queued before its launch (up to seq) to become durable.
type pending struct {
	i       int
	seq     uint64
	kind    jobKind
	phase   Phase
	timeout time.Duration
	env     *Env
}

func newJournal(rec Recorder) *journal {
	j := &journal{rec: rec}
	if rec == nil {
		return j
	}
	j.batch, _ = rec.(BatchRecorder)
	j.reqs = make(chan []Event, 1)
	j.acks = make(chan journalAck, 1)
	go j.write()
	return j
}

// push queues ev.
func (j *journal) push(ev Event) {
	j.issued++
	if j.rec == nil {
		j.durable = j.issued
		return
	}
	j.queued = append(j.queued, ev)
}

// flush hands what is queued to the writer unless it is busy with the
// previous batch (then it goes with the next one).
func (j *journal) flush() {
	if j.busy || len(j.queued) == 0 {
		return
	}
	j.busy = true
	j.reqs <- j.queued // never blocks: one batch at a time, capacity one
	j.queued = j.spare[:0]
	j.spare = nil
}

// ack takes the writer's answer.
func (j *journal) ack(a journalAck) {
	j.busy = false
	j.durable += uint64(a.n)
	clear(a.buf)
	j.spare = a.buf[:0]
}

// close ends the writer; the coordinator has drained the journal.
func (j *journal) close() {
	if j.reqs != nil {
		close(j.reqs)
	}
}

// write is the writer goroutine: one Recorder call per batch (or per event
// for a plain Recorder), then the watermark goes back to the coordinator.
// After an error it writes nothing more.
func (j *journal) write() {
	failed := false
	for evs := range j.reqs {
		a := journalAck{buf: evs}
		switch {
		case failed:
			a.err = fmt.Errorf("record %s %s -> %s: an earlier record failed", evs[0].Node, evs[0].From, evs[0].To)
		case j.batch != nil:
			if err := j.batch.RecordBatch(evs); err != nil {
				a.err = fmt.Errorf("record %d events (%s %s -> %s to %s %s -> %s): %w", len(evs),
					evs[0].Node, evs[0].From, evs[0].To, evs[len(evs)-1].Node, evs[len(evs)-1].From, evs[len(evs)-1].To, err)
			} else {
				a.n = len(evs)
			}
		default:
			for _, ev := range evs {
				if err := j.rec.Record(ev); err != nil {
					a.err = fmt.Errorf("record %s %s -> %s: %w", ev.Node, ev.From, ev.To, err)
					break
				}
				a.n++
			}
		}
		failed = failed || a.err != nil
		j.acks <- a
	}
}

// startWhenDurable starts job p (a worker for node p.i) once every event
// queued so far is durable; at once if they already are.
func (r *run) startWhenDurable(p pending) {
	if r.j.durable >= r.j.issued && r.recErr == nil {
		go r.work1(p.i, p.kind, p.phase, p.timeout, p.env)
		return
	}
	p.seq = r.j.issued
	r.starting = append(r.starting, p)
}

// acked takes a batch's answer: on error the run stops recording; then
// the launched jobs whose events are durable start, and after a Recorder
// error or a cancellation the waiting ones end as cancelled without
// starting (their records fail or are journalled as cancelled).
func (r *run) acked(a journalAck) {
	r.j.ack(a)
	if a.err != nil && r.recErr == nil {
		r.recErr = a.err
		r.stopped = true
		r.stopWork()
	}
	if len(r.starting) == 0 {
		return
	}
	ready := 0
	for ready < len(r.starting) && (r.starting[ready].seq <= r.j.durable || r.recErr != nil) {
		ready++
	}
	if ready == 0 {
		return
	}
	now := r.starting[:ready:ready]
	r.starting = r.starting[ready:]
	for _, p := range now {
		if r.recErr != nil || r.work.Err() != nil {
			r.finish(result{i: p.i, kind: p.kind, err: context.Canceled})
			continue
		}
		go r.work1(p.i, p.kind, p.phase, p.timeout, p.env)
	}
}

// drain waits until every queued event is durable (or the Recorder failed).
func (r *run) drain() {
	for {
		r.flush()
		if !r.j.busy {
			break
		}
		r.acked(<-r.j.acks)
	}
	r.j.close()
}
