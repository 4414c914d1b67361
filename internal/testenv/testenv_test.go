package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records how a test ended.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestMissing(t *testing.T) {
	for _, tt := range []struct {
		ci         string
		wantFailed bool
	}{{"", false}, {"false", false}, {"true", true}, {"1", true}} {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recorder{TB: t}
			Missing(r, "kubectl is not on %s", "PATH")
			if got := r.failed != ""; got != tt.wantFailed {
				t.Errorf("failed=%v (%q), skipped %q; want failed=%v", got, r.failed, r.skipped, tt.wantFailed)
			}
			if r.failed+r.skipped == "" || !contains(r.failed+r.skipped, "kubectl is not on PATH") {
				t.Errorf("the reason is lost: failed %q, skipped %q", r.failed, r.skipped)
			}
		})
	}
}

// TestBinary_BuildsOnce: two calls for one package give one binary, built
// once (the second finds it in the cache).
func TestBinary_BuildsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	a, err := Binary("../../hack/testsummary")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Binary("../../hack/testsummary")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("two builds: %s and %s", a, b)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestPrune_RemovesOnlyUnusedBuilds(t *testing.T) {
	root := t.TempDir()
	now := time.Now()
	for name, age := range map[string]time.Duration{"old": 7 * time.Hour, "recent": time.Hour} {
		dir := filepath.Join(root, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dir, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	prune(root, now.Add(-pruneAfter))
	if _, err := os.Stat(filepath.Join(root, "old")); err == nil {
		t.Error("a build unused for 7h was kept")
	}
	if _, err := os.Stat(filepath.Join(root, "recent")); err != nil {
		t.Errorf("a build used an hour ago was removed: %v", err)
	}
}

func TestEmbedded(t *testing.T) {
	for _, tt := range []struct {
		rel         string
		rootPackage bool
		want        bool
	}{
		{"phases/templates/cloud-init.yaml", false, true},
		{"providers/terraform/module/main.tf", false, true},
		{"phases/testdata/chart.tgz", false, false},
		{"phases/doc.md", false, false},
		{"Makefile", false, false},
		{"Makefile", true, true},
		{"README.md", true, false},
	} {
		if got := embedded(tt.rel, tt.rootPackage); got != tt.want {
			t.Errorf("embedded(%q, root package %v) = %v, want %v", tt.rel, tt.rootPackage, got, tt.want)
		}
	}
}

// TestSharedAzurite_EndsWithTheTestProcess: the shared Azurite of a test
// process that is killed (kill -9: no cleanup runs) stops, and its
// directory is removed; they used to outlive every test run.
func TestSharedAzurite_EndsWithTheTestProcess(t *testing.T) {
	if _, err := AzuriteBinary(); err != nil {
		Missing(t, "%v", err)
	}
	t.Parallel() // its own test process and Azurite
	helper := exec.Command(os.Args[0], "-test.run=^TestSharedAzuriteHelper$", "-test.v")
	helper.Env = append(os.Environ(), "K0RDENT_TESTENV_AZURITE_HELPER=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var port, dir string
	for sc := bufio.NewScanner(out); port == "" && sc.Scan(); {
		fmt.Sscanf(sc.Text(), "azurite %s %s", &port, &dir)
	}
	if port == "" {
		helper.Process.Kill()
		helper.Wait()
		t.Fatal("the helper printed no Azurite port")
	}
	helper.Process.Kill()
	helper.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, dialErr := net.Dial("tcp", "127.0.0.1:"+port)
		if dialErr == nil {
			c.Close()
		}
		_, statErr := os.Stat(dir)
		if dialErr != nil && os.IsNotExist(statErr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s after its test process was killed, Azurite on port %s answers: %v; its directory %s: %v", port, dialErr == nil, dir, statErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSharedAzuriteHelper is the test process of
// TestSharedAzurite_EndsWithTheTestProcess: it starts the shared Azurite,
// prints its port and directory, and waits to be killed.
func TestSharedAzuriteHelper(t *testing.T) {
	if os.Getenv("K0RDENT_TESTENV_AZURITE_HELPER") != "1" {
		t.Skip("helper process")
	}
	a := SharedAzurite(t)
	fmt.Printf("azurite %s %s\n", a.Port(), a.dir)
	time.Sleep(time.Minute)
}
