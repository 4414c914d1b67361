package state

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// updatingGolden reports whether -update was given. The flag is defined
// once for the package (format_test.go); looking it up by name keeps this
// file independent of that variable's name.
func updatingGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// migrateNow is the fixed "now" of every test migration.
var migrateNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return migrateNow }

// legacyCases lists the fixture directories under testdata/legacy.
func legacyCases(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("testdata", "legacy"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	if len(out) < 11 {
		t.Fatalf("found %d legacy fixtures, want at least 11", len(out))
	}
	return out
}

// fixtureMode is the mode a copied fixture file gets: git keeps no modes,
// so the test sets distinct ones to see that migration keeps them.
func fixtureMode(rel string) fs.FileMode {
	base := filepath.Base(rel)
	switch {
	case base == "deployment-state.yaml", strings.HasSuffix(base, "_privkey"):
		return 0o600
	case strings.HasPrefix(base, "."):
		return 0o644
	default:
		return 0o640
	}
}

// copyFixture copies testdata/legacy/<name>/project into a temporary
// directory and returns the project root.
func copyFixture(t testing.TB, name string) string {
	t.Helper()
	return copyFixtureTo(t, name, filepath.Join(t.TempDir(), "project"))
}

// copyFixtureTo copies the fixture to dst, replacing whatever was there.
// Trees to compare byte for byte must be at the same path: migrated run
// files record the kubeconfig's absolute path.
func copyFixtureTo(t testing.TB, name, dst string) string {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("testdata", "legacy", name, "project")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(target, data, 0o600); err != nil {
			return err
		}
		return os.Chmod(target, fixtureMode(rel))
	})
	if err != nil {
		t.Fatalf("copy fixture %s: %v", name, err)
	}
	return dst
}

type treeEntry struct {
	Mode fs.FileMode
	Data string
}

// snapshot records every file and directory under root (bytes and
// modes), except the lock file whose holder record names the process.
func snapshot(t testing.TB, root string) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if rel == "state/"+LockFile {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := treeEntry{Mode: fi.Mode()}
		if !d.IsDir() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			e.Data = string(data)
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", root, err)
	}
	return out
}

// diffTrees describes how got differs from want.
func diffTrees(want, got map[string]treeEntry) string {
	var b strings.Builder
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		w, wok := want[k]
		g, gok := got[k]
		switch {
		case !gok:
			b.WriteString("missing " + k + "\n")
		case !wok:
			b.WriteString("extra   " + k + "\n")
		case w.Mode != g.Mode:
			b.WriteString("mode    " + k + ": got " + g.Mode.String() + ", want " + w.Mode.String() + "\n")
		case w.Data != g.Data:
			b.WriteString("bytes   " + k + "\n")
		}
	}
	return b.String()
}

// lockStateStore opens the store of a project and takes its lock.
func lockStateStore(t testing.TB, project string) *Store {
	t.Helper()
	s := NewStore(filepath.Join(project, "state"))
	l, _, err := s.Lock(CurrentHolder("migrate-test"))
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	t.Cleanup(func() { l.Unlock() })
	return s
}

// expectedDest is where the migration must put a file of the fixture
// (relative to the project root), written independently of the code: state
// files under state/legacy/, project root files under state/legacy/root/.
// Other files stay where they are.
func expectedDest(rel string) string {
	switch {
	case strings.HasPrefix(rel, "state/") && !strings.Contains(strings.TrimPrefix(rel, "state/"), "/"):
		return "state/legacy/" + strings.TrimPrefix(rel, "state/")
	case rel == "deployment-state.yaml", rel == "deployment-events.yaml", rel == ".clusterid", rel == ".project-suffix",
		rel == "old_deployments", strings.HasPrefix(rel, "old_deployments/"):
		return "state/legacy/root/" + rel
	}
	return rel
}

var privateKeyRE = regexp.MustCompile(`private_key:\s*"?([A-Za-z0-9+/]{42,43}=)"?`)

