package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// loadedGraph is a config turned into a validated graph.
type loadedGraph struct {
	cfg   *config.Config
	flags phases.RunFlags // as given on the command line (nil: not given)
	graph *workflow.Graph
}

// loadGraph loads the config, validates it for the run's flags, builds the
// phases and the graph. Every problem is a usage error (exit 2); warnings
// go to stderr.
func (a *app) loadGraph(g globalOptions, flags phases.RunFlags) (*loadedGraph, error) {
	cfg, err := config.Load(g.ConfigPath)
	if err != nil {
		return nil, withCode(ExitUsage, configError(err))
	}
	// Only the sections that are on for this run: a given flag takes
	// precedence over the config's enabled key in both directions.
	warnings, err := cfg.Validate(flags.Config())
	if err != nil {
		return nil, withCode(ExitUsage, configError(err))
	}
	for _, w := range warnings {
		fmt.Fprintf(a.Stderr, "warning: %s\n", w)
	}
	store := state.NewStore(g.StateDir)
	ps, err := a.Registry.Build(cfg, flags, phases.Dirs{State: store.Root(), Secrets: store.SecretsDir(), Terraform: store.TerraformDir()})
	if err != nil {
		return nil, withCode(ExitUsage, configError(err))
	}
	graph, err := workflow.NewGraph(ps...)
	if err != nil {
		return nil, withCode(ExitUsage, fmt.Errorf("phase graph of %s (fix depends_on in its phases: section; in a cycle each phase depends on the next):\n  %w",
			g.ConfigPath, indentLines(err)))
	}
	return &loadedGraph{cfg: cfg, flags: flags, graph: graph}, nil
}

// configError puts every problem of a *config.Error on its own line,
// together with any other error joined beside it (Registry.Build joins a
// plugin factory's own errors with the config problems of others).
func configError(err error) error {
	var ce *config.Error
	if !errors.As(err, &ce) {
		return err
	}
	var lines []string
	problems := 0
	for _, e := range flattenJoin(err) {
		if errors.As(e, &ce) {
			problems += len(ce.Problems)
		} else {
			problems++
		}
		lines = append(lines, e.Error())
	}
	return fmt.Errorf("invalid config (%s):\n  %s", plural(problems, "problem"),
		strings.ReplaceAll(strings.Join(lines, "\n"), "\n", "\n  "))
}

// flattenJoin lists the errors joined in err (errors.Join, recursively),
// or err itself.
func flattenJoin(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flattenJoin(e)...)
	}
	return out
}

// doRun is the action of `k0rdent run`.
func (a *app) doRun(ctx context.Context, o runOptions) error {
	lg, err := a.loadGraph(o.globalOptions, o.runFlags())
	if err != nil {
		return err
	}
	sel := workflow.Selection{Only: o.Only, From: o.From, Skip: o.Skip}
	if err := sel.Validate(lg.graph); err != nil {
		return withCode(ExitUsage, fmt.Errorf("--only/--from/--skip: %w", err))
	}
	store := a.openStore(o.StateDir)
	if o.Plan {
		return a.plan(o, lg, store, sel)
	}

	if err := a.preflightRun(o, store); err != nil {
		return err
	}
	lock, prevHolder, err := lockStore(store)
	if err != nil {
		return err
	}
	defer lock.Unlock()

	if err := a.migrateIfLegacy(o.globalOptions, store); err != nil {
		return err
	}

	unfinished, err := currentUnfinished(store)
	if err != nil {
		return err
	}
	resume := false
	if unfinished != nil {
		if resume, err = a.decideResume(o, unfinished); err != nil {
			return err
		}
	} else if o.Resume {
		return nothingToResume(store, a.Name)
	}

	var (
		run   *state.Run
		prior map[string]workflow.NodeStatus
	)
	if resume {
		run, prior, err = a.resumeRun(o, lg, store, unfinished)
	} else {
		run, prior, err = a.freshRun(o, lg, store, sel)
	}
	if err != nil {
		return err
	}
	defer run.Close()
	if err := lock.SetRunID(run.ID()); err != nil {
		return err
	}
	if prevHolder != nil {
		if err := run.LockTakeover(*prevHolder); err != nil {
			return err
		}
		fmt.Fprintf(a.Stderr, "took over the lock of pid %d (run %s), which died holding it\n", prevHolder.PID, prevHolder.RunID)
	}
	return a.execute(ctx, o, lg, store, run, lock, prior, sel, resume)
}

