package phases

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TestRegistry_Graph_EveryProblemAtOnce: the config's own problems, a
// clash with a plugin, a cycle and an unknown dependency come as one
// *config.Error in line order; a factory that panics on the broken config
// stands in the graph (a command phase depending on it is not "unknown"),
// and a command phase with problems of its own still counts as known.
func TestRegistry_Graph_EveryProblemAtOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k0rdent.yaml")
	if err := os.WriteFile(path, []byte(`azure:
  location: westus2
cluster:
  workers:
    count: -1
phases:
  - name: vpn
    command: ["true"]
  - name: a
    command: ["true"]
    depends_on: [b, fragile]
  - name: b
    command: ["true"]
    depends_on: [a, c, nosuch]
  - name: c
    command: ["true"]
    env: {K0RDENT_X: "1"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Check(path, config.RunFlags{})
	var known *config.Error
	if cfg == nil || !errors.As(err, &known) {
		t.Fatalf("config.Check = %v, %v; want the config and its problems", cfg, err)
	}
	r := NewRegistry()
	r.Register("vpn", one("vpn"))
	r.RegisterPlugin(Plugin{Name: "fragile", DependsOn: []string{"vpn"}, Factory: func(bc BuildContext) ([]workflow.Phase, error) {
		if bc.Config.Cluster.Workers.Count < 0 {
			panic("negative count")
		}
		return []workflow.Phase{testPhase{name: "fragile"}}, nil
	}})

	g, err := r.Graph(cfg, RunFlags{}, Dirs{}, known)
	if g != nil || err == nil {
		t.Fatalf("Graph = %v, %v; want no graph and every problem", g, err)
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Graph error %v is not a *config.Error", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.String())
	}
	want := []string{
		path + ":5: cluster.workers.count: must be 0 or more, got -1",
		path + `:7: phases[0].name: "vpn" clashes with the registered phase "vpn" (rename the command phase, e.g. "my-vpn"; registered: fragile, vpn)`,
		path + ":11: phases[1].depends_on[0]: cycle: a -> b -> a (each phase depends on the next: remove one of these dependencies)",
		path + `:14: phases[2].depends_on[2]: unknown phase "nosuch" (fix the name or remove it; known: a, b, c, fragile, vpn)`,
		path + ":17: phases[3].env.K0RDENT_X: K0RDENT_ variables are set by k0rdent itself (rename K0RDENT_X)",
	}
	if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
		t.Errorf("problems:\n got: %s\nwant: %s", g, w)
	}
	if errors.Unwrap(err) != nil || strings.Contains(err.Error(), "panic") {
		t.Errorf("the factory's panic on a broken config was reported: %v", err)
	}

	// The same registry and a config without problems: a graph.
	if err := os.WriteFile(path, []byte("azure:\n  location: westus2\nphases:\n  - name: a\n    command: [\"true\"]\n    depends_on: [fragile]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err = config.Check(path, config.RunFlags{})
	if err != nil {
		t.Fatal(err)
	}
	g, err = r.Graph(cfg, RunFlags{}, Dirs{}, nil)
	if err != nil || g.Len() != 3 {
		t.Fatalf("Graph = %v, %v; want a graph of a, fragile and vpn", g, err)
	}
}
