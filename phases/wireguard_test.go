package phases

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func wgTestConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte("azure:\n  location: westus2\ncluster:\n  workers:\n    count: 2\n"+extra), "k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// wgNode builds the wireguard node the way the registry does.
func wgTestNode(t *testing.T, cfg *config.Config, store *state.Store) *WireGuard {
	t.Helper()
	nodes, err := wireguardPlugin().Factory(BuildContext{Config: cfg, Dirs: Dirs{K0s: filepath.Join(store.LocalBackend().Root(), K0sWorkDir), Secrets: store.LocalBackend().SecretsPath(), Terraform: store.LocalBackend().TerraformDir()}})
	if err != nil || len(nodes) != 1 {
		t.Fatalf("factory = %v, %v", nodes, err)
	}
	return nodes[0].(*WireGuard)
}

// schedule runs the graph of w through the real scheduler into a real run
// file: a new run when resume is "", else a resume of that run.
func wgSchedule(t *testing.T, store *state.Store, w workflow.Phase, resume string) (*workflow.Result, string) {
	t.Helper()
	lock, _, err := store.Lock(state.CurrentHolder("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	var (
		run   *state.Run
		prior map[string]workflow.NodeStatus
	)
	if resume == "" {
		run, err = store.CreateRun(state.Header{Nodes: []string{w.Name()}})
	} else {
		run, err = store.OpenRun(resume)
		if err == nil {
			prior = run.Nodes()
			err = run.Resumed(nil, run.Attempt()+1)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	g, err := workflow.NewGraph(w)
	if err != nil {
		t.Fatal(err)
	}
	s := &workflow.Scheduler{Graph: g, RunID: run.ID(), SecretsDir: store.LocalBackend().SecretsPath(), Recorder: run, LogSink: run.LogSink()}
	res, err := s.Run(context.Background(), prior)
	if err != nil {
		t.Fatalf("run %s: %v", run.ID(), err)
	}
	if err := run.Finish(state.Outcome(res.Outcome), ""); err != nil {
		t.Fatal(err)
	}
	return res, run.ID()
}

// TestWireGuard_RunsReuseKeysAndPort: two runs through the scheduler and
// the journal, and a resume, give the same keys, port and outputs; the
// peers reach runtime.yaml through the state projection.
func TestWireGuard_RunsReuseKeysAndPort(t *testing.T) {
	store := state.NewStore(t.TempDir())
	cfg := wgTestConfig(t, "")
	res1, id1 := wgSchedule(t, store, wgTestNode(t, cfg, store), "")
	out1 := res1.Nodes[WireGuardName].Outputs
	keys1 := wgReadKeys(t, store)
	if len(keys1) != 4 {
		t.Fatalf("%d key files after the first run, want 4 (operator and 3 VMs): %v", len(keys1), keys1)
	}

	res2, id2 := wgSchedule(t, store, wgTestNode(t, cfg, store), "")
	if id2 == id1 {
		t.Fatal("the second run reused the run id")
	}
	out2 := res2.Nodes[WireGuardName].Outputs
	if !maps.Equal(out1, out2) {
		t.Errorf("outputs differ between runs:\n 1: %v\n 2: %v", out1, out2)
	}
	if keys2 := wgReadKeys(t, store); !maps.Equal(keys1, keys2) {
		t.Error("key files differ between runs: a key was rotated")
	}
	port := out1[WireGuardOutputPort]
	if data, _ := os.ReadFile(filepath.Join(store.LocalBackend().SecretsPath(), "wireguard", "listen-port")); strings.TrimSpace(string(data)) != port {
		t.Errorf("listen-port file %q, output %q", data, port)
	}

	// runtime.yaml: the projection of the journal.
	rt, err := store.ReadRuntime()
	if err != nil {
		t.Fatal(err)
	}
	if rt.WireGuard == nil || rt.WireGuard.Network != "192.168.100.0/24" || rt.WireGuard.Port == 0 || port != strconv.Itoa(rt.WireGuard.Port) {
		t.Fatalf("runtime wireguard = %+v, want network 192.168.100.0/24 and port %s", rt.WireGuard, port)
	}
	var got []string
	for _, p := range rt.WireGuard.Peers {
		got = append(got, p.Name+" "+p.Role+" "+p.Address)
		if p.PublicKey == "" || keys1[p.Name] == "" {
			t.Errorf("peer %s: public key %q, key file present %v", p.Name, p.PublicKey, keys1[p.Name] != "")
		}
	}
	want := []string{"operator hub 192.168.100.1", "k0s-controller-1 controller 192.168.100.2", "k0s-worker-1 worker 192.168.100.3", "k0s-worker-2 worker 192.168.100.4"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("runtime peers:\n got %s\nwant %s", strings.Join(got, "; "), strings.Join(want, "; "))
	}

	// A rebuild from the run files agrees with the live runtime.
	rt2, err := store.RebuildRuntime()
	if err != nil {
		t.Fatal(err)
	}
	if rt2.WireGuard == nil || len(rt2.WireGuard.Peers) != 4 || rt2.WireGuard.Peers[0].PublicKey != rt.WireGuard.Peers[0].PublicKey {
		t.Errorf("rebuilt runtime wireguard = %+v", rt2.WireGuard)
	}

	// Resume after a crash left the node running: it runs again, same keys.
	lock, _, _ := store.Lock(state.CurrentHolder("test"))
	run, _ := store.CreateRun(state.Header{Nodes: []string{WireGuardName}})
	run.Record(workflow.Event{Node: WireGuardName, From: workflow.Pending, To: workflow.Running, Attempt: 1})
	id3 := run.ID()
	run.Close()
	lock.Unlock()
	res3, _ := wgSchedule(t, store, wgTestNode(t, cfg, store), id3)
	if n := res3.Nodes[WireGuardName]; n.State != workflow.Succeeded || !maps.Equal(n.Outputs, out1) {
		t.Errorf("resumed node: %s, outputs equal %v", n.State, maps.Equal(n.Outputs, out1))
	}
	if keys3 := wgReadKeys(t, store); !maps.Equal(keys1, keys3) {
		t.Error("key files changed on resume")
	}
}

// TestWireGuard_SecretsOnlyUnderSecrets scans every file of the state
// directory outside secrets/ (run files, node logs, runtime.yaml, lock) for
// every private key.
func TestWireGuard_SecretsOnlyUnderSecrets(t *testing.T) {
	store := state.NewStore(t.TempDir())
	cfg := wgTestConfig(t, "network:\n  wireguard_port: 51820\n")
	res, _ := wgSchedule(t, store, wgTestNode(t, cfg, store), "")
	keys := wgReadKeys(t, store)
	for name, v := range res.Nodes[WireGuardName].Outputs {
		if strings.HasPrefix(name, WireGuardOutputCloudInit) || name == WireGuardOutputKeysDir {
			if !strings.HasPrefix(v, store.LocalBackend().SecretsPath()+string(filepath.Separator)) {
				t.Errorf("output %s = %s: not under %s", name, v, store.LocalBackend().SecretsPath())
			}
		}
	}
	var scanned int
	err := filepath.WalkDir(store.LocalBackend().Root(), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == store.LocalBackend().SecretsPath() {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned++
		for peer, key := range keys {
			if strings.Contains(string(data), key) {
				t.Errorf("%s holds the private key of %s", path, peer)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 3 {
		t.Errorf("scanned %d files, want at least the run file, the node log and runtime.yaml", scanned)
	}
	// Every secret file is 0600 and its directories 0700.
	filepath.WalkDir(store.LocalBackend().SecretsPath(), func(path string, d fs.DirEntry, err error) error {
		fi, _ := d.Info()
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", path, fi.Mode().Perm(), want)
		}
		return nil
	})
	if got := res.Nodes[WireGuardName].Outputs[WireGuardOutputPort]; got != "51820" {
		t.Errorf("port output %s, want the configured 51820", got)
	}
}

func TestWireGuard_CloudInitOutputs(t *testing.T) {
	store := state.NewStore(t.TempDir())
	res, _ := wgSchedule(t, store, wgTestNode(t, wgTestConfig(t, ""), store), "")
	out := res.Nodes[WireGuardName].Outputs
	var peers []struct{ Name, Address, Public_Key, Role string }
	if err := json.Unmarshal([]byte(out[WireGuardOutputPeers]), &peers); err != nil {
		t.Fatal(err)
	}
	if out[WireGuardOutputHubAddress] != "192.168.100.1" || out[WireGuardOutputKeysDir] != filepath.Join(store.LocalBackend().SecretsPath(), "wireguard") {
		t.Errorf("hub_address %q, keys_dir %q", out[WireGuardOutputHubAddress], out[WireGuardOutputKeysDir])
	}
	for _, p := range peers[1:] {
		path := out[WireGuardOutputCloudInit+p.Name]
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("cloud-init of %s: %v", p.Name, err)
		}
		q, err := wireguard.ParseCloudInit(doc)
		if err != nil {
			t.Fatal(err)
		}
		if q.PrivateKey.PublicKey().String() != p.Public_Key || q.Address[0].Addr().String() != p.Address ||
			q.Peers[0].PublicKey.String() != peers[0].Public_Key || strconv.Itoa(q.ListenPort) != out[WireGuardOutputPort] {
			t.Errorf("cloud-init of %s does not match the peers output: %+v", p.Name, q)
		}
	}
	if len(peers) != 4 || len(out) != 5+3 {
		t.Errorf("%d peers, %d outputs (%v); want 4 peers and peers, port, network, hub_address, keys_dir and 3 cloud_init.*", len(peers), len(out), out)
	}
}

func TestWireGuard_Describe(t *testing.T) {
	store := state.NewStore(t.TempDir())
	env := &workflow.Env{SecretsDir: store.LocalBackend().SecretsPath()}
	keysDir := filepath.Join(store.LocalBackend().SecretsPath(), "wireguard")
	w := wgTestNode(t, wgTestConfig(t, ""), store)
	want := []string{
		"address plan: hub 192.168.100.1, 3 hosts (192.168.100.2-192.168.100.4) in 192.168.100.0/24",
		"keys: reuse 0, generate 4 (" + keysDir + ")",
		"listen port: random in 30000-64000, chosen once",
		"cloud-init: 3 documents in " + filepath.Join(keysDir, "cloud-init") + " (0600)",
	}
	if got := w.Describe(env); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Describe before a run:\n got %q\nwant %q", got, want)
	}
	if _, err := os.Stat(store.LocalBackend().SecretsPath()); !errors.Is(err, fs.ErrNotExist) {
		t.Error("Describe created the secrets directory; it must only read")
	}
	res, _ := wgSchedule(t, store, w, "")
	want[1] = "keys: reuse 4, generate 0 (" + keysDir + ")"
	want[2] = "listen port: " + res.Nodes[WireGuardName].Outputs[WireGuardOutputPort] + " (kept)"
	if got := w.Describe(env); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Describe after a run:\n got %q\nwant %q", got, want)
	}

	// More workers, a configured port that differs from the stored one.
	w2 := wgTestNode(t, wgTestConfig(t, "network:\n  wireguard_port: 51820\n"), store)
	w2.hosts = append(w2.hosts, wireguard.Host{Name: "k0s-worker-3", Role: "worker"})
	got := w2.Describe(env)
	if got[1] != "keys: reuse 4, generate 1 ("+keysDir+")" || !strings.HasPrefix(got[2], "listen port: 51820 (network.wireguard_port; was ") {
		t.Errorf("Describe with a new worker and port: %q", got)
	}
	w3 := wgTestNode(t, wgTestConfig(t, ""), store)
	w3.network = "10.9.0.0/30" // config validation refuses it; the plan says why too
	if got := w3.Describe(env); len(got) != 1 || !strings.Contains(got[0], "address plan: wireguard network 10.9.0.0/30 holds 2 usable addresses") {
		t.Errorf("Describe with a small network: %q", got)
	}
}

// TestWireGuard_Verify: a completed node verifies; each kind of drift is
// reported with the file; a resume re-runs the node and fixes it without
// rotating any key that still exists.
func TestWireGuard_Verify(t *testing.T) {
	store := state.NewStore(t.TempDir())
	cfg := wgTestConfig(t, "")
	w := wgTestNode(t, cfg, store)
	env := &workflow.Env{SecretsDir: store.LocalBackend().SecretsPath()}
	if err := w.Verify(context.Background(), env); err == nil {
		t.Fatal("Verify before any run = nil")
	}
	_, id := wgSchedule(t, store, w, "")
	if err := w.Verify(context.Background(), env); err != nil {
		t.Fatalf("Verify after the run: %v", err)
	}
	keys := wgReadKeys(t, store)
	s := wireguard.NewKeyStore(store.LocalBackend().SecretsPath())
	otherDoc := func() {
		data, _ := os.ReadFile(s.CloudInitPath("k0s-worker-2"))
		os.WriteFile(s.CloudInitPath("k0s-worker-1"), data, 0o600)
	}
	tests := []struct {
		name  string
		drift func()
		want  string
	}{
		{"CloudInitDeleted", func() { os.Remove(s.CloudInitPath("k0s-worker-1")) }, "cloud-init of k0s-worker-1: open "},
		{"CloudInitOfAnotherVM", otherDoc, "holds another private key than k0s-worker-1.key"},
		{"KeyDeleted", func() { os.Remove(s.Path("k0s-controller-1")) }, "wireguard: no key: " + s.Path("k0s-controller-1")},
		{"HubKeyCorrupt", func() { os.WriteFile(s.Path("operator"), []byte("junk\n"), 0o600) }, "not a base64 WireGuard private key"},
		{"PortChanged", func() { os.WriteFile(s.PortPath(), []byte("12345\n"), 0o600) }, ", want 12345"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.drift()
			err := w.Verify(context.Background(), env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify = %v, want %q", err, tt.want)
			}
			if tt.name == "HubKeyCorrupt" { // not repaired by a run: restore it
				os.WriteFile(s.Path("operator"), []byte(keys["operator"]+"\n"), 0o600)
			}
			if tt.name == "PortChanged" { // a run keeps the stored port: restore it
				os.Remove(s.PortPath())
				os.WriteFile(s.PortPath(), []byte(strconv.Itoa(wgRuntimePort(t, store))+"\n"), 0o600)
			}
			// The resume verifies, sees the drift and re-runs the node.
			res, _ := wgSchedule(t, store, wgTestNode(t, cfg, store), id)
			if n := res.Nodes[WireGuardName]; n.State != workflow.Succeeded {
				t.Fatalf("after resume: %s %s", n.State, n.Error)
			}
			if err := w.Verify(context.Background(), env); err != nil {
				t.Errorf("Verify after the resume: %v", err)
			}
			got := wgReadKeys(t, store)
			for peer, k := range keys {
				if tt.name == "KeyDeleted" && peer == "k0s-controller-1" {
					if got[peer] == k || got[peer] == "" {
						t.Error("deleted key not regenerated")
					}
					keys[peer] = got[peer]
					continue
				}
				if got[peer] != k {
					t.Errorf("key of %s changed", peer)
				}
			}
		})
	}
}

// runtimePort is the listen port runtime.yaml shows.
func wgRuntimePort(t *testing.T, store *state.Store) int {
	t.Helper()
	rt, err := store.ReadRuntime()
	if err != nil || rt.WireGuard == nil {
		t.Fatalf("runtime: %v", err)
	}
	return rt.WireGuard.Port
}

func TestWireGuard_AdoptsLegacyHubKey(t *testing.T) {
	store := state.NewStore(t.TempDir())
	legacy := wireguard.NewKeyStore(store.LocalBackend().SecretsPath())
	k, _, err := legacy.LoadOrGenerate("mylaptop")
	if err != nil {
		t.Fatal(err)
	}
	res, _ := wgSchedule(t, store, wgTestNode(t, wgTestConfig(t, ""), store), "")
	var peers []struct{ Name, Public_Key string }
	json.Unmarshal([]byte(res.Nodes[WireGuardName].Outputs[WireGuardOutputPeers]), &peers)
	if peers[0].Name != "operator" || peers[0].Public_Key != k.PublicKey().String() {
		t.Errorf("hub %+v, want operator with the migrated mylaptop key", peers[0])
	}
}

func TestWireGuard_RunErrors(t *testing.T) {
	store := state.NewStore(t.TempDir())
	w := wgTestNode(t, wgTestConfig(t, ""), store)
	w.network = "10.0.0.0/30"
	env := &workflow.Env{SecretsDir: store.LocalBackend().SecretsPath()}
	err := w.Run(context.Background(), env)
	if err == nil || !strings.Contains(err.Error(), "hub and 3 hosts need 4 (use a /29 or larger network) (network.wireguard_network)") {
		t.Errorf("Run with a small network = %v", err)
	}
	os.MkdirAll(filepath.Join(store.LocalBackend().SecretsPath(), "wireguard"), 0o700)
	os.WriteFile(filepath.Join(store.LocalBackend().SecretsPath(), "wireguard", "k0s-worker-1.key"), []byte("broken"), 0o600)
	w = wgTestNode(t, wgTestConfig(t, ""), store)
	env.Log = slog.New(slog.DiscardHandler)
	if err := w.Run(context.Background(), env); err == nil || !strings.Contains(err.Error(), "k0s-worker-1.key: not a base64 WireGuard private key") {
		t.Errorf("Run over a corrupt key = %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(store.LocalBackend().SecretsPath(), "wireguard", "k0s-worker-1.key")); string(data) != "broken" {
		t.Error("Run replaced a corrupt key")
	}
}

// readKeys returns peer -> private key of every key file.
func wgReadKeys(t *testing.T, store *state.Store) map[string]string {
	t.Helper()
	dir := filepath.Join(store.LocalBackend().SecretsPath(), "wireguard")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".key"); ok {
			data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			keys[name] = strings.TrimSpace(string(data))
		}
	}
	return keys
}

// TestWireGuard_RelativeStateDirGivesAbsoluteOutputs: outputs are
// journalled and read by resumed runs, maybe from another directory.
func TestWireGuard_RelativeStateDirGivesAbsoluteOutputs(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	store := state.NewStore("state")
	w := wgTestNode(t, wgTestConfig(t, ""), store)
	env := &workflow.Env{SecretsDir: store.LocalBackend().SecretsPath(), Log: slog.New(slog.DiscardHandler)}
	if err := w.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	out := env.Outputs()
	for _, k := range []string{WireGuardOutputKeysDir, WireGuardOutputCloudInit + "k0s-worker-2"} {
		if want := filepath.Join(dir, "state", "secrets"); !strings.HasPrefix(out[k], want) {
			t.Errorf("output %s = %q, want an absolute path under %s", k, out[k], want)
		}
	}
	if got := w.Describe(env)[1]; got != "keys: reuse 4, generate 0 (state/secrets/wireguard)" {
		t.Errorf("Describe keys line = %q, want the path as configured", got)
	}
}

// TestWireGuard_FewerWorkers: a VM dropped from the config loses its
// cloud-init document (it holds a private key) and output; keys stay.
func TestWireGuard_FewerWorkers(t *testing.T) {
	store := state.NewStore(t.TempDir())
	wgSchedule(t, store, wgTestNode(t, wgTestConfig(t, ""), store), "")
	cfg, err := config.Parse([]byte("azure:\n  location: westus2\n"), "k0rdent.yaml") // one worker
	if err != nil {
		t.Fatal(err)
	}
	res, _ := wgSchedule(t, store, wgTestNode(t, cfg, store), "")
	out := res.Nodes[WireGuardName].Outputs
	s := wireguard.NewKeyStore(store.LocalBackend().SecretsPath())
	if _, ok := out[WireGuardOutputCloudInit+"k0s-worker-2"]; ok {
		t.Error("output cloud_init.k0s-worker-2 for a VM no longer in the config")
	}
	if _, err := os.Stat(s.CloudInitPath("k0s-worker-2")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cloud-init of the dropped VM: %v, want it removed", err)
	}
	if !s.Exists("k0s-worker-2") {
		t.Error("the dropped VM's key was removed; keys are kept")
	}
}

// BenchmarkWireGuard_Rerun is a re-run with every key present: load the
// keys, render and atomically replace every cloud-init document.
func BenchmarkWireGuard_Rerun(b *testing.B) {
	for _, workers := range []int{2, 100} {
		b.Run(strconv.Itoa(workers+1)+"VMs", func(b *testing.B) {
			cfg, err := config.Parse([]byte("azure:\n  location: westus2\ncluster:\n  workers:\n    count: "+strconv.Itoa(workers)+"\n"), "k0rdent.yaml")
			if err != nil {
				b.Fatal(err)
			}
			store := state.NewStore(b.TempDir())
			nodes, _ := wireguardPlugin().Factory(BuildContext{Config: cfg, Dirs: Dirs{Secrets: store.LocalBackend().SecretsPath()}})
			w := nodes[0]
			for b.Loop() {
				env := &workflow.Env{SecretsDir: store.LocalBackend().SecretsPath(), Log: slog.New(slog.DiscardHandler)}
				if err := w.Run(context.Background(), env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Verify compares the peers with those the journal recorded (env.Recorded):
// keys regenerated behind the journal's back are drift, even when the files
// agree with each other.
func TestWireGuard_VerifyAgainstRecordedPeers(t *testing.T) {
	store := state.NewStore(t.TempDir())
	w := wgTestNode(t, wgTestConfig(t, ""), store)
	res, _ := wgSchedule(t, store, w, "")
	recorded := res.Nodes[WireGuardName].Outputs
	env := &workflow.Env{SecretsDir: store.LocalBackend().SecretsPath(), Recorded: recorded}
	if err := w.Verify(context.Background(), env); err != nil {
		t.Fatalf("Verify with the recorded outputs: %v", err)
	}
	var peers []wgPeer
	if err := json.Unmarshal([]byte(recorded[WireGuardOutputPeers]), &peers); err != nil || len(peers) < 2 {
		t.Fatalf("recorded peers %q: %v", recorded[WireGuardOutputPeers], err)
	}
	other, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	peers[1].PublicKey = other.PublicKey().String()
	data, _ := json.Marshal(peers)
	env.Recorded = map[string]string{WireGuardOutputPeers: string(data)}
	if err := w.Verify(context.Background(), env); err == nil || !strings.Contains(err.Error(), "differ from those the journal recorded") {
		t.Errorf("Verify with another recorded key = %v, want the difference reported", err)
	}
}
