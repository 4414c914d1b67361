package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheck: one pass gives the decoder's, Parse's and the run flags'
// problems together, in line order, each once, and keeps the config so
// that its phase graph can still be checked; an unreadable file gives no
// config.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k0rdent.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`azure:
  location: westus2
cluster:
  workers:
    count: 1.5
kof:
  regional:
    domain: kof.acme.io
    admin_email: ops@acme.io
phases:
  - name: a
    command: ["true"]
    retries: 99
`)
	cfg, _, err := Check(path, RunFlags{WithKOF: Bool(true)})
	var ce *Error
	if cfg == nil || !errors.As(err, &ce) {
		t.Fatalf("Check = %v, %v; want the config and an *Error", cfg, err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.Path)
	}
	// workers.count from the decoder, kof.regional only with --with-kof,
	// phases[0].retries from Parse's validation: each once, by line.
	if want := "cluster.workers.count kof.regional phases[0].retries"; strings.Join(got, " ") != want {
		t.Errorf("problems at %q, want %q:\n%v", got, want, err)
	}
	if len(cfg.Phases) != 1 || cfg.Phases[0].Name != "a" {
		t.Errorf("the config was not kept: %+v", cfg.Phases)
	}
	if c, err := Parse([]byte("cluster:\n  workers:\n    count: 1.5\n"), "x.yaml"); c != nil || err == nil {
		t.Errorf("Parse keeps its contract (no config on error): %v, %v", c, err)
	}

	write("azure: [\n")
	if cfg, _, err := Check(path, RunFlags{}); cfg != nil || err == nil {
		t.Errorf("unreadable: %v, %v; want no config and the error", cfg, err)
	}
}
