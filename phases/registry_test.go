package phases

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// testPhase is a plain node for registry tests; it must never run.
type testPhase struct {
	name string
	deps []string
}

func (p testPhase) Name() string        { return p.name }
func (p testPhase) DependsOn() []string { return p.deps }
func (p testPhase) Run(context.Context, *workflow.Env) error {
	panic("testPhase.Run must not be called by the registry")
}

func one(name string, deps ...string) Factory {
	return func(BuildContext) ([]workflow.Phase, error) {
		return []workflow.Phase{testPhase{name: name, deps: deps}}, nil
	}
}

func parseConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte("azure:\n  location: westus2\n"+yaml), "k0rdent.yaml")
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	return cfg
}

func names(ps []workflow.Phase) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name()
	}
	return out
}

func TestRegistry_RegisterPanics(t *testing.T) {
	tests := []struct {
		name      string
		register  func(r *Registry)
		wantPanic string
	}{
		{name: "EmptyName", register: func(r *Registry) { r.Register("", one("x")) }, wantPanic: "phases: Register with an empty name"},
		{name: "NotKebab", register: func(r *Registry) { r.Register("My_Phase", one("x")) }, wantPanic: `phases: Register "My_Phase": the name must be kebab-case (lower-case letters and digits joined by hyphens)`},
		{name: "Slash", register: func(r *Registry) { r.Register("a/b", one("x")) }, wantPanic: `phases: Register "a/b": the name must be kebab-case (lower-case letters and digits joined by hyphens)`},
		{name: "NilFactory", register: func(r *Registry) { r.Register("x", nil) }, wantPanic: `phases: Register "x": nil factory`},
		{name: "Duplicate", register: func(r *Registry) { r.Register("x", one("x")); r.Register("x", one("x")) }, wantPanic: `phases: Register called twice for "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				got := fmt.Sprint(recover())
				if got != tt.wantPanic {
					t.Errorf("panic = %q, want %q", got, tt.wantPanic)
				}
			}()
			var r Registry // the zero value is usable
			tt.register(&r)
		})
	}
}

func TestRegistry_NamesAndDescribe(t *testing.T) {
	r := NewRegistry()
	r.Register("vpn", one("vpn"))
	r.RegisterPlugin(Plugin{Name: "kof", Description: "KOF observability", DependsOn: []string{"k0rdent"}, EnabledBy: "--with-kof", Factory: one("kof")})
	r.Register("k0s", one("k0s"))

	if got, want := r.Names(), []string{"k0s", "kof", "vpn"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	got, err := r.Describe("kof")
	if err != nil {
		t.Fatalf("Describe(kof): %v", err)
	}
	want := Info{Name: "kof", Kind: KindPlugin, Description: "KOF observability", DependsOn: []string{"k0rdent"}, EnabledBy: "--with-kof"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Describe(kof) = %+v, want %+v", got, want)
	}
	_, err = r.Describe("kov")
	if wantErr := `unknown phase plugin "kov" (registered: k0s, kof, vpn)`; err == nil || err.Error() != wantErr {
		t.Errorf("Describe(kov) error = %v, want %q", err, wantErr)
	}
	_, err = NewRegistry().Describe("kof")
	if wantErr := `unknown phase plugin "kof" (registered: none)`; err == nil || err.Error() != wantErr {
		t.Errorf("Describe on an empty registry: error = %v, want %q", err, wantErr)
	}
}

func TestBuiltin_RegistersNoPlaceholders(t *testing.T) {
	// The built-in phases arrive with issues 5-7, in graph order, and only
	// as real phases: each one's factory builds its node from a default
	// config. (Nothing to update here as they land.)
	graphOrder := []string{"wireguard", "terraform", "vpn", "k0s", "k0rdent", "azure-children", "kof"} // kof after azure-children: its regional cluster uses their credentials
	var names []string
	for _, p := range builtinPlugins() {
		names = append(names, p.Name)
	}
	if len(names) > len(graphOrder) || !slices.Equal(names, graphOrder[:len(names)]) {
		t.Errorf("builtinPlugins() = %q, want a prefix of the graph order %q", names, graphOrder)
	}
	cfg := config.Default()
	cfg.Azure.Location = "westus2"
	dir := t.TempDir()
	for _, p := range builtinPlugins() {
		nodes, err := p.Factory(BuildContext{Config: cfg, Dirs: Dirs{K0s: filepath.Join(dir, K0sWorkDir), Secrets: filepath.Join(dir, "secrets"), Terraform: filepath.Join(dir, "terraform")}})
		if err != nil || len(nodes) == 0 || (nodes[0].Name() != p.Name && !strings.HasPrefix(nodes[0].Name(), p.Name+"/")) {
			t.Errorf("factory of %s = %d nodes, %v; want its node(s)", p.Name, len(nodes), err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("the factories created %d entries in the state directory; factories have no side effects", len(ents))
	}
	if Builtin() == Builtin() {
		t.Error("Builtin() returned the same registry twice; callers extend it, so each call must return a new one")
	}
}

func TestRegistry_Build(t *testing.T) {
	cfg := parseConfig(t, `
phases:
  - name: smoke-test
    command: [sh, -c, "kubectl get nodes"]
    depends_on: [children]
    timeout: 5m
    retries: 2
  - name: dashboards
    command: [./import.sh]
    when: with_kof
  - name: no-azure
    command: ["true"]
    when: with_azure_children
`)
	cfg.KOF.Enabled = true // kof.enabled without the rest KOF needs would not parse
	var seen BuildContext
	r := NewRegistry()
	r.Register("children", func(bc BuildContext) ([]workflow.Phase, error) {
		seen = bc
		return []workflow.Phase{
			testPhase{name: "children"},
			testPhase{name: "children/eu-1", deps: []string{"children"}},
			testPhase{name: "children/us-1", deps: []string{"children"}},
		}, nil
	})
	r.Register("base", one("base"))

	got, err := r.Build(cfg, RunFlags{}, Dirs{})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	want := []string{"base", "children", "children/eu-1", "children/us-1", "smoke-test", "dashboards", "no-azure"}
	if !slices.Equal(names(got), want) {
		t.Errorf("Build names = %q, want %q", names(got), want)
	}
	if seen.Config != cfg || len(seen.Flags) != 0 || seen.Flags.Effective(cfg) != (config.Flags{WithKOF: true}) {
		t.Errorf("factory got %+v, want the config and the flags as given (none), effectively {WithKOF:true} (kof.enabled)", seen)
	}

	smoke := got[4].(*Command)
	if p := smoke.Policy(); p.Timeout.String() != "5m0s" || p.Retries != 2 {
		t.Errorf("smoke-test policy = %+v, want timeout 5m, retries 2", p)
	}
	if deps := smoke.DependsOn(); !slices.Equal(deps, []string{"children"}) {
		t.Errorf("smoke-test DependsOn = %q", deps)
	}
	for _, tt := range []struct {
		node   int
		on     bool
		reason string
	}{
		{node: 4, on: true},
		{node: 5, on: true}, // with_kof: kof.enabled counts as --with-kof
		{node: 6, on: false, reason: "when with_azure_children: --with-azure-children not set and azure_children.enabled is false"},
	} {
		on, reason := got[tt.node].(workflow.Enabler).Enabled()
		if on != tt.on || reason != tt.reason {
			t.Errorf("%s Enabled() = (%v, %q), want (%v, %q)", got[tt.node].Name(), on, reason, tt.on, tt.reason)
		}
	}
}

func TestRegistry_Build_Errors(t *testing.T) {
	cfg := parseConfig(t, `
phases:
  - name: fine
    command: ["true"]
  - name: vpn
    command: ["true"]
`)
	// Parse rejects this too; Build must not rely on it.
	cfg.Phases = append(cfg.Phases,
		config.CommandPhase{Name: "reserved-env", Command: []string{"true"}, Env: map[string]string{"K0RDENT_RUN_ID": "x"}},
		config.CommandPhase{Name: "vpn/extra", Command: []string{"true"}}, // in vpn's name space
	)
	r := NewRegistry()
	r.Register("vpn", one("vpn"))
	r.Register("broken", func(BuildContext) ([]workflow.Phase, error) {
		return nil, errors.New("azure_children.clusters[0]: no location")
	})
	r.Register("greedy", func(BuildContext) ([]workflow.Phase, error) {
		return []workflow.Phase{testPhase{name: "greedy"}, testPhase{name: "k0s"}, nil, testPhase{name: "greedy"}}, nil
	})

	got, err := r.Build(cfg, RunFlags{}, Dirs{})
	if err == nil {
		t.Fatalf("Build = %q, want errors", names(got))
	}
	want := strings.Join([]string{
		"phase plugin broken: azure_children.clusters[0]: no location",
		`phase plugin greedy: node "k0s" is outside the plugin's names (name it "greedy" or "greedy/k0s")`,
		"phase plugin greedy: node 2 is nil (a factory returns only real phases)",
		`phase plugin greedy: node "greedy" returned twice`,
		`k0rdent.yaml:7: phases[1].name: "vpn" clashes with the registered phase "vpn" (rename the command phase, e.g. "my-vpn"; registered: broken, greedy, vpn)`,
		// phases[2] was appended in code: the nearest line is that of phases.
		`k0rdent.yaml:4: phases[2].env.K0RDENT_RUN_ID: K0RDENT_* is reserved for the variables k0rdent sets (rename it)`,
		`k0rdent.yaml:4: phases[3].name: "vpn/extra" clashes with the registered phase "vpn" (rename the command phase, e.g. "my-vpn/extra"; registered: broken, greedy, vpn)`,
	}, "\n")
	if err.Error() != want {
		t.Errorf("Build error:\n got: %s\nwant: %s", err, want)
	}
	var cerr *config.Error
	if !errors.As(err, &cerr) || len(cerr.Problems) != 3 || cerr.Problems[0].Path != "phases[1].name" {
		t.Errorf("errors.As(*config.Error) = %+v, want the three command-phase problems", cerr)
	}
}