// fixtureKeys returns every private key in the fixture: the state file's
// and the wireguard/*_privkey files' (not the archives').
func fixtureKeys(before map[string]treeEntry) []string {
	seen := map[string]bool{}
	for rel, e := range before {
		switch {
		case strings.HasSuffix(rel, "_privkey"):
			seen[strings.TrimSpace(e.Data)] = true
		case strings.HasSuffix(rel, "deployment-state.yaml") && !strings.HasPrefix(rel, "old_deployments/"):
			for _, m := range privateKeyRE.FindAllStringSubmatch(e.Data, -1) {
				seen[m[1]] = true
			}
		}
	}
	return sortedKeys(seen)
}

// migrateGolden is want.yaml.
type migrateGolden struct {
	ClusterID string       `yaml:"cluster_id,omitempty"`
	Runs      []goldenRun  `yaml:"runs,omitempty"`
	Secrets   []string     `yaml:"secrets,omitempty"`
	Moved     []string     `yaml:"moved"`
	Runtime   *Runtime     `yaml:"runtime"`
	DryRun    string       `yaml:"dry_run_report"`
	Records   []goldenNode `yaml:"latest_run_records,omitempty"`
}

type goldenRun struct {
	ID           string                    `yaml:"id"`
	Started      time.Time                 `yaml:"started"`
	Finished     time.Time                 `yaml:"finished,omitempty"`
	Outcome      Outcome                   `yaml:"outcome,omitempty"`
	SupersededBy string                    `yaml:"superseded_by,omitempty"`
	Flags        map[string]bool           `yaml:"flags,omitempty"`
	Nodes        map[string]workflow.State `yaml:"nodes,omitempty"`
}

type goldenNode struct {
	Time   time.Time      `yaml:"time"`
	Node   string         `yaml:"node"`
	To     workflow.State `yaml:"to"`
	Reason string         `yaml:"reason,omitempty"`
}

