package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/deploy"
	"github.com/k0rdent/k0rdent-deploy/state"
)

// statusOptions are the flags of `k0rdent status`.
type statusOptions struct {
	globalOptions
	Check  bool
	Output string
}

func (a *app) statusCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "status",
		Usage:     "show the current deployment: runtime snapshot and the current run's nodes",
		ArgsUsage: " ",
		Description: "Reads runtime.yaml and the run files without taking the lock and without\n" +
			"writing (runtime.yaml is a projection of the run files: when it is missing, garbage\n" +
			"or behind, status computes it from them), so it works while a run is going on.\n" +
			"--check asks every completed node that can tell (Verify) whether what it built\n" +
			"still exists, through the scheduler (each phase's timeout, its node log).\n\n" +
			examples(a.Name+" status", a.Name+" status --check", a.Name+" status -o json"),
		Flags: withGlobals(
			&ucli.BoolFlag{Name: "check", Usage: "verify each completed node live (read-only)"},
			outputFlag("text", "json"),
		),
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			g, out, err := readCommon(c, "text", "json")
			if err != nil {
				return err
			}
			return a.doStatus(c.Context, statusOptions{globalOptions: g, Check: c.Bool("check"), Output: out})
		},
	}
}

// statusView is `status` as data; its JSON form is stable.
type statusView struct {
	StateDir          string            `json:"state_dir"`
	ClusterID         string            `json:"cluster_id,omitempty"`
	CurrentRunID      string            `json:"current_run_id,omitempty"`
	CurrentOutcome    string            `json:"current_outcome,omitempty"`
	LastSuccessfulRun string            `json:"last_successful_run,omitempty"`
	Flags             map[string]bool   `json:"flags"`
	VPN               *vpnView          `json:"vpn,omitempty"`
	WireGuard         *state.WireGuard  `json:"wireguard,omitempty"`
	Terraform         map[string]string `json:"terraform,omitempty"`
	Kubeconfig        string            `json:"kubeconfig,omitempty"`
	Updated           *time.Time        `json:"updated,omitempty"`
	Nodes             []statusNode      `json:"nodes"`
	// InProgressPID is the pid of the live k0rdent process working on
	// the current run, from the lock's holder record (0: none).
	InProgressPID int `json:"in_progress_pid,omitempty"`
	// InProgressHost is that process's host, on a remote store (the
	// holder of its lease, perhaps another machine).
	InProgressHost string `json:"in_progress_host,omitempty"`
	// Teardown: the current run is a teardown (k0rdent reset); its
	// succeeded nodes are destroyed ones and --check has nothing to verify.
	Teardown bool   `json:"teardown,omitempty"`
	Checked  bool   `json:"checked"`
	Problem  string `json:"problem,omitempty"`
	// Legacy: what the migrated legacy tool left that no node manages
	// (service principal, KOF, SSH key).
	Legacy *state.LegacyResources `json:"legacy,omitempty"`
	// LegacyLeft: after a teardown, what of Legacy is still there and the
	// commands that remove it by hand.
	LegacyLeft []state.Leftover `json:"legacy_left,omitempty"`
	// LegacyFound: legacy files not migrated yet, and what migrate and
	// run will do with them.
	LegacyFound *state.LegacyInspection `json:"legacy_found,omitempty"`
}

type vpnView struct {
	Status  string     `json:"status"`
	Checked *time.Time `json:"checked,omitempty"` // nil while unverified
}

type statusNode struct {
	Node    string `json:"node"`
	State   string `json:"state"`
	Attempt int    `json:"attempt"`
	RunID   string `json:"run_id,omitempty"` // where it last succeeded
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
	// Check is the result of --check: ok, drifted, no check, skipped.
	Check       string `json:"check,omitempty"`
	CheckDetail string `json:"check_detail,omitempty"`
}

