package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// This file maps parsed legacy files onto the new graph. It is pure: the
// same legacy inputs always give the same runs, ids, times and outputs.

// migrateNode is a node of the new graph with the legacy phases it replaces
// (reference §1.3, §8.5, §11).
type migrateNode struct {
	Name     string
	Legacy   []string
	Optional bool
}

// migrateNodes is the new graph in the order the legacy tool ran the
// corresponding phases. Read only.
var migrateNodes = [...]migrateNode{
	{Name: "wireguard", Legacy: []string{"prepare_deployment"}},
	{Name: "terraform", Legacy: []string{"setup_network", "create_vms"}},
	{Name: "vpn", Legacy: []string{"setup_vpn", "connect_vpn"}},
	{Name: "k0s", Legacy: []string{"install_k0s"}},
	{Name: "k0rdent", Legacy: []string{"install_k0rdent"}},
	{Name: "azure-children", Legacy: []string{"setup_azure_children"}, Optional: true},
	{Name: "kof", Legacy: []string{"install_azure_csi", "install_kof_mothership", "install_kof_regional"}, Optional: true},
}

// Flag names in run headers and runtime.yaml.
const (
	flagWithKOF           = "with_kof"
	flagWithAzureChildren = "with_azure_children"
)

// migratedVersion is the tool_version of a synthesized run.
const migratedVersion = "legacy (k0rdent-azure-setup)"

// legacyCompletionActions are events that, in eras without phase events,
// mean a legacy phase finished. Read only.
var legacyCompletionActions = map[string]string{
	"cloud_init_generated":                "prepare_deployment",
	"azure_setup_completed":               "setup_network",
	"vpn_config_generated":                "setup_vpn",
	"vpn_connected":                       "connect_vpn",
	"k0s_deployment_completed":            "install_k0s",
	"k0rdent_installation_completed":      "install_k0rdent",
	"azure_csi_installed":                 "install_azure_csi",
	"kof_mothership_deployment_completed": "install_kof_mothership",
	"kof_regional_deployment_completed":   "install_kof_regional",
	"azure_credentials_configured":        "setup_azure_children",
}

// legacyResetActions are events of partial teardowns (reset steps) that
// undo a legacy phase: the phase and every phase after it that depends on
// it go back to pending. Read only.
var legacyResetActions = map[string]string{
	"preparation_reset":                "prepare_deployment",
	"azure_infrastructure_reset":       "setup_network",
	"vm_reset_deletion":                "create_vms",
	"vpn_config_reset":                 "setup_vpn",
	"k0s_cluster_uninstalled":          "install_k0s",
	"k0s_config_reset":                 "install_k0s",
	"k0rdent_uninstalled":              "install_k0rdent",
	"azure_credentials_cleanup":        "setup_azure_children",
	"azure_csi_uninstalled":            "install_azure_csi",
	"kof_mothership_uninstalled":       "install_kof_mothership",
	"kof_regional_uninstall_completed": "install_kof_regional",
}

// legacyActivityActions are events emitted while a legacy phase works,
// before it completes. They date a phase whose completion the era did
// not record (create_vms before 0.3.0). Read only.
var legacyActivityActions = map[string]string{
	"preparation_started":               "prepare_deployment",
	"wireguard_ips_assigned":            "prepare_deployment",
	"wireguard_keys_generated":          "prepare_deployment",
	"azure_rg_created":                  "setup_network",
	"azure_ssh_key_created":             "setup_network",
	"azure_network_created":             "setup_network",
	"vm_creation_started":               "create_vms",
	"k0s_config_generated":              "install_k0s",
	"k0s_deployment_started":            "install_k0s",
	"kubeconfig_retrieved":              "install_k0s",
	"network_validation_passed":         "install_k0s",
	"k0rdent_installation_started":      "install_k0rdent",
	"k0rdent_ready_partial":             "install_k0rdent",
	"k0rdent_ready":                     "install_k0rdent",
	"kof_mothership_deployment_started": "install_kof_mothership",
	"kof_istio_installed":               "install_kof_mothership",
	"kof_operators_installed":           "install_kof_mothership",
	"kof_mothership_installed":          "install_kof_mothership",
	"kof_regional_deployment_started":   "install_kof_regional",
}