func TestMigrate_Fixtures(t *testing.T) {
	for _, name := range legacyCases(t) {
		t.Run(name, func(t *testing.T) {
			project := copyFixture(t, name)
			before := snapshot(t, project)
			s := NewStore(filepath.Join(project, "state"))

			// A dry run reports and changes nothing.
			dry, err := s.Migrate(project, MigrateOptions{DryRun: true, Now: fixedNow})
			if err != nil {
				t.Fatalf("dry run: %v", err)
			}
			if dry.Nothing || len(dry.Actions) == 0 {
				t.Fatalf("dry run found nothing to do:\n%s", dry)
			}
			if d := diffTrees(before, snapshot(t, project)); d != "" {
				t.Fatalf("dry run changed the tree:\n%s", d)
			}

			s = lockStateStore(t, project)
			rep, err := s.Migrate(project, MigrateOptions{Now: fixedNow})
			if err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if len(rep.Actions) != len(dry.Actions) {
				t.Errorf("migration did %d actions, the dry run planned %d", len(rep.Actions), len(dry.Actions))
			}
			after := snapshot(t, project)

			// Every legacy file moved byte for byte with its mode.
			var moved []string
			for rel, e := range before {
				dest := expectedDest(rel)
				if dest != rel && !strings.HasPrefix(rel, "old_deployments/") {
					moved = append(moved, rel)
				}
				got, ok := after[dest]
				if !ok {
					t.Errorf("%s: not found at %s after migration", rel, dest)
					continue
				}
				if got.Data != e.Data || got.Mode != e.Mode {
					t.Errorf("%s -> %s: bytes or mode changed (mode got %v, want %v)", rel, dest, got.Mode, e.Mode)
				}
				if dest != rel {
					if _, still := after[rel]; still {
						t.Errorf("%s: still at its original place", rel)
					}
				}
			}
			sort.Strings(moved)

			// Nothing else appeared except what migration writes.
			var secrets []string
			for rel, e := range after {
				if _, wasThere := before[rel]; wasThere {
					continue
				}
				switch {
				case strings.HasPrefix(rel, "state/legacy"):
				case rel == "state" || rel == "state/runs" || rel == "state/runtime.yaml":
				case rel == "state/terraform" || rel == "state/terraform/k0rdent-adopt.json":
				case strings.HasPrefix(rel, "state/runs/") && strings.HasSuffix(rel, ".yaml"):
				case strings.HasPrefix(rel, "state/secrets"):
					if e.Mode.IsDir() && e.Mode.Perm() != 0o700 || !e.Mode.IsDir() && e.Mode.Perm() != 0o600 {
						t.Errorf("%s: mode %v, want 0700 dirs and 0600 files", rel, e.Mode)
					}
					if !e.Mode.IsDir() {
						secrets = append(secrets, strings.TrimPrefix(rel, "state/secrets/"))
					}
				default:
					if _, isDest := func() (string, bool) {
						for b := range before {
							if expectedDest(b) == rel {
								return b, true
							}
						}
						return "", false
					}(); !isDest {
						t.Errorf("unexpected new file %s", rel)
					}
				}
			}
			sort.Strings(secrets)
			if fi, ok := after["state/legacy"]; !ok || fi.Mode.Perm() != 0o700 {
				t.Errorf("state/legacy: mode %v, want a 0700 directory", fi.Mode)
			}
			if _, ok := after["state/legacy/MIGRATED"]; !ok {
				t.Errorf("no state/legacy/MIGRATED marker")
			}

			// Private keys are in secrets/ and nowhere else (legacy/ keeps
			// the original bytes by design).
			keys := fixtureKeys(before)
			for _, k := range keys {
				inSecrets := false
				for rel, e := range after {
					if !strings.Contains(e.Data, k) {
						continue
					}
					switch {
					case strings.HasPrefix(rel, "state/secrets/"):
						inSecrets = true
					case strings.HasPrefix(rel, "state/legacy/"), !strings.HasPrefix(rel, "state/"):
					default:
						t.Errorf("private key %.8s… found in %s", k, rel)
					}
				}
				if !inSecrets {
					t.Errorf("private key %.8s… not written to secrets/", k)
				}
			}

			// The run files load cleanly and are marked migrated.
			for _, r := range rep.Runs {
				rf, err := s.Load(r.ID)
				if err != nil {
					t.Fatalf("Load(%s): %v", r.ID, err)
				}
				if rf.Err != nil || rf.Torn || !rf.Header.Migrated {
					t.Errorf("run %s: err %v, torn %v, migrated %v", r.ID, rf.Err, rf.Torn, rf.Header.Migrated)
				}
			}
			// runtime.yaml is the projection of the run files.
			seeded := after["state/runtime.yaml"].Data
			if len(rep.Runs) > 0 {
				if _, err := s.RebuildRuntime(); err != nil {
					t.Fatalf("RebuildRuntime: %v", err)
				}
				rebuilt, _ := os.ReadFile(s.LocalBackend().RuntimePath())
				if string(rebuilt) != seeded {
					t.Errorf("runtime.yaml differs from RebuildRuntime:\nseeded:\n%s\nrebuilt:\n%s", seeded, rebuilt)
				}
			}
			var rt Runtime
			if err := yaml.Unmarshal([]byte(seeded), &rt); err != nil {
				t.Fatalf("runtime.yaml: %v", err)
			}
			if rt.VPN != nil && rt.VPN.Status != VPNUnverified {
				t.Errorf("runtime VPN status %q, want unverified", rt.VPN.Status)
			}

			// A second migration is a no-op.
			again, err := s.Migrate(project, MigrateOptions{Now: func() time.Time { return migrateNow.Add(time.Hour) }})
			if err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			if !again.Nothing || len(again.Actions) != 0 {
				t.Errorf("second Migrate did something:\n%s", again)
			}
			if d := diffTrees(after, snapshot(t, project)); d != "" {
				t.Errorf("second Migrate changed the tree:\n%s", d)
			}

			// Golden summary.
			g := migrateGolden{ClusterID: rep.ClusterID, Secrets: secrets, Moved: moved, Runtime: &rt, DryRun: dry.String()}
			for _, r := range rep.Runs {
				g.Runs = append(g.Runs, goldenRun{ID: r.ID, Started: r.Started, Finished: r.Finished, Outcome: r.Outcome,
					SupersededBy: r.SupersededBy, Flags: r.Flags, Nodes: r.Nodes})
			}
			if n := len(rep.Runs); n > 0 {
				rf, _ := s.Load(rep.Runs[n-1].ID)
				for _, rec := range rf.Records {
					if rec.Kind == KindTransition && rec.To != workflow.Running {
						g.Records = append(g.Records, goldenNode{Time: rec.Time, Node: rec.Node, To: rec.To, Reason: rec.Reason})
					}
				}
			}
			got, err := yaml.Marshal(g)
			if err != nil {
				t.Fatal(err)
			}
			got = bytes.ReplaceAll(got, []byte(project), []byte("<project>"))
			golden := filepath.Join("testdata", "legacy", name, "want.yaml")
			if updatingGolden() {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("migration summary differs from %s (run with -update after checking):\ngot:\n%s", golden, got)
			}
		})
	}
}

