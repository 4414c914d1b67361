package phases

import (
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// realLegacyDir holds deployments left by the real bash tool, one per
// release (see its README); each has its ground truth in expect.json.
const realLegacyDir = "../../shared/fixtures/legacy-real"

type realLegacyExpect struct {
	ClusterID     string `json:"cluster_id"`
	WireGuardPort string `json:"wireguard_port"`
	Controllers   int    `json:"controller_count"`
	Workers       int    `json:"worker_count"`
	Peers         map[string]struct {
		IP           string `json:"ip"`
		PublicKey    string `json:"public_key"`
		MigratedName string `json:"migrated_name"`
	} `json:"peers"`
}

// migratedLegacyStore copies one real legacy deployment and migrates it;
// it returns the store and the ground truth.
func migratedLegacyStore(t *testing.T, name string) (*state.Store, string, realLegacyExpect) {
	t.Helper()
	var want realLegacyExpect
	data, err := os.ReadFile(filepath.Join(realLegacyDir, name, "expect.json"))
	if err != nil {
		t.Skipf("real legacy fixtures not found: %v", err)
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(realLegacyDir, name, "project")
	project := filepath.Join(t.TempDir(), "project")
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(project, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(project, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	store := state.NewStore(filepath.Join(project, "state"))
	lock, _, err := store.Lock(state.CurrentHolder("test"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Migrate(project, state.MigrateOptions{})
	lock.Unlock()
	if err != nil {
		t.Fatalf("migrate %s: %v", name, err)
	}
	return store, project, want
}

func realLegacyCases(t *testing.T) []string {
	ents, err := os.ReadDir(realLegacyDir)
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

// After migrating a healthy deployment, the wireguard node verifies what
// exists and, run again, changes nothing: same port, hub name, interface,
// addresses (.1 and .11 on) and keys, now and in every later run.
func TestWireGuard_KeepsMigratedDeployment(t *testing.T) {
	for _, name := range realLegacyCases(t) {
		t.Run(name, func(t *testing.T) {
			store, _, want := migratedLegacyStore(t, name)
			cfg := wgTestConfig(t, "")
			cfg.Cluster.Workers.Count = want.Workers
			cfg.Cluster.Controllers.Count = want.Controllers
			w := wgTestNode(t, cfg, store)

			known, err := store.LastKnown()
			if err != nil {
				t.Fatal(err)
			}
			recorded := known[WireGuardName].Outputs
			if recorded == nil {
				t.Fatalf("the migration recorded no wireguard outputs: %v", known[WireGuardName])
			}
			keysBefore := wgReadKeys(t, store)
			env := &workflow.Env{Node: WireGuardName, SecretsDir: store.SecretsDir(), Recorded: recorded, Log: slog.New(slog.DiscardHandler)}
			if err := w.Verify(context.Background(), env); err != nil {
				t.Fatalf("Verify on migrated state that matches reality: %v", err)
			}
			for _, line := range w.Describe(env) {
				if strings.Contains(line, "generate") && !strings.Contains(line, "generate 0") {
					t.Errorf("plan would generate keys: %q", line)
				}
			}

			for i := range 2 { // the first run after migration, and a later one
				res, runID := wgSchedule(t, store, w, "")
				if res.Outcome != workflow.OutcomeSucceeded {
					t.Fatalf("run %d: %v", i+1, res.Outcome)
				}
				rf, err := store.Load(runID)
				if err != nil {
					t.Fatal(err)
				}
				out := rf.Nodes[WireGuardName].Outputs
				if out[WireGuardOutputPort] != want.WireGuardPort {
					t.Errorf("run %d: port %s, want the legacy %s", i+1, out[WireGuardOutputPort], want.WireGuardPort)
				}
				suffix := strings.TrimPrefix(want.ClusterID, "k0rdent-")
				if out[WireGuardOutputInterface] != "wgk0"+suffix {
					t.Errorf("run %d: interface %q, want wgk0%s", i+1, out[WireGuardOutputInterface], suffix)
				}
				var peers []wgPeer
				if err := json.Unmarshal([]byte(out[WireGuardOutputPeers]), &peers); err != nil {
					t.Fatal(err)
				}
				got := map[string]wgPeer{}
				for _, p := range peers {
					got[p.Name] = p
				}
				for lname, wp := range want.Peers {
					if wp.MigratedName != "" {
						lname = wp.MigratedName
					}
					if p := got[lname]; p.Address != wp.IP || p.PublicKey != wp.PublicKey {
						t.Errorf("run %d: peer %s = %+v, want %s %s", i+1, lname, p, wp.IP, wp.PublicKey)
					}
				}
				if len(got) != len(want.Peers) {
					t.Errorf("run %d: %d peers, want %d: %v", i+1, len(got), len(want.Peers), slices.Sorted(maps.Keys(got)))
				}
				if after := wgReadKeys(t, store); !maps.Equal(after, keysBefore) {
					t.Errorf("run %d changed the key files:\nbefore %v\nafter  %v", i+1, keysBefore, after)
				}
				env.Recorded = out
				if err := w.Verify(context.Background(), env); err != nil {
					t.Errorf("Verify after run %d: %v", i+1, err)
				}
				if n, _ := strconv.Atoi(out[WireGuardOutputPort]); n == 0 {
					t.Errorf("run %d: no port output", i+1)
				}
			}
		})
	}
}
