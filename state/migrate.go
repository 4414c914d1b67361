package state

// Migration of the legacy bash tool's files (k0rdent-azure-setup, 0.0.4 to
// 0.4.0) into this layout. Behaviour and format notes:
//
// What is migrated. In the state directory: deployment-state.yaml,
// deployment-events.yaml, azure-state.yaml, azure-events.yaml,
// kof-state.yaml, kof-events.yaml, cluster-*-events.yaml and
// cluster-*-state.yaml. In the project root: deployment-state.yaml and
// deployment-events.yaml (≤0.0.8), .clusterid, .project-suffix (≤0.1.0,
// holding only the suffix: the id is k0rdent-<suffix>) and the
// old_deployments/ directory. Files from the state directory go to
// state/legacy/<name>, files from the project root to
// state/legacy/root/<name>, so the two places never collide. When both
// places hold a state file, the state directory's is the one read.
//
// Moves. Every file is moved with one rename: bytes, mode and mtime are
// kept (a cross-device move copies the file with its mode and mtime,
// fsyncs, then removes the original; old_deployments/ across devices is
// refused with instructions). Nothing is ever deleted. The legacy tool's
// other files (wireguard/, cloud-init-yaml/, k0sctl-config/,
// azure-resources/, config/azure-credentials.yaml) stay where they are;
// runtime.yaml and the run files point at the kubeconfig and SSH key there. The legacy
// deployment-state.yaml holds every WireGuard private key in plain text and
// keeps its mode ("modes kept" is the rule), but state/legacy/ itself is
// created 0700, so no other user can reach those files through it.
//
// What is written.
//   - secrets/wireguard/<peer>.key (0600): each peer's private key from
//     wireguard_peers.<peer>.private_key (the last generation: releases up
//     to 0.3.0 regenerate them on each deploy), or, when the state has
//     none, from <project>/wireguard/<peer>_privkey. Private keys go
//     nowhere else. Beside them listen-port and settings.json (hub name
//     "mylaptop", interface wgk0<suffix>, network, addresses .1 and .11
//     on), which the wireguard node keeps forever after.
//   - secrets/ssh/legacy-admin-key(.pub) (azure-resources/<id>-ssh-key,
//     every release), secrets/k0s/kubeconfig and
//     secrets/kof/regional-kubeconfig: copies; the originals stay.
//   - terraform/k0rdent-adopt.json: the VMs vm_states records, with the
//     names az gave their NIC, public IP and IP configuration, for the
//     terraform node to import.
//   - runs/<id>.yaml: one run file per legacy run, the events file split on
//     deployment_started (events before the first one belong to the first
//     run; a state file without events is one run). The header has
//     migrated: true, the cluster id, the legacy deployer as operator,
//     tool_version "legacy (k0rdent-azure-setup)", the flags with_kof and
//     with_azure_children when the legacy run recorded them. The run id is
//     the run's start time plus 4 hex digits of a hash of the cluster id,
//     the start and the run's index (counting up from the previous run's
//     suffix within one second, so ids sort in legacy order), so a repeated
//     migration produces the same ids and the same bytes. Legacy archives
//     in old_deployments/ are moved but not turned into runs: they belong
//     to other, reset deployments.
//   - runtime.yaml: Project folded over every run file, as
//     RebuildRuntime does; the cluster id comes from the run headers (or
//     .clusterid / .project-suffix when there is no run). The VPN status
//     is always unverified.
//   - legacy/MIGRATED: written last; while it exists and nothing legacy is
//     left at the original places, Migrate does nothing.
//
// Node mapping. Legacy phases map to nodes as: wireguard ←
// prepare_deployment; terraform ← setup_network + create_vms; vpn ←
// setup_vpn + connect_vpn; k0s ← install_k0s; k0rdent ← install_k0rdent;
// azure-children ← setup_azure_children; kof ← install_azure_csi +
// install_kof_mothership + install_kof_regional. A node succeeded only if
// all its legacy phases completed, is skipped if all were skipped or the
// run's flag disabled it (reason "disabled: …"), and is otherwise left
// without a record (pending): legacy in_progress is never trusted. The
// latest run reconciles the events with the state file: the events are
// the truth (0.3.0 leaves every phase at pending), and the state's
// `phases` (or its top-level facts) decide only what the events say
// nothing about, or what it recorded after the last event about that
// phase; every disagreement is a note of the report. The facts are the
// boolean flags: wg_keys_generated, the
// azure_*_status values, every VM Succeeded, wg_laptop_config_created,
// wg_vpn_connected or k0s_cluster_deployed, k0s_cluster_deployed,
// k0rdent_installed, azure-state.yaml's azure_credentials_configured,
// azure_csi_installed, kof_*_installed or kof-state.yaml); earlier runs
// take them from their events (azure-events.yaml and kof-events.yaml
// merged in by time, since 0.1.0 and 0.2.0 record the Azure-children step
// only there; the prepare step's events that precede deployment_started,
// before 0.4.0, belong to the run it starts; phase_completed and
// phase_skipped, with the
// phase from the `phase` field or the message; completion actions of
// older eras; deployment_completed means every core phase completed; a
// completed core phase implies the earlier core phases). An optional node
// of a run that predates the flags (≤0.1.0) and shows no trace of it is
// skipped. Records replay legally: pending→running→succeeded (the running
// record at the previous node's end, the succeeded record at the legacy
// completion time; a node completed before the run began has duration 0
// and the reason "migrated: completed before this legacy run"), and
// pending→skipped (at the legacy skip time when known). The latest run's
// succeeded records carry the outputs of the projection conventions
// (wireguard peers/port/network; terraform resource_group, location,
// ssh_key_path and vm_details, JSON host -> {public_ip, private_ip}; vpn
// status unverified; k0s kubeconfig) plus azure-children
// subscription_id/tenant_id/client_id (identifiers, never the client
// secret) and kof regional_cluster_name. A run whose nodes are all succeeded
// or skipped gets the outcome succeeded; an earlier unfinished run is
// superseded by the next one; the latest unfinished run stays unfinished,
// so `k0rdent run` offers to resume it.
//
// Crash safety. Migrate (1) reads every legacy file from wherever it is
// now (original place or legacy/), (2) writes the secrets, (3) writes each
// run file with one atomic write (skipped when the same bytes are there),
// (4) writes runtime.yaml atomically, (5) moves the files, (6) writes the
// marker. Every step gives the same result when repeated, and temporary
// files of an atomic write cut short by a kill are removed before the step
// is redone, so a migration killed at any point and run again ends with
// the same tree as one that was never interrupted.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// MigrateOptions tune Migrate.
type MigrateOptions struct {
	// DryRun plans and reports without changing anything.
	DryRun bool
	// Now stamps the marker (and runtime.yaml when no run has a time);
	// nil means time.Now.
	Now func() time.Time

	// afterStep, in tests, is called after each action is done; an error
	// stops the migration there (a simulated crash).
	afterStep func(n int, a MigrationAction) error
}

