package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// commandPaths lists every command and subcommand as argument paths.
func commandPaths(prefix []string, cmds []*ucli.Command) [][]string {
	var out [][]string
	for _, c := range cmds {
		if c.Name == "help" || c.Hidden { // __complete reads --help as a word to complete
			continue
		}
		p := append(append([]string{}, prefix...), c.Name)
		out = append(out, p)
		out = append(out, commandPaths(p, c.Subcommands)...)
	}
	return out
}

func TestHelp_EveryCommandHasAnExample(t *testing.T) {
	e := newEnv(t, "")
	app := cli.NewApp(cli.Options{})
	paths := commandPaths(nil, app.Commands)
	if len(paths) < 9 {
		t.Fatalf("found %d commands, want at least 9: %v", len(paths), paths)
	}
	for _, p := range paths {
		t.Run(strings.Join(p, "_"), func(t *testing.T) {
			r := e.mustRun(0, append(p, "--help")...)
			want := "  k0rdent " + strings.Join(p, " ")
			if !strings.Contains(r.stdout, "Examples:\n") || !strings.Contains(r.stdout, want) {
				t.Errorf("help of %q has no example starting %q:\n%s", strings.Join(p, " "), want, r.stdout)
			}
		})
	}
}

// The usage errors of every command are in TestBadInput (badinput_test.go).

func TestApp_GlobalFlagsBeforeOrAfterCommandAndFromEnv(t *testing.T) {
	e := newEnv(t, "")
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"Default", "", []string{"runs"}, "no runs in state yet"},
		{"Before", "", []string{"--state-dir", "s1", "runs"}, "no runs in s1 yet"},
		{"After", "", []string{"runs", "--state-dir", "s2"}, "no runs in s2 yet"},
		{"Env", "s3", []string{"runs"}, "no runs in s3 yet"},
		{"FlagBeatsEnv", "s3", []string{"runs", "--state-dir", "s4"}, "no runs in s4 yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("K0RDENT_STATE_DIR", tc.env)
			} else {
				os.Unsetenv("K0RDENT_STATE_DIR")
			}
			r := e.mustRun(0, tc.args...)
			if !strings.Contains(r.stdout, tc.want) {
				t.Errorf("got %q, want %q", r.stdout, tc.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"Nil", nil, 0},
		{"Plain", errors.New("x"), 1},
		{"Coded", &cli.ExitError{Code: 3, Err: errors.New("locked")}, 3},
		{"WrappedCoded", fmt.Errorf("ctx: %w", &cli.ExitError{Code: 2, Err: errors.New("bad")}), 2},
		{"Canceled", fmt.Errorf("run: %w", context.Canceled), 130},
		{"Precondition", &workflow.PhaseError{Phase: "vpn", Err: &workflow.PreconditionError{Phase: "vpn", Check: "up", Err: io.EOF}}, 4},
		{"Urfave", ucli.Exit("x", 5), 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cli.ExitCode(tc.err); got != tc.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestInit(t *testing.T) {
	e := newEnv(t, "")
	r := e.mustRun(0, "init")
	if !strings.Contains(r.stdout, "wrote k0rdent.yaml (template minimal)") {
		t.Errorf("init output: %q", r.stdout)
	}
	minimal, err := os.ReadFile("k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r = e.mustRun(cli.ExitUsage, "init", "--template", "production")
	if !strings.Contains(r.stderr, "already exists") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("refusal should name --force:\n%s", r)
	}
	if data, _ := os.ReadFile("k0rdent.yaml"); string(data) != string(minimal) {
		t.Error("init without --force changed the file")
	}
	e.mustRun(0, "init", "--template", "production", "--force")
	if data, _ := os.ReadFile("k0rdent.yaml"); string(data) == string(minimal) {
		t.Error("init --force did not replace the file")
	}
	e.mustRun(cli.ExitUsage, "init", "--template", "nope", "--config", "other.yaml")
	for _, tmpl := range []string{"minimal", "development", "production"} {
		path := "t-" + tmpl + ".yaml"
		e.mustRun(0, "init", "--template", tmpl, "--config", path)
		// Every template gives a config that plans cleanly.
		e.mustRun(0, "run", "--plan", "--config", path, "--state-dir", "plan-"+tmpl)
	}
}

func TestVersion(t *testing.T) {
	e := newEnv(t, "")
	r := e.mustRun(0, "version")
	if !strings.HasPrefix(r.stdout, "k0rdent v0.0.0-test\n") || !strings.Contains(r.stdout, "go:") {
		t.Errorf("version: %q", r.stdout)
	}
	r = e.mustRun(0, "version", "-o", "json")
	var got struct {
		Name, Version, GoVersion string
		Dirty                    *bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, r.stdout)
	}
	for _, key := range []string{`"version"`, `"revision"`, `"dirty"`, `"build_time"`, `"go_version"`} {
		if key == `"revision"` || key == `"build_time"` {
			continue // a test binary has no VCS stamp and no build time
		}
		if !strings.Contains(r.stdout, key) {
			t.Errorf("version -o json lacks %s:\n%s", key, r.stdout)
		}
	}
	if got.Version != "v0.0.0-test" || got.Dirty == nil {
		t.Errorf("version -o json: %+v", got)
	}
}

// TestTypos: an unknown command suggests the nearest one and exits 2, so
// does help for one; flags may follow positional arguments; a one-letter
// unknown flag gets no far-fetched suggestion.
func TestTypos(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		code    int
		want    string
		notWant string
	}{
		{name: "UnknownCommandSuggests", args: []string{"stauts"}, code: cli.ExitUsage, want: `unknown command "stauts": did you mean "status"?`},
		{name: "UnknownCommandFar", args: []string{"deploy"}, code: cli.ExitUsage, want: `unknown command "deploy"`, notWant: "did you mean"},
		{name: "HelpUnknown", args: []string{"help", "stauts"}, code: cli.ExitUsage, want: `did you mean "status"?`},
		{name: "HelpUnknownSub", args: []string{"help", "runs", "shwo"}, code: cli.ExitUsage, want: `did you mean "show"?`},
		{name: "HelpCommand", args: []string{"help", "runs", "show"}, code: 0},
		{name: "ShortFlagNoFarSuggestion", args: []string{"init", "-o", "json"}, code: cli.ExitUsage, want: "flag provided but not defined: -o", notWant: "did you mean"},
		{name: "LongFlagSuggests", args: []string{"runs", "--limt", "3"}, code: cli.ExitUsage, want: "did you mean --limit?"},
		{name: "FlagAfterPositional", args: []string{"runs", "show", "latest", "-o", "json"}, code: 0, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, commandConfig)
			if tt.name == "FlagAfterPositional" {
				e.mustRun(0, "run")
			}
			r := e.run(tt.args...)
			if r.code != tt.code {
				t.Fatalf("k0rdent %s: exit %d, want %d:\n%s", strings.Join(tt.args, " "), r.code, tt.code, r)
			}
			if tt.want != "" && !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, r)
			}
			if tt.notWant != "" && strings.Contains(r.stderr, tt.notWant) {
				t.Errorf("stderr has %q:\n%s", tt.notWant, r)
			}
			if tt.name == "FlagAfterPositional" && !json.Valid([]byte(r.stdout)) {
				t.Errorf("runs show latest -o json: not JSON:\n%s", r.stdout)
			}
			if tt.name == "HelpCommand" && !strings.Contains(r.stdout, "runs show") {
				t.Errorf("help runs show: not the help of runs show:\n%s", r.stdout)
			}
		})
	}
}

