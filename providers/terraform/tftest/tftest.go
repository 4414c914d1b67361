// Package tftest sets up real, offline Terraform runs for tests in any
// package: the test provider local.test/k0rdent/fakevm, built from Go source
// (providers/terraform/testdata/fakevm, its own Go module) once and cached,
// served from a filesystem mirror, and the test module
// (providers/terraform/testdata/testmodule) that has the Azure module's
// variables and outputs.
//
//	cliConfig, module := tftest.Mirror(t)
//	tf, err := terraform.New(terraform.Options{Dir: dir, Binary: bin,
//		Env: map[string]string{"TF_CLI_CONFIG_FILE": cliConfig}})
//
// Or, for a test that runs k0rdent (in-process or as a child process):
//
//	tfYAML, cloud := tftest.UseTestModule(t) // sets TF_CLI_CONFIG_FILE and FAKEVM_DIR
//	config := "azure:\n  location: westus2\n" + tfYAML
//
// The provider binary is cached in $XDG_CACHE_HOME/k0rdent-test/ (or
// os.UserCacheDir's equivalent) and rebuilt when a source file is newer.
// Tests skip, saying why, when terraform is not on PATH or go is missing.
// This is a non-test package so that tests of other packages (the phase, the
// CLI end-to-end test) can import it; production code must not.
package tftest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
)

// ProviderVersion is the fake provider's version in the mirror.
const ProviderVersion = "0.1.0"

// ProviderAddress is the fake provider's source address.
const ProviderAddress = "local.test/k0rdent/fakevm"

// sourceDir is providers/terraform/testdata, found from this file's path:
// tests run from the source tree.
func sourceDir(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("tftest: cannot locate the source tree")
	}
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

// Binary returns terraform's path, or skips the test.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("terraform")
	if err != nil {
		testenv.Missing(t, "terraform is not on PATH (install it, or let .ci/run build it): skipping a real terraform run")
	}
	return p
}

// Mirror returns a Terraform CLI config file that installs the fake
// provider from a filesystem mirror and disables checkpoint, and the
// directory of the test module. Copy the module into a working directory
// (terraform.WriteModule(dir, os.DirFS(module))); never run terraform in
// the source tree.
func Mirror(t testing.TB) (cliConfigPath, testModuleDir string) {
	t.Helper()
	Binary(t)
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			testenv.Missing(t, "go is not on PATH: cannot build the fake terraform provider")
		}
	}
	src := sourceDir(t)
	cache, err := cacheDir()
	if err != nil {
		t.Fatalf("tftest: %v", err)
	}
	mirror := filepath.Join(cache, "mirror")
	bin := filepath.Join(mirror, ProviderAddress, ProviderVersion, runtime.GOOS+"_"+runtime.GOARCH,
		"terraform-provider-fakevm_v"+ProviderVersion)
	if err := build(gobin, filepath.Join(src, "fakevm"), bin); err != nil {
		t.Fatalf("tftest: build the fake provider: %v", err)
	}
	cfg := filepath.Join(t.TempDir(), "terraformrc")
	body := fmt.Sprintf("provider_installation {\n  filesystem_mirror {\n    path    = %q\n    include = [\"*/*/*\"]\n  }\n}\ndisable_checkpoint = true\n", mirror)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatalf("tftest: %v", err)
	}
	return cfg, filepath.Join(src, "testmodule")
}

// UseTestModule points every terraform run of this test, and of the
// processes it starts that inherit its environment, at the fake provider:
// it sets TF_CLI_CONFIG_FILE (the mirror) and FAKEVM_DIR (the fake "cloud",
// a new directory, returned) with t.Setenv. configYAML is the k0rdent.yaml
// section that selects the test module; append it to a test config. Tests
// using it cannot run in parallel (t.Setenv); a test whose terraform runs
// only in processes it starts uses TestModuleEnv instead.
func UseTestModule(t *testing.T) (configYAML, cloudDir string) {
	t.Helper()
	configYAML, cloudDir, env := TestModuleEnv(t)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return configYAML, cloudDir
}

// TestModuleEnv is UseTestModule without touching this process's
// environment: env holds the TF_CLI_CONFIG_FILE and FAKEVM_DIR settings
// (KEY=value) to add to the environment of the processes that run
// terraform, so that the test may run in parallel.
func TestModuleEnv(t testing.TB) (configYAML, cloudDir string, env []string) {
	t.Helper()
	cli, module := Mirror(t)
	cloudDir = t.TempDir()
	env = []string{"TF_CLI_CONFIG_FILE=" + cli, "FAKEVM_DIR=" + cloudDir}
	return fmt.Sprintf("terraform:\n  module: %q\n", module), cloudDir, env
}

func cacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		var err error
		if base, err = os.UserCacheDir(); err != nil {
			return "", fmt.Errorf("no cache directory for the fake provider (set XDG_CACHE_HOME): %w", err)
		}
	}
	return filepath.Join(base, "k0rdent-test"), nil
}

// build compiles the provider into bin unless bin is newer than every
// source file. Builds are serialised by a file lock beside bin (parallel
// tests of one process, and other test processes, call it at once) and
// the freshness is checked under the lock: a terraform working directory
// links the mirror's file, so replacing it while another test uses it
// would change the package its lock file recorded.
func build(gobin, srcDir, bin string) error {
	newest := time.Time{}
	for _, n := range []string{"main.go", "go.mod", "go.sum"} {
		fi, err := os.Stat(filepath.Join(srcDir, n))
		if err != nil {
			return err
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(bin+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if fi, err := os.Stat(bin); err == nil && fi.ModTime().After(newest) {
		return nil
	}
	tmp := fmt.Sprintf("%s.tmp%d", bin, os.Getpid())
	cmd := exec.Command(gobin, "build", "-o", tmp, ".")
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("go build in %s: %w\n%s", srcDir, err, out)
	}
	return os.Rename(tmp, bin)
}
