package cli_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
)

var update = flag.Bool("update", os.Getenv("K0RDENT_UPDATE_GOLDEN") != "", "rewrite the golden files under testdata/ (or K0RDENT_UPDATE_GOLDEN=1, as make golden sets)")

// testdata is absolute: tests change into temporary project directories.
var testdata = func() string {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		panic(err)
	}
	return dir
}()

// golden compares got with testdata/<name>.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdata, name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with: go test ./cmd/k0rdent/cli -run %s -update)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (-update to accept)\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// env is a project directory (the test's working directory) and how to
// run the CLI in-process in it.
type env struct {
	t          *testing.T
	dir        string
	registry   *phases.Registry
	terminal   bool
	stdin      string
	now        func() time.Time
	runID      func(time.Time) string
	exitCalled int
	heartbeat  time.Duration // Options.Heartbeat; 0: the default
}

// newEnv makes a temporary project, changes into it (so that paths in
// output are the stable relative ones) and writes the config.
func newEnv(t *testing.T, config string) *env {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("NO_COLOR", "")
	// The operator's own directory (providers/wireguard.OperatorDir) is
	// the test's, never the machine's ~/.config.
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, ".config"))
	for _, k := range []string{"K0RDENT_CONFIG", "K0RDENT_STATE_DIR", "K0RDENT_TEST_KILL_AT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	os.Unsetenv("NO_COLOR")
	e := &env{t: t, dir: dir, registry: phases.NewRegistry()}
	if config != "" {
		e.write("k0rdent.yaml", config)
	}
	return e
}

func (e *env) write(name, data string) {
	e.t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\n--- stdout\n" + r.stdout + "--- stderr\n" + r.stderr
}

// run runs `k0rdent args...` in-process.
func (e *env) run(args ...string) result {
	e.t.Helper()
	var out, errb bytes.Buffer
	opts := cli.Options{
		Registry:   e.registry,
		Stdin:      strings.NewReader(e.stdin),
		Stdout:     &out,
		Stderr:     &errb,
		Version:    "v0.0.0-test",
		Now:        e.now,
		NewRunID:   e.runID,
		IsTerminal: func(any) bool { return e.terminal },
		Exit:       func(int) { e.exitCalled++ },
		Heartbeat:  e.heartbeat,
	}
	code := cli.Execute(cli.NewApp(opts), append([]string{"k0rdent"}, args...))
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// mustRun runs and fails the test unless the exit code is want.
func (e *env) mustRun(want int, args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != want {
		e.t.Fatalf("k0rdent %s: want exit %d, got:\n%s", strings.Join(args, " "), want, r)
	}
	return r
}

func (e *env) store() *state.Store { return state.NewStore("state") }

// current loads the run runtime.yaml names as current.
func (e *env) current() *state.RunFile {
	e.t.Helper()
	rt, err := e.store().ReadRuntime()
	if err != nil {
		e.t.Fatal(err)
	}
	rf, err := e.store().Load(rt.CurrentRunID)
	if err != nil {
		e.t.Fatal(err)
	}
	return rf
}

const baseConfig = "azure:\n  location: westus2\n"

// commandConfig is a small graph of command phases: a -> b, a -> c -> d,
// and k enabled by --with-kof. c fails while the file "fail-c" exists.
const commandConfig = baseConfig + `phases:
  - name: a
    description: first
    command: [sh, -c, "echo a ran >> side; echo out=from-a > $K0RDENT_OUTPUT"]
  - name: b
    command: [sh, -c, "echo b got $K0RDENT_INPUT_A_OUT >> side"]
    depends_on: [a]
  - name: c
    command: [sh, -c, "echo c ran >> side; if [ -e fail-c ]; then echo c is broken; exit 3; fi"]
    depends_on: [a]
  - name: d
    command: [sh, -c, "echo d ran >> side"]
    depends_on: [c]
  - name: k
    description: only with KOF
    command: [sh, -c, "echo k ran >> side"]
    when: with_kof
`

// sideEffects returns the lines the command phases appended to ./side.
func sideEffects(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("side")
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}
