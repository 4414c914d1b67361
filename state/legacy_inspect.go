package state

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// LegacyInspection describes a directory that still holds the legacy
// tool's files (not migrated yet): what was found and what `k0rdent
// migrate` and `k0rdent run` will do with it. It changes nothing. status
// and `run --plan` show it instead of "nothing deployed yet".
type LegacyInspection struct {
	ProjectRoot string `json:"project_root"`
	StateDir    string `json:"state_dir"`
	// Files are the legacy files found, relative to the project root.
	Files     []string `json:"files"`
	ClusterID string   `json:"cluster_id,omitempty"`
	// Runs are the runs migration will synthesize, oldest first.
	Runs []MigratedRun `json:"runs"`
	// Latest is the outcome of the latest legacy run: succeeded or
	// unfinished.
	Latest string `json:"latest"`
	// Done and Pending are the latest run's nodes that are done
	// (succeeded or skipped) and those `run` will still run.
	Done    []string `json:"done,omitempty"`
	Pending []string `json:"pending,omitempty"`
	// WireGuard is what the migrated deployment keeps.
	WireGuard *WireGuard `json:"wireguard,omitempty"`
	// Notes are the migration's reconciliation notes; SecretsLeft the
	// files holding secrets that stay outside state/.
	Notes       []string `json:"notes,omitempty"`
	SecretsLeft []string `json:"secrets_left,omitempty"`
	// Migrate and Run say what the commands will do.
	Migrate string `json:"migrate"`
	Run     string `json:"run"`
}

// InspectLegacy looks for legacy files in projectRoot and stateDir. It
// returns nil when there are none left to migrate.
func InspectLegacy(projectRoot, stateDir string) (*LegacyInspection, error) {
	set, err := DetectLegacy(projectRoot, stateDir)
	if err != nil {
		return nil, err
	}
	if set == nil || len(set.Pending()) == 0 {
		return nil, nil
	}
	rep, err := NewStore(stateDir).Migrate(projectRoot, MigrateOptions{DryRun: true})
	if err != nil {
		return nil, err
	}
	in := &LegacyInspection{ProjectRoot: set.ProjectRoot, StateDir: set.StateDir, ClusterID: rep.ClusterID,
		Runs: rep.Runs, Notes: rep.Notes, SecretsLeft: rep.SecretsLeft}
	for _, f := range set.Pending() {
		if f.Dir {
			// List the directory's files, as the legacy tool left them.
			_ = filepath.WalkDir(f.Origin, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					in.Files = append(in.Files, rel(set.ProjectRoot, p))
				}
				return nil
			})
			continue
		}
		in.Files = append(in.Files, rel(set.ProjectRoot, f.Origin))
	}
	slices.Sort(in.Files)
	if rt := rep.Runtime; rt != nil && rt.WireGuard != nil {
		in.WireGuard = rt.WireGuard
	}
	moves := 0
	for _, a := range rep.Actions {
		if a.Kind == ActionMove {
			moves++
		}
	}
	in.Migrate = fmt.Sprintf("move %d legacy file(s) to %s untouched, copy the keys and kubeconfig into %s, write %d migrated run(s) and runtime.yaml",
		moves, rel(set.ProjectRoot, filepath.Join(set.StateDir, LegacyName)), rel(set.ProjectRoot, filepath.Join(set.StateDir, SecretsName)), len(rep.Runs))
	if len(rep.Runs) == 0 {
		in.Latest = "none"
		in.Run = "migrate first (nothing was deployed), then start a new deployment"
		return in, nil
	}
	last := rep.Runs[len(rep.Runs)-1]
	for _, n := range migrateNodes {
		switch last.Nodes[n.Name] {
		case workflow.Succeeded, workflow.Skipped:
			in.Done = append(in.Done, n.Name)
		default:
			in.Pending = append(in.Pending, n.Name)
		}
	}
	keep := "keeping the WireGuard keys, addresses, port and interface and adopting the Azure resources"
	if last.Outcome == OutcomeSucceeded {
		in.Latest = string(OutcomeSucceeded)
		in.Run = fmt.Sprintf("migrate first, then a new run that verifies and reuses every node (%s); nothing that exists is re-created", keep)
	} else {
		in.Latest = "unfinished"
		in.Run = fmt.Sprintf("migrate first, then offer to resume legacy run %s (--resume): run %s, verify and reuse %s, %s",
			last.ID, strings.Join(in.Pending, ", "), orNone(in.Done), keep)
	}
	return in, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

