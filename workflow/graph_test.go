package workflow

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestNewGraph_Errors(t *testing.T) {
	tests := []struct {
		name   string
		phases []Phase
		want   string
	}{
		{
			name:   "Duplicate",
			phases: []Phase{ph("a"), ph("b"), ph("a")},
			want:   `duplicate phase "a" (2 phases have this name; names must be unique)`,
		},
		{
			name:   "UnknownDependency",
			phases: []Phase{ph("a"), ph("b", "a", "zz", "zz")},
			want:   `phase "b" depends on unknown phase "zz" (known: a, b)`,
		},
		{
			name:   "SelfDependency",
			phases: []Phase{ph("a", "a")},
			want:   `phase "a" depends on itself; remove it from its DependsOn`,
		},
		{
			name:   "EmptyName",
			phases: []Phase{ph("a"), ph(""), nil},
			want:   "phase #2 has an empty name\nphase #3 has an empty name",
		},
		{
			name:   "OneCycleStartsAtSmallest",
			phases: []Phase{ph("c", "a"), ph("b", "c"), ph("a", "b"), ph("d", "a")},
			want:   "cycle: a -> b -> c -> a",
		},
		{
			name: "EveryCycle",
			// x <-> y, and a -> b -> a plus a -> c -> b -> a
			phases: []Phase{ph("y", "x"), ph("x", "y"), ph("a", "b", "c"), ph("b", "a"), ph("c", "b")},
			want:   "cycle: a -> b -> a\ncycle: a -> c -> b -> a\ncycle: x -> y -> x",
		},
		{
			name:   "AllAtOnceInFixedOrder",
			phases: []Phase{ph("b", "b", "nope"), ph("a", "c"), ph("c", "a"), ph("b")},
			want: `duplicate phase "b" (2 phases have this name; names must be unique)` + "\n" +
				`phase "b" depends on unknown phase "nope" (known: a, b, c)` + "\n" +
				`phase "b" depends on itself; remove it from its DependsOn` + "\n" +
				"cycle: a -> c -> a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewGraph(tt.phases...)
			if err == nil {
				t.Fatalf("NewGraph() = %v, nil; want error %q", g.Names(), tt.want)
			}
			if g != nil {
				t.Errorf("NewGraph() returned a graph with an error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestNewGraph_TypedErrors(t *testing.T) {
	_, err := NewGraph(ph("a", "a"), ph("b", "x"), ph("b"), ph("c", "d"), ph("d", "c"))
	var dup *DuplicateError
	var unk *UnknownDependencyError
	var self *SelfDependencyError
	var cyc *CycleError
	if !errors.As(err, &dup) || dup.Name != "b" {
		t.Errorf("DuplicateError: got %+v", dup)
	}
	if !errors.As(err, &unk) || unk.Phase != "b" || unk.Dep != "x" || !slices.Equal(unk.Known, []string{"a", "b", "c", "d"}) {
		t.Errorf("UnknownDependencyError: got %+v", unk)
	}
	if !errors.As(err, &self) || self.Phase != "a" {
		t.Errorf("SelfDependencyError: got %+v", self)
	}
	if !errors.As(err, &cyc) || !slices.Equal(cyc.Path, []string{"c", "d", "c"}) {
		t.Errorf("CycleError: got %+v", cyc)
	}
}

func TestNewGraph_CyclesAreBounded(t *testing.T) {
	// A complete digraph on 12 nodes has millions of elementary cycles.
	var phases []Phase
	for i := range 12 {
		var deps []string
		for j := range 12 {
			if j != i {
				deps = append(deps, fmt.Sprintf("n%02d", j))
			}
		}
		phases = append(phases, ph(fmt.Sprintf("n%02d", i), deps...))
	}
	_, err := NewGraph(phases...)
	if got := strings.Count(err.Error(), "cycle: "); got != maxCycles {
		t.Errorf("got %d cycles listed, want %d", got, maxCycles)
	}
}

// k0rdentGraph is the shape of the real graph (ARCHITECTURE §7).
func k0rdentGraph() []Phase {
	return []Phase{
		ph("wireguard"),
		ph("terraform", "wireguard"),
		ph("vpn", "terraform", "wireguard"),
		ph("k0s", "vpn"),
		ph("k0rdent", "k0s"),
		ph("kof", "k0rdent"),
		ph("azure-children", "k0rdent"),
	}
}

func TestGraph_Queries(t *testing.T) {
	g := mustGraph(t, k0rdentGraph()...)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"Names", g.Names(), []string{"azure-children", "k0rdent", "k0s", "kof", "terraform", "vpn", "wireguard"}},
		{"TopoOrder", g.TopoOrder(), []string{"wireguard", "terraform", "vpn", "k0s", "k0rdent", "azure-children", "kof"}},
		{"Waves", fmt.Sprint(g.Waves()), "[[wireguard] [terraform] [vpn] [k0s] [k0rdent] [azure-children kof]]"},
		{"DependsOn", g.DependsOn("vpn"), []string{"terraform", "wireguard"}},
		{"DependsOnUnknown", g.DependsOn("nope"), []string(nil)},
		{"Dependents", g.Dependents("k0rdent"), []string{"azure-children", "kof"}},
		{"DependentsUnknown", g.Dependents("nope"), []string(nil)},
		{"Ancestors", g.Ancestors("k0s"), []string{"terraform", "vpn", "wireguard"}},
		{"AncestorsOfTwo", g.Ancestors("vpn", "kof"), []string{"k0rdent", "k0s", "terraform", "vpn", "wireguard"}},
		{"Descendants", g.Descendants("k0s"), []string{"azure-children", "k0rdent", "kof"}},
		{"DescendantsUnknown", g.Descendants("nope"), []string(nil)},
		{"Len", g.Len(), 7},
		{"Has", g.Has("kof") && !g.Has("nope"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fmt.Sprint(tt.got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	if p, ok := g.Phase("k0s"); !ok || p.Name() != "k0s" {
		t.Errorf("Phase(k0s) = %v, %v", p, ok)
	}
	if _, ok := g.Phase("nope"); ok {
		t.Errorf("Phase(nope) found")
	}
}

func TestGraph_Immutable(t *testing.T) {
	g := mustGraph(t, k0rdentGraph()...)
	g.Names()[0] = "x"
	g.DependsOn("vpn")[0] = "x"
	g.Waves()[0][0] = "x"
	g.TopoOrder()[0] = "x"
	if g.Names()[0] != "azure-children" || g.DependsOn("vpn")[0] != "terraform" || g.Waves()[0][0] != "wireguard" || g.TopoOrder()[0] != "wireguard" {
		t.Errorf("graph changed through a returned slice")
	}
}

func TestGraph_Diamond(t *testing.T) {
	g := mustGraph(t, ph("d", "b", "c"), ph("c", "a"), ph("b", "a"), ph("a"), ph("e"))
	if got, want := fmt.Sprint(g.TopoOrder()), "[a b c d e]"; got != want {
		t.Errorf("TopoOrder = %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(g.Waves()), "[[a e] [b c] [d]]"; got != want {
		t.Errorf("Waves = %s, want %s", got, want)
	}
	var zero Graph
	if zero.Len() != 0 || len(zero.TopoOrder()) != 0 || len(zero.Waves()) != 0 {
		t.Errorf("zero Graph is not empty")
	}
}
