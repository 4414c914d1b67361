package cli

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// runsShowOptions are the arguments of `k0rdent runs show`.
type runsShowOptions struct {
	globalOptions
	ID     string
	Lines  int
	Output string
}

func (a *app) runsShowCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "show",
		Usage:     "show one run: timeline, critical path, failure and log tail",
		ArgsUsage: "<run-id>|latest",
		Description: "Shows a run's timeline with per-node durations, the critical path, each failing\n" +
			"node with its error and the nodes it blocked, and the tail of its log.\n\n" +
			examples(a.Name+" runs show latest", a.Name+" runs show --lines 50 20260101-120000-ab12", a.Name+" runs show -o json latest"),
		Flags: withGlobals(
			&ucli.IntFlag{Name: "lines", Value: 20, Usage: "show the last `N` lines of a failed node's log"},
			outputFlag("text", "json"),
		),
		Action: func(c *ucli.Context) error {
			g, out, err := readCommon(c, "text", "json")
			if err != nil {
				return err
			}
			if c.NArg() != 1 {
				return usageErrorf("runs show: want one run id (or latest), after the flags; list them with %s runs", a.Name)
			}
			return a.doRunsShow(runsShowOptions{globalOptions: g, ID: c.Args().First(), Lines: c.Int("lines"), Output: out})
		},
	}
}

func (a *app) doRunsShow(o runsShowOptions) error {
	store := a.openStore(o.StateDir)
	id := o.ID
	if id == "latest" {
		infos, err := store.List()
		if err != nil {
			return err
		}
		if len(infos) == 0 {
			return usageErrorf("no runs in %s yet; start one with: %s run (or pass --state-dir to read another state directory)", o.StateDir, a.Name)
		}
		id = infos[0].ID
	}
	if !state.ValidRunID(id) {
		return usageErrorf("run id %q: want YYYYMMDD-HHMMSS-xxxx or latest; list them with %s runs", id, a.Name)
	}
	rf, err := store.Load(id)
	if errors.Is(err, state.ErrNotFound) {
		return usageErrorf("no run %s in %s; list them with %s runs", id, o.StateDir, a.Name)
	}
	if err != nil {
		return err
	}
	g := a.graphForRun(o.globalOptions, rf)
	v := newRunView(rf, g, store, o.Lines)
	if o.Output == "json" {
		err = writeJSON(a.Stdout, v)
	} else {
		v.writeText(a.Stdout)
	}
	if err == nil && rf.Err != nil {
		// What was shown is the file's valid prefix.
		err = withCode(ExitUsage, rf.Err)
	}
	return err
}

// runGraph is the graph of a recorded run: its nodes in topological
// order and the dependencies of each.
type runGraph struct {
	order []string
	deps  map[string][]string
}

// graphForRun is the run's graph from the edges in its header. A run file
// written before headers had edges gets the graph of the current config
// (factories return the same nodes whatever the flags, so none are
// needed); nil when that does not load either: the critical path and
// blocked-by are then left out.
func (a *app) graphForRun(g globalOptions, rf *state.RunFile) *runGraph {
	if rf.Header.Deps != nil {
		return newRunGraph(rf.Header.Nodes, rf.Header.Deps)
	}
	lg, err := a.loadGraph(globalOptions{ConfigPath: g.ConfigPath, StateDir: g.StateDir, LogLevel: g.LogLevel}, phases.RunFlags{})
	if err != nil {
		return nil
	}
	deps := map[string][]string{}
	for _, n := range lg.graph.TopoOrder() {
		deps[n] = lg.graph.DependsOn(n)
	}
	return newRunGraph(lg.graph.TopoOrder(), deps)
}

// newRunGraph orders nodes (and any node named only in deps) so that
// every node comes after its dependencies, keeping the given order where
// it allows (workflow.TopoSort).
func newRunGraph(nodes []string, deps map[string][]string) *runGraph {
	all := slices.Clone(nodes)
	for _, n := range slices.Sorted(maps.Keys(deps)) {
		if !slices.Contains(all, n) {
			all = append(all, n)
		}
	}
	return &runGraph{deps: deps, order: workflow.TopoSort(all, func(n string) []string { return deps[n] })}
}

// has reports whether n is a node of the graph.
func (g *runGraph) has(n string) bool { return slices.Contains(g.order, n) }

// blocked lists, in topological order, the nodes downstream of failed
// that the run recorded blocked.
func (g *runGraph) blocked(nodes map[string]workflow.NodeStatus, failed string) []string {
	down := map[string]bool{failed: true}
	var out []string
	for _, n := range g.order {
		for _, d := range g.deps[n] {
			if down[d] {
				down[n] = true
			}
		}
		if n != failed && down[n] && nodes[n].State == workflow.Blocked {
			out = append(out, n)
		}
	}
	return out
}

