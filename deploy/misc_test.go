package deploy

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// childEnv makes the test binary run one deploy.Run in its working
// directory and exit (the re-exec pattern), for the kill -9 test.
const childEnv = "DEPLOY_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "run" {
		d := &Deployer{Registry: phases.NewRegistry(), Store: state.NewStore("state"), ConfigPath: "k0rdent.yaml"}
		_, err := d.Run(context.Background(), RunOptions{})
		if err != nil {
			os.Exit(code(err))
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestLoad_BadConfig(t *testing.T) {
	for _, tc := range []struct {
		name, cfg, want string
	}{
		{"Invalid", "azure:\n  location: westus2\nk0s:\n  controllers: -1\n", "invalid config"},
		{"Unparsable", "azure: [\n", "k0rdent.yaml"},
		{"Cycle", baseConfig + "phases:\n  - name: p\n    command: [true]\n    depends_on: [q]\n  - name: q\n    command: [true]\n    depends_on: [p]\n", "phase graph"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			_, err := e.run(RunOptions{})
			if code(err) != CodeUsage || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want exit 2 with %q", err, tc.want)
			}
			var ec interface{ ExitCode() int }
			if !errors.As(err, &ec) || ec.ExitCode() != CodeUsage {
				t.Errorf("no ExitCode 2 in %v", err)
			}
		})
	}
	if err := ConfigError(errors.New("plain")); err.Error() != "plain" {
		t.Errorf("ConfigError(plain) = %v", err)
	}
}

