package cli_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TestRun_ConfigErrorPrintsEveryJoinedError: Registry.Build joins the
// config problems of one plugin with another plugin's own error; both are
// printed.
func TestRun_ConfigErrorPrintsEveryJoinedError(t *testing.T) {
	e := newEnv(t, baseConfig)
	e.registry = phases.NewRegistry()
	e.registry.RegisterPlugin(phases.Plugin{Name: "alpha", Description: "config problems",
		Factory: func(phases.BuildContext) ([]workflow.Phase, error) {
			return nil, &config.Error{Problems: []config.Problem{
				{File: "k0rdent.yaml", Line: 2, Path: "alpha.x", Msg: "first problem"},
				{File: "k0rdent.yaml", Line: 3, Path: "alpha.y", Msg: "second problem"},
			}}
		}})
	e.registry.RegisterPlugin(phases.Plugin{Name: "beta", Description: "its own error",
		Factory: func(phases.BuildContext) ([]workflow.Phase, error) {
			return nil, errors.New("cannot read the beta template")
		}})
	r := e.mustRun(cli.ExitUsage, "run")
	for _, want := range []string{"invalid config (3 problems)", "alpha.x: first problem", "alpha.y: second problem",
		"phase plugin beta: cannot read the beta template"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}
