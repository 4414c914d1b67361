package terraform_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCI_EnsureTerraform runs .ci/terraform.sh's ensure_terraform with a
// PATH that has no terraform and a fake go that records its calls, so the
// logic is checked without the 2.5-minute build: the wrapper module has
// the replaces, the binary lands in the cache and on PATH, and a second
// call reuses it.
func TestCI_EnsureTerraform(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script, err := filepath.Abs(filepath.Join("..", "..", ".ci", "terraform.sh"))
	if err != nil {
		t.Fatal(err)
	}
	fakebin, cache := t.TempDir(), t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	fakeGo := `#!/bin/sh
echo "$*" >> "` + calls + `"
case "$1" in
mod) grep -q 'internal/backend/remote-state/s3 => github.com/hashicorp/terraform/internal/backend/remote-state/s3 v0.0.0-' go.mod || exit 3
     grep -q '^require github.com/hashicorp/terraform v1.11.4$' go.mod || exit 4
     grep -q '"github.com/hashicorp/terraform"' tools.go || exit 5 ;;
build) while [ "$1" != -o ]; do shift; done
     printf '#!/bin/sh\necho Terraform v1.11.4-dev\n' > "$2"; chmod +x "$2" ;;
esac
`
	if err := os.WriteFile(filepath.Join(fakebin, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"mktemp", "mkdir", "rm", "mv", "grep", "chmod", "cat"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("no %s", tool)
		}
		if err := os.Symlink(p, filepath.Join(fakebin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	run := func() string {
		t.Helper()
		cmd := exec.Command(bash, "-c", `. "$1" && ensure_terraform && command -v terraform`, "bash", script)
		cmd.Env = []string{"PATH=" + fakebin, "HOME=" + t.TempDir(), "K0RDENT_CI_CACHE=" + cache}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ensure_terraform: %v\n%s", err, out)
		}
		return string(out)
	}
	out := run()
	want := filepath.Join(cache, "bin", "terraform")
	if !strings.HasSuffix(strings.TrimSpace(out), want) || !strings.Contains(out, "Terraform v1.11.4-dev") {
		t.Errorf("first call:\n%s\nwant terraform at %s on PATH", out, want)
	}
	b, _ := os.ReadFile(calls)
	if got := strings.Split(strings.TrimSpace(string(b)), "\n"); len(got) != 2 || got[0] != "mod tidy" || !strings.HasPrefix(got[1], "build ") {
		t.Errorf("go calls: %q, want mod tidy then build", got)
	}
	os.Remove(calls)
	if out := run(); !strings.HasSuffix(strings.TrimSpace(out), want) {
		t.Errorf("second call:\n%s", out)
	}
	if _, err := os.Stat(calls); err == nil {
		t.Error("second call ran go again instead of reusing the cached binary")
	}
}
