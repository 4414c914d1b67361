package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// plan prints what `run` would do, without the lock and without changing
// anything. An unfinished current run is planned as its resume unless
// --fresh is given, since that is what `run --yes` would do.
func (a *app) plan(o runOptions, lg *loadedGraph, store *state.Store, sel workflow.Selection) error {
	// Legacy files not migrated yet: plan against what the migration
	// would write, as `run` migrates first.
	legacyNote, pv, cleanup, err := legacyPlanStore(o.globalOptions, store)
	if err != nil {
		return err
	}
	defer cleanup()
	secretsDir := store.SecretsDir()
	if pv != nil {
		store = pv
	}
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
		if prior, err = store.LastKnown(); err != nil {
			return err
		}
		title = "Plan: new run of the selected phases; the others keep their last known state"
	default:
		title = "Plan: new run; every enabled phase runs (phases are idempotent)"
		if unfinished != nil {
			title += fmt.Sprintf("; run %s would be archived (superseded)", unfinished.Header.RunID)
		}
	}
	hist, err := store.History(historyRuns)
	if err != nil {
		return err
	}
	p := workflow.Plan(lg.graph, workflow.PlanOptions{Prior: prior, History: hist, Selection: sel,
		RunID: runID, SecretsDir: secretsDir})
	switch o.Output {
	case "json":
		return p.WriteJSON(a.Stdout)
	case "dot":
		return p.WriteDOT(a.Stdout)
	case "mermaid":
		return p.WriteMermaid(a.Stdout)
	}
	if legacyNote != "" {
		fmt.Fprintln(a.Stdout, legacyNote)
	}
	fmt.Fprintln(a.Stdout, title)
	fmt.Fprintln(a.Stdout)
	return p.WriteText(a.Stdout)
}

// historyRuns is how many recent runs the plan's expected durations come
// from (Store.History: the median of the succeeded attempts).
const historyRuns = 20

// legacyPlanStore: when the state directory still holds the legacy
// tool's files, the text saying what was found and what run will do, and
// a scratch store holding what the migration would write, removed by
// cleanup (nothing is written into the state directory).
func legacyPlanStore(g globalOptions, store *state.Store) (note string, pv *state.Store, cleanup func(), err error) {
	cleanup = func() {}
	info, err := state.InspectLegacy(projectRoot(g), g.StateDir)
	if err != nil || info == nil {
		return "", nil, cleanup, err
	}
	var b strings.Builder
	if err := info.WriteText(&b); err != nil {
		return "", nil, cleanup, err
	}
	dir, err := os.MkdirTemp("", "k0rdent-plan-")
	if err != nil {
		return "", nil, cleanup, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	if pv, err = store.PreviewMigration(projectRoot(g), dir); err != nil {
		cleanup()
		return "", nil, func() {}, err
	}
	return b.String() + "The plan below is of the migrated state:\n", pv, cleanup, nil
}
