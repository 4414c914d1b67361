package state_test

import (
	"os"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/state/backendtest"
	"gopkg.in/yaml.v3"
)

// TestLocalBackend_Contract runs the backend contract suite on the local
// state directory.
func TestLocalBackend_Contract(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		root := t.TempDir() + "/state"
		return backendtest.Harness{
			Open: func() state.Backend { return state.NewLocalBackend(root) },
			// A dead holder: its flock is gone (the OS released it), its
			// holder record is still in the lock file.
			Abandon: func(t *testing.T, l state.Lease) {
				data, err := yaml.Marshal(l.Holder())
				if err != nil {
					t.Fatal(err)
				}
				if err := l.Unlock(t.Context()); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(state.NewLocalBackend(root).LockPath(), data, 0o644); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}
