package main

import (
	"strings"
	"testing"
)

// The real binary carries the built-in phases: `phases` lists them in graph
// order and `run --plan` on the minimal template plans them (offline: the
// plan runs nothing).
func TestRealBinary_PlansTheBuiltinGraph(t *testing.T) {
	t.Parallel() // its own project and processes
	p := newProject(t, "azure:\n  location: westus2\n")
	r := run(t, p.cmdWith(binPath, "phases"))
	if r.code != 0 {
		t.Fatalf("phases: %s", r)
	}
	last := -1
	for _, name := range []string{"wireguard", "terraform"} {
		i := strings.Index(r.stdout, name)
		if i < 0 || i < last {
			t.Fatalf("phases: %q missing or out of graph order:\n%s", name, r.stdout)
		}
		last = i
	}
	r = run(t, p.cmdWith(binPath, "run", "--plan"))
	if r.code != 0 {
		t.Fatalf("run --plan: %s", r)
	}
	for _, want := range []string{"wireguard", "terraform", "critical path"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("run --plan output lacks %q:\n%s", want, r.stdout)
		}
	}
}
