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
			examples(a.Name+" migrate --dry-run", a.Name+" migrate"),
		Flags: withGlobals(
			&ucli.BoolFlag{Name: "dry-run", Usage: "show what would be moved and written; change nothing"},
		),
		Action: func(c *ucli.Context) error {
			g, err := readGlobals(c)
			if err != nil {
				return err
			}
			return a.doMigrate(migrateOptions{globalOptions: g, DryRun: c.Bool("dry-run")})
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
	if rep.Nothing {
		fmt.Fprintf(a.Stdout, "nothing to migrate: no legacy files in %s or %s\n", o.StateDir, projectRoot(o.globalOptions))
		return nil
	}
	return rep.WriteText(a.Stdout)
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
