package state

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Sentinel errors. Typed errors below match them with errors.Is.
var (
	// ErrCorrupt: a run file is damaged before its last document, or a
	// document that passed its checksum does not make sense. It is never
	// repaired automatically.
	ErrCorrupt = errors.New("state: run file corrupt")
	// ErrLocked: another live process holds the store lock.
	ErrLocked = errors.New("state: locked")
	// ErrNotLocked: a write that needs the store lock was tried without it.
	ErrNotLocked = errors.New("state: store lock not held; call Store.Lock first")
	// ErrNotFound wraps fs.ErrNotExist: no such run, no runtime.yaml.
	ErrNotFound = fmt.Errorf("state: not found: %w", fs.ErrNotExist)
	// ErrUnsupportedFormat: a file written by a newer k0rdent.
	ErrUnsupportedFormat = errors.New("state: unsupported format version")
	// ErrSecret: an output or record that looks like secret material.
	ErrSecret = errors.New("state: refusing to journal secret material")
	// ErrUnreachable: a remote store did not answer a write (or the
	// renewal of its lock) and whether it happened could not be read
	// back. What was durable before is kept; the run is resumed once the
	// store is back.
	ErrUnreachable = errors.New("state: store unreachable")
)

// CorruptError locates corruption in a run file. Record is the sequence
// number the bad document should have had (0 is the header) and Offset the
// byte offset where it starts.
type CorruptError struct {
	File   string
	Record uint64
	Offset int64
	Reason string
	Err    error // optional cause, e.g. ErrUnsupportedFormat
}

func (e *CorruptError) Error() string {
	file := e.File
	if file == "" {
		file = "<stream>"
	}
	msg := fmt.Sprintf("run file %s: record %d at byte %d: %s", file, e.Record, e.Offset, e.Reason)
	if e.Err != nil && !errors.Is(e.Err, ErrUnsupportedFormat) {
		msg += ": " + e.Err.Error()
	}
	return msg + "; the file stays untouched for inspection, start a fresh run (k0rdent run --fresh)"
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the cause, if any.
func (e *CorruptError) Unwrap() error { return e.Err }

// TransitionError reports a node transition in a run file (or offered to
// Run.Record) that the node's replayed state does not allow.
type TransitionError struct {
	File   string
	Record uint64
	Node   string
	From   workflow.State // what the record claims
	To     workflow.State
	Actual workflow.State // the node's replayed state; "" if the node was unknown
	Reason string
}

func (e *TransitionError) Error() string {
	file := e.File
	if file == "" {
		file = "<stream>"
	}
	return fmt.Sprintf("run file %s: record %d: node %s: %s", file, e.Record, e.Node, e.Reason)
}

// Unwrap returns a *workflow.IllegalTransitionError when the record's
// transition is one CanTransition forbids, and nil when the record is
// inconsistent in another way (its from is not the node's state).
func (e *TransitionError) Unwrap() error {
	if e.Actual != "" && e.Actual != e.From {
		return nil
	}
	return &workflow.IllegalTransitionError{Node: e.Node, From: e.From, To: e.To}
}

// LockedError is returned by Store.Lock when a live process holds the lock.
type LockedError struct {
	Path   string
	Holder Holder
}

func (e *LockedError) Error() string {
	h := e.Holder
	if h.PID == 0 {
		return fmt.Sprintf("state %s is locked by another process (holder record unreadable); wait for it to finish", e.Path)
	}
	msg := fmt.Sprintf("state %s is locked by pid %d", e.Path, h.PID)
	if h.User != "" || h.Host != "" {
		msg += fmt.Sprintf(" (%s@%s)", h.User, h.Host)
	}
	if h.Command != "" {
		msg += fmt.Sprintf(" running %q", h.Command)
	}
	if h.RunID != "" {
		msg += " for run " + h.RunID
	}
	if !h.Started.IsZero() {
		msg += " since " + h.Started.UTC().Format("2006-01-02T15:04:05Z")
	}
	return msg + "; wait for it to finish or stop that process"
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }
