package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealBinary_StartUpRunsNoSSH: rig's sshconfig probes `ssh -V` and
// `ssh -Q …` when it initialises. A fake ssh first on PATH logs every
// call: commands that never use SSH start without running it, and `run`
// still gets the probe (so what sshconfig learns there is unchanged), and
// the commands see the PATH they were started with.
func TestRealBinary_StartUpRunsNoSSH(t *testing.T) {
	t.Parallel() // its own project and processes
	p := newProject(t, "azure:\n  location: westus2\n")
	bin := t.TempDir()
	logf := filepath.Join(t.TempDir(), "ssh-calls")
	fake := "#!/bin/sh\necho \"$*\" >> " + logf + "\n"
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	calls := func() string {
		data, _ := os.ReadFile(logf)
		os.Remove(logf)
		return string(data)
	}
	path := bin + string(os.PathListSeparator) + os.Getenv("PATH")
	for _, tc := range []struct {
		name    string
		args    []string
		wantSSH bool
	}{
		{"Version", []string{"version"}, false},
		{"Runs", []string{"runs"}, false},
		{"Status", []string{"--state-dir", "state", "status"}, false},
		{"Phases", []string{"phases"}, false},
		{"RunPlan", []string{"run", "--plan"}, true},
		{"StatusCheck", []string{"status", "--check"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := p.cmdWith(binPath, tc.args...)
			c.Env = append(c.Env, "PATH="+path)
			r := run(t, c)
			got := calls()
			if tc.wantSSH != strings.Contains(got, "-V") {
				t.Errorf("k0rdent %v: ssh calls %q, want them: %v\n%s", tc.args, got, tc.wantSSH, r)
			}
		})
	}
}
