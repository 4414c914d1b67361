package state

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// realFixtureDir holds state left by the real bash tool, one folder per
// history, each with its ground truth in expect.json (see its README).
const realFixtureDir = "../../shared/fixtures/legacy-real"

// realExpect is expect.json.
type realExpect struct {
	Case        string   `json:"case"`
	LegacyFiles []string `json:"legacy_files"`
	ClusterID   string   `json:"cluster_id"`
	Peers       map[string]struct {
		IP           string `json:"ip"`
		PublicKey    string `json:"public_key"`
		PrivateKey   string `json:"private_key"`
		MigratedName string `json:"migrated_name"`
	} `json:"peers"`
	PrivateKeysAll  []string          `json:"private_keys_all"`
	OtherSecrets    map[string]string `json:"other_secrets"`
	WireGuardPort   string            `json:"wireguard_port"`
	ControllerCount int               `json:"controller_count"`
	WorkerCount     int               `json:"worker_count"`
	ExpectedRuns    int               `json:"expected_runs"`
	Runs            []struct {
		Nodes   map[string]string `json:"nodes"`
		Outcome string            `json:"outcome"`
	} `json:"runs"`
}

// ownFixtureDir holds histories of our own, in each release's real format,
// for what the real fixtures do not cover (same layout and expect.json).
const ownFixtureDir = "testdata/legacy-own"

// realCases lists the folders of realFixtureDir (the test is skipped when
// the shared fixtures are not beside the repository), then those of
// ownFixtureDir, as paths.
func realCases(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(realFixtureDir)
	if err != nil {
		t.Skipf("real legacy fixtures not found: %v", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, filepath.Join(realFixtureDir, e.Name()))
		}
	}
	own, err := os.ReadDir(ownFixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range own {
		if e.IsDir() {
			out = append(out, filepath.Join(ownFixtureDir, e.Name()))
		}
	}
	return out
}

// copyRealFixture copies <case>/project to a temporary project root.
func copyRealFixture(t testing.TB, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "project")
	dst := filepath.Join(t.TempDir(), "project")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy fixture %s: %v", dir, err)
	}
	return dst
}

func readRealExpect(t testing.TB, dir string) realExpect {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e realExpect
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("%s/expect.json: %v", dir, err)
	}
	return e
}

// stateMatches reports whether got is one of the "a|b" alternatives;
// "unfinished" means no decided state (pending, or left running).
func stateMatches(want, got string) bool {
	for _, w := range strings.Split(want, "|") {
		if w == got || w == "unfinished" && (got == "" || got == "pending" || got == "running") {
			return true
		}
	}
	return false
}

// realLegacyDest is where migration puts a legacy file named in
// expect.json (relative to the project root).
func realLegacyDest(rel string) string {
	if r, ok := strings.CutPrefix(rel, "state/"); ok {
		return "state/legacy/" + r
	}
	return "state/legacy/root/" + rel
}

