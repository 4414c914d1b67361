package deploy

import (
	"context"
	"fmt"
	"maps"
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
	// Diff lists the config keys changed since the last successful run
	// and the nodes each one feeds (`run --plan --diff`).
	Diff *Diff
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
		out.Title = "Plan: new run; a phase whose inputs did not change since its last success is reused after Verify"
		if j.unfinished != nil {
			out.Title += fmt.Sprintf("; run %s would be archived (superseded)", j.unfinished.Header.RunID)
		}
	}
	hist, err := d.Store.History(historyRuns)
	if err != nil {
		return nil, err
	}
	in, err := d.inputs(lg)
	if err != nil {
		return nil, err
	}
	po := workflow.PlanOptions{Prior: j.prior, History: hist, Selection: ws,
		Inputs: in, RunID: out.Resume, SecretsDir: lg.Dirs.Secrets}
	out.Plan = workflow.Plan(lg.Graph, po)
	if o.Verify && j.resume == nil {
		// A node is "verify then reuse" only once its dependencies are
		// certain: terraform's turn comes when wireguard's Verify passed,
		// k0s's when terraform's did. So verify, re-plan, and verify what
		// became certain, until nothing new is left to verify.
		po.Verified = map[string]error{}
		for range lg.Graph.Len() { // each pass verifies at least one node
			got, err := d.verifyReusable(lg, j.prior, out.Plan, po.Verified, o.Parallelism)
			if err != nil {
				return nil, err
			}
			if len(got) == 0 {
				break
			}
			maps.Copy(po.Verified, got)
			out.Plan = workflow.Plan(lg.Graph, po)
		}
	}
	out.Diff = d.diff(lg, rt)
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

// verifyReusable runs the Verify of each node plan would verify then
// reuse and that is not in done yet, through the scheduler
// (Scheduler.CheckNodes: timeouts, panic recovery, the dependencies'
// recorded outputs as inputs), logging nowhere and recording nothing.
func (d *Deployer) verifyReusable(lg *Loaded, prior map[string]workflow.NodeStatus, plan *workflow.PlanResult, done map[string]error, parallelism int) (map[string]error, error) {
	var verify []string
	for _, n := range plan.Nodes {
		if _, ok := done[n.Name]; !ok && n.Action == workflow.ActionVerify {
			verify = append(verify, n.Name)
		}
	}
	if len(verify) == 0 {
		return nil, nil
	}
	sched := &workflow.Scheduler{Graph: lg.Graph, SecretsDir: lg.Dirs.Secrets, Parallelism: parallelism, Log: d.logger(), Now: d.Now}
	return sched.CheckNodes(context.Background(), prior, verify)
}
