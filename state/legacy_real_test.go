package state

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// realFixtureDir holds state left by the real bash tool, one folder per
// history, each with its ground truth in expect.json (see its README).
const realFixtureDir = "../../shared/fixtures/legacy-real"

// realExpect is expect.json.
type realExpect struct {
	Case        string   `json:"case"`
	LegacyFiles []string `json:"legacy_files"`
	ClusterID   string   `json:"cluster_id"`
	Peers       map[string]struct {
		IP           string `json:"ip"`
		PublicKey    string `json:"public_key"`
		PrivateKey   string `json:"private_key"`
		MigratedName string `json:"migrated_name"`
	} `json:"peers"`
	PrivateKeysAll  []string          `json:"private_keys_all"`
	OtherSecrets    map[string]string `json:"other_secrets"`
	WireGuardPort   string            `json:"wireguard_port"`
	ControllerCount int               `json:"controller_count"`
	WorkerCount     int               `json:"worker_count"`
	ExpectedRuns    int               `json:"expected_runs"`
	Runs            []struct {
		Nodes   map[string]string `json:"nodes"`
		Outcome string            `json:"outcome"`
	} `json:"runs"`
}

// realCases lists the folders of realFixtureDir; the test is skipped when
// the shared fixtures are not beside the repository.
func realCases(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(realFixtureDir)
	if err != nil {
		t.Skipf("real legacy fixtures not found: %v", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// copyRealFixture copies <case>/project to a temporary project root.
func copyRealFixture(t testing.TB, name string) string {
	t.Helper()
	src := filepath.Join(realFixtureDir, name, "project")
	dst := filepath.Join(t.TempDir(), "project")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy fixture %s: %v", name, err)
	}
	return dst
}

func readRealExpect(t testing.TB, name string) realExpect {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(realFixtureDir, name, "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e realExpect
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("%s/expect.json: %v", name, err)
	}
	return e
}

// stateMatches reports whether got is one of the "a|b" alternatives;
// "unfinished" means no decided state (pending, or left running).
func stateMatches(want, got string) bool {
	for _, w := range strings.Split(want, "|") {
		if w == got || w == "unfinished" && (got == "" || got == "pending" || got == "running") {
			return true
		}
	}
	return false
}

func TestMigrate_RealDump(t *testing.T) {
	for _, name := range realCases(t) {
		t.Run(name, func(t *testing.T) {
			project := copyRealFixture(t, name)
			s := lockStateStore(t, project)
			rep, err := s.Migrate(project, MigrateOptions{Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(rep.String())
			rt, _ := os.ReadFile(s.RuntimePath())
			t.Log(string(rt))
			for _, r := range rep.Runs {
				t.Logf("%s %s %v %v", r.ID, r.Outcome, r.Flags, r.Nodes)
			}
		})
	}
}