// rel shows p relative to root when it is inside it.
func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return p
}

// WriteText renders the inspection for status and `run --plan`.
func (in *LegacyInspection) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "legacy state of the bash tool (k0rdent-azure-setup) in %s, not migrated yet\n", in.ProjectRoot)
	if in.ClusterID != "" {
		fmt.Fprintf(&b, "  cluster       %s\n", in.ClusterID)
	}
	fmt.Fprintf(&b, "  legacy runs   %d, the latest %s", len(in.Runs), in.Latest)
	if len(in.Runs) > 0 {
		last := in.Runs[len(in.Runs)-1]
		fmt.Fprintf(&b, " (started %s)", last.Started.UTC().Format(time.RFC3339))
	}
	b.WriteString("\n")
	if len(in.Done) > 0 {
		fmt.Fprintf(&b, "  done          %s\n", strings.Join(in.Done, ", "))
	}
	if len(in.Pending) > 0 {
		fmt.Fprintf(&b, "  not done      %s\n", strings.Join(in.Pending, ", "))
	}
	if wg := in.WireGuard; wg != nil {
		fmt.Fprintf(&b, "  wireguard     %s port %d, %d peers (kept)\n", wg.Network, wg.Port, len(wg.Peers))
	}
	fmt.Fprintf(&b, "  files         %s\n", strings.Join(in.Files, ", "))
	for _, n := range in.Notes {
		fmt.Fprintf(&b, "  note          %s\n", n)
	}
	fmt.Fprintf(&b, "k0rdent migrate will: %s\n", in.Migrate)
	fmt.Fprintf(&b, "k0rdent run will: %s\n", in.Run)
	_, err := io.WriteString(w, b.String())
	return err
}

// PreviewMigration writes, into dir (an empty scratch directory), the run
// files and runtime.yaml the migration of projectRoot would write into
// this store, and returns a Store rooted at dir to plan against (`run
// --plan` on a directory not migrated yet). Nothing else is written and
// the legacy files are not moved. It returns nil when there is nothing to
// migrate.
func (s *Store) PreviewMigration(projectRoot, dir string) (*Store, error) {
	if s.local == nil {
		return nil, nil // legacy files are migrated into a local directory only
	}
	set, err := DetectLegacy(projectRoot, s.local.Root())
	if err != nil {
		return nil, err
	}
	if set == nil || len(set.Pending()) == 0 || set.Migrated {
		return nil, nil
	}
	in, err := loadLegacy(set)
	if err != nil {
		return nil, err
	}
	pl := NewLocalBackend(dir)
	pv := OpenStore(pl)
	runs := synthesizeRuns(in, set.ProjectRoot)
	if err := os.MkdirAll(pl.RunsDir(), 0o755); err != nil {
		return nil, err
	}
	for i, r := range runs {
		var supersededAt time.Time
		if i+1 < len(runs) {
			supersededAt = runs[i+1].Start
		}
		data, _, err := encodeSynthRun(r, in.ClusterID, pl.RunPath(r.ID), supersededAt)
		if err != nil {
			return nil, err
		}
		if err := WriteFileAtomic(pl.RunPath(r.ID), data, 0o644); err != nil {
			return nil, err
		}
	}
	if _, err := pv.RebuildRuntime(); err != nil {
		return nil, err
	}
	return pv, nil
}

// InspectLegacy is InspectLegacy of this store's directory: nil when the
// store is not a local directory (the legacy tool's files are local).
func (s *Store) InspectLegacy(projectRoot string) (*LegacyInspection, error) {
	if s.local == nil {
		return nil, nil
	}
	return InspectLegacy(projectRoot, s.local.Root())
}
