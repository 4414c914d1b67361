package k0sctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/k0sproject/k0sctl/action"
	"github.com/k0sproject/k0sctl/phase"
	"github.com/k0sproject/k0sctl/pkg/apis/k0sctl.k0sproject.io/v1beta1"
	"github.com/k0sproject/k0sctl/pkg/retry"
	"github.com/logrusorgru/aurora"
	log "github.com/sirupsen/logrus"
)

// k0sctlMu serialises every use of k0sctl in the process. k0sctl keeps its
// settings in package variables (phase.NoWait, phase.Force,
// phase.Colorize, retry.DefaultTimeout) and logs through logrus's standard
// logger, whose output we point at the node's log for the length of one
// action: two actions at once would mix their settings and logs. This is
// the one piece of package-level state here, and it exists because k0sctl
// has some; see doc.go.
var k0sctlMu sync.Mutex

// Options tune one k0sctl action.
type Options struct {
	// Log receives k0sctl's log lines (the node log). Nil discards them.
	Log io.Writer
	// Debug logs at debug level (k0sctl's --debug). k0sctl hides command
	// output that holds secrets (tokens, the kubeconfig) at every level.
	Debug bool
	// RetryTimeout bounds each of k0sctl's waits (the service to run, the
	// API to answer, a node to be Ready); 0 keeps k0sctl's 2 minutes.
	RetryTimeout time.Duration
	// NoWait skips waiting for worker nodes to be Ready (k0sctl's
	// --no-wait).
	NoWait bool
	// Force is k0sctl's --force: an installed but stopped k0s service is
	// reinstalled (`k0s install --force`) instead of refused. Use it only
	// to recover from an apply that was interrupted (IsInterruptedInstall).
	Force bool
}

// IsInterruptedInstall reports whether err is k0sctl refusing a host on
// which an earlier apply installed k0s as a service and was interrupted
// before starting it: k0sctl asks to remove the service or start it, and
// applying again with Force is its own remedy.
func IsInterruptedInstall(err error) bool {
	return err != nil && strings.Contains(err.Error(), "doesn't appear to be running but has been installed as a service")
}

// withK0sctl runs f holding the process-wide lock, with k0sctl's globals
// set from opts and restored afterwards.
func withK0sctl(opts Options, f func() error) error {
	k0sctlMu.Lock()
	defer k0sctlMu.Unlock()

	std := log.StandardLogger()
	oldOut, oldLevel, oldFormatter := std.Out, std.GetLevel(), std.Formatter
	oldNoWait, oldForce, oldColorize, oldRetry := phase.NoWait, phase.Force, phase.Colorize, retry.DefaultTimeout
	defer func() {
		std.SetOutput(oldOut)
		std.SetLevel(oldLevel)
		std.SetFormatter(oldFormatter)
		phase.NoWait, phase.Force, phase.Colorize, retry.DefaultTimeout = oldNoWait, oldForce, oldColorize, oldRetry
	}()

	out := opts.Log
	if out == nil {
		out = io.Discard
	}
	std.SetOutput(out)
	std.SetFormatter(&log.TextFormatter{DisableColors: true, FullTimestamp: true, TimestampFormat: time.RFC3339})
	std.SetLevel(log.InfoLevel)
	if opts.Debug {
		std.SetLevel(log.DebugLevel)
	}
	phase.NoWait = opts.NoWait
	phase.Force = opts.Force
	phase.Colorize = aurora.NewAurora(false)
	if opts.RetryTimeout > 0 {
		retry.DefaultTimeout = opts.RetryTimeout
	}
	return f()
}

// Apply runs k0sctl's apply action for c, in this process: connect to the
// hosts over SSH, detect their OS, gather facts, validate them, stage or
// upload the k0s binary, configure k0s, install and start the controllers
// and workers, then fetch the admin kubeconfig, which it returns. The
// kubeconfig holds credentials: write it only to a 0600 file.
//
// c is modified by k0sctl (host metadata); build a new one per call.
func Apply(ctx context.Context, c *v1beta1.Cluster, opts Options) (kubeconfig []byte, err error) {
	var kc bytes.Buffer
	err = withK0sctl(opts, func() error {
		m, err := phase.NewManager(c)
		if err != nil {
			return err
		}
		m.Writer = logWriter(opts.Log)
		a := action.NewApply(action.ApplyOptions{
			Manager:       m,
			NoWait:        opts.NoWait,
			KubeconfigOut: &kc,
		})
		return a.Run(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("k0sctl apply: %w", err)
	}
	if kc.Len() == 0 {
		return nil, errors.New("k0sctl apply: no kubeconfig from the first controller")
	}
	return kc.Bytes(), nil
}

// Reset runs k0sctl's reset action for c (k0sctl reset --force): k0s is
// stopped and removed from every host, with its data. It needs the hosts
// reachable over SSH.
func Reset(ctx context.Context, c *v1beta1.Cluster, opts Options) error {
	err := withK0sctl(opts, func() error {
		phase.Force = true // reset asks for confirmation otherwise
		m, err := phase.NewManager(c)
		if err != nil {
			return err
		}
		m.Writer = logWriter(opts.Log)
		return action.Reset{Manager: m, Stdout: logWriter(opts.Log)}.Run(ctx)
	})
	if err != nil {
		return fmt.Errorf("k0sctl reset: %w", err)
	}
	return nil
}

func logWriter(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
