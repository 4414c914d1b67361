package workflow

import (
	"errors"
	"fmt"
	"strings"
)

// Selection narrows a run to some phases (--only, --from, --skip). The zero
// Selection selects everything.
//
// Only and From name phases to run: the phases in Only, and each phase in
// From with all of its descendants. When both are empty every phase is
// selected. Skip then removes phases. Phases named by Only or From are
// forced: they run even when a prior run completed them, which is the
// point of re-running one phase. Skip alone forces nothing: the others
// follow the normal resume rules.
//
// A resumed selection (Resume) forces nothing: Only and From select, and
// the nodes they select that already succeeded are reused like any other
// done node. Replace forces the phases it names in every case (Terraform's
// -replace); it does not narrow the run.
type Selection struct {
	Only    []string
	From    []string
	Skip    []string
	Replace []string
	Resume  bool
}

// Empty reports whether the selection selects everything.
func (s Selection) Empty() bool { return len(s.Only) == 0 && len(s.From) == 0 && len(s.Skip) == 0 }

// SelectionError reports a selection naming an unknown phase.
type SelectionError struct {
	Field string // "only", "from" or "skip"
	Name  string
	Known []string
}

func (e *SelectionError) Error() string {
	return fmt.Sprintf("unknown phase %q in %s (known: %s)", e.Name, e.Field, strings.Join(e.Known, ", "))
}

// Validate reports every name of s that is not a phase of g, as one
// *SelectionError per name.
func (s Selection) Validate(g *Graph) error {
	var errs []error
	for _, f := range []struct {
		field string
		names []string
	}{{"only", s.Only}, {"from", s.From}, {"skip", s.Skip}, {"replace", s.Replace}} {
		for _, n := range f.names {
			if !g.Has(n) {
				errs = append(errs, &SelectionError{Field: f.field, Name: n, Known: g.Names()})
			}
		}
	}
	return errors.Join(errs...)
}

// resolve returns, per node index, whether the node is selected and whether
// it is forced. Names that are not in g are ignored.
func (s Selection) resolve(g *Graph) (selected, forced []bool) {
	n := g.Len()
	selected, forced = make([]bool, n), make([]bool, n)
	if len(s.Only) == 0 && len(s.From) == 0 {
		for i := range selected {
			selected[i] = true
		}
	}
	mark := func(name string) {
		if i, ok := g.index[name]; ok {
			selected[i], forced[i] = true, true
		}
	}
	for _, name := range s.Only {
		mark(name)
	}
	for _, name := range s.From {
		mark(name)
	}
	for _, name := range g.Descendants(s.From...) {
		mark(name)
	}
	for _, name := range s.Skip {
		if i, ok := g.index[name]; ok {
			selected[i], forced[i] = false, false
		}
	}
	if s.Resume {
		clear(forced)
	}
	for _, name := range s.Replace {
		if i, ok := g.index[name]; ok {
			selected[i], forced[i] = true, true
		}
	}
	return selected, forced
}

// Selected lists, in topological order, the phases of g that s selects.
// Names that are not in g are ignored; an empty list means the selection
// selects nothing (--only a --skip a).
func (s Selection) Selected(g *Graph) []string {
	selected, _ := s.resolve(g)
	var out []string
	for _, i := range g.topo {
		if selected[i] {
			out = append(out, g.names[i])
		}
	}
	return out
}