func TestMigrate_RealFixtures(t *testing.T) {
	for _, dir := range realCases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want := readRealExpect(t, dir)
			project := copyRealFixture(t, dir)
			before := snapshot(t, project)
			s := NewStore(filepath.Join(project, "state"))

			// Item 5: before migrating, the directory is described truthfully.
			info, err := InspectLegacy(project, s.LocalBackend().Root())
			if err != nil {
				t.Fatalf("InspectLegacy: %v", err)
			}
			checkInspection(t, info, want)

			dry, err := s.Migrate(project, MigrateOptions{DryRun: true, Now: fixedNow})
			if err != nil {
				t.Fatalf("dry run: %v", err)
			}
			if d := diffTrees(before, snapshot(t, project)); d != "" {
				t.Fatalf("dry run changed the tree:\n%s", d)
			}
			s = lockStateStore(t, project)
			rep, err := s.Migrate(project, MigrateOptions{Now: fixedNow})
			if err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if got, wantN := len(rep.Actions), len(dry.Actions); got != wantN {
				t.Errorf("migration did %d actions, the dry run planned %d", got, wantN)
			}

			// Every legacy file moved byte for byte.
			after := snapshot(t, project)
			for _, rel := range want.LegacyFiles {
				dest := realLegacyDest(rel)
				if got, ok := after[dest]; !ok {
					t.Errorf("legacy file %s: not at %s after migration", rel, dest)
				} else if got.Data != before[rel].Data || got.Mode != before[rel].Mode {
					t.Errorf("legacy file %s -> %s: bytes or mode changed", rel, dest)
				}
				if _, still := after[rel]; still {
					t.Errorf("legacy file %s: still at its original place", rel)
				}
			}

			rt, err := s.ReadRuntime()
			if err != nil {
				t.Fatal(err)
			}
			if rt.ClusterID != want.ClusterID {
				t.Errorf("cluster id: got %q, want %q", rt.ClusterID, want.ClusterID)
			}
			checkRealRuns(t, s, rep, want)
			if want.ExpectedRuns > 0 {
				checkRealRuntime(t, s, project, rt, want)
			} else if rt.CurrentRunID != "" || rt.WireGuard != nil || rt.Legacy != nil {
				// A full reset left nothing deployed, and its service
				// principal was cleaned up.
				t.Errorf("runtime after a full reset: %+v, want nothing deployed", rt)
			}
			checkRealSecrets(t, project, rep, want)

			// Idempotent: a second migration has nothing to do.
			again, err := s.Migrate(project, MigrateOptions{Now: fixedNow})
			if err != nil || !again.Nothing {
				t.Errorf("second migration: nothing=%v err=%v", again != nil && again.Nothing, err)
			}
		})
	}
}

// checkRealRuns: one run per deployment_started (0.0.8: one), each
// node's state and the outcome as expect.json says, with real times.
func checkRealRuns(t *testing.T, s *Store, rep *MigrationReport, want realExpect) {
	t.Helper()
	if len(rep.Runs) != want.ExpectedRuns || len(want.Runs) != want.ExpectedRuns {
		t.Fatalf("runs: got %d, want %d", len(rep.Runs), want.ExpectedRuns)
	}
	if ids, err := s.runIDs(); err != nil || len(ids) != want.ExpectedRuns {
		t.Errorf("run files: %v (%v), want %d", ids, err, want.ExpectedRuns)
	}
	// The real times feed the plan's estimates.
	hist, err := s.History(20)
	if err != nil {
		t.Fatal(err)
	}
	for _, wr := range want.Runs {
		if wr.Nodes["k0s"] == "succeeded" && hist["k0s"] < time.Minute {
			t.Errorf("History: k0s estimate %s, want the legacy run's minutes", hist["k0s"])
		}
	}
	for i, wr := range want.Runs {
		r := rep.Runs[i]
		rf, err := s.Load(r.ID)
		if err != nil {
			t.Fatalf("run %d %s: %v", i+1, r.ID, err)
		}
		for node, ws := range wr.Nodes {
			got := string(rf.Nodes[node].State)
			if !stateMatches(ws, got) {
				t.Errorf("run %d (%s) node %s: got %q, want %s", i+1, r.ID, node, got, ws)
			}
		}
		outcome := string(rf.Outcome)
		if outcome == "" {
			outcome = "unfinished"
		}
		if !stateMatches(wr.Outcome, outcome) {
			t.Errorf("run %d (%s) outcome: got %q, want %s", i+1, r.ID, outcome, wr.Outcome)
		}
		// Timelines carry the events' real times: every node the run
		// itself ran (not reused from an earlier run) took time, and
		// none ends before the run started.
		for _, tl := range rf.Timeline() {
			if tl.Finished.Before(rf.Header.Created) {
				t.Errorf("run %d node %s finished %s, before the run started %s", i+1, tl.Node, tl.Finished, rf.Header.Created)
			}
		}
		for _, node := range []string{"k0s", "k0rdent"} {
			st := rf.Nodes[node]
			if st.State != "succeeded" || strings.Contains(st.Reason, "before this legacy run") {
				continue
			}
			for _, tl := range rf.Timeline() {
				if tl.Node == node && tl.Duration < time.Minute {
					t.Errorf("run %d node %s: duration %s, want the legacy events' (minutes)", i+1, node, tl.Duration)
				}
			}
		}
	}
}

