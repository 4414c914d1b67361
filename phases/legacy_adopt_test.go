package phases

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/config"
	tf "github.com/k0rdent/k0rdent-deploy/providers/terraform"
	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
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
			env := &workflow.Env{Node: WireGuardName, SecretsDir: store.LocalBackend().SecretsPath(), Recorded: recorded, Log: slog.New(slog.DiscardHandler)}
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

// legacyCloud makes the VMs of a migrated legacy deployment exist "in the
// cloud" of the fake provider, as the bash tool left them: their legacy
// names, addresses, WireGuard addresses and admin key. size overrides the
// config's size (a mismatch); skip leaves one VM out (recorded but gone).
func legacyCloud(t *testing.T, store *state.Store, cfg *config.Config, cloud, size, skip string) *tf.Adoption {
	t.Helper()
	a, err := tf.ReadAdoption(store.LocalBackend().TerraformDir())
	if err != nil || a == nil {
		t.Fatalf("the migration wrote no adoption file: %v", err)
	}
	pub, err := os.ReadFile(filepath.Join(store.LocalBackend().SecretsPath(), "ssh", legacySSHKeyFile+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := store.ReadRuntime()
	if err != nil {
		t.Fatal(err)
	}
	wgIP := map[string]string{}
	for _, p := range rt.WireGuard.Peers {
		wgIP[p.Name] = p.Address
	}
	for i, h := range cfg.Hosts() {
		vm, ok := a.VMs[h.Name]
		if !ok || h.Name == skip {
			continue
		}
		az := vm.Name
		if az == "" {
			az = h.Name
		}
		sz := h.Size
		if size != "" {
			sz = size
		}
		rec, _ := json.Marshal(map[string]any{"id": "fakevm-" + az, "index": i, "role": h.Role, "zone": strconv.Itoa(h.Zone), "size": sz,
			"wireguard_ip": wgIP[h.Name], "ssh_public_key": strings.TrimSpace(string(pub)), "public_ip": vm.PublicIP, "private_ip": vm.PrivateIP})
		if err := os.WriteFile(filepath.Join(cloud, az+".json"), rec, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func legacyConfig(t *testing.T, want realLegacyExpect, extra string) *config.Config {
	return tfTestConfig(t, fmt.Sprintf("cluster:\n  controllers: {count: %d}\n  workers: {count: %d}\n", want.Controllers, want.Workers)+extra)
}

// After a migration the terraform node adopts what the bash tool created:
// import blocks for every recorded resource, a plan that imports and adds,
// changes or destroys nothing, and the VMs keep their addresses. Real
// terraform binary, test provider, every fixture release.
func TestTerraform_AdoptsMigratedDeployment(t *testing.T) {
	t.Parallel() // each release with its own store, fake cloud and terraform environment
	for _, name := range realLegacyCases(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tfYAML, cloud, _ := tfTestModule(t)
			store, _, want := migratedLegacyStore(t, name)
			cfg := legacyConfig(t, want, tfYAML)
			a := legacyCloud(t, store, cfg, cloud, "", "")
			before := readDir(t, cloud)
			bc := BuildContext{Config: cfg, Dirs: Dirs{K0s: filepath.Join(store.LocalBackend().Root(), K0sWorkDir), Secrets: store.LocalBackend().SecretsPath(), Terraform: store.LocalBackend().TerraformDir()}}

			tw := newTerraform(bc)
			desc := strings.Join(tw.Describe(&workflow.Env{}), "\n")
			if !strings.Contains(desc, "adopt the legacy deployment "+want.ClusterID) || !strings.Contains(desc, "legacy tool's admin key") {
				t.Errorf("run --plan does not show the imports:\n%s", desc)
			}
			res := tfSchedule(t, store, newWireGuard(bc), tw)
			if res.Outcome != workflow.OutcomeSucceeded {
				t.Fatalf("outcome %s: %+v", res.Outcome, res.Nodes[TerraformName])
			}
			out := res.Nodes[TerraformName].Outputs
			if out[TerraformOutputImported] != strconv.Itoa(len(a.VMs)) {
				t.Errorf("imported %q resources, want %d (one VM each in the test module)", out[TerraformOutputImported], len(a.VMs))
			}
			var public map[string]string
			json.Unmarshal([]byte(out["public_ips"]), &public)
			for vm, lv := range a.VMs {
				if public[vm] != lv.PublicIP {
					t.Errorf("VM %s: public IP %s after adoption, want the legacy %s (was it replaced?)", vm, public[vm], lv.PublicIP)
				}
			}
			if after := readDir(t, cloud); !maps.Equal(before, after) {
				t.Errorf("the adoption changed the cloud:\nbefore %v\nafter  %v", before, after)
			}
			logs, _ := filepath.Glob(filepath.Join(store.LocalBackend().RunsDir(), "*", TerraformName+".log"))
			var log strings.Builder
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				log.Write(b)
			}
			wantSummary := fmt.Sprintf("%d to import, 0 to add, 0 to change, 0 to destroy", len(a.VMs))
			if !strings.Contains(log.String(), wantSummary) {
				t.Errorf("terraform log lacks %q:\n%s", wantSummary, log.String())
			}
			if _, err := os.Stat(filepath.Join(store.LocalBackend().TerraformDir(), tf.ImportsFile)); err == nil {
				t.Errorf("the import blocks are left behind")
			}
			// A later run plans as usual and changes nothing.
			res = tfSchedule(t, store, newWireGuard(bc), newTerraform(bc))
			if res.Outcome != workflow.OutcomeSucceeded || res.Nodes[TerraformName].Outputs[TerraformOutputImported] != "" {
				t.Fatalf("second run: %s %+v", res.Outcome, res.Nodes[TerraformName])
			}
			if after := readDir(t, cloud); !maps.Equal(before, after) {
				t.Errorf("the second run changed the cloud")
			}
		})
	}
}

// A deployment that does not match stops before apply, naming the
// resource and the choices; nothing is applied.
func TestTerraform_AdoptionMismatchStops(t *testing.T) {
	t.Parallel() // each case with its own store, fake cloud and terraform environment
	tests := []struct {
		name, size, skip string
		workers          int // 0: as the legacy deployment
		want             string
	}{
		{"SizeDiffers", "Standard_B2s", "", 0, `fakevm_vm.vm["k0s-worker-1"] would be destroyed or replaced`},
		{"RecordedButMissing", "", "k0s-worker-2", 0, "does not exist"},
		{"ConfigLacksVM", "", "", 1, "the legacy deployment has VM k0s-worker-2 (worker), the config does not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tfYAML, cloud, _ := tfTestModule(t)
			store, _, want := migratedLegacyStore(t, "v0.3.0-fresh")
			full := legacyConfig(t, want, tfYAML)
			legacyCloud(t, store, full, cloud, tt.size, tt.skip)
			if tt.workers != 0 {
				want.Workers = tt.workers
			}
			cfg := legacyConfig(t, want, tfYAML)
			before := readDir(t, cloud)
			bc := BuildContext{Config: cfg, Dirs: Dirs{K0s: filepath.Join(store.LocalBackend().Root(), K0sWorkDir), Secrets: store.LocalBackend().SecretsPath(), Terraform: store.LocalBackend().TerraformDir()}}
			res := tfScheduleMayFail(t, store, newWireGuard(bc), newTerraform(bc))
			st := res.Nodes[TerraformName]
			if res.Outcome == workflow.OutcomeSucceeded || !strings.Contains(st.Error, tt.want) || !strings.Contains(st.Error, "choices:") {
				t.Fatalf("outcome %s, error:\n%s\nwant it to contain %q and the choices", res.Outcome, st.Error, tt.want)
			}
			if after := readDir(t, cloud); !maps.Equal(before, after) {
				t.Errorf("a refused adoption changed the cloud")
			}
			if has, _ := tf.HasState(store.LocalBackend().TerraformDir()); has {
				t.Errorf("a refused adoption left a terraform state")
			}
		})
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		out[e.Name()] = string(b)
	}
	return out
}

// tfScheduleMayFail is tfSchedule for a run that is expected to fail.
func tfScheduleMayFail(t *testing.T, store *state.Store, nodes ...workflow.Phase) *workflow.Result {
	t.Helper()
	lock, _, err := store.Lock(state.CurrentHolder("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name())
	}
	run, err := store.CreateRun(state.Header{Nodes: names})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	g, err := workflow.NewGraph(nodes...)
	if err != nil {
		t.Fatal(err)
	}
	s := &workflow.Scheduler{Graph: g, RunID: run.ID(), SecretsDir: store.LocalBackend().SecretsPath(), Recorder: run, LogSink: run.LogSink()}
	res, _ := s.Run(context.Background(), nil)
	if res == nil {
		t.Fatal("no result")
	}
	return res
}

// The vpn node brings up a migrated deployment's hub under the legacy
// interface name with the legacy hub key, and takes that device down.
func TestVPN_KeepsMigratedHubAndInterface(t *testing.T) {
	f := newVPNFixture(t)
	ks := wireguard.NewKeyStore(f.secrets)
	if err := os.Rename(ks.Path(wireguard.HubName), ks.Path("mylaptop")); err != nil {
		t.Fatal(err)
	}
	var peers []vpnPeer
	json.Unmarshal([]byte(f.inputs[WireGuardName][WireGuardOutputPeers]), &peers)
	peers[0].Name = "mylaptop"
	pj, _ := json.Marshal(peers)
	f.inputs[WireGuardName][WireGuardOutputPeers] = string(pj)
	f.inputs[WireGuardName][WireGuardOutputInterface] = "wgk0abc12345"
	var up wireguard.DeviceConfig
	var down string
	dev := &fakeDevice{
		up: func(_ context.Context, cfg wireguard.DeviceConfig) (wireguard.DeviceInfo, error) {
			up = cfg
			return wireguard.DeviceInfo{Kind: wireguard.KindUserspace}, nil
		},
		status: f.status(10 * time.Second),
		down:   func(_ context.Context, name, _ string) error { down = name; return nil },
	}
	v := f.phase(dev, 5*time.Second)
	env := f.env()
	if err := v.Run(context.Background(), env); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if up.Interface != "wgk0abc12345" || up.PrivateKey != f.hub {
		t.Errorf("device %q with the hub key: %v; want wgk0abc12345 with mylaptop's key", up.Interface, up.PrivateKey == f.hub)
	}
	if got := env.Outputs()[VPNOutputConfigPath]; filepath.Base(got) != "wgk0abc12345.conf" {
		t.Errorf("wg-quick file %s, want it named after the device", got)
	}
	if err := v.Destroy(context.Background(), f.env()); err != nil || down != "wgk0abc12345" {
		t.Errorf("Destroy took down %q (%v), want wgk0abc12345", down, err)
	}
}

// Reset of a migrated deployment that was never adopted: Terraform has no
// state for the bash tool's resources, so its Destroy says nothing was
// destroyed and how to remove them, rather than "nothing to destroy" (after
// which the teardown would record them gone).
func TestTerraform_DestroyNeverAdopted(t *testing.T) {
	for _, name := range realLegacyCases(t) {
		t.Run(name, func(t *testing.T) {
			store, _, want := migratedLegacyStore(t, name)
			a, err := tf.ReadAdoption(store.LocalBackend().TerraformDir())
			if err != nil || a == nil {
				t.Skipf("%s: the migration wrote no adoption file (no VMs recorded): %v", name, err)
			}
			cfg := legacyConfig(t, want, "")
			bc := BuildContext{Config: cfg, Dirs: Dirs{K0s: filepath.Join(store.LocalBackend().Root(), K0sWorkDir), Secrets: store.LocalBackend().SecretsPath(), Terraform: store.LocalBackend().TerraformDir()}}
			env := &workflow.Env{Node: TerraformName, Log: slog.New(slog.DiscardHandler)}
			err = newTerraform(bc).Destroy(context.Background(), env)
			rg := a.ResourceGroup
			if rg == "" {
				rg = a.ClusterID + "-resgrp"
			}
			if err == nil || !strings.Contains(err.Error(), "nothing destroyed") || !strings.Contains(err.Error(), "az group delete --name "+rg) {
				t.Fatalf("Destroy = %v, want an error saying nothing was destroyed and naming az group delete --name %s", err, rg)
			}
		})
	}
}
