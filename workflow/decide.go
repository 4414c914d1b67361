package workflow

import (
	"fmt"
	"strings"
)

// Action is what a run would do with a node, as Plan shows it.
type Action string

// Plan actions.
const (
	ActionRun     Action = "run"
	ActionSkip    Action = "skip"              // disabled, or not selected
	ActionReuse   Action = "reuse"             // succeeded before, no Verifier (or not selected)
	ActionVerify  Action = "verify then reuse" // succeeded before; reused if Verify passes
	ActionBlocked Action = "blocked"           // a dependency will not be available
	ActionDecide  Action = "decided at run time"

	actionPass Action = "pass" // teardown: not a Destroyer, nothing recorded
)

// reasonNew is the plan's reason for a node that never ran; it is not
// repeated in the node's running record.
const reasonNew = "not run before"

// decision is the static plan for one node, shared by Plan and Run.
type decision struct {
	action  Action
	reason  string
	attempt int // of the prior run; a run uses attempt+1

	selected bool // false: the run does not touch the node
	// invalidates: running this node makes its done dependents stale
	// (everything but re-establishing a volatile node).
	invalidates bool
	// uncertain: verify then reuse, or decided at run time.
	uncertain bool
	// root: for uncertain nodes, the node whose Verify decides them.
	root string
	// unavailable: not selected and not done; dependents are blocked.
	unavailable bool
	// stale: a not-selected node reused although this upstream re-runs.
	stale string
	// byDigest: decided at dispatch by its inputs digest (a new run with
	// Inputs), once its dependencies' outputs are known.
	byDigest bool
	// changed: what changed in its inputs (PlanNode.Changed).
	changed []string
}

// decide plans every node (by index) from the prior states and the
// selection, without running anything but Enabled and Volatile.
func decide(g *Graph, prior map[string]NodeStatus, sel Selection, in *Inputs, verified map[string]error) []decision {
	reuse := in != nil && !sel.Resume // a new run: reuse by inputs digest
	selected, forced := sel.resolve(g)
	ds := make([]decision, g.Len())
	for _, i := range g.topo {
		name, p := g.names[i], g.phases[i]
		st := prior[name]
		if st.State == "" {
			st.State = Pending
		}
		d := &ds[i]
		d.attempt = st.Attempt
		d.selected = selected[i]
		var invalidDep, uncertainDep, staleDep, blockedBy string
		for _, j := range g.deps[i] {
			dj := ds[j]
			switch {
			case dj.unavailable && blockedBy == "":
				blockedBy = fmt.Sprintf("dependency %s not selected and not completed", g.names[j])
			case dj.action == ActionBlocked && blockedBy == "":
				blockedBy = via(dj.reason, g.names[j])
			}
			if dj.invalidates && invalidDep == "" {
				invalidDep = g.names[j]
			}
			if dj.uncertain && uncertainDep == "" {
				uncertainDep = dj.root
			}
			if dj.stale != "" && staleDep == "" {
				staleDep = dj.stale
			} else if dj.invalidates && staleDep == "" {
				staleDep = g.names[j]
			}
		}
		if !d.selected {
			switch st.State {
			case Succeeded:
				d.action, d.reason = ActionReuse, "not selected; succeeded"+inRun(st.RunID)
				if staleDep != "" {
					d.stale = staleDep
					d.reason += fmt.Sprintf("; stale: upstream %s re-runs", staleDep)
				}
			case Skipped:
				d.action, d.reason = ActionSkip, "not selected; was skipped"
				if st.Reason != "" {
					d.reason += " (" + st.Reason + ")"
				}
			default:
				d.action, d.reason, d.unavailable = ActionSkip, "not selected", true
			}
			continue
		}
		if on, why := enabled(p); !on {
			d.action, d.reason = ActionSkip, "disabled: "+why
			if st.State == Succeeded && !reuse { // a new run carries nothing forward for it
				d.reason += " (was succeeded" + inRun(st.RunID) + ")"
			}
			continue
		}
		if blockedBy != "" {
			d.action, d.reason = ActionBlocked, blockedBy
			continue
		}
		_, verifies := p.(Verifier)
		d.action, d.invalidates = ActionRun, true
		switch {
		case reuse && st.State != Succeeded && st.State != Skipped:
			d.reason = "never succeeded"
		case st.State == Pending && st.Attempt == 0:
			d.reason = reasonNew
		case st.State == Skipped:
			d.reason = "enabled: was skipped"
			if st.Reason != "" {
				d.reason += " (" + st.Reason + ")"
			}
		case st.State == Running:
			d.reason = "resumed: was left running (interrupted)"
		case st.State != Succeeded:
			d.reason = "resumed: was " + string(st.State)
		case forced[i]:
			d.reason = "selected (was succeeded" + inRun(st.RunID) + ")"
		case reuse && !volatile(p):
			byDigest(d, g, i, prior, ds, in, invalidDep, uncertainDep, verifies)
			if err, ok := verified[name]; ok && d.action == ActionVerify {
				if err != nil {
					d.action, d.invalidates, d.uncertain, d.root = ActionRun, true, false, ""
					d.reason = "drift: verify failed: " + err.Error()
				} else {
					d.action, d.uncertain, d.root = ActionReuse, false, ""
					d.reason += ", verified"
				}
			}
		case invalidDep != "":
			d.reason = fmt.Sprintf("dependency %s re-runs (was succeeded%s)", invalidDep, inRun(st.RunID))
		case volatile(p):
			d.reason, d.invalidates = "volatile: re-established on every run", false
			// re-run anyway, but its dependents depend on the Verify upstream
			d.uncertain, d.root = uncertainDep != "", uncertainDep
		case uncertainDep != "":
			d.action, d.invalidates, d.uncertain, d.root = ActionDecide, false, true, uncertainDep
			d.reason = "runs again if " + uncertainDep + " fails Verify; else "
			if verifies {
				d.reason += "verify then reuse"
			} else {
				d.reason += "reuse"
			}
		case verifies:
			d.action, d.invalidates, d.uncertain, d.root = ActionVerify, false, true, name
			d.reason = "succeeded" + inRun(st.RunID)
		default:
			d.action, d.invalidates = ActionReuse, false
			d.reason = "succeeded" + inRun(st.RunID)
		}
	}
	return ds
}

