package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/deploy"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
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
	Output      string
}

func (a *app) resetCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "reset",
		Usage:     "tear the deployment down: Destroy every phase in reverse dependency order",
		ArgsUsage: " ",
		Description: "Calls Destroy of every node the journal says exists (it ran and was not torn\n" +
			"down since), dependents first, with the outputs each node last recorded. Nodes\n" +
			"that never ran are left alone. --plan lists what would be destroyed, node by\n" +
			"node; on a terminal reset shows the same list and asks; elsewhere pass --yes.\n" +
			"-o json never asks: it needs --plan or --yes, and prints the plan or the\n" +
			"teardown's outcome as one JSON document.\n\n" +
			examples(a.Name+" reset --plan", a.Name+" reset", a.Name+" reset --yes --with-kof", a.Name+" reset --plan -o json", a.Name+" reset --yes -o json"),
		Flags: withGlobals(slices.Concat(
			[]ucli.Flag{
				&ucli.BoolFlag{Name: "plan", Usage: "list what would be destroyed, node by node, then stop (changes nothing)"},
				&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: yesUsage},
				outputFlag("text", "json"),
			},
			a.componentFlags(phases.Component.ResetHelp),
			[]ucli.Flag{&ucli.IntFlag{Name: "parallelism", Aliases: []string{"p"}, Value: defaultParallelism, Usage: "destroy at most `N` phases at once"}},
		)...),
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			g, out, err := readCommon(c, "text", "json")
			if err != nil {
				return err
			}
			o := resetOptions{globalOptions: g, Plan: c.Bool("plan"), Yes: c.Bool("yes"), Components: a.readComponents(c),
				Parallelism: c.Int("parallelism"), Output: out}
			if out == "json" && !o.Plan && !o.Yes {
				// A prompt would mix with the document, and a script
				// cannot answer it: decide on the command line.
				return usageErrorf("reset -o json does not ask: pass --yes to destroy, or --plan to see what would be destroyed")
			}
			return a.doReset(c.Context, o)
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
		if o.Output == "json" {
			return writeJSON(a.Stdout, newResetPlanJSON(p))
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
	progOut := a.Stdout
	if o.Output == "json" {
		progOut = io.Discard // stdout is the one document written at the end
	}
	prog := newProgress(progOut, a.progressOptions(false))
	defer prog.Close()
	ro.Event = prog.Event
	var abort func(string)
	ro.Abort = func(f func(string)) { abort = f }
	ro.Started = func(s deploy.Started) {
		if o.Output != "json" {
			a.started(s, "teardown")
		}
	}
	first := func(sig os.Signal) {
		prog.Note(cancellingNote(sig, prog.Running(), workflow.DefaultGracePeriod))
	}
	ctx, stop := interruptContext(ctx, first, func(sig os.Signal) {
		if abort != nil {
			abort("interrupted twice (" + sig.String() + ")")
		}
		prog.Close()
		a.exitInterrupted(fmt.Errorf("interrupted twice (%s): teardown journalled cancelled; finish it with: %s",
			sig, a.commandLine(o.globalOptions, "reset", o.Components)))
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
	if o.Output == "json" {
		if werr := writeJSON(a.Stdout, newResetJSON(res)); werr != nil && err == nil {
			err = werr
		}
	} else {
		fmt.Fprintf(a.Stdout, "reset %s (teardown %s)\n", res.Outcome, res.RunID)
		writeLegacyLeft(a.Stdout, res.LegacyLeft)
	}
	// What finishes an interrupted or failed teardown: reset again (it
	// destroys what the journal says still exists).
	again := a.commandLine(o.globalOptions, "reset", o.Components)
	switch {
	case err != nil:
		return err
	case res.Outcome == state.OutcomeCancelled:
		return withCode(ExitInterrupted, fmt.Errorf("teardown %s interrupted; finish it with: %s", res.RunID, again))
	case res.Err != nil:
		return withCode(ExitPhaseFailed, fmt.Errorf("teardown %s: %w; fix the cause, then finish it with: %s", res.RunID, res.Err, again))
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
		if node.Legacy != "" {
			if built != "" {
				built += "; "
			}
			built += "and the bash tool: " + node.Legacy
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", node.Node, node.Action, built)
	}
	tw.Flush()
}

// writeLegacyLeft lists what the migrated bash tool created that the
// record still lists after a teardown, and how to remove it by hand.
func writeLegacyLeft(w io.Writer, left []state.Leftover) {
	if len(left) == 0 {
		return
	}
	fmt.Fprintln(w, "still there, created by the bash tool (runtime.yaml lists it); remove it by hand:")
	for _, l := range left {
		fmt.Fprintf(w, "  %s\n", l.What)
		if l.Fix != "" {
			fmt.Fprintf(w, "    %s\n", l.Fix)
		}
	}
}

// resetPlanJSON is `reset --plan -o json`.
type resetPlanJSON struct {
	// Unfinished is the deployment run the teardown would archive.
	Unfinished string          `json:"unfinished_run,omitempty"`
	Destroys   []string        `json:"destroys"` // in teardown order
	Nodes      []resetNodeJSON `json:"nodes"`
}

type resetNodeJSON struct {
	Node   string `json:"node"`
	Action string `json:"action"`           // destroy, no teardown, nothing to destroy
	RunID  string `json:"run_id,omitempty"` // the run that built it
	State  string `json:"state,omitempty"`  // its state in that run
	Legacy string `json:"legacy,omitempty"` // what of the bash tool's deployment it is handed to remove
}

func newResetPlanJSON(p *deploy.ResetPlanResult) resetPlanJSON {
	j := resetPlanJSON{Unfinished: p.Unfinished, Destroys: p.Destroys(), Nodes: []resetNodeJSON{}}
	if j.Destroys == nil {
		j.Destroys = []string{}
	}
	for _, n := range p.Nodes {
		j.Nodes = append(j.Nodes, resetNodeJSON{Node: n.Node, Action: n.Action, RunID: n.RunID, State: string(n.State), Legacy: n.Legacy})
	}
	return j
}

// resetJSON is `reset --yes -o json`: the teardown's outcome and what
// happened to each node.
type resetJSON struct {
	RunID   string             `json:"run_id"`
	Outcome string             `json:"outcome"`
	Plan    resetPlanJSON      `json:"plan"`
	Nodes   []resetOutcomeJSON `json:"nodes"`
	// LegacyLeft: what the bash tool created that is still there, and
	// the commands that remove it.
	LegacyLeft []state.Leftover `json:"legacy_left,omitempty"`
}

type resetOutcomeJSON struct {
	Node    string `json:"node"`
	State   string `json:"state"`
	Attempt int    `json:"attempt"`
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
}

func newResetJSON(res *deploy.ResetResult) resetJSON {
	j := resetJSON{RunID: res.RunID, Outcome: outcomeText(res.Outcome), Nodes: []resetOutcomeJSON{}, LegacyLeft: res.LegacyLeft}
	if res.Plan != nil {
		j.Plan = newResetPlanJSON(res.Plan)
	} else {
		j.Plan = resetPlanJSON{Destroys: []string{}, Nodes: []resetNodeJSON{}}
	}
	if res.Result == nil {
		return j
	}
	// In teardown order when the plan gives it, then any other node.
	var order []string
	for _, n := range j.Plan.Nodes {
		order = append(order, n.Node)
	}
	for _, n := range slices.Sorted(maps.Keys(res.Result.Nodes)) {
		if !slices.Contains(order, n) {
			order = append(order, n)
		}
	}
	for _, n := range order {
		st, ok := res.Result.Nodes[n]
		if !ok {
			continue
		}
		j.Nodes = append(j.Nodes, resetOutcomeJSON{Node: n, State: string(st.State), Attempt: st.Attempt, Reason: st.Reason, Error: st.Error})
	}
	return j
}
