package deploy

import (
	"context"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Check results of one node.
const (
	CheckOK      = "ok"
	CheckDrifted = "drifted"
	CheckNone    = "no check" // the phase has no Verify
	CheckSkipped = "skipped"  // not succeeded, or not in the config any more
)

// NodeCheck is what Check found for one node of the current run.
type NodeCheck struct {
	Node   string
	Result string // CheckOK, CheckDrifted, CheckNone, CheckSkipped
	Detail string
}

// Check is `status --check`: it asks every succeeded node of run rf that
// can tell (Verify) whether what it built still exists, through the
// workflow scheduler (Scheduler.Check: each node's timeout, panic
// recovery, the node's log). The graph is built with the flags the run
// journalled, so that it checks what was on. It takes no lock and
// records nothing; the result lists rf's nodes in timeline order.
func (d *Deployer) Check(ctx context.Context, rf *state.RunFile, parallelism int) ([]NodeCheck, error) {
	lg, err := d.Load(d.Registry.FromJournal(rf.Flags))
	if err != nil {
		return nil, err
	}
	prior := map[string]workflow.NodeStatus{}
	for name, st := range rf.Nodes {
		if lg.Graph.Has(name) {
			prior[name] = st
		}
	}
	sched := &workflow.Scheduler{
		Graph: lg.Graph, RunID: rf.Header.RunID, SecretsDir: lg.Dirs.Secrets,
		Parallelism: parallelism, LogSink: d.Store.LogSink(rf.Header.RunID), Log: d.logger(), Now: d.Now,
	}
	verified, err := sched.Check(ctx, prior)
	if err != nil {
		return nil, err
	}
	var out []NodeCheck
	for _, t := range rf.Timeline() {
		c := NodeCheck{Node: t.Node, Result: CheckSkipped}
		p, inGraph := lg.Graph.Phase(t.Node)
		_, verifier := p.(workflow.Verifier)
		switch {
		case rf.Nodes[t.Node].State != workflow.Succeeded:
		case !inGraph:
			c.Detail = "not in the current config"
		case !verifier:
			c.Result = CheckNone
		default:
			if e, ok := verified[t.Node]; ok && e != nil {
				c.Result, c.Detail = CheckDrifted, e.Error()
			} else {
				c.Result = CheckOK
			}
		}
		out = append(out, c)
	}
	return out, nil
}
