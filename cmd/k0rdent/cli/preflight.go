package cli

import (
	"fmt"

	"github.com/k0rdent/k0rdent-deploy/state"
)

// preflightRun makes, before `run` takes the lock, the refusals it can
// make without writing anything: a current run file that is corrupt,
// --resume with nothing to resume, an unfinished run and neither --resume
// nor --fresh off a terminal. Taking the lock creates the state directory
// and rewrites its lock file, and a refused run must leave the state
// directory as it was. doRun decides again under the lock, since the state
// may change in between; preflightRun only refuses earlier. It leaves a
// state directory with legacy files to migrate alone: the migration, under
// the lock, may give it a current run.
func (a *app) preflightRun(o runOptions, store *state.Store) error {
	rep, err := store.Migrate(projectRoot(o.globalOptions), state.MigrateOptions{DryRun: true, Now: a.Now})
	if err != nil || !rep.Nothing {
		return nil
	}
	unfinished, err := currentUnfinished(store)
	if err != nil {
		return nil // reported under the lock
	}
	switch {
	case unfinished == nil:
		if o.Resume {
			return nothingToResume(store, a.Name)
		}
	case o.Fresh:
	case unfinished.Err != nil:
		return withCode(ExitUsage, fmt.Errorf("current run %s cannot be resumed: %w", unfinished.Header.RunID, unfinished.Err))
	case !a.IsTerminal(a.Stdin):
		_, err := a.decideResume(o, unfinished)
		return err
	}
	return nil
}
