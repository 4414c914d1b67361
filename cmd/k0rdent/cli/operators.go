package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/state"
)

func (a *app) operatorsCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "operators",
		Usage:     "list the operators: each machine's own WireGuard peer of the VMs",
		ArgsUsage: " ",
		Description: "Every operator machine (or CI runner) reaches the VMs through a tunnel of its own:\n" +
			"its own WireGuard key, kept on that machine (~/.config/k0rdent/<metadata.name>/,\n" +
			"or $K0RDENT_OPERATOR_DIR), and its own address. The first run of an operator\n" +
			"(--operator NAME, default user@host) adds it as a peer of every VM. The list comes\n" +
			"from the run journals; it takes no lock.\n\n" +
			examples(a.Name+" operators", a.Name+" operators -o json", a.Name+" operators remove ci@runner-7"),
		Flags:       withGlobals(outputFlag("text", "json")),
		Subcommands: []*ucli.Command{a.operatorsRemoveCommand()},
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return usageErrorf("operators: unexpected argument %q (did you mean `%s operators remove %s`?)", c.Args().First(), a.Name, c.Args().First())
			}
			g, out, err := readCommon(c, "text", "json")
			if err != nil {
				return err
			}
			ops, err := a.deployer(g).Operators()
			if err != nil {
				return err
			}
			if out == "json" {
				return writeJSON(a.Stdout, operatorsJSON(ops, g.Operator))
			}
			writeOperators(a.Stdout, ops, g.Operator)
			return nil
		},
	}
}

// operatorJSON is one operator in `operators -o json`; field names are
// stable.
type operatorJSON struct {
	Name          string     `json:"name"`
	Address       string     `json:"address"`
	PublicKey     string     `json:"public_key"`
	AddedByRun    string     `json:"added_by_run,omitempty"`
	Added         *time.Time `json:"added,omitempty"`
	LastSeenRun   string     `json:"last_seen_run,omitempty"`
	LastHandshake *time.Time `json:"last_handshake,omitempty"`
	Legacy        bool       `json:"legacy,omitempty"`
	You           bool       `json:"you"`
}

type operatorsView struct {
	Operators []operatorJSON `json:"operators"`
}

func operatorsJSON(ops []state.Operator, me string) operatorsView {
	v := operatorsView{Operators: []operatorJSON{}}
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC()
		return &t
	}
	for _, o := range ops {
		v.Operators = append(v.Operators, operatorJSON{Name: o.Name, Address: o.Address, PublicKey: o.PublicKey, AddedByRun: o.AddedBy,
			Added: opt(o.Added), LastSeenRun: o.LastSeenRun, LastHandshake: opt(o.LastHandshake), Legacy: o.Legacy, You: o.Name == me})
	}
	return v
}

func writeOperators(w io.Writer, ops []state.Operator, me string) {
	if len(ops) == 0 {
		fmt.Fprintln(w, "no operators yet (the first run's vpn node records its operator)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tPUBLIC KEY\tADDED BY RUN\tLAST HANDSHAKE")
	for _, o := range ops {
		name := o.Name
		if o.Name == me {
			name += " (you)"
		}
		added, hs := o.AddedBy, "-"
		if o.Legacy {
			added = "(from before operators were recorded)"
		}
		if !o.LastHandshake.IsZero() {
			hs = o.LastHandshake.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, o.Address, o.PublicKey, added, hs)
	}
	tw.Flush()
}

func (a *app) operatorsRemoveCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "remove",
		Usage:     "remove an operator's WireGuard peer from every VM",
		ArgsUsage: "NAME",
		Description: "Takes the operator's peer off every VM over SSH to their public addresses with the\n" +
			"deployment's SSH key (the device and its wg-quick file), then journals it in the\n" +
			"current run, under the state lock. Its tunnel stops working. Without --force it\n" +
			"refuses the last operator and yourself.\n\n" +
			examples(a.Name+" operators remove ci@runner-7", a.Name+" operators remove alice@laptop --force"),
		Flags: withGlobals(
			&ucli.BoolFlag{Name: "force", Usage: "remove the last operator, or yourself, too"},
			outputFlag("text", "json"),
		),
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("operators remove: want one operator NAME (list them with: %s operators)", a.Name)
			}
			g, out, err := readCommon(c, "text", "json")
			if err != nil {
				return err
			}
			return a.doRemoveOperator(c.Context, g, c.Args().First(), c.Bool("force"), out)
		},
	}
}

func (a *app) doRemoveOperator(ctx context.Context, g globalOptions, name string, force bool, out string) error {
	res, err := a.deployer(g).RemoveOperator(ctx, name, force)
	if err != nil {
		return err
	}
	if out == "json" {
		return writeJSON(a.Stdout, struct {
			Removed string   `json:"removed"`
			Address string   `json:"address"`
			VMs     []string `json:"vms"`
			RunID   string   `json:"run_id"`
		}{res.Operator.Name, res.Operator.Address, append([]string{}, res.VMs...), res.RunID})
	}
	vms := "no VM had it any more"
	if len(res.VMs) > 0 {
		vms = "from " + strings.Join(res.VMs, ", ")
	}
	fmt.Fprintf(a.Stdout, "removed operator %s (%s) %s; journalled in run %s\n", res.Operator.Name, res.Operator.Address, vms, res.RunID)
	return nil
}
