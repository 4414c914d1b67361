package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sync"
	"time"
)

// Phase is the required contract of a node. Everything else a phase can do
// is an optional capability below, discovered by type assertion. Phase files
// assert the capabilities they implement at compile time:
//
//	var _ workflow.Verifier = (*VPN)(nil)
type Phase interface {
	// Name is stable and kebab-case; it is the journal key and never
	// changes once released.
	Name() string
	// DependsOn names the phases that must succeed (or be skipped) first.
	DependsOn() []string
	// Run does the work. It must be idempotent: a crash between the
	// `running` record and the `succeeded` record re-runs it on resume.
	Run(ctx context.Context, env *Env) error
}

// Enabler is implemented by optional phases. A disabled phase is recorded
// `skipped` with the reason: no warning, no preconditions, no run. A later
// run that enables it runs it.
type Enabler interface {
	Enabled() (enabled bool, reason string)
}

// Preconditioner is implemented by phases with read-only checks that must
// hold before Run. They are evaluated after every dependency succeeded and
// before Run; the first failing check fails the node with a
// *PreconditionError naming the check, what it found and the fix.
type Preconditioner interface {
	Preconditions() []Check
}

// Check is a named, read-only precondition.
type Check struct {
	// Name is short and stable; --plan lists it.
	Name string
	// Fix is the command or action that makes the check pass.
	Fix string
	// Check returns nil when the condition holds, or an error describing
	// what was found.
	Check func(ctx context.Context, env *Env) error
}

// Verifier is implemented by phases that can tell whether what they built
// still exists. On resume a succeeded node is reused only when Verify
// returns nil; otherwise it runs again, and so does everything downstream.
// `status --check` calls it too. Verify must not change anything.
type Verifier interface {
	Verify(ctx context.Context, env *Env) error
}

// Volatiler is implemented by phases whose effect does not outlive the
// operator's machine (a VPN tunnel). When Volatile returns true the node is
// run again on every run and resume that needs it, even after success.
type Volatiler interface {
	Volatile() bool
}

// Describer is implemented by phases that can say what they would do; the
// lines are printed by --plan.
type Describer interface {
	Describe(env *Env) []string
}

// Policer is implemented by phases with a timeout, a retry policy or a
// concurrency class.
type Policer interface {
	Policy() Policy
}

// Destroyer is implemented by phases that can tear down what they built.
// Teardown walks the graph in reverse dependency order. Env.Recorded holds
// what the node last recorded (and what the caller hands it besides);
// outputs set by a Destroy that returns nil are journalled with its
// succeeded record: what it removed.
type Destroyer interface {
	Destroy(ctx context.Context, env *Env) error
}

// Policy tunes how the scheduler runs one phase. The zero value means no
// timeout, no retries and no concurrency class.
type Policy struct {
	// Timeout bounds one attempt of Run; 0 means none. An attempt that
	// runs out of time fails the node (it is not retried unless the phase
	// marks the error transient).
	Timeout time.Duration
	// Retries is how many more attempts an error marked Transient gets.
	Retries int
	// Backoff is the wait before the first retry; it doubles on each
	// further retry up to MaxBackoff. 0 means one second.
	Backoff time.Duration
	// MaxBackoff caps Backoff; 0 means one minute.
	MaxBackoff time.Duration
	// Class names a concurrency class; Scheduler.ClassLimits bounds how many
	// nodes of one class run at once.
	Class string
}

// TransientError marks an error as worth retrying under the phase's Policy.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Transient marks err as retryable. Transient(nil) is nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &TransientError{Err: err}
}

// IsTransient reports whether err, or an error it wraps, was marked Transient.
func IsTransient(err error) bool {
	var t *TransientError
	return errors.As(err, &t)
}

// PreconditionError is how a failed Check fails its node.
type PreconditionError struct {
	Phase string
	Check string
	Fix   string
	Err   error
}

func (e *PreconditionError) Error() string {
	msg := fmt.Sprintf("%s: precondition %q failed: %v", e.Phase, e.Check, e.Err)
	if e.Fix != "" {
		msg += "; fix: " + e.Fix
	}
	return msg
}

func (e *PreconditionError) Unwrap() error { return e.Err }

// Env is what a phase gets from the scheduler for one attempt. It is built
// per node; phases never hold a reference back to the scheduler.
type Env struct {
	// RunID is the run this attempt belongs to.
	RunID string
	// Node is the phase's name.
	Node string
	// Attempt counts from 1 across retries and resumes.
	Attempt int
	// Log writes to the node's own log.
	Log *slog.Logger
	// Output is the node's log stream, for the output of child processes.
	Output io.Writer
	// Inputs holds the outputs of the node's dependencies, by dependency
	// name; on resume they come from the journal. Read only.
	Inputs map[string]map[string]string
	// SecretsDir is the 0700 directory where secrets are written (0600).
	// Only their paths may become outputs.
	SecretsDir string
	// Recorded holds this node's own outputs as last journalled (nil if it
	// never succeeded): what Verify compares reality with, and what a
	// re-run may reuse. Read only.
	Recorded map[string]string

	procs func(ProcessGroup) error // set by the scheduler; see StartedProcessGroup

	mu      sync.Mutex
	outputs map[string]string
}

// Input returns the output key of dependency node. A nil Env has no inputs.
func (e *Env) Input(node, key string) (string, bool) {
	if e == nil {
		return "", false
	}
	v, ok := e.Inputs[node][key]
	return v, ok
}

// SetOutput records a non-secret output (an IP, a path, a resource id). The
// outputs are journalled with the success record so that later nodes get
// them as Inputs, even in a resumed run. Never pass a secret.
func (e *Env) SetOutput(key, value string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.outputs == nil {
		e.outputs = map[string]string{}
	}
	e.outputs[key] = value
}

// Outputs returns a copy of what SetOutput recorded.
func (e *Env) Outputs() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.outputs)
}
