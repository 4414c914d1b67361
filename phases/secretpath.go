package phases

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// secretPath is a path a node recorded as an output (a key, a kubeconfig,
// a cloud-init document), as this process finds it. On a remote state
// every process works on its own local copy of the secrets (a temporary
// directory, removed when it ends), so a path recorded under another
// process's copy no longer exists: the same file is found under this
// process's secrets directory at the same path relative to it (the longest
// such tail of the recorded path that exists). A path that exists, or that
// has no such counterpart, is returned as recorded.
func secretPath(env *workflow.Env, recorded string) string {
	if recorded == "" || env == nil || env.SecretsDir == "" {
		return recorded
	}
	if _, err := os.Stat(recorded); err == nil {
		return recorded
	}
	parts := strings.Split(filepath.ToSlash(filepath.Clean(recorded)), "/")
	for i := 1; i < len(parts); i++ {
		if parts[i] == "" {
			continue
		}
		candidate := filepath.Join(append([]string{env.SecretsDir}, parts[i:]...)...)
		if _, err := os.Stat(candidate); err == nil {
			return candidate
		}
	}
	return recorded
}
