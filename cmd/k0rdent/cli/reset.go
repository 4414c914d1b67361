package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/deploy"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
)

// yesUsage is what --yes means on every command that asks: do not ask,
// take the prompt's default answer.
const yesUsage = "do not ask: take the prompt's default answer (run: resume an unfinished run; reset: destroy)"

// resetOptions are the flags of `k0rdent reset`.
type resetOptions struct {
	globalOptions
	Plan        bool
	Yes         bool
	Components  phases.RunFlags // the --with-x flags as given
	Parallelism int
}

func (a *app) resetCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "reset",
		Usage:     "tear the deployment down: Destroy every phase in reverse dependency order",
		ArgsUsage: " ",
		Description: "Calls Destroy of every node the journal says exists (it ran and was not torn\n" +
			"down since), dependents first, with the outputs each node last recorded. Nodes\n" +
			"that never ran are left alone. --plan lists what would be destroyed, node by\n" +
			"node; on a terminal reset shows the same list and asks; elsewhere pass --yes.\n\n" +
			examples(a.Name+" reset --plan", a.Name+" reset", a.Name+" reset --yes --with-kof"),
		Flags: withGlobals(slices.Concat(
			[]ucli.Flag{
				&ucli.BoolFlag{Name: "plan", Usage: "list what would be destroyed, node by node, then stop (changes nothing)"},
				&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: yesUsage},
			},
			a.componentFlags(phases.Component.ResetHelp),
			[]ucli.Flag{&ucli.IntFlag{Name: "parallelism", Aliases: []string{"p"}, Value: 4, Usage: "destroy at most `N` phases at once"}},
		)...),
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			g, err := readGlobals(c)
			if err != nil {
				return err
			}
			return a.doReset(c.Context, resetOptions{globalOptions: g, Plan: c.Bool("plan"), Yes: c.Bool("yes"), Components: a.readComponents(c),
				Parallelism: c.Int("parallelism")})
		},
	}
}

func (a *app) doReset(ctx context.Context, o resetOptions) error {
	d := a.deployer(o.globalOptions)
	flags := o.Components
	if o.Plan {
		p, err := d.ResetPlan(flags)
		if err != nil {
			return err
		}
		writeResetPlan(a.Stdout, p)
		return nil
	}
	if !o.Yes && !a.IsTerminal(a.Stdin) {
		return usageErrorf("reset destroys the deployment; see what with: %s reset --plan; pass --yes to confirm", a.Name)
	}
	ro := deploy.ResetOptions{Flags: flags, Parallelism: o.Parallelism}
	if !o.Yes {
		ro.Confirm = func(p *deploy.ResetPlanResult) (bool, error) {
			writeResetPlan(a.Stdout, p)
			if len(p.Destroys()) == 0 {
				return true, nil // nothing to destroy: the teardown only records that
			}
			fmt.Fprintf(a.Stdout, "Destroy these %d nodes deployed from %s? Type yes: ", len(p.Destroys()), o.StateDir)
			line, _ := bufio.NewReader(a.Stdin).ReadString('\n')
			return strings.TrimSpace(line) == "yes", nil
		}
	}
	prog := newProgress(a.Stdout, false, false, a.Now)
	defer prog.Close()
	ro.Event = prog.Event
	var abort func(string)
	ro.Abort = func(f func(string)) { abort = f }
	ro.Started = func(s deploy.Started) { a.started(s, "teardown") }
	ctx, stop := interruptContext(ctx, func(sig os.Signal) {
		if abort != nil {
			abort("interrupted twice (" + sig.String() + ")")
		}
		prog.Close()
		a.Exit(ExitInterrupted)
	})
	defer stop()
	res, err := d.Reset(ctx, ro)
	prog.Close()
	if errors.Is(err, deploy.ErrNotConfirmed) {
		return usageErrorf("reset not confirmed")
	}
	if res == nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "reset %s (teardown %s)\n", res.Outcome, res.RunID)
	switch {
	case err != nil:
		return err
	case res.Outcome == state.OutcomeCancelled:
		return withCode(ExitInterrupted, fmt.Errorf("teardown %s interrupted", res.RunID))
	case res.Err != nil:
		return withCode(ExitPhaseFailed, fmt.Errorf("teardown %s: %w", res.RunID, res.Err))
	}
	return nil
}

// writeResetPlan lists, in teardown order, what reset does with each node.
func writeResetPlan(w io.Writer, p *deploy.ResetPlanResult) {
	if p.Unfinished != "" {
		fmt.Fprintf(w, "the unfinished run %s would be archived (superseded by the teardown)\n", p.Unfinished)
	}
	n := len(p.Destroys())
	if n == 0 {
		fmt.Fprintln(w, "nothing to destroy: the journal records no node that exists")
	} else {
		fmt.Fprintf(w, "reset would destroy %d node(s), in this order:\n", n)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tACTION\tBUILT BY")
	for _, node := range p.Nodes {
		built := ""
		if node.RunID != "" {
			built = "run " + node.RunID
			if node.State != "succeeded" {
				built += " (" + string(node.State) + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", node.Node, node.Action, built)
	}
	tw.Flush()
}