// TestStateDir_FollowsConfig: without --state-dir or K0RDENT_STATE_DIR the
// state directory is state/ beside the config file, wherever the command
// runs; both override it; a config whose own state is missing while
// ./state holds its deployment is refused with both ways out.
func TestStateDir_FollowsConfig(t *testing.T) {
	e := newEnv(t, "")
	e.write("dep/k0rdent.yaml", commandConfig)
	e.mustRun(0, "--config", "dep/k0rdent.yaml", "run")
	if _, err := os.Stat(filepath.Join("dep", "state", "runtime.yaml")); err != nil {
		t.Fatalf("state not beside the config: %v", err)
	}
	if _, err := os.Stat("state"); err == nil {
		t.Fatal("a state directory was created in the working directory")
	}
	e.mustRun(0, "--config", "dep/k0rdent.yaml", "run", "--state-dir", "elsewhere")
	if _, err := os.Stat(filepath.Join("elsewhere", "runtime.yaml")); err != nil {
		t.Fatalf("--state-dir: %v", err)
	}
	t.Setenv("K0RDENT_STATE_DIR", "fromenv")
	e.mustRun(0, "--config", "dep/k0rdent.yaml", "status")
	e.mustRun(0, "--config", "dep/k0rdent.yaml", "run")
	if _, err := os.Stat(filepath.Join("fromenv", "runtime.yaml")); err != nil {
		t.Fatalf("K0RDENT_STATE_DIR: %v", err)
	}
	os.Unsetenv("K0RDENT_STATE_DIR")

	// The deployment of other/k0rdent.yaml was made from its directory's
	// parent before the state followed the config: ./state holds it.
	e.write("other/k0rdent.yaml", commandConfig)
	e.mustRun(0, "--config", "other/k0rdent.yaml", "run", "--state-dir", "state")
	before := snapshot(t, "state")
	r := e.mustRun(cli.ExitUsage, "--config", "other/k0rdent.yaml", "run")
	for _, want := range []string{"other/state", "./state holds run", "--state-dir state", "move it to other/state"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r)
		}
	}
	if _, err := os.Stat(filepath.Join("other", "state")); err == nil {
		t.Error("other/state was created")
	}
	if d := diffSnapshots(before, snapshot(t, "state")); len(d) > 0 {
		t.Errorf("./state changed: %v", d)
	}
}

