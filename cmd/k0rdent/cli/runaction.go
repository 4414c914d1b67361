package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/deploy"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// deployer is the lifecycle (package deploy) for this command line's
// config and state directory.
func (a *app) deployer(g globalOptions) *deploy.Deployer {
	d := &deploy.Deployer{
		Registry:   a.Registry,
		Store:      a.openStore(g.StateDir),
		ConfigPath: g.ConfigPath,
		Name:       a.Name,
		Version:    a.Version,
		Command:    strings.Join(os.Args, " "),
		Now:        a.Now,
		Notices:    a.Stderr,
		Log:        a.newLogger(g.LogLevel),
		Operator:   g.Operator,
	}
	if a.runIDs {
		d.NewRunID = a.NewRunID
	}
	return d
}

// loadedGraph is a config turned into a validated graph.
type loadedGraph struct {
	graph *workflow.Graph
}

// loadGraph loads the config and builds the graph for flags (runs show).
func (a *app) loadGraph(g globalOptions, flags phases.RunFlags) (*loadedGraph, error) {
	lg, err := a.deployer(g).Load(flags)
	if err != nil {
		return nil, err
	}
	return &loadedGraph{graph: lg.Graph}, nil
}

// noArgs refuses positional arguments to a command that takes none:
// `k0rdent run fetch` must not run the whole deployment.
func noArgs(c *ucli.Context) error {
	if !c.Args().Present() {
		return nil
	}
	return usageErrorf("%s takes no arguments, got %q; select phases with --only %s (see %s --help)",
		c.Command.FullName(), strings.Join(c.Args().Slice(), " "), strings.Join(c.Args().Slice(), ","), c.Command.HelpName)
}

// doRun is the action of `k0rdent run`.
func (a *app) doRun(ctx context.Context, o runOptions) error {
	d := a.deployer(o.globalOptions)
	ro := o.deployOptions()
	if o.Plan {
		return a.plan(d, o, ro)
	}
	ro.Decide = func(desc string) (bool, error) { return a.decideResume(desc) }
	live := a.IsTerminal(a.Stdout) && !o.NoColor
	prog := newProgress(a.Stdout, a.progressOptions(live))
	defer prog.Close()
	ro.Event = prog.Event
	var abort func(string)
	ro.Abort = func(f func(string)) { abort = f }
	var runID string
	ro.Started = func(s deploy.Started) {
		runID = s.RunID
		a.started(s, "run")
	}
	handled := make(chan struct{}) // the second interrupt's handler has said what it did
	first := func(sig os.Signal) {
		// The scheduler's grace period: deploy.Run leaves it at the default.
		prog.Note(cancellingNote(sig, prog.Running(), workflow.DefaultGracePeriod))
	}
	ctx, stop := interruptContext(ctx, first, func(sig os.Signal) {
		defer close(handled)
		if abort != nil {
			abort("interrupted twice (" + sig.String() + ")")
		}
		prog.Close()
		a.exitInterrupted(fmt.Errorf("interrupted twice: run %s journalled cancelled; resume with: %s", runID, a.resumeCommand(o)))
	})
	defer stop()
	res, err := d.Run(ctx, ro)
	prog.Close()
	if res != nil && res.Aborted {
		// The run ended because the handler aborted it: let the handler
		// report and exit, rather than race it with this error.
		<-handled
		return shown(withCode(ExitInterrupted, err))
	}
	if err != nil && runID != "" && errors.Is(err, state.ErrUnreachable) {
		// The store went away mid-run: what was durable is kept there.
		return fmt.Errorf("%w\n\nthe state %s is unreachable: run %s stopped, and what it journalled before is kept there; "+
			"when the store is back (and this run's lease has expired, within a minute), resume with:\n  %s", err, d.Store.Location(), runID, a.resumeCommand(o))
	}
	if res == nil {
		return err
	}
	if err != nil {
		return err
	}
	return a.report(d.Store, res, o)
}

// exitInterrupted reports err, the end of a run or teardown a second
// interrupt cut short, and exits 130 at once: as text on stderr, or under
// -o json as the error document (Execute would not get to write it).
func (a *app) exitInterrupted(err error) {
	if a.jsonError != nil {
		a.jsonError(err, ExitInterrupted)
	} else {
		fmt.Fprintf(a.Stderr, "\n%v\n", err)
	}
	a.closeStores()
	a.Exit(ExitInterrupted)
}

// started prints the first line of a run or teardown and its notices.
func (a *app) started(s deploy.Started, kind string) {
	if s.Superseded != "" {
		fmt.Fprintf(a.Stderr, "archived unfinished run %s (superseded by %s)\n", s.Superseded, s.RunID)
	}
	if s.Takeover != nil {
		fmt.Fprintf(a.Stderr, "took over the lock of pid %d (run %s), which died holding it\n", s.Takeover.PID, s.Takeover.RunID)
	}
	for _, pg := range s.EndedGroups {
		fmt.Fprintf(a.Stderr, "ended process group %d of %s (run %s, attempt %d), left running by a k0rdent that died\n", pg.PGID, pg.Node, pg.RunID, pg.Attempt)
	}
	verb := "starting " + kind + " " + s.RunID
	if s.Resumed {
		verb = fmt.Sprintf("resuming run %s, attempt %d", s.RunID, s.Attempt)
	}
	if !s.Selection.Empty() {
		verb += ", selection " + s.Selection.String()
		if s.SelectionChanged {
			verb += " (changed)"
		}
	}
	fmt.Fprintf(a.Stdout, "%s (%d nodes, logs in %s)\n", verb, s.Nodes, s.LogDir)
}

// decideResume asks on a terminal whether to resume the unfinished run;
// elsewhere it refuses with a message naming both flags.
func (a *app) decideResume(desc string) (bool, error) {
	if !a.IsTerminal(a.Stdin) {
		return false, usageErrorf("%s; pass --resume to continue it or --fresh to archive it and start a new run", desc)
	}
	fmt.Fprintf(a.Stdout, "%s.\n", desc)
	answer, err := a.ask("Resume it, or start fresh (the unfinished run is archived)? [R/f] ", "r (resume) or f (fresh); or pass --resume or --fresh",
		map[string]string{"": "r", "r": "r", "resume": "r", "y": "r", "yes": "r", "f": "f", "fresh": "f"})
	return answer == "r", err
}

// newLogger is the CLI's own log (to stderr) at the --log-level.
func (a *app) newLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: level}))
}
