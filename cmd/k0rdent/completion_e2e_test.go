package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
)

// completionConfig has two command phases that leave a mark when they run.
const completionConfig = baseConfig + `phases:
  - name: fetch
    command: [sh, -c, "echo fetch >> ran"]
  - name: render
    command: [sh, -c, "echo render >> ran"]
    depends_on: [fetch]
`

// treeSums is every file under dir with its mode, size and content hash.
func treeSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		v := info.Mode().String() + " " + info.ModTime().String()
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			v += " " + hex.EncodeToString(sum[:])
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCompletion_BashScript sources `k0rdent completion bash` in a real
// bash, completes command lines through the function it registers (as bash
// does on Tab: COMP_WORDS, COMP_CWORD) and checks the candidates, and that
// completing wrote nothing and ran nothing: `run --<Tab>` once started a
// deployment through urfave/cli's --generate-bash-completion.
func TestCompletion_BashScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		testenv.Missing(t, "bash is not on PATH")
	}
	t.Parallel() // its own project: it runs beside the other slow tests
	p := newProject(t, completionConfig)
	if r := p.run("run", "--yes"); r.code != 0 {
		t.Fatalf("first run: %s", r)
	}
	if err := os.Remove(p.path("ran")); err != nil {
		t.Fatalf("the first run ran no phase: %v", err)
	}
	runID := p.currentRun().Header.RunID

	// The script completes with the binary named k0rdent on PATH.
	binDir := t.TempDir()
	if err := os.Symlink(bareBinPath, filepath.Join(binDir, "k0rdent")); err != nil {
		t.Fatal(err)
	}
	before := treeSums(t, p.dir)

	complete := func(t *testing.T, words ...string) []string {
		t.Helper()
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		script := `set -e
source <(k0rdent completion bash)
complete -p k0rdent
COMP_WORDS=(` + strings.Join(quoted, " ") + `)
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
_k0rdent
printf '%s\n' "${COMPREPLY[@]}"
`
		c := p.cmd()
		c.Path, c.Args = bash, []string{"bash", "-c", script}
		c.Env = append(c.Env, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
		r := run(t, c)
		if r.code != 0 {
			t.Fatalf("completing %q: %s", words, r)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if !strings.HasPrefix(lines[0], "complete -F _k0rdent") && !strings.Contains(lines[0], "-F _k0rdent k0rdent") {
			t.Fatalf("complete -p k0rdent: %q, want the _k0rdent function registered", lines[0])
		}
		return lines[1:]
	}

	tests := []struct {
		name    string
		words   []string
		want    []string
		notWant []string
	}{
		{name: "Commands", words: []string{"k0rdent", ""},
			want: []string{"run", "status", "runs", "phases", "completion", "version"}, notWant: []string{"__complete"}},
		{name: "CommandPrefix", words: []string{"k0rdent", "st"}, want: []string{"status"}, notWant: []string{"run"}},
		{name: "RunFlagsNeverRun", words: []string{"k0rdent", "run", "--"},
			want: []string{"--only", "--skip", "--from", "--plan", "--config"}},
		// urfave/cli's completion flag is an unknown word now: no candidate, no run.
		{name: "UrfaveCompletionFlagInert", words: []string{"k0rdent", "run", "--generate-bash-completion"}, notWant: []string{"--plan"}},
		{name: "OnlyPhases", words: []string{"k0rdent", "run", "--only", ""}, want: []string{"fetch", "render"}},
		{name: "OnlyList", words: []string{"k0rdent", "run", "--only", "fetch,r"}, want: []string{"fetch,render"}, notWant: []string{"fetch,fetch"}},
		{name: "FromWithEquals", words: []string{"k0rdent", "run", "--from", "=", "re"}, want: []string{"render"}},
		{name: "SkipPrefix", words: []string{"k0rdent", "run", "--plan", "--skip", "f"}, want: []string{"fetch"}, notWant: []string{"render"}},
		{name: "RunsShowIDs", words: []string{"k0rdent", "runs", "show", ""}, want: []string{"latest", runID}},
		{name: "RunsSubcommands", words: []string{"k0rdent", "runs", ""}, want: []string{"show"}},
		{name: "OutputFormats", words: []string{"k0rdent", "status", "-o", ""}, want: []string{"text", "json"}},
		{name: "CompletionShells", words: []string{"k0rdent", "completion", ""}, want: []string{"bash", "zsh", "fish"}},
	}
	// The completions run at once (each only reads the project), before
	// the tree is compared.
	names := make([]string, len(tests))
	for i, tt := range tests {
		names[i] = tt.name
	}
	atOnce(t, names, func(t *testing.T, i int) {
		tt := tests[i]
		got := complete(t, tt.words...)
		for _, w := range tt.want {
			if !slices.Contains(got, w) {
				t.Errorf("completing %q: got %q, want %q among them", tt.words, got, w)
			}
		}
		for _, w := range tt.notWant {
			if slices.Contains(got, w) {
				t.Errorf("completing %q: got %q, want no %q", tt.words, got, w)
			}
		}
	})

	if _, err := os.Stat(p.path("ran")); err == nil {
		t.Error("completing ran a phase")
	}
	after := treeSums(t, p.dir)
	for path, v := range after {
		if before[path] != v {
			t.Errorf("completing changed %s", path)
		}
	}
	for path := range before {
		if _, ok := after[path]; !ok {
			t.Errorf("completing removed %s", path)
		}
	}
}

// TestCompletion_Scripts: every shell's script names the binary and its
// hidden completion command; an unknown shell is a usage error.
func TestCompletion_Scripts(t *testing.T) {
	t.Parallel() // its own project and processes
	p := newProject(t, baseConfig)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := p.run("completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, "k0rdent __complete") {
			t.Errorf("completion %s: want exit 0 and a script calling k0rdent __complete:\n%s", shell, r)
		}
	}
	if r := p.run("completion", "tcsh"); r.code != 2 || !strings.Contains(r.stderr, "want bash, zsh or fish") {
		t.Errorf("completion tcsh: want exit 2 naming the shells:\n%s", r)
	}
}