// lockedError names the holder: run id, pid, start time.
func lockedError(le *state.LockedError) error {
	h := le.Holder
	if h.PID == 0 {
		return le
	}
	run := h.RunID
	if run == "" {
		run = "(starting)"
	}
	return fmt.Errorf("state directory %s is in use by run %s, pid %d, started %s (%s); wait for it to finish: %w",
		le.Path, run, h.PID, h.Started.Local().Format("2006-01-02 15:04:05"), h.Command, state.ErrLocked)
}

// nothingToResume is the usage error of `run --resume` without an
// unfinished run: it names the current run and what to do instead.
func nothingToResume(store *state.Store, name string) error {
	rt, err := store.ReadRuntime()
	switch {
	case err != nil || rt.CurrentRunID == "":
		return usageErrorf("nothing to resume: no run yet; start one with: %s run", name)
	case rt.CurrentOutcome == state.OutcomeSucceeded:
		return usageErrorf("nothing to resume: run %s succeeded; to converge again use: %s run", rt.CurrentRunID, name)
	default:
		return usageErrorf("nothing to resume: the current run %s is a teardown or was archived; start a new run with: %s run", rt.CurrentRunID, name)
	}
}

// currentUnfinished returns the run runtime.yaml names as current when it
// has not succeeded (including one without an outcome: the process died).
// A teardown is never resumed by `run`: it counts as nothing unfinished.
func currentUnfinished(store *state.Store) (*state.RunFile, error) {
	rt, err := store.ReadRuntime()
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if rt.CurrentRunID == "" {
		return nil, nil
	}
	rf, err := store.Load(rt.CurrentRunID)
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if rf.Outcome == state.OutcomeSucceeded || rf.Outcome == state.OutcomeSuperseded || rf.Header.Teardown {
		return nil, nil
	}
	return rf, nil
}

// decideResume applies ARCHITECTURE §5: --resume/--yes resume, --fresh
// starts fresh, a terminal is asked, anything else is a usage error that
// names both flags.
func (a *app) decideResume(o runOptions, rf *state.RunFile) (bool, error) {
	switch {
	case o.Fresh:
		return false, nil
	case o.Resume, o.Yes:
		return true, nil
	}
	desc := describeUnfinished(rf)
	if !a.IsTerminal(a.Stdin) {
		return false, usageErrorf("%s; pass --resume to continue it or --fresh to archive it and start a new run", desc)
	}
	fmt.Fprintf(a.Stdout, "%s.\n", desc)
	answer, err := a.ask("Resume it, or start fresh (the unfinished run is archived)? [R/f] ", "r (resume) or f (fresh); or pass --resume or --fresh",
		map[string]string{"": "r", "r": "r", "resume": "r", "y": "r", "yes": "r", "f": "f", "fresh": "f"})
	return answer == "r", err
}

// describeUnfinished is one line about an unfinished run.
func describeUnfinished(rf *state.RunFile) string {
	id := rf.Header.RunID
	var done, total int
	for _, st := range rf.Nodes {
		total++
		if st.State.Done() {
			done++
		}
	}
	switch rf.Outcome {
	case state.OutcomeNone:
		return fmt.Sprintf("run %s is unfinished (the process stopped; %d of %d nodes done)", id, done, total)
	case state.OutcomeFailed:
		return fmt.Sprintf("run %s failed at %s (%d of %d nodes done)", id, strings.Join(rf.FailedNodes(), ", "), done, total)
	default:
		return fmt.Sprintf("run %s was %s (%d of %d nodes done)", id, rf.Outcome, done, total)
	}
}

