package deploy

import (
	"fmt"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Day two: a new run reuses every node whose inputs did not change since
// its last success and whose Verify passes (workflow.Inputs). The phases
// declare their inputs (phases.InputsDeclarer); this file turns the
// declarations of the loaded graph into the engine's digests, explains a
// change from the config copy each run keeps (runConfigName), and lists
// for `run --plan --diff` which config keys changed since the last
// successful run and which nodes each one feeds.

// inputs is the engine's reuse by inputs digest for lg.
func (d *Deployer) inputs(lg *Loaded) (*workflow.Inputs, error) {
	own, err := phases.Digests(lg.Graph, lg.Config)
	if err != nil {
		return nil, withCode(CodeUsage, fmt.Errorf("digest the phases' inputs: %w", err))
	}
	cache := map[string]*phases.Snapshot{}
	var cur *phases.Snapshot
	return &workflow.Inputs{Own: own, Explain: func(node string, last workflow.NodeStatus) []string {
		old, ok := cache[last.RunID]
		if !ok {
			c, _ := d.runConfig(last.RunID)
			old = phases.NewSnapshot(c)
			cache[last.RunID] = old
		}
		if cur == nil {
			cur = phases.NewSnapshot(lg.Config)
		}
		p, _ := lg.Graph.Phase(node)
		return phases.Changes(p, old, cur)
	}}, nil
}

// runConfig is the config run id started with (nil when there is no
// readable copy: a run of an older k0rdent, or a migrated one).
func (d *Deployer) runConfig(id string) (*config.Config, error) {
	if id == "" {
		return nil, state.ErrNotFound
	}
	data, err := d.Store.ReadRunFile(id, runConfigName)
	if err != nil {
		return nil, err
	}
	return config.Parse(data, id+"/"+runConfigName)
}

// DiffKey is one config field that changed since the last successful run
// and the nodes whose declared inputs it feeds.
type DiffKey struct {
	Key   string   `json:"key"`
	Nodes []string `json:"nodes"`
}

// Diff is what `run --plan --diff` lists.
type Diff struct {
	// Since is the last successful run ("": none, nothing to compare).
	Since string `json:"since,omitempty"`
	// Unknown says why the keys cannot be listed (no copy of that run's
	// config), "" otherwise.
	Unknown string    `json:"unknown,omitempty"`
	Keys    []DiffKey `json:"keys"`
}

// diff compares lg's config with the one the last successful run used.
func (d *Deployer) diff(lg *Loaded, rt *state.Runtime) *Diff {
	out := &Diff{Keys: []DiffKey{}}
	if rt == nil || rt.LastSuccessfulRun == "" {
		return out
	}
	out.Since = rt.LastSuccessfulRun
	old, err := d.runConfig(out.Since)
	if err != nil || old == nil {
		out.Unknown = "no readable copy of the config run " + out.Since + " used"
		return out
	}
	keys := config.DiffKeys(old, lg.Config)
	feeds := phases.FeedsOn(lg.Graph, lg.Config, keys)
	for _, k := range keys {
		out.Keys = append(out.Keys, DiffKey{Key: k, Nodes: feeds[k]})
	}
	return out
}