var errCrash = errors.New("simulated crash")

// TestMigrate_KillAtEveryStep stops the migration after each of its steps
// and runs it again: the tree must end exactly as after an uninterrupted
// migration.
func TestMigrate_KillAtEveryStep(t *testing.T) {
	t.Parallel() // its own copies of the fixtures
	cases := legacyCases(t)
	if testing.Short() {
		cases = []string{"v040-interrupted-kof", "v008-root-level", "old-deployments"}
	}
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // each fixture in its own directory
			project := copyFixture(t, name)
			s := lockStateStore(t, project)
			rep, err := s.Migrate(project, MigrateOptions{Now: fixedNow})
			if err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			want := snapshot(t, project)
			steps := len(rep.Actions)
			for n := 1; n < steps; n++ {
				copyFixtureTo(t, name, project)
				s := lockStateStore(t, project)
				var stoppedAt MigrationAction
				_, err := s.Migrate(project, MigrateOptions{Now: fixedNow, afterStep: func(i int, a MigrationAction) error {
					if i == n {
						stoppedAt = a
						return errCrash
					}
					return nil
				}})
				if !errors.Is(err, errCrash) {
					t.Fatalf("step %d: Migrate returned %v, want the simulated crash", n, err)
				}
				if _, err := os.Stat(filepath.Join(project, "state", "legacy", "MIGRATED")); err == nil {
					t.Fatalf("step %d: marker written before the last step", n)
				}
				again, err := s.Migrate(project, MigrateOptions{Now: fixedNow})
				if err != nil {
					t.Fatalf("after a crash at step %d (%s %s): %v", n, stoppedAt.Kind, stoppedAt.Path, err)
				}
				if len(again.Actions) != steps {
					t.Errorf("after a crash at step %d: %d actions, want %d", n, len(again.Actions), steps)
				}
				if d := diffTrees(want, snapshot(t, project)); d != "" {
					t.Errorf("after a crash at step %d (%s %s), the tree differs from an uninterrupted migration:\n%s",
						n, stoppedAt.Kind, stoppedAt.Path, d)
				}
			}
		})
	}
}

// A cross-device move killed between the copy and the removal leaves the
// file at both places: the migration finishes it.
func TestMigrate_FileAtBothPlaces(t *testing.T) {
	project := copyFixture(t, "v040-azure-children")
	if _, err := lockStateStore(t, project).Migrate(project, MigrateOptions{Now: fixedNow}); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, project)
	copyFixtureTo(t, "v040-azure-children", project)
	src := filepath.Join(project, "state", "deployment-events.yaml")
	dst := filepath.Join(project, "state", "legacy", "deployment-events.yaml")
	data, _ := os.ReadFile(src)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := lockStateStore(t, project).Migrate(project, MigrateOptions{Now: fixedNow}); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if d := diffTrees(want, snapshot(t, project)); d != "" {
		t.Errorf("tree differs from a plain migration:\n%s", d)
	}
}

