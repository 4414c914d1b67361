package cli_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// operatorKey is a WireGuard private key: it looks like any public key, so
// only its value gives it away.
const operatorKey = "aGVsbG8tb3BlcmF0b3ItcHJpdmF0ZS1rZXktMDAwMDA="

// leakedAnywhere lists the files under state/, outside secrets/, and the
// outputs that hold the key.
func leakedAnywhere(t *testing.T, r result) []string {
	t.Helper()
	var out []string
	if strings.Contains(r.stdout+r.stderr, operatorKey) {
		out = append(out, "the command's output")
	}
	filepath.WalkDir("state", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.IsDir() && d.Name() == state.SecretsName {
				return filepath.SkipDir
			}
			return nil
		}
		if data, _ := os.ReadFile(path); strings.Contains(string(data), operatorKey) {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// TestRun_SecretValueInAnOutputFailsTheNode: `hub=$(cat …/operator.key)`
// was journalled (no name or shape rule can tell a WireGuard key), and a
// refused output left the node running. Now the node fails with a FAILED
// block naming the output and the file, its dependent is blocked, and the
// key is nowhere outside secrets/.
func TestRun_SecretValueInAnOutputFailsTheNode(t *testing.T) {
	e := newEnv(t, baseConfig+`phases:
  - name: hub
    command: [sh, -c, 'echo "hub=$(cat $K0RDENT_SECRETS_DIR/wireguard/operator.key)" > $K0RDENT_OUTPUT']
  - name: after
    command: ["true"]
    depends_on: [hub]
`)
	if _, err := e.store().WriteSecret("wireguard/operator.key", []byte(operatorKey+"\n")); err != nil {
		t.Fatal(err)
	}
	r := e.mustRun(cli.ExitPhaseFailed, "run")
	want := `FAILED hub (attempt 1): outputs refused: state: refusing to journal secret material: output "hub" holds the content of secrets/wireguard/operator.key`
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "blocked by it: after") {
		t.Errorf("stderr lacks the FAILED block %q:\n%s", want, r)
	}
	rf := e.current()
	if rf.Nodes["hub"].State != workflow.Failed || rf.Nodes["after"].State != workflow.Blocked || rf.Outcome != state.OutcomeFailed {
		t.Errorf("hub %s, after %s, outcome %s; want failed, blocked, failed", rf.Nodes["hub"].State, rf.Nodes["after"].State, rf.Outcome)
	}
	if leaks := leakedAnywhere(t, r); len(leaks) > 0 {
		t.Errorf("the key leaked into %v", leaks)
	}
}

// TestRun_SecretOutputIsNotCopiedIntoReuseRecords: an output journalled
// before its value became a secret (by an older k0rdent, or before the
// file was written) was copied into every later run's reuse record. Now
// the reuse is refused: the node is blocked (not selected) and its value
// is not copied.
func TestRun_SecretOutputIsNotCopiedIntoReuseRecords(t *testing.T) {
	e := newEnv(t, baseConfig+`phases:
  - name: hub
    command: [sh, -c, 'echo "hub=`+operatorKey+`" > $K0RDENT_OUTPUT']
  - name: after
    command: ["true"]
    depends_on: [hub]
`)
	e.mustRun(0, "run") // not a secret yet: journalled
	first := e.current()
	if _, err := e.store().WriteSecret("wireguard/operator.key", []byte(operatorKey+"\n")); err != nil {
		t.Fatal(err)
	}
	r := e.mustRun(cli.ExitPhaseFailed, "run", "--only", "after")
	rf := e.current()
	if rf.Header.RunID == first.Header.RunID {
		t.Fatal("no new run")
	}
	if st := rf.Nodes["hub"]; st.State != workflow.Blocked || !strings.Contains(st.Reason, "recorded outputs refused") {
		t.Errorf("hub = %s (%q), want blocked by the refused reuse", st.State, st.Reason)
	}
	data, err := os.ReadFile(rf.File())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), operatorKey) || strings.Contains(r.stdout+r.stderr, operatorKey) {
		t.Errorf("the key was copied into run %s or printed:\n%s\n%s", rf.Header.RunID, data, r)
	}
}
