package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"runtime/debug"
	"time"
)

// launch records running (except for a verify), takes the node's slot
// and hands the node to a worker once every record staged so far is
// durable (startWhenDurable): nothing starts unless its running record,
// and the succeeded records of its dependencies, are durable.
func (r *run) launch(i int) {
	n := &r.nodes[i]
	attempt := n.status.Attempt
	recorded := maps.Clone(n.status.Outputs) // before running replaces the status
	if n.kind != jobVerify {
		attempt++
		if !r.set(i, Running, attempt, n.reason, nil, 0) {
			n.status.State, n.fin = Cancelled, true
			return
		}
		if n.status.Started.IsZero() || n.tries == 0 {
			n.status.Started = r.now()
		}
	}
	n.busy, n.since = true, r.now()
	r.inflight++
	r.classRunning[n.policy.Class]++
	env := &Env{
		RunID: r.s.RunID, Node: n.name, Attempt: attempt, SecretsDir: r.s.SecretsDir,
		Recorded: recorded,
	}
	if n.kind != jobVerify { // a verify is not a recorded attempt: nothing to attach a group to
		env.procs = r.startedProcess
	}
	for _, j := range r.g.deps[i] {
		if out := r.nodes[j].status.Outputs; out != nil {
			if env.Inputs == nil {
				env.Inputs = make(map[string]map[string]string, len(r.g.deps[i]))
			}
			env.Inputs[r.nodes[j].name] = maps.Clone(out)
		}
	}
	r.startWhenDurable(i, env)
}

// work1 runs one job in a worker goroutine: the phase itself runs in a
// further goroutine so that one that ignores its context is abandoned
// after the grace period instead of hanging the run.
func (r *run) work1(i int, kind jobKind, p Phase, timeout time.Duration, env *Env) {
	ctx := r.work // no child context per job unless needed: its parent's lock is shared
	if timeout > 0 && (kind != jobVerify || r.check) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(r.work, timeout)
		defer cancel()
	}
	start := time.Now()
	ch := make(chan result, 1)
	go func() { ch <- r.attempt(ctx, kind, p, env) }()
	var res result
	select {
	case res = <-ch:
	case <-ctx.Done():
		t := time.NewTimer(r.grace)
		select {
		case res = <-ch:
		case <-t.C:
			res = result{abandoned: true, err: fmt.Errorf("did not return within the grace period of %s", r.grace)}
		}
		t.Stop()
	}
	if res.err != nil && timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) && r.work.Err() == nil {
		res.err = fmt.Errorf("timed out after %s: %w", timeout, res.err)
	}
	res.i, res.kind, res.dur = i, kind, time.Since(start)
	r.results <- res
}

