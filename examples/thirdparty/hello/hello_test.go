package hello_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/examples/thirdparty/hello"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// build registers the plugin next to the built-in phases, as main.go does,
// and builds the graph's nodes from a real config.
func build(t *testing.T, dir string) workflow.Phase {
	t.Helper()
	cfg, err := config.Parse([]byte("metadata:\n  name: demo\nazure:\n  location: westus2\n"), "k0rdent.yaml")
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	reg := phases.Builtin()
	reg.RegisterPlugin(hello.Plugin(hello.Options{Dir: dir}))
	nodes, err := reg.Build(cfg, phases.RunFlags{}, phases.Dirs{})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	var found workflow.Phase
	for _, n := range nodes {
		if n.Name() == hello.Name {
			found = n
		}
	}
	if found == nil {
		t.Fatalf("Build returned no %s node", hello.Name)
	}
	return found
}

func TestPhase_Lifecycle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	p := build(t, dir)
	path := filepath.Join(dir, hello.FileName)
	ctx := context.Background()

	if got, want := p.(workflow.Describer).Describe(&workflow.Env{}), []string{"write " + path}; !slices.Equal(got, want) {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	verify := p.(workflow.Verifier).Verify
	if err := verify(ctx, &workflow.Env{}); err == nil {
		t.Error("Verify before Run = nil, want an error: nothing was written yet")
	}

	env := &workflow.Env{Node: hello.Name, Attempt: 1}
	if err := p.Run(ctx, env); err != nil {
		t.Fatalf("Run: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), hello.Greeting("demo"); got != want {
		t.Errorf("file content = %q, want %q", got, want)
	}
	if got := env.Outputs()["path"]; got != path {
		t.Errorf("output path = %q, want %q", got, path)
	}
	if err := verify(ctx, env); err != nil {
		t.Errorf("Verify after Run: %v", err)
	}

	// Drift: a changed file fails Verify; running again repairs it.
	if err := os.WriteFile(path, []byte("tampered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := verify(ctx, env); err == nil || err.Error() != "hello: "+path+" was changed (k0rdent run writes it again)" {
		t.Errorf("Verify after tampering = %v, want the changed-file error", err)
	}
	if err := p.Run(ctx, &workflow.Env{}); err != nil {
		t.Fatalf("Run again: %v", err)
	}
	if err := verify(ctx, env); err != nil {
		t.Errorf("Verify after the second Run: %v", err)
	}

	destroy := p.(workflow.Destroyer).Destroy
	if err := destroy(ctx, env); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if err := verify(ctx, env); err == nil || err.Error() != "hello: "+path+" is missing (k0rdent run writes it again)" {
		t.Errorf("Verify after Destroy = %v, want the missing-file error", err)
	}
	if err := destroy(ctx, env); err != nil {
		t.Errorf("Destroy of a missing file: %v, want nil", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("directory holds %d entries after Destroy, want none (temp files left?)", len(left))
	}
}

func TestPlugin_Describe(t *testing.T) {
	reg := phases.NewRegistry()
	reg.RegisterPlugin(hello.Plugin(hello.Options{DependsOn: []string{"k0rdent"}}))
	info, err := reg.Describe(hello.Name)
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != phases.KindPlugin || !slices.Equal(info.DependsOn, []string{"k0rdent"}) || info.Description == "" {
		t.Errorf("Describe = %+v, want a described plugin depending on k0rdent", info)
	}
}
