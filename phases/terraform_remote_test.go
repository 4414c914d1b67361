package phases

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
	tf "github.com/k0rdent/k0rdent-deploy/providers/terraform"
	"github.com/k0rdent/k0rdent-deploy/providers/terraform/tftest"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// remoteTFStore opens a store on a fresh Azurite container and hands
// out what deploy hands the phases: the secrets and work dirs, and
// Terraform's state server, whose passwords it collects.
type remoteTFStore struct {
	store     *state.Store
	backend   *state.BlobBackend
	dirs      Dirs
	mu        sync.Mutex
	passwords []string
}

func newRemoteTFStore(t *testing.T, cfg state.BlobConfig) *remoteTFStore {
	t.Helper()
	b, err := state.NewBlobBackend(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	r := &remoteTFStore{store: state.OpenStore(b), backend: b}
	if r.dirs.Secrets, err = r.store.SecretsDir(); err != nil {
		t.Fatal(err)
	}
	if r.dirs.Terraform, err = r.store.WorkDir(TerraformWorkDir); err != nil {
		t.Fatal(err)
	}
	r.dirs.TerraformState = func(ctx context.Context) (TerraformStateServer, error) {
		srv, err := r.store.ServeTerraformState(ctx)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.passwords = append(r.passwords, srv.Password)
		r.mu.Unlock()
		return srv, nil
	}
	return r
}

// tfStateResources lists the resource addresses of the store's
// Terraform state.
func tfStateResources(t *testing.T, b *state.BlobBackend) []string {
	t.Helper()
	data, _, err := b.ReadTerraformState(context.Background())
	if err != nil {
		t.Fatalf("Terraform's state in the store: %v", err)
	}
	var st struct {
		Resources []struct {
			Type, Name string
			Instances  []struct {
				IndexKey string `json:"index_key"`
			}
		}
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range st.Resources {
		for _, i := range r.Instances {
			out = append(out, r.Type+"."+r.Name+"["+i.IndexKey+"]")
		}
	}
	return out
}

// The terraform node against a remote store, with the real terraform
// binary in a private network namespace: a deployment applied locally
// and pushed with terraform.tfstate in its work dir has that state moved
// into the blob store by its first remote run, which creates nothing
// again; Terraform's state is then saved in the blob store through
// k0rdent's http backend (nothing in the work dir), a second apply
// changes nothing, Verify from another process
// without the store lock reads it (and finds drift), Destroy empties it,
// and the backend's password is nowhere but in terraform's environment.
func TestTerraform_RemoteState(t *testing.T) {
	// Built (or found built) out here: in the namespace there is no route
	// to the module proxy for its dependencies.
	tftest.Mirror(t)
	if !testenv.PrivateNetwork(t) {
		return
	}
	tfYAML, cloud := tftest.UseTestModule(t)
	az := testenv.SharedAzurite(t)
	ctx := context.Background()
	var rnd [4]byte
	rand.Read(rnd[:])
	name := "p" + hex.EncodeToString(rnd[:])
	cc, err := container.NewClientFromConnectionString(az.ConnectionString(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	bcfg := state.BlobConfig{Account: testenv.AzuriteAccount, Container: name, Prefix: "prod",
		ConnectionString: az.ConnectionString(), LeasePeriod: 15 * time.Second}

	cfg := tfTestConfig(t, "metadata:\n  owner: tester\ncluster:\n  workers: {count: 2}\n"+tfYAML)
	var log bytes.Buffer

	// A deployment applied with a local state directory, then moved into
	// the blob store as `state push` of an older k0rdent did it: its work
	// dir (terraform.tfstate included) and its secrets as they were.
	localRoot := t.TempDir()
	localDirs := Dirs{Secrets: filepath.Join(localRoot, "secrets"), Terraform: filepath.Join(localRoot, "terraform")}
	env := tfTestEnv(t, cfg, t.TempDir())
	env.Output = &log
	if err := newTerraform(BuildContext{Config: cfg, Dirs: localDirs}).Run(ctx, env); err != nil {
		t.Fatalf("local Run: %v\n%s", err, log.String())
	}
	vmTimes := map[string]time.Time{}
	for _, vm := range []string{"k0s-controller-1", "k0s-worker-1", "k0s-worker-2"} {
		fi, err := os.Stat(filepath.Join(cloud, vm+".json"))
		if err != nil {
			t.Fatal(err)
		}
		vmTimes[vm] = fi.ModTime()
	}
	r := newRemoteTFStore(t, bcfg)
	for from, to := range map[string]string{localDirs.Terraform: r.dirs.Terraform, localDirs.Secrets: r.dirs.Secrets} {
		if err := os.CopyFS(to, os.DirFS(from)); err != nil {
			t.Fatal(err)
		}
	}
	os.RemoveAll(filepath.Join(r.dirs.Terraform, ".terraform"))
	if err := r.store.SaveWorkDir(TerraformWorkDir); err != nil {
		t.Fatal(err)
	}
	if err := r.store.SaveSecrets(); err != nil {
		t.Fatal(err)
	}

	// The first remote run moves Terraform's state into the store and
	// creates nothing again.
	lock, _, err := r.store.Lock(state.CurrentHolder("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	p := newTerraform(BuildContext{Config: cfg, Dirs: r.dirs})
	log.Reset()
	env = tfTestEnv(t, cfg, t.TempDir())
	env.Output = &log
	if err := p.Run(ctx, env); err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	for vm, mt := range vmTimes {
		if fi, err := os.Stat(filepath.Join(cloud, vm+".json")); err != nil || !fi.ModTime().Equal(mt) {
			t.Errorf("VM %s was created again by the first remote run (%v)", vm, err)
		}
	}
	want := []string{`fakevm_vm.vm[k0s-controller-1]`, `fakevm_vm.vm[k0s-worker-1]`, `fakevm_vm.vm[k0s-worker-2]`}
	if got := tfStateResources(t, r.backend); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("store's Terraform state holds %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(r.dirs.Terraform, "terraform.tfstate")); !os.IsNotExist(err) {
		t.Errorf("terraform.tfstate in the work dir: %v; want none (the state is the store's)", err)
	}
	if b, err := os.ReadFile(filepath.Join(r.dirs.Terraform, tf.BackendFile)); err != nil || !strings.Contains(string(b), `backend "http"`) {
		t.Errorf("%s: %q, %v", tf.BackendFile, b, err)
	}
	if !strings.Contains(log.String(), `Successfully configured the backend "http"`) || !strings.Contains(log.String(), "Apply complete! Resources: 0 added, 0 changed, 0 destroyed") {
		t.Errorf("node log:\n%s", log.String())
	}
	out := env.Outputs()
	if out[tf.OutputPublicIPs] != `{"k0s-controller-1":"198.51.100.10","k0s-worker-1":"198.51.100.11","k0s-worker-2":"198.51.100.12"}` {
		t.Errorf("public_ips = %s", out[tf.OutputPublicIPs])
	}

	// Again: the state comes from the store, nothing changes.
	log.Reset()
	env2 := tfTestEnv(t, cfg, t.TempDir())
	env2.Output = &log
	if err := p.Run(ctx, env2); err != nil {
		t.Fatalf("second Run: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "Apply complete! Resources: 0 added, 0 changed, 0 destroyed") {
		t.Errorf("second apply was not a no-op:\n%s", log.String())
	}
	if err := r.store.SaveWorkDir(TerraformWorkDir); err != nil {
		t.Fatal(err)
	}
	if err := r.store.SaveSecrets(); err != nil {
		t.Fatal(err)
	}

	// Verify as status --check does it: another process's store (its own
	// copy of the work dir, without .terraform/), without the lock.
	other := newRemoteTFStore(t, bcfg)
	pv := newTerraform(BuildContext{Config: cfg, Dirs: other.dirs})
	venv := &workflow.Env{Node: TerraformName, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Output: &log, Recorded: out}
	if err := pv.Verify(ctx, venv); err != nil {
		t.Errorf("Verify from another process: %v\n%s", err, log.String())
	}
	if err := os.Remove(filepath.Join(cloud, "k0s-worker-1.json")); err != nil {
		t.Fatal(err)
	}
	if err := pv.Verify(ctx, venv); err == nil || !strings.Contains(err.Error(), `fakevm_vm.vm["k0s-worker-1"] deleted`) {
		t.Errorf("Verify after a VM was deleted: %v", err)
	}

	// Destroy (under the lock): the VMs and the state's resources go.
	if err := p.Destroy(ctx, env2); err != nil {
		t.Fatalf("Destroy: %v\n%s", err, log.String())
	}
	if left, _ := os.ReadDir(cloud); len(left) != 0 {
		t.Errorf("VMs left after Destroy: %v", left)
	}
	if got := tfStateResources(t, r.backend); len(got) != 0 {
		t.Errorf("store's Terraform state after Destroy: %v", got)
	}

	// The password: only in terraform's environment. Not in the node log,
	// the work dirs (.terraform/ included), the stored state.
	r.mu.Lock()
	passwords := append(r.passwords, other.passwords...)
	r.mu.Unlock()
	if len(passwords) != 5 {
		t.Fatalf("%d state servers started, want 5 (run, run, verify, verify, destroy)", len(passwords))
	}
	stored, _, _ := r.backend.ReadTerraformState(ctx)
	haystacks := map[string][]byte{"node log": log.Bytes(), "stored state": stored}
	for _, dir := range []string{r.dirs.Terraform, other.dirs.Terraform} {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if !strings.Contains(p, "/providers/") {
					haystacks[p], _ = os.ReadFile(p)
				}
			}
			return nil
		})
	}
	if b, ok := haystacks[filepath.Join(r.dirs.Terraform, ".terraform", "terraform.tfstate")]; !ok || !strings.Contains(string(b), "127.0.0.1") {
		t.Errorf(".terraform/terraform.tfstate does not name the backend's address: %s", b)
	}
	for _, pw := range passwords {
		for where, b := range haystacks {
			if bytes.Contains(b, []byte(pw)) {
				t.Errorf("a state server's password is in %s", where)
			}
		}
	}
}