// checkRealRuntime: runtime.yaml carries every fact that exists.
func checkRealRuntime(t *testing.T, s *Store, project string, rt *Runtime, want realExpect) {
	t.Helper()
	if rt.WireGuard == nil {
		t.Fatalf("runtime.yaml has no wireguard section")
	}
	if got := strconv.Itoa(rt.WireGuard.Port); got != want.WireGuardPort {
		t.Errorf("wireguard port: got %s, want %s", got, want.WireGuardPort)
	}
	peers := map[string]Peer{}
	roles := map[string]int{}
	for _, p := range rt.WireGuard.Peers {
		peers[p.Name] = p
		roles[p.Role]++
	}
	for name, wp := range want.Peers {
		if wp.MigratedName != "" {
			name = wp.MigratedName
		}
		p, ok := peers[name]
		if !ok {
			t.Errorf("peer %s missing from runtime.yaml", name)
			continue
		}
		if p.Address != wp.IP || p.PublicKey != wp.PublicKey {
			t.Errorf("peer %s: got %s %s, want %s %s", name, p.Address, p.PublicKey, wp.IP, wp.PublicKey)
		}
		key, err := os.ReadFile(filepath.Join(s.LocalBackend().SecretsPath(), "wireguard", name+".key"))
		if err != nil || strings.TrimSpace(string(key)) != wp.PrivateKey {
			t.Errorf("peer %s: private key in secrets/: %v (got %q)", name, err, strings.TrimSpace(string(key)))
		}
	}
	if len(peers) != len(want.Peers) {
		t.Errorf("runtime.yaml has %d peers, want %d", len(peers), len(want.Peers))
	}
	if roles["controller"] != want.ControllerCount || roles["worker"] != want.WorkerCount {
		t.Errorf("roles: got %d controllers, %d workers; want %d, %d", roles["controller"], roles["worker"], want.ControllerCount, want.WorkerCount)
	}
	var vms map[string]json.RawMessage
	if err := json.Unmarshal([]byte(rt.Terraform["vm_details"]), &vms); err != nil || len(vms) != want.ControllerCount+want.WorkerCount {
		t.Errorf("terraform vm_details: %d VMs (%v), want %d", len(vms), err, want.ControllerCount+want.WorkerCount)
	}
	// The VPN was never checked by us.
	if rt.VPN == nil || rt.VPN.Status != VPNUnverified || !rt.VPN.Checked.IsZero() {
		t.Errorf("vpn: got %+v, want unverified with no check time", rt.VPN)
	}
	// The SSH key, copied under secrets/, for every release.
	legacyKey, err := os.ReadFile(filepath.Join(project, "azure-resources", want.ClusterID+"-ssh-key"))
	if err != nil {
		t.Fatal(err)
	}
	for what, p := range map[string]string{"terraform.ssh_key_path": rt.Terraform["ssh_key_path"], "legacy.ssh_key": legacySSHKey(rt)} {
		if !strings.HasPrefix(p, s.LocalBackend().SecretsPath()+string(filepath.Separator)) {
			t.Errorf("%s = %q, want a path under %s", what, p, s.LocalBackend().SecretsPath())
			continue
		}
		got, err := os.ReadFile(p)
		fi, _ := os.Stat(p)
		if err != nil || string(got) != string(legacyKey) || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s %s: not the legacy key with mode 0600 (%v)", what, p, err)
		}
	}
	// The kubeconfig, when k0s is done.
	kcLegacy := filepath.Join(project, "k0sctl-config", want.ClusterID+"-kubeconfig")
	last := want.Runs[len(want.Runs)-1]
	if last.Nodes["k0s"] == "succeeded" {
		got, err := os.ReadFile(rt.Kubeconfig)
		wantKC, _ := os.ReadFile(kcLegacy)
		if err != nil || string(got) != string(wantKC) || !strings.HasPrefix(rt.Kubeconfig, s.LocalBackend().SecretsPath()) {
			t.Errorf("kubeconfig %q: want a copy of %s under secrets/ (%v)", rt.Kubeconfig, kcLegacy, err)
		}
	}
	// The service principal a later plain run left behind is still known.
	if _, err := os.Stat(filepath.Join(project, "config", "azure-credentials.yaml")); err == nil {
		if rt.Legacy == nil || rt.Legacy.ServicePrincipal == nil || rt.Legacy.ServicePrincipal.ClientID == "" {
			t.Errorf("runtime.yaml does not carry the legacy service principal: %+v", rt.Legacy)
		}
	}
}