func TestMigrate_Refusals(t *testing.T) {
	t.Run("Conflict", func(t *testing.T) {
		project := copyFixture(t, "v040-azure-children")
		dst := filepath.Join(project, "state", "legacy", "deployment-state.yaml")
		os.MkdirAll(filepath.Dir(dst), 0o700)
		os.WriteFile(dst, []byte("something else\n"), 0o600)
		before := snapshot(t, project)
		_, err := lockStateStore(t, project).Migrate(project, MigrateOptions{Now: fixedNow})
		var ce *LegacyConflictError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "deployment-state.yaml") {
			t.Fatalf("Migrate: got %v, want a *LegacyConflictError naming deployment-state.yaml", err)
		}
		after := snapshot(t, project)
		delete(after, "state/lock")
		if d := diffTrees(before, after); d != "" {
			t.Errorf("a refused migration changed the tree:\n%s", d)
		}
	})
	t.Run("NotLocked", func(t *testing.T) {
		project := copyFixture(t, "v020-no-phases")
		_, err := NewStore(filepath.Join(project, "state")).Migrate(project, MigrateOptions{})
		if !errors.Is(err, ErrNotLocked) {
			t.Fatalf("Migrate without the lock: got %v, want ErrNotLocked", err)
		}
	})
	t.Run("Reappeared", func(t *testing.T) {
		project := copyFixture(t, "v020-no-phases")
		s := lockStateStore(t, project)
		if _, err := s.Migrate(project, MigrateOptions{Now: fixedNow}); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(project, "state", "kof-state.yaml"), []byte("kof_enabled: false\n"), 0o600)
		_, err := s.Migrate(project, MigrateOptions{Now: fixedNow})
		var re *LegacyReappearedError
		if !errors.As(err, &re) || len(re.Files) != 1 {
			t.Fatalf("got %v, want a *LegacyReappearedError for one file", err)
		}
	})
	t.Run("ExistingRunFileDiffers", func(t *testing.T) {
		project := copyFixture(t, "v020-no-phases")
		s := lockStateStore(t, project)
		dry, err := s.Migrate(project, MigrateOptions{DryRun: true, Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		path := s.LocalBackend().RunPath(dry.Runs[0].ID)
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte("---\nkind: header\n# something else\n"), 0o644)
		if _, err := s.Migrate(project, MigrateOptions{Now: fixedNow}); err == nil || !strings.Contains(err.Error(), "other contents") {
			t.Fatalf("got %v, want a refusal to overwrite %s", err, path)
		}
	})
	t.Run("Unparsable", func(t *testing.T) {
		project := copyFixture(t, "v020-no-phases")
		os.WriteFile(filepath.Join(project, "state", "deployment-state.yaml"), []byte("- a list\n- not a map\n"), 0o600)
		_, err := lockStateStore(t, project).Migrate(project, MigrateOptions{Now: fixedNow})
		if err == nil || !strings.Contains(err.Error(), "deployment-state.yaml") {
			t.Fatalf("got %v, want an error naming deployment-state.yaml", err)
		}
	})
}