var _ = state.OutcomeFailed

// TestValidate: a good config is valid (exit 0), a bad one exits 2 with
// every problem, and neither touches the state directory.
func TestValidate(t *testing.T) {
	e := newEnv(t, commandConfig)
	r := e.mustRun(0, "validate")
	if !strings.Contains(r.stdout, "k0rdent.yaml: valid (5 phases)") {
		t.Errorf("validate: %s", r)
	}
	e.write("k0rdent.yaml", baseConfig+"cluster:\n  workers:\n    count: 1.5\nnetwork:\n  vnet_prefix: 10.0.0.0/33\n")
	r = e.mustRun(cli.ExitUsage, "validate")
	for _, want := range []string{"k0rdent.yaml:5: cluster.workers.count", "k0rdent.yaml:7: network.vnet_prefix"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("validate lacks %q:\n%s", want, r)
		}
	}
	if i, j := strings.Index(r.stderr, ":5:"), strings.Index(r.stderr, ":7:"); i > j {
		t.Errorf("problems not in file order:\n%s", r.stderr)
	}
	if _, err := os.Stat("state"); err == nil {
		t.Error("validate created the state directory")
	}
}

// TestHelp_App: --help, -h and help list every command, completion and
// validate included.
func TestHelp_App(t *testing.T) {
	e := newEnv(t, "")
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {}} {
		r := e.mustRun(0, args...)
		for _, want := range []string{"completion", "validate", "version", "runs"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("k0rdent %v lacks %q:\n%s", args, want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "__complete") {
			t.Errorf("k0rdent %v shows the hidden __complete:\n%s", args, r.stdout)
		}
	}
}

// TestValidate_EveryProblemAtOnce: a phase-name clash, a bad field, a
// cycle and an unknown depends_on are reported together, in file order
// with their lines, by validate, run --plan and run alike (exit 2, nothing
// written). Before, the clash hid the graph's problems until it was fixed.
func TestValidate_EveryProblemAtOnce(t *testing.T) {
	e := newEnv(t, baseConfig+`phases:
  - name: k0s
    command: ["true"]
  - name: a
    command: ["true"]
    depends_on: [b]
    retries: 99
  - name: b
    command: ["true"]
    depends_on: [a, setup]
`)
	e.registry = phases.Builtin()
	want := []string{
		`k0rdent.yaml:4: phases[0].name: "k0s" clashes with the registered phase "k0s"`,
		`k0rdent.yaml:8: phases[1].depends_on[0]: cycle: a -> b -> a`,
		`k0rdent.yaml:9: phases[1].retries: 99 is out of range`,
		`k0rdent.yaml:12: phases[2].depends_on[1]: unknown phase "setup"`,
	}
	for _, args := range [][]string{{"validate"}, {"run", "--plan"}, {"run", "--yes"}} {
		r := e.mustRun(cli.ExitUsage, args...)
		if !strings.Contains(r.stderr, "invalid config (4 problems)") {
			t.Errorf("%v: want 4 problems:\n%s", args, r)
		}
		last := -1
		for _, w := range want {
			i := strings.Index(r.stderr, w)
			if i < 0 {
				t.Errorf("%v: lacks %q:\n%s", args, w, r)
				continue
			}
			if i < last {
				t.Errorf("%v: %q is out of file order:\n%s", args, w, r)
			}
			last = i
		}
		if _, err := os.Stat("state"); err == nil {
			t.Fatalf("%v created the state directory", args)
		}
	}
}
