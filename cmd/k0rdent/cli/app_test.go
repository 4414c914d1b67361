package cli_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// commandPaths lists every command and subcommand as argument paths.
func commandPaths(prefix []string, cmds []*ucli.Command) [][]string {
	var out [][]string
	for _, c := range cmds {
		if c.Name == "help" {
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
	if !strings.HasPrefix(r.stdout, "k0rdent v0.0.0-test (") {
		t.Errorf("version: %q", r.stdout)
	}
}

var _ = state.OutcomeFailed
