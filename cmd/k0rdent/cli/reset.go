package cli

import (
	"bufio"
	"context"
	"errors"
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
	WithKOF           bool
	WithAzureChildren bool
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
			&ucli.BoolFlag{Name: "with-kof", Usage: "include KOF"},
			&ucli.BoolFlag{Name: "with-azure-children", Usage: "include the Azure child clusters"},
			&ucli.IntFlag{Name: "parallelism", Aliases: []string{"p"}, Value: 4, Usage: "destroy at most `N` phases at once"},
		),
		Action: func(c *ucli.Context) error {
			g, err := readGlobals(c)
			if err != nil {
				return err
			}
			return a.doReset(c.Context, resetOptions{globalOptions: g, Yes: c.Bool("yes"), WithKOF: c.Bool("with-kof"),
				WithAzureChildren: c.Bool("with-azure-children"), Parallelism: c.Int("parallelism")})
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
	store := state.NewStore(o.StateDir)
	lock, _, err := store.Lock(state.CurrentHolder(strings.Join(os.Args, " ")))
	if err != nil {
		var le *state.LockedError
		if errors.As(err, &le) {
			return withCode(ExitLocked, lockedError(le))
		}
		return err
	}
	defer lock.Unlock()
	prior, err := lastKnown(store)
	if err != nil {
		return err
	}
	prog := newProgress(a.Stdout, false, false, a.Now)
	ctx, stop := interruptContext(ctx, func(os.Signal) { prog.Close(); lock.Unlock(); a.Exit(ExitInterrupted) })
	defer stop()
	sched := &workflow.Scheduler{Graph: lg.graph, SecretsDir: store.SecretsDir(), Parallelism: o.Parallelism,
		Recorder: workflow.RecorderFunc(func(ev workflow.Event) error { prog.Event(ev); return nil }),
		Log:      a.newLogger(o.LogLevel), Now: a.Now}
	res, err := sched.Destroy(ctx, prior)
	prog.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "reset %s\n", res.Outcome)
	return nil
}
