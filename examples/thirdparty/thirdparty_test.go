package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/examples/thirdparty/hello"
	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
)

// TestBinary_RunsHelloWithCommandPhase builds this example into a real
// binary and drives it like an operator: the third-party Go phase runs in
// the graph, its output reaches a config command phase as an input, and its
// Verify reports drift in `status --check`. (The CLI's tests check that
// `phases` and `run --plan` list it.)
func TestBinary_RunsHelloWithCommandPhase(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		testenv.Missing(t, "go is not in PATH: cannot build the example binary")
	}
	// Shared with cmd/k0rdent's tests of the same binary (testenv.Binary).
	bin, err := testenv.Binary(".")
	if err != nil {
		t.Fatalf("go build: %v", err)
	}

	project := t.TempDir()
	config := `metadata:
  name: demo
azure:
  location: westus2
phases:
  - name: consume-hello
    description: read what hello wrote, through its output
    command: [sh, -c, 'cp "$K0RDENT_INPUT_HELLO_PATH" seen.txt']
    depends_on: [hello]
`
	if err := os.WriteFile(filepath.Join(project, "k0rdent.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	k0rdent := func(args ...string) (code int, output string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = project
		cmd.Env = append(os.Environ(), "HELLO_DIR="+project, "NO_COLOR=1", "K0RDENT_CONFIG=", "K0RDENT_STATE_DIR=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return exitErr.ExitCode(), out.String()
		}
		if err != nil {
			t.Fatalf("k0rdent-hello %s: %v", strings.Join(args, " "), err)
		}
		return 0, out.String()
	}

	// --only: the binary carries the built-in phases too (Terraform, the VPN),
	// which need Azure or the namespace testbed; this test is about hello.
	only := "--only=hello,consume-hello"
	if code, out := k0rdent("run", only); code != 0 {
		t.Fatalf("run: exit %d, want 0:\n%s", code, out)
	}
	want := hello.Greeting("demo")
	for _, name := range []string{hello.FileName, "seen.txt"} {
		got, err := os.ReadFile(filepath.Join(project, name))
		if err != nil {
			t.Fatalf("after run: %v", err)
		}
		if string(got) != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	if code, out := k0rdent("status", "--check"); code != 0 {
		t.Errorf("status --check right after the run: exit %d, want 0:\n%s", code, out)
	}
	if err := os.Remove(filepath.Join(project, hello.FileName)); err != nil {
		t.Fatal(err)
	}
	code, out := k0rdent("status", "--check")
	if code == 0 || !strings.Contains(out, hello.FileName+" is missing") {
		t.Errorf("status --check after deleting %s: exit %d, want non-zero and the drift:\n%s", hello.FileName, code, out)
	}

	// A new run writes it again (phases are idempotent).
	if code, out := k0rdent("run", only); code != 0 {
		t.Fatalf("second run: exit %d, want 0:\n%s", code, out)
	}
	if got, err := os.ReadFile(filepath.Join(project, hello.FileName)); err != nil || string(got) != want {
		t.Errorf("after the second run %s = %q, %v; want %q", hello.FileName, got, err, want)
	}
}
