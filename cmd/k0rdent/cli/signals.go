package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// interruptContext returns a context cancelled by the first SIGINT or
// SIGTERM. A second signal calls onSecond (which flushes the journal and
// exits 130); stop releases the signal handlers. Handlers are installed per
// call, never at package level, so two apps in one process do not share them.
func interruptContext(parent context.Context, onSecond func(os.Signal)) (ctx context.Context, stop func()) {
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
