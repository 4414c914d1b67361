package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/phases"
)

// validateCommand checks the config the way `run` does before anything
// else (a.loadGraph: decode, validate for this run's flags, build the
// phases, build the graph) and reads or writes no state: exit 0 and a
// one-line summary, or exit 2 with every problem found as
// file:line: field: problem (fix).
func (a *app) validateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "validate",
		Usage:     "check the config (and the phase graph it makes) without touching the state",
		ArgsUsage: " ",
		Description: "Reports the problems of the config as `run` and `run --plan` would before they\n" +
			"start, and exits 2 if there is one. --with-kof and --with-azure-children validate the\n" +
			"sections they turn on, as for run.\n\n" +
			examples(a.Name+" validate", a.Name+" validate --with-kof", a.Name+" --config prod.yaml validate", a.Name+" validate -o json"),
		Flags: withGlobals(append(a.componentFlags(func(c phases.Component) string { return "validate as for run --" + c.Flag }),
			outputFlag("text", "json"))...),
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return usageErrorf("validate takes no arguments, got %q (see %s validate --help)", c.Args().First(), a.Name)
			}
			g, out, err := readCommon(c, "text", "json")
			if err != nil {
				return err
			}
			lg, err := a.loadGraph(g, a.readComponents(c))
			if err != nil {
				return err // under -o json: the error document, each problem with its place and fix
			}
			if out == "json" {
				return writeJSON(a.Stdout, validJSON{Config: g.ConfigPath, Valid: true, Phases: lg.graph.TopoOrder()})
			}
			fmt.Fprintf(a.Stdout, "%s: valid (%s)\n", g.ConfigPath, plural(lg.graph.Len(), "phase"))
			return nil
		},
	}
}

// validJSON is `validate -o json` for a valid config; an invalid one is
// the error document on stderr (exit 2).
type validJSON struct {
	Config string   `json:"config"`
	Valid  bool     `json:"valid"`
	Phases []string `json:"phases"` // in dependency order
}
