package workflow

import (
	"slices"
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
