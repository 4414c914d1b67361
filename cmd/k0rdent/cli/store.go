package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/deploy"
	"github.com/k0rdent/k0rdent-deploy/state"
)

// defaultStateDirName is the state directory beside the config file.
const defaultStateDirName = "state"

// openStore is the state directory dir with the app's clock, so that the
// records the store dates itself (header, resumed, outcome, superseded,
// lock takeover) follow Options.Now.
func (a *app) openStore(dir string) *state.Store {
	s := state.NewStore(dir)
	if remoteState(dir) {
		// readGlobals checked the URL; what is left to fail (credentials,
		// the container) shows at the first operation.
		b, err := openBackend(dir)
		if err != nil {
			panic(fmt.Sprintf("state url %s passed readGlobals but does not open: %v", dir, err))
		}
		s = state.OpenStore(b)
	}
	s.Now = a.Now
	a.storesMu.Lock()
	a.stores = append(a.stores, s)
	a.storesMu.Unlock()
	return s
}

// closeStores closes every store the command opened: a remote store's
// local copies (the secrets directory, work directories) are removed.
// Execute calls it when the command returns, exitInterrupted before it
// exits.
func (a *app) closeStores() {
	a.storesMu.Lock()
	defer a.storesMu.Unlock()
	for _, s := range a.stores {
		if err := s.Close(); err != nil {
			fmt.Fprintf(a.Stderr, "warning: removing the local copies of %s: %v\n", s.Location(), err)
		}
	}
	a.stores = nil
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
		return nil, nil, withCode(ExitUsage, deploy.StoreError(store, err))
	}
	return lock, prev, nil
}

// defaultStateDir is the state directory of a config file when neither
// --state-dir nor K0RDENT_STATE_DIR is given: `state` beside the file, so
// that `cd /tmp && k0rdent -c ~/dep/k0rdent.yaml run` finds ~/dep/state
// rather than starting a second deployment in /tmp/state.
func defaultStateDir(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), defaultStateDirName)
}

// checkStateDir refuses a state directory whose shape is wrong before
// anything reads, creates or locks it: a dangling symlink, a file where
// the directory, its runs directory or its lock file should be, a lock
// file that holds no holder record, or a runtime.yaml written by a newer
// k0rdent. A missing directory is fine (the first run creates it).
func checkStateDir(dir, how string) error {
	fix := "point --state-dir at a directory"
	li, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return usageErrorf("%s %s: %v (point --state-dir at a writable directory)", how, dir, err)
	}
	if li.Mode()&fs.ModeSymlink != 0 {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			target, _ := os.Readlink(dir)
			return usageErrorf("%s %s: a symlink to %s, which does not exist (create %s, fix or remove the link, or %s)", how, dir, target, target, fix)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return usageErrorf("%s %s: %v (%s)", how, dir, err, fix)
	}
	if !fi.IsDir() {
		return usageErrorf("%s %s: is a %s, not a directory (move it away, or %s)", how, dir, state.FileKind(fi), fix)
	}
	if err := state.CheckDir(dir); err != nil {
		if errors.Is(err, state.ErrUnsupportedFormat) {
			return usageErrorf("%v", err)
		}
		return usageErrorf("%s %s: %v", how, dir, err)
	}
	return nil
}

// strayStateDir is the note for a config whose own state directory does
// not exist while ./state holds a deployment of the same cluster (same
// config file, or the cluster the config names): probably the state of
// this config from before the state directory followed its config.
// Starting over would make a second deployment with new keys.
func strayStateDir(configPath, stateDir string) error {
	cwdState := defaultStateDirName
	if filepath.Clean(stateDir) == cwdState {
		return nil
	}
	if _, err := os.Lstat(stateDir); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if fi, err := os.Stat(cwdState); err != nil || !fi.IsDir() {
		return nil
	}
	store := state.NewStore(cwdState)
	rt, err := store.ReadRuntime()
	if err != nil || rt.CurrentRunID == "" {
		return nil
	}
	rf, err := store.Load(rt.CurrentRunID)
	if err != nil {
		return nil
	}
	same := false
	if abs, err := filepath.Abs(configPath); err == nil {
		if rabs, err := filepath.Abs(rf.Header.ConfigPath); err == nil && rabs == abs {
			same = true
		}
	}
	if !same {
		if cfg, err := config.Load(configPath); err == nil && cfg.Metadata.Name != "" {
			id := rt.ClusterID
			if id == "" {
				id = rf.Header.ClusterID
			}
			same = id == cfg.Metadata.Name || strings.HasPrefix(id, cfg.Metadata.Name+"-")
		}
	}
	if !same {
		return nil
	}
	return usageErrorf("%s has no state beside it (%s), but ./%s holds run %s of the same cluster: "+
		"pass --state-dir %s to use it, or move it to %s; k0rdent will not start a second deployment",
		configPath, stateDir, cwdState, rt.CurrentRunID, cwdState, stateDir)
}