// legacyPrepareActions are the events of the prepare step. 0.1.0 and
// 0.2.0 write deployment_started after it, so these events, when they
// directly precede a deployment_started, belong to the run it starts.
// Read only.
var legacyPrepareActions = map[string]bool{
	"deployment_initialized": true, "preparation_started": true,
	"wireguard_ips_assigned": true, "wireguard_keys_generated": true,
	"cloud_init_generated": true,
}

// phaseStat is a legacy phase's status at some point of the history.
type phaseStat struct {
	Status string
	Time   time.Time // when it got the status; zero if unknown
	Reason string    // skipped_reason
	// Seen is the time of the phase's latest activity event, which dates
	// a completion the legacy era did not record.
	Seen time.Time
}

// synthRun is one synthesized run: what will become runs/<ID>.yaml.
type synthRun struct {
	ID         string
	Start      time.Time
	End        time.Time // time of the outcome; zero when unfinished
	Operator   string
	ConfigPath string
	// Flags are the optional-phase flags of the legacy run; nil when the
	// legacy tool did not record them (≤0.1.0).
	Flags        map[string]bool
	Events       []workflow.Event
	Nodes        map[string]workflow.State
	Outcome      string // "succeeded", or "" (unfinished / superseded)
	Reason       string
	SupersededBy string
	// Last is true for the latest legacy run (the one the state file
	// describes).
	Last bool
	// Notes say where the legacy files disagreed and what was followed.
	Notes []string
	// Legacy (latest run only) is what outlives our nodes.
	Legacy *LegacyResources
}

type legacySegment struct {
	hasStart   bool
	start      time.Time
	events     []legacyEvent
	flagsKnown bool
	azure, kof bool
}

// mergeSideEvents places the events of the side files (azure-events.yaml,
// kof-events.yaml; 0.1.0 and 0.2.0 record the Azure-children step only
// there) into the deployment's events by time: each goes before the first
// deployment event that is later. File order is kept otherwise.
func mergeSideEvents(evs, side []legacyEvent) []legacyEvent {
	if len(side) == 0 {
		return evs
	}
	side = slices.Clone(side)
	sort.SliceStable(side, func(i, j int) bool { return side[i].Time.Before(side[j].Time) })
	out := make([]legacyEvent, 0, len(evs)+len(side))
	j := 0
	for _, ev := range evs {
		for j < len(side) && !side[j].Time.IsZero() && !ev.Time.IsZero() && side[j].Time.Before(ev.Time) {
			out = append(out, side[j])
			j++
		}
		out = append(out, ev)
	}
	return append(out, side[j:]...)
}

// splitLegacyRuns splits the events on deployment_started. Events before the
// first deployment_started (deployment_initialized) belong to the first run.
// The prepare step's events that directly precede a later
// deployment_started (0.1.0 and 0.2.0 write it after that step) belong to
// the run it starts.
func splitLegacyRuns(evs []legacyEvent) []*legacySegment {
	// 0.4.0 writes deployment_started before the prepare step: then the
	// prepare events after a run belong to it, not to the next one.
	carry := false
	for _, ev := range evs {
		if ev.Action == "deployment_started" {
			break
		}
		if ev.Source == "" && legacyPrepareEvent(ev) && ev.Action != "deployment_initialized" {
			carry = true
			break
		}
	}
	var segs []*legacySegment
	for _, ev := range evs {
		started := ev.Action == "deployment_started"
		if len(segs) == 0 || started && segs[len(segs)-1].hasStart {
			var carried []legacyEvent
			if n := len(segs); n > 0 && carry {
				prev := segs[n-1]
				k := len(prev.events)
				for k > 1 && ev.Source == "" && prev.events[k-1].Source == "" && legacyPrepareEvent(prev.events[k-1]) {
					k--
				}
				carried = slices.Clone(prev.events[k:])
				prev.events = prev.events[:k]
			}
			segs = append(segs, &legacySegment{events: carried})
		}
		s := segs[len(segs)-1]
		if started && !s.hasStart {
			s.hasStart, s.start = true, ev.Time
			s.azure, s.kof, s.flagsKnown = ev.startFlags()
		}
		s.events = append(s.events, ev)
	}
	return segs
}

