package cli

import (
	"fmt"
	"path/filepath"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/state"
)

// migrateOptions are the flags of `k0rdent migrate`.
type migrateOptions struct {
	globalOptions
	DryRun bool
	Output string
}

func (a *app) migrateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "migrate",
		Usage:     "move the bash tool's state files into the state directory",
		ArgsUsage: " ",
		Description: "Moves deployment-state.yaml, deployment-events.yaml and friends (from the state\n" +
			"directory or the project root, which is the config file's directory) to\n" +
			"state/legacy/, writes private keys to secrets/, synthesizes one run file per\n" +
			"legacy run and seeds runtime.yaml. `run` does this by itself the first time it\n" +
			"finds legacy files. It is idempotent and safe to interrupt.\n\n" +
			examples(a.Name+" migrate --dry-run", a.Name+" migrate", a.Name+" migrate --dry-run -o json"),
		Flags: withGlobals(
			&ucli.BoolFlag{Name: "dry-run", Usage: "show what would be moved and written; change nothing"},
			outputFlag("text", "json"),
		),
		Action: func(c *ucli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			g, out, err := readCommon(c, "text", "json")
			if err != nil {
				return err
			}
			return a.doMigrate(migrateOptions{globalOptions: g, DryRun: c.Bool("dry-run"), Output: out})
		},
	}
}

// projectRoot is where the bash tool kept its root-level files: the
// directory of the config file.
func projectRoot(g globalOptions) string { return filepath.Dir(g.ConfigPath) }

func (a *app) doMigrate(o migrateOptions) error {
	store := a.openStore(o.StateDir)
	if !o.DryRun {
		lock, _, err := lockStore(store)
		if err != nil {
			return err
		}
		defer lock.Unlock()
	}
	rep, err := store.Migrate(projectRoot(o.globalOptions), state.MigrateOptions{DryRun: o.DryRun, Now: a.Now})
	if err != nil {
		return err
	}
	if o.Output == "json" {
		return writeJSON(a.Stdout, newMigrateJSON(rep, o.StateDir, projectRoot(o.globalOptions), o.DryRun))
	}
	if rep.Nothing {
		fmt.Fprintf(a.Stdout, "nothing to migrate: no legacy files in %s or %s\n", o.StateDir, projectRoot(o.globalOptions))
		return nil
	}
	return rep.WriteText(a.Stdout)
}

// migrateJSON is `migrate -o json`: what was (or, with dry_run, would
// be) moved and written.
type migrateJSON struct {
	ProjectRoot string              `json:"project_root"`
	StateDir    string              `json:"state_dir"`
	DryRun      bool                `json:"dry_run"`
	Nothing     bool                `json:"nothing"` // no legacy files: nothing was done
	ClusterID   string              `json:"cluster_id,omitempty"`
	Runs        []state.MigratedRun `json:"runs"`
	Actions     []migrateActionJSON `json:"actions"`
	Notes       []string            `json:"notes"`
	SecretsLeft []string            `json:"secrets_left"`
}

type migrateActionJSON struct {
	Kind      string `json:"kind"`
	Path      string `json:"path"`
	From      string `json:"from,omitempty"`
	Detail    string `json:"detail,omitempty"`
	Unchanged bool   `json:"unchanged,omitempty"` // already done by an interrupted migration
}

func newMigrateJSON(rep *state.MigrationReport, stateDir, root string, dryRun bool) migrateJSON {
	j := migrateJSON{ProjectRoot: root, StateDir: stateDir, DryRun: dryRun, Nothing: rep.Nothing, ClusterID: rep.ClusterID,
		Runs: rep.Runs, Actions: []migrateActionJSON{}, Notes: rep.Notes, SecretsLeft: rep.SecretsLeft}
	if rep.ProjectRoot != "" {
		j.ProjectRoot = rep.ProjectRoot
	}
	if j.Runs == nil {
		j.Runs = []state.MigratedRun{}
	}
	if j.Notes == nil {
		j.Notes = []string{}
	}
	if j.SecretsLeft == nil {
		j.SecretsLeft = []string{}
	}
	for _, act := range rep.Actions {
		j.Actions = append(j.Actions, migrateActionJSON{Kind: act.Kind, Path: act.Path, From: act.From, Detail: act.Detail, Unchanged: act.Unchanged})
	}
	return j
}

// migrateIfLegacy migrates legacy files the first time they are found;
// the caller holds the lock. It says so, with the report, on stderr.
func (a *app) migrateIfLegacy(g globalOptions, store *state.Store) error {
	rep, err := store.Migrate(projectRoot(g), state.MigrateOptions{Now: a.Now})
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("%w (inspect with: %s migrate --dry-run)", err, a.Name))
	}
	if rep.Nothing {
		return nil
	}
	fmt.Fprintf(a.Stderr, "found state of the bash tool; migrated it first:\n")
	return rep.WriteText(a.Stderr)
}
