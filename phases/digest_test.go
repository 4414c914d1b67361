package phases

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

func parseDigestConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(text), "k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func commandsIn(t *testing.T, c *config.Config, dir string) map[string]*Command {
	t.Helper()
	out := map[string]*Command{}
	for _, p := range c.Phases {
		spec := commandSpec(p, dir)
		cmd, err := NewCommand(spec, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		out[p.Name] = cmd
	}
	return out
}

func digestOf(t *testing.T, c *config.Config, d InputsDeclarer) string {
	t.Helper()
	dg, err := Digest(config.Flatten(c), d.Inputs(c))
	if err != nil {
		t.Fatal(err)
	}
	return dg
}

// TestDigest_CommandPhase: a command phase's own digest follows its
// command, env and input files by content, and not its place in the list
// or another phase's settings; Changes names the changed key.
func TestDigest_CommandPhase(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "secret.key")
	if err := os.WriteFile(key, []byte("very-secret-key-material"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "azure:\n  location: westus2\nphases:\n"
	a := "  - name: a\n    command: [sh, -c, 'echo a']\n    env: {X: \"1\"}\n    inputs: [secret.key]\n"
	b := "  - name: b\n    command: [sh, -c, 'echo b']\n"
	c1 := parseDigestConfig(t, base+a+b)
	d1 := digestOf(t, c1, commandsIn(t, c1, dir)["a"])

	moved := parseDigestConfig(t, base+b+a)
	if got := digestOf(t, moved, commandsIn(t, moved, dir)["a"]); got != d1 {
		t.Errorf("moving a in the list changed its digest")
	}
	other := parseDigestConfig(t, base+a+strings.Replace(b, "echo b", "echo B", 1)+"kof:\n  version: 1.2.0\n")
	if got := digestOf(t, other, commandsIn(t, other, dir)["a"]); got != d1 {
		t.Errorf("changing b and kof changed a's digest")
	}
	env := parseDigestConfig(t, base+strings.Replace(a, `X: "1"`, `X: "2"`, 1)+b)
	if got := digestOf(t, env, commandsIn(t, env, dir)["a"]); got == d1 {
		t.Errorf("changing a's env kept its digest")
	}
	if got := Changes(commandsIn(t, env, dir)["a"], NewSnapshot(c1), NewSnapshot(env)); !slices.Equal(got, []string{"phases[0].env.X 1 → 2"}) {
		t.Errorf("Changes = %q, want phases[0].env.X 1 → 2", got)
	}
	if err := os.WriteFile(key, []byte("another-secret-key-material"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := digestOf(t, c1, commandsIn(t, c1, dir)["a"]); got == d1 {
		t.Errorf("changing a's input file kept its digest")
	}
	if strings.Contains(d1, "secret") {
		t.Errorf("digest %q shows the secret", d1)
	}
}

// TestDigest_BuiltinDeclarations: each built-in phase's digest follows the
// keys it declares and no other; FeedsOn maps a key to its readers.
func TestDigest_BuiltinDeclarations(t *testing.T) {
	old := parseDigestConfig(t, "azure:\n  location: westus2\nkof:\n  version: 1.1.0\n")
	cur := parseDigestConfig(t, "azure:\n  location: westus2\nkof:\n  version: 1.2.0\n")
	kof, k0s := &KOF{}, &K0s{}
	if digestOf(t, old, kof) == digestOf(t, cur, kof) {
		t.Error("kof's digest ignores kof.version")
	}
	if digestOf(t, old, k0s) != digestOf(t, cur, k0s) {
		t.Error("k0s's digest follows kof.version")
	}
	if got := Changes(kof, NewSnapshot(old), NewSnapshot(cur)); !slices.Equal(got, []string{"kof.version 1.1.0 → 1.2.0"}) {
		t.Errorf("Changes = %q", got)
	}
	ps, err := Builtin().Build(cur, nil, Dirs{Secrets: t.TempDir(), Terraform: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	g, err := workflow.NewGraph(ps...)
	if err != nil {
		t.Fatal(err)
	}
	feeds := FeedsOn(g, cur, []string{"kof.version", "software.k0s.version", "azure.location", "timeouts.k0s_install"})
	for key, want := range map[string][]string{
		"kof.version":          {"kof"},
		"software.k0s.version": {"k0s"},
		"azure.location":       {"kof", "terraform"},
		"timeouts.k0s_install": nil,
	} {
		got := slices.Sorted(slices.Values(feeds[key]))
		if !slices.Equal(got, want) {
			t.Errorf("FeedsOn %s = %v, want %v", key, got, want)
		}
	}
	own, err := Digests(g, cur)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range g.Names() {
		if own[n] == "" {
			t.Errorf("built-in node %s declares no inputs", n)
		}
	}
}