func legacySSHKey(rt *Runtime) string {
	if rt.Legacy == nil {
		return ""
	}
	return rt.Legacy.SSHKey
}

// checkRealSecrets: no secret value outside secrets/ and legacy/, and the
// report names the secret files left outside state/.
func checkRealSecrets(t *testing.T, project string, rep *MigrationReport, want realExpect) {
	t.Helper()
	secrets := append([]string(nil), want.PrivateKeysAll...)
	for _, v := range want.OtherSecrets {
		secrets = append(secrets, v)
	}
	text := rep.String()
	err := filepath.WalkDir(filepath.Join(project, "state"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(project, path)
		if strings.HasPrefix(rel, "state/secrets/") || strings.HasPrefix(rel, "state/legacy/") && rel != "state/legacy/MIGRATED" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, sec := range secrets {
			if strings.Contains(string(data), sec) {
				t.Errorf("%s holds a secret (%.6s…)", rel, sec)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range secrets {
		if strings.Contains(text, sec) {
			t.Errorf("the migration report shows a secret (%.6s…)", sec)
		}
	}
	for what := range want.OtherSecrets {
		_, file, ok := strings.Cut(what, "(")
		file = strings.TrimSuffix(file, ")")
		if ok && !slices.Contains(rep.SecretsLeft, file) {
			t.Errorf("report does not name %s, which holds the %s: %v", file, what, rep.SecretsLeft)
		}
	}
}

// checkInspection: item 5, what status and `run --plan` say before the
// migration.
func checkInspection(t *testing.T, info *LegacyInspection, want realExpect) {
	t.Helper()
	if info == nil {
		t.Fatal("InspectLegacy found nothing")
	}
	if !slices.Equal(info.Files, want.LegacyFiles) {
		t.Errorf("inspection files:\ngot  %v\nwant %v", info.Files, want.LegacyFiles)
	}
	if info.ClusterID != want.ClusterID || len(info.Runs) != want.ExpectedRuns {
		t.Errorf("inspection: cluster %q with %d runs, want %q with %d", info.ClusterID, len(info.Runs), want.ClusterID, want.ExpectedRuns)
	}
	var text strings.Builder
	if want.ExpectedRuns == 0 {
		if info.Latest != "none" || !strings.Contains(info.Run, "nothing was deployed") {
			t.Errorf("inspection after a full reset: latest %q, run %q", info.Latest, info.Run)
		}
		return
	}
	last := want.Runs[len(want.Runs)-1]
	unfinished := stateMatches(last.Outcome, "unfinished")
	if err := info.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	switch {
	case unfinished && (info.Latest != "unfinished" || !strings.Contains(info.Run, "resume")):
		t.Errorf("inspection of an unfinished deployment: latest %q, run %q", info.Latest, info.Run)
	case !unfinished && (info.Latest != "succeeded" || strings.Contains(info.Run, "resume")):
		t.Errorf("inspection of a finished deployment: latest %q, run %q", info.Latest, info.Run)
	}
	if info.WireGuard == nil || strconv.Itoa(info.WireGuard.Port) != want.WireGuardPort {
		t.Errorf("inspection keeps WireGuard %+v, want port %s", info.WireGuard, want.WireGuardPort)
	}
	for _, w := range []string{"not migrated yet", want.ClusterID, "k0rdent migrate will", "k0rdent run will"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("inspection text lacks %q:\n%s", w, text.String())
		}
	}
}

func TestStore_PreviewMigration(t *testing.T) {
	for _, dir := range realCases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want := readRealExpect(t, dir)
			if want.ExpectedRuns == 0 {
				t.Skip("nothing deployed: nothing to plan")
			}
			project := copyRealFixture(t, dir)
			before := snapshot(t, project)
			s := NewStore(filepath.Join(project, "state"))
			pv, err := s.PreviewMigration(project, filepath.Join(t.TempDir(), "preview"))
			if err != nil || pv == nil {
				t.Fatalf("PreviewMigration: %v, %v", pv, err)
			}
			if d := diffTrees(before, snapshot(t, project)); d != "" {
				t.Fatalf("the preview changed the project:\n%s", d)
			}
			prt, err := pv.ReadRuntime()
			if err != nil {
				t.Fatal(err)
			}
			s = lockStateStore(t, project)
			if _, err := s.Migrate(project, MigrateOptions{Now: fixedNow}); err != nil {
				t.Fatal(err)
			}
			rt, err := s.ReadRuntime()
			if err != nil {
				t.Fatal(err)
			}
			if prt.CurrentRunID != rt.CurrentRunID || prt.ClusterID != want.ClusterID || prt.CurrentOutcome != rt.CurrentOutcome {
				t.Errorf("preview runtime %s/%s/%s, migrated %s/%s/%s", prt.ClusterID, prt.CurrentRunID, prt.CurrentOutcome, rt.ClusterID, rt.CurrentRunID, rt.CurrentOutcome)
			}
			if again, err := s.PreviewMigration(project, filepath.Join(t.TempDir(), "p2")); err != nil || again != nil {
				t.Errorf("preview after the migration: %v, %v; want nothing", again, err)
			}
		})
	}
}

