package workflow

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// TextWidth is the width WriteText fits its lines in.
const TextWidth = 100

// TextOptions are the choices of WriteTextWith.
type TextOptions struct {
	// Title is the plan's first line (which run this is), e.g. "Plan: new
	// run"; empty: "Plan", with the run id when there is one.
	Title string
}

// WriteText writes the plan for a terminal; see WriteTextWith.
func (p *PlanResult) WriteText(w io.Writer) error { return p.WriteTextWith(w, TextOptions{}) }

// planColumns are the columns of a node's line, in order: a node's line is
// its cells in these columns (planRow), so that a column is added in one
// place. The last column, NOTE, is free text wrapped to the width left
// (why the node runs, is skipped or reused).
var planColumns = []string{"", "ACTION", "PHASE", "EXPECTED", "NOTE"}

// planRow is one node's cells, in planColumns order.
func planRow(n PlanNode) []string {
	mark := " "
	if n.Critical {
		mark = "*"
	}
	return []string{mark, string(n.Action), n.Name, expected(n), n.Reason}
}

// WriteTextWith writes the plan for a terminal. One header: the title, a
// summary (phases, waves, how many of each action) and a legend of the
// columns. Then each wave with one line per node (see planColumns), its
// check names and Describe lines under it; the nodes the selection leaves
// out are not listed in their waves but together on one line (with their
// note when it says more than "not selected"); then the critical path.
// Long text is wrapped to fit TextWidth columns (a word longer than a line
// is cut).
func (p *PlanResult) WriteTextWith(w io.Writer, o TextOptions) error {
	bw := bufio.NewWriter(w)
	var shown, leftOut []PlanNode
	for _, n := range p.Nodes {
		if n.LeftOut {
			leftOut = append(leftOut, n)
			continue
		}
		shown = append(shown, n)
	}
	waves := map[int]bool{}
	for _, n := range shown {
		waves[n.Wave] = true
	}
	title := o.Title
	if title == "" {
		title = "Plan"
		if p.RunID != "" {
			title += " for run " + p.RunID
		}
	}
	wrap(bw, "", title)
	summary := fmt.Sprintf("%s in %s", plural(len(shown), "phase"), plural(len(waves), "wave"))
	if len(leftOut) > 0 {
		summary = fmt.Sprintf("%d of %s selected, in %s", len(shown), plural(len(p.Nodes), "phase"), plural(len(waves), "wave"))
	}
	if counts := p.Counts(); counts != "" {
		summary += ": " + counts
	}
	wrap(bw, "", summary)
	wrap(bw, "", "Legend: * on the critical path; EXPECTED is how long the phase took when it last "+
		"succeeded (? never ran); under each phase, the checks made before it runs and what it will do.")

	// Column widths: the widest cell, the NOTE column takes the rest.
	rows := make([][]string, len(shown))
	widths := make([]int, len(planColumns))
	for c, h := range planColumns {
		widths[c] = utf8.RuneCountInString(h)
	}
	for i, n := range shown {
		rows[i] = planRow(n)
		for c, cell := range rows[i][:len(planColumns)-1] {
			widths[c] = max(widths[c], min(utf8.RuneCountInString(cell), 30))
		}
	}
	cells := func(row []string) string {
		var b strings.Builder
		for c, cell := range row[:len(row)-1] {
			fmt.Fprintf(&b, "%-*s ", widths[c], cell)
		}
		return b.String()
	}
	indent := strings.Repeat(" ", widths[0]+1+widths[1]+1)
	if len(shown) > 0 {
		bw.WriteString("\n")
		wrap(bw, cells(planColumns), planColumns[len(planColumns)-1])
	}
	// Waves are numbered among those shown: the first one listed is
	// wave 1 even when the selection leaves the graph's first ones out.
	wave, number := -1, 0
	for i, n := range shown {
		if n.Wave != wave {
			wave = n.Wave
			number++
			if number > 1 {
				bw.WriteString("\n")
			}
			fmt.Fprintf(bw, "wave %d\n", number)
		}
		wrap(bw, cells(rows[i]), rows[i][len(rows[i])-1])
		for _, c := range n.Preconditions {
			wrap(bw, indent+"check: ", c)
		}
		for _, d := range n.Describe {
			wrap(bw, indent+"- ", d)
		}
	}
	if len(leftOut) > 0 {
		names := make([]string, len(leftOut))
		for i, n := range leftOut {
			names[i] = n.Name
			if note := strings.TrimPrefix(strings.TrimPrefix(n.Reason, "not selected"), "; "); note != "" {
				names[i] += " (" + note + ")"
			}
		}
		bw.WriteString("\n")
		wrap(bw, fmt.Sprintf("left out by the selection (%d): ", len(leftOut)), strings.Join(names, ", "))
	}
	bw.WriteString("\n")
	if len(p.Critical) == 0 {
		wrap(bw, "", "critical path: nothing runs")
	} else {
		total := "no history"
		if p.CriticalDuration > 0 {
			total = fmtDuration(p.CriticalDuration)
		}
		wrap(bw, "", fmt.Sprintf("critical path (%s): %s", total, strings.Join(p.Critical, " -> ")))
	}
	return bw.Flush()
}

