package cli

import (
	"fmt"

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
		return p.Plan.WriteJSON(a.Stdout)
	case "dot":
		return p.Plan.WriteDOT(a.Stdout)
	case "mermaid":
		return p.Plan.WriteMermaid(a.Stdout)
	}
	if p.Legacy != "" {
		fmt.Fprint(a.Stdout, p.Legacy)
	}
	return p.Plan.WriteTextWith(a.Stdout, workflow.TextOptions{Title: p.Title})
}