// The prepare step's events go with the run they prepared: before
// deployment_started up to 0.3.0, after it from 0.4.0 on.
func TestSplitLegacyRuns_PrepareStep(t *testing.T) {
	ev := func(a string) legacyEvent { return legacyEvent{Action: a} }
	tests := []struct {
		name string
		evs  []legacyEvent
		want []int // events per run
	}{
		{"Before0.4.0", []legacyEvent{ev("deployment_initialized"), ev("wireguard_keys_generated"), ev("cloud_init_generated"), ev("deployment_started"),
			ev("vpn_connected"), ev("deployment_completed"), ev("wireguard_ips_assigned"), ev("wireguard_keys_generated"), ev("cloud_init_generated"),
			ev("deployment_started"), ev("deployment_completed")}, []int{6, 5}},
		{"From0.4.0", []legacyEvent{ev("deployment_initialized"), ev("deployment_started"), ev("wireguard_keys_generated"), ev("cloud_init_generated"),
			ev("deployment_started"), ev("wireguard_keys_generated")}, []int{4, 2}},
		{"SideEventsStay", []legacyEvent{ev("wireguard_keys_generated"), ev("deployment_started"), ev("deployment_completed"),
			{Action: "azure_credentials_configured", Source: "azure-events.yaml"}, ev("cloud_init_generated"), ev("deployment_started")}, []int{4, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			for _, s := range splitLegacyRuns(tt.evs) {
				got = append(got, len(s.events))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("events per run: got %v, want %v", got, tt.want)
			}
		})
	}
}
