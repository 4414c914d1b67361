// Package hello is an example third-party phase: a team's own step in the
// k0rdent graph, written in Go and compiled into the team's own k0rdent
// binary (see ../main.go). It is deliberately tiny but real: it writes a
// greeting file for the cluster, outputs the file's path, says what it will
// do in --plan (Describer), checks on resume and `status --check` that the
// file is still there and unchanged (Verifier), and removes it on `k0rdent
// reset` (Destroyer).
//
// A real plugin has the same shape: a Plugin for the registry whose Factory
// reads the typed config, and a phase type that implements
// workflow.Phase plus the optional capabilities it needs, each asserted at
// compile time.
package hello

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Name is the plugin's and the node's name: the journal key, never renamed.
const Name = "hello"

// FileName is the name of the file the phase writes in Options.Dir.
const FileName = "hello.txt"

// Options configure the plugin. The config file has no section for
// third-party phases (unknown keys are errors), so a team's binary passes
// its own settings here, from flags or the environment.
type Options struct {
	// Dir is where hello.txt is written; "" means the current directory.
	Dir string
	// DependsOn names the phases hello runs after. A real team plugin would
	// run after k0rdent; none by default so that the example also runs in a
	// binary without the built-in phases.
	DependsOn []string
}

// Plugin returns the registry entry of the hello phase.
func Plugin(opts Options) phases.Plugin {
	return phases.Plugin{
		Name:        Name,
		Description: "write a greeting file for the cluster (example third-party phase)",
		DependsOn:   opts.DependsOn,
		Factory: func(bc phases.BuildContext) ([]workflow.Phase, error) {
			dir := opts.Dir
			if dir == "" {
				dir = "."
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return nil, fmt.Errorf("directory %s: %w", dir, err)
			}
			return []workflow.Phase{&Phase{
				path:      filepath.Join(abs, FileName),
				greeting:  Greeting(bc.Config.Metadata.Name),
				dependsOn: opts.DependsOn,
			}}, nil
		},
	}
}

// Greeting is the content written for a cluster.
func Greeting(cluster string) string {
	return fmt.Sprintf("hello from the k0rdent graph to cluster %s\n", cluster)
}

// Phase writes the greeting file.
type Phase struct {
	path      string
	greeting  string
	dependsOn []string
}

var (
	_ workflow.Phase     = (*Phase)(nil)
	_ workflow.Describer = (*Phase)(nil)
	_ workflow.Verifier  = (*Phase)(nil)
	_ workflow.Destroyer = (*Phase)(nil)
)

// Name implements workflow.Phase.
func (p *Phase) Name() string { return Name }

// DependsOn implements workflow.Phase.
func (p *Phase) DependsOn() []string { return append([]string(nil), p.dependsOn...) }

// Describe implements workflow.Describer.
func (p *Phase) Describe(*workflow.Env) []string {
	return []string{"write " + p.path}
}

// Run implements workflow.Phase. It is idempotent: it writes the same
// content every time, atomically (temp file, fsync, rename).
func (p *Phase) Run(ctx context.Context, env *workflow.Env) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p.path), 0o755); err != nil {
		return fmt.Errorf("hello: create directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.path), "."+FileName+"-*")
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename there is nothing to remove
	if _, err := tmp.WriteString(p.greeting); err != nil {
		tmp.Close()
		return fmt.Errorf("hello: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("hello: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("hello: close %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("hello: chmod %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), p.path); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if env != nil {
		if env.Log != nil {
			env.Log.Info("wrote greeting", "path", p.path)
		}
		env.SetOutput("path", p.path)
	}
	return nil
}

// Verify implements workflow.Verifier: the file must still exist with the
// content Run wrote.
func (p *Phase) Verify(_ context.Context, _ *workflow.Env) error {
	data, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hello: %s is missing (k0rdent run writes it again)", p.path)
	}
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if string(data) != p.greeting {
		return fmt.Errorf("hello: %s was changed (k0rdent run writes it again)", p.path)
	}
	return nil
}

// Destroy implements workflow.Destroyer: it removes the file; a missing
// file is not an error.
func (p *Phase) Destroy(_ context.Context, _ *workflow.Env) error {
	if err := os.Remove(p.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hello: %w", err)
	}
	return nil
}
