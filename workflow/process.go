package workflow

import (
	"errors"
	"fmt"
)

// ProcessGroup identifies a process group that one attempt of a node
// started (a command phase's child and everything it forks), so that a
// later k0rdent can end what a dead one left running before it starts the
// node again. RunID, Node and Attempt say whose group it is (Env fills
// them in); PGID is the group id, the leader's pid; LeaderStart and BootID
// tell the leader from a later process that got the same pid: the leader's
// start time in clock ticks since boot (field 22 of /proc/<pid>/stat) and
// the kernel's boot id.
type ProcessGroup struct {
	RunID       string
	Node        string
	Attempt     int
	PGID        int
	LeaderStart uint64
	BootID      string
}

// ProcessRecorder is implemented by Recorders that journal the process
// groups phases start (Env.StartedProcessGroup). Like Record, it returns
// once the record is durable, and the scheduler calls it from its one
// coordinator goroutine.
type ProcessRecorder interface {
	RecordProcessGroup(pg ProcessGroup) error
}

// StartedProcessGroup journals that this attempt started process group pg
// and returns once that is durable. RunID, Node and Attempt are taken from
// the Env. It returns nil without recording anything when the Recorder
// does not journal process groups, when the Env is a Verify's (not a
// recorded attempt), or when the Env was not made by a Scheduler. A phase calls it right after starting the group and, on
// error, ends the group and fails: a group that is not journalled could
// outlive a crash of k0rdent unnoticed.
func (e *Env) StartedProcessGroup(pg ProcessGroup) error {
	if e == nil || e.procs == nil {
		return nil
	}
	pg.RunID, pg.Node, pg.Attempt = e.RunID, e.Node, e.Attempt
	return e.procs(pg)
}

// procReq asks the coordinator to record a process group.
type procReq struct {
	pg    ProcessGroup
	reply chan error
}

// startedProcess is the Env hook of one attempt: it hands the group to the
// coordinator and waits for the record, or for the run to end.
func (r *run) startedProcess(pg ProcessGroup) error {
	req := procReq{pg: pg, reply: make(chan error, 1)}
	select {
	case r.procs <- req:
	case <-r.exit:
		return errors.New("the run has ended; not starting a process")
	}
	select {
	case err := <-req.reply:
		return err
	case <-r.exit:
		return errors.New("the run has ended; not starting a process")
	}
}

// recordProcess runs in the coordinator.
func (r *run) recordProcess(req procReq) {
	pr, ok := r.rec.(ProcessRecorder)
	switch {
	case r.recErr != nil:
		req.reply <- fmt.Errorf("journal process group %d of %s: %w", req.pg.PGID, req.pg.Node, r.recErr)
	case r.j.ps != nil: // staged; answered once durable
		if err := r.j.ps.StageProcessGroup(req.pg); err != nil {
			r.recErr = fmt.Errorf("record process group %d of %s: %w", req.pg.PGID, req.pg.Node, err)
			r.stopped = true
			r.stopWork()
			req.reply <- err
			return
		}
		r.j.issued++
		r.j.waiting = append(r.j.waiting, waiter{seq: r.j.issued, reply: req.reply})
	case !ok:
		req.reply <- nil
	default:
		err := pr.RecordProcessGroup(req.pg)
		if err != nil {
			r.recErr = fmt.Errorf("record process group %d of %s: %w", req.pg.PGID, req.pg.Node, err)
			r.stopped = true
			r.stopWork()
		}
		req.reply <- err
	}
}

// RefusedError is how a Recorder refuses to journal an event because of
// what one of its fields holds (such as the content of a secret file);
// nothing was written. The scheduler does not stop the run for it: it
// records the event again without the refused text. A refused output
// fails the node with this error (the outputs are dropped); a refused
// reason or error is replaced by this error's message; a refused reuse
// (the outputs a node is reused with) makes the node run again, or, when
// the selection leaves it out, blocked. The message must never quote the
// refused value.
type RefusedError struct {
	// Field is what was refused: RefusedOutputs, RefusedReason or
	// RefusedErrorText.
	Field string
	// Err says why, without the refused value.
	Err error
}

func (e *RefusedError) Error() string { return e.Field + " refused: " + e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// The fields of an Event a Recorder may refuse (RefusedError.Field).
const (
	RefusedOutputs   = "outputs"
	RefusedReason    = "reason"
	RefusedErrorText = "error"
)
