package phases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Graph builds the nodes of a run (Build) and their graph
// (workflow.NewGraph), and reports every problem of the config, its nodes
// and their graph at once, in file order: a command phase that clashes with
// a registered one, a dependency on an unknown phase, every cycle, together
// with the problems the config's own validation found before (known, from
// config.Check; nil when it found none). The graph's problems are reported
// at the depends_on entry they come from (a cycle at the entry of its
// earliest line), so that one *config.Error, sorted by line, holds them
// all; a problem at a field path that already has one is not repeated.
//
// With known problems the config may be only partly valid: a factory that
// fails or panics on it is not reported (the config's problems say why)
// and stands in the graph with its plugin's declared dependencies, and so
// does a command phase with problems of its own, so that its dependents do
// not report it unknown. No graph is returned then.
//
// `k0rdent validate`, `run` and `run --plan` all start here (deploy.Load).
func (r *Registry) Graph(cfg *config.Config, flags RunFlags, dirs Dirs, known *config.Error) (*workflow.Graph, error) {
	if cfg == nil {
		return nil, errors.New("build phases: no config (load k0rdent.yaml first)")
	}
	b := r.build(cfg, flags, dirs, known != nil)
	all := append(slices.Clone(b.nodes), b.stubs...)
	g, gerr := workflow.NewGraph(all...)
	if gerr != nil {
		b.graphProblems(gerr)
	}
	if err := b.err(known); err != nil {
		return nil, err
	}
	if len(b.stubs) > 0 { // unreachable: a stub comes with a problem
		return nil, errors.New("build phases: some nodes could not be built")
	}
	return g, nil
}

// graphProblems turns workflow.NewGraph's errors into problems at the
// command phases' fields where the fix goes; an error that no command
// phase causes (a plugin's own dependencies) is kept as an error.
func (b *built) graphProblems(err error) {
	commands := map[string]int{} // command phase name -> first index
	for i, p := range b.cfg.Phases {
		if _, dup := commands[p.Name]; !dup {
			commands[p.Name] = i
		}
	}
	// depPath is the field of command phase name's dependency on dep.
	depPath := func(name, dep string) (string, bool) {
		i, ok := commands[name]
		if !ok {
			return "", false
		}
		for j, d := range b.cfg.Phases[i].DependsOn {
			if d == dep {
				return fmt.Sprintf("phases[%d].depends_on[%d]", i, j), true
			}
		}
		return "", false
	}
	for _, e := range unjoin(err) {
		var (
			unknown *workflow.UnknownDependencyError
			cycle   *workflow.CycleError
			self    *workflow.SelfDependencyError
			dup     *workflow.DuplicateError
		)
		switch {
		case errors.As(e, &unknown):
			if p, ok := depPath(unknown.Phase, unknown.Dep); ok {
				b.problem(p, "unknown phase %q (fix the name or remove it; known: %s)", unknown.Dep, strings.Join(unknown.Known, ", "))
				continue
			}
		case errors.As(e, &cycle):
			// At the cycle's dependency of earliest line that a command
			// phase declares: that is where the file starts the loop.
			best, line := "", 0
			for k := 0; k+1 < len(cycle.Path); k++ {
				if p, ok := depPath(cycle.Path[k], cycle.Path[k+1]); ok {
					if l := b.cfg.Line(p); best == "" || l < line {
						best, line = p, l
					}
				}
			}
			if best != "" {
				b.problem(best, "cycle: %s (each phase depends on the next: remove one of these dependencies)", strings.Join(cycle.Path, " -> "))
				continue
			}
		case errors.As(e, &self):
			if p, ok := depPath(self.Phase, self.Phase); ok {
				b.problem(p, "a phase cannot depend on itself (remove %q)", self.Phase)
				continue
			}
		case errors.As(e, &dup):
			// Two command phases of one name: config validation says so
			// at the second one's name.
			if i, ok := commands[dup.Name]; ok {
				for j := i + 1; j < len(b.cfg.Phases); j++ {
					if b.cfg.Phases[j].Name == dup.Name {
						b.problem(fmt.Sprintf("phases[%d].name", j), "%q is also the name of phases[%d] (names must be unique)", dup.Name, i)
						break
					}
				}
				continue
			}
		}
		b.errs = append(b.errs, fmt.Errorf("phase graph: %w", e))
	}
}

// unjoin lists the errors joined in err (errors.Join, recursively).
func unjoin(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, unjoin(e)...)
	}
	return out
}

// graphStub stands in the graph for a node that could not be built because
// the config has problems: its name and dependencies, so that the rest of
// the graph can be checked. It never runs (Graph returns no graph then).
type graphStub struct {
	name string
	deps []string
}

var _ workflow.Phase = (*graphStub)(nil)

func (s *graphStub) Name() string        { return s.name }
func (s *graphStub) DependsOn() []string { return slices.Clone(s.deps) }
func (s *graphStub) Run(context.Context, *workflow.Env) error {
	return fmt.Errorf("phase %s: a stand-in for checking the graph of a config with problems cannot run", s.name)
}