func legacyPrepareEvent(ev legacyEvent) bool {
	return legacyPrepareActions[ev.Action] || ev.Action == "phase_completed" && ev.Phase == "prepare_deployment"
}

// applyLegacyEvents advances the cumulative phase statuses by one run's
// events.
func applyLegacyEvents(cur map[string]phaseStat, evs []legacyEvent) {
	set := func(p string, ps phaseStat) {
		ps.Seen = cur[p].Seen
		cur[p] = ps
	}
	resetFrom := func(i int, t time.Time) {
		// The legacy tool resets a phase and every later one.
		for _, p := range legacyPhaseSequence[i:] {
			set(p, phaseStat{Status: legacyPending, Time: t})
		}
	}
	for _, ev := range evs {
		switch ev.Action {
		case "phase_completed":
			if legacyPhaseIndex(ev.Phase) >= 0 {
				set(ev.Phase, phaseStat{Status: legacyCompleted, Time: ev.Time})
			}
		case "phase_skipped":
			if legacyPhaseIndex(ev.Phase) >= 0 {
				set(ev.Phase, phaseStat{Status: legacySkipped, Time: ev.Time, Reason: ev.skipReason()})
			}
		case "phase_reset":
			if i := legacyPhaseIndex(ev.Phase); i >= 0 {
				resetFrom(i, ev.Time)
			}
		case "deployment_completed":
			// Emitted once k0rdent is installed: every core phase ran.
			for _, p := range legacyPhaseSequence[:legacyCorePhases] {
				if cur[p].Status != legacyCompleted {
					// Dated by its own last activity when it has one
					// (create_vms has no completion event before 0.3.0).
					at := ev.Time
					if seen := cur[p].Seen; !seen.IsZero() && seen.Before(at) {
						at = seen
					}
					set(p, phaseStat{Status: legacyCompleted, Time: at})
				}
			}
		default:
			if p, ok := legacyCompletionActions[ev.Action]; ok && cur[p].Status != legacyCompleted {
				set(p, phaseStat{Status: legacyCompleted, Time: ev.Time})
			}
			if p, ok := legacyResetActions[ev.Action]; ok {
				if i := legacyPhaseIndex(p); i >= legacyCorePhases {
					set(p, phaseStat{Status: legacyPending, Time: ev.Time}) // optional parts stand alone
				} else if i >= 0 {
					resetFrom(i, ev.Time)
				}
			}
			if p, ok := legacyActivityActions[ev.Action]; ok && !ev.Time.IsZero() {
				ps := cur[p]
				ps.Seen = ev.Time
				cur[p] = ps
			}
		}
	}
	impliedCore(cur)
}

// impliedCore: the legacy orchestrator ran the core phases strictly in
// order and stopped at the first failure, so a completed core phase means
// every earlier core phase completed (at the time of its last activity,
// if any).
func impliedCore(cur map[string]phaseStat) {
	last := -1
	for i, p := range legacyPhaseSequence[:legacyCorePhases] {
		if cur[p].Status == legacyCompleted {
			last = i
		}
	}
	for _, p := range legacyPhaseSequence[:max(last, 0)] {
		if cur[p].Status != legacyCompleted {
			cur[p] = phaseStat{Status: legacyCompleted, Time: cur[p].Seen, Seen: cur[p].Seen}
		}
	}
}

