package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/config"
)

// phasesOptions are the flags of `k0rdent phases`.
type phasesOptions struct {
	globalOptions
	Output string
}

func (a *app) phasesCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "phases",
		Usage:     "list the phases: plugins compiled into this binary and command phases of the config",
		ArgsUsage: " ",
		Description: "Lists every phase a run knows, with its kind (plugin or command), what it\n" +
			"depends on, what enables it and its description. Without a readable config\n" +
			"only the plugins are listed.\n\n" +
			examples(a.Name+" phases", a.Name+" phases -o json", a.Name+" --config prod.yaml phases"),
		Flags: withGlobals(outputFlag("text", "json")),
		Action: func(c *ucli.Context) error {
			g, out, err := readCommon(c, "text", "json")
			if err != nil {
				return err
			}
			return a.doPhases(phasesOptions{globalOptions: g, Output: out})
		},
	}
}

// phaseJSON is one phase in `phases -o json`.
type phaseJSON struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	DependsOn   []string `json:"depends_on"`
	EnabledBy   string   `json:"enabled_by,omitempty"`
	Description string   `json:"description,omitempty"`
}

func (a *app) doPhases(o phasesOptions) error {
	cfg, cfgErr := config.Load(o.ConfigPath)
	if cfgErr != nil {
		cfg = nil
	}
	infos := a.Registry.List(cfg)
	if o.Output == "json" {
		out := make([]phaseJSON, 0, len(infos))
		for _, in := range infos {
			deps := in.DependsOn
			if deps == nil {
				deps = []string{}
			}
			out = append(out, phaseJSON{Name: in.Name, Kind: in.Kind, DependsOn: deps, EnabledBy: in.EnabledBy, Description: in.Description})
		}
		return writeJSON(a.Stdout, map[string]any{"phases": out})
	}
	if cfgErr != nil {
		fmt.Fprintf(a.Stderr, "note: command phases not listed: %v\n", firstLine(cfgErr.Error()))
	}
	if len(infos) == 0 {
		fmt.Fprintln(a.Stdout, "no phases: this binary registers no plugins and the config declares no command phases")
		return nil
	}
	tw := tabwriter.NewWriter(a.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tKIND\tDEPENDS ON\tENABLED BY\tDESCRIPTION")
	for _, in := range infos {
		deps, by := strings.Join(in.DependsOn, ","), in.EnabledBy
		if deps == "" {
			deps = "-"
		}
		if by == "" {
			by = "always"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", in.Name, in.Kind, deps, by, in.Description)
	}
	return tw.Flush()
}
