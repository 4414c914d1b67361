package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

func TestParseLegacyTime(t *testing.T) {
	utc := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t.UTC()
	}
	tests := []struct {
		name, in string
		want     time.Time
	}{
		{"UTCISO", "2025-12-03T08:58:41Z", utc("2025-12-03T08:58:41Z")},
		{"Offset", "2025-12-03T10:58:41+02:00", utc("2025-12-03T08:58:41Z")},
		{"LocalPST", "2025-12-03 01:31:07 PST", utc("2025-12-03T09:31:07Z")},
		{"LocalCEST", "2025-07-03 12:00:00 CEST", utc("2025-07-03T10:00:00Z")},
		{"LocalLowerCase", "2025-07-03 12:00:00 utc", utc("2025-07-03T12:00:00Z")},
		{"NoZone", "2025-07-03 12:00:00", utc("2025-07-03T12:00:00Z")},
		{"UnknownZone", "2025-07-03 12:00:00 XYZT", time.Time{}},
		{"Garbage", "yesterday", time.Time{}},
		{"BadLocalDate", "2025-13-03 12:00:00 UTC", time.Time{}},
		{"Empty", "", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseLegacyTime(tt.in); !got.Equal(tt.want) {
				t.Errorf("parseLegacyTime(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseClusterIDFile(t *testing.T) {
	tests := []struct {
		name, in string
		suffix   bool
		want     string
	}{
		{"ClusterID", "k0rdent-q7m2x9ka\n", false, "k0rdent-q7m2x9ka"},
		{"Suffix", "  abcd1234 \n", true, "k0rdent-abcd1234"},
		{"SuffixAlreadyFull", "k0rdent-abcd1234", true, "k0rdent-abcd1234"},
		{"Empty", "\n", false, ""},
		{"Spaces", "k0rdent x", false, ""},
		{"Slash", "../etc", true, ""},
		{"TooLong", strings.Repeat("a", 65), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseClusterIDFile([]byte(tt.in), tt.suffix); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseLegacyState_Quirks(t *testing.T) {
	in := `
# comment
deployment_id: "k0rdent-x"
deployer: unknown
status: in_progress
deployment_flags: {azure_children: "true", kof: null}
config:
  wireguard_port: "41873"
  controller_count: 1
  worker_count: "2"
vm_states:
  k0s-controller: {public_ip: 20.1.2.3, state: Succeeded}
  k0s-controller-1: {public_ip: "20.9.9.9"}
wireguard_peers:
  mylaptop: &hub {ip: 10.0.0.1, role: hub, private_key: PRIV, public_key: PUB}
  copy: *hub
  broken: just-a-string
phases:
  prepare_deployment: true
  setup_network: {status: completed, updated_at: "2025-12-03T09:00:00Z"}
  not_a_phase: {status: completed}
artifacts:
  kubeconfig_file: {path: ./k.conf}
  nothing: {path: null}
k0s_cluster_deployed: "true"
k0rdent_installed: yes
`
	st, err := parseLegacyState([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if st.DeploymentID != "k0rdent-x" || st.Deployer != "" || !st.HasFlags || !st.AzureChildren || st.KOF {
		t.Errorf("header fields: %+v", st)
	}
	if st.WGPort != 41873 || st.WorkerCount != 2 {
		t.Errorf("port %d, workers %d; want 41873 and 2 from strings", st.WGPort, st.WorkerCount)
	}
	if len(st.VMs) != 1 || st.VMs[0].Name != "k0s-controller-1" || st.VMs[0].PublicIP != "20.1.2.3" {
		t.Errorf("VMs %+v: want k0s-controller renamed, the later duplicate dropped", st.VMs)
	}
	if len(st.Peers) != 3 || st.Peers[1].Name != "copy" || st.Peers[1].PrivateKey != "PRIV" || st.Peers[2].IP != "" {
		t.Errorf("peers %+v: want the alias followed and a non-map peer empty", st.Peers)
	}
	if st.Phases["prepare_deployment"].Status != legacyCompleted || st.Phases["setup_network"].UpdatedAt.IsZero() {
		t.Errorf("phases %+v", st.Phases)
	}
	if _, ok := st.Phases["not_a_phase"]; ok {
		t.Errorf("unknown phase kept")
	}
	if st.Artifacts["kubeconfig_file"] != "./k.conf" || len(st.Artifacts) != 1 {
		t.Errorf("artifacts %+v", st.Artifacts)
	}
	if !st.Bools["k0s_cluster_deployed"] || st.Bools["k0rdent_installed"] {
		t.Errorf("bools %+v: want the string \"true\" read, yes (not a bool here) false", st.Bools)
	}
	if st, err := parseLegacyState([]byte("deployment: {id: k0rdent-doc}\nphases: {install_k0s: true}\n")); err != nil ||
		st.DeploymentID != "k0rdent-doc" || st.Phases["install_k0s"].Status != legacyCompleted {
		t.Errorf("documented schema: %+v, %v", st, err)
	}
	for _, bad := range []string{"- a\n- b\n", "just text", "", "a: [unclosed"} {
		if _, err := parseLegacyState([]byte(bad)); err == nil {
			t.Errorf("parseLegacyState(%q): no error", bad)
		}
	}
}

func TestParseLegacyEvents(t *testing.T) {
	in := `
events:
  - {timestamp: "2025-12-03T09:00:02Z", action: phase_completed, message: 'Phase completed: prepare_deployment'}
  - {timestamp: "2025-12-03T09:00:03Z", action: phase_skipped, message: 'Phase skipped: install_azure_csi - Component not enabled', phase: install_azure_csi}
  - 42
  - {action: deployment_started, message: 'Deployment started with flags: azure-children=true, kof=false'}
`
	evs, err := parseLegacyEvents([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("got %d events, want 3 (the scalar dropped)", len(evs))
	}
	if evs[0].Phase != "prepare_deployment" {
		t.Errorf("phase from the message: got %q", evs[0].Phase)
	}
	if evs[1].skipReason() != "Component not enabled" {
		t.Errorf("skip reason %q", evs[1].skipReason())
	}
	if az, kof, ok := evs[2].startFlags(); !ok || !az || kof {
		t.Errorf("startFlags = %v %v %v, want true false true", az, kof, ok)
	}
	if _, _, ok := (legacyEvent{Message: "Deployment started"}).startFlags(); ok {
		t.Errorf("startFlags without flags: ok")
	}
	if _, _, ok := (legacyEvent{Message: "flags: kof=maybe"}).startFlags(); ok {
		t.Errorf("startFlags with a bad value: ok")
	}
	for _, in := range []string{"", "events: 3\n", "other: x\n"} {
		if evs, err := parseLegacyEvents([]byte(in)); err != nil || len(evs) != 0 {
			t.Errorf("parseLegacyEvents(%q) = %v, %v; want no events", in, evs, err)
		}
	}
	if _, err := parseLegacyEvents([]byte("- a\n")); err == nil {
		t.Errorf("a list: no error")
	}
}

func TestParseLegacySideFiles(t *testing.T) {
	az, err := parseLegacyAzure([]byte("azure_credentials_configured: true\nazure_client_id: abc\n"))
	if err != nil || !az.Configured || az.ClientID != "abc" {
		t.Errorf("azure: %+v %v", az, err)
	}
	kof, err := parseLegacyKOF([]byte("kof_mothership_installed: true\n"))
	if err != nil || !kof.MothershipInstalled || kof.RegionalInstalled {
		t.Errorf("kof: %+v %v", kof, err)
	}
	if _, err := parseLegacyAzure([]byte("[]")); err == nil {
		t.Errorf("azure list: no error")
	}
	if _, err := parseLegacyKOF([]byte("x")); err == nil {
		t.Errorf("kof scalar: no error")
	}
}

func TestNodeState(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := func(d int) phaseStat {
		return phaseStat{Status: legacyCompleted, Time: at.Add(time.Duration(d) * time.Minute)}
	}
	skip := phaseStat{Status: legacySkipped, Reason: "Component not enabled", Time: at.Add(time.Hour)}
	kof := migrateNodes[6]
	vpn := migrateNodes[2]
	tests := []struct {
		name       string
		node       migrateNode
		stats      map[string]phaseStat
		flagsKnown bool
		enabled    bool
		want       workflow.State
		wantReason string
		wantDone   time.Time
	}{
		{"AllCompleted", vpn, map[string]phaseStat{"setup_vpn": c(1), "connect_vpn": c(2)}, true, true, workflow.Succeeded, "", c(2).Time},
		{"InProgressNeverTrusted", vpn, map[string]phaseStat{"setup_vpn": c(1), "connect_vpn": {Status: legacyInProgress}}, true, true, workflow.Pending, "", time.Time{}},
		{"CoreAllSkipped", vpn, map[string]phaseStat{"setup_vpn": skip, "connect_vpn": skip}, true, true, workflow.Skipped, "disabled: Component not enabled", skip.Time},
		{"OptionalDisabled", kof, map[string]phaseStat{"install_azure_csi": c(1)}, true, false, workflow.Skipped, "disabled: not enabled in the legacy run", time.Time{}},
		{"OptionalEnabledPartly", kof, map[string]phaseStat{"install_azure_csi": c(1), "install_kof_mothership": {Status: legacyInProgress}, "install_kof_regional": skip}, true, true, workflow.Pending, "", time.Time{}},
		{"OptionalEnabledStaleSkips", kof, map[string]phaseStat{"install_azure_csi": skip, "install_kof_mothership": skip, "install_kof_regional": skip}, true, true, workflow.Pending, "", time.Time{}},
		{"OptionalAllDone", kof, map[string]phaseStat{"install_azure_csi": c(1), "install_kof_mothership": c(3), "install_kof_regional": c(2)}, true, true, workflow.Succeeded, "", c(3).Time},
		{"NoFlagsNoTrace", kof, map[string]phaseStat{}, false, false, workflow.Skipped, "disabled: the legacy run predates optional-phase flags and shows no trace of it", time.Time{}},
		{"NoFlagsSomeTrace", kof, map[string]phaseStat{"install_azure_csi": c(1)}, false, false, workflow.Pending, "", time.Time{}},
		{"NoFlagsAllSkipped", kof, map[string]phaseStat{"install_azure_csi": skip, "install_kof_mothership": skip, "install_kof_regional": skip}, false, false, workflow.Skipped, "disabled: Component not enabled", skip.Time},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason, done := nodeState(tt.node, tt.stats, tt.flagsKnown, tt.enabled)
			if got != tt.want || reason != tt.wantReason || !done.Equal(tt.wantDone) {
				t.Errorf("got %s %q %v, want %s %q %v", got, reason, done, tt.want, tt.wantReason, tt.wantDone)
			}
		})
	}
}

func TestApplyLegacyEvents(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cur := map[string]phaseStat{}
	applyLegacyEvents(cur, []legacyEvent{
		{Time: at, Action: "phase_completed", Phase: "install_k0s"},
		{Time: at, Action: "phase_completed", Phase: "no_such_phase"},
		{Time: at.Add(time.Minute), Action: "phase_skipped", Phase: "install_azure_csi", Message: "Phase skipped: install_azure_csi - Component not enabled"},
	})
	for _, p := range legacyPhaseSequence[:6] {
		if cur[p].Status != legacyCompleted {
			t.Errorf("%s: %q, want completed (implied by install_k0s)", p, cur[p].Status)
		}
	}
	if cur["install_k0rdent"].Status != "" || cur["install_azure_csi"].Reason != "Component not enabled" {
		t.Errorf("got %+v", cur)
	}
	applyLegacyEvents(cur, []legacyEvent{{Time: at.Add(2 * time.Minute), Action: "phase_reset", Phase: "connect_vpn"}})
	for _, p := range legacyPhaseSequence[4:] {
		if cur[p].Status != legacyPending {
			t.Errorf("%s: %q after reset of connect_vpn, want pending", p, cur[p].Status)
		}
	}
	if cur["setup_vpn"].Status != legacyCompleted {
		t.Errorf("setup_vpn reset too")
	}
}

func TestSplitLegacyRuns(t *testing.T) {
	evs := []legacyEvent{
		{Action: "deployment_initialized"},
		{Action: "deployment_started", Message: "flags: azure-children=false, kof=true"},
		{Action: "phase_completed"},
		{Action: "deployment_started"},
		{Action: "deployment_started"},
	}
	segs := splitLegacyRuns(evs)
	if len(segs) != 3 || len(segs[0].events) != 3 || !segs[0].flagsKnown || !segs[0].kof || segs[1].flagsKnown {
		t.Fatalf("got %d runs: %+v", len(segs), segs)
	}
	if got := splitLegacyRuns([]legacyEvent{{Action: "x"}}); len(got) != 1 || got[0].hasStart {
		t.Errorf("events without deployment_started: %+v", got)
	}
}

func TestLegacyRunID(t *testing.T) {
	start := time.Date(2025, 12, 3, 8, 58, 41, 0, time.UTC)
	a := legacyRunID("k0rdent-x", start, 0, "")
	if !ValidRunID(a) || !strings.HasPrefix(a, "20251203-085841-") {
		t.Fatalf("id %q", a)
	}
	if again := legacyRunID("k0rdent-x", start, 0, ""); again != a {
		t.Errorf("not deterministic: %q then %q", a, again)
	}
	// Same second as the previous run: the id still sorts after it.
	prev := "20251203-085841-fff0"
	if b := legacyRunID("k0rdent-x", start, 1, prev); b != "20251203-085841-fff1" {
		t.Errorf("same second after %s: got %q", prev, b)
	}
	if b := legacyRunID("k0rdent-x", start, 1, "20251203-085841-ffff"); !ValidRunID(b) || b == "20251203-085841-ffff" {
		t.Errorf("suffix exhausted: got %q", b)
	}
	if b := legacyRunID("k0rdent-x", start.Add(time.Second), 1, prev); !strings.HasPrefix(b, "20251203-085842-") {
		t.Errorf("next second: got %q", b)
	}
}

// Runs without times or with a clock that went back keep the legacy order
// in their ids.
func TestSynthesizeRuns_Order(t *testing.T) {
	t1 := time.Date(2025, 7, 1, 10, 0, 0, 0, time.UTC)
	in := &legacyInputs{ClusterID: "k0rdent-o", KeyFiles: map[string]string{}, Events: []legacyEvent{
		{Time: t1, Action: "deployment_started"},
		{Time: t1, Action: "deployment_started"},
		{Action: "deployment_started"},
		{Time: t1.Add(-time.Hour), Action: "deployment_started"},
	}}
	runs := synthesizeRuns(in, "/p")
	if len(runs) != 4 {
		t.Fatalf("%d runs", len(runs))
	}
	for i := 1; i < len(runs); i++ {
		if runs[i].ID <= runs[i-1].ID || runs[i].Start.Before(runs[i-1].Start) {
			t.Errorf("run %d (%s, %v) does not sort after run %d (%s, %v)", i, runs[i].ID, runs[i].Start, i-1, runs[i-1].ID, runs[i-1].Start)
		}
		if runs[i-1].SupersededBy != runs[i].ID {
			t.Errorf("run %d superseded by %q, want %s", i-1, runs[i-1].SupersededBy, runs[i].ID)
		}
	}
	if got := synthesizeRuns(&legacyInputs{State: &legacyState{}}, "/p"); len(got) != 1 || got[0].Start.Unix() != 0 {
		t.Errorf("state without any time: %+v", got)
	}
}

func TestSecretFileName(t *testing.T) {
	for in, want := range map[string]string{
		"mylaptop":         "mylaptop",
		"k0s-controller-1": "k0s-controller-1",
		"../etc/passwd":    "_._etc_passwd",
		"":                 "peer",
		".hidden":          "_hidden",
		"a b/c":            "a_b_c",
	} {
		if got := secretFileName(in); got != want {
			t.Errorf("secretFileName(%q) = %q, want %q", in, got, want)
		}
	}
	used := map[string]bool{}
	if a, b := uniqueName("x", used), uniqueName("x", used); a != "x" || b != "x-2" {
		t.Errorf("uniqueName: %q %q", a, b)
	}
}

func TestDetectLegacy(t *testing.T) {
	t.Run("Nothing", func(t *testing.T) {
		dir := t.TempDir()
		set, err := DetectLegacy(dir, filepath.Join(dir, "state"))
		if err != nil || set != nil {
			t.Errorf("got %+v, %v; want nil, nil", set, err)
		}
	})
	t.Run("BothPlaces", func(t *testing.T) {
		project := copyFixture(t, "v008-root-level")
		state := filepath.Join(project, "state")
		os.MkdirAll(filepath.Join(state, "legacy", "root"), 0o700)
		data, _ := os.ReadFile(filepath.Join(project, ".project-suffix"))
		os.WriteFile(filepath.Join(state, "legacy", "root", ".project-suffix"), data, 0o644)
		os.WriteFile(filepath.Join(state, "legacy", "root", "deployment-events.yaml"), []byte("moved: earlier\n"), 0o644)
		if err := os.Rename(filepath.Join(project, "deployment-events.yaml"), filepath.Join(state, "legacy", "root", "deployment-events.yaml")); err != nil {
			t.Fatal(err)
		}
		set, err := DetectLegacy(project, state)
		if err != nil {
			t.Fatal(err)
		}
		suffix, _ := set.Lookup("root/.project-suffix")
		events, _ := set.Lookup("root/deployment-events.yaml")
		if suffix.Moved || !events.Moved || events.Path() != events.Dest || suffix.Path() != suffix.Origin {
			t.Errorf("suffix %+v, events %+v", suffix, events)
		}
		if n := len(set.Pending()); n != 2 {
			t.Errorf("pending %d, want 2 (state file and suffix)", n)
		}
		if _, ok := set.Lookup("nope"); ok {
			t.Errorf("Lookup of an unknown name succeeded")
		}
	})
	t.Run("SymlinkIgnored", func(t *testing.T) {
		project := t.TempDir()
		os.Symlink("/etc/hostname", filepath.Join(project, ".clusterid"))
		set, err := DetectLegacy(project, filepath.Join(project, "state"))
		if err != nil || set != nil {
			t.Errorf("got %+v, %v; want a symlink ignored", set, err)
		}
	})
	t.Run("DirectoryConflict", func(t *testing.T) {
		project := copyFixture(t, "old-deployments")
		os.MkdirAll(filepath.Join(project, "state", "legacy", "root", "old_deployments"), 0o700)
		_, err := DetectLegacy(project, filepath.Join(project, "state"))
		var ce *LegacyConflictError
		if !errors.As(err, &ce) {
			t.Errorf("got %v, want a *LegacyConflictError", err)
		}
	})
}

// A legacy file that cannot be read is an error naming it, not a silent
// loss of history.
func TestLoadLegacy_Unreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		// root reads 0000 files; use a directory where a file is expected.
		project := t.TempDir()
		os.MkdirAll(filepath.Join(project, "wireguard", "mylaptop_privkey"), 0o755)
		os.WriteFile(filepath.Join(project, ".clusterid"), []byte("k0rdent-abc\n"), 0o644)
		set, err := DetectLegacy(project, filepath.Join(project, "state"))
		if err != nil {
			t.Fatal(err)
		}
		in, err := loadLegacy(set)
		if err != nil || len(in.KeyFiles) != 0 || in.ClusterID != "k0rdent-abc" {
			t.Errorf("got %+v, %v; want the directory skipped", in, err)
		}
		return
	}
	project := copyFixture(t, "v020-no-phases")
	path := filepath.Join(project, "state", "deployment-state.yaml")
	os.Chmod(path, 0)
	set, err := DetectLegacy(project, filepath.Join(project, "state"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loadLegacy(set); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("got %v, want an error naming %s", err, path)
	}
}

// FuzzLegacyState feeds arbitrary bytes to the legacy loaders and the
// whole mapping: nothing may panic, and whatever parses must map to run
// files whose records replay legally and carry no private key.
func FuzzLegacyState(f *testing.F) {
	_ = filepath.WalkDir(filepath.Join("testdata", "legacy"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, "want.yaml") {
			if data, err := os.ReadFile(path); err == nil {
				f.Add(data)
			}
		}
		return nil
	})
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("phases: {install_k0s: {status: completed}}\nevents: [{action: deployment_started}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &legacyInputs{KeyFiles: map[string]string{}}
		in.State, _ = parseLegacyState(data)
		in.Events, _ = parseLegacyEvents(data)
		in.Azure, _ = parseLegacyAzure(data)
		in.KOF, _ = parseLegacyKOF(data)
		parseClusterIDFile(data, true)
		if in.State != nil {
			in.ClusterID = in.State.DeploymentID
		}
		runs := synthesizeRuns(in, "/project")
		for i, r := range runs {
			var next time.Time
			if i+1 < len(runs) {
				next = runs[i+1].Start
			}
			raw, rf, err := encodeSynthRun(r, in.ClusterID, "fuzz.yaml", next)
			if err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
			back := decodeBytes(raw, "fuzz.yaml")
			if back.Err != nil || back.Torn || len(back.Records) != len(rf.Records) {
				t.Fatalf("run %d does not decode back: err %v, torn %v, %d records of %d", i, back.Err, back.Torn, len(back.Records), len(rf.Records))
			}
			if in.State != nil {
				for _, p := range in.State.Peers {
					// Real keys are 44 characters; shorter fuzzed ones
					// could match fixed text such as a reason.
					if len(p.PrivateKey) >= 40 && strings.Contains(string(raw), p.PrivateKey) && !publicFieldHolds(in.State, p.PrivateKey) {
						t.Fatalf("run %d holds the private key of %s", i, p.Name)
					}
				}
			}
		}
		for _, s := range legacySecrets(in) {
			if err := checkRelName(s.name); err != nil {
				t.Fatalf("secret name %q: %v", s.name, err)
			}
		}
	})
}

// publicFieldHolds reports whether a non-secret field of the state (which
// the run files may carry) contains s: fuzzed inputs can reuse one string
// as a private key and, say, a public key or a network.
func publicFieldHolds(st *legacyState, s string) bool {
	fields := []string{st.DeploymentID, st.Deployer, st.SourceConfigFile, st.Location, st.ResourceGroup, st.WGNetwork, st.KOFRegionalName}
	for _, p := range st.Peers {
		fields = append(fields, p.Name, p.IP, p.Role, p.PublicKey)
	}
	for _, vm := range st.VMs {
		fields = append(fields, vm.Name, vm.PublicIP, vm.PrivateIP, vm.State)
	}
	for k, v := range st.Artifacts {
		fields = append(fields, k, v)
	}
	for _, f := range fields {
		if strings.Contains(f, s) {
			return true
		}
	}
	return false
}

// BenchmarkSynthesizeRuns parses and maps an events file of 1,000 legacy
// runs (11 events each) and encodes every run file.
func BenchmarkSynthesizeRuns(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("events:\n")
	start := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 1000; i++ {
		t := start.Add(time.Duration(i) * time.Hour)
		fmt.Fprintf(&sb, "  - {timestamp: %q, action: deployment_started, message: 'Deployment started with flags: azure-children=false, kof=false'}\n", t.Format(time.RFC3339))
		for j, p := range legacyPhaseSequence[:7] {
			fmt.Fprintf(&sb, "  - {timestamp: %q, action: phase_completed, message: 'Phase completed: %s', phase: %s}\n", t.Add(time.Duration(j+1)*time.Minute).Format(time.RFC3339), p, p)
		}
		for _, p := range legacyPhaseSequence[7:10] {
			fmt.Fprintf(&sb, "  - {timestamp: %q, action: phase_skipped, message: 'Phase skipped: %s - Component not enabled', phase: %s}\n", t.Add(9*time.Minute).Format(time.RFC3339), p, p)
		}
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		evs, err := parseLegacyEvents(data)
		if err != nil {
			b.Fatal(err)
		}
		in := &legacyInputs{Events: evs, ClusterID: "k0rdent-bench", KeyFiles: map[string]string{}}
		runs := synthesizeRuns(in, "/project")
		if len(runs) != 1000 {
			b.Fatalf("%d runs", len(runs))
		}
		for _, r := range runs {
			if _, _, err := encodeSynthRun(r, in.ClusterID, "bench.yaml", time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	}
}
