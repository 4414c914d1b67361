package cli

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/k0rdent/k0rdent-deploy/deploy"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// plan prints what `run` would do (deploy.Plan), without the lock and
// without changing anything.
func (a *app) plan(d *deploy.Deployer, o runOptions, ro deploy.RunOptions) error {
	p, err := d.Plan(ro)
	if err != nil {
		return err
	}
	switch o.Output {
	case "json":
		if o.Diff {
			return writeJSON(a.Stdout, p.Diff)
		}
		var b bytes.Buffer
		if err := p.Plan.WriteJSON(&b); err != nil {
			return err
		}
		return writeJSONObject(a.Stdout, b.Bytes())
	case "dot":
		return p.Plan.WriteDOT(a.Stdout)
	case "mermaid":
		return p.Plan.WriteMermaid(a.Stdout)
	}
	if p.Legacy != "" {
		fmt.Fprint(a.Stdout, p.Legacy)
	}
	if err := p.Plan.WriteTextWith(a.Stdout, workflow.TextOptions{Title: p.Title}); err != nil {
		return err
	}
	if o.Diff {
		writeDiff(a.Stdout, p.Diff)
	}
	return nil
}

// writeDiff lists the config keys changed since the last successful run
// and the phases each one feeds.
func writeDiff(w io.Writer, d *deploy.Diff) {
	switch {
	case d.Since == "":
		fmt.Fprintln(w, "\nNo successful run yet: nothing to compare the config with.")
		return
	case d.Unknown != "":
		fmt.Fprintf(w, "\nChanged since run %s: unknown (%s).\n", d.Since, d.Unknown)
		return
	case len(d.Keys) == 0:
		fmt.Fprintf(w, "\nNo config key changed since run %s.\n", d.Since)
		return
	}
	fmt.Fprintf(w, "\nChanged since run %s:\n", d.Since)
	for _, k := range d.Keys {
		feeds := "no phase reads it"
		if len(k.Nodes) > 0 {
			feeds = strings.Join(k.Nodes, ", ")
		}
		fmt.Fprintf(w, "  %s → %s\n", k.Key, feeds)
	}
}