func TestRegistry_Build_NoConfig(t *testing.T) {
	_, err := NewRegistry().Build(nil, RunFlags{}, Dirs{})
	if want := "build phases: no config (load k0rdent.yaml first)"; err == nil || err.Error() != want {
		t.Errorf("Build(nil) error = %v, want %q", err, want)
	}
}

func TestRegistry_List(t *testing.T) {
	cfg := parseConfig(t, `
phases:
  - name: smoke-test
    description: list the nodes
    command: [kubectl, get, nodes]
    depends_on: [k0rdent]
  - name: dashboards
    command: [./import.sh]
    when: "!with_kof"
`)
	r := NewRegistry()
	r.RegisterPlugin(Plugin{Name: "kof", Description: "KOF", DependsOn: []string{"k0rdent"}, EnabledBy: "--with-kof", Factory: one("kof")})
	got := r.List(cfg)
	want := []Info{
		{Name: "kof", Kind: KindPlugin, Description: "KOF", DependsOn: []string{"k0rdent"}, EnabledBy: "--with-kof"},
		{Name: "smoke-test", Kind: KindCommand, Description: "list the nodes", DependsOn: []string{"k0rdent"}},
		{Name: "dashboards", Kind: KindCommand, EnabledBy: "when !with_kof"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("List:\n got: %+v\nwant: %+v", got, want)
	}
}

func TestRunFlags_When(t *testing.T) {
	tests := []struct {
		cond    string
		flags   RunFlags
		on      bool
		reason  string
		wantErr bool
	}{
		{cond: "", on: true},
		{cond: " always ", on: true},
		{cond: "never", reason: "when never"},
		{cond: "with_kof", reason: "when with_kof: --with-kof not set and kof.enabled is false"},
		{cond: "!with_kof", flags: RunFlags{config.FlagWithKOF: true}, reason: "when !with_kof: --with-kof given (kof.enabled is false in the config)"},
		{cond: "with_kof", flags: RunFlags{config.FlagWithKOF: false}, reason: "when with_kof: --with-kof=false given (kof.enabled is false too)"},
		{cond: "!with_azure_children", on: true},
		{cond: "with-kof", wantErr: true},
		{cond: "with_kof && with_azure_children", wantErr: true},
	}
	for _, tt := range tests {
		on, reason, err := tt.flags.When(nil, tt.cond)
		if (err != nil) != tt.wantErr || on != tt.on || reason != tt.reason {
			t.Errorf("%+v.When(%q) = (%v, %q, %v), want (%v, %q, error %v)", tt.flags, tt.cond, on, reason, err, tt.on, tt.reason, tt.wantErr)
		}
	}
}

func TestRegistry_Build_RunsInConfigDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "project")
	if err := os.MkdirAll(filepath.Join(dir, "hooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hooks", "where.sh"), []byte("#!/bin/sh\npwd\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "k0rdent.yaml")
	yaml := "azure:\n  location: westus2\nphases:\n  - name: where\n    command: [./hooks/where.sh]\n"
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := NewRegistry().Build(cfg, RunFlags{}, Dirs{})
	if err != nil {
		t.Fatal(err)
	}
	c := nodes[0].(*Command)
	if got, want := c.Describe(nil), []string{"exec ./hooks/where.sh", "in directory " + dir}; !slices.Equal(got, want) {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	var out strings.Builder
	if err := c.Run(context.Background(), &workflow.Env{Output: &out}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := strings.TrimSpace(out.String()); got != dir {
		t.Errorf("the command ran in %s, want the config's directory %s", got, dir)
	}
}
