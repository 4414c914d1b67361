package cli

import (
	"bytes"
	"fmt"

	"github.com/k0rdent/k0rdent-deploy/deploy"
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
	fmt.Fprintln(a.Stdout, p.Title)
	fmt.Fprintln(a.Stdout)
	return p.Plan.WriteText(a.Stdout)
}
