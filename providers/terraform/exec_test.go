package terraform_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/providers/terraform"
	"github.com/k0rdent/k0rdent-deploy/providers/terraform/tftest"
)

func TestOutputString(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"string", `"k0rdent-ab12cd34-resgrp"`, "k0rdent-ab12cd34-resgrp"},
		{"number", `51820`, "51820"},
		{"big number keeps digits", `12345678901234567890`, "12345678901234567890"},
		{"bool", `true`, "true"},
		{"null", `null`, ""},
		{"object sorted compact", `{ "b": "2", "a": {"y": 1, "x": [1, 2]} }`, `{"a":{"x":[1,2],"y":1},"b":"2"}`},
		{"list", `[ "a", "b" ]`, `["a","b"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := terraform.OutputString(json.RawMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := terraform.OutputString(json.RawMessage(`{`)); err == nil {
		t.Error("invalid JSON: got no error")
	}
}

func TestEnv(t *testing.T) {
	env, err := terraform.Env([]string{"PATH=/bin", "TF_LOG=trace", "TF_VAR_x=1", "CHECKPOINT_DISABLE=", "HOME=/root"},
		map[string]string{"TF_CLI_CONFIG_FILE": "/tmp/rc"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"PATH": "/bin", "HOME": "/root", "TF_CLI_CONFIG_FILE": "/tmp/rc", "CHECKPOINT_DISABLE": "1"}
	if len(env) != len(want) {
		t.Errorf("got %v, want %v", env, want)
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s: got %q, want %q", k, env[k], v)
		}
	}
	_, err = terraform.Env(nil, map[string]string{"TF_VAR_secret": "x"})
	if err == nil || !strings.Contains(err.Error(), "TF_VAR_secret") {
		t.Errorf("managed variable in extra: got %v, want an error naming it", err)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "terraform")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho Terraform v1.11.4\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("Configured", func(t *testing.T) {
		got, err := terraform.Find(ctx, terraform.FindOptions{Binary: fake})
		if err != nil || got != fake {
			t.Errorf("got %q, %v; want %q", got, err, fake)
		}
	})
	t.Run("ConfiguredMissing", func(t *testing.T) {
		_, err := terraform.Find(ctx, terraform.FindOptions{Binary: filepath.Join(dir, "nope")})
		if err == nil || !strings.Contains(err.Error(), "terraform.binary") {
			t.Errorf("got %v, want an error naming terraform.binary", err)
		}
	})
	t.Run("Path", func(t *testing.T) {
		t.Setenv("PATH", dir)
		got, err := terraform.Find(ctx, terraform.FindOptions{})
		if err != nil || got != fake {
			t.Errorf("got %q, %v; want %q", got, err, fake)
		}
	})
	t.Run("InstalledEarlier", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		got, err := terraform.Find(ctx, terraform.FindOptions{InstallDir: dir})
		if err != nil || got != fake {
			t.Errorf("got %q, %v; want %q", got, err, fake)
		}
	})
	t.Run("NowhereNoDownload", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, err := terraform.Find(ctx, terraform.FindOptions{InstallDir: t.TempDir()})
		if err == nil {
			t.Fatal("got no error")
		}
		for _, want := range []string{"not on PATH", "download not allowed", "terraform.binary"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	})
	t.Run("DownloadFails", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		srv := httptest.NewServer(http.NotFoundHandler()) // what an unreachable release site amounts to
		defer srv.Close()
		_, err := terraform.Find(ctx, terraform.FindOptions{InstallDir: t.TempDir(), Download: true, ReleasesURL: srv.URL})
		if err == nil {
			t.Fatal("got no error")
		}
		for _, want := range []string{"not on PATH", "download failed", "install terraform 1.11.4 on PATH", "terraform.binary"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	})
	t.Run("BadVersion", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, err := terraform.Find(ctx, terraform.FindOptions{InstallDir: t.TempDir(), Download: true, Version: "one"})
		if err == nil || !strings.Contains(err.Error(), "terraform.version") {
			t.Errorf("got %v, want an error naming terraform.version", err)
		}
	})
}

func TestWriteModule(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"old.tf": "# stale", "terraform.tfstate": "{}", terraform.VarsFile: "{}"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := terraform.WriteModule(dir, terraform.AzureModule()); err != nil {
		t.Fatal(err)
	}
	var got []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := []string{terraform.ImportTemplatesFile, terraform.VarsFile, "main.tf", "outputs.tf", "terraform.tfstate", "variables.tf"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("working directory mode: got %v, %v; want 0700", fi.Mode().Perm(), err)
	}
}

// testVars are variables for the test module with VMs whose cloud-init
// files exist in dir.
func testVars(t *testing.T, dir string, names ...string) terraform.Vars {
	t.Helper()
	v := terraform.Vars{
		ClusterID: "k0rdent-test0001", Location: "westus2", Owner: "tester", VMImage: "Debian:debian-12:12-gen2:latest",
		VMPriority: "Regular", SpotMaxPrice: -1, OSDiskSizeGB: 64, VNetPrefix: "10.0.0.0/16", SubnetPrefix: "10.0.1.0/24",
		WireGuardPort: 51820, SSHUser: "k0rdent", SSHPublicKey: "ssh-ed25519 AAAA test", VMs: map[string]terraform.VM{},
	}
	for i, n := range names {
		ci := filepath.Join(dir, n+".yaml")
		if err := os.WriteFile(ci, []byte("#cloud-config\n# PrivateKey = SECRET-"+n+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		role := "controller"
		if strings.Contains(n, "worker") {
			role = "worker"
		}
		v.VMs[n] = terraform.VM{Index: i, Role: role, Size: "Standard_D2s_v5", Zone: "1", WireGuardIP: "192.168.100." + string(rune('2'+i)), CloudInit: ci}
	}
	return v
}

// TestExec_Lifecycle runs the real terraform binary offline against the
// test module: plan, apply, output, a no-op re-plan, drift after a VM is
// deleted behind Terraform's back, and destroy.
func TestExec_Lifecycle(t *testing.T) {
	cliConfig, module := tftest.Mirror(t)
	bin := tftest.Binary(t)
	ctx := context.Background()
	root := t.TempDir()
	t.Chdir(root) // a relative working directory, as with --state-dir state
	work, secrets, cloud := "terraform", filepath.Join(root, "secrets"), filepath.Join(root, "cloud")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := terraform.WriteModule(work, os.DirFS(module)); err != nil {
		t.Fatal(err)
	}
	if _, err := terraform.WriteVars(work, testVars(t, secrets, "k0s-controller-1", "k0s-worker-1")); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	tf, err := terraform.New(terraform.Options{Dir: work, Binary: bin, Output: &log,
		Env: map[string]string{"TF_CLI_CONFIG_FILE": cliConfig, "FAKEVM_DIR": cloud}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tf.Init(ctx); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if changes, err := tf.Plan(ctx); err != nil || !changes {
		t.Fatalf("first plan: got changes=%v, %v; want changes", changes, err)
	}
	if err := tf.Apply(ctx); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	out, err := tf.Output(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantOut := map[string]string{
		"public_ips":     `{"k0s-controller-1":"198.51.100.10","k0s-worker-1":"198.51.100.11"}`,
		"private_ips":    `{"k0s-controller-1":"10.0.1.4","k0s-worker-1":"10.0.1.5"}`,
		"resource_group": "k0rdent-test0001-resgrp",
		"wireguard_port": "51820",
		"vm_details": `{"k0s-controller-1":{"private_ip":"10.0.1.4","public_ip":"198.51.100.10","role":"controller","size":"Standard_D2s_v5","wireguard_ip":"192.168.100.2","zone":"1"},` +
			`"k0s-worker-1":{"private_ip":"10.0.1.5","public_ip":"198.51.100.11","role":"worker","size":"Standard_D2s_v5","wireguard_ip":"192.168.100.3","zone":"1"}}`,
	}
	for k, want := range wantOut {
		if out[k] != want {
			t.Errorf("output %s: got %s, want %s", k, out[k], want)
		}
	}
	if len(out) != len(wantOut) {
		t.Errorf("outputs: got %v, want %d", out, len(wantOut))
	}
	for _, name := range []string{"terraform.tfstate"} {
		fi, err := os.Stat(filepath.Join(work, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: got mode %v, %v; want 0600", name, fi.Mode().Perm(), err)
		}
	}
	if changes, err := tf.Plan(ctx); err != nil || changes {
		t.Errorf("re-plan: got changes=%v, %v; want no changes", changes, err)
	}
	d, err := tf.Drift(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Resources) != 0 || d.Outputs["public_ips"] != wantOut["public_ips"] {
		t.Errorf("drift right after apply: got %+v, want none and the same outputs", d)
	}

	// Delete a VM "in the cloud".
	if err := os.Remove(filepath.Join(cloud, "k0s-worker-1.json")); err != nil {
		t.Fatal(err)
	}
	d, err = tf.Drift(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{`fakevm_vm.vm["k0s-worker-1"] deleted`}; !slices.Equal(d.Resources, want) {
		t.Errorf("drift resources: got %q, want %q", d.Resources, want)
	}
	if want := `{"k0s-controller-1":"198.51.100.10"}`; d.Outputs["public_ips"] != want {
		t.Errorf("refreshed public_ips: got %s, want %s", d.Outputs["public_ips"], want)
	}
	// Drift wrote nothing: the state still has the VM.
	if out, err := tf.Output(ctx); err != nil || out["public_ips"] != wantOut["public_ips"] {
		t.Errorf("outputs after drift check: got %v, %v; want them unchanged", out["public_ips"], err)
	}
	if m, _ := filepath.Glob(filepath.Join(work, "*.tfplan")); len(m) != 0 {
		t.Errorf("plan files left behind: %v", m)
	}

	if err := tf.Destroy(ctx); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if out, err := tf.Output(ctx); err != nil || len(out) != 0 {
		t.Errorf("outputs after destroy: got %v, %v", out, err)
	}
	if left, _ := os.ReadDir(cloud); len(left) != 0 {
		t.Errorf("VMs left after destroy: %v", left)
	}
	if strings.Contains(log.String(), "SECRET-") {
		t.Errorf("terraform's output shows the cloud-init contents:\n%s", log.String())
	}
}

// BenchmarkExec_NoopPlan measures what a re-run costs Terraform when
// nothing changed: one plan of three fake VMs (the provider starts, every
// VM is refreshed, nothing is planned).
func BenchmarkExec_NoopPlan(b *testing.B) {
	cliConfig, module := tftest.Mirror(b)
	bin := tftest.Binary(b)
	ctx := context.Background()
	root := b.TempDir()
	work := filepath.Join(root, "terraform")
	if err := terraform.WriteModule(work, os.DirFS(module)); err != nil {
		b.Fatal(err)
	}
	v := terraform.Vars{ClusterID: "bench", VMPriority: "Regular", WireGuardPort: 1, VMs: map[string]terraform.VM{}}
	for i, n := range []string{"k0s-controller-1", "k0s-worker-1", "k0s-worker-2"} {
		ci := filepath.Join(root, n)
		if err := os.WriteFile(ci, []byte("#cloud-config\n"), 0o600); err != nil {
			b.Fatal(err)
		}
		v.VMs[n] = terraform.VM{Index: i, Role: "worker", Zone: "1", CloudInit: ci}
	}
	if _, err := terraform.WriteVars(work, v); err != nil {
		b.Fatal(err)
	}
	tf, err := terraform.New(terraform.Options{Dir: work, Binary: bin, Env: map[string]string{"TF_CLI_CONFIG_FILE": cliConfig}})
	if err != nil {
		b.Fatal(err)
	}
	if err := tf.Init(ctx); err != nil {
		b.Fatal(err)
	}
	if err := tf.Apply(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if changes, err := tf.Plan(ctx); err != nil || changes {
			b.Fatalf("plan: changes=%v, %v", changes, err)
		}
	}
}

// With an http backend, New writes the backend block and Init passes
// -reconfigure and every setting but the password as -backend-config;
// the password reaches terraform in TF_HTTP_PASSWORD only. Without one,
// the block goes and terraform gets no password. (A recording stand-in
// for terraform: argv and environment are what is asserted here; the
// real binary against the store is phases' TestTerraform_RemoteState.)
func TestExec_HTTPBackend(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "record")
	fake := filepath.Join(dir, "terraform")
	script := "#!/bin/sh\nif [ \"$1\" = version ]; then echo '{\"terraform_version\":\"1.11.4\"}'; exit 0; fi\n" +
		"printf '%s\\n' \"$*\" \"password=${TF_HTTP_PASSWORD:-none}\" >>" + record + "\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	b := &terraform.HTTPBackend{Address: "http://127.0.0.1:4242/terraform.tfstate", Username: "k0rdent", Password: "s3cr3t-0123456789"}
	e, err := terraform.New(terraform.Options{Dir: work, Binary: fake, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	block, err := os.ReadFile(filepath.Join(work, terraform.BackendFile))
	if err != nil || !strings.Contains(string(block), "backend \"http\" {}") {
		t.Fatalf("%s: %q, %v", terraform.BackendFile, block, err)
	}
	if fi, _ := os.Stat(filepath.Join(work, terraform.BackendFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", terraform.BackendFile, fi.Mode().Perm())
	}
	if err := e.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(record)
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "init ") {
		t.Fatalf("recorded %q, want one init", got)
	}
	for _, want := range []string{"-reconfigure", "-backend-config=address=" + b.Address, "-backend-config=lock_address=" + b.Address,
		"-backend-config=unlock_address=" + b.Address, "-backend-config=username=k0rdent"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("init argv %q lacks %s", lines[0], want)
		}
	}
	if strings.Contains(lines[0], b.Password) || lines[1] != "password="+b.Password {
		t.Errorf("argv %q, %q: want the password in TF_HTTP_PASSWORD only", lines[0], lines[1])
	}

	// Back to the local backend: the block goes, no password, no flags.
	os.Remove(record)
	t.Setenv("TF_HTTP_PASSWORD", "inherited")
	e, err = terraform.New(terraform.Options{Dir: work, Binary: fake})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(work, terraform.BackendFile)); !os.IsNotExist(err) {
		t.Errorf("%s left with the local backend: %v", terraform.BackendFile, err)
	}
	if err := e.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(record)
	if strings.Contains(string(got), "-reconfigure") || strings.Contains(string(got), "-backend-config") || !strings.Contains(string(got), "password=none") {
		t.Errorf("local backend init recorded %q", got)
	}
	if _, err := terraform.New(terraform.Options{Dir: work, Binary: fake, Backend: &terraform.HTTPBackend{Address: b.Address}}); err == nil {
		t.Error("an http backend without credentials was accepted")
	}
}
