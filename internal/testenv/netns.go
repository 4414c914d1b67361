package testenv

import (
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// privateNetworkEnv names, in the environment of a test process that
// PrivateNetwork started, the test it re-runs there.
const privateNetworkEnv = "K0RDENT_TEST_PRIVATE_NETWORK"

// PrivateNetwork runs the calling top-level test again in a new network
// namespace that has nothing but loopback (`unshare -n`, then `ip link
// set lo up`), as a child of this test process: so what the test starts
// there (terraform, Azurite, k0rdent) talks over 127.0.0.1 and cannot
// reach anything beyond this machine. It returns true in that child, where
// the test goes on, and false in the parent once the child has passed
// (its failure fails the parent, with its output). Use it first thing:
//
//	if !testenv.PrivateNetwork(t) {
//		return
//	}
//
// The parent marks the test parallel (it only waits); the child does not.
// It needs root, unshare and ip; without them the test is skipped
// (failed under CI, see Missing).
func PrivateNetwork(t *testing.T) bool {
	t.Helper()
	if os.Getenv(privateNetworkEnv) == t.Name() {
		ifs, err := net.Interfaces()
		if err != nil || len(ifs) != 1 || ifs[0].Name != "lo" || ifs[0].Flags&net.FlagUp == 0 {
			t.Fatalf("testenv.PrivateNetwork: want only loopback, up; have %v (%v)", ifs, err)
		}
		return true
	}
	if strings.Contains(t.Name(), "/") {
		t.Fatal("testenv.PrivateNetwork: call it from a top-level test")
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			Missing(t, "%s is not on PATH: cannot run the test in a private network namespace", tool)
		}
	}
	if os.Geteuid() != 0 {
		Missing(t, "not root: cannot create a network namespace for the test")
	}
	// The parent only waits for its child: it runs in parallel with the
	// other tests (the child, alone in its process, may use t.Setenv).
	t.Parallel()
	args := []string{"-n", "--", "/bin/sh", "-c", `ip link set lo up && exec "$0" "$@"`, os.Args[0],
		"-test.run=^" + regexp.QuoteMeta(t.Name()) + "$", "-test.v", "-test.count=1"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(d).Round(time.Second).String())
	}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), privateNetworkEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a private network namespace: %v\n%s", t.Name(), err, out)
	}
	if strings.Contains(string(out), "--- SKIP: "+t.Name()) {
		t.Skipf("skipped in the private network namespace:\n%s", out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s in a private network namespace did not pass:\n%s", t.Name(), out)
	}
	t.Logf("in a private network namespace (unshare -n):\n%s", out)
	return false
}
