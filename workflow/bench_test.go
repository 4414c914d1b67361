package workflow

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// countRecorder is the cheapest Recorder that still looks at every event.
type countRecorder struct{ n int }

func (r *countRecorder) Record(ev Event) error { r.n++; return nil }

// countGroupRecorder is countRecorder with the group commit: the events go
// through Stage and the journal writer's Sync, which makes nothing durable
// (the scheduler's own cost of the group commit).
type countGroupRecorder struct {
	countRecorder
	syncs atomic.Int64
}

func (r *countGroupRecorder) Stage(ev Event) error { r.n++; return nil }
func (r *countGroupRecorder) Sync() error          { r.syncs.Add(1); return nil }

// genGraph builds a graph of n no-op phases of the given shape:
//   - chain: n0 <- n1 <- n2 ...
//   - wide: one root and n-1 phases that depend on it
//   - layered: layers of about √n phases, each depending on 1–3 random
//     phases of the previous layer (fixed seed).
func genGraph(tb testing.TB, shape string, n int, run func(context.Context, *Env) error) *Graph {
	name := func(i int) string { return fmt.Sprintf("n%06d", i) }
	phases := make([]Phase, n)
	rng := rand.New(rand.NewPCG(1, 2))
	width := 1
	for width*width < n {
		width++
	}
	for i := range n {
		f := &fakePhase{name: name(i), run: run}
		switch shape {
		case "chain":
			if i > 0 {
				f.deps = []string{name(i - 1)}
			}
		case "wide":
			if i > 0 {
				f.deps = []string{name(0)}
			}
		case "layered":
			if layer := i / width; layer > 0 {
				prev := (layer - 1) * width
				for range 1 + rng.IntN(3) {
					f.deps = append(f.deps, name(prev+rng.IntN(width)))
				}
			}
		}
		phases[i] = f
	}
	return mustGraph(tb, phases...)
}

// BenchmarkScheduler measures the scheduler's own cost per node with no-op
// phases, recording one event at a time (record) and through the group
// commit's Stage, journal writer and Sync (group), neither making anything
// durable. Goal: under 20µs per node at 10,000 nodes, and no worse than
// linear growth from 1,000 to 10,000 nodes.
func BenchmarkScheduler(b *testing.B) {
	for _, shape := range []string{"chain", "wide", "layered"} {
		for _, n := range []int{100, 1000, 10000} {
			for _, kind := range []string{"record", "group"} {
				b.Run(fmt.Sprintf("%s/%d/%s", shape, n, kind), func(b *testing.B) {
					g := genGraph(b, shape, n, nil)
					b.ReportAllocs()
					b.ResetTimer()
					for b.Loop() {
						var rec Recorder
						var count *countRecorder
						if kind == "group" {
							gr := &countGroupRecorder{}
							rec, count = gr, &gr.countRecorder
						} else {
							count = &countRecorder{}
							rec = count
						}
						s := &Scheduler{Graph: g, Recorder: rec, Parallelism: 8}
						res, err := s.Run(context.Background(), nil)
						if err != nil || res.Outcome != OutcomeSucceeded || count.n != 2*n {
							b.Fatalf("outcome %s, %d events, err %v", res.Outcome, count.n, err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/node")
				})
			}
		}
	}
}

// BenchmarkPlan measures Plan on the same graphs.
func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("layered/%d", n), func(b *testing.B) {
			g := genGraph(b, "layered", n, nil)
			for b.Loop() {
				Plan(g, PlanOptions{})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/node")
		})
	}
}

// BenchmarkMakespan runs layered graphs of sleeping phases (5–20ms) with
// Parallelism no smaller than the graph's width (its largest set of
// mutually independent nodes, bounded here by the node count), so that no
// node ever waits for a slot, and reports makespan / critical path: the
// ideal is 1, the goal at most 1.05. What is left is dispatch latency and
// sleep overshoot. One graph's figure moves with the machine's load (one
// late wake-up on its critical path shows), so each iteration runs seven
// graphs (fixed seeds) and the figure is the median of their ratios, each
// ratio taken over all iterations.
func BenchmarkMakespan(b *testing.B) {
	const graphs = 7
	type bench struct {
		g        *Graph
		critical time.Duration
		total    time.Duration
		n        int
	}
	var gs []*bench
	for seed := range uint64(graphs) {
		g, critical := sleepingGraph(b, seed)
		gs = append(gs, &bench{g: g, critical: critical, n: g.Len()})
	}
	for b.Loop() {
		for _, x := range gs {
			s := &Scheduler{Graph: x.g, Parallelism: x.n}
			start := time.Now()
			if _, err := s.Run(context.Background(), nil); err != nil {
				b.Fatal(err)
			}
			x.total += time.Since(start)
		}
	}
	ratios := make([]float64, len(gs))
	var critical time.Duration
	for i, x := range gs {
		ratios[i] = float64(x.total) / float64(b.N) / float64(x.critical)
		critical += x.critical
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "makespan/critical")
	b.ReportMetric(ratios[len(ratios)-1], "worst-graph")
	b.ReportMetric(float64(critical.Milliseconds())/graphs, "critical-ms")
}

// sleepingGraph is a layered graph (4 wide, 6 deep, 1–2 dependencies on the
// layer before) of phases sleeping 5–20ms, and its critical path.
func sleepingGraph(tb testing.TB, seed uint64) (*Graph, time.Duration) {
	const width, layers = 4, 6
	rng := rand.New(rand.NewPCG(3+seed, 4))
	sleep := map[string]time.Duration{}
	var phases []Phase
	name := func(l, i int) string { return fmt.Sprintf("l%d-%d", l, i) }
	for l := range layers {
		for i := range width {
			f := ph(name(l, i))
			d := time.Duration(5+rng.IntN(16)) * time.Millisecond
			sleep[f.name] = d
			f.run = func(ctx context.Context, env *Env) error { time.Sleep(d); return nil }
			if l > 0 {
				for range 1 + rng.IntN(2) {
					f.deps = append(f.deps, name(l-1, rng.IntN(width)))
				}
			}
			phases = append(phases, f)
		}
	}
	g := mustGraph(tb, phases...)
	// The exact longest chain, not the plan's (which compares chains at
	// TieResolution, coarser than these sleeps).
	longest := make([]time.Duration, g.Len())
	var critical time.Duration
	for _, i := range g.topo {
		for _, j := range g.deps[i] {
			longest[i] = max(longest[i], longest[j])
		}
		longest[i] += sleep[g.names[i]]
		critical = max(critical, longest[i])
	}
	return g, critical
}
