package state

import (
	"maps"
	"slices"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// LastKnown is what a new run that selects only some nodes (--only,
// --from, --skip) starts from: each node's latest Done state (succeeded
// with its outputs and the run it succeeded in, or skipped) across every
// run file, oldest first.
//
// A run in which the node went running without ending Done (failed,
// cancelled, left running) forgets it: what it built is no longer known
// to be good. A node that was only blocked or cancelled before it started
// keeps its earlier state, since nothing touched it. A teardown forgets
// every node whose Destroy ran. A file's valid prefix counts even if the
// file is torn or corrupt. Nodes in no Done state are absent.
func (s *Store) LastKnown() (map[string]workflow.NodeStatus, error) {
	return s.foldNodes(func(out map[string]workflow.NodeStatus, rf *RunFile, _, name string, st workflow.NodeStatus, ran bool) {
		switch {
		case rf.Header.Teardown:
			if ran {
				delete(out, name)
			}
		case st.State.Done():
			st.Outputs = maps.Clone(st.Outputs)
			out[name] = st
		case ran:
			delete(out, name)
		}
	})
}

// foldNodes folds every node of every run file, oldest first, into one
// map with rule; ran says whether the node went running in that file.
// A file's valid prefix counts even if the file is torn or corrupt.
func (s *Store) foldNodes(rule func(out map[string]workflow.NodeStatus, rf *RunFile, id, name string, st workflow.NodeStatus, ran bool)) (map[string]workflow.NodeStatus, error) {
	ids, err := s.runIDs()
	if err != nil {
		return nil, err
	}
	out := map[string]workflow.NodeStatus{}
	for _, id := range ids {
		rf, err := s.Load(id)
		if err != nil {
			return nil, err
		}
		for name, st := range rf.Nodes {
			rule(out, rf, id, name, st, rf.timeline[name] != nil && rf.timeline[name].Attempts > 0)
		}
	}
	return out, nil
}

// History is the expected duration of each node for the plan: the median
// of the durations of its succeeded attempts in the newest limit
// deployment runs (teardowns do not count). Nodes without a succeeded
// attempt there are absent. A limit below 1 means 20.
func (s *Store) History(limit int) (map[string]time.Duration, error) {
	if limit < 1 {
		limit = 20
	}
	ids, err := s.runIDs()
	if err != nil {
		return nil, err
	}
	durs := map[string][]time.Duration{}
	seen := 0
	for i := len(ids) - 1; i >= 0 && seen < limit; i-- {
		rf, err := s.Load(ids[i])
		if err != nil || rf.Header.Teardown {
			continue
		}
		seen++
		for _, rec := range rf.Records {
			if rec.Kind == KindTransition && rec.From == workflow.Running && rec.To == workflow.Succeeded && rec.Duration > 0 {
				durs[rec.Node] = append(durs[rec.Node], rec.Duration)
			}
		}
	}
	out := make(map[string]time.Duration, len(durs))
	for node, d := range durs {
		slices.Sort(d)
		m := d[len(d)/2]
		if len(d)%2 == 0 {
			m = (d[len(d)/2-1] + d[len(d)/2]) / 2
		}
		out[node] = m
	}
	return out, nil
}