// runView is `runs show` as data; its JSON form is stable.
type runView struct {
	ID           string          `json:"id"`
	ParentRunID  string          `json:"parent_run_id,omitempty"`
	Outcome      string          `json:"outcome"`
	Reason       string          `json:"reason,omitempty"`
	SupersededBy string          `json:"superseded_by,omitempty"`
	Attempt      int             `json:"attempt"`
	Started      time.Time       `json:"started"`
	Finished     *time.Time      `json:"finished,omitempty"`
	DurationSec  float64         `json:"duration_seconds,omitempty"`
	ToolVersion  string          `json:"tool_version,omitempty"`
	ConfigPath   string          `json:"config_path,omitempty"`
	ConfigDigest string          `json:"config_digest,omitempty"`
	Flags        map[string]bool `json:"flags"`
	Migrated     bool            `json:"migrated,omitempty"`
	Teardown     bool            `json:"teardown,omitempty"`
	Torn         bool            `json:"torn,omitempty"`
	Error        string          `json:"error,omitempty"`
	Nodes        []nodeView      `json:"nodes"`
	Critical     []string        `json:"critical_path"`
	CriticalSec  float64         `json:"critical_path_seconds"`
	Failures     []failureView   `json:"failures"`

	started time.Time
}

type nodeView struct {
	Node        string  `json:"node"`
	State       string  `json:"state"`
	Attempts    int     `json:"attempts"`
	StartSec    float64 `json:"start_offset_seconds"` // from the run's start; -1 if it never ran
	DurationSec float64 `json:"duration_seconds"`
	Reason      string  `json:"reason,omitempty"`
	Error       string  `json:"error,omitempty"`

	start, dur time.Duration
	ran        bool
}

type failureView struct {
	Node    string   `json:"node"`
	Attempt int      `json:"attempt"`
	Error   string   `json:"error"`
	Blocked []string `json:"blocked"`
	Log     string   `json:"log"`
	LogTail []string `json:"log_tail"`
}

func newRunView(rf *state.RunFile, g *runGraph, store *state.Store, lines int) *runView {
	h := rf.Header
	v := &runView{ID: h.RunID, ParentRunID: h.ParentRunID, Outcome: outcomeText(rf.Outcome), Reason: rf.OutcomeReason,
		SupersededBy: rf.SupersededBy, Attempt: rf.Attempt, Started: h.Created.UTC(), ToolVersion: h.ToolVersion,
		ConfigPath: h.ConfigPath, ConfigDigest: h.ConfigDigest, Flags: rf.Flags, Migrated: h.Migrated, Teardown: h.Teardown, Torn: rf.Torn,
		Critical: []string{}, Failures: []failureView{}, started: h.Created}
	if v.Flags == nil {
		v.Flags = map[string]bool{}
	}
	if rf.Err != nil {
		v.Error = rf.Err.Error()
	}
	if !rf.Finished.IsZero() {
		f := rf.Finished.UTC()
		v.Finished = &f
		v.DurationSec = rf.Finished.Sub(h.Created).Seconds()
	}
	durs := map[string]time.Duration{}
	for _, t := range rf.Timeline() {
		n := nodeView{Node: t.Node, State: string(t.State), Attempts: t.Attempts, StartSec: -1, Reason: t.Reason,
			Error: t.Error, dur: t.Duration, DurationSec: t.Duration.Seconds()}
		if !t.Started.IsZero() {
			n.ran, n.start = true, t.Started.Sub(h.Created)
			n.StartSec = n.start.Seconds()
		}
		durs[t.Node] = t.Duration
		v.Nodes = append(v.Nodes, n)
	}
	if v.Nodes == nil {
		v.Nodes = []nodeView{}
	}
	if g != nil {
		var total time.Duration
		v.Critical, total = criticalPath(g, durs)
		v.CriticalSec = total.Seconds()
	}
	for _, n := range v.Nodes {
		if n.State != string(workflow.Failed) {
			continue
		}
		f := failureView{Node: n.Node, Attempt: rf.Nodes[n.Node].Attempt, Error: n.Error, Blocked: []string{},
			Log: store.LogLocation(h.RunID, n.Node), LogTail: []string{}}
		if g != nil && g.has(n.Node) {
			if b := g.blocked(rf.Nodes, n.Node); b != nil {
				f.Blocked = b
			}
		} else {
			for _, m := range v.Nodes {
				if m.State == string(workflow.Blocked) && strings.Contains(m.Reason, n.Node) {
					f.Blocked = append(f.Blocked, m.Node)
				}
			}
		}
		if tail, err := store.TailLog(h.RunID, n.Node, lines); err == nil && tail != nil {
			f.LogTail = tail
		}
		v.Failures = append(v.Failures, f)
	}
	return v
}