// plural is "1 phase", "2 phases".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// wrap writes prefix and text, wrapping text at word boundaries so that
// no line is wider than TextWidth; continuation lines are indented to the
// width of prefix (at most 60 columns).
func wrap(w *bufio.Writer, prefix, text string) {
	indent := strings.Repeat(" ", min(utf8.RuneCountInString(prefix), 60))
	line := prefix
	width := utf8.RuneCountInString(line)
	empty := true
	flush := func() {
		w.WriteString(strings.TrimRight(line, " ") + "\n")
		line, width, empty = indent, len(indent), true
	}
	for _, word := range strings.Fields(text) {
		n := utf8.RuneCountInString(word)
		if !empty && width+1+n > TextWidth {
			flush()
		}
		if !empty {
			line += " "
			width++
		}
		if width+n > TextWidth { // a word wider than a line: cut it
			word = string([]rune(word)[:max(TextWidth-width-1, 1)]) + "…"
			n = utf8.RuneCountInString(word)
		}
		line += word
		width += n
		empty = false
	}
	if !empty || strings.TrimSpace(prefix) != "" {
		flush()
	}
}

// expected is the expected duration of a node that may run: "~4m0s", or
// "?" without history.
func expected(n PlanNode) string {
	switch {
	case n.Action != ActionRun && n.Action != ActionDecide:
		return ""
	case n.Expected > 0:
		return "~" + fmtDuration(n.Expected)
	}
	return "?"
}