// header is the run header of a new run: the graph's nodes in
// topological order and its edges, so that `runs show` needs no config.
func (a *app) header(configPath string, flags map[string]bool, lg *loadedGraph) state.Header {
	h := state.Header{
		Created:      a.Now().UTC(),
		ToolVersion:  a.Version,
		ConfigPath:   configPath,
		ConfigDigest: lg.cfg.Digest(),
		ClusterID:    lg.cfg.Metadata.Name, // the terraform node's cluster_id output refines it in runtime.yaml
		Flags:        flags,
		Nodes:        lg.graph.TopoOrder(),
		Deps:         map[string][]string{},
	}
	for _, n := range h.Nodes {
		h.Deps[n] = lg.graph.DependsOn(n)
	}
	hold := state.CurrentHolder("")
	h.Operator, h.Host = hold.User, hold.Host
	if a.runIDs {
		h.RunID = a.NewRunID(h.Created)
	}
	return h
}

// freshRun archives an unfinished current run (state.StartFresh) and
// starts a new one. The prior is empty, so every enabled node runs
// (phases are idempotent), unless a selection narrows the run: then it is
// the last known state of each node, so that unselected done nodes are
// reused and their outputs flow.
func (a *app) freshRun(o runOptions, lg *loadedGraph, store *state.Store, sel workflow.Selection) (*state.Run, map[string]workflow.NodeStatus, error) {
	var prior map[string]workflow.NodeStatus
	if !sel.Empty() {
		var err error
		if prior, err = store.LastKnown(); err != nil {
			return nil, nil, err
		}
	}
	run, superseded, err := store.StartFresh(a.header(o.ConfigPath, o.Flags(lg.cfg), lg))
	if err != nil {
		return nil, nil, err
	}
	if superseded != "" {
		fmt.Fprintf(a.Stderr, "archived unfinished run %s (superseded by %s)\n", superseded, run.ID())
	}
	if err := saveRunConfig(store, run.ID(), lg.cfg); err != nil {
		run.Close()
		return nil, nil, err
	}
	return run, prior, nil
}

// resumeRun reopens the unfinished run (repairing a torn tail), refuses a
// changed config unless --force, and journals the resume.
func (a *app) resumeRun(o runOptions, lg *loadedGraph, store *state.Store, rf *state.RunFile) (*state.Run, map[string]workflow.NodeStatus, error) {
	id := rf.Header.RunID
	if rf.Header.ConfigDigest != "" && rf.Header.ConfigDigest != lg.cfg.Digest() && !o.Force {
		keys := changedKeys(store, id, lg.cfg)
		return nil, nil, usageErrorf("%s changed since run %s started (changed: %s); revert the change, "+
			"or pass --force to resume with the new config, or --fresh to start a new run", o.ConfigPath, id, keys)
	}
	run, err := store.OpenRun(id)
	if err != nil {
		return nil, nil, withCode(ExitUsage, fmt.Errorf("resume run %s: %w", id, err))
	}
	if err := run.Resumed(o.Flags(lg.cfg), run.Attempt()+1); err != nil {
		run.Close()
		return nil, nil, err
	}
	if err := saveRunConfig(store, id, lg.cfg); err != nil {
		run.Close()
		return nil, nil, err
	}
	return run, run.Nodes(), nil
}

// runConfigName is where the CLI keeps the canonical config a run started
// with, so that a refused resume can list the changed keys.
//
// Minimal private version: the state package's Header has only the
// digest. Requested: state keeps the canonical config with the run.
const runConfigName = "k0rdent.yaml"

func saveRunConfig(store *state.Store, id string, cfg *config.Config) error {
	data, err := cfg.Canonical()
	if err != nil {
		return err
	}
	dir := store.LogDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save run config: %w", err)
	}
	return state.WriteFileAtomic(filepath.Join(dir, runConfigName), data, 0o600)
}

// changedKeys lists the config keys that differ from the ones run id
// started with, or says why it cannot.
func changedKeys(store *state.Store, id string, cfg *config.Config) string {
	path := filepath.Join(store.LogDir(id), runConfigName)
	old, err := config.Load(path)
	if err != nil {
		return "unknown: no readable copy of the config the run started with"
	}
	keys := config.DiffKeys(old, cfg)
	if len(keys) == 0 {
		return "no effective keys; the digest differs"
	}
	return strings.Join(keys, ", ")
}

// newLogger is the CLI's own log (to stderr) at the --log-level.
func (a *app) newLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: level}))
}

// killAtEnv makes the recorder kill -9 its own process right after the
// n-th durable transition record. It exists for the crash-safety test.
const killAtEnv = "K0RDENT_TEST_KILL_AT"

func killSelf() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}
