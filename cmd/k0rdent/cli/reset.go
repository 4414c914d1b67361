package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// resetOptions are the flags of `k0rdent reset`.
type resetOptions struct {
	globalOptions
	Yes               bool
	WithKOF           *bool // nil: not given
	WithAzureChildren *bool // nil: not given
	Parallelism       int
}

func (a *app) resetCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "reset",
		Usage:     "tear the deployment down: Destroy every phase in reverse dependency order",
		ArgsUsage: " ",
		Description: "Calls Destroy of every phase that has one, dependents first, with the outputs\n" +
			"each node last recorded. It asks for confirmation on a terminal; elsewhere pass --yes.\n\n" +
			examples(a.Name+" reset", a.Name+" reset --yes --with-kof"),
		Flags: withGlobals(
			&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
			&ucli.BoolFlag{Name: "with-kof", DefaultText: "kof.enabled", Usage: "include KOF; =false leaves it out. Given, it takes precedence over kof.enabled in the config"},
			&ucli.BoolFlag{Name: "with-azure-children", DefaultText: "azure_children.enabled", Usage: "include the Azure child clusters; =false leaves them out. Given, it takes precedence over azure_children.enabled in the config"},
			&ucli.IntFlag{Name: "parallelism", Aliases: []string{"p"}, Value: 4, Usage: "destroy at most `N` phases at once"},
		),
		Action: func(c *ucli.Context) error {
			g, err := readGlobals(c)
			if err != nil {
				return err
			}
			return a.doReset(c.Context, resetOptions{globalOptions: g, Yes: c.Bool("yes"), WithKOF: optionalBool(c, "with-kof"),
				WithAzureChildren: optionalBool(c, "with-azure-children"), Parallelism: c.Int("parallelism")})
		},
	}
}

func (a *app) doReset(ctx context.Context, o resetOptions) error {
	lg, err := a.loadGraph(o.globalOptions, phases.RunFlags{WithKOF: o.WithKOF, WithAzureChildren: o.WithAzureChildren})
	if err != nil {
		return err
	}
	if !o.Yes {
		if !a.IsTerminal(a.Stdin) {
			return usageErrorf("reset destroys the deployment; pass --yes to confirm")
		}
		fmt.Fprintf(a.Stdout, "Destroy everything %s deployed from %s? Type yes: ", a.Name, o.StateDir)
		line, _ := bufio.NewReader(a.Stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return usageErrorf("reset not confirmed")
		}
	}
	store := a.openStore(o.StateDir)
	lock, prevHolder, err := lockStore(store)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if err := a.migrateIfLegacy(o.globalOptions, store); err != nil {
		return err
	}
	prior, err := store.LastKnown()
	if err != nil {
		return err
	}
	// The teardown is a run of its own (header kind teardown): it archives
	// an unfinished deployment run, and its Destroy records clear the
	// destroyed nodes' facts from runtime.yaml.
	on := lg.flags.Effective(lg.cfg) // journalled: the effective values
	h := a.header(o.ConfigPath, map[string]bool{"with_kof": on.WithKOF, "with_azure_children": on.WithAzureChildren}, lg)
	h.Teardown = true
	run, superseded, err := store.StartFresh(h)
	if err != nil {
		return err
	}
	defer run.Close()
	if superseded != "" {
		fmt.Fprintf(a.Stderr, "archived unfinished run %s (superseded by teardown %s)\n", superseded, run.ID())
	}
	if err := lock.SetRunID(run.ID()); err != nil {
		return err
	}
	if prevHolder != nil {
		if err := run.LockTakeover(*prevHolder); err != nil {
			return err
		}
	}
	prog := newProgress(a.Stdout, false, false, a.Now)
	rec := &recorder{run: run, progress: prog, now: a.Now, running: map[string]workflow.Event{}}
	fmt.Fprintf(a.Stdout, "starting teardown %s (logs in %s)\n", run.ID(), store.LogDir(run.ID()))
	ctx, stop := interruptContext(ctx, func(sig os.Signal) {
		rec.abort("interrupted twice (" + sig.String() + ")")
		prog.Close()
		_ = run.Close()
		_ = lock.Unlock()
		a.Exit(ExitInterrupted)
	})
	defer stop()
	sched := &workflow.Scheduler{Graph: lg.graph, RunID: run.ID(), SecretsDir: store.SecretsDir(), Parallelism: o.Parallelism,
		Recorder: rec, LogSink: run.LogSink(), Log: a.newLogger(o.LogLevel), Now: a.Now}
	res, destroyErr := sched.Destroy(ctx, prior)
	prog.Close()
	if res == nil {
		return destroyErr
	}
	outcome, reason := state.Outcome(res.Outcome), ""
	if destroyErr != nil && outcome == state.OutcomeSucceeded {
		outcome, reason = state.OutcomeFailed, destroyErr.Error()
	}
	if err := run.Finish(outcome, reason); err != nil {
		return fmt.Errorf("journal outcome of teardown %s: %w", run.ID(), err)
	}
	fmt.Fprintf(a.Stdout, "reset %s (teardown %s)\n", outcome, run.ID())
	switch {
	case outcome == state.OutcomeCancelled:
		return withCode(ExitInterrupted, fmt.Errorf("teardown %s interrupted", run.ID()))
	case destroyErr != nil:
		return withCode(ExitPhaseFailed, fmt.Errorf("teardown %s: %w", run.ID(), destroyErr))
	}
	return nil
}
