package cli

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/state"
)

// runsOptions are the flags of `k0rdent runs`.
type runsOptions struct {
	globalOptions
	Limit  int
	Output string
}

func (a *app) runsCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "runs",
		Usage:     "list the deployment runs, newest first",
		ArgsUsage: " ",
		Description: "Lists every run journalled under --state-dir: id, start, duration, outcome\n" +
			"(superseded runs included), flags and node counts. It never takes the lock.\n\n" +
			examples(a.Name+" runs", a.Name+" runs --limit 5", a.Name+" runs -o json", a.Name+" runs show 20260101-120000-ab12"),
		Flags: withGlobals(
			&ucli.IntFlag{Name: "limit", Aliases: []string{"n"}, Usage: "show at most `N` runs (0: all)"},
			outputFlag("text", "json"),
		),
		Subcommands: []*ucli.Command{a.runsShowCommand()},
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return usageErrorf("runs: unexpected argument %q (did you mean `%s runs show %s`?)", c.Args().First(), a.Name, c.Args().First())
			}
			g, out, err := readCommon(c, "text", "json")
			if err != nil {
				return err
			}
			if c.Int("limit") < 0 {
				return usageErrorf("--limit %d: want 0 (all) or more", c.Int("limit"))
			}
			return a.doRuns(runsOptions{globalOptions: g, Limit: c.Int("limit"), Output: out})
		},
	}
}

// runJSON is one run in `runs -o json`. Field names are stable.
type runJSON struct {
	ID           string          `json:"id"`
	ParentRunID  string          `json:"parent_run_id,omitempty"`
	Started      time.Time       `json:"started"`
	Finished     *time.Time      `json:"finished,omitempty"`
	DurationSec  float64         `json:"duration_seconds,omitempty"`
	Outcome      string          `json:"outcome"`
	SupersededBy string          `json:"superseded_by,omitempty"`
	Flags        map[string]bool `json:"flags"`
	Migrated     bool            `json:"migrated,omitempty"`
	Teardown     bool            `json:"teardown,omitempty"`
	Nodes        int             `json:"nodes"`
	FailedNodes  []string        `json:"failed_nodes"`
	Torn         bool            `json:"torn,omitempty"`
	Error        string          `json:"error,omitempty"`
}

func outcomeText(o state.Outcome) string {
	if o == state.OutcomeNone {
		return "unfinished"
	}
	return string(o)
}

func toRunJSON(ri state.RunInfo) runJSON {
	j := runJSON{ID: ri.ID, ParentRunID: ri.ParentRunID, Started: ri.Created.UTC(), Outcome: outcomeText(ri.Outcome),
		SupersededBy: ri.SupersededBy, Flags: ri.Flags, Migrated: ri.Migrated, Teardown: ri.Teardown, Nodes: ri.Nodes,
		FailedNodes: ri.FailedNodes, Torn: ri.Torn}
	if j.Flags == nil {
		j.Flags = map[string]bool{}
	}
	if j.FailedNodes == nil {
		j.FailedNodes = []string{}
	}
	if !ri.Finished.IsZero() {
		f := ri.Finished.UTC()
		j.Finished = &f
		j.DurationSec = ri.Finished.Sub(ri.Created).Seconds()
	}
	if ri.Err != nil {
		j.Error = ri.Err.Error()
	}
	return j
}

func (a *app) doRuns(o runsOptions) error {
	infos, err := a.openStore(o.StateDir).ListNewest(o.Limit) // reads only the newest files
	if err != nil {
		return err
	}
	if o.Limit > 0 && len(infos) > o.Limit {
		infos = infos[:o.Limit]
	}
	if o.Output == "json" {
		out := make([]runJSON, 0, len(infos))
		for _, ri := range infos {
			out = append(out, toRunJSON(ri))
		}
		return writeJSON(a.Stdout, map[string]any{"runs": out})
	}
	if len(infos) == 0 {
		fmt.Fprintf(a.Stdout, "no runs in %s yet; start one with: %s run\n", o.StateDir, a.Name)
		return nil
	}
	writeRunsTable(a.Stdout, infos)
	return nil
}

// writeRunsTable is the text form of `runs`.
func writeRunsTable(w io.Writer, infos []state.RunInfo) {
	// tabwriter writes each cell and its padding apart: buffered, 10,000
	// runs are a few writes, not 120,000.
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTARTED\tDURATION\tOUTCOME\tFLAGS\tNODES")
	for _, ri := range infos {
		dur := "-"
		if !ri.Finished.IsZero() {
			dur = roundDuration(ri.Finished.Sub(ri.Created))
		}
		outcome := outcomeText(ri.Outcome)
		switch {
		case ri.Outcome == state.OutcomeSuperseded:
			outcome += " by " + ri.SupersededBy
		case ri.Err != nil:
			outcome += " (corrupt)"
		case ri.Torn:
			outcome += " (torn tail)"
		}
		if ri.Migrated {
			outcome += " (migrated)"
		}
		if ri.Teardown {
			outcome += " (teardown)"
		}
		nodes := fmt.Sprintf("%d", ri.Nodes)
		if len(ri.FailedNodes) > 0 {
			nodes += fmt.Sprintf(", %d failed: %s", len(ri.FailedNodes), strings.Join(ri.FailedNodes, ","))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ri.ID, formatTime(ri.Created), dur, outcome, flagsText(ri.Flags), nodes)
	}
	tw.Flush()
}

// flagsText lists the flags that are on, e.g. "with_kof,fail_fast", or "-".
func flagsText(flags map[string]bool) string {
	var on []string
	for _, k := range slices.Sorted(maps.Keys(flags)) {
		if flags[k] {
			on = append(on, k)
		}
	}
	if len(on) == 0 {
		return "-"
	}
	return strings.Join(on, ",")
}

// formatTime prints times in UTC so that output does not depend on the
// machine's zone.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}
