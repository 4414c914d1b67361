package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Exit codes of the k0rdent binary (ARCHITECTURE §8). They are part of the
// interface: scripts and CI depend on them.
const (
	ExitOK           = 0   // the command did what was asked
	ExitPhaseFailed  = 1   // a phase failed (or an unexpected error)
	ExitUsage        = 2   // usage, config or state-decision error (a corrupt run file too): fix the command line or the config
	ExitLocked       = 3   // another k0rdent holds the state directory lock
	ExitPrecondition = 4   // a phase precondition failed
	ExitInterrupted  = 130 // interrupted by SIGINT/SIGTERM
)

// ExitCoder is implemented by errors that choose the process exit code. It
// matches urfave/cli's ExitCoder and go-task's errors, so an error can travel
// through either unchanged.
type ExitCoder interface {
	error
	ExitCode() int
}

// ExitError attaches an exit code to an error.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode returns e.Code.
func (e *ExitError) ExitCode() int { return e.Code }

// withCode wraps err with an exit code; withCode(nil) is nil.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// usageErrorf is an error the user fixes on the command line or in the config.
func usageErrorf(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error returned by the app to the process exit code: nil is
// 0; an ExitCoder anywhere in the chain decides; an interrupted context is
// 130; a failed precondition is 4; anything else is 1.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ec ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	if errors.Is(err, context.Canceled) {
		return ExitInterrupted
	}
	var pe *workflow.PreconditionError
	if errors.As(err, &pe) {
		return ExitPrecondition
	}
	return ExitPhaseFailed
}

// plural is "1 problem", "2 problems".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// indentLines is err with every line after the first indented by two
// spaces, to list the errors joined in it under a heading.
func indentLines(err error) error {
	return &indented{err}
}

type indented struct{ error }

func (e *indented) Error() string { return strings.ReplaceAll(e.error.Error(), "\n", "\n  ") }
func (e *indented) Unwrap() error { return e.error }
