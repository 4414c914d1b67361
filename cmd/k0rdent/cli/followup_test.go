package cli_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TestRun_ConfigErrorPrintsEveryJoinedError: Registry.Build joins the
// config problems of one plugin with another plugin's own error; both are
// printed.
func TestRun_ConfigErrorPrintsEveryJoinedError(t *testing.T) {
	e := newEnv(t, baseConfig)
	e.registry = phases.NewRegistry()
	e.registry.RegisterPlugin(phases.Plugin{Name: "alpha", Description: "config problems",
		Factory: func(phases.BuildContext) ([]workflow.Phase, error) {
			return nil, &config.Error{Problems: []config.Problem{
				{File: "k0rdent.yaml", Line: 2, Path: "alpha.x", Msg: "first problem"},
				{File: "k0rdent.yaml", Line: 3, Path: "alpha.y", Msg: "second problem"},
			}}
		}})
	e.registry.RegisterPlugin(phases.Plugin{Name: "beta", Description: "its own error",
		Factory: func(phases.BuildContext) ([]workflow.Phase, error) {
			return nil, errors.New("cannot read the beta template")
		}})
	r := e.mustRun(cli.ExitUsage, "run")
	for _, want := range []string{"invalid config (3 problems)", "alpha.x: first problem", "alpha.y: second problem",
		"phase plugin beta: cannot read the beta template"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// TestStatus_CheckDriftAfterSuccessSaysRun: after a succeeded run the
// repair is a new run; run --resume says there is nothing to resume.
func TestStatus_CheckDriftAfterSuccessSaysRun(t *testing.T) {
	e := newEnv(t, baseConfig)
	e.registry = gateRegistry()
	e.write("gate.open", "")
	e.mustRun(0, "run")
	os.Remove("gate.built")
	r := e.mustRun(cli.ExitPhaseFailed, "status", "--check")
	if !strings.Contains(r.stderr, "repair with: k0rdent run (") || strings.Contains(r.stderr, "--resume") {
		t.Errorf("drift after a succeeded run should say k0rdent run, not --resume:\n%s", r.stderr)
	}
	id := e.current().Header.RunID
	r = e.mustRun(cli.ExitUsage, "run", "--resume")
	if want := "nothing to resume: run " + id + " succeeded; to converge again use: k0rdent run"; !strings.Contains(r.stderr, want) {
		t.Errorf("run --resume after success: want %q in:\n%s", want, r.stderr)
	}
	e.mustRun(0, "run")
	if _, err := os.Stat("gate.built"); err != nil {
		t.Errorf("k0rdent run did not repair the drift: %v", err)
	}
	e.mustRun(0, "status", "--check")
}

// TestRun_StoreRecordsFollowTheClock: the header and the outcome record
// carry Options.Now, so goldens can pin them.
func TestRun_StoreRecordsFollowTheClock(t *testing.T) {
	e := newEnv(t, commandConfig)
	fixed := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	e.now = func() time.Time { return fixed }
	e.mustRun(0, "run")
	rf := e.current()
	if !rf.Header.Created.Equal(fixed) {
		t.Errorf("header created %v, want %v", rf.Header.Created, fixed)
	}
	last := rf.Records[len(rf.Records)-1]
	if last.Kind != state.KindOutcome || !last.Time.Equal(fixed) {
		t.Errorf("last record %s at %v, want the outcome at %v", last.Kind, last.Time, fixed)
	}
}

// TestRunsShow_CriticalPathFromTheRunFileAlone: the header's edges are
// enough; the config may be gone or broken.
func TestRunsShow_CriticalPathFromTheRunFileAlone(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.write("fail-c", "")
	e.mustRun(cli.ExitPhaseFailed, "run")
	rf := e.current()
	if want := []string{"c"}; !reflect.DeepEqual(rf.Header.Deps["d"], want) {
		t.Errorf("header deps of d = %v, want %v (all: %v)", rf.Header.Deps["d"], want, rf.Header.Deps)
	}
	e.write("k0rdent.yaml", "not: [a, valid config\n")
	r := e.mustRun(0, "runs", "show", "latest")
	if !regexp.MustCompile(`critical path: a -> (b|c) `).MatchString(r.stdout) {
		t.Errorf("runs show without a config has no critical path:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "blocked by it: d") {
		t.Errorf("runs show without a config lacks what c blocked:\n%s", r.stdout)
	}
}

// fact is a Go phase that outputs fixed facts the runtime projection
// reads, builds a marker file and removes it on Destroy.
type fact struct {
	name string
	deps []string
	out  map[string]string
}

func (f fact) Name() string        { return f.name }
func (f fact) DependsOn() []string { return f.deps }
func (f fact) Run(ctx context.Context, env *workflow.Env) error {
	for k, v := range f.out {
		env.SetOutput(k, v)
	}
	return os.WriteFile(f.name+".built", nil, 0o644)
}
func (f fact) Destroy(ctx context.Context, env *workflow.Env) error {
	return os.Remove(f.name + ".built")
}

var _ workflow.Destroyer = fact{}

func factRegistry() *phases.Registry {
	reg := phases.NewRegistry()
	for _, f := range []fact{
		{name: "wireguard", out: map[string]string{"port": "51820", "network": "10.8.0.0/24",
			"peers": `[{"name":"hub","address":"10.8.0.1","public_key":"aGVsbG8taHViLXB1YmxpYy1rZXktMDAwMDAwMDAwMDA="}]`}},
		{name: "terraform", deps: []string{"wireguard"}, out: map[string]string{"resource_group": "rg-test", "private_ips": `["10.0.0.4"]`}},
		{name: "vpn", deps: []string{"terraform"}, out: map[string]string{"status": "connected"}},
		{name: "k0s", deps: []string{"vpn"}, out: map[string]string{"kubeconfig": "/state/secrets/kubeconfig"}},
	} {
		reg.RegisterPlugin(phases.Plugin{Name: f.name, Description: "test fact " + f.name,
			Factory: func(phases.BuildContext) ([]workflow.Phase, error) { return []workflow.Phase{f}, nil }})
	}
	return reg
}

// TestReset_JournalsATeardown: run, reset; the teardown is a run file,
// runtime.yaml no longer has the destroyed facts and rebuilds to the same
// file, and runs lists both.
func TestReset_JournalsATeardown(t *testing.T) {
	e := newEnv(t, baseConfig)
	e.registry = factRegistry()
	e.mustRun(0, "run")
	deployed := e.current().Header.RunID
	rt, err := e.store().ReadRuntime()
	if err != nil || rt.WireGuard == nil || rt.Kubeconfig == "" || rt.Terraform["private_ips"] == "" || rt.VPN == nil {
		t.Fatalf("runtime after run: %+v %v", rt, err)
	}
	r := e.mustRun(0, "reset", "--yes")
	for _, n := range []string{"wireguard", "terraform", "vpn", "k0s"} {
		if _, err := os.Stat(n + ".built"); !os.IsNotExist(err) {
			t.Errorf("%s not destroyed (%v)\n%s", n, err, r)
		}
	}
	td := e.current()
	if !td.Header.Teardown || td.Outcome != state.OutcomeSucceeded || td.Header.RunID == deployed {
		t.Fatalf("current run after reset: teardown %v, outcome %s, id %s", td.Header.Teardown, td.Outcome, td.Header.RunID)
	}
	live, err := e.store().ReadRuntime()
	if err != nil {
		t.Fatal(err)
	}
	if live.WireGuard != nil || live.Terraform != nil || live.Kubeconfig != "" || live.VPN == nil || live.VPN.Status != state.VPNDisconnected {
		t.Errorf("runtime after reset keeps destroyed facts: %+v (vpn %+v)", live, live.VPN)
	}
	if live.LastSuccessfulRun != deployed {
		t.Errorf("last successful run %s, want the deployment %s", live.LastSuccessfulRun, deployed)
	}
	os.Remove(e.store().LocalBackend().RuntimePath())
	rebuilt, err := e.store().RebuildRuntime()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(live, rebuilt) {
		t.Errorf("rebuilt runtime differs\nlive:    %+v\nrebuilt: %+v", live, rebuilt)
	}
	r = e.mustRun(0, "runs")
	if !regexp.MustCompile(`(?m)^`+td.Header.RunID+`\s.*succeeded \(teardown\)`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^`+deployed+`\s.*succeeded\s`).MatchString(r.stdout) {
		t.Errorf("runs does not list the teardown and the deployment:\n%s", r.stdout)
	}
	// A teardown is not resumed; the next run deploys afresh.
	r = e.mustRun(0, "run")
	if _, err := os.Stat("k0s.built"); err != nil || e.current().Header.Teardown {
		t.Errorf("run after reset did not deploy again: %v\n%s", err, r)
	}
}
