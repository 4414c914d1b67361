package workflow

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Graph is an immutable, validated DAG of phases. Node indices follow name
// order, so everything the graph returns is sorted by name and every walk is
// deterministic. The zero Graph is empty and usable.
type Graph struct {
	names      []string       // sorted
	index      map[string]int // name -> position in names
	phases     []Phase
	deps       [][]int // per node, its dependencies, ascending (name order)
	dependents [][]int // per node, the nodes that depend on it, ascending
	topo       []int
	level      []int // wave of each node, from 0
	waves      [][]int
}

// DuplicateError reports two or more phases with one name.
type DuplicateError struct {
	Name  string
	Count int
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("duplicate phase %q (%d phases have this name; names must be unique)", e.Name, e.Count)
}

// UnknownDependencyError reports a dependency on a phase that is not in the
// graph.
type UnknownDependencyError struct {
	Phase string
	Dep   string
	Known []string
}

func (e *UnknownDependencyError) Error() string {
	return fmt.Sprintf("phase %q depends on unknown phase %q (known: %s)", e.Phase, e.Dep, strings.Join(e.Known, ", "))
}

// SelfDependencyError reports a phase that lists itself in DependsOn.
type SelfDependencyError struct{ Phase string }

func (e *SelfDependencyError) Error() string {
	return fmt.Sprintf("phase %q depends on itself; remove it from its DependsOn", e.Phase)
}

// CycleError reports one dependency cycle as a path that starts and ends at
// its smallest name: in "a -> b -> a", a depends on b and b depends on a.
type CycleError struct{ Path []string }

func (e *CycleError) Error() string { return "cycle: " + strings.Join(e.Path, " -> ") }

// EmptyNameError reports a phase without a name.
type EmptyNameError struct{ Position int }

func (e *EmptyNameError) Error() string {
	return fmt.Sprintf("phase #%d has an empty name", e.Position)
}

// maxCycles bounds how many cycles NewGraph lists; a dense cyclic graph has
// exponentially many.
const maxCycles = 50

