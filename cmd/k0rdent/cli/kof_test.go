package cli_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
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

// kofOnInConfig enables KOF in the config with a regional cluster that would
// warn (placeholder domain and e-mail) and fail validation (no
// azure_children for its credentials) whenever the section is checked.
const kofOnInConfig = baseConfig + `kof:
  enabled: true
  regional:
    domain: kof.example.com
    admin_email: admin@example.com
`

// TestRun_WithKOFFalseOverridesConfig: with kof.enabled: true in the
// config, --with-kof=false (or =0) takes precedence: the plan and the run
// skip kof with a reason naming both the flag and the key, nothing of the
// kof section is validated (no error, no warning on stderr), and the
// journal records with_kof: false. Without the flag the config decides: the
// same section is validated and refused.
func TestRun_WithKOFFalseOverridesConfig(t *testing.T) {
	const reason = "disabled: --with-kof=false given (kof.enabled is true in k0rdent.yaml)"
	for _, flag := range []string{"--with-kof=false", "--with-kof=0"} {
		t.Run(flag, func(t *testing.T) {
			e := newEnv(t, kofOnInConfig)
			e.registry = kofRegistry()

			plan := e.mustRun(0, "run", "--plan", flag)
			if got := strings.Join(strings.Fields(plan.stdout), " "); !strings.Contains(got, "skip kof "+reason) {
				t.Errorf("the plan does not show kof skipped by the flag:\n%s", plan.stdout)
			}
			if plan.stderr != "" {
				t.Errorf("run --plan %s printed to stderr (no warning wanted):\n%s", flag, plan.stderr)
			}

			r := e.mustRun(0, "run", flag)
			if _, err := os.Stat("kof.ran"); err == nil {
				t.Errorf("kof ran with %s", flag)
			}
			if !regexp.MustCompile(`(?m)kof skipped: ` + regexp.QuoteMeta(reason) + `$`).MatchString(r.stdout) {
				t.Errorf("the run does not report kof skipped with the flag's reason:\n%s", r)
			}
			if r.stderr != "" {
				t.Errorf("run %s printed to stderr (no warning wanted):\n%s", flag, r.stderr)
			}
			rf := e.current()
			if st := rf.Nodes["kof"]; st.State != workflow.Skipped || st.Reason != reason {
				t.Errorf("journal: kof is %s (%q), want skipped (%q)", st.State, st.Reason, reason)
			}
			if on, ok := rf.Header.Flags["with_kof"]; !ok || on {
				t.Errorf("journalled flags %v, want with_kof: false (effective for this run)", rf.Header.Flags)
			}

			// No flag: kof.enabled decides, so the section is checked.
			r = e.mustRun(cli.ExitUsage, "run")
			if !strings.Contains(r.stderr, "kof.regional: the KOF regional cluster needs the Azure credentials") {
				t.Errorf("run without the flag did not validate the kof section:\n%s", r)
			}
		})
	}
}

// TestRun_ResumeReplansKOFWhenTheFlagChanges: a run with --with-kof=false
// (kof.enabled: true) fails elsewhere; resuming it without the flag lets
// the config decide, so kof, skipped in the first attempt, is re-planned
// and runs, and the resumed record journals with_kof: true.
func TestRun_ResumeReplansKOFWhenTheFlagChanges(t *testing.T) {
	e := newEnv(t, baseConfig+`kof:
  enabled: true
  regional:
    enabled: false
phases:
  - name: c
    command: [sh, -c, "if [ -e fail-c ]; then exit 3; fi"]
`)
	e.registry = kofRegistry()
	e.write("fail-c", "")
	e.mustRun(cli.ExitPhaseFailed, "run", "--with-kof=false")
	if st := e.current().Nodes["kof"]; st.State != workflow.Skipped {
		t.Fatalf("kof is %s after run --with-kof=false, want skipped", st.State)
	}
	os.Remove("fail-c")

	plan := e.mustRun(0, "run", "--plan")
	if got := strings.Join(strings.Fields(plan.stdout), " "); !strings.Contains(got, "run kof") || !strings.Contains(got, "enabled: was skipped (disabled: --with-kof=false given") {
		t.Errorf("the resume plan does not re-plan kof:\n%s", plan.stdout)
	}
	r := e.mustRun(0, "run", "--resume")
	if _, err := os.Stat("kof.ran"); err != nil {
		t.Errorf("kof did not run on resume without the flag:\n%s", r)
	}
	rf := e.current()
	if rf.Attempt != 2 || rf.Nodes["kof"].State != workflow.Succeeded {
		t.Errorf("attempt %d, kof %s; want 2, succeeded", rf.Attempt, rf.Nodes["kof"].State)
	}
	if !rf.Flags["with_kof"] {
		t.Errorf("flags after the resume %v, want with_kof: true (kof.enabled decides)", rf.Flags)
	}
}

// TestRun_HelpSaysFlagPrecedence: `run --help` says, for both optional
// flags, that a given flag takes precedence over the config's key.
func TestRun_HelpSaysFlagPrecedence(t *testing.T) {
	e := newEnv(t, "")
	r := e.mustRun(0, "run", "--help")
	for flag, key := range map[string]string{"--with-kof": "kof.enabled", "--with-azure-children": "azure_children.enabled"} {
		line := regexp.MustCompile(`(?m)^ +` + flag + `  +.*$`).FindString(r.stdout) // the option line, not the description
		if !strings.Contains(line, "=false") || !strings.Contains(line, "takes precedence over "+key) || !strings.Contains(line, "(default: "+key+")") {
			t.Errorf("help line of %s does not say the precedence over %s: %q", flag, key, line)
		}
	}
}