// stateStatuses reconciles the phase statuses of the latest run: the
// events (cur, cumulative) are the truth; the state file's `phases` map
// (0.3.0+, which 0.3.0 leaves at pending) and its top-level facts (the
// boolean flags and azure_*_status values of every era) decide only
// phases the events say nothing about. Each disagreement is noted.
func stateStatuses(in *legacyInputs, cur map[string]phaseStat) (map[string]phaseStat, []string) {
	st := in.State
	out := map[string]phaseStat{}
	for k, v := range cur {
		out[k] = v
	}
	facts := factStatuses(in)
	var notes []string
	for _, p := range legacyPhaseSequence {
		ev, fact := cur[p], facts[p]
		var recorded phaseStat
		source := ""
		if st.HasPhases {
			lp, ok := st.Phases[p]
			if !ok {
				lp.Status = legacyPending
			}
			recorded = phaseStat{Status: lp.Status, Time: lp.UpdatedAt, Reason: lp.SkippedReason}
			source = "phases." + p + " is " + lp.Status
		} else {
			recorded = fact
			source = "its top-level facts say " + orPending(fact.Status)
		}
		if recorded.Time.IsZero() && ev.Status == recorded.Status {
			recorded.Time = ev.Time
		}
		evDecided := ev.Status == legacyCompleted || ev.Status == legacySkipped || ev.Status == legacyPending && !ev.Time.IsZero()
		if evDecided && !recorded.Time.IsZero() && !ev.Time.IsZero() && recorded.Time.After(ev.Time) && recorded.Status != "" {
			// The state file recorded this phase after the last event
			// about it (a later run started it again): it is newer.
			evDecided = false
		}
		if evDecided && ev.Status == legacyPending && recorded.Status == legacySkipped {
			evDecided = false // removed, then skipped: no contradiction
		}
		switch {
		case evDecided:
			// The events decided this phase.
			if ev.Status != recorded.Status && !(recorded.Status == legacyInProgress && ev.Status == legacyPending) {
				notes = append(notes, fmt.Sprintf("%s: deployment-state.yaml's %s, the events say %s%s; following the events",
					p, source, ev.Status, atTime(ev.Time)))
			}
			out[p] = ev
		case recorded.Status == legacyCompleted || recorded.Status == legacySkipped || recorded.Status == legacyInProgress:
			out[p] = recorded
		case fact.Status == legacyCompleted:
			// 0.3.0 leaves phases at pending, and its auto-upgrade
			// backfilled older files with pending: the facts say done.
			notes = append(notes, fmt.Sprintf("%s: deployment-state.yaml's %s but its top-level facts say completed and no event contradicts them; following the facts", p, source))
			out[p] = phaseStat{Status: legacyCompleted, Time: ev.Seen, Seen: ev.Seen}
		default:
			out[p] = recorded
		}
	}
	if s := st.Status; s != "" {
		allCore := true
		for _, p := range legacyPhaseSequence[:legacyCorePhases] {
			allCore = allCore && out[p].Status == legacyCompleted
		}
		if s == "completed" && !allCore {
			notes = append(notes, "deployment-state.yaml says status: completed, but the events and facts leave core phases unfinished; the run is migrated as unfinished")
		}
		if s != "completed" && allCore {
			notes = append(notes, fmt.Sprintf("deployment-state.yaml says status: %s, but the events show every core phase completed; following the events", s))
		}
	}
	return out, notes
}

func orPending(s string) string {
	if s == "" {
		return legacyPending
	}
	return s
}

func atTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " at " + t.UTC().Format(time.RFC3339)
}