// NewGraph validates phases and builds their graph. It reports every problem
// at once, joined with errors.Join in a fixed order: empty names, duplicate
// names, unknown dependencies, self-dependencies, then every cycle (at most
// 50), each group sorted by name.
func NewGraph(phases ...Phase) (*Graph, error) {
	var errs []error
	byName := map[string][]Phase{}
	for i, p := range phases {
		if p == nil || p.Name() == "" {
			errs = append(errs, &EmptyNameError{Position: i + 1})
			continue
		}
		byName[p.Name()] = append(byName[p.Name()], p)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	g := &Graph{
		names:      names,
		index:      make(map[string]int, len(names)),
		phases:     make([]Phase, len(names)),
		deps:       make([][]int, len(names)),
		dependents: make([][]int, len(names)),
	}
	for i, n := range names {
		g.index[n] = i
		g.phases[i] = byName[n][0]
		if c := len(byName[n]); c > 1 {
			errs = append(errs, &DuplicateError{Name: n, Count: c})
		}
	}
	var unknown, self []error
	for i, n := range names {
		seen := map[string]bool{}
		for _, d := range g.phases[i].DependsOn() {
			if seen[d] {
				continue
			}
			seen[d] = true
			j, ok := g.index[d]
			switch {
			case d == n:
				self = append(self, &SelfDependencyError{Phase: n})
			case !ok:
				unknown = append(unknown, &UnknownDependencyError{Phase: n, Dep: d, Known: slices.Clone(names)})
			default:
				g.deps[i] = append(g.deps[i], j)
				g.dependents[j] = append(g.dependents[j], i)
			}
		}
		slices.Sort(g.deps[i])
	}
	errs = append(errs, unknown...)
	errs = append(errs, self...)
	for _, c := range g.cycles() {
		errs = append(errs, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for j := range g.dependents {
		slices.Sort(g.dependents[j])
	}
	g.order()
	return g, nil
}

// cycles lists the elementary cycles, each starting at its smallest node, in
// order. For each start s it searches paths through nodes greater than s
// only, so every cycle is found once, from its smallest node.
func (g *Graph) cycles() []*CycleError {
	var out []*CycleError
	for _, scc := range g.sccs() {
		if len(scc) < 2 {
			continue
		}
		in := make(map[int]bool, len(scc))
		for _, v := range scc {
			in[v] = true
		}
		for _, s := range scc {
			onPath := map[int]bool{s: true}
			path := []int{s}
			var walk func(v int)
			walk = func(v int) {
				for _, w := range g.deps[v] {
					if len(out) >= maxCycles {
						return
					}
					switch {
					case w == s:
						p := make([]string, 0, len(path)+1)
						for _, x := range path {
							p = append(p, g.names[x])
						}
						out = append(out, &CycleError{Path: append(p, g.names[s])})
					case in[w] && w > s && !onPath[w]:
						onPath[w] = true
						path = append(path, w)
						walk(w)
						path = path[:len(path)-1]
						onPath[w] = false
					}
				}
			}
			walk(s)
		}
	}
	return out
}

// sccs returns the strongly connected components (Tarjan), each sorted, in
// order of their smallest node.
func (g *Graph) sccs() [][]int {
	n := len(g.names)
	index, low := make([]int, n), make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var out [][]int
	next := 0
	var strong func(v int)
	strong = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range g.deps[v] {
			if index[w] < 0 {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var c []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				c = append(c, w)
				if w == v {
					break
				}
			}
			slices.Sort(c)
			out = append(out, c)
		}
	}
	for v := range n {
		if index[v] < 0 {
			strong(v)
		}
	}
	slices.SortFunc(out, func(a, b []int) int { return a[0] - b[0] })
	return out
}

// order computes the topological order (topoOrder: smallest name first
// among the ready) and the waves of a validated graph.
func (g *Graph) order() {
	n := len(g.names)
	g.topo, g.level = topoOrder(g.deps)
	depth := 0
	for _, l := range g.level {
		depth = max(depth, l+1)
	}
	g.waves = make([][]int, depth)
	for v := range n { // ascending, so each wave is sorted
		g.waves[g.level[v]] = append(g.waves[g.level[v]], v)
	}
}

// Len is the number of phases.
func (g *Graph) Len() int { return len(g.names) }

// Names returns the phase names, sorted.
func (g *Graph) Names() []string { return slices.Clone(g.names) }

// Has reports whether the graph has a phase called name.
func (g *Graph) Has(name string) bool { _, ok := g.index[name]; return ok }

// Phase returns the phase called name.
func (g *Graph) Phase(name string) (Phase, bool) {
	i, ok := g.index[name]
	if !ok {
		return nil, false
	}
	return g.phases[i], true
}

// DependsOn returns the direct dependencies of name, sorted and without
// repetitions; nil for an unknown name.
func (g *Graph) DependsOn(name string) []string {
	i, ok := g.index[name]
	if !ok {
		return nil
	}
	return g.namesOf(g.deps[i])
}

// Dependents returns the phases that depend directly on name, sorted.
func (g *Graph) Dependents(name string) []string {
	i, ok := g.index[name]
	if !ok {
		return nil
	}
	return g.namesOf(g.dependents[i])
}

// TopoOrder returns every name after all of its dependencies; among the
// nodes whose dependencies are placed, the smallest name comes first.
func (g *Graph) TopoOrder() []string { return g.namesOf(g.topo) }

// Waves groups the names in parallel levels: wave 0 has no dependencies and
// every node is one wave after its deepest dependency. Each wave is sorted.
func (g *Graph) Waves() [][]string {
	out := make([][]string, len(g.waves))
	for i, w := range g.waves {
		out[i] = g.namesOf(w)
	}
	return out
}

// Ancestors returns everything the given nodes depend on, directly or
// transitively, sorted. A given node is included only when another given
// node depends on it. Unknown names are ignored.
func (g *Graph) Ancestors(names ...string) []string { return g.reach(g.deps, names) }

// Descendants returns everything that depends on the given nodes, directly
// or transitively, sorted. A given node is included only when it depends on
// another given node. Unknown names are ignored.
func (g *Graph) Descendants(names ...string) []string { return g.reach(g.dependents, names) }

func (g *Graph) reach(edges [][]int, names []string) []string {
	seen := make([]bool, len(g.names))
	var stack []int
	for _, n := range names {
		if i, ok := g.index[n]; ok {
			stack = append(stack, i)
		}
	}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, w := range edges[v] {
			if !seen[w] {
				seen[w] = true
				stack = append(stack, w)
			}
		}
	}
	var out []string
	for i, s := range seen {
		if s {
			out = append(out, g.names[i])
		}
	}
	return out
}

func (g *Graph) namesOf(idx []int) []string {
	out := make([]string, len(idx))
	for i, v := range idx {
		out[i] = g.names[v]
	}
	return out
}

// intHeap is a min-heap of node indices, i.e. of names in order.
type intHeap struct{ ints []int }

func (h *intHeap) Len() int           { return len(h.ints) }
func (h *intHeap) Less(i, j int) bool { return h.ints[i] < h.ints[j] }
func (h *intHeap) Swap(i, j int)      { h.ints[i], h.ints[j] = h.ints[j], h.ints[i] }
func (h *intHeap) Push(x any)         { h.ints = append(h.ints, x.(int)) }
func (h *intHeap) Pop() any {
	v := h.ints[len(h.ints)-1]
	h.ints = h.ints[:len(h.ints)-1]
	return v
}

func (h *intHeap) pushInt(v int) {
	h.ints = append(h.ints, v)
	for c := len(h.ints) - 1; c > 0; {
		p := (c - 1) / 2
		if h.ints[p] <= h.ints[c] {
			break
		}
		h.ints[p], h.ints[c] = h.ints[c], h.ints[p]
		c = p
	}
}

func (h *intHeap) popInt() int {
	top := h.ints[0]
	last := len(h.ints) - 1
	h.ints[0] = h.ints[last]
	h.ints = h.ints[:last]
	for p := 0; ; {
		c := 2*p + 1
		if c >= last {
			break
		}
		if c+1 < last && h.ints[c+1] < h.ints[c] {
			c++
		}
		if h.ints[p] <= h.ints[c] {
			break
		}
		h.ints[p], h.ints[c] = h.ints[c], h.ints[p]
		p = c
	}
	return top
}
