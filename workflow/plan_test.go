package workflow

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
)

var update = flag.Bool("update", os.Getenv("K0RDENT_UPDATE_GOLDEN") != "", "rewrite the golden files under testdata/ (or K0RDENT_UPDATE_GOLDEN=1, as make golden sets)")

// describePhase adds only Describe to a fakePhase.
type describePhase struct{ *fakePhase }

func (p describePhase) Describe(env *Env) []string { return p.describe }

// planFixture is a k0rdent-like graph with every plan action, and the
// prior states of a failed earlier run. Its phases fail the test if the
// planner runs, verifies or checks anything.
func planFixture(t *testing.T) (*Graph, map[string]NodeStatus, map[string]time.Duration) {
	t.Helper()
	never := func(ctx context.Context, env *Env) error {
		t.Errorf("%s: Run or Verify called while planning", env.Node)
		return nil
	}
	check := func(name string) Check {
		return Check{Name: name, Check: func(ctx context.Context, env *Env) error {
			t.Errorf("%s: check %s called while planning", env.Node, name)
			return nil
		}}
	}
	mk := func(name string, deps ...string) *fakePhase {
		f := ph(name, deps...)
		f.run, f.verify = never, never
		return f
	}
	wg := mk("wireguard")
	wg.describe = []string{"keys for 3 peers (kept if present)", "address plan 10.200.0.0/24, hub 10.200.0.1"}
	wg.checks = []Check{check("wireguard-tools")}
	tf := mk("terraform", "wireguard")
	tf.describe = []string{"apply the embedded Azure module: 3 VMs in westeurope"}
	vpn := mk("vpn", "terraform", "wireguard")
	vpn.volatile = true
	vpn.checks = []Check{check("terraform-outputs"), check("wg-userspace")}
	k0s := mk("k0s", "vpn")
	k0s.describe = []string{"k0sctl apply: 1 controller, 2 workers, k0s v1.33.1+k0s.0"}
	k0rdent := mk("k0rdent", "k0s")
	k0rdent.describe = []string{"helm upgrade --install kcm oci://ghcr.io/k0rdent/kcm/charts/kcm " +
		"--version 1.2.0 --namespace kcm-system --create-namespace --wait (a long line, cut at 100 columns)"}
	kof := mk("kof", "k0rdent")
	kof.enabled = func() (bool, string) { return false, "--with-kof not set" }
	eu := mk("azure-children/eu", "k0rdent")
	us := mk("azure-children/us", "k0rdent")
	g := mustGraph(t, fullPhase{wg}, describePhase{tf}, fullPhase{vpn}, fullPhase{k0s}, describePhase{k0rdent},
		enablerPhase{kof}, eu, us)
	prior := map[string]NodeStatus{
		"wireguard": done("r1", 1), "terraform": done("r1", 1), "vpn": done("r1", 1), "k0s": done("r1", 1),
		"k0rdent": {State: Failed, Attempt: 1, Error: "timed out"}, "azure-children/eu": {State: Blocked},
		"kof": {State: Skipped, Reason: "disabled: --with-kof not set"},
	}
	history := map[string]time.Duration{
		"wireguard": 2 * time.Second, "terraform": 190 * time.Second, "vpn": 4 * time.Second, "k0s": 150 * time.Second,
		"k0rdent": 4 * time.Minute, "azure-children/eu": 6 * time.Minute, "kof": 8 * time.Minute,
	}
	return g, prior, history
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file: %v (run `go test ./workflow -run Golden -update` to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (-update rewrites it):\ngot\n%s\nwant\n%s", name, got, want)
	}
}

