package quietssh

import (
	"os"
	"testing"
)

func TestQuiet(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"version"}, true},
		{[]string{"--config", "run", "version"}, true}, // "run" is the flag's value
		{[]string{"--config=x.yaml", "runs", "--limit", "20"}, true},
		{[]string{"status"}, true},
		{[]string{"status", "--check"}, false},
		{[]string{"run"}, false},
		{[]string{"--state-dir", "s", "reset"}, false},
		{[]string{"--", "version"}, false},
		{[]string{"unknown"}, false},
	} {
		if got := quiet(tc.args); got != tc.want {
			t.Errorf("quiet(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

// TestRestore: the test binary's arguments are not a quiet command, so
// init left PATH alone; Restore puts back what a quiet init hid.
func TestRestore(t *testing.T) {
	if Hidden() || os.Getenv("PATH") == "" {
		t.Fatalf("PATH hidden in a test binary (args %q)", os.Args[1:])
	}
	t.Setenv("PATH", "/x")
	saved, hidden = "/bin:/usr/bin", true
	os.Setenv("PATH", "")
	Restore()
	if got := os.Getenv("PATH"); got != "/bin:/usr/bin" || Hidden() {
		t.Errorf("after Restore PATH = %q, hidden %v", got, Hidden())
	}
}
