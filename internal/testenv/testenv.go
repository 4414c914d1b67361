// Package testenv owns what a test does when the real component it runs
// against is missing (terraform, wireguard-go, kubectl, kube-apiserver,
// graphviz, root or /dev/net/tun for network namespaces): on a developer
// machine it skips with the reason; under CI (CI=true, as .ci/run sets it)
// it fails, because CI installs every component and a skip there would
// hide a test that never ran. It also builds the binaries the end-to-end
// tests run, once per source tree (Binary).
package testenv

import (
	"os"
	"strings"
	"testing"
)

// InCI reports whether the tests run under CI: CI is "true" or "1" (the
// convention of GitHub Actions, GitLab and .ci/run).
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// Missing ends a test whose real component is missing: t.Skip with the
// reason, or t.Fatal under CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true: a real component is missing, so this test would be skipped: "+format+
			" (.ci/run installs every component the tests use)", args...)
	}
	t.Skipf(format, args...)
}