func TestPlan_Golden(t *testing.T) {
	g, prior, history := planFixture(t)
	tests := []struct {
		name string
		opts PlanOptions
	}{
		{"resume", PlanOptions{Prior: prior, History: history, RunID: "r1"}},
		{"fresh", PlanOptions{History: history, RunID: "r2"}},
		{"only", PlanOptions{Prior: prior, History: history, RunID: "r1", Selection: Selection{Only: []string{"k0s", "azure-children/eu"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Plan(g, tt.opts)
			for _, f := range []struct {
				ext   string
				write func(*bytes.Buffer) error
			}{
				{"txt", func(b *bytes.Buffer) error { return p.WriteText(b) }},
				{"json", func(b *bytes.Buffer) error { return p.WriteJSON(b) }},
				{"dot", func(b *bytes.Buffer) error { return p.WriteDOT(b) }},
				{"mmd", func(b *bytes.Buffer) error { return p.WriteMermaid(b) }},
			} {
				var b bytes.Buffer
				if err := f.write(&b); err != nil {
					t.Fatal(err)
				}
				golden(t, "plan-"+tt.name+"."+f.ext, b.Bytes())
				if f.ext == "txt" {
					for _, l := range strings.Split(b.String(), "\n") {
						if n := utf8.RuneCountInString(l); n > TextWidth {
							t.Errorf("line of %d columns: %q", n, l)
						}
					}
				}
			}
		})
	}
}

func TestPlan_Decisions(t *testing.T) {
	g, prior, history := planFixture(t)
	p := Plan(g, PlanOptions{Prior: prior, History: history})
	got := map[string]string{}
	for _, n := range p.Nodes {
		got[n.Name] = string(n.Action) + ": " + n.Reason
	}
	want := map[string]string{
		"wireguard":         "verify then reuse: succeeded in run r1",
		"terraform":         "decided at run time: runs again if wireguard fails Verify; else reuse",
		"vpn":               "run: volatile: re-established on every run",
		"k0s":               "decided at run time: runs again if wireguard fails Verify; else verify then reuse",
		"k0rdent":           "run: resumed: was failed",
		"kof":               "skip: disabled: --with-kof not set",
		"azure-children/eu": "run: resumed: was blocked",
		"azure-children/us": "run: not run before",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got %q, want %q", name, got[name], w)
		}
	}
	if s := strings.Join(p.Critical, ","); s != "vpn,k0rdent,azure-children/eu" || p.CriticalDuration != 604*time.Second {
		t.Errorf("critical path %s (%s), want vpn,k0rdent,azure-children/eu (10m4s)", s, p.CriticalDuration)
	}
}

// TestPlan_MatchesRun runs what was planned (every Verify passing) and
// checks that exactly the nodes planned "run" ran.
func TestPlan_MatchesRun(t *testing.T) {
	g, prior, _ := planFixture(t)
	p := Plan(g, PlanOptions{Prior: prior})
	var tr tracker
	var phases []Phase
	for _, name := range g.Names() {
		orig, _ := g.Phase(name)
		f := tr.phase(name, orig.DependsOn()...)
		f.verify = func(context.Context, *Env) error { return nil }
		switch name {
		case "vpn":
			f.volatile = true
			phases = append(phases, volatilePhase{f})
		case "kof":
			f.enabled = func() (bool, string) { return false, "--with-kof not set" }
			phases = append(phases, enablerPhase{f})
		case "wireguard", "k0s":
			phases = append(phases, verifierPhase{f})
		default:
			phases = append(phases, f)
		}
	}
	if _, err, _ := runGraph(t, context.Background(), prior, nil, phases...); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range g.TopoOrder() {
		for _, pn := range p.Nodes {
			if pn.Name == n && pn.Action == ActionRun {
				want = append(want, n)
			}
		}
	}
	ran := strings.Split(tr.ranList(), ",")
	if strings.Join(sorted(ran), ",") != strings.Join(sorted(want), ",") {
		t.Errorf("ran %v, planned to run %v", ran, want)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestPlan_DOTRendersWithGraphviz(t *testing.T) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		testenv.Missing(t, "graphviz `dot` is not installed (apt-get install graphviz); CI installs it")
	}
	g, prior, history := planFixture(t)
	var b bytes.Buffer
	if err := Plan(g, PlanOptions{Prior: prior, History: history}).WriteDOT(&b); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dot, "-Tsvg")
	cmd.Stdin = &b
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("dot -Tsvg: %v: %s", err, stderr.String())
	}
	if !bytes.Contains(out, []byte("<svg")) || !bytes.Contains(out, []byte("azure&#45;children/eu")) {
		t.Errorf("dot output is not an SVG of the plan:\n%.300s", out)
	}
}