// factStatuses derives the phase statuses from the state file's boolean
// flags and azure_*_status values (every era; §2.7 of the reference) and
// the side files.
func factStatuses(in *legacyInputs) map[string]phaseStat {
	st := in.State
	out := map[string]phaseStat{}
	done := func(p string, ok bool) {
		if ok {
			out[p] = phaseStat{Status: legacyCompleted}
		} else {
			out[p] = phaseStat{Status: legacyPending}
		}
	}
	b := st.Bools
	done("prepare_deployment", b["wg_keys_generated"])
	done("setup_network", st.AzureRG == "created" && st.AzureNetwork == "created" && st.AzureSSHKey == "created")
	vmsOK := len(st.VMs) > 0 && len(st.VMs) >= st.ControllerCount+st.WorkerCount
	for _, vm := range st.VMs {
		vmsOK = vmsOK && vm.State == "Succeeded"
	}
	done("create_vms", vmsOK)
	done("setup_vpn", b["wg_laptop_config_created"])
	// k0s can only have been installed over the tunnel, so it proves the
	// connect phase; wg_vpn_connected alone says the tunnel was up once.
	done("connect_vpn", b["wg_vpn_connected"] || b["k0s_cluster_deployed"])
	done("install_k0s", b["k0s_cluster_deployed"])
	done("install_k0rdent", b["k0rdent_installed"])
	done("setup_azure_children", in.Azure != nil && in.Azure.Configured)
	kof := in.KOF
	done("install_azure_csi", b["azure_csi_installed"])
	done("install_kof_mothership", b["kof_mothership_installed"] || kof != nil && kof.MothershipInstalled)
	done("install_kof_regional", b["kof_regional_installed"] || kof != nil && kof.RegionalInstalled)
	return out
}

// nodeState maps the statuses of a node's legacy phases to the node's state
// in a run: succeeded only if all completed, skipped if all skipped (or the
// run disabled the optional node), otherwise pending. Legacy in_progress is
// never trusted. done is the latest completion time of a succeeded node,
// or the latest legacy skip time of a skipped one (zero if unknown).
func nodeState(n migrateNode, stats map[string]phaseStat, flagsKnown, enabled bool) (s workflow.State, reason string, done time.Time) {
	completed, skipped, evidence := 0, 0, false
	var skippedAt time.Time
	for _, p := range n.Legacy {
		ps := stats[p]
		switch ps.Status {
		case legacyCompleted:
			completed++
			evidence = true
			if ps.Time.After(done) {
				done = ps.Time
			}
		case legacySkipped:
			skipped++
			if ps.Time.After(skippedAt) {
				skippedAt = ps.Time
			}
			if reason == "" {
				reason = ps.Reason
			}
		case legacyInProgress:
			evidence = true
		}
	}
	if reason == "" {
		reason = "not enabled in the legacy run"
	}
	if n.Optional && flagsKnown && !enabled {
		return workflow.Skipped, "disabled: " + reason, skippedAt
	}
	if completed == len(n.Legacy) {
		return workflow.Succeeded, "", done
	}
	if n.Optional && flagsKnown && enabled {
		return workflow.Pending, "", time.Time{}
	}
	if skipped == len(n.Legacy) {
		return workflow.Skipped, "disabled: " + reason, skippedAt
	}
	if n.Optional && !flagsKnown && !evidence {
		return workflow.Skipped, "disabled: the legacy run predates optional-phase flags and shows no trace of it", time.Time{}
	}
	return workflow.Pending, "", time.Time{}
}

// legacyRunID derives a run id from the legacy data: the run's start time
// and 4 hex digits of a hash of the cluster id, the start and the run's
// index. The same legacy files always give the same ids. Ids must sort in
// the legacy order (listing and the runtime projection go by id), so a run
// starting in the same second as the previous one (prev) counts up from
// its suffix instead; the caller keeps start times from going backwards.
func legacyRunID(clusterID string, start time.Time, index int, prev string) string {
	prefix := start.UTC().Format("20060102-150405")
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d", clusterID, start.UTC().Format(time.RFC3339), index)))
	id := prefix + "-" + hex.EncodeToString(h[:2])
	if prev == "" || id > prev || len(prev) != len(id) || prev[:15] != prefix {
		return id
	}
	var n uint32
	fmt.Sscanf(prev[16:], "%04x", &n)
	if n >= 0xffff {
		// 65536 legacy runs in one second cannot happen; stay unique anyway.
		return prefix + "-" + hex.EncodeToString(h[2:4])
	}
	return fmt.Sprintf("%s-%04x", prefix, n+1)
}