// Migration action kinds.
const (
	ActionSecret  = "secret"
	ActionAdopt   = "adopt"
	ActionRun     = "run"
	ActionRuntime = "runtime"
	ActionMove    = "move"
	ActionMarker  = "marker"
)

// MigrationAction is one step of a migration, planned or done.
type MigrationAction struct {
	Kind string
	// Path is what the step writes (for a move: the destination).
	Path string
	// From is the source of a move.
	From string
	// Detail is a short human description.
	Detail string
	// Unchanged is true when the step found its result already in place
	// (a re-run after an interruption).
	Unchanged bool
}

// MigratedRun summarizes one synthesized run.
type MigratedRun struct {
	ID           string                    `json:"id"`
	Started      time.Time                 `json:"started"`
	Finished     time.Time                 `json:"finished,omitzero"`
	Outcome      Outcome                   `json:"outcome,omitempty"` // "", succeeded, or superseded
	SupersededBy string                    `json:"superseded_by,omitempty"`
	Flags        map[string]bool           `json:"flags,omitempty"`
	Nodes        map[string]workflow.State `json:"nodes"` // nodes with a record
}

// MigrationReport is what Migrate did, or would do with DryRun.
type MigrationReport struct {
	ProjectRoot string
	StateDir    string
	DryRun      bool
	// Nothing is true when there was nothing to migrate.
	Nothing   bool
	ClusterID string
	Runs      []MigratedRun
	Actions   []MigrationAction
	// Runtime is the runtime.yaml written (or that would be written).
	Runtime *Runtime
	// Notes say where the legacy files disagreed with each other and
	// what the migration followed (the events), and what it guessed.
	Notes []string
	// SecretsLeft are files of the legacy tool holding secrets that stay
	// outside the state directory (relative to the project root).
	SecretsLeft []string
}

