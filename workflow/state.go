package workflow

import (
	"fmt"
	"io"
	"time"
)

// State is a node's state in a run.
type State string

// Node states.
const (
	Pending   State = "pending"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Skipped   State = "skipped"   // its own condition: disabled, with a reason
	Blocked   State = "blocked"   // a dependency failed, was cancelled or is unavailable
	Cancelled State = "cancelled" // interrupted while running, or never started because the run was
)

// States lists every state in a fixed order.
var States = []State{Pending, Running, Succeeded, Failed, Skipped, Blocked, Cancelled}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	for _, k := range States {
		if s == k {
			return true
		}
	}
	return false
}

// Done reports whether dependents may start: the node succeeded or was
// skipped by its own condition.
func (s State) Done() bool { return s == Succeeded || s == Skipped }

// Final reports whether the state ends the node's part in a run.
func (s State) Final() bool { return s != Pending && s != Running }

// CanTransition reports whether a node may go from s to to.
//
//	pending   -> running, skipped, blocked, cancelled
//	running   -> succeeded, failed, cancelled, running (a retry, or a resume after a crash)
//	succeeded -> succeeded (reused after Verify), running, skipped, blocked, cancelled (resume, re-plan)
//	failed, skipped, blocked, cancelled -> running, skipped, blocked, cancelled (resume, re-plan)
//
// Nothing goes back to pending, and nothing succeeds or fails without running.
func (s State) CanTransition(to State) bool {
	switch s {
	case Pending:
		return to == Running || to == Skipped || to == Blocked || to == Cancelled
	case Running:
		return to == Succeeded || to == Failed || to == Cancelled || to == Running
	case Succeeded:
		return to == Succeeded || to == Running || to == Skipped || to == Blocked || to == Cancelled
	case Failed, Skipped, Blocked, Cancelled:
		return to == Running || to == Skipped || to == Blocked || to == Cancelled
	}
	return false
}

// Event is one node transition, as the scheduler hands it to the Recorder.
type Event struct {
	// Seq is assigned by the Recorder (contiguous from 1 per run); the
	// scheduler leaves it 0.
	Seq      uint64
	Time     time.Time
	Node     string
	From     State
	To       State
	Attempt  int
	Reason   string // why: "disabled: …", "verify failed: …", "retry 2/3 in 4s", "dependency x failed"
	Error    string
	Duration time.Duration     // of the attempt, on succeeded, failed and cancelled
	Outputs  map[string]string // on succeeded (and reused succeeded)
	// Digest and OwnDigest, on succeeded: the node's inputs digest and own
	// digest (see Inputs) that its outputs were built with; "" when the
	// node declares no inputs.
	Digest, OwnDigest string
	// Built, on a reuse (succeeded -> succeeded): the run the node last
	// ran in, whose work and outputs are reused; "" when unknown.
	Built string
}

// IllegalTransitionError reports a transition CanTransition forbids.
type IllegalTransitionError struct {
	Node     string
	From, To State
}

func (e *IllegalTransitionError) Error() string {
	return fmt.Sprintf("node %s: illegal transition %s -> %s", e.Node, e.From, e.To)
}

// Recorder makes events durable. Record must not return before the event is
// durable: the scheduler starts Run only after `running` is recorded and
// starts dependents only after `succeeded` is recorded. A Recorder error
// stops all further dispatch. The scheduler calls Record from one goroutine.
// A Recorder that is also a GroupRecorder is staged and synced instead.
type Recorder interface {
	Record(ev Event) error
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(Event) error

// Record calls f(ev).
func (f RecorderFunc) Record(ev Event) error { return f(ev) }

// LogSink opens the log of one node attempt. The scheduler closes it when
// the attempt ends. A nil LogSink discards node logs.
type LogSink func(node string, attempt int) (io.WriteCloser, error)

// NodeStatus is what is known of a node: the prior state the engine resumes
// from, and the result of a run.
type NodeStatus struct {
	State   State
	Attempt int
	Reason  string
	Error   string
	Outputs map[string]string
	// RunID is the run in which the node last succeeded (for "reuse (run X)").
	RunID string
	// Digest and OwnDigest are those of the node's last success (see
	// Inputs); "" when unknown.
	Digest, OwnDigest string
	Started           time.Time
	Finished          time.Time
}
