package cli_test

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// fooComponent is a team's own optional component, declared once: the
// whole of what adding --with-foo takes besides the plugin itself.
var fooComponent = phases.Component{
	Name: "foo", Flag: "with-foo", JournalKey: "with_foo",
	Usage: "deploy the team's foo; =false skips it",
}

// fooPhase is the foo node: enabled by the component's rule, it writes
// foo.ran and checks in Verify that it is still there.
type fooPhase struct{ bc phases.BuildContext }

func (fooPhase) Name() string        { return "foo" }
func (fooPhase) DependsOn() []string { return nil }
func (p fooPhase) Enabled() (bool, string) {
	d := fooComponent.Decide(p.bc.Config, p.bc.Flags)
	return d.On, d.Reason
}
func (fooPhase) Run(context.Context, *workflow.Env) error { return os.WriteFile("foo.ran", nil, 0o644) }
func (fooPhase) Verify(context.Context, *workflow.Env) error {
	if _, err := os.Stat("foo.ran"); err != nil {
		return errors.New("foo.ran is missing")
	}
	return nil
}

// TestRegistry_ThirdPartyComponentFlag: a registry that declares one more
// component gets a working --with-foo[=false] flag on run, validate and
// reset, with its help; `phases` names it; the run header journals
// with_foo beside the built-in flags; status --check verifies the foo the
// run built; and the flag enables the foo phase in both directions, the
// config deciding (here: never) when it is not given.
func TestRegistry_ThirdPartyComponentFlag(t *testing.T) {
	e := newEnv(t, baseConfig)
	reg := phases.NewRegistry()
	reg.RegisterComponent(fooComponent)
	reg.RegisterPlugin(phases.Plugin{Name: "foo", EnabledBy: fooComponent.EnabledBy(), Factory: func(bc phases.BuildContext) ([]workflow.Phase, error) {
		return []workflow.Phase{fooPhase{bc}}, nil
	}})
	e.registry = reg

	for _, cmd := range []string{"run", "validate", "reset"} {
		help := e.mustRun(0, cmd, "--help").stdout
		if !regexp.MustCompile(`(?m)^ +--with-foo +.*foo`).MatchString(help) {
			t.Errorf("%s --help lacks --with-foo:\n%s", cmd, help)
		}
		if !strings.Contains(help, "--with-kof") {
			t.Errorf("%s --help lost the built-in --with-kof:\n%s", cmd, help)
		}
	}
	if out := e.mustRun(0, "phases").stdout; !strings.Contains(out, "--with-foo") {
		t.Errorf("phases does not say --with-foo enables foo:\n%s", out)
	}

	r := e.mustRun(0, "run")
	if _, err := os.Stat("foo.ran"); err == nil {
		t.Fatalf("foo ran without --with-foo:\n%s", r)
	}
	if !strings.Contains(r.stdout, "foo skipped: disabled: --with-foo not set") {
		t.Errorf("the run does not report foo skipped with its reason:\n%s", r)
	}
	if on, ok := e.current().Header.Flags["with_foo"]; !ok || on {
		t.Errorf("journalled flags %v, want with_foo: false", e.current().Header.Flags)
	}

	r = e.mustRun(0, "run", "--with-foo")
	if _, err := os.Stat("foo.ran"); err != nil {
		t.Fatalf("foo did not run with --with-foo:\n%s", r)
	}
	rf := e.current()
	if !rf.Header.Flags["with_foo"] || rf.Nodes["foo"].State != workflow.Succeeded {
		t.Errorf("journal: flags %v, foo %s; want with_foo: true, succeeded", rf.Header.Flags, rf.Nodes["foo"].State)
	}
	if _, ok := rf.Header.Flags["with_kof"]; !ok {
		t.Errorf("journalled flags %v lost the built-in with_kof", rf.Header.Flags)
	}

	e.mustRun(0, "status", "--check")
	if err := os.Remove("foo.ran"); err != nil {
		t.Fatal(err)
	}
	if r := e.run("status", "--check"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "foo.ran is missing") {
		t.Errorf("status --check after deleting foo.ran: want non-zero and foo's drift:\n%s", r)
	}

	r = e.mustRun(0, "run", "--with-foo=false")
	if _, err := os.Stat("foo.ran"); err == nil {
		t.Errorf("foo ran with --with-foo=false:\n%s", r)
	}
	if !strings.Contains(r.stdout, "foo skipped: disabled: --with-foo=false given") {
		t.Errorf("the run does not report foo skipped by the flag:\n%s", r)
	}
}

// TestRegistry_RegisterComponentRefusesClash: a component that reuses a
// built-in flag, or whose journal key does not follow its flag, is a
// programming error (panic), like registering a plugin twice.
func TestRegistry_RegisterComponentRefusesClash(t *testing.T) {
	for _, c := range []phases.Component{
		{Name: "kof2", Flag: "with-kof", JournalKey: "with_kof"},
		{Name: "bar", Flag: "with-bar", JournalKey: "bar"},
		{Name: "bar", Flag: "bar", JournalKey: "bar"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RegisterComponent(%+v) did not panic", c)
				}
			}()
			phases.NewRegistry().RegisterComponent(c)
		}()
	}
}
