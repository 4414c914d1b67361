package cli

import (
	"slices"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/deploy"
	"github.com/k0rdent/k0rdent-deploy/phases"
)

// runOptions are the flags of `k0rdent run`.
type runOptions struct {
	globalOptions

	Plan   bool   // print the plan and stop
	Diff   bool   // with Plan: list the config keys changed since the last successful run
	Verify bool   // with Plan: verify what would be reused
	Output string // plan format: text, json, dot, mermaid

	Resume bool // resume the unfinished current run
	Fresh  bool // archive the unfinished current run and start a new one
	Yes    bool // answer prompts: resume
	Force  bool // resume even though the config changed

	// Components are the optional components' --with-x flags as given
	// (absent: the config's enabled key decides); given, they take
	// precedence over it.
	Components phases.RunFlags

	Parallelism int
	FailFast    bool

	Selection deploy.Selection
}

// runFlags are the optional-phase flags as given.
func (o runOptions) runFlags() phases.RunFlags {
	return o.Components
}

// deployOptions are the options of deploy.Run and deploy.Plan.
func (o runOptions) deployOptions() deploy.RunOptions {
	return deploy.RunOptions{
		Flags: o.runFlags(), Selection: o.Selection,
		Resume: o.Resume, Fresh: o.Fresh, Yes: o.Yes, Force: o.Force, Verify: o.Verify,
		Parallelism: o.Parallelism, FailFast: o.FailFast,
	}
}

// readSelection reads --only/--from/--skip/--replace, remembering which
// were given at all (an empty value is refused, not "everything").
func readSelection(c *ucli.Context) deploy.Selection {
	return deploy.Selection{
		Only: splitList(c.StringSlice("only")), OnlyGiven: c.IsSet("only"),
		From: splitList(c.StringSlice("from")), FromGiven: c.IsSet("from"),
		Skip: splitList(c.StringSlice("skip")), SkipGiven: c.IsSet("skip"),
		Replace: splitList(c.StringSlice("replace")), ReplaceGiven: c.IsSet("replace"),
	}
}

func (a *app) runCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "run",
		Usage:     "deploy: run (or resume) the phase graph",
		ArgsUsage: " ",
		Description: "Runs every enabled phase in dependency order, in parallel where the graph allows,\n" +
			"journalling each transition under --state-dir. If the current run is unfinished,\n" +
			"run asks on a terminal whether to resume it or start fresh; elsewhere pass\n" +
			"--resume or --fresh (--yes resumes).\n\n" +
			"--only/--from/--skip are part of the run: they are recorded in its header, --resume\n" +
			"resumes that selection (a selection given with --resume replaces it, recorded as a\n" +
			"change), and a run that leaves enabled phases unrun ends partial, never the last\n" +
			"success. A resumed run does not run again what already succeeded in it; --replace\n" +
			"names phases to run again anyway.\n\n" +
			"A new run reuses a phase whose inputs (the config keys it reads, its version, its\n" +
			"dependencies' outputs) did not change since its last success, once its Verify passes;\n" +
			"--plan says why each phase runs or not, --plan --diff lists the changed config keys\n" +
			"and the phases each feeds, --plan --verify runs the Verify checks first.\n\n" +
			"--with-kof and --with-azure-children, when given, take precedence over kof.enabled\n" +
			"and azure_children.enabled in both directions: --with-kof=false skips KOF although\n" +
			"kof.enabled is true. Not given, the config decides.\n\n" +
			examples(
				a.Name+" run --plan",
				a.Name+" run --plan -o mermaid",
				a.Name+" run --with-kof",
				a.Name+" run --with-kof=false",
				a.Name+" run --resume",
				a.Name+" run --fresh --yes",
				a.Name+" run --only k0s,k0rdent",
				a.Name+" run --from k0s --skip kof",
				a.Name+" run --resume --replace k0s",
				a.Name+" run --plan --diff",
			),
		Flags: withGlobals(slices.Concat([]ucli.Flag{
			&ucli.BoolFlag{Name: "plan", Usage: "print what would run and why, then stop (changes nothing)"},
			&ucli.BoolFlag{Name: "diff", Usage: "with --plan: list the config keys changed since the last successful run and the phases each feeds"},
			&ucli.BoolFlag{Name: "verify", Usage: "with --plan: run the (read-only) Verify of each phase that would be reused, so the plan shows reuse or drift"},
			outputFlag("text", "json", "dot", "mermaid"),
			&ucli.BoolFlag{Name: "resume", Usage: "resume the unfinished current run"},
			&ucli.BoolFlag{Name: "fresh", Usage: "archive the unfinished current run (superseded) and start a new one"},
			&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: yesUsage},
			&ucli.BoolFlag{Name: "force", Usage: "resume even if k0rdent.yaml changed since the run started"},
		}, a.componentFlags(func(c phases.Component) string { return c.Usage }), []ucli.Flag{
			&ucli.IntFlag{Name: "parallelism", Aliases: []string{"p"}, Value: defaultParallelism, Usage: "run at most `N` phases at once"},
			&ucli.BoolFlag{Name: "fail-fast", Usage: "stop starting phases after the first failure"},
			&ucli.StringSliceFlag{Name: "only", Usage: "run only these phases (`a,b`); others are reused or skipped"},
			&ucli.StringSliceFlag{Name: "from", Usage: "run this phase (`x`) and everything after it"},
			&ucli.StringSliceFlag{Name: "skip", Usage: "do not run these phases (`a,b`)"},
			&ucli.StringSliceFlag{Name: "replace", Usage: "run these phases (`a,b`) again even if they succeeded (forces them on --resume too)"},
		})...),
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			g, out, err := readCommon(c, "text", "json", "dot", "mermaid")
			if err != nil {
				return err
			}
			o := runOptions{
				globalOptions: g,
				Plan:          c.Bool("plan"),
				Diff:          c.Bool("diff"),
				Verify:        c.Bool("verify"),
				Output:        out,
				Resume:        c.Bool("resume"),
				Fresh:         c.Bool("fresh"),
				Yes:           c.Bool("yes"),
				Force:         c.Bool("force"),
				Components:    a.readComponents(c),
				Parallelism:   c.Int("parallelism"),
				FailFast:      c.Bool("fail-fast"),
				Selection:     readSelection(c),
			}
			if o.Resume && o.Fresh {
				return usageErrorf("--resume and --fresh exclude each other; pick one")
			}
			if o.Parallelism < 1 {
				return usageErrorf("--parallelism %d: want 1 or more", o.Parallelism)
			}
			if (o.Diff || o.Verify) && !o.Plan {
				return usageErrorf("--diff and --verify need --plan")
			}
			if out != "text" && !o.Plan {
				return usageErrorf("-o %s needs --plan: a run prints text (add --plan to print the plan as %s)", out, out)
			}
			return a.doRun(c.Context, o)
		},
	}
}
