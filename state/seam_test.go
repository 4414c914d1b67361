package state_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// statePkg is the import path of this package.
const statePkg = "github.com/k0rdent/k0rdent-deploy/state"

// Names that build a path inside the state directory: the local layout,
// which only state (and tests) may know.
var (
	// leakIdents are state's exported identifiers of the local layout.
	leakIdents = []string{"NewLocalBackend", "LocalBackend", "RuntimeFile", "RunsDirName", "SecretsName", "TerraformDir", "LegacyName", "LockFile"}
	// leakMethods are the path methods of the local layout
	// (LocalBackend's, Store.LocalBackend).
	leakMethods = []string{"LocalBackend", "Root", "RunsDir", "RunPath", "LogDir", "LogPath", "RunFilePath", "RuntimePath", "LockPath", "LegacyDir", "SecretsPath", "TerraformDir"}
	// leakLiterals are entries of the state directory that a path join
	// outside state must not spell.
	leakLiterals = []string{"runtime.yaml", "runs", "lock", "legacy"}
)

// seamViolations lists where src (a Go file outside state) reaches into
// the state directory's layout.
func seamViolations(fset *token.FileSet, f *ast.File) []string {
	stateName := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == statePkg {
			stateName = "state"
			if imp.Name != nil {
				stateName = imp.Name.Name
			}
		}
	}
	var out []string
	report := func(n ast.Node, what string) {
		out = append(out, fset.Position(n.Pos()).String()+": "+what)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && stateName != "" && id.Name == stateName && slices.Contains(leakIdents, n.Sel.Name) {
				report(n, "uses state."+n.Sel.Name+" (the local layout)")
			}
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if slices.Contains(leakMethods, sel.Sel.Name) && len(n.Args) <= 2 {
				if id, ok := sel.X.(*ast.Ident); ok && (id.Name == "filepath" || id.Name == "path" || id.Name == "os") {
					return true
				}
				report(n, "calls ."+sel.Sel.Name+"() (a path inside the state directory)")
			}
			if id, ok := sel.X.(*ast.Ident); ok && (id.Name == "filepath" || id.Name == "path") && sel.Sel.Name == "Join" {
				for _, a := range n.Args {
					if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if v, _ := strconv.Unquote(lit.Value); slices.Contains(leakLiterals, v) {
							report(n, "joins "+lit.Value+" (an entry of the state directory)")
						}
					}
				}
			}
		}
		return true
	})
	return out
}

// TestSeam_NothingOutsideStateBuildsStatePaths: no non-test Go file
// outside state builds a path inside the state directory; the store hands
// out what a phase needs (ARCHITECTURE.md, rule of section 1).
func TestSeam_NothingOutsideStateBuildsStatePaths(t *testing.T) {
	root := ".."
	fset := token.NewFileSet()
	var files []string
	var bad []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor" || path == filepath.Join(root, "state")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		files = append(files, filepath.ToSlash(rel))
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		bad = append(bad, seamViolations(fset, f)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The walk saw the code above the seam.
	for _, want := range []string{"deploy/run.go", "deploy/deploy.go", "cmd/k0rdent/cli/store.go", "cmd/k0rdent/cli/execute.go", "phases/terraform.go", "phases/k0s.go"} {
		if !slices.Contains(files, want) {
			t.Errorf("the walk did not see %s (%d files)", want, len(files))
		}
	}
	for _, b := range bad {
		t.Error(b)
	}
}

// TestSeam_Violations: the check finds each kind of leak.
func TestSeam_Violations(t *testing.T) {
	src := `package p

import (
	"path/filepath"
	st "github.com/k0rdent/k0rdent-deploy/state"
)

func f(s *st.Store, id string) {
	_ = s.LocalBackend().LogPath(id, "k0s")
	_ = st.NewLocalBackend("x")
	_ = filepath.Join("x", st.RuntimeFile)
	_ = filepath.Join("x", "runs", id)
	_ = filepath.Join("x", "k0s") // fine
	_ = s.Location()              // fine
	_ = filepath.Dir("x")         // fine
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := seamViolations(fset, f)
	want := []string{
		"p.go:9:6: calls .LogPath() (a path inside the state directory)",
		"p.go:9:6: calls .LocalBackend() (a path inside the state directory)",
		"p.go:10:6: uses state.NewLocalBackend (the local layout)",
		"p.go:11:25: uses state.RuntimeFile (the local layout)",
		`p.go:12:6: joins "runs" (an entry of the state directory)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
