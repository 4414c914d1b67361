package cli_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/phases"
)

// exampleConfigs are every example config of the repository: examples/*.yaml
// and examples/demo/k0rdent.yaml, by path relative to the repository root.
func exampleConfigs(t *testing.T) map[string][]byte {
	t.Helper()
	root := filepath.Join("..", "..", "..")
	paths, err := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, filepath.Join(root, "examples", "demo", "k0rdent.yaml"))
	out := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = data
	}
	if len(out) < 7 {
		t.Fatalf("found only %d example configs: %v", len(out), slices.Sorted(maps.Keys(out)))
	}
	return out
}

// blankValue finds what a plan line must never show: a value left blank
// ("domain )", "template ,") or a count with the wrong plural.
var blankValue = regexp.MustCompile(`\w \)|\w ,|\b1 (controllers|workers|hosts|documents|VMs|VM peers|retries)\b|<nil>`)

// TestExamples_Plan: every example config validates and plans with the
// built-in phases (run --plan, text and JSON); the plan has its header and
// legend, no blank values and right plurals, and what the examples promise
// about their graph holds.
func TestExamples_Plan(t *testing.T) {
	for name, data := range exampleConfigs(t) {
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			e := newEnv(t, string(data))
			e.registry = phases.Builtin()
			e.mustRun(0, "validate")
			r := e.mustRun(0, "run", "--plan")
			for _, want := range []string{"Plan: new run", "Legend: * on the critical path", "ACTION", "critical path"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("plan lacks %q:\n%s", want, r.stdout)
				}
			}
			if m := blankValue.FindAllString(r.stdout, -1); len(m) > 0 {
				t.Errorf("plan shows %q:\n%s", m, r.stdout)
			}
			var plan struct {
				Nodes []struct {
					Name          string   `json:"name"`
					DependsOn     []string `json:"depends_on"`
					Action        string   `json:"action"`
					Preconditions []string `json:"preconditions"`
				} `json:"nodes"`
			}
			r = e.mustRun(0, "run", "--plan", "-o", "json")
			if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
				t.Fatalf("plan -o json: %v\n%s", err, r.stdout)
			}
			deps := map[string][]string{}
			checks := map[string][]string{}
			for _, n := range plan.Nodes {
				deps[n.Name], checks[n.Name] = n.DependsOn, n.Preconditions
			}
			// The embedded Azure module: nothing starts without a login.
			if !slices.Contains(checks["terraform"], phases.TerraformCheckAzureLogin) {
				t.Errorf("terraform's checks %q lack %q", checks["terraform"], phases.TerraformCheckAzureLogin)
			}
			// Inputs flow from direct dependencies only: a command phase
			// that reads K0RDENT_INPUT_<X>_… lists x in depends_on.
			reInput := regexp.MustCompile(`K0RDENT_INPUT_([A-Z0-9]+)_`)
			cfg := string(data)
			for _, n := range plan.Nodes {
				for _, m := range reInput.FindAllStringSubmatch(commandOf(cfg, n.Name), -1) {
					dep := strings.ToLower(m[1])
					if !slices.Contains(n.DependsOn, dep) {
						t.Errorf("%s reads K0RDENT_INPUT_%s_… but does not depend on %s (depends on %q): it would be empty", n.Name, m[1], dep, n.DependsOn)
					}
				}
			}
			if name == filepath.Join("examples", "with-command-phases.yaml") && !slices.Contains(deps["smoke-test"], "check-kubectl") {
				t.Errorf("smoke-test does not wait for its pre-flight check: depends on %q", deps["smoke-test"])
			}
		})
	}
}

// commandOf is the command: line of the command phase name in a config
// (the examples write each on one line).
func commandOf(cfg, name string) string {
	_, rest, ok := strings.Cut(cfg, "- name: "+name+"\n")
	if !ok {
		return ""
	}
	rest, _, _ = strings.Cut(rest, "- name:")
	for _, l := range strings.Split(rest, "\n") {
		if c, ok := strings.CutPrefix(strings.TrimSpace(l), "command:"); ok {
			return c
		}
	}
	return ""
}

// TestExamples_DemoGraph runs examples/demo's command phases for real, as
// `make demo` does (--only fetch,lint,render,package), and checks the
// values that flow between them: fetch's version reaches package through
// K0RDENT_INPUT_FETCH_VERSION (package lists fetch among its
// dependencies), render's manifest through K0RDENT_INPUT_RENDER_MANIFEST.
func TestExamples_DemoGraph(t *testing.T) {
	data := exampleConfigs(t)[filepath.Join("examples", "demo", "k0rdent.yaml")]
	e := newEnv(t, string(data))
	e.registry = phases.Builtin()
	sel := "fetch,lint,render,package"
	plan := e.mustRun(0, "run", "--plan", "--only", sel)
	if !strings.Contains(plan.stdout, "left out by the selection (7): wireguard, terraform, vpn, k0s, k0rdent, azure-children, kof") {
		t.Errorf("the built-in phases are not collapsed into one line:\n%s", plan.stdout)
	}
	if !strings.Contains(plan.stdout, "4 of 11 phases selected, in 3 waves: 4 run") {
		t.Errorf("plan summary:\n%s", plan.stdout)
	}
	e.mustRun(0, "run", "--only", sel, "--yes")
	rf := e.current()
	want := map[string]map[string]string{
		"fetch":   {"version": "v1.4.0"},
		"render":  {"manifest": "rendered.yaml"},
		"package": {"artifact": "app-v1.4.0.tgz", "contents": "rendered.yaml"},
	}
	for node, outs := range want {
		st := rf.Nodes[node]
		if st.State != "succeeded" {
			t.Errorf("%s: %s, want succeeded", node, st.State)
		}
		for k, v := range outs {
			if got := st.Outputs[k]; got != v {
				t.Errorf("%s output %s = %q, want %q (all: %v)", node, k, got, v, st.Outputs)
			}
		}
	}
	for _, f := range []string{"version.txt", "rendered.txt"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("the demo's phases run in the config's directory: %v", err)
		}
	}
}

// TestREADME_GraphDrawing: the README's drawing of the built-in graph is
// the one workflow.Graph.WriteDrawing renders from the registered phases
// (kof after azure-children, as `k0rdent phases` says). Rewrite it with
// go test ./cmd/k0rdent/cli -run TestREADME_GraphDrawing -update.
func TestREADME_GraphDrawing(t *testing.T) {
	const begin, end = "<!-- graph: rendered from the code by TestREADME_GraphDrawing -->\n```\n", "```\n"
	cfg, err := config.Parse(config.Templates()["minimal"], "k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg := phases.Builtin()
	g, err := reg.Graph(cfg, phases.RunFlags{}, phases.Dirs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	notes := map[string]string{}
	for _, in := range reg.List(nil) {
		if in.EnabledBy != "" {
			notes[in.Name] = "optional: " + in.EnabledBy
		}
	}
	var b strings.Builder
	if err := g.WriteDrawing(&b, notes); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "..", "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	i := strings.Index(readme, begin)
	if i < 0 {
		t.Fatalf("README.md lacks the marker %q", begin)
	}
	i += len(begin)
	j := strings.Index(readme[i:], end)
	if j < 0 {
		t.Fatal("README.md: the graph block is not closed")
	}
	if got := readme[i : i+j]; got != b.String() {
		if *update {
			if err := os.WriteFile(path, []byte(readme[:i]+b.String()+readme[i+j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("README.md's graph drawing differs from the code's (rewrite it with -update):\n got:\n%s\nwant:\n%s", got, b.String())
	}
}
