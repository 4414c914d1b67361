package cli_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// kofStandIn is the kof node with its enablement and its outputs but
// without its work: the real kof phase needs a Kubernetes API server and
// charts (phases/kof_test.go runs it against one). The enablement
// (--with-kof or kof.enabled) and the skip reason are the real phase's.
type kofStandIn struct{ p *phases.KOF }

func (k kofStandIn) Name() string                    { return "kof" }
func (k kofStandIn) DependsOn() []string             { return []string{"k0rdent"} }
func (k kofStandIn) Enabled() (bool, string)         { return k.p.Enabled() }
func (k kofStandIn) Describe(*workflow.Env) []string { return k.p.Describe(nil) }
func (k kofStandIn) Run(ctx context.Context, env *workflow.Env) error {
	env.SetOutput(phases.KOFOutputMothership, "kof/kof-mothership")
	env.SetOutput(phases.KOFOutputStorageClass, "managed-csi")
	return os.WriteFile("kof.ran", nil, 0o644)
}

type k0rdentStandIn struct{}

func (k0rdentStandIn) Name() string        { return "k0rdent" }
func (k0rdentStandIn) DependsOn() []string { return nil }
func (k0rdentStandIn) Run(ctx context.Context, env *workflow.Env) error {
	return nil
}

func kofRegistry() *phases.Registry {
	reg := phases.NewRegistry()
	reg.RegisterPlugin(phases.Plugin{Name: "k0rdent", Factory: func(phases.BuildContext) ([]workflow.Phase, error) {
		return []workflow.Phase{k0rdentStandIn{}}, nil
	}})
	reg.RegisterPlugin(phases.Plugin{Name: "kof", EnabledBy: "--with-kof", Factory: func(bc phases.BuildContext) ([]workflow.Phase, error) {
		return []workflow.Phase{kofStandIn{phases.NewKOF(bc)}}, nil
	}})
	return reg
}

// TestRun_KOFThenWithout: a run with --with-kof runs kof; a later run
// without it plans and records kof skipped with its reason, prints no
// warning, and runtime.yaml carries nothing of the earlier run's KOF.
func TestRun_KOFThenWithout(t *testing.T) {
	e := newEnv(t, baseConfig+"kof:\n  regional:\n    enabled: false\n")
	e.registry = kofRegistry()

	r := e.mustRun(0, "run", "--with-kof")
	if _, err := os.Stat("kof.ran"); err != nil {
		t.Fatalf("kof did not run with --with-kof:\n%s", r)
	}
	rt, _ := os.ReadFile("state/runtime.yaml")
	if !regexp.MustCompile(`with_kof: true`).Match(rt) {
		t.Errorf("runtime.yaml after --with-kof lacks with_kof: true:\n%s", rt)
	}
	os.Remove("kof.ran")

	plan := e.mustRun(0, "run", "--plan")
	if !strings.Contains(plan.stdout, "--with-kof not set and kof.enabled is false") {
		t.Errorf("the plan does not show kof's skip decision:\n%s", plan.stdout)
	}

	r = e.mustRun(0, "run")
	if _, err := os.Stat("kof.ran"); err == nil {
		t.Error("kof ran without --with-kof")
	}
	if !regexp.MustCompile(`(?m)kof skipped: disabled: --with-kof not set and kof.enabled is false$`).MatchString(r.stdout) {
		t.Errorf("the run does not report kof skipped with its reason:\n%s", r)
	}
	if r.stderr != "" {
		t.Errorf("a run without --with-kof printed to stderr (no warning wanted):\n%s", r.stderr)
	}
	rf := e.current()
	if st := rf.Nodes["kof"]; st.State != workflow.Skipped {
		t.Errorf("journal: kof is %s, want skipped", st.State)
	}
	rt, _ = os.ReadFile("state/runtime.yaml")
	if rest := strings.Replace(string(rt), "with_kof: false", "", 1); strings.Contains(rest, "kof") || strings.Contains(rest, "managed-csi") {
		t.Errorf("runtime.yaml carries KOF state from the earlier run:\n%s", rt)
	}
}
