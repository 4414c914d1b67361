package workflow

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTopoSort(t *testing.T) {
	for _, tc := range []struct {
		name  string
		names []string
		deps  map[string][]string
		want  []string
	}{
		{"KeepsOrder", []string{"a", "b", "c"}, nil, []string{"a", "b", "c"}},
		{"DependencyFirst", []string{"x", "y", "z"}, map[string][]string{"x": {"y"}}, []string{"y", "x", "z"}},
		{"UnknownIgnored", []string{"a", "b"}, map[string][]string{"a": {"nope"}}, []string{"a", "b"}},
		{"CycleAtTheEnd", []string{"p", "q", "r"}, map[string][]string{"p": {"q"}, "q": {"p"}}, []string{"r", "p", "q"}},
		{"Duplicate", []string{"a", "a", "b"}, map[string][]string{"a": {"b"}}, []string{"b", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := TopoSort(tc.names, func(n string) []string { return tc.deps[n] })
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// One critical path for Plan, the scheduler and recorded runs: the same
// graph and durations give the same path from each.
func TestCriticalPath_OneImplementation(t *testing.T) {
	deps := map[string][]string{"b": {"a"}, "c": {"a"}, "d": {"b", "c"}, "e": {"d"}}
	durs := map[string]time.Duration{"a": 1 * time.Second, "b": 5 * time.Second, "c": 2 * time.Second, "d": 0, "e": time.Second}
	path, total := CriticalPath([]string{"e", "d", "c", "b", "a"}, func(n string) []string { return deps[n] }, durs)
	if want := []string{"a", "b", "e"}; !slices.Equal(path, want) || total != 7*time.Second {
		t.Errorf("recorded: %q %s, want %q 7s (d did not run: it passes the chain on)", path, total, want)
	}
	var ps []Phase
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		ps = append(ps, ph(n, deps[n]...))
	}
	g, err := NewGraph(ps...)
	if err != nil {
		t.Fatal(err)
	}
	hist := map[string]time.Duration{}
	for n, d := range durs {
		if d > 0 {
			hist[n] = d
		}
	}
	p := Plan(g, PlanOptions{History: hist, Selection: Selection{Skip: []string{"d"}}})
	if want := []string{"a", "b"}; !slices.Equal(p.Critical, want) {
		t.Errorf("plan: %q, want %q (d skipped, e blocked)", p.Critical, want)
	}
	if path, _ := CriticalPath(nil, nil, nil); path != nil {
		t.Errorf("empty: %q", path)
	}
}

// The plan of the demo graph (fetch; lint and render after it; package
// after both) without history predicts the path the run then reports when
// lint and render take what the run shows as the same time (2.1s): one
// tie rule (TieResolution, then node count, then name), whatever order the
// nodes come in.
func TestCriticalPath_TiesAsThePlanPredicts(t *testing.T) {
	deps := map[string][]string{"lint": {"fetch"}, "render": {"fetch"}, "package": {"lint", "render"}}
	dependsOn := func(n string) []string { return deps[n] }
	var ps []Phase
	for _, n := range []string{"fetch", "lint", "render", "package"} {
		ps = append(ps, ph(n, deps[n]...))
	}
	g, err := NewGraph(ps...)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"fetch", "lint", "package"}
	if p := Plan(g, PlanOptions{}); !slices.Equal(p.Critical, want) {
		t.Fatalf("plan without history: %q, want %q", p.Critical, want)
	}
	for _, tc := range []struct {
		name         string
		lint, render time.Duration
		want         []string
	}{
		{"RenderLongerByMilliseconds", 2080 * time.Millisecond, 2090 * time.Millisecond, want},
		{"LintLongerByMilliseconds", 2090 * time.Millisecond, 2080 * time.Millisecond, want},
		{"RenderLongerByATenth", 2 * time.Second, 2100 * time.Millisecond, []string{"fetch", "render", "package"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			durs := map[string]time.Duration{"fetch": 1100 * time.Millisecond, "lint": tc.lint, "render": tc.render, "package": 8 * time.Millisecond}
			for _, order := range [][]string{{"fetch", "lint", "render", "package"}, {"package", "render", "lint", "fetch"}} {
				path, total := CriticalPath(order, dependsOn, durs)
				if !slices.Equal(path, tc.want) {
					t.Errorf("order %q: %q, want %q", order, path, tc.want)
				}
				var sum time.Duration
				for _, n := range tc.want {
					sum += durs[n]
				}
				if total != sum {
					t.Errorf("order %q: total %s, want the unrounded %s", order, total, sum)
				}
			}
			hist := map[string]time.Duration{}
			maps.Copy(hist, durs)
			if p := Plan(g, PlanOptions{History: hist}); !slices.Equal(p.Critical, tc.want) {
				t.Errorf("plan from this history: %q, want %q", p.Critical, tc.want)
			}
		})
	}
}

// Totals are rounded, not each weight: five 40ms phases (200ms) are a
// longer chain than two 60ms ones (120ms), though each of the five rounds
// to nothing and each of the two to a tenth.
func TestCriticalPath_ShortPhasesAddUp(t *testing.T) {
	deps := map[string][]string{"a2": {"a1"}, "a3": {"a2"}, "a4": {"a3"}, "a5": {"a4"}, "b2": {"b1"}}
	durs := map[string]time.Duration{}
	for _, n := range []string{"a1", "a2", "a3", "a4", "a5"} {
		durs[n] = 40 * time.Millisecond
	}
	durs["b1"], durs["b2"] = 60*time.Millisecond, 60*time.Millisecond
	path, total := CriticalPath([]string{"a1", "a2", "a3", "a4", "a5", "b1", "b2"}, func(n string) []string { return deps[n] }, durs)
	if want := []string{"a1", "a2", "a3", "a4", "a5"}; !slices.Equal(path, want) || total != 200*time.Millisecond {
		t.Fatalf("critical path %q (%s), want %q (200ms)", path, total, want)
	}
}

// The drawing lists every dependency, the implied ones in parentheses.
func TestGraph_WriteDrawing(t *testing.T) {
	deps := map[string][]string{"b": {"a"}, "c": {"a", "b"}, "d": {"c", "a"}, "e": {"a"}}
	var ps []Phase
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		ps = append(ps, ph(n, deps[n]...))
	}
	g, err := NewGraph(ps...)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := g.WriteDrawing(&b, map[string]string{"e": "(--with-e)"}); err != nil {
		t.Fatal(err)
	}
	want := `wave  phase  runs after
1     a      -
2     b      a
2     e      a           (--with-e)
3     c      b (a)
4     d      c (a)
`
	if b.String() != want {
		t.Errorf("drawing:\n%s\nwant:\n%s", b.String(), want)
	}
}