// synthesizeRuns turns the legacy history into one run per
// deployment_started. The latest run takes its node states from the state
// file; earlier ones from their events.
func synthesizeRuns(in *legacyInputs, projectRoot string) []synthRun {
	var segs []*legacySegment
	if len(in.Events) > 0 || in.State != nil {
		// Side events alone (a full reset leaves azure-state.yaml behind)
		// are no deployment run.
		segs = splitLegacyRuns(mergeSideEvents(in.Events, in.SideEvents))
	}
	if len(segs) == 0 && in.State != nil {
		segs = []*legacySegment{{}}
	}
	if len(segs) == 0 {
		return nil
	}
	runs := make([]synthRun, len(segs))
	cur := map[string]phaseStat{}
	var prevStart time.Time
	for i, seg := range segs {
		last := i == len(segs)-1
		applyLegacyEvents(cur, seg.events)
		stats := cur
		flagsKnown, azure, kof := seg.flagsKnown, seg.azure, seg.kof
		r := synthRun{Last: last}
		// The run starts with its first event (the prepare step, which
		// 0.1.0 and 0.2.0 record before deployment_started).
		var start time.Time
		if start.IsZero() {
			for _, ev := range seg.events {
				if !ev.Time.IsZero() && ev.Source == "" {
					start = ev.Time
					break
				}
			}
		}
		if last && in.State != nil {
			stats, r.Notes = stateStatuses(in, cur)
			if in.State.HasFlags {
				flagsKnown, azure, kof = true, in.State.AzureChildren, in.State.KOF
			}
			if start.IsZero() {
				start = in.State.StartTime
			}
			if start.IsZero() {
				start = in.State.CreatedAt
			}
			r.Operator = in.State.Deployer
			r.ConfigPath = in.State.SourceConfigFile
		}
		if start.IsZero() || start.Before(prevStart) {
			start = prevStart // no time, or a clock that went back: keep the order
		}
		if start.IsZero() {
			start = time.Unix(0, 0).UTC()
		}
		prevStart = start
		r.Start = start.UTC()
		prevID := ""
		if i > 0 {
			prevID = runs[i-1].ID
		}
		r.ID = legacyRunID(in.ClusterID, r.Start, i, prevID)
		if flagsKnown {
			r.Flags = map[string]bool{flagWithAzureChildren: azure, flagWithKOF: kof}
		}
		var outputs map[string]map[string]string
		if last {
			outputs = legacyOutputs(in, projectRoot)
			r.Legacy = legacyResources(in, projectRoot)
		}
		buildRecords(&r, stats, flagsKnown, azure, kof, outputs)
		// A run is succeeded when every node is done; its end is the last
		// thing it recorded, or deployment_completed or (for the latest
		// run) the state file's last write, if later.
		if r.Outcome == "succeeded" {
			for _, ev := range seg.events {
				if ev.Action == "deployment_completed" && ev.Time.After(r.End) {
					r.End = ev.Time
				}
			}
			if last && in.State != nil && in.State.LastUpdated.After(r.End) {
				r.End = in.State.LastUpdated
			}
		}
		runs[i] = r
	}
	for i := range runs[:len(runs)-1] {
		if runs[i].Outcome == "" {
			runs[i].SupersededBy = runs[i+1].ID
			runs[i].Reason = "legacy run did not finish; superseded by legacy run " + runs[i+1].ID
		}
	}
	return runs
}