func fmtDuration(d time.Duration) string {
	if d >= time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

type planJSON struct {
	RunID           string         `json:"run_id,omitempty"`
	Waves           [][]string     `json:"waves"`
	Nodes           []planNodeJSON `json:"nodes"`
	Critical        []string       `json:"critical_path"`
	CriticalSeconds float64        `json:"critical_seconds"`
}

type planNodeJSON struct {
	Name            string   `json:"name"`
	Wave            int      `json:"wave"`
	DependsOn       []string `json:"depends_on"`
	Action          Action   `json:"action"`
	Reason          string   `json:"reason,omitempty"`
	Changed         []string `json:"changed,omitempty"`
	Preconditions   []string `json:"preconditions,omitempty"`
	Describe        []string `json:"describe,omitempty"`
	ExpectedSeconds float64  `json:"expected_seconds,omitempty"`
	Critical        bool     `json:"critical,omitempty"`
}

// WriteJSON writes the plan as one indented JSON object: run_id, waves,
// nodes (name, wave from 0, depends_on, action, reason, changed,
// preconditions,
// describe, expected_seconds, critical), critical_path, critical_seconds.
func (p *PlanResult) WriteJSON(w io.Writer) error {
	out := planJSON{RunID: p.RunID, Waves: p.Waves, Critical: p.Critical, CriticalSeconds: p.CriticalDuration.Seconds()}
	if out.Critical == nil {
		out.Critical = []string{}
	}
	for _, n := range p.Nodes {
		deps := n.DependsOn
		if deps == nil {
			deps = []string{}
		}
		out.Nodes = append(out.Nodes, planNodeJSON{
			Name: n.Name, Wave: n.Wave, DependsOn: deps, Action: n.Action, Reason: n.Reason, Changed: n.Changed,
			Preconditions: n.Preconditions, Describe: n.Describe, ExpectedSeconds: n.Expected.Seconds(), Critical: n.Critical,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// styleOf is how DOT and Mermaid draw an action: a class name and a fill
// colour.
func styleOf(a Action) (class, fill string) {
	switch a {
	case ActionRun:
		return "run", "#c6f6d5"
	case ActionVerify:
		return "verify", "#bee3f8"
	case ActionDecide:
		return "decide", "#fefcbf"
	case ActionReuse:
		return "reuse", "#e2e8f0"
	case ActionBlocked:
		return "blocked", "#fed7d7"
	}
	return "skip", "#ffffff"
}

func fill(a Action) string { _, f := styleOf(a); return f }

func (n PlanNode) label() string {
	s := string(n.Action)
	if e := expected(n); e != "" && e != "?" {
		s += " " + e
	}
	return s
}

// WriteDOT writes the plan as a Graphviz digraph: an arrow goes from a
// dependency to its dependent, nodes are filled by action, the critical
// path is drawn bold. Render it with `dot -Tsvg`.
func (p *PlanResult) WriteDOT(w io.Writer) error {
	bw := bufio.NewWriter(w)
	critical := p.criticalEdges()
	bw.WriteString("digraph plan {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n")
	for _, n := range p.Nodes {
		style := "rounded,filled"
		if n.Action == ActionSkip {
			style += ",dashed"
		}
		if n.Critical {
			style += ",bold"
		}
		fmt.Fprintf(bw, "  %s [label=%s, fillcolor=%q, style=%q];\n",
			strconv.Quote(n.Name), strconv.Quote(n.Name+"\n"+n.label()), fill(n.Action), style)
	}
	for _, n := range p.Nodes {
		for _, d := range n.DependsOn {
			attrs := ""
			if critical[[2]string{d, n.Name}] {
				attrs = " [penwidth=3, color=\"#c05621\"]"
			}
			fmt.Fprintf(bw, "  %s -> %s%s;\n", strconv.Quote(d), strconv.Quote(n.Name), attrs)
		}
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// WriteMermaid writes the plan as a Mermaid flowchart, with the same
// conventions as WriteDOT. Node ids are n0, n1, … in the plan's order; the
// labels carry the names.
func (p *PlanResult) WriteMermaid(w io.Writer) error {
	bw := bufio.NewWriter(w)
	critical := p.criticalEdges()
	id := map[string]string{}
	bw.WriteString("flowchart LR\n")
	for i, n := range p.Nodes {
		id[n.Name] = "n" + strconv.Itoa(i)
		fmt.Fprintf(bw, "  %s[\"%s<br/>%s\"]\n", id[n.Name], mermaidText(n.Name), mermaidText(n.label()))
	}
	edge := 0
	var bold []string
	for _, n := range p.Nodes {
		for _, d := range n.DependsOn {
			fmt.Fprintf(bw, "  %s --> %s\n", id[d], id[n.Name])
			if critical[[2]string{d, n.Name}] {
				bold = append(bold, strconv.Itoa(edge))
			}
			edge++
		}
	}
	byClass := map[string][]string{}
	for _, n := range p.Nodes {
		c, _ := styleOf(n.Action)
		byClass[c] = append(byClass[c], id[n.Name])
	}
	for _, a := range []Action{ActionRun, ActionVerify, ActionDecide, ActionReuse, ActionSkip, ActionBlocked} {
		class, fill := styleOf(a)
		if ids := byClass[class]; len(ids) > 0 {
			extra := ""
			if a == ActionSkip {
				extra = ",stroke-dasharray:4 3"
			}
			fmt.Fprintf(bw, "  classDef %s fill:%s%s\n  class %s %s\n", class, fill, extra, strings.Join(ids, ","), class)
		}
	}
	if len(bold) > 0 {
		fmt.Fprintf(bw, "  linkStyle %s stroke-width:3px,stroke:#c05621\n", strings.Join(bold, ","))
	}
	return bw.Flush()
}

// criticalEdges returns the edges (dependency, dependent) between
// consecutive nodes of the critical path. Consecutive running nodes need
// not be adjacent (a reused node may sit between them); such pairs are
// not drawn.
func (p *PlanResult) criticalEdges() map[[2]string]bool {
	out := map[[2]string]bool{}
	for i := 1; i < len(p.Critical); i++ {
		out[[2]string{p.Critical[i-1], p.Critical[i]}] = true
	}
	return out
}

func mermaidText(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;")
	return r.Replace(s)
}

// WriteDrawing draws the graph as text, one line per node in wave order
// (by name within a wave): its wave, its name, the nodes it runs after,
// and notes[name] (e.g. the flag that enables it). Of the nodes it depends
// on, those not implied by another of its dependencies come first (the
// edges of the drawing: a chain reads as one); the implied ones follow in
// parentheses, so that every DependsOn is shown and none is mistaken for
// another. It is what the README shows of the built-in graph, rendered
// from the code (TestREADME_GraphDrawing).
func (g *Graph) WriteDrawing(w io.Writer, notes map[string]string) error {
	// anc[i][j]: j is an ancestor of i.
	anc := make([][]bool, len(g.names))
	for _, i := range g.topo {
		anc[i] = make([]bool, len(g.names))
		for _, j := range g.deps[i] {
			anc[i][j] = true
			for k, a := range anc[j] {
				if a {
					anc[i][k] = true
				}
			}
		}
	}
	type line struct{ wave, name, after, note string }
	lines := []line{{"wave", "phase", "runs after", ""}}
	for wi, wave := range g.waves {
		for _, i := range wave {
			var direct, implied []string
			for _, j := range g.deps[i] {
				viaOther := false
				for _, k := range g.deps[i] {
					if k != j && anc[k][j] {
						viaOther = true
						break
					}
				}
				if viaOther {
					implied = append(implied, g.names[j])
				} else {
					direct = append(direct, g.names[j])
				}
			}
			after := "-"
			if len(direct) > 0 {
				after = strings.Join(direct, ", ")
			}
			if len(implied) > 0 {
				after += " (" + strings.Join(implied, ", ") + ")"
			}
			lines = append(lines, line{strconv.Itoa(wi + 1), g.names[i], after, notes[g.names[i]]})
		}
	}
	nameW, afterW := 0, 0
	for _, l := range lines {
		nameW = max(nameW, utf8.RuneCountInString(l.name))
		afterW = max(afterW, utf8.RuneCountInString(l.after))
	}
	bw := bufio.NewWriter(w)
	for _, l := range lines {
		s := fmt.Sprintf("%-4s  %-*s  %-*s  %s", l.wave, nameW, l.name, afterW, l.after, l.note)
		bw.WriteString(strings.TrimRight(s, " ") + "\n")
	}
	return bw.Flush()
}

// Counts says how many of the nodes the selection keeps take each action,
// as the plan's header does: "1 run, 2 verify then reuse, 1 skip".
func (p *PlanResult) Counts() string {
	counts := map[Action]int{}
	for _, n := range p.Nodes {
		if !n.LeftOut {
			counts[n.Action]++
		}
	}
	var parts []string
	for _, a := range []Action{ActionRun, ActionVerify, ActionDecide, ActionReuse, ActionSkip, ActionBlocked} {
		if counts[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[a], a))
		}
	}
	return strings.Join(parts, ", ")
}
