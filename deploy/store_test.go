package deploy

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
)

// copyingBackend is a fake of a remote store over the local state
// directory: SecretsDir and WorkDir are scratch directories apart from the
// store, put back (secrets) or noted (work dirs) by the Save methods, as a
// remote backend's local copies are.
type copyingBackend struct {
	*state.LocalBackend
	scratch string

	mu        sync.Mutex
	savedWork []string
}

func (c *copyingBackend) SecretsDir(context.Context) (string, error) {
	return filepath.Join(c.scratch, "secrets"), nil
}

func (c *copyingBackend) SaveSecrets(ctx context.Context) error {
	dir := filepath.Join(c.scratch, "secrets")
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		return c.PutSecret(ctx, filepath.ToSlash(rel), data)
	})
}

func (c *copyingBackend) WorkDir(ctx context.Context, name string) (string, error) {
	if _, err := c.LocalBackend.WorkDir(ctx, name); err != nil {
		return "", err
	}
	return filepath.Join(c.scratch, "work", name), nil
}

func (c *copyingBackend) SaveWorkDir(_ context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.savedWork = append(c.savedWork, name)
	return nil
}

// TestRun_DirsComeFromTheStore: the phases get their directories from the
// store's backend, and what they write there is put back through it: a
// secret a node writes is kept before its success is journalled, and the
// work dirs are saved after the run.
func TestRun_DirsComeFromTheStore(t *testing.T) {
	e := newEnv(t, baseConfig+`phases:
  - name: a
    command: [sh, -c, "mkdir -p $K0RDENT_SECRETS_DIR/app && echo s3cr3t-value-0123 > $K0RDENT_SECRETS_DIR/app/token"]
`)
	cb := &copyingBackend{LocalBackend: state.NewLocalBackend("state"), scratch: t.TempDir()}
	d := e.deployer()
	d.Store = state.OpenStore(cb)
	lg, err := d.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := phases.Dirs{Secrets: filepath.Join(cb.scratch, "secrets"), Terraform: filepath.Join(cb.scratch, "work", "terraform"), K0s: filepath.Join(cb.scratch, "work", "k0s")}
	if lg.Dirs.Secrets != want.Secrets || lg.Dirs.Terraform != want.Terraform || lg.Dirs.K0s != want.K0s {
		t.Errorf("Dirs = %+v, want %+v", lg.Dirs, want)
	}
	res, err := d.Run(context.Background(), RunOptions{})
	if err != nil || res.Outcome != state.OutcomeSucceeded {
		t.Fatalf("run: %v (%v)", err, res)
	}
	if _, err := os.Stat(filepath.Join(cb.scratch, "secrets", "app", "token")); err != nil {
		t.Errorf("node a did not write into the secrets directory the store handed out: %v", err)
	}
	if got, err := cb.GetSecret(context.Background(), "app/token"); err != nil || string(got) != "s3cr3t-value-0123\n" {
		t.Errorf("the secret node a wrote, in the store: %q, %v", got, err)
	}
	if !slices.Contains(cb.savedWork, phases.TerraformWorkDir) || !slices.Contains(cb.savedWork, phases.K0sWorkDir) {
		t.Errorf("work dirs saved: %v, want terraform and k0s", cb.savedWork)
	}
	for _, name := range []string{"terraform", "k0s"} {
		if _, err := os.Stat(filepath.Join("state", name)); err == nil {
			t.Errorf("state/%s exists: the phases used the store's directory", name)
		}
	}
}