// buildRecords writes the node transitions of one synthesized run so that
// they replay legally: pending→running→succeeded, pending→skipped. The
// legacy tool ran phases one after another, so each node starts when the
// previous one ended; a node completed before this run began was reused.
func buildRecords(r *synthRun, stats map[string]phaseStat, flagsKnown, azure, kof bool, outputs map[string]map[string]string) {
	r.Nodes = map[string]workflow.State{}
	cursor := r.Start
	allDone := true
	for _, n := range migrateNodes {
		enabled := true
		switch n.Name {
		case "azure-children":
			enabled = azure
		case "kof":
			enabled = kof
		}
		s, reason, done := nodeState(n, stats, flagsKnown, enabled)
		r.Nodes[n.Name] = s
		switch s {
		case workflow.Succeeded:
			end := done
			switch {
			case end.IsZero():
				reason = "migrated: completion time unknown"
				end = cursor
			case end.Before(r.Start):
				reason = "migrated: completed before this legacy run"
				end = cursor
			case end.Before(cursor):
				end = cursor
			}
			end = end.UTC()
			r.Events = append(r.Events,
				workflow.Event{Time: cursor, Node: n.Name, From: workflow.Pending, To: workflow.Running, Attempt: 1, Reason: "migrated from the legacy tool"},
				workflow.Event{Time: end, Node: n.Name, From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Reason: reason, Duration: end.Sub(cursor), Outputs: outputs[n.Name]},
			)
			cursor = end
		case workflow.Skipped:
			if done.After(cursor) {
				cursor = done.UTC()
			}
			r.Events = append(r.Events, workflow.Event{Time: cursor, Node: n.Name, From: workflow.Pending, To: workflow.Skipped, Attempt: 1, Reason: reason})
		default:
			allDone = false
		}
	}
	if allDone {
		r.Outcome = "succeeded"
		r.End = cursor
	}
}

// legacyOutputs are the non-secret node outputs the latest legacy run
// leaves, following the projection conventions of runtime.yaml: wireguard
// (peers, port, network), vpn (status), terraform (references), k0s
// (kubeconfig). Private keys never appear here.
func legacyOutputs(in *legacyInputs, projectRoot string) map[string]map[string]string {
	st := in.State
	out := map[string]map[string]string{}
	if st == nil {
		return out
	}
	wg := map[string]string{}
	ips := map[string]string{}
	for _, vm := range st.VMs {
		ips[vm.Name] = vm.PublicIP
	}
	if len(st.Peers) > 0 {
		peers := make([]Peer, 0, len(st.Peers))
		for _, p := range st.Peers {
			po := Peer{Name: p.Name, Address: p.IP, PublicKey: p.PublicKey, Role: p.Role}
			if ip := ips[p.Name]; ip != "" && st.WGPort > 0 {
				po.Endpoint = net.JoinHostPort(ip, strconv.Itoa(st.WGPort))
			}
			peers = append(peers, po)
		}
		data, _ := json.Marshal(peers) // plain strings: cannot fail
		wg[OutputPeers] = string(data)
	}
	if st.WGPort > 0 {
		wg[OutputPort] = strconv.Itoa(st.WGPort)
	}
	if st.WGNetwork != "" {
		wg[OutputNetwork] = st.WGNetwork
	}
	if len(wg) > 0 {
		out[NodeWireGuard] = wg
	}
	tf := map[string]string{}
	if st.ResourceGroup != "" {
		tf["resource_group"] = st.ResourceGroup
	}
	if st.Location != "" {
		tf["location"] = st.Location
	}
	if in.SSHKey != nil {
		tf["ssh_key_path"] = filepath.Join(in.SecretsDir, filepath.FromSlash(LegacySSHKeySecret))
	} else if key := projectPath(projectRoot, st.Artifacts["azure_ssh_private_key"]); key != "" {
		tf["ssh_key_path"] = key
	}
	if len(st.VMs) > 0 {
		// The shape of the terraform node's vm_details output.
		type vmDetail struct {
			PublicIP  string `json:"public_ip,omitempty"`
			PrivateIP string `json:"private_ip,omitempty"`
		}
		vms := map[string]vmDetail{}
		for _, vm := range st.VMs {
			vms[vm.Name] = vmDetail{PublicIP: vm.PublicIP, PrivateIP: vm.PrivateIP}
		}
		data, _ := json.Marshal(vms) // sorted keys, plain strings: cannot fail
		tf["vm_details"] = string(data)
	}
	if len(tf) > 0 {
		out[NodeTerraform] = tf
	}
	// The tunnel is volatile: whatever the legacy file says, it is
	// unverified until the next run checks it.
	out[NodeVPN] = map[string]string{OutputVPNStatus: VPNUnverified}
	if in.Kubeconfig != nil {
		out[NodeK0s] = map[string]string{OutputKubeconfig: filepath.Join(in.SecretsDir, filepath.FromSlash(legacyKubeconfigSecret))}
	} else if kc := legacyKubeconfig(in, projectRoot); kc != "" {
		out[NodeK0s] = map[string]string{OutputKubeconfig: kc}
	}
	// Identifiers only: the service principal's secret stays in the
	// legacy config/azure-credentials.yaml.
	if az := in.Azure; az != nil && az.Configured {
		ids := map[string]string{}
		for k, v := range map[string]string{"subscription_id": az.SubscriptionID, "tenant_id": az.TenantID, "client_id": az.ClientID} {
			if v != "" {
				ids[k] = v
			}
		}
		if len(ids) > 0 {
			out["azure-children"] = ids
		}
	}
	if st.KOFRegionalName != "" {
		out["kof"] = map[string]string{"regional_cluster_name": st.KOFRegionalName}
	}
	return out
}

