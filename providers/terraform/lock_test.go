package terraform_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/providers/terraform"
	"github.com/k0rdent/k0rdent-deploy/providers/terraform/tftest"
)

// The embedded module's azurerm constraint is the one the code states.
func TestAzureModule_AzurermConstraint(t *testing.T) {
	data, err := fs.ReadFile(terraform.AzureModule(), "main.tf")
	if err != nil {
		t.Fatal(err)
	}
	if want := `version = "` + terraform.AzurermConstraint + `"`; !strings.Contains(string(data), want) {
		t.Errorf("azure/main.tf lacks %s", want)
	}
}

func TestLockedProviders(t *testing.T) {
	dir := t.TempDir()
	if got, err := terraform.LockedProviders(dir); err != nil || len(got) != 0 {
		t.Errorf("no lock file: %v, %v; want an empty map", got, err)
	}
	lock := `# This file is maintained automatically by "terraform init".
# Manual edits may be lost in future updates.

provider "registry.terraform.io/hashicorp/azurerm" {
  version     = "4.81.0"
  constraints = ">= 4.60.0, < 5.0.0"
  hashes = [
    "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "zh:0000000000000000000000000000000000000000000000000000000000000000",
  ]
}
`
	if err := os.WriteFile(filepath.Join(dir, terraform.LockFile), []byte(lock), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := terraform.LockedProviders(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p := got[terraform.AzurermSource]; p.Version != "4.81.0" || p.Constraints != ">= 4.60.0, < 5.0.0" {
		t.Errorf("azurerm = %+v, want 4.81.0 with its constraints", p)
	}
	os.WriteFile(filepath.Join(dir, terraform.LockFile), []byte("provider {"), 0o600)
	if _, err := terraform.LockedProviders(dir); err == nil || !strings.Contains(err.Error(), terraform.LockFile) {
		t.Errorf("broken lock file: %v, want an error naming it", err)
	}
}

// terraform init writes the lock file in the working directory, and it
// stays there, unchanged, across rewrites of the module and later inits:
// later runs of the deployment use the provider build it selected.
func TestLockFile_KeptAcrossInits(t *testing.T) {
	cliConfig, module := tftest.Mirror(t)
	bin := tftest.Binary(t)
	ctx := context.Background()
	work := filepath.Join(t.TempDir(), "terraform")
	init := func() {
		t.Helper()
		if err := terraform.WriteModule(work, os.DirFS(module)); err != nil {
			t.Fatal(err)
		}
		var log strings.Builder
		tf, err := terraform.New(terraform.Options{Dir: work, Binary: bin, Output: &log, Env: map[string]string{"TF_CLI_CONFIG_FILE": cliConfig}})
		if err != nil {
			t.Fatal(err)
		}
		if err := tf.Init(ctx); err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
	}
	init()
	first, err := os.ReadFile(filepath.Join(work, terraform.LockFile))
	if err != nil {
		t.Fatalf("no lock file after init: %v", err)
	}
	got, err := terraform.LockedProviders(work)
	if err != nil {
		t.Fatal(err)
	}
	if p := got[tftest.ProviderAddress]; p.Version != tftest.ProviderVersion {
		t.Errorf("locked %v, want %s %s", got, tftest.ProviderAddress, tftest.ProviderVersion)
	}
	init()
	second, err := os.ReadFile(filepath.Join(work, terraform.LockFile))
	if err != nil || !bytes.Equal(first, second) {
		t.Errorf("lock file after the second init: %v, changed %v; want it kept as it was", err, !bytes.Equal(first, second))
	}
}

// TestLockedProviders_Shapes: every provider block is read; a block
// without a version, with a version that is not a string or with an
// attribute the lock file does not have is an error naming the file;
// other top-level content is left alone (as terraform leaves it).
func TestLockedProviders_Shapes(t *testing.T) {
	tests := []struct {
		name    string
		lock    string
		want    map[string]terraform.LockedProvider
		wantErr string
	}{
		{name: "TwoProviders", lock: "provider \"a/b/c\" {\n  version = \"1.0.0\"\n}\nprovider \"d/e/f\" {\n  version = \"2.0.0\"\n  constraints = \"~> 2.0\"\n}\nother \"x\" {\n  y = 1\n}\n",
			want: map[string]terraform.LockedProvider{"a/b/c": {Version: "1.0.0"}, "d/e/f": {Version: "2.0.0", Constraints: "~> 2.0"}}},
		{name: "NoProvider", lock: "# empty\n", want: map[string]terraform.LockedProvider{}},
		{name: "NoVersion", lock: "provider \"a/b/c\" {\n  constraints = \"1.0\"\n}\n", wantErr: "version"},
		{name: "VersionNotAString", lock: "provider \"a/b/c\" {\n  version = [\"1.0.0\"]\n}\n", wantErr: "version: want a string"},
		{name: "UnknownAttribute", lock: "provider \"a/b/c\" {\n  version = \"1.0.0\"\n  colour = \"blue\"\n}\n", wantErr: "colour"},
		{name: "NoLabel", lock: "provider {\n  version = \"1.0.0\"\n}\n", wantErr: "label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, terraform.LockFile), []byte(tt.lock), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := terraform.LockedProviders(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), terraform.LockFile) {
					t.Errorf("LockedProviders = %v, %v; want an error naming %s and %q", got, err, terraform.LockFile, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LockedProviders = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