// byDigest decides node i of a new run that succeeded before and is not
// forced or volatile, by its inputs digest (see Inputs). invalidDep is a
// dependency that runs, uncertainDep one decided by a Verify.
func byDigest(d *decision, g *Graph, i int, prior map[string]NodeStatus, ds []decision, in *Inputs,
	invalidDep, uncertainDep string, verifies bool) {
	name := g.names[i]
	st, own := prior[name], in.Own[name]
	since := inRun(st.RunID)
	switch {
	case own == "":
		d.reason = "declares no inputs: runs on every run"
		return
	case st.Digest == "" || st.OwnDigest == "":
		d.reason = "no inputs digest recorded (succeeded" + since + ")"
		return
	case st.OwnDigest != own:
		d.reason, d.changed = in.explain(name, st)
		return
	}
	parts := make([]digestPart, 0, len(g.deps[i]))
	var newer []string
	for _, j := range g.deps[i] {
		dn := g.names[j]
		part := digestPart{name: dn, state: Succeeded, volatile: volatile(g.phases[j]), outputs: prior[dn].Outputs}
		if ds[j].action == ActionSkip {
			part.state = Skipped
		} else if prior[dn].RunID > st.RunID {
			newer = append(newer, dn)
		}
		parts = append(parts, part)
	}
	same := inputsDigest(own, parts) == st.Digest
	switch {
	case invalidDep != "" || (same && uncertainDep != ""):
		root := invalidDep
		if root == "" {
			root = uncertainDep
		}
		d.action, d.invalidates, d.uncertain, d.root, d.byDigest = ActionDecide, false, true, root, true
		d.reason = "reuse if the outputs of " + root + " are unchanged after it "
		// The root runs when it is the invalid dependency, or when this
		// node's uncertainty comes through a node decided by it (k0rdent
		// through k0s, after terraform's Verify failed in the plan).
		if k, ok := g.index[root]; invalidDep != "" || (ok && ds[k].action == ActionRun) {
			d.reason += "runs"
		} else {
			d.reason += "is verified"
		}
		d.reason += ", else run"
	case !same:
		d.reason = "input changed since run " + st.RunID
		if len(newer) > 0 {
			d.reason = "input from " + strings.Join(newer, ", ") + " changed since run " + st.RunID
		}
	case verifies:
		d.action, d.invalidates, d.uncertain, d.root, d.byDigest = ActionVerify, false, true, name, true
		d.reason = "unchanged since run " + st.RunID
	default:
		d.action, d.invalidates, d.byDigest = ActionReuse, false, true
		d.reason = "unchanged since run " + st.RunID
	}
}

func enabled(p Phase) (bool, string) {
	if e, ok := p.(Enabler); ok {
		return e.Enabled()
	}
	return true, ""
}

func volatile(p Phase) bool {
	v, ok := p.(Volatiler)
	return ok && v.Volatile()
}

func inRun(id string) string {
	if id == "" {
		return ""
	}
	return " in run " + id
}

// via turns a dependency's block reason into its dependent's: the root cause
// stays, and the path through the blocked dependency is named once.
func via(reason, dep string) string {
	if i := strings.Index(reason, " (via "); i >= 0 {
		reason = reason[:i]
	}
	return reason + " (via " + dep + ")"
}