// projectPath resolves a path the legacy tool recorded relative to the
// project root ("./k0sctl-config/…"); "" stays "".
func projectPath(projectRoot, p string) string {
	if p == "" || strings.ContainsRune(p, 0) {
		return ""
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(projectRoot, filepath.FromSlash(p))
	}
	return filepath.Clean(p)
}

// legacyKubeconfig is the kubeconfig path the legacy tool recorded (or its
// fixed location when the era had no artifact registry), resolved against
// the project root.
func legacyKubeconfig(in *legacyInputs, projectRoot string) string {
	st := in.State
	p := st.Artifacts["kubeconfig_file"]
	if p == "" && st.Bools["k0s_cluster_deployed"] && in.ClusterID != "" {
		p = "k0sctl-config/" + in.ClusterID + "-kubeconfig"
	}
	return projectPath(projectRoot, p)
}

// legacyResources are the facts of the legacy deployment that outlive our
// nodes (the latest run's header carries them into runtime.yaml): the SSH
// key copied under secrets/, the service principal azure-state.yaml still
// records as configured, the KOF installation the state file records as
// installed, whatever the latest run's flags were.
func legacyResources(in *legacyInputs, projectRoot string) *LegacyResources {
	l := &LegacyResources{}
	if in.SSHKey != nil {
		l.SSHKey = filepath.Join(in.SecretsDir, filepath.FromSlash(LegacySSHKeySecret))
	}
	if az := in.Azure; az != nil && az.Configured {
		sp := &LegacyServicePrincipal{SubscriptionID: az.SubscriptionID, TenantID: az.TenantID, ClientID: az.ClientID}
		if in.ClusterID != "" {
			sp.Name = in.ClusterID + "-cluster-deployment-sp"
		}
		for _, f := range in.OutsideSecrets {
			if f == "config/azure-credentials.yaml" {
				sp.CredentialsFile = filepath.Join(projectRoot, filepath.FromSlash(f))
			}
		}
		l.ServicePrincipal = sp
	}
	if st := in.State; st != nil {
		k := &LegacyKOFInstall{
			Mothership: st.Bools["kof_mothership_installed"] || in.KOF != nil && in.KOF.MothershipInstalled,
			AzureCSI:   st.Bools["azure_csi_installed"],
		}
		regional := st.Bools["kof_regional_installed"] || in.KOF != nil && in.KOF.RegionalInstalled
		if k.Mothership {
			k.MothershipVersion, k.Namespace = st.KOFMothershipVersion, st.KOFNamespace
		}
		if regional {
			k.RegionalCluster, k.RegionalVersion, k.RegionalDomain = st.KOFRegionalName, st.KOFRegionalVersion, st.KOFRegionalDomain
			if k.RegionalCluster == "" {
				k.RegionalCluster = "(unknown name)"
			}
			if in.RegionalKubeconfig != nil {
				k.RegionalKubeconfig = filepath.Join(in.SecretsDir, filepath.FromSlash(legacyRegionalKubeconfigSecret))
			}
		}
		if k.Mothership || regional || k.AzureCSI {
			l.KOF = k
		}
	}
	if l.empty() {
		return nil
	}
	return l
}