func (a *app) doStatus(ctx context.Context, o statusOptions) error {
	d := a.deployer(o.globalOptions)
	store := d.Store
	v := statusView{StateDir: o.StateDir, Flags: map[string]bool{}, Nodes: []statusNode{}}
	rt, err := store.Current()
	switch {
	case errors.Is(err, state.ErrNotFound):
		if v.LegacyFound, err = store.InspectLegacy(projectRoot(o.globalOptions)); err != nil {
			return err
		}
		if v.LegacyFound != nil {
			if o.Output == "json" {
				v.Problem = "legacy state not migrated yet"
				return writeJSON(a.Stdout, v)
			}
			return v.LegacyFound.WriteText(a.Stdout)
		}
		if o.Output == "json" {
			v.Problem = "no runs: nothing deployed yet"
			return writeJSON(a.Stdout, v)
		}
		fmt.Fprintf(a.Stdout, "nothing deployed from %s yet; start with: %s run --plan\n", o.StateDir, a.Name)
		return nil
	case err != nil:
		return err
	}
	v.ClusterID, v.CurrentRunID, v.CurrentOutcome = rt.ClusterID, rt.CurrentRunID, outcomeText(rt.CurrentOutcome)
	v.LastSuccessfulRun, v.WireGuard, v.Terraform, v.Kubeconfig = rt.LastSuccessfulRun, rt.WireGuard, rt.Terraform, rt.Kubeconfig
	if rt.Flags != nil {
		v.Flags = rt.Flags
	}
	if rt.VPN != nil {
		v.VPN = &vpnView{Status: rt.VPN.Status}
		if !rt.VPN.Checked.IsZero() {
			c := rt.VPN.Checked.UTC()
			v.VPN.Checked = &c
		}
	}
	v.Legacy = rt.Legacy
	if !rt.Updated.IsZero() {
		u := rt.Updated.UTC()
		v.Updated = &u
	}
	if remoteState(o.StateDir) {
		// The holder may be on another machine: a live lease says it
		// lives, not its pid here.
		var le *state.LockedError
		if err := store.Probe(); errors.As(err, &le) && le.Holder.RunID != "" && le.Holder.RunID == rt.CurrentRunID {
			v.InProgressPID, v.InProgressHost = le.Holder.PID, le.Holder.Host
		}
	} else if h, _ := store.ReadHolder(); h != nil && h.RunID != "" && h.RunID == rt.CurrentRunID && processAlive(h) {
		v.InProgressPID = h.PID
	}
	var rf *state.RunFile
	if rt.CurrentRunID != "" {
		rf, err = store.Load(rt.CurrentRunID)
		if err != nil {
			v.Problem = err.Error()
		} else if rf.Err != nil {
			v.Problem = rf.Err.Error()
		}
	}
	if rf != nil {
		for _, t := range rf.Timeline() {
			st := rf.Nodes[t.Node]
			v.Nodes = append(v.Nodes, statusNode{Node: t.Node, State: string(st.State), Attempt: st.Attempt,
				RunID: st.RunID, Reason: st.Reason, Error: st.Error})
		}
	}
	drifted := 0
	if rf != nil && rf.Header.Teardown {
		v.Teardown = true
		v.LegacyLeft = rt.Legacy.Leftovers() // a teardown could not remove them
	}
	if o.Check && rf != nil && !v.Teardown {
		v.Checked = true
		checks, err := d.Check(ctx, rf, 0)
		if err != nil {
			return err
		}
		byNode := map[string]deploy.NodeCheck{}
		for _, c := range checks {
			byNode[c.Node] = c
		}
		for i := range v.Nodes {
			c := byNode[v.Nodes[i].Node]
			v.Nodes[i].Check, v.Nodes[i].CheckDetail = c.Result, c.Detail
			if c.Result == deploy.CheckDrifted {
				drifted++
			}
		}
	}
	if o.Output == "json" {
		if err := writeJSON(a.Stdout, v); err != nil {
			return err
		}
	} else {
		v.writeText(a.Stdout)
	}
	if drifted > 0 {
		return withCode(ExitPhaseFailed, fmt.Errorf("%d node(s) drifted; %s", drifted, a.repairHint(rt.CurrentOutcome)))
	}
	if rf != nil && rf.Err != nil {
		// The status above is the file's valid prefix; say so where
		// scripts look, with the exit code of a state the operator fixes.
		return withCode(ExitUsage, fmt.Errorf("current run %s: %w", rt.CurrentRunID, rf.Err))
	}
	return nil
}

// repairHint is the command that repairs drift given the current run's
// outcome: a succeeded run is converged again by a new run (`run
// --resume` refuses it), an unfinished one is resumed.
func (a *app) repairHint(current state.Outcome) string {
	if current == state.OutcomeSucceeded {
		return fmt.Sprintf("repair with: %s run (a new run re-runs the drifted nodes and their dependents)", a.Name)
	}
	return fmt.Sprintf("repair with: %s run --resume (or %s run --fresh)", a.Name, a.Name)
}