// criticalPath is the longest chain of dependent nodes by recorded
// duration (workflow.CriticalPath, as the scheduler computes it for the
// live run); empty when no node ran.
func criticalPath(g *runGraph, durs map[string]time.Duration) ([]string, time.Duration) {
	path, total := workflow.CriticalPath(g.order, func(n string) []string { return g.deps[n] }, durs)
	if path == nil {
		path = []string{}
	}
	return path, total
}

// writeText is the text form of `runs show`.
func (v *runView) writeText(w io.Writer) {
	fmt.Fprintf(w, "run      %s\n", v.ID)
	outcome := v.Outcome
	if v.SupersededBy != "" {
		outcome += " by " + v.SupersededBy
	}
	if v.Reason != "" {
		outcome += " (" + v.Reason + ")"
	}
	fmt.Fprintf(w, "outcome  %s\n", outcome)
	if v.ParentRunID != "" {
		fmt.Fprintf(w, "parent   %s\n", v.ParentRunID)
	}
	dur := "-"
	if v.Finished != nil {
		dur = roundDuration(v.Finished.Sub(v.Started))
	}
	fmt.Fprintf(w, "started  %s  duration %s  attempt %d\n", formatTime(v.Started), dur, v.Attempt)
	fmt.Fprintf(w, "flags    %s\n", flagsText(v.Flags))
	if v.ConfigPath != "" {
		fmt.Fprintf(w, "config   %s (%s)\n", v.ConfigPath, v.ConfigDigest)
	}
	if v.Migrated {
		fmt.Fprintln(w, "migrated from the bash tool's state")
	}
	if v.Teardown {
		fmt.Fprintln(w, "teardown (k0rdent reset): succeeded nodes were destroyed")
	}
	if v.Torn {
		fmt.Fprintln(w, "the last record is torn; it is repaired when the run is resumed")
	}
	if v.Error != "" {
		fmt.Fprintf(w, "CORRUPT: %s\n", v.Error)
	}

	fmt.Fprintln(w, "\nTIMELINE")
	var span time.Duration
	for _, n := range v.Nodes {
		if n.ran && n.start+n.dur > span {
			span = n.start + n.dur
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tATTEMPTS\tSTART\tDURATION\t")
	for _, n := range v.Nodes {
		start, d := "-", "-"
		if n.ran {
			start, d = "+"+roundDuration(n.start), roundDuration(n.dur)
		}
		note := n.Reason
		if n.Error != "" {
			note = firstLine(n.Error)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s %s\n", n.Node, n.State, n.Attempts, start, d, bar(n, span, 24), note)
	}
	tw.Flush()

	if len(v.Critical) > 0 {
		fmt.Fprintf(w, "\ncritical path: %s (%s)\n", strings.Join(v.Critical, " -> "),
			roundDuration(time.Duration(v.CriticalSec*float64(time.Second))))
	}
	for _, f := range v.Failures {
		fmt.Fprintf(w, "\nFAILED %s (attempt %d): %s\n", f.Node, f.Attempt, f.Error)
		if len(f.Blocked) > 0 {
			fmt.Fprintf(w, "blocked by it: %s\n", strings.Join(f.Blocked, ", "))
		}
		if len(f.LogTail) > 0 {
			fmt.Fprintf(w, "last %d lines of %s:\n", len(f.LogTail), f.Log)
			for _, l := range f.LogTail {
				fmt.Fprintf(w, "  | %s\n", l)
			}
		} else {
			fmt.Fprintf(w, "log: %s\n", f.Log)
		}
	}
}

// bar draws a node's time span on a run-wide scale of width characters.
func bar(n nodeView, span time.Duration, width int) string {
	if !n.ran || span <= 0 {
		return "|" + strings.Repeat(" ", width) + "|"
	}
	from := int(int64(n.start) * int64(width) / int64(span))
	to := int(int64(n.start+n.dur) * int64(width) / int64(span))
	if to <= from {
		to = from + 1
	}
	from, to = min(from, width-1), min(to, width)
	return "|" + strings.Repeat(" ", from) + strings.Repeat("#", to-from) + strings.Repeat(" ", width-to) + "|"
}
