package deploy

import (
	"fmt"
	"os"
	"strings"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// historyRuns is how many recent runs the plan's expected durations come
// from (state.Store.History: the median of the succeeded attempts).
const historyRuns = 20

// Planned is what Run would do.
type Planned struct {
	// Title says which run this is: the resume of run X, or a new run.
	Title string
	Plan  *workflow.PlanResult
	// Resume is the run the plan resumes ("": a new run).
	Resume string
	// Legacy, when the state directory still holds the bash tool's files
	// (which Run migrates first), says what was found and what run will
	// do; the plan is then made against what the migration would write.
	Legacy string
}

// Plan is `run --plan`: what Run with the same options would do, judged
// the same way from the run files, and refused exactly when Run would
// refuse (--resume with nothing to resume or a changed config, an
// unfinished run that cannot be resumed). It takes no lock and writes
// nothing. An unfinished run without --resume or --fresh is planned as its
// resume (what --yes does), with a note when that resume would be refused.
func (d *Deployer) Plan(o RunOptions) (*Planned, error) {
	legacy, pd, cleanup, err := d.legacyPreview()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if pd != nil {
		p, err := pd.Plan(o)
		if p != nil {
			p.Legacy = legacy
		}
		return p, err
	}
	lg, err := d.loadChecked(o)
	if err != nil {
		return nil, err
	}
	rt, err := d.current()
	if err != nil {
		return nil, err
	}
	j, err := d.judge(o, lg, rt, judgePlan)
	if err != nil {
		return nil, err
	}
	out := &Planned{}
	ws := j.sel.workflow()
	switch {
	case j.resume != nil:
		out.Resume = j.resume.Header.RunID
		ws.Resume = true
		out.Title = fmt.Sprintf("Plan: resume run %s (attempt %d)", out.Resume, j.resume.Attempt+1)
		if s := j.sel.recorded(); !s.Empty() {
			out.Title += ", selection " + s.String()
			if j.selChanged {
				out.Title += " (changed)"
			}
		}
		if !o.Resume {
			out.Title += "; pass --fresh to plan a new run instead"
		}
		if j.digestNote != "" {
			out.Title += "\nNote: " + j.digestNote
		}
	case o.Selection.narrows():
		out.Title = "Plan: new run of the selected phases; the others keep their last known state"
	default:
		out.Title = "Plan: new run; every enabled phase runs (phases are idempotent)"
		if j.unfinished != nil {
			out.Title += fmt.Sprintf("; run %s would be archived (superseded)", j.unfinished.Header.RunID)
		}
	}
	hist, err := d.Store.History(historyRuns)
	if err != nil {
		return nil, err
	}
	out.Plan = workflow.Plan(lg.Graph, workflow.PlanOptions{Prior: j.prior, History: hist, Selection: ws,
		RunID: out.Resume, SecretsDir: lg.Dirs.Secrets})
	return out, nil
}

// legacyPreview: when the state directory still holds the legacy tool's
// files, the text saying what was found and what run will do, and a
// Deployer over a scratch store holding what the migration would write,
// removed by cleanup (nothing is written into the state directory).
func (d *Deployer) legacyPreview() (note string, pd *Deployer, cleanup func(), err error) {
	cleanup = func() {}
	if d.preview {
		return "", nil, cleanup, nil
	}
	info, err := d.Store.InspectLegacy(d.projectRoot())
	if err != nil || info == nil {
		return "", nil, cleanup, err
	}
	var b strings.Builder
	if err := info.WriteText(&b); err != nil {
		return "", nil, cleanup, err
	}
	dir, err := os.MkdirTemp("", "k0rdent-plan-")
	if err != nil {
		return "", nil, cleanup, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	pv, err := d.Store.PreviewMigration(d.projectRoot(), dir)
	if err != nil || pv == nil {
		cleanup()
		return "", nil, func() {}, err
	}
	preview := *d
	preview.Store, preview.preview = pv, true
	return b.String() + "The plan below is of the migrated state:\n", &preview, cleanup, nil
}
