package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
)

// The end-to-end tests build the k0rdent binary once and run it as a real
// process against real files: real signals, real kill -9, real locks.

// Set once by TestMain, read only afterwards: binPath is the real k0rdent
// (built-in phases compiled in); bareBinPath is the same CLI over an empty
// registry (testdata/bare), for the lifecycle tests that run command phases.
var binPath, bareBinPath string

func TestMain(m *testing.M) {
	// Built once per source tree and shared with the other packages of the
	// same `go test ./...` (testenv.Binary): not once per test binary. The
	// two build at once (their links are most of it).
	var wg sync.WaitGroup
	var failed atomic.Bool
	for bin, pkg := range map[*string]string{&binPath: ".", &bareBinPath: "./testdata/bare"} {
		wg.Go(func() {
			var err error
			if *bin, err = testenv.Binary(pkg); err != nil {
				fmt.Fprintln(os.Stderr, "build", pkg+":", err)
				failed.Store(true)
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// project is a temporary project directory with a k0rdent.yaml.
type project struct {
	t   *testing.T
	dir string
}

func newProject(t *testing.T, config string) *project {
	t.Helper()
	p := &project{t: t, dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(p.dir, "k0rdent.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *project) path(rel ...string) string {
	return filepath.Join(append([]string{p.dir}, rel...)...)
}

// cmd prepares `k0rdent args...` (the bare binary: command phases only) in
// the project directory, with a clean environment (no NO_COLOR or K0RDENT_*
// leaking in from the caller).
func (p *project) cmd(args ...string) *exec.Cmd {
	return p.cmdWith(bareBinPath, args...)
}

// cmdWith is cmd with another binary, such as binPath.
func (p *project) cmdWith(bin string, args ...string) *exec.Cmd {
	c := exec.Command(bin, args...)
	c.Dir = p.dir
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "K0RDENT_") || strings.HasPrefix(kv, "NO_COLOR=") {
			continue
		}
		c.Env = append(c.Env, kv)
	}
	// The operator's own directory (its WireGuard key: see
	// providers/wireguard.OperatorDir) is the project's, never the
	// machine's ~/.config.
	c.Env = append(c.Env, "XDG_CONFIG_HOME="+p.path(".config"))
	return c
}

// operatorDir is the operator's own directory of a project's k0rdent
// (metadata.name k0rdent): its WireGuard key, its device's files.
func (p *project) operatorDir() string { return p.path(".config", "k0rdent", "k0rdent") }

// result is a finished process.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

func run(t *testing.T, c *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if err != nil {
		code = exitCode(t, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// exitCode is the exit status of a finished process, or 128+signal when a
// signal killed it (as a shell reports it).
func exitCode(t *testing.T, err error) int {
	t.Helper()
	ee, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatalf("wait: %v", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}

func (p *project) run(args ...string) result {
	p.t.Helper()
	return run(p.t, p.cmd(args...))
}

// atOnce runs one subtest of t per name, all at once, each in its own
// goroutine, and returns when all have. Unlike subtests that call
// t.Parallel, they take no -parallel slot beyond t's own: subtests that
// mostly wait (on a lease, a shell) do not queue behind the package's
// other tests and then run last, alone.
func atOnce(t *testing.T, names []string, f func(t *testing.T, i int)) {
	t.Helper()
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { t.Run(name, func(t *testing.T) { f(t, i) }) })
	}
	wg.Wait()
}