func TestMigrate_NothingToDo(t *testing.T) {
	project := t.TempDir()
	s := NewStore(filepath.Join(project, "state"))
	rep, err := s.Migrate(project, MigrateOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Nothing || !strings.HasPrefix(rep.String(), "nothing to migrate") {
		t.Errorf("got %+v, want nothing to migrate", rep)
	}
	if _, err := os.Stat(s.LocalBackend().Root()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a dry run created %s", s.LocalBackend().Root())
	}
}

// A run written by this tool before the legacy files were found stays, and
// runtime.yaml projects every run, the newest last.
func TestMigrate_KeepsNewerRuns(t *testing.T) {
	project := copyFixture(t, "v040-azure-children")
	s := lockStateStore(t, project)
	r, err := s.CreateRun(testHeader("20261125-100000-abcd"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Record(ev(1, "wireguard", workflow.Pending, workflow.Running)); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := s.Migrate(project, MigrateOptions{Now: fixedNow}); err != nil {
		t.Fatal(err)
	}
	rt, err := s.ReadRuntime()
	if err != nil {
		t.Fatal(err)
	}
	if rt.CurrentRunID != "20261125-100000-abcd" || rt.LastSuccessfulRun == "" || rt.ClusterID != "k0rdent-q7m2x9ka" {
		t.Errorf("runtime: current %q, last successful %q, cluster %q; want the newer run current, the migrated run last successful",
			rt.CurrentRunID, rt.LastSuccessfulRun, rt.ClusterID)
	}
}

// A temporary file left by a process killed inside an atomic write is
// cleaned up by the next migration.
func TestMigrate_RemovesStaleTemps(t *testing.T) {
	project := copyFixture(t, "v020-no-phases")
	s := lockStateStore(t, project)
	if _, err := s.Migrate(project, MigrateOptions{Now: fixedNow}); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, project)
	copyFixtureTo(t, "v020-no-phases", project)
	s = lockStateStore(t, project)
	stale := filepath.Join(project, "state", ".runtime.yaml.tmp-12345")
	if err := os.WriteFile(stale, []byte("half a runtime"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(project, MigrateOptions{Now: fixedNow}); err != nil {
		t.Fatal(err)
	}
	if d := diffTrees(want, snapshot(t, project)); d != "" {
		t.Errorf("tree differs:\n%s", d)
	}
}

func TestCopyAcross(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, []byte("bytes\x00kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(src, old, old)
	if err := copyAcross(src, dst); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(dst)
	if string(data) != "bytes\x00kept" || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(old) {
		t.Errorf("copy: %q, mode %v, mtime %v", data, fi.Mode(), fi.ModTime())
	}
	if _, err := os.Stat(src); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("source still there: %v", err)
	}
	if err := copyAcross(src, dst); err == nil {
		t.Errorf("copy of a missing file: no error")
	}
}

func TestMigrationReport_Text(t *testing.T) {
	r := &MigrationReport{ProjectRoot: "/p", ClusterID: "k0rdent-x", Actions: []MigrationAction{
		{Kind: ActionMove, From: "/p/.clusterid", Path: "/p/state/legacy/root/.clusterid", Detail: "mode 0644", Unchanged: true},
		{Kind: ActionRuntime, Path: "/elsewhere/runtime.yaml"},
	}}
	want := "migrated legacy state in /p\ncluster k0rdent-x\n" +
		"  move    .clusterid -> state/legacy/root/.clusterid  (mode 0644)  [already done]\n" +
		"  write   /elsewhere/runtime.yaml\n"
	if got := r.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	e := &LegacyReappearedError{Files: []string{"/p/state/kof-state.yaml"}}
	if !strings.Contains(e.Error(), "/p/state/kof-state.yaml") || !strings.Contains(e.Error(), "move them aside") {
		t.Errorf("error text %q", e.Error())
	}
}

// TestMigrate_KilledProcess kills a real migrating process (SIGKILL, no
// cleanup of any kind) after each step and migrates again.
func TestMigrate_KilledProcess(t *testing.T) {
	t.Parallel() // its own copy of the fixture and processes
	const name = "v040-interrupted-kof"
	project := copyFixture(t, name)
	rep, err := lockStateStore(t, project).Migrate(project, MigrateOptions{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, project)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n < len(rep.Actions); n++ {
		copyFixtureTo(t, name, project)
		cmd := exec.Command(exe, "-test.run=^TestMigrate_HelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MIGRATE_TEST_PROJECT="+project, "MIGRATE_TEST_KILL_AT="+strconv.Itoa(n))
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("step %d: helper ended with %v, want killed by SIGKILL; output:\n%s", n, err, out)
		}
		if _, err := lockStateStore(t, project).Migrate(project, MigrateOptions{Now: fixedNow}); err != nil {
			t.Fatalf("after a kill at step %d: %v", n, err)
		}
		if d := diffTrees(want, snapshot(t, project)); d != "" {
			t.Errorf("after a kill at step %d the tree differs from an uninterrupted migration:\n%s", n, d)
		}
	}
}

// TestMigrate_HelperProcess is the process TestMigrate_KilledProcess
// kills; it does nothing in a normal test run.
func TestMigrate_HelperProcess(t *testing.T) {
	project := os.Getenv("MIGRATE_TEST_PROJECT")
	if project == "" {
		t.Skip("helper process of TestMigrate_KilledProcess")
	}
	n, _ := strconv.Atoi(os.Getenv("MIGRATE_TEST_KILL_AT"))
	s := NewStore(filepath.Join(project, "state"))
	if _, _, err := s.Lock(CurrentHolder("migrate helper")); err != nil {
		t.Fatal(err)
	}
	_, err := s.Migrate(project, MigrateOptions{Now: fixedNow, afterStep: func(i int, _ MigrationAction) error {
		if i == n {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // wait for the signal
		}
		return nil
	}})
	t.Fatalf("not killed at step %d (err %v)", n, err)
}

// The latest legacy run, interrupted in KOF, is what `k0rdent run` resumes:
// its completed nodes are reused with their outputs, kof runs again.
func TestMigrate_InterruptedRunResumes(t *testing.T) {
	project := copyFixture(t, "v040-interrupted-kof")
	s := lockStateStore(t, project)
	rep, err := s.Migrate(project, MigrateOptions{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := s.ReadRuntime()
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Runs[len(rep.Runs)-1].ID
	if rt.CurrentRunID != last || rt.CurrentOutcome != OutcomeNone || rt.LastSuccessfulRun != rep.Runs[0].ID {
		t.Fatalf("runtime: current %s (%q), last successful %s; want %s unfinished, %s", rt.CurrentRunID, rt.CurrentOutcome, rt.LastSuccessfulRun, last, rep.Runs[0].ID)
	}
	r, err := s.OpenRun(last)
	if err != nil {
		t.Fatalf("OpenRun(%s): %v", last, err)
	}
	defer r.Close()
	nodes := r.Nodes()
	for _, n := range []string{"wireguard", "terraform", "vpn", "k0s", "k0rdent", "azure-children"} {
		if nodes[n].State != workflow.Succeeded || nodes[n].RunID != last {
			t.Errorf("node %s: %+v, want succeeded in %s", n, nodes[n], last)
		}
	}
	if _, ok := nodes["kof"]; ok {
		t.Errorf("kof has a record (%+v); an interrupted legacy phase must stay pending", nodes["kof"])
	}
	if nodes["k0s"].Outputs[OutputKubeconfig] == "" || nodes["wireguard"].Outputs[OutputPeers] == "" {
		t.Errorf("outputs for resume missing: k0s %v, wireguard %v", nodes["k0s"].Outputs, nodes["wireguard"].Outputs)
	}
	if err := r.Resumed(map[string]bool{"with_kof": true, "with_azure_children": true}, 2); err != nil {
		t.Fatal(err)
	}
	if err := r.Record(workflow.Event{Time: migrateNow, Node: "kof", From: workflow.Pending, To: workflow.Running, Attempt: 1}); err != nil {
		t.Errorf("kof pending -> running after resume: %v", err)
	}

	infos, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var migrated int
	for _, ri := range infos {
		if ri.Migrated {
			migrated++
		}
	}
	if migrated != 2 {
		t.Errorf("List: %d migrated runs, want 2", migrated)
	}
}

// With the state directory on another file system than the project root,
// files are copied (bytes, mode, mtime kept) and then removed; a directory
// is refused with instructions. Needs two file systems (/dev/shm).
func TestMigrate_AcrossFileSystems(t *testing.T) {
	stateDir := filepath.Join(t.TempDir(), "state")
	shm, err := os.MkdirTemp("/dev/shm", "k0rdent-migrate-")
	if err != nil {
		t.Skipf("no second file system: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	var a, b syscall.Stat_t
	if syscall.Stat(shm, &a) != nil || syscall.Stat(filepath.Dir(stateDir), &b) != nil || a.Dev == b.Dev {
		t.Skip("/dev/shm is on the same file system as the temporary directory")
	}
	project := copyFixtureTo(t, "v008-root-level", filepath.Join(shm, "project"))
	before := snapshot(t, project)
	old := time.Date(2025, 7, 2, 17, 5, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(project, "deployment-state.yaml"), old, old)

	s := NewStore(stateDir)
	l, _, err := s.Lock(CurrentHolder("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if _, err := s.Migrate(project, MigrateOptions{Now: fixedNow}); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	for rel, e := range before {
		if e.Mode.IsDir() {
			continue
		}
		dest := filepath.Join(stateDir, "legacy", "root", rel)
		fi, err := os.Stat(dest)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		data, _ := os.ReadFile(dest)
		if string(data) != e.Data || fi.Mode() != e.Mode {
			t.Errorf("%s: bytes or mode changed across file systems", rel)
		}
		if _, err := os.Lstat(filepath.Join(project, rel)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: still in the project root", rel)
		}
	}
	if fi, err := os.Stat(filepath.Join(stateDir, "legacy", "root", "deployment-state.yaml")); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("mtime not kept across file systems")
	}

	project = copyFixtureTo(t, "old-deployments", filepath.Join(shm, "project2"))
	s2 := NewStore(filepath.Join(t.TempDir(), "state"))
	l2, _, err := s2.Lock(CurrentHolder("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Unlock()
	if _, err := s2.Migrate(project, MigrateOptions{Now: fixedNow}); err == nil || !strings.Contains(err.Error(), "different file systems") {
		t.Errorf("directory across file systems: got %v, want instructions", err)
	}
	if _, err := os.Stat(filepath.Join(project, "old_deployments", "deployment-history.yaml")); err != nil {
		t.Errorf("old_deployments touched: %v", err)
	}
}
