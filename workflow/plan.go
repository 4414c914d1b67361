package workflow

import (
	"io"
	"log/slog"
	"maps"
	"time"
)

// PlanOptions is what Plan plans from.
type PlanOptions struct {
	// Prior is the node states a run would resume from; nil for a fresh run.
	Prior map[string]NodeStatus
	// History holds the expected duration of each phase (from earlier
	// runs); phases without one count as 0 on the critical path.
	History map[string]time.Duration
	// Selection is the --only/--from/--skip of the run. Validate it first
	// (Selection.Validate): Plan ignores names that are not in the graph.
	Selection Selection
	// Inputs is the run's reuse by inputs digest (Scheduler.Inputs).
	Inputs *Inputs
	// Verified holds, for a new run with Inputs, the Verify result of
	// nodes the caller verified (Scheduler.Check): an unchanged node that
	// passed is planned reuse, one that failed runs (drift), and what
	// depends on it is decided as the run would.
	Verified map[string]error
	// RunID and SecretsDir go into the Env given to Describe.
	RunID      string
	SecretsDir string
}

// PlanResult is what a run would do. Nodes are in wave order, by name
// within a wave.
type PlanResult struct {
	RunID string
	Waves [][]string
	Nodes []PlanNode
	// Critical is the longest chain, by expected duration, of the nodes
	// that will run; CriticalDuration its total.
	Critical         []string
	CriticalDuration time.Duration
}

// PlanNode is the plan of one node.
type PlanNode struct {
	Name      string
	Wave      int // from 0
	DependsOn []string
	Action    Action
	// Reason says why: "disabled: …", "succeeded in run X", "resumed: was
	// failed", "not selected", "dependency x not selected and not completed".
	Reason string
	// Changed lists, for a node that runs because its own inputs changed,
	// what changed ("kof.version 1.1.0 → 1.2.0"), or for one whose
	// dependency's outputs changed, "input from k0s: kubeconfig".
	Changed       []string
	Preconditions []string // check names
	Describe      []string
	Expected      time.Duration // from History; 0 when unknown
	Critical      bool          // on the critical path
	// LeftOut: the run's selection leaves the node out (--only, --from,
	// --skip); the run does not touch it (Reason says what it keeps).
	LeftOut bool
}

// Plan says what Scheduler.Run would do with g, without running anything:
// it calls Enabled, Volatile, Preconditions (for the names only), Policy
// and Describe, never Run, Verify or a Check. The decisions are the ones
// Run starts from; "decided at run time" marks the nodes that depend on the
// outcome of a Verify.
func Plan(g *Graph, opts PlanOptions) *PlanResult {
	ds := decide(g, opts.Prior, opts.Selection, opts.Inputs, opts.Verified)
	res := &PlanResult{RunID: opts.RunID, Waves: g.Waves()}
	nodes := make([]PlanNode, g.Len())
	for i, p := range g.phases {
		name := g.names[i]
		pn := PlanNode{
			Name: name, Wave: g.level[i], DependsOn: g.namesOf(g.deps[i]),
			Action: ds[i].action, Reason: ds[i].reason, Changed: ds[i].changed, Expected: opts.History[name],
			LeftOut: !ds[i].selected,
		}
		if pc, ok := p.(Preconditioner); ok {
			for _, c := range pc.Preconditions() {
				pn.Preconditions = append(pn.Preconditions, c.Name)
			}
		}
		if d, ok := p.(Describer); ok {
			env := &Env{
				RunID: opts.RunID, Node: name, Attempt: ds[i].attempt + 1, SecretsDir: opts.SecretsDir,
				Log: slog.New(slog.DiscardHandler), Output: io.Discard, Inputs: map[string]map[string]string{},
			}
			for _, j := range g.deps[i] {
				if out := opts.Prior[g.names[j]].Outputs; out != nil {
					env.Inputs[g.names[j]] = maps.Clone(out)
				}
			}
			pn.Describe = d.Describe(env)
		}
		nodes[i] = pn
	}
	// critical path: longest by expected duration, then by node count,
	// among the nodes that will run.
	path, total := criticalPath(g.topo, g.deps, func(i int) string { return g.names[i] }, func(i int) (time.Duration, bool) {
		return nodes[i].Expected, nodes[i].Action == ActionRun
	})
	res.CriticalDuration = total
	for _, v := range path {
		nodes[v].Critical = true
		res.Critical = append(res.Critical, g.names[v])
	}
	for _, w := range g.waves {
		for _, i := range w {
			res.Nodes = append(res.Nodes, nodes[i])
		}
	}
	return res
}