func (v *statusView) writeText(w io.Writer) {
	kv := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, val string) {
		if val != "" {
			fmt.Fprintf(kv, "%s\t%s\n", k, val)
		}
	}
	row("state", v.StateDir)
	row("cluster", v.ClusterID)
	outcome := v.CurrentOutcome
	if v.InProgressPID != 0 {
		outcome = fmt.Sprintf("in progress, pid %d", v.InProgressPID)
		if v.InProgressHost != "" {
			outcome += " on " + v.InProgressHost
		}
	}
	switch {
	case v.Teardown && v.CurrentOutcome == string(state.OutcomeSucceeded):
		outcome = "torn down by reset"
	case v.Teardown:
		outcome = "teardown " + outcome + "; the deployment is partly torn down"
	}
	row("current run", v.CurrentRunID+" ("+outcome+")")
	row("last success", v.LastSuccessfulRun)
	row("flags", flagsText(v.Flags))
	if v.VPN != nil {
		checked := "never checked"
		if v.VPN.Checked != nil {
			checked = "checked " + formatTime(*v.VPN.Checked)
		}
		row("vpn", fmt.Sprintf("%s (%s)", v.VPN.Status, checked))
	}
	if v.WireGuard != nil {
		row("wireguard", fmt.Sprintf("%s port %d, %d peers", v.WireGuard.Network, v.WireGuard.Port, len(v.WireGuard.Peers)))
	}
	for _, k := range slices.Sorted(maps.Keys(v.Terraform)) {
		row("terraform."+k, v.Terraform[k])
	}
	row("kubeconfig", v.Kubeconfig)
	writeLegacyRows(row, v.Legacy)
	for _, l := range v.LegacyLeft {
		row("remove by hand", l.Fix)
	}
	if v.Updated != nil {
		row("updated", formatTime(*v.Updated))
	}
	kv.Flush()
	if v.Problem != "" {
		fmt.Fprintf(w, "problem: %s\n", v.Problem)
	}
	if len(v.Nodes) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "NODE\tSTATE\tATTEMPT\tNOTE"
	if v.Checked {
		header += "\tCHECK"
	}
	fmt.Fprintln(tw, header)
	for _, n := range v.Nodes {
		note := n.Reason
		switch {
		case n.Error != "":
			note = firstLine(n.Error)
		case n.RunID != "" && n.RunID != v.CurrentRunID:
			note = "reused from run " + n.RunID
		}
		line := fmt.Sprintf("%s\t%s\t%d\t%s", n.Node, n.State, n.Attempt, note)
		if v.Checked {
			c := n.Check
			if n.CheckDetail != "" {
				c += ": " + firstLine(n.CheckDetail)
			}
			line += "\t" + c
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}

// processAlive reports whether the holder's process still runs on this
// host. The record of a process that died stays in the lock file until
// the next run takes the lock over; status must not call such a run in
// progress.
func processAlive(h *state.Holder) bool {
	if host, _ := os.Hostname(); h.Host != "" && h.Host != host {
		return false
	}
	err := syscall.Kill(h.PID, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// journalled is a flag of a run's journalled flags as a given run flag;
// nil when the run did not record it (the config decides).
func journalled(flags map[string]bool, name string) *bool {
	v, ok := flags[name]
	if !ok {
		return nil
	}
	return &v
}

// writeLegacyRows shows what a migrated legacy deployment left that no
// node manages.
func writeLegacyRows(row func(k, val string), l *state.LegacyResources) {
	if l == nil {
		return
	}
	row("legacy ssh key", l.SSHKey)
	if sp := l.ServicePrincipal; sp != nil {
		row("legacy service principal", fmt.Sprintf("%s (client %s, secret in %s)", sp.Name, sp.ClientID, sp.CredentialsFile))
	}
	if k := l.KOF; k != nil {
		parts := []string{}
		if k.Mothership {
			parts = append(parts, "mothership "+k.MothershipVersion)
		}
		if k.RegionalCluster != "" {
			parts = append(parts, "regional cluster "+k.RegionalCluster)
		}
		if k.AzureCSI {
			parts = append(parts, "azure disk CSI")
		}
		row("legacy kof", strings.Join(parts, ", "))
	}
}
