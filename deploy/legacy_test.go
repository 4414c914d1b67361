package deploy

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// treeOf lists every path under dir with its size and mode, to show that
// nothing was written.
func treeOf(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, p+" "+fi.Mode().String()+" "+fi.ModTime().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// legacyProject is an env working in a copy of a real release's project
// (the bash tool's files only), with the base config written into it.
func legacyProject(t *testing.T, release string) *env {
	t.Helper()
	src, err := filepath.Abs("../../shared/fixtures/legacy-real/" + release + "/project")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Skipf("real legacy fixtures not found: %v", err)
	}
	e := newEnv(t, baseConfig)
	if err := os.CopyFS("legacy", os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	t.Chdir("legacy")
	e.write("k0rdent.yaml", baseConfig)
	return e
}

// Plan on a directory that holds only the bash tool's files says what it
// found and plans the state the migration would write (here: the resume
// of the interrupted legacy run), without writing or moving anything.
func TestPlan_LegacyOnlyDirectory(t *testing.T) {
	e := legacyProject(t, "v0.4.0-interrupted")
	before := treeOf(t, ".")

	p, err := e.deployer().Plan(RunOptions{})
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	for _, want := range []string{"not migrated yet", "The plan below is of the migrated state"} {
		if !strings.Contains(p.Legacy, want) {
			t.Errorf("Planned.Legacy lacks %q:\n%s", want, p.Legacy)
		}
	}
	if !strings.HasPrefix(p.Title, "Plan: resume run 2025") || p.Resume == "" {
		t.Errorf("Planned.Title = %q, Resume = %q; want the resume of the migrated run", p.Title, p.Resume)
	}
	if after := treeOf(t, "."); !slices.Equal(before, after) {
		t.Errorf("Plan changed the directory:\nbefore %v\nafter  %v", before, after)
	}
}
