package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/phases"
)

func TestFixOf(t *testing.T) {
	tests := []struct {
		name, msg, want string
	}{
		{"Parenthesised", "read config x.yaml: no such file (create one with `k0rdent init`, or point --config at an existing file)",
			"create one with `k0rdent init`, or point --config at an existing file"},
		{"ParenthesisedReason", "-o json needs --plan: a run prints text (add --plan to print the plan as json)", "add --plan to print the plan as json"},
		{"ParenthesesThatAreNoFix", "-o json needs --plan (a run prints text)", ""},
		{"FixInsideTheParentheses", "read config x: larger than 4 MiB (a k0rdent.yaml is a few KiB: point --config at the deployment config)",
			"point --config at the deployment config"},
		{"Clauses", "reset destroys the deployment; see what with: k0rdent reset --plan; pass --yes to confirm",
			"see what with: k0rdent reset --plan; pass --yes to confirm"},
		{"PickOne", "--resume and --fresh exclude each other; pick one", "pick one"},
		{"FirstClauseIsNoFix", "wait: nothing", ""},
		{"None", "interrupted by interrupt", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fixOf(tc.msg); got != tc.want {
				t.Errorf("fixOf(%q) = %q, want %q", tc.msg, got, tc.want)
			}
		})
	}
}

func TestWantsJSON(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want bool
	}{
		{"Short", []string{"k0rdent", "status", "-o", "json"}, true},
		{"Long", []string{"k0rdent", "status", "--output", "JSON"}, true},
		{"Equals", []string{"k0rdent", "status", "--output=json"}, true},
		{"ShortEquals", []string{"k0rdent", "status", "-o=json"}, true},
		{"LastWins", []string{"k0rdent", "run", "--plan", "-o", "json", "-o", "dot"}, false},
		{"AfterDoubleDash", []string{"k0rdent", "runs", "show", "--", "-o", "json"}, false},
		{"Text", []string{"k0rdent", "status"}, false},
		{"DanglingFlag", []string{"k0rdent", "status", "-o"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := wantsJSON(tc.args); got != tc.want {
				t.Errorf("wantsJSON(%q) = %v, want %v", tc.args, got, tc.want)
			}
		})
	}
}

func TestWriteJSONObject(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"Empty", `{}`, "{\n  \"schema\": \"k0rdent/v1\"\n}\n"},
		{"Indented", "{\n  \"a\": [1, 2]\n}\n", "{\n  \"schema\": \"k0rdent/v1\",\n  \"a\": [\n    1,\n    2\n  ]\n}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeJSONObject(&b, []byte(tc.in)); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got %q, want %q", b.String(), tc.want)
			}
		})
	}
	if err := writeJSONObject(&bytes.Buffer{}, []byte(`[1]`)); err == nil {
		t.Errorf("an array is not refused")
	}
}

func TestCancellingNote(t *testing.T) {
	tests := []struct {
		name    string
		sig     os.Signal
		running int
		want    string
	}{
		{"Two", os.Interrupt, 2, "cancelling: waiting up to 10s for 2 running phases; press Ctrl-C again to stop at once"},
		{"One", os.Interrupt, 1, "cancelling: waiting up to 10s for 1 running phase; press Ctrl-C again to stop at once"},
		{"None", os.Interrupt, 0, "cancelling (interrupt): no phase is running, starting no more; press Ctrl-C again to stop at once"},
		{"Term", syscall.SIGTERM, 1, "cancelling: waiting up to 10s for 1 running phase; send terminated again to stop at once"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cancellingNote(tc.sig, tc.running, 10*time.Second); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestApp_CommandLine(t *testing.T) {
	reg := phases.Builtin()
	a := &app{Options: Options{Name: "k0rdent", Registry: reg}}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "my dir", "k0rdent.yaml")
	tests := []struct {
		name string
		g    globalOptions
		o    runOptions
		want string
	}{
		{"StateBesideTheConfig", globalOptions{ConfigPath: cfg, StateDir: filepath.Join(dir, "my dir", "state")}, runOptions{Parallelism: 4},
			"k0rdent -c '" + cfg + "' run --resume"},
		{"StateElsewhereAndFlags", globalOptions{ConfigPath: cfg, StateDir: "/srv/state"},
			runOptions{Parallelism: 2, FailFast: true, Components: phases.RunFlags{"with_kof": true, "with_azure_children": false}},
			"k0rdent -c '" + cfg + "' --state-dir /srv/state run --with-kof --with-azure-children=false --fail-fast --parallelism=2 --resume"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.globalOptions = tc.g
			if got := a.resumeCommand(tc.o); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	if got, want := shellQuote("it's"), `'it'\''s'`; got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}
