package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

const baseConfig = "azure:\n  location: westus2\n"

// commandConfig: a -> b, a -> c -> d as command phases; c fails while
// ./fail-c exists; each appends "<name> ran" to ./side.
const commandConfig = baseConfig + `phases:
  - name: a
    command: [sh, -c, "echo a ran >> side; echo out=from-a > $K0RDENT_OUTPUT"]
  - name: b
    command: [sh, -c, "echo b ran >> side"]
    depends_on: [a]
  - name: c
    command: [sh, -c, "echo c ran >> side; if [ -e fail-c ]; then exit 3; fi"]
    depends_on: [a]
  - name: d
    command: [sh, -c, "echo d ran >> side"]
    depends_on: [c]
`

// env is a project directory (the test's working directory) with a
// k0rdent.yaml and a state directory "state".
type env struct {
	t   *testing.T
	reg *phases.Registry
	n   int // run ids handed out
	mu  sync.Mutex
}

func newEnv(t *testing.T, cfg string) *env {
	t.Helper()
	t.Chdir(t.TempDir())
	os.Unsetenv(KillAtEnv)
	e := &env{t: t, reg: phases.NewRegistry()}
	e.write("k0rdent.yaml", cfg)
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

// deployer is a fresh Deployer (as each command line makes one).
func (e *env) deployer() *Deployer {
	return &Deployer{Registry: e.reg, Store: state.NewStore("state"), ConfigPath: "k0rdent.yaml", Version: "test", Command: "deploy.test"}
}

func (e *env) run(o RunOptions) (*RunResult, error) {
	e.t.Helper()
	return e.deployer().Run(context.Background(), o)
}

// mustRun runs and fails the test on an error.
func (e *env) mustRun(o RunOptions) *RunResult {
	e.t.Helper()
	res, err := e.run(o)
	if err != nil {
		e.t.Fatalf("run %+v: %v", o, err)
	}
	return res
}

// sideEffects are the lines the command phases appended to ./side.
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

func resetSide(t *testing.T) {
	t.Helper()
	if err := os.Remove("side"); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// current is the current run file as the run files say.
func (e *env) current() *state.RunFile {
	e.t.Helper()
	s := state.NewStore("state")
	rt, err := s.Current()
	if err != nil {
		e.t.Fatal(err)
	}
	rf, err := s.Load(rt.CurrentRunID)
	if err != nil {
		e.t.Fatal(err)
	}
	return rf
}

// code is the exit code an error carries (0 for nil, 1 without one).
func code(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodePhaseFailed
}

// only is a selection of --only names.
func only(names ...string) Selection { return Selection{Only: names, OnlyGiven: true} }

// goPhase is a Go phase with optional behaviour; see the capability
// wrappers below.
type goPhase struct {
	name string
	deps []string
	run  func(ctx context.Context, env *workflow.Env) error
}

func (p *goPhase) Name() string        { return p.name }
func (p *goPhase) DependsOn() []string { return p.deps }
func (p *goPhase) Run(ctx context.Context, env *workflow.Env) error {
	if p.run == nil {
		return nil
	}
	return p.run(ctx, env)
}

// fullPhase verifies and destroys through its function fields, with a
// timeout policy.
type fullPhase struct {
	goPhase
	verify  func(ctx context.Context, env *workflow.Env) error
	destroy func(ctx context.Context, env *workflow.Env) error
	timeout time.Duration
}

var (
	_ workflow.Verifier  = (*fullPhase)(nil)
	_ workflow.Destroyer = (*fullPhase)(nil)
	_ workflow.Policer   = (*fullPhase)(nil)
)

func (p *fullPhase) Verify(ctx context.Context, env *workflow.Env) error {
	if p.verify == nil {
		return nil
	}
	return p.verify(ctx, env)
}

func (p *fullPhase) Destroy(ctx context.Context, env *workflow.Env) error {
	if p.destroy == nil {
		return nil
	}
	return p.destroy(ctx, env)
}

func (p *fullPhase) Policy() workflow.Policy { return workflow.Policy{Timeout: p.timeout} }

// register adds phases, each as its own plugin.
func (e *env) register(ps ...workflow.Phase) {
	for _, p := range ps {
		p := p
		e.reg.Register(p.Name(), func(phases.BuildContext) ([]workflow.Phase, error) { return []workflow.Phase{p}, nil })
	}
}

// appendSide appends line to ./side (what a Go phase did).
func appendSide(line string) error {
	f, err := os.OpenFile("side", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(line + "\n")
	return err
}
