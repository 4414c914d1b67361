package phases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/config"
	tf "github.com/k0rdent/k0rdent-deploy/providers/terraform"
	"github.com/k0rdent/k0rdent-deploy/providers/terraform/tftest"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// tfTestModule is tftest.UseTestModule for a test that runs in parallel
// with others: the settings (the fake provider's mirror, the fake cloud's
// directory) go to the environment of terraform alone, not to this
// process's (t.Setenv), through a script that sets them and execs the
// real terraform binary. configYAML's terraform section names the module
// and the script (terraform.binary); bin is the script, for a tf.Exec of
// the test's own.
func tfTestModule(t *testing.T) (configYAML, cloud, bin string) {
	t.Helper()
	configYAML, cloud, env := tftest.TestModuleEnv(t)
	real := tftest.Binary(t)
	var script strings.Builder
	script.WriteString("#!/bin/sh\n")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&script, "%s=%s; export %s\n", k, shellQuote(v), k)
	}
	fmt.Fprintf(&script, "exec %s \"$@\"\n", shellQuote(real))
	bin = filepath.Join(t.TempDir(), "terraform")
	if err := os.WriteFile(bin, []byte(script.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	return configYAML + fmt.Sprintf("  binary: %q\n", bin), cloud, bin
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func tfTestConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte("azure:\n  location: westus2\n"+extra), "k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// tfTestEnv is an Env with the wireguard outputs for cfg's hosts:
// addresses 192.168.100.2.., cloud-init documents written in dir.
func tfTestEnv(t *testing.T, cfg *config.Config, dir string) *workflow.Env {
	t.Helper()
	type peer struct {
		Name    string `json:"name"`
		Address string `json:"address"`
		Role    string `json:"role"`
	}
	peers := []peer{{"operator", "192.168.100.1", "hub"}}
	out := map[string]string{WireGuardOutputPort: "51820", WireGuardOutputNetwork: "192.168.100.0/24"}
	for i, h := range cfg.Hosts() {
		peers = append(peers, peer{h.Name, "192.168.100." + string(rune('2'+i)), h.Role})
		p := filepath.Join(dir, h.Name+".yaml")
		if err := os.WriteFile(p, []byte("#cloud-config\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out[WireGuardOutputCloudInit+h.Name] = p
	}
	b, _ := json.Marshal(peers)
	out[WireGuardOutputPeers] = string(b)
	return &workflow.Env{Node: TerraformName, Inputs: map[string]map[string]string{WireGuardName: out},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Output: io.Discard, SecretsDir: dir}
}

func TestTerraformVars(t *testing.T) {
	cfg, err := config.Parse([]byte(`azure:
  location: westeurope
  vm_priority: spot
  subscription_id: 00000000-0000-0000-0000-000000000001
cluster:
  controllers: {count: 3, zones: [1, 2, 3]}
  workers: {count: 2, zones: [2, 3]}
vm_sizing:
  worker: {size: Standard_D4s_v5}
`), "k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := tfTestEnv(t, cfg, dir)
	wg, err := wireguardInputs(env, cfg.Hosts())
	if err != nil {
		t.Fatal(err)
	}
	v, err := terraformVars(cfg, wg, "k0rdent-abcd1234", "ops@example.org", "ssh-ed25519 AAAA k0rdent")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(v)
	ci := func(n string) string { return filepath.Join(dir, n+".yaml") }
	want, _ := json.Marshal(tf.Vars{
		ClusterID: "k0rdent-abcd1234", SubscriptionID: "00000000-0000-0000-0000-000000000001", Location: "westeurope",
		Owner: "ops@example.org", VMImage: "Debian:debian-12:12-gen2:latest", VMPriority: "Spot", EvictionPolicy: "Deallocate",
		SpotMaxPrice: -1, OSDiskSizeGB: 64, VNetPrefix: "10.0.0.0/16", SubnetPrefix: "10.0.1.0/24", WireGuardPort: 51820,
		SSHUser: "k0rdent", SSHPublicKey: "ssh-ed25519 AAAA k0rdent",
		VMs: map[string]tf.VM{
			"k0s-controller-1": {Index: 0, Role: "controller", Size: "Standard_D2s_v5", Zone: "1", WireGuardIP: "192.168.100.2", CloudInit: ci("k0s-controller-1")},
			"k0s-controller-2": {Index: 1, Role: "controller", Size: "Standard_D2s_v5", Zone: "2", WireGuardIP: "192.168.100.3", CloudInit: ci("k0s-controller-2")},
			"k0s-controller-3": {Index: 2, Role: "controller", Size: "Standard_D2s_v5", Zone: "3", WireGuardIP: "192.168.100.4", CloudInit: ci("k0s-controller-3")},
			"k0s-worker-1":     {Index: 3, Role: "worker", Size: "Standard_D4s_v5", Zone: "2", WireGuardIP: "192.168.100.5", CloudInit: ci("k0s-worker-1")},
			"k0s-worker-2":     {Index: 4, Role: "worker", Size: "Standard_D4s_v5", Zone: "3", WireGuardIP: "192.168.100.6", CloudInit: ci("k0s-worker-2")},
		},
	})
	if string(got) != string(want) {
		t.Errorf("vars:\n got %s\nwant %s", got, want)
	}

	t.Run("RegularHasNoEvictionPolicy", func(t *testing.T) {
		cfg := tfTestConfig(t, "")
		v, err := terraformVars(cfg, wgOf(t, cfg), "c", "o", "k")
		if err != nil {
			t.Fatal(err)
		}
		if v.VMPriority != "Regular" || v.EvictionPolicy != "" {
			t.Errorf("priority %q, eviction %q; want Regular and none", v.VMPriority, v.EvictionPolicy)
		}
	})
	t.Run("MissingVM", func(t *testing.T) {
		cfg := tfTestConfig(t, "")
		wg := wgOf(t, cfg)
		delete(wg.cloudInit, "k0s-worker-1")
		_, err := terraformVars(cfg, wg, "c", "o", "k")
		if err == nil || !strings.Contains(err.Error(), "k0s-worker-1") || !strings.Contains(err.Error(), "--from wireguard") {
			t.Errorf("got %v, want an error naming k0s-worker-1 and the fix", err)
		}
	})
}

func wgOf(t *testing.T, cfg *config.Config) *wgInputs {
	t.Helper()
	wg, err := wireguardInputs(tfTestEnv(t, cfg, t.TempDir()), cfg.Hosts())
	if err != nil {
		t.Fatal(err)
	}
	return wg
}

func TestTerraform_Preconditions(t *testing.T) {
	cfg := tfTestConfig(t, "cluster:\n  workers: {count: 2}\n")
	p := newTerraform(BuildContext{Config: cfg, Dirs: Dirs{Terraform: t.TempDir()}})
	checks := p.Preconditions()
	if len(checks) != 2 || checks[0].Fix != "k0rdent run --from wireguard" || checks[1].Name != TerraformCheckAzureLogin {
		t.Fatalf("checks = %+v, want the wireguard outputs, then the azure login (TestTerraform_AzureLoginPrecondition)", checks)
	}
	tests := []struct {
		name  string
		edit  func(out map[string]string)
		wants []string // in the error; none: passes
	}{
		{name: "Complete", edit: func(map[string]string) {}},
		{name: "NoOutputs", edit: func(out map[string]string) { clear(out) }, wants: []string{"no outputs of the wireguard node"}},
		{name: "BadPort", edit: func(out map[string]string) { out[WireGuardOutputPort] = "x" }, wants: []string{"port", `"x"`}},
		{name: "MissingCloudInit", edit: func(out map[string]string) { delete(out, WireGuardOutputCloudInit+"k0s-worker-2") },
			wants: []string{"k0s-worker-2 has no cloud_init.k0s-worker-2 output"}},
		{name: "DeletedCloudInit", edit: func(out map[string]string) { os.Remove(out[WireGuardOutputCloudInit+"k0s-controller-1"]) },
			wants: []string{"k0s-controller-1: cloud-init document", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tfTestEnv(t, cfg, t.TempDir())
			tt.edit(env.Inputs[WireGuardName])
			err := checks[0].Check(context.Background(), env)
			if len(tt.wants) == 0 {
				if err != nil {
					t.Errorf("got %v, want it to pass", err)
				}
				return
			}
			if err == nil {
				t.Fatal("passed, want a failure")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestTerraformOutputsPresent(t *testing.T) {
	check := TerraformOutputsPresent()
	full := map[string]string{
		tf.OutputVMDetails: `{"k0s-controller-1":{"role":"controller","public_ip":"198.51.100.10"}}`, tf.OutputPublicIPs: "{}",
		tf.OutputPrivateIPs: "{}", tf.OutputResourceGroup: "rg", tf.OutputWireGuardPort: "51820",
	}
	tests := []struct {
		name string
		edit func(map[string]string)
		want string // "" passes
	}{
		{"Complete", func(map[string]string) {}, ""},
		{"None", func(m map[string]string) { clear(m) }, "no outputs of the terraform node"},
		{"Missing", func(m map[string]string) { delete(m, tf.OutputPublicIPs); delete(m, tf.OutputResourceGroup) }, "terraform outputs public_ips, resource_group missing"},
		{"NoVMs", func(m map[string]string) { m[tf.OutputVMDetails] = "{}" }, "lists no VM"},
		{"NoPublicIP", func(m map[string]string) { m[tf.OutputVMDetails] = `{"k0s-worker-1":{"role":"worker"}}` }, "without a public IP: k0s-worker-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := maps.Clone(full)
			tt.edit(out)
			err := check.Check(context.Background(), &workflow.Env{Inputs: map[string]map[string]string{TerraformName: out}})
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	if check.Fix != "k0rdent run --from terraform" {
		t.Errorf("fix %q", check.Fix)
	}
}

func TestTerraform_Describe(t *testing.T) {
	cfg, err := config.Parse([]byte("azure:\n  location: westus2\n  vm_priority: Spot\n  eviction_policy: delete\ncluster:\n  workers: {count: 2, zones: [2, 3]}\n"), "/etc/k0rdent/k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := newTerraform(BuildContext{Config: cfg, Dirs: Dirs{Terraform: "/s/terraform"}})
	got := p.Describe(nil)
	want := []string{
		"terraform init and apply of the embedded Azure module in /s/terraform",
		"azurerm provider: the newest release matching >= 4.60, < 5.0 at the first terraform init, then locked in /s/terraform/.terraform.lock.hcl",
		"resource group <cluster-id>-resgrp in westus2; VNet 10.0.0.0/16, subnet 10.0.1.0/24; NSG allows UDP <the wireguard node's port> (WireGuard) and TCP 22 (SSH)",
		"VM k0s-controller-1: controller, Standard_D2s_v5, zone 1, Spot, eviction Delete, image Debian:debian-12:12-gen2:latest",
		"VM k0s-worker-1: worker, Standard_D2s_v5, zone 2, Spot, eviction Delete, image Debian:debian-12:12-gen2:latest",
		"VM k0s-worker-2: worker, Standard_D2s_v5, zone 3, Spot, eviction Delete, image Debian:debian-12:12-gen2:latest",
		"SSH user k0rdent with an ed25519 key generated once in secrets/ssh/",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Describe:\n got %q\nwant %q", got, want)
	}
	cfg.Terraform.Module = "infra"
	cfg.SSH.KeyPath = "keys/id"
	got = p.Describe(nil)
	if got[0] != "terraform init and apply of module /etc/k0rdent/infra in /s/terraform" || got[len(got)-1] != "SSH user k0rdent with the key /etc/k0rdent/keys/id" {
		t.Errorf("Describe with a module and a key: %q", got)
	}
}

func TestEnsureSSHKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ssh")
	p1, pub1, err := ensureSSHKey(dir, "k0rdent")
	if err != nil {
		t.Fatal(err)
	}
	p2, pub2, err := ensureSSHKey(dir, "k0rdent")
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 || pub1 != pub2 {
		t.Errorf("second call: got %s %q, want the same key %s %q", p2, pub2, p1, pub1)
	}
	if !strings.HasPrefix(pub1, "ssh-ed25519 ") || !strings.HasSuffix(pub1, " k0rdent") {
		t.Errorf("public key %q", pub1)
	}
	for path, want := range map[string]os.FileMode{p1: 0o600, dir: 0o700 | os.ModeDir} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode(), err, want)
		}
	}
	if b, _ := os.ReadFile(p1 + ".pub"); strings.TrimSpace(string(b)) != pub1 {
		t.Errorf(".pub holds %q, want %q", b, pub1)
	}
}

func TestDiffOutput(t *testing.T) {
	tests := []struct{ was, now, want string }{
		{`{"a":"1","b":"2"}`, `{"a":"1"}`, "b removed"},
		{`{"a":"1"}`, `{"a":"3","c":"2"}`, "a changed, c added"},
		{"51820", "51821", `was "51820", now "51821"`},
	}
	for _, tt := range tests {
		if got := diffOutput(tt.was, tt.now); got != tt.want {
			t.Errorf("diffOutput(%s, %s) = %q, want %q", tt.was, tt.now, got, tt.want)
		}
	}
}

func TestTransientTerraform(t *testing.T) {
	if err := transientTerraform(errors.New("exit status 1\nError: ... ZonalAllocationFailed ...")); !workflow.IsTransient(err) {
		t.Error("an allocation failure is not transient")
	}
	if err := transientTerraform(errors.New("Error: Unsupported argument")); workflow.IsTransient(err) {
		t.Error("a configuration error is transient")
	}
}

// tfSchedule runs the given nodes through the real scheduler into a new
// run of store.
func tfSchedule(t *testing.T, store *state.Store, nodes ...workflow.Phase) *workflow.Result {
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
	res, err := s.Run(context.Background(), nil)
	if err != nil {
		t.Fatalf("run %s: %v", run.ID(), err)
	}
	if err := run.Finish(state.Outcome(res.Outcome), ""); err != nil {
		t.Fatal(err)
	}
	return res
}

// TestTerraform_RealApply runs wireguard -> terraform through the real
// scheduler and journal with the real terraform binary, offline, against
// the test module: outputs per the contract, runtime.yaml references, a
// second run that changes nothing, Verify before and after a VM is deleted
// behind Terraform's back, and Destroy.
func TestTerraform_RealApply(t *testing.T) {
	t.Parallel() // its own store, fake cloud and terraform environment
	tfYAML, cloud, bin := tfTestModule(t)

	store := state.NewStore(t.TempDir())
	cfg := tfTestConfig(t, "metadata:\n  owner: tester\ncluster:\n  workers: {count: 2, zones: [1, 2]}\n"+tfYAML)
	bc := BuildContext{Config: cfg, Dirs: Dirs{K0s: filepath.Join(store.LocalBackend().Root(), K0sWorkDir), Secrets: store.LocalBackend().SecretsPath(), Terraform: store.LocalBackend().TerraformDir()}}
	nodes := func() []workflow.Phase { return []workflow.Phase{newWireGuard(bc), newTerraform(bc)} }

	res := tfSchedule(t, store, nodes()...)
	if res.Outcome != workflow.OutcomeSucceeded {
		t.Fatalf("outcome %s: %+v", res.Outcome, res.Nodes[TerraformName])
	}
	out := res.Nodes[TerraformName].Outputs
	wantPublic := `{"k0s-controller-1":"198.51.100.10","k0s-worker-1":"198.51.100.11","k0s-worker-2":"198.51.100.12"}`
	if out[tf.OutputPublicIPs] != wantPublic {
		t.Errorf("public_ips = %s, want %s", out[tf.OutputPublicIPs], wantPublic)
	}
	if out[tf.OutputWireGuardPort] != res.Nodes[WireGuardName].Outputs[WireGuardOutputPort] {
		t.Errorf("wireguard_port = %s, want the wireguard node's port %s", out[tf.OutputWireGuardPort], res.Nodes[WireGuardName].Outputs[WireGuardOutputPort])
	}
	details, err := tf.ParseVMDetails(out[tf.OutputVMDetails])
	if err != nil {
		t.Fatal(err)
	}
	if w2 := details["k0s-worker-2"]; w2 != (tf.VMDetails{Role: "worker", Zone: "2", Size: "Standard_D2s_v5", PublicIP: "198.51.100.12", PrivateIP: "10.0.1.6", WireGuardIP: "192.168.100.4"}) {
		t.Errorf("vm_details[k0s-worker-2] = %+v", w2)
	}
	clusterID := out[TerraformOutputClusterID]
	if !strings.HasPrefix(clusterID, "k0rdent-") || len(clusterID) != len("k0rdent-")+8 || out[tf.OutputResourceGroup] != clusterID+"-resgrp" {
		t.Errorf("cluster_id %q, resource_group %q", clusterID, out[tf.OutputResourceGroup])
	}
	if out[TerraformOutputSSHUser] != "k0rdent" || out[TerraformOutputSSHKeyPath] != filepath.Join(store.LocalBackend().SecretsPath(), "ssh", "id_ed25519") {
		t.Errorf("ssh_user %q, ssh_key_path %q", out[TerraformOutputSSHUser], out[TerraformOutputSSHKeyPath])
	}
	for path, want := range map[string]os.FileMode{
		store.LocalBackend().TerraformDir():                                     0o700 | os.ModeDir,
		filepath.Join(store.LocalBackend().TerraformDir(), "terraform.tfstate"): 0o600,
		filepath.Join(store.LocalBackend().TerraformDir(), tf.VarsFile):         0o600,
	} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode(), err, want)
		}
	}

	// Terraform's own output is in the node log.
	logs, _ := filepath.Glob(filepath.Join(store.LocalBackend().RunsDir(), "*", TerraformName+".log"))
	if len(logs) != 1 {
		t.Fatalf("terraform node logs: %v", logs)
	}
	if b, _ := os.ReadFile(logs[0]); !strings.Contains(string(b), "Apply complete! Resources: 3 added") {
		t.Errorf("node log lacks terraform's apply output:\n%s", b)
	}

	// runtime.yaml: every output is a Terraform reference.
	rt, err := store.ReadRuntime()
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Terraform) != len(out) || rt.Terraform[tf.OutputPublicIPs] != wantPublic || rt.Terraform[TerraformOutputClusterID] != clusterID {
		t.Errorf("runtime terraform references = %v, want the node outputs %v", rt.Terraform, out)
	}

	// A second run: same outputs, and the plan after it has no changes.
	res2 := tfSchedule(t, store, nodes()...)
	if res2.Outcome != workflow.OutcomeSucceeded || !equalMaps(res2.Nodes[TerraformName].Outputs, out) {
		t.Errorf("second run: %s, outputs %v, want the first run's", res2.Outcome, res2.Nodes[TerraformName].Outputs)
	}
	exec, err := tf.New(tf.Options{Dir: store.LocalBackend().TerraformDir(), Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	if changes, err := exec.Plan(context.Background()); err != nil || changes {
		t.Errorf("plan after the second run: changes=%v, %v; want none", changes, err)
	}

	// Verify, as status --check calls it.
	p := newTerraform(bc)
	env := &workflow.Env{Node: TerraformName, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Output: io.Discard, SecretsDir: store.LocalBackend().SecretsPath(), Recorded: out}
	if err := p.Verify(context.Background(), env); err != nil {
		t.Errorf("Verify right after apply: %v", err)
	}
	if err := os.Remove(filepath.Join(cloud, "k0s-worker-1.json")); err != nil {
		t.Fatal(err)
	}
	err = p.Verify(context.Background(), env)
	for _, want := range []string{`fakevm_vm.vm["k0s-worker-1"] deleted`, "output public_ips: k0s-worker-1 removed", "k0rdent run --from terraform"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Verify after a VM was deleted: got %v, want it to say %q", err, want)
		}
	}

	// No secret reached the run files or logs: the cloud-init documents
	// are referenced by path only, and the private keys never leave secrets/.
	secrets := secretMarkers(t, store)
	filepath.WalkDir(filepath.Join(store.LocalBackend().Root(), "runs"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s holds a secret", path)
			}
		}
		return nil
	})

	// Destroy: the VMs are gone, and Verify against the recorded outputs
	// says so; without recorded outputs it says there is nothing to verify.
	if err := p.Destroy(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(cloud); len(left) != 0 {
		t.Errorf("VMs left after Destroy: %v", left)
	}
	if err := p.Verify(context.Background(), env); err == nil || !strings.Contains(err.Error(), "output public_ips: k0s-controller-1 removed") {
		t.Errorf("Verify after Destroy: got %v, want the outputs gone", err)
	}
	env.Recorded = nil
	if err := p.Verify(context.Background(), env); err == nil || !strings.Contains(err.Error(), "no recorded outputs") {
		t.Errorf("Verify without recorded outputs: got %v", err)
	}
}

// secretMarkers are the secret values under secrets/: private key lines
// and the WireGuard private keys of the cloud-init documents.
func secretMarkers(t *testing.T, store *state.Store) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(store.LocalBackend().SecretsPath(), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".pub") || strings.HasSuffix(path, "listen-port") {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if k, ok := strings.CutPrefix(line, "PrivateKey = "); ok {
				out = append(out, k)
			} else if strings.HasSuffix(path, ".key") && line != "" {
				out = append(out, line)
			} else if len(line) > 40 && !strings.Contains(line, " ") && !strings.HasPrefix(line, "-----") {
				out = append(out, line) // a base64 line of the SSH private key
			}
		}
		return nil
	})
	if len(out) == 0 {
		t.Fatal("found no secret to look for")
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestTerraform_ConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse([]byte("azure:\n  location: westus2\nterraform:\n  module: nope\nssh:\n  key_path: keys/id\n"), filepath.Join(dir, "k0rdent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := newTerraform(BuildContext{Config: cfg, Dirs: Dirs{Terraform: t.TempDir()}})
	if _, _, err := p.module(); err == nil || !strings.Contains(err.Error(), "terraform.module "+filepath.Join(dir, "nope")) {
		t.Errorf("missing module: got %v, want an error naming terraform.module and the resolved path", err)
	}
	_, _, err = p.sshKey(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "ssh.key_path "+filepath.Join(dir, "keys/id")) || !strings.Contains(err.Error(), ".pub") {
		t.Errorf("key without .pub: got %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, pub, err := ensureSSHKey(filepath.Join(dir, "gen"), "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "id.pub"), []byte(pub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path, got, err := p.sshKey(t.TempDir())
	if err != nil || path != filepath.Join(dir, "keys", "id") || got != pub {
		t.Errorf("configured key: got %s %q, %v; want %s %q", path, got, err, filepath.Join(dir, "keys", "id"), pub)
	}
}

func TestTerraform_ClusterID(t *testing.T) {
	tests := []struct {
		name    string
		runtime string // runtime.yaml's cluster_id; "" no file
		want    string // "" a new k0rdent-<8>
	}{
		{"New", "", ""},
		{"MigratedIsAdopted", "k0rdent-q7m2x9ka", "k0rdent-q7m2x9ka"},
		{"BareNameIsNotAnID", "k0rdent", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := t.TempDir()
			p := newTerraform(BuildContext{Config: tfTestConfig(t, ""), Dirs: Dirs{ClusterID: tt.runtime, Terraform: work}})
			id, err := p.clusterID(work)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && id != tt.want || tt.want == "" && (len(id) != len("k0rdent-")+8 || !strings.HasPrefix(id, "k0rdent-")) {
				t.Errorf("got %q, want %q (or a new k0rdent-<8>)", id, tt.want)
			}
			// Kept: a later call, even with another runtime cluster id, returns it.
			p = newTerraform(BuildContext{Config: tfTestConfig(t, ""), Dirs: Dirs{ClusterID: "other-12345678", Terraform: work}})
			if again, err := p.clusterID(work); err != nil || again != id {
				t.Errorf("second call: got %q, %v; want %q", again, err, id)
			}
		})
	}
}

// TestTerraform_AzureLoginPrecondition: with the embedded Azure module the
// terraform node does not start (not even init) until a subscription
// resolves: a logged-out Azure CLI fails its "azure login" precondition
// with the fix; ARM_SUBSCRIPTION_ID passes it; a module of one's own has
// no such check. (examples/with-command-phases.yaml relies on it.)
func TestTerraform_AzureLoginPrecondition(t *testing.T) {
	bin := t.TempDir()
	// A stand-in for the Azure CLI, logged out.
	if err := os.WriteFile(filepath.Join(bin, "az"), []byte("#!/bin/sh\necho \"Please run 'az login' to setup account.\" >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	t.Setenv("ARM_SUBSCRIPTION_ID", "")
	find := func(tf *Terraform) *workflow.Check {
		for _, c := range tf.Preconditions() {
			if c.Name == TerraformCheckAzureLogin {
				return &c
			}
		}
		return nil
	}
	cfg := tfTestConfig(t, "")
	c := find(newTerraform(BuildContext{Config: cfg}))
	if c == nil {
		t.Fatal("no azure login precondition with the embedded module")
	}
	err := c.Check(context.Background(), &workflow.Env{})
	if err == nil || !strings.Contains(err.Error(), "az login") || !strings.Contains(c.Fix, "az login") {
		t.Errorf("logged out: %v (fix %q), want a failure naming az login", err, c.Fix)
	}
	t.Setenv("ARM_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000001")
	if err := c.Check(context.Background(), &workflow.Env{}); err != nil {
		t.Errorf("with ARM_SUBSCRIPTION_ID: %v", err)
	}
	cfg.Terraform.Module = "./my-module"
	if c := find(newTerraform(BuildContext{Config: cfg})); c != nil {
		t.Errorf("a module of one's own got the azure login check")
	}
}
