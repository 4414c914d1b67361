package workflow

import (
	"container/heap"
	"time"
)

// The graph algorithms of the module, each written once: the topological
// order (Graph, the registry's phase listing, `runs show` of a recorded
// run) and the critical path (the scheduler's Result, Plan, `runs show`).

// topoOrder is Kahn's algorithm over nodes 0..n-1 (deps[i]: the
// dependencies of i), taking the smallest index first among the ready
// ones, so that the numbering is kept wherever the edges allow. Nodes in a
// cycle, or after one, are appended in index order (a validated Graph has
// none). level[i] is the length of the longest dependency chain below i.
func topoOrder(deps [][]int) (order, level []int) {
	n := len(deps)
	dependents := make([][]int, n)
	indeg := make([]int, n)
	for i, ds := range deps {
		indeg[i] = len(ds)
		for _, d := range ds {
			dependents[d] = append(dependents[d], i)
		}
	}
	ready := &intHeap{}
	for i := range n {
		if indeg[i] == 0 {
			ready.ints = append(ready.ints, i)
		}
	}
	heap.Init(ready)
	order, level = make([]int, 0, n), make([]int, n)
	placed := make([]bool, n)
	for ready.Len() > 0 {
		v := heap.Pop(ready).(int)
		order, placed[v] = append(order, v), true
		for _, d := range deps[v] {
			level[v] = max(level[v], level[d]+1)
		}
		for _, w := range dependents[v] {
			if indeg[w]--; indeg[w] == 0 {
				heap.Push(ready, w)
			}
		}
	}
	for i := range n {
		if !placed[i] {
			order = append(order, i)
		}
	}
	return order, level
}

// TopoSort orders names so that each comes after its dependencies
// (dependsOn; names it returns that are not in names are ignored), keeping
// the given order among the names that are ready together. Names in a
// dependency cycle, or after one, keep their given order at the end; a
// Graph never has one, and NewGraph reports it.
func TopoSort(names []string, dependsOn func(name string) []string) []string {
	idx := make(map[string]int, len(names))
	for i, n := range names {
		if _, dup := idx[n]; !dup {
			idx[n] = i
		}
	}
	deps := make([][]int, len(names))
	for i, n := range names {
		if idx[n] != i {
			continue // a duplicate: placed with its first occurrence
		}
		for _, d := range dependsOn(n) {
			if j, ok := idx[d]; ok && j != i {
				deps[i] = append(deps[i], j)
			}
		}
	}
	order, _ := topoOrder(deps)
	out := make([]string, 0, len(names))
	for _, i := range order {
		if idx[names[i]] == i {
			out = append(out, names[i])
		}
	}
	return out
}

// TieResolution is the precision at which the critical path compares
// durations: the tenth of a second a run shows them with ("2.1s"). Two
// chains whose durations differ by less tie, so that the path a plan
// predicts from equal (or no) history is the one a run of phases that took
// "the same" time reports.
const TieResolution = 100 * time.Millisecond

// criticalPath is the longest chain of dependent nodes by weight, over
// nodes in topological order (deps[i]: the dependencies of i). Only nodes
// for which weight says counted are on the path; the others pass the
// longest chain below them on to their dependents. One rule decides, for
// Plan, the scheduler and recorded runs alike: chains compare by total
// weight rounded to TieResolution, then by how many
// counted nodes they have, then by name (at each step the chain through
// the smaller name wins, whatever order the nodes were given in). It
// returns the path, dependencies first, and its weight (unrounded); a nil
// path when no node counted.
func criticalPath(order []int, deps [][]int, name func(i int) string, weight func(i int) (d time.Duration, counted bool)) ([]int, time.Duration) {
	type chain struct {
		d    time.Duration
		n    int
		prev int
	}
	// longer reports whether chain a (ending at node ai) beats chain b
	// (ending at node bi). The totals are rounded, not each weight: many
	// short phases add up.
	longer := func(a chain, ai int, b chain, bi int) bool {
		ad, bd := a.d.Round(TieResolution), b.d.Round(TieResolution)
		switch {
		case ad != bd:
			return ad > bd
		case a.n != b.n:
			return a.n > b.n
		case bi < 0: // against no chain at all
			return a.n > 0
		}
		return name(ai) < name(bi)
	}
	best := make([]chain, len(deps))
	end := -1
	for _, i := range order {
		best[i].prev = -1
		for _, j := range deps[i] {
			if longer(best[j], j, best[i], best[i].prev) {
				best[i] = chain{best[j].d, best[j].n, j}
			}
		}
		if d, ok := weight(i); ok {
			best[i].d += d
			best[i].n++
			if end < 0 || longer(best[i], i, best[end], end) {
				end = i
			}
		}
	}
	if end < 0 {
		return nil, 0
	}
	var path []int
	for v := end; v >= 0; v = best[v].prev {
		if _, ok := weight(v); ok {
			path = append(path, v)
		}
	}
	for l, r := 0, len(path)-1; l < r; l, r = l+1, r-1 {
		path[l], path[r] = path[r], path[l]
	}
	return path, best[end].d
}

// CriticalPath is the critical path of a recorded run: the longest chain
// of dependent nodes by duration, over nodes (any order: it is sorted with
// TopoSort) and their dependencies. Only nodes with a positive duration
// are on the path. It is the computation the scheduler and Plan use.
func CriticalPath(nodes []string, dependsOn func(name string) []string, durations map[string]time.Duration) ([]string, time.Duration) {
	names := TopoSort(nodes, dependsOn)
	idx := make(map[string]int, len(names))
	for i, n := range names {
		idx[n] = i
	}
	deps := make([][]int, len(names))
	order := make([]int, len(names))
	for i, n := range names {
		order[i] = i
		for _, d := range dependsOn(n) {
			if j, ok := idx[d]; ok && j < i {
				deps[i] = append(deps[i], j)
			}
		}
	}
	path, total := criticalPath(order, deps, func(i int) string { return names[i] }, func(i int) (time.Duration, bool) {
		d := durations[names[i]]
		return d, d > 0
	})
	if path == nil {
		return nil, 0
	}
	out := make([]string, len(path))
	for k, i := range path {
		out[k] = names[i]
	}
	return out, total
}