// attempt opens the node log, runs the checks and the phase, and turns a
// panic into an error with the stack in the log.
func (r *run) attempt(ctx context.Context, kind jobKind, p Phase, env *Env) (res result) {
	var w io.WriteCloser = nopCloser{io.Discard}
	if r.s.LogSink != nil {
		lw, err := r.s.LogSink(env.Node, env.Attempt)
		if err != nil {
			res.err = fmt.Errorf("open log of %s attempt %d: %w", env.Node, env.Attempt, err)
			return res
		}
		w = lw
		env.Log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		env.Log = r.discard
	}
	env.Output = w
	defer func() {
		if err := w.Close(); err != nil && res.err == nil {
			res.err = fmt.Errorf("close log of %s attempt %d: %w", env.Node, env.Attempt, err)
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(w, "panic: %v\n\n%s", v, debug.Stack())
			res.err = fmt.Errorf("panic: %v (stack in the node log)", v)
		}
	}()
	switch kind {
	case jobVerify:
		res.err = p.(Verifier).Verify(ctx, env)
		return res
	case jobDestroy:
		// A finished Destroy may say what it removed (outputs of its
		// succeeded record), e.g. what it found that no run had recorded.
		if res.err = p.(Destroyer).Destroy(ctx, env); res.err == nil {
			res.outputs = env.Outputs()
		}
		return res
	}
	if pc, ok := p.(Preconditioner); ok {
		for _, c := range pc.Preconditions() {
			if err := c.Check(ctx, env); err != nil {
				res.err = &PreconditionError{Phase: env.Node, Check: c.Name, Fix: c.Fix, Err: err}
				return res
			}
		}
	}
	if res.err = p.Run(ctx, env); res.err == nil {
		res.outputs = env.Outputs()
	}
	return res
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// finish takes a worker's result and records what it means.
func (r *run) finish(res result) {
	i := res.i
	n := &r.nodes[i]
	n.busy = false
	r.inflight--
	r.classRunning[n.policy.Class]--
	if res.kind == jobVerify && r.check {
		err := res.err
		if err == nil && r.cancelled {
			err = context.Canceled
		}
		r.checks[n.name] = err
		r.done(i)
		r.settle()
		return
	}
	if res.kind == jobVerify {
		switch {
		case r.cancelled || r.recErr != nil:
			n.fin = true // not verified: it stays succeeded
		case res.err == nil:
			reason := "verified, reused"
			if n.status.RunID != "" {
				reason += " from run " + n.status.RunID
			}
			if n.dec.byDigest {
				reason = "unchanged since run " + n.status.RunID + ", verified"
			}
			r.reuse(i, reason)
			r.settle()
		case r.stopped: // fail-fast
			r.set(i, Cancelled, n.status.Attempt, "verify failed, not re-run after fail-fast: "+res.err.Error(), nil, 0)
			n.fin = true
		default:
			n.reason, n.reran = "verify failed: "+res.err.Error(), true
			if n.dec.byDigest {
				n.reason = "drift: verify failed: " + res.err.Error()
			}
			r.enqueue(i, jobRun)
		}
		return
	}
	n.ran += res.dur
	attempt := n.status.Attempt
	switch {
	case res.err == nil:
		n.status.Outputs, n.status.RunID, n.status.Error = res.outputs, r.s.RunID, ""
		n.status.Digest, n.status.OwnDigest = n.digest, n.own
		if r.set(i, Succeeded, attempt, "", nil, res.dur) {
			n.status.Finished = r.now()
			r.done(i)
			r.settle()
		} else if n.status.State == Failed && r.recErr == nil { // its outputs were refused
			n.status.Finished = r.now()
			n.fin = true
			r.fail(i)
		}
		n.fin = true
	case r.cancelled || (r.work.Err() != nil && (errors.Is(res.err, context.Canceled) || res.abandoned)):
		// the run was cancelled, or the Recorder failed and the scheduler
		// cancelled the phase
		n.err = res.err
		r.set(i, Cancelled, attempt, "run cancelled", res.err, res.dur)
		n.fin = true
	case IsTransient(res.err) && n.tries < n.policy.Retries && !res.abandoned && !r.stopped:
		n.tries++
		wait := backoff(n.policy, n.tries)
		reason := RetryReason(n.tries, n.policy.Retries, wait)
		if r.set(i, Failed, attempt, reason, res.err, res.dur) {
			n.reason = fmt.Sprintf("retry %d/%d", n.tries, n.policy.Retries)
			r.retrying++
			time.AfterFunc(wait, func() {
				select {
				case r.wake <- i:
				case <-r.exit:
				}
			})
		}
	default:
		n.err = res.err
		r.set(i, Failed, attempt, "", res.err, res.dur)
		n.status.Finished = r.now()
		n.fin = true
		r.fail(i)
	}
}

// backoff is the wait before retry number try (from 1).
func backoff(p Policy, try int) time.Duration {
	d, maxD := p.Backoff, p.MaxBackoff
	if d <= 0 {
		d = time.Second
	}
	if maxD <= 0 {
		maxD = time.Minute
	}
	for range try - 1 {
		if d >= maxD {
			break
		}
		d *= 2
	}
	return min(d, maxD)
}