func TestRun_MigratesLegacyFirst(t *testing.T) {
	src, err := filepath.Abs("../state/testdata/legacy/v040-azure-children/project")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, commandConfig)
	copyTree(t, src, ".")
	var notices bytes.Buffer
	d := e.deployer()
	d.Notices = &notices
	if _, err := d.Run(context.Background(), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notices.String(), "migrated it first") {
		t.Errorf("notices:\n%s", notices.String())
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A cancelled context ends the run cancelled; a second interrupt (the
// abort function handed to the caller) journals the running nodes
// cancelled and the outcome at once.
func TestRun_CancelAndAbort(t *testing.T) {
	t.Run("Cancel", func(t *testing.T) {
		e := newEnv(t, baseConfig)
		ctx, cancel := context.WithCancel(context.Background())
		e.register(&goPhase{name: "x", run: func(c context.Context, _ *workflow.Env) error { cancel(); <-c.Done(); return c.Err() }})
		res, err := e.deployer().Run(ctx, RunOptions{})
		if err != nil || res.Outcome != state.OutcomeCancelled {
			t.Errorf("cancelled run: %v %+v", err, res)
		}
	})
	t.Run("Abort", func(t *testing.T) {
		e := newEnv(t, baseConfig)
		var abort func(string)
		e.register(&goPhase{name: "x", run: func(context.Context, *workflow.Env) error { abort("interrupted twice"); return nil }})
		res, err := e.deployer().Run(context.Background(), RunOptions{Abort: func(f func(string)) { abort = f }})
		if code(err) != CodeInterrupted || res == nil || !res.Aborted {
			t.Fatalf("aborted run: %v %+v", err, res)
		}
		rf := e.current()
		if rf.Outcome != state.OutcomeCancelled || rf.Nodes["x"].State != workflow.Cancelled {
			t.Errorf("journal after abort: %s, x %s", rf.Outcome, rf.Nodes["x"].State)
		}
	})
	t.Run("AbortReset", func(t *testing.T) {
		e := newEnv(t, baseConfig)
		var abort func(string)
		e.register(&fullPhase{goPhase: goPhase{name: "x"}, destroy: func(context.Context, *workflow.Env) error { abort("twice"); return nil }})
		e.mustRun(RunOptions{})
		res, err := e.deployer().Reset(context.Background(), ResetOptions{Abort: func(f func(string)) { abort = f }, Started: func(Started) {}})
		if code(err) != CodeInterrupted || res == nil || res.Outcome != state.OutcomeCancelled {
			t.Errorf("aborted reset: %v %+v", err, res)
		}
	})
}

func TestRun_KillAtInvalid(t *testing.T) {
	e := newEnv(t, commandConfig)
	t.Setenv(KillAtEnv, "zero")
	if _, err := e.run(RunOptions{}); code(err) != CodeUsage || !strings.Contains(err.Error(), KillAtEnv) {
		t.Errorf("%v", err)
	}
}

// kill -9 right after each of the first durable records: the next
// command sees the unfinished run and resumes it to success.
func TestRun_KilledThenResumed(t *testing.T) {
	for _, at := range []string{"1", "2", "4"} {
		t.Run("At"+at, func(t *testing.T) {
			e := newEnv(t, commandConfig)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=run", KillAtEnv+"="+at)
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != -1 {
				t.Fatalf("child: %v, want killed", err)
			}
			p, err := e.deployer().Plan(RunOptions{})
			if err != nil || p.Resume == "" {
				t.Fatalf("plan after the kill: %v %+v", err, p)
			}
			res := e.mustRun(RunOptions{Resume: true})
			if res.RunID != p.Resume || res.Outcome != state.OutcomeSucceeded {
				t.Errorf("resume: %s %s, want %s succeeded", res.RunID, res.Outcome, p.Resume)
			}
		})
	}
}

func TestPlan_Titles(t *testing.T) {
	e := newEnv(t, commandConfig)
	p, err := e.deployer().Plan(RunOptions{})
	if err != nil || !strings.Contains(p.Title, "new run; every enabled phase runs") {
		t.Errorf("first plan: %v %+v", err, p)
	}
	if _, err := e.deployer().Plan(RunOptions{Resume: true}); code(err) != CodeUsage || !strings.Contains(err.Error(), "no run yet") {
		t.Errorf("plan --resume with no run: %v", err)
	}
	e.mustRun(RunOptions{})
	p, err = e.deployer().Plan(RunOptions{Selection: only("c")})
	if err != nil || !strings.Contains(p.Title, "selected phases") || p.Plan == nil {
		t.Errorf("selection plan: %v %+v", err, p)
	}
	e.write("fail-c", "")
	first, _ := e.run(RunOptions{Selection: only("a", "c")})
	p, err = e.deployer().Plan(RunOptions{Resume: true})
	if err != nil || !strings.Contains(p.Title, "resume run "+first.RunID) || !strings.Contains(p.Title, "--only a,c") {
		t.Errorf("resume plan: %v %+v", err, p)
	}
	// the plan of the resume runs exactly the frontier: c
	for _, n := range p.Plan.Nodes {
		want := n.Name == "c"
		if got := n.Action == workflow.ActionRun; got != want {
			t.Errorf("plan --resume: %s %s", n.Name, n.Action)
		}
	}
	p, err = e.deployer().Plan(RunOptions{Fresh: true})
	if err != nil || !strings.Contains(p.Title, "archived") {
		t.Errorf("fresh plan: %v %+v", err, p)
	}
	p, err = e.deployer().Plan(RunOptions{Selection: only("a", "c", "d")})
	if err != nil || !strings.Contains(p.Title, "(changed)") {
		t.Errorf("changed-selection plan: %v %+v", err, p)
	}
}

func TestNothingToResume(t *testing.T) {
	e := newEnv(t, baseConfig)
	e.register(&fullPhase{goPhase: goPhase{name: "x"}})
	e.mustRun(RunOptions{})
	if _, err := e.run(RunOptions{Resume: true}); !strings.Contains(err.Error(), "succeeded") {
		t.Errorf("after success: %v", err)
	}
	if _, err := e.deployer().Reset(context.Background(), ResetOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.run(RunOptions{Resume: true}); !strings.Contains(err.Error(), "teardown") {
		t.Errorf("after teardown: %v", err)
	}
}

// The Deployer's options are used: binary name in hints, clock, run ids,
// debug log.
func TestDeployer_Options(t *testing.T) {
	e := newEnv(t, commandConfig)
	at := time.Date(2027, 3, 4, 5, 6, 7, 0, time.UTC)
	var logged bytes.Buffer
	d := e.deployer()
	d.Name, d.Now = "kd", func() time.Time { return at }
	d.NewRunID = func(now time.Time) string { return state.NewRunID(now)[:16] + "beef" }
	d.Log = slog.New(slog.NewTextHandler(&logged, nil))
	if _, err := d.Run(context.Background(), RunOptions{Resume: true}); err == nil || !strings.Contains(err.Error(), "kd run") {
		t.Errorf("hint without the binary name: %v", err)
	}
	res, err := d.Run(context.Background(), RunOptions{})
	if err != nil || res.RunID != "20270304-050607-beef" {
		t.Fatalf("run id %v %v", res, err)
	}
	if rf := e.current(); !rf.Header.Created.Equal(at) {
		t.Errorf("created %v, want %v", rf.Header.Created, at)
	}
}

func TestDescribe(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.write("fail-c", "")
	e.run(RunOptions{Selection: only("a", "c")})
	if got := Describe(e.current()); !strings.Contains(got, "failed at c") || !strings.Contains(got, "--only a,c") {
		t.Errorf("failed: %q", got)
	}
	e2 := newEnv(t, baseConfig)
	ctx, cancel := context.WithCancel(context.Background())
	e2.register(&goPhase{name: "x", run: func(c context.Context, _ *workflow.Env) error { cancel(); <-c.Done(); return c.Err() }})
	e2.deployer().Run(ctx, RunOptions{})
	if got := Describe(e2.current()); !strings.Contains(got, "was cancelled") {
		t.Errorf("cancelled: %q", got)
	}
}

func TestReset_TakesOverDeadLock(t *testing.T) {
	e := newEnv(t, baseConfig)
	e.register(&fullPhase{goPhase: goPhase{name: "x"}})
	e.mustRun(RunOptions{})
	e.write("state/lock", "pid: 999999\nhost: gone\nstarted: 2020-01-01T00:00:00Z\n")
	var st Started
	if _, err := e.deployer().Reset(context.Background(), ResetOptions{Started: func(s Started) { st = s }}); err != nil {
		t.Fatal(err)
	}
	if st.Takeover == nil || st.Takeover.PID != 999999 {
		t.Errorf("takeover %+v", st.Takeover)
	}
}

// Without the copy of the config a run started with, a refused resume
// still says what it can.
func TestChangedKeys_NoCopy(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.write("fail-c", "")
	first, _ := e.run(RunOptions{})
	os.Remove(state.NewLocalBackend("state").RunFilePath(first.RunID, runConfigName))
	e.write("k0rdent.yaml", strings.Replace(commandConfig, "westus2", "eastus", 1))
	if _, err := e.run(RunOptions{Resume: true}); err == nil || !strings.Contains(err.Error(), "no readable copy") {
		t.Errorf("%v", err)
	}
}
