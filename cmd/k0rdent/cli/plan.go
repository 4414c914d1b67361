package cli

import (
	"fmt"
	"time"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// plan prints what `run` would do, without the lock and without changing
// anything. An unfinished current run is planned as its resume unless
// --fresh is given, since that is what `run --yes` would do.
func (a *app) plan(o runOptions, lg *loadedGraph, store *state.Store, sel workflow.Selection) error {
	unfinished, err := currentUnfinished(store)
	if err != nil {
		return err
	}
	var (
		prior map[string]workflow.NodeStatus
		title string
		runID string
	)
	switch {
	case unfinished != nil && !o.Fresh:
		prior, runID = unfinished.Nodes, unfinished.Header.RunID
		title = fmt.Sprintf("Plan: resume run %s (attempt %d); pass --fresh to plan a new run instead", runID, unfinished.Attempt+1)
		if d := unfinished.Header.ConfigDigest; d != "" && d != lg.cfg.Digest() && !o.Force {
			title += fmt.Sprintf("\nNote: %s changed since the run started (changed: %s); the resume would be refused without --force",
				o.ConfigPath, changedKeys(store, runID, lg.cfg))
		}
	case !sel.Empty():
		if prior, err = lastKnown(store); err != nil {
			return err
		}
		title = "Plan: new run of the selected phases; the others keep their last known state"
	default:
		title = "Plan: new run; every enabled phase runs (phases are idempotent)"
		if unfinished != nil {
			title += fmt.Sprintf("; run %s would be archived (superseded)", unfinished.Header.RunID)
		}
	}
	hist, err := history(store, 20)
	if err != nil {
		return err
	}
	p := workflow.Plan(lg.graph, workflow.PlanOptions{Prior: prior, History: hist, Selection: sel,
		RunID: runID, SecretsDir: store.SecretsDir()})
	switch o.Output {
	case "json":
		return p.WriteJSON(a.Stdout)
	case "dot":
		return p.WriteDOT(a.Stdout)
	case "mermaid":
		return p.WriteMermaid(a.Stdout)
	}
	fmt.Fprintln(a.Stdout, title)
	fmt.Fprintln(a.Stdout)
	return p.WriteText(a.Stdout)
}

// history is the expected duration of each node: its duration in the
// newest of the last limit runs in which it succeeded. Minimal private
// version (requested from state: durations by node over recent runs).
func history(store *state.Store, limit int) (map[string]time.Duration, error) {
	infos, err := store.List()
	if err != nil {
		return nil, err
	}
	out := map[string]time.Duration{}
	for i, ri := range infos {
		if i == limit {
			break
		}
		rf, err := store.Load(ri.ID)
		if err != nil {
			continue
		}
		for _, t := range rf.Timeline() {
			if _, ok := out[t.Node]; !ok && t.State == workflow.Succeeded && t.Duration > 0 {
				out[t.Node] = t.Duration
			}
		}
	}
	return out, nil
}
