package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// interruptContext returns a context cancelled by the first SIGINT or
// SIGTERM, after onFirst (nil: nothing) has said what that does. A second
// signal calls onSecond (which flushes the journal and exits 130); stop
// releases the signal handlers. Handlers are installed per call, never at
// package level, so two apps in one process do not share them.
func interruptContext(parent context.Context, onFirst, onSecond func(os.Signal)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		first := true
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				if first {
					first = false
					if onFirst != nil {
						onFirst(sig)
					}
					cancel(&interruptedError{sig: sig})
					continue
				}
				onSecond(sig)
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

// interruptedError is the cancellation cause of a signal.
type interruptedError struct{ sig os.Signal }

func (e *interruptedError) Error() string { return "interrupted by " + e.sig.String() }

// ExitCode is 130 whatever the signal, as ARCHITECTURE §8 says.
func (e *interruptedError) ExitCode() int { return ExitInterrupted }

// Is makes errors.Is(err, context.Canceled) true.
func (e *interruptedError) Is(target error) bool { return target == context.Canceled }

// cancellingNote is what the first interrupt prints: what the run does
// now and how to stop at once.
//
//	cancelling: waiting up to 10s for 2 running phases; press Ctrl-C again to stop at once
func cancellingNote(sig os.Signal, running int, grace time.Duration) string {
	again := "press Ctrl-C again"
	if sig != os.Interrupt {
		again = "send " + sig.String() + " again"
	}
	if running == 0 {
		return fmt.Sprintf("cancelling (%s): no phase is running, starting no more; %s to stop at once", sig, again)
	}
	return fmt.Sprintf("cancelling: waiting up to %s for %s; %s to stop at once", grace, plural(running, "running phase"), again)
}