// WriteText renders the report for `k0rdent migrate [--dry-run]`.
func (r *MigrationReport) WriteText(w io.Writer) error {
	var b strings.Builder
	switch {
	case r.Nothing:
		fmt.Fprintf(&b, "nothing to migrate in %s\n", r.ProjectRoot)
		_, err := io.WriteString(w, b.String())
		return err
	case r.DryRun:
		fmt.Fprintf(&b, "migration of legacy state in %s (dry run: nothing changed)\n", r.ProjectRoot)
	default:
		fmt.Fprintf(&b, "migrated legacy state in %s\n", r.ProjectRoot)
	}
	if r.ClusterID != "" {
		fmt.Fprintf(&b, "cluster %s\n", r.ClusterID)
	}
	verb := map[bool]string{true: "would ", false: ""}[r.DryRun]
	for _, a := range r.Actions {
		path := r.rel(a.Path)
		line := ""
		switch a.Kind {
		case ActionMove:
			line = fmt.Sprintf("%smove    %s -> %s", verb, r.rel(a.From), path)
		default:
			line = fmt.Sprintf("%swrite   %s", verb, path)
		}
		if a.Detail != "" {
			line += "  (" + a.Detail + ")"
		}
		if a.Unchanged {
			line += "  [already done]"
		}
		b.WriteString("  " + line + "\n")
	}
	if len(r.Notes) > 0 {
		b.WriteString("the legacy files disagree; followed the events:\n")
		for _, n := range r.Notes {
			b.WriteString("  " + n + "\n")
		}
	}
	if len(r.SecretsLeft) > 0 {
		b.WriteString("files holding secrets that stay outside state/ (move or delete them once the migrated deployment works):\n")
		for _, f := range r.SecretsLeft {
			b.WriteString("  " + f + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// String is WriteText into a string.
func (r *MigrationReport) String() string {
	var b strings.Builder
	_ = r.WriteText(&b)
	return b.String()
}

// rel shows a path relative to the project root when it is inside it.
func (r *MigrationReport) rel(p string) string {
	if rel, err := filepath.Rel(r.ProjectRoot, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}

// migrateNodeNames are the planned nodes of a synthesized run.
func migrateNodeNames() []string {
	out := make([]string, len(migrateNodes))
	for i, n := range migrateNodes {
		out[i] = n.Name
	}
	return out
}

// LegacyReappearedError: a migration finished earlier (legacy/MIGRATED
// exists) and legacy files appeared again at their original places.
type LegacyReappearedError struct {
	Files []string
}

func (e *LegacyReappearedError) Error() string {
	return fmt.Sprintf("legacy files appeared again after the migration finished: %s; "+
		"the legacy tool was run again? move them aside (the migrated copies are in state/legacy/)",
		strings.Join(e.Files, ", "))
}

// Migrate moves the legacy tool's files found in projectRoot and the store
// into the store's legacy/ directory, writes their WireGuard private keys
// to secrets/, synthesizes one migrated run file per legacy run and seeds
// runtime.yaml. It is idempotent and safe to interrupt: see the notes at
// the top of this file. Without DryRun the caller must hold the store lock.
func (s *Store) Migrate(projectRoot string, opts MigrateOptions) (*MigrationReport, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if s.local == nil {
		// A remote store: nothing to migrate unless the project holds the
		// bash tool's files, which are migrated into a local directory
		// first (then `state push`).
		set, err := DetectLegacy(projectRoot, filepath.Join(projectRoot, "state"))
		if err != nil || set == nil || set.Migrated {
			return &MigrationReport{ProjectRoot: projectRoot, StateDir: s.Location(), DryRun: opts.DryRun, Nothing: true}, nil
		}
		return nil, fmt.Errorf("migrate: the state is remote (%s) and %s holds the bash tool's files: migrate the legacy files into a local --state-dir first, then move it with `k0rdent state push`", s.Location(), projectRoot)
	}
	root := s.local.Root()
	set, err := DetectLegacy(projectRoot, root)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	rep := &MigrationReport{ProjectRoot: projectRoot, StateDir: root, DryRun: opts.DryRun}
	if set != nil {
		rep.ProjectRoot, rep.StateDir = set.ProjectRoot, set.StateDir
	}
	pending := set.Pending()
	if set == nil || set.Migrated && len(pending) == 0 {
		rep.Nothing = true
		return rep, nil
	}
	if set.Migrated {
		var names []string
		for _, f := range pending {
			names = append(names, f.Origin)
		}
		return nil, &LegacyReappearedError{Files: names}
	}
	if !opts.DryRun {
		if err := s.locked(); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	// (1) Read everything from wherever it is now.
	in, err := loadLegacy(set)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	p, err := s.planMigration(set, in, now)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	rep.ClusterID = in.ClusterID
	rep.Runs = p.summaries
	rep.Notes = p.notes
	rep.SecretsLeft = in.OutsideSecrets
	rep.Runtime = p.runtime
	for i, st := range p.steps {
		a := st.action
		if !opts.DryRun {
			if err := removeStaleTemps(a.Path); err != nil {
				return rep, fmt.Errorf("migrate: %w", err)
			}
			unchanged, err := st.do()
			if err != nil {
				return rep, fmt.Errorf("migrate: %w", err)
			}
			a.Unchanged = unchanged
		}
		rep.Actions = append(rep.Actions, a)
		if !opts.DryRun && opts.afterStep != nil {
			if err := opts.afterStep(i+1, a); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

// migrationStep is one planned action and how to do it. do reports whether
// the result was already in place.
type migrationStep struct {
	action MigrationAction
	do     func() (unchanged bool, err error)
}

type migrationPlan struct {
	steps     []migrationStep
	summaries []MigratedRun
	runtime   *Runtime
	notes     []string
}

// planMigration computes every step from the parsed inputs. It writes
// nothing.
func (s *Store) planMigration(set *LegacySet, in *legacyInputs, now func() time.Time) (*migrationPlan, error) {
	p := &migrationPlan{}
	// (2) Secrets.
	for _, sec := range legacySecrets(in) {
		sec := sec
		path := filepath.Join(set.StateDir, SecretsName, filepath.FromSlash(sec.name))
		p.steps = append(p.steps, migrationStep{
			action: MigrationAction{Kind: ActionSecret, Path: path, Detail: sec.detail},
			do: func() (bool, error) {
				if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, sec.data) {
					if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == 0o600 {
						return true, nil
					}
				}
				_, err := s.WriteSecret(sec.name, sec.data)
				return false, err
			},
		})
	}
	// (2b) What Terraform will adopt, in its working directory.
	if data := adoptionFile(in); data != nil {
		tfDir := filepath.Join(set.StateDir, TerraformDir)
		path := filepath.Join(tfDir, legacyAdoptionFile)
		p.steps = append(p.steps, migrationStep{
			action: MigrationAction{Kind: ActionAdopt, Path: path, Detail: "the Azure resources the legacy tool created, for Terraform to import"},
			do: func() (bool, error) {
				if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
					return true, nil
				}
				if err := mkdirPrivate(tfDir); err != nil {
					return false, err
				}
				return false, WriteFileAtomic(path, data, 0o600)
			},
		})
	}
	// (3) Run files.
	runs := synthesizeRuns(in, set.ProjectRoot)
	for _, r := range runs {
		for _, n := range r.Notes {
			p.notes = append(p.notes, "run "+r.ID+": "+n)
		}
	}
	files := map[string]*RunFile{}
	for i, r := range runs {
		path := filepath.Join(set.StateDir, RunsDirName, r.ID+".yaml")
		supersededAt := time.Time{}
		if i+1 < len(runs) {
			supersededAt = runs[i+1].Start
		}
		data, rf, err := encodeSynthRun(r, in.ClusterID, path, supersededAt)
		if err != nil {
			return nil, err
		}
		files[r.ID] = rf
		p.summaries = append(p.summaries, MigratedRun{
			ID: r.ID, Started: r.Start, Finished: rf.Finished, Outcome: rf.Outcome,
			SupersededBy: rf.SupersededBy, Flags: r.Flags, Nodes: nodeStates(rf),
		})
		p.steps = append(p.steps, migrationStep{
			action: MigrationAction{Kind: ActionRun, Path: path, Detail: runDetail(rf)},
			do:     func() (bool, error) { return writeRunFile(set.StateDir, path, data) },
		})
	}
	// (4) runtime.yaml: the projection of every run file, ours included.
	rt, err := s.migratedRuntime(files, in.ClusterID, now)
	if err != nil {
		return nil, err
	}
	p.runtime = rt
	rtPath := filepath.Join(set.StateDir, RuntimeFile)
	p.steps = append(p.steps, migrationStep{
		action: MigrationAction{Kind: ActionRuntime, Path: rtPath, Detail: runtimeDetail(rt)},
		do: func() (bool, error) {
			if old, err := os.ReadFile(rtPath); err == nil {
				if want, err := yaml.Marshal(rt); err == nil && bytes.Equal(old, want) {
					return true, nil
				}
			}
			return false, s.WriteRuntime(rt)
		},
	})
	// (5) Moves.
	ldir := filepath.Join(set.StateDir, LegacyName)
	for _, f := range set.Files {
		f := f
		detail := fmt.Sprintf("mode %04o", f.Mode.Perm())
		if f.Dir {
			detail = "directory, " + detail
		}
		p.steps = append(p.steps, migrationStep{
			action: MigrationAction{Kind: ActionMove, Path: f.Dest, From: f.Origin, Detail: detail},
			do:     func() (bool, error) { return moveLegacy(ldir, f) },
		})
	}
	// (6) The marker, last.
	marker := filepath.Join(ldir, legacyMarkerFile)
	mdata, err := markerContents(set, runs, in.ClusterID, now())
	if err != nil {
		return nil, err
	}
	p.steps = append(p.steps, migrationStep{
		action: MigrationAction{Kind: ActionMarker, Path: marker, Detail: "migration finished"},
		do: func() (bool, error) {
			if err := mkdirPrivate(ldir); err != nil {
				return false, err
			}
			return false, WriteFileAtomic(marker, mdata, 0o644)
		},
	})
	return p, nil
}

// Where migration copies the legacy tool's secrets, under secrets/: the
// SSH key where the terraform node looks for an adopted key, the
// kubeconfig where the k0s node keeps its own.
const (
	LegacySSHKeySecret             = "ssh/legacy-admin-key"
	legacyKubeconfigSecret         = "k0s/kubeconfig"
	legacyRegionalKubeconfigSecret = "kof/regional-kubeconfig"
)

type legacySecret struct {
	name   string // under secrets/
	data   []byte
	detail string
}

// legacySecrets lists the WireGuard private keys to move into secrets/,
// in peer order, then key files for peers the state does not know.
func legacySecrets(in *legacyInputs) []legacySecret {
	var out []legacySecret
	used := map[string]bool{}
	add := func(peer, key, from string) {
		name := "wireguard/" + uniqueName(secretFileName(peer), used) + ".key"
		out = append(out, legacySecret{name: name, data: []byte(key + "\n"), detail: "WireGuard private key of " + peer + " from " + from})
	}
	seen := map[string]bool{}
	if in.State != nil {
		for _, p := range in.State.Peers {
			seen[p.Name] = true
			switch {
			case p.PrivateKey != "":
				add(p.Name, p.PrivateKey, "deployment-state.yaml")
			case in.KeyFiles[p.Name] != "":
				add(p.Name, in.KeyFiles[p.Name], "wireguard/"+p.Name+"_privkey")
			}
		}
	}
	for _, peer := range sortedKeys(in.KeyFiles) {
		if !seen[peer] {
			add(peer, in.KeyFiles[peer], "wireguard/"+peer+"_privkey")
		}
	}
	if st := in.State; st != nil && st.WGPort > 0 {
		out = append(out, legacySecret{name: "wireguard/listen-port", data: []byte(strconv.Itoa(st.WGPort) + "\n"),
			detail: "the VMs' WireGuard listen port, kept"})
	}
	if data := wireguardSettings(in); data != nil {
		out = append(out, legacySecret{name: "wireguard/settings.json", data: data,
			detail: "the deployment's WireGuard hub name, interface and addresses, kept by later runs"})
	}
	if in.SSHKey != nil {
		out = append(out, legacySecret{name: LegacySSHKeySecret, data: in.SSHKey, detail: "the VMs' admin SSH key from " + in.SSHKeyOrigin})
		if in.SSHPub != nil {
			out = append(out, legacySecret{name: LegacySSHKeySecret + ".pub", data: in.SSHPub, detail: "its public key"})
		}
	}
	if in.Kubeconfig != nil {
		out = append(out, legacySecret{name: legacyKubeconfigSecret, data: in.Kubeconfig, detail: "the management cluster's admin kubeconfig from " + in.KubeconfigOrigin})
	}
	if in.RegionalKubeconfig != nil {
		out = append(out, legacySecret{name: legacyRegionalKubeconfigSecret, data: in.RegionalKubeconfig, detail: "the KOF regional cluster's kubeconfig from " + in.RegionalKubeconfigOrigin})
	}
	return out
}

// secretFileName keeps [A-Za-z0-9._-] of a peer name (from an untrusted
// file) and replaces the rest, so it is always one safe path element.
func secretFileName(peer string) string {
	var b strings.Builder
	for _, c := range peer {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		case c == '.' && b.Len() > 0:
			b.WriteRune(c)
		default:
			b.WriteRune('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	if b.Len() == 0 {
		return "peer"
	}
	return b.String()
}

func uniqueName(name string, used map[string]bool) string {
	n := name
	for i := 2; used[n]; i++ {
		n = fmt.Sprintf("%s-%d", name, i)
	}
	used[n] = true
	return n
}

// encodeSynthRun renders a synthesized run as run file bytes, validating
// every record exactly as Run.Append does.
func encodeSynthRun(r synthRun, clusterID, path string, supersededAt time.Time) ([]byte, *RunFile, error) {
	h := Header{
		Format: FormatVersion, RunID: r.ID, Created: r.Start.UTC(), Operator: r.Operator,
		ToolVersion: migratedVersion, ConfigPath: r.ConfigPath, ClusterID: clusterID,
		Flags: r.Flags, Nodes: migrateNodeNames(), Migrated: true, Legacy: r.Legacy,
	}
	data, err := encodeHeader(h)
	if err != nil {
		return nil, nil, err
	}
	rf := &RunFile{file: path}
	rf.setHeader(h)
	rf.Size = int64(len(data))
	recs := make([]Record, 0, len(r.Events)+1)
	for _, ev := range r.Events {
		recs = append(recs, Record{
			Kind: KindTransition, Time: ev.Time, Node: ev.Node, From: ev.From, To: ev.To,
			Attempt: ev.Attempt, Reason: ev.Reason, Duration: ev.Duration, Outputs: ev.Outputs,
		})
	}
	last := r.Start
	if n := len(r.Events); n > 0 {
		last = r.Events[n-1].Time
	}
	switch {
	case r.Outcome == string(OutcomeSucceeded):
		end := r.End
		if end.Before(last) {
			end = last
		}
		recs = append(recs, Record{Kind: KindOutcome, Time: end, Outcome: OutcomeSucceeded,
			Reason: "migrated from the legacy tool", Flags: r.Flags})
	case r.SupersededBy != "":
		at := supersededAt
		if at.Before(last) {
			at = last
		}
		recs = append(recs, Record{Kind: KindSuperseded, Time: at, By: r.SupersededBy, Reason: r.Reason, Flags: r.Flags})
	}
	for _, rec := range recs {
		rec.Seq = rf.nextSeq()
		rec.Time = rec.Time.UTC()
		if err := rf.check(&rec); err != nil {
			return nil, nil, fmt.Errorf("synthesize run %s: %w", r.ID, err)
		}
		if err := checkSecrets(&rec, rf.projections()); err != nil {
			return nil, nil, fmt.Errorf("synthesize run %s: record %d: node %s: %w", r.ID, rec.Seq, rec.Node, err)
		}
		doc, err := encodeRecord(rec)
		if err != nil {
			return nil, nil, err
		}
		data = append(data, doc...)
		rf.apply(rec)
		rf.Size += int64(len(doc))
	}
	return data, rf, nil
}

// writeRunFile creates a synthesized run file with one atomic write. The
// same bytes already there are left alone; a shorter prefix of them (a run
// file another writer started) is replaced; anything else is a conflict.
func writeRunFile(stateDir, path string, data []byte) (bool, error) {
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, data):
		return true, nil
	case err == nil && !bytes.HasPrefix(data, old):
		return false, fmt.Errorf("run file %s exists with other contents; move it aside and run `k0rdent migrate` again", path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("read run file %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Join(stateDir, RunsDirName), 0o755); err != nil {
		return false, fmt.Errorf("create %s: %w", filepath.Join(stateDir, RunsDirName), err)
	}
	return false, WriteFileAtomic(path, data, 0o644)
}

// migratedRuntime folds Project over every run file, the synthesized ones
// (from memory: they may not be written yet) and any already in runs/.
func (s *Store) migratedRuntime(ours map[string]*RunFile, clusterID string, now func() time.Time) (*Runtime, error) {
	ids, err := s.runIDs()
	if err != nil {
		return nil, err
	}
	for id := range ours {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var rt *Runtime
	for _, id := range ids {
		rf := ours[id]
		if rf == nil {
			if rf, err = s.Load(id); err != nil {
				return nil, err
			}
			if !rf.hasHeader {
				continue
			}
		}
		rt = Project(rt, rf)
	}
	if rt == nil {
		if rt, err = s.readRuntimeBase(); err != nil {
			return nil, err
		}
		if rt == nil {
			rt = &Runtime{Format: FormatVersion}
		}
	}
	if rt.ClusterID == "" {
		rt.ClusterID = clusterID
	}
	if rt.Updated.IsZero() {
		rt.Updated = now().UTC().Truncate(time.Second)
	}
	return rt, nil
}

// moveLegacy moves one legacy file or directory into legacy/ with a
// rename (same file system) or a copy keeping mode and mtime, fsync, and
// removal of the original (across file systems; files only: a directory
// across file systems is left for the operator to move, with an error
// saying so).
func moveLegacy(ldir string, f LegacyFile) (bool, error) {
	if _, err := os.Lstat(f.Origin); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Lstat(f.Dest); err == nil {
			return true, nil // moved by an earlier run
		}
	}
	if err := mkdirPrivate(ldir); err != nil {
		return false, err
	}
	if err := mkdirPrivate(filepath.Dir(f.Dest)); err != nil {
		return false, err
	}
	err := os.Rename(f.Origin, f.Dest)
	if errors.Is(err, syscall.EXDEV) {
		if f.Dir {
			return false, fmt.Errorf("move legacy directory %s to %s: they are on different file systems; "+
				"move the directory there yourself (mv keeps it intact) and run `k0rdent migrate` again", f.Origin, f.Dest)
		}
		err = copyAcross(f.Origin, f.Dest)
	}
	if err != nil {
		return false, fmt.Errorf("move legacy file %s to %s: %w", f.Origin, f.Dest, err)
	}
	if err := SyncDir(filepath.Dir(f.Dest)); err != nil {
		return false, err
	}
	return false, SyncDir(filepath.Dir(f.Origin))
}

// removeStaleTemps removes the temporary files WriteFileAtomic leaves next
// to path when the process is killed between creating and renaming them
// (".<name>.tmp-*"). Migration runs under the store lock, so no other
// writer can own them.
func removeStaleTemps(path string) error {
	dir, base := filepath.Split(path)
	ms, err := filepath.Glob(filepath.Join(dir, "."+base+".tmp-*"))
	if err != nil {
		return fmt.Errorf("look for stale temporary files of %s: %w", path, err)
	}
	for _, m := range ms {
		if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale temporary file %s: %w", m, err)
		}
	}
	return nil
}

// copyAcross copies src to dst across file systems (mode and mtime kept),
// makes it durable, then removes src.
func copyAcross(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(dst, data, fi.Mode().Perm()); err != nil {
		return err
	}
	if err := os.Chtimes(dst, fi.ModTime(), fi.ModTime()); err != nil {
		return err
	}
	return os.Remove(src)
}

// markerContents is legacy/MIGRATED: when, what moved, which runs.
func markerContents(set *LegacySet, runs []synthRun, clusterID string, now time.Time) ([]byte, error) {
	type marker struct {
		MigratedAt time.Time `yaml:"migrated_at"`
		ClusterID  string    `yaml:"cluster_id,omitempty"`
		Files      []string  `yaml:"files"`
		Runs       []string  `yaml:"runs,omitempty"`
	}
	m := marker{MigratedAt: now.UTC().Truncate(time.Second), ClusterID: clusterID}
	for _, f := range set.Files {
		m.Files = append(m.Files, f.Name)
	}
	for _, r := range runs {
		m.Runs = append(m.Runs, r.ID)
	}
	body, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode migration marker: %w", err)
	}
	return append([]byte("# The legacy files in this directory were migrated by k0rdent; see runs/ and runtime.yaml.\n"), body...), nil
}

func nodeStates(rf *RunFile) map[string]workflow.State {
	out := map[string]workflow.State{}
	for n, st := range rf.Nodes {
		out[n] = st.State
	}
	return out
}

func runDetail(rf *RunFile) string {
	counts := map[workflow.State]int{}
	for _, st := range rf.Nodes {
		counts[st.State]++
	}
	var parts []string
	for _, s := range []workflow.State{workflow.Succeeded, workflow.Skipped} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if n := len(migrateNodes) - counts[workflow.Succeeded] - counts[workflow.Skipped]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d pending", n))
	}
	outcome := string(rf.Outcome)
	if rf.Outcome == OutcomeSuperseded {
		outcome += " by " + rf.SupersededBy
	}
	if outcome == "" {
		outcome = "unfinished"
	}
	return fmt.Sprintf("migrated run started %s: %s; %s", rf.Header.Created.Format(time.RFC3339), strings.Join(parts, ", "), outcome)
}

func runtimeDetail(rt *Runtime) string {
	parts := []string{}
	if rt.ClusterID != "" {
		parts = append(parts, "cluster "+rt.ClusterID)
	}
	if rt.CurrentRunID != "" {
		parts = append(parts, "current run "+rt.CurrentRunID)
	}
	if rt.WireGuard != nil {
		parts = append(parts, fmt.Sprintf("%d WireGuard peers", len(rt.WireGuard.Peers)))
	}
	if rt.VPN != nil {
		parts = append(parts, "VPN "+rt.VPN.Status)
	}
	return strings.Join(parts, ", ")
}

// wireguardSettings renders secrets/wireguard/settings.json, the
// deployment's own WireGuard settings the wireguard node keeps over its
// defaults (providers/wireguard.Settings reads it): the hub's peer name,
// the operator's interface name (wgk0<suffix>, the stem of the legacy
// wg-quick file when there is one), the network and every peer's address.
// nil when the legacy state records no peers.
func wireguardSettings(in *legacyInputs) []byte {
	st := in.State
	if st == nil || len(st.Peers) == 0 {
		return nil
	}
	type settings struct {
		Hub       string            `json:"hub,omitempty"`
		Interface string            `json:"interface,omitempty"`
		Network   string            `json:"network,omitempty"`
		Addresses map[string]string `json:"addresses,omitempty"`
		Source    string            `json:"source,omitempty"`
	}
	out := settings{Network: st.WGNetwork, Addresses: map[string]string{}, Source: "migrated from the legacy tool (k0rdent-azure-setup)"}
	for _, p := range st.Peers {
		name := secretFileName(p.Name)
		if p.Role == "hub" || out.Hub == "" && p.Name == "mylaptop" {
			out.Hub = name
		}
		if p.IP != "" {
			out.Addresses[name] = p.IP
		}
	}
	out.Interface = in.WGInterface
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil
	}
	return append(data, '\n')
}

// legacyAdoptionFile is read by the terraform node
// (providers/terraform.AdoptionFile) in its working directory.
const legacyAdoptionFile = "k0rdent-adopt.json"

// adoptionFile renders terraform/k0rdent-adopt.json: the Azure resources
// the legacy state records as existing (the VMs of vm_states, with the
// names az vm create gave their NIC, public IP and IP configuration), for
// the terraform node to import instead of creating. nil when the legacy
// state records no VM.
func adoptionFile(in *legacyInputs) []byte {
	st := in.State
	if st == nil || len(st.VMs) == 0 || in.ClusterID == "" {
		return nil
	}
	type vm struct {
		Name            string `json:"name,omitempty"`
		Role            string `json:"role,omitempty"`
		PublicIP        string `json:"public_ip,omitempty"`
		PrivateIP       string `json:"private_ip,omitempty"`
		NIC             string `json:"nic"`
		PublicIPName    string `json:"public_ip_name"`
		IPConfiguration string `json:"ip_configuration"`
	}
	roles := map[string]string{}
	for _, p := range st.Peers {
		roles[p.Name] = p.Role
	}
	vms := map[string]vm{}
	for _, v := range st.VMs {
		az := v.AzureName
		if az == "" {
			az = v.Name
		}
		role := roles[v.Name]
		if role == "" {
			role = "worker"
			if strings.Contains(v.Name, "controller") {
				role = "controller"
			}
		}
		e := vm{Role: role, PublicIP: v.PublicIP, PrivateIP: v.PrivateIP,
			NIC: az + "VMNic", PublicIPName: az + "PublicIP", IPConfiguration: "ipconfig" + az}
		if az != v.Name {
			e.Name = az
		}
		vms[v.Name] = e
	}
	out := struct {
		Source        string        `json:"source"`
		ClusterID     string        `json:"cluster_id"`
		Location      string        `json:"location,omitempty"`
		ResourceGroup string        `json:"resource_group,omitempty"`
		VMs           map[string]vm `json:"vms"`
	}{"migrated from the legacy tool (k0rdent-azure-setup)", in.ClusterID, st.Location, st.ResourceGroup, vms}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil
	}
	return append(data, '\n')
}
