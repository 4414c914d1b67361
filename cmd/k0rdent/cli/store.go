package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/k0rdent/k0rdent-deploy/deploy"
	"github.com/k0rdent/k0rdent-deploy/state"
)

// openStore is the state directory dir with the app's clock, so that the
// records the store dates itself (header, resumed, outcome, superseded,
// lock takeover) follow Options.Now.
func (a *app) openStore(dir string) *state.Store {
	s := state.NewStore(dir)
	s.Now = a.Now
	return s
}

// lockStore takes the store lock for this process's command line. A live
// holder is ExitLocked with the holder named; prev is the holder record
// of a dead process whose lock was taken over (to be journalled).
func lockStore(store *state.Store) (lock *state.Lock, prev *state.Holder, err error) {
	lock, prev, err = store.Lock(state.CurrentHolder(strings.Join(os.Args, " ")))
	var le *state.LockedError
	if errors.As(err, &le) {
		return nil, nil, withCode(ExitLocked, deploy.LockedError(le))
	}
	if err != nil {
		// The directory cannot be created or its lock file opened: the
		// operator fixes --state-dir (or its permissions).
		return nil, nil, withCode(ExitUsage, fmt.Errorf("--state-dir %s: %w (point --state-dir at a writable directory)", store.Root(), err))
	}
	return lock, prev, nil
}
