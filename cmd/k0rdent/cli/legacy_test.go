package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// realLegacyProject is a deployment left by the real bash tool 0.4.0,
// interrupted during k0sctl apply (../shared/fixtures/legacy-real).
func realLegacyProject(t *testing.T, name string) string {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("../../../../shared/fixtures/legacy-real", name, "project"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Skipf("real legacy fixtures not found: %v", err)
	}
	return src
}

// Before migrating, status and run --plan say what they found and what
// migrate and run will do; they change nothing.
func TestStatusAndPlan_LegacyOnlyDirectory(t *testing.T) {
	src := realLegacyProject(t, "v0.4.0-interrupted")
	e := newEnv(t, baseConfig)
	copyTree(t, src, ".")

	r := e.mustRun(0, "status")
	for _, want := range []string{"not migrated yet", "k0rdent-26r5wddq", "legacy runs   1, the latest unfinished",
		"not done      k0s, k0rdent", "port 36795, 4 peers (kept)", "k0rdent run will: migrate first, then offer to resume"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "nothing deployed") {
		t.Errorf("status says nothing is deployed:\n%s", r.stdout)
	}
	r = e.mustRun(0, "status", "-o", "json")
	var sv struct {
		LegacyFound *struct {
			ClusterID string   `json:"cluster_id"`
			Pending   []string `json:"pending"`
		} `json:"legacy_found"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sv); err != nil || sv.LegacyFound == nil || sv.LegacyFound.ClusterID != "k0rdent-26r5wddq" {
		t.Errorf("status -o json: %v\n%s", err, r.stdout)
	}

	r = e.mustRun(0, "run", "--plan")
	for _, want := range []string{"not migrated yet", "The plan below is of the migrated state", "Plan: resume run 20251205-"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("run --plan lacks %q:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Stat("state/deployment-state.yaml"); err != nil {
		t.Errorf("status or plan moved the legacy state: %v", err)
	}
	if _, err := os.Stat("state/runs"); err == nil {
		t.Errorf("status or plan wrote run files")
	}

	// After the migration, status says the VPN was never checked.
	e.mustRun(0, "migrate")
	r = e.mustRun(0, "status", "-o", "json")
	var after struct {
		VPN map[string]any `json:"vpn"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &after); err != nil || after.VPN["status"] != "unverified" {
		t.Fatalf("status -o json after migration: %v\n%s", err, r.stdout)
	}
	if _, ok := after.VPN["checked"]; ok {
		t.Errorf("a migrated VPN has a check time: %v", after.VPN)
	}
}
