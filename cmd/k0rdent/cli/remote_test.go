package cli_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
	"github.com/k0rdent/k0rdent-deploy/state"
)

// The commands against a remote store (--state-url, here through
// K0RDENT_STATE_URL): the state is in a fresh container of the test
// binary's Azurite, and nothing is read from or written to a local state
// directory.

// newRemoteEnv is newEnv with the state in a fresh Azurite container.
func newRemoteEnv(t *testing.T, config string) (*env, state.BlobConfig) {
	t.Helper()
	az := testenv.SharedAzurite(t)
	e := newEnv(t, config)
	var b [4]byte
	rand.Read(b[:])
	name := "cli" + hex.EncodeToString(b[:])
	cc, err := container.NewClientFromConnectionString(az.ConnectionString(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Create(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	cfg := state.BlobConfig{Account: testenv.AzuriteAccount, Container: name, Prefix: "team/prod",
		ConnectionString: az.ConnectionString(), LeasePeriod: 15 * time.Second}
	t.Setenv("K0RDENT_STATE_URL", cfg.URL())
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", az.ConnectionString())
	t.Setenv("K0RDENT_STATE_LEASE", "15s")
	return e, cfg
}

// blobStore opens the container as another process would.
func blobStore(t *testing.T, cfg state.BlobConfig) *state.Store {
	t.Helper()
	b, err := state.NewBlobBackend(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return state.OpenStore(b)
}

// noLocalState fails if a local state directory appeared in the project.
func noLocalState(t *testing.T) {
	t.Helper()
	if _, err := os.Lstat("state"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a local state directory appeared beside the config (%v): the state is remote", err)
	}
}

// TestRemote_RunStatusRunsShowReset: a failed run prints the resume
// command with the state URL (not a --state-dir made of it) and the failed
// node's log tail from the container; status, status -o json, runs and
// runs show read the container, and so does the completion of run ids;
// the resumed run finishes; status --check
// passes; reset journals its teardown there.
func TestRemote_RunStatusRunsShowReset(t *testing.T) {
	e, cfg := newRemoteEnv(t, commandConfig)
	e.write("fail-c", "")
	r := e.mustRun(1, "run")
	rt, err := blobStore(t, cfg).ReadRuntime()
	if err != nil || rt.CurrentRunID == "" {
		t.Fatalf("runtime in the container: %v %+v", err, rt)
	}
	id := rt.CurrentRunID
	wantResume := "k0rdent -c " + e.dir + "/k0rdent.yaml --state-url " + cfg.URL() + " run --resume"
	for _, want := range []string{wantResume, "c is broken", cfg.URL() + "/runs/" + id + "/c.log"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("failed run's report lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr+r.stdout, "--state-dir") {
		t.Errorf("a remote run names a --state-dir:\n%s", r)
	}

	st := e.mustRun(0, "status")
	for _, want := range []string{cfg.URL(), id + " (failed)", "command phase c: exit status 3"} {
		if !strings.Contains(st.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, st.stdout)
		}
	}
	var sj struct {
		StateDir     string `json:"state_dir"`
		CurrentRunID string `json:"current_run_id"`
		Nodes        []struct{ Node, State string }
	}
	if err := json.Unmarshal([]byte(e.mustRun(0, "status", "-o", "json").stdout), &sj); err != nil {
		t.Fatal(err)
	}
	if sj.StateDir != cfg.URL() || sj.CurrentRunID != id || len(sj.Nodes) == 0 {
		t.Errorf("status -o json: %+v, want state %s, run %s", sj, cfg.URL(), id)
	}
	if rs := e.mustRun(0, "runs"); !strings.Contains(rs.stdout, id) || !strings.Contains(rs.stdout, "failed") {
		t.Errorf("runs:\n%s", rs.stdout)
	}
	// Completion offers the container's run ids, not those of a local
	// directory left beside the config (as after `state push`).
	stale := "20200101-000000-0001"
	if err := os.MkdirAll("state/runs", 0o755); err != nil {
		t.Fatal(err)
	}
	e.write("state/runs/"+stale+".yaml", "")
	if c := e.mustRun(0, "__complete", "runs", "show", ""); !strings.Contains(c.stdout, id) || strings.Contains(c.stdout, stale) {
		t.Errorf("runs show <Tab> on a remote state: want %s, not the local %s:\n%s", id, stale, c.stdout)
	}
	os.RemoveAll("state")
	show := e.mustRun(0, "runs", "show", id)
	for _, want := range []string{"FAILED c", "| c is broken", "last ", cfg.URL() + "/runs/" + id + "/c.log"} {
		if !strings.Contains(show.stdout, want) {
			t.Errorf("runs show %s lacks %q (the log tail from the container):\n%s", id, want, show.stdout)
		}
	}

	os.Remove("fail-c")
	e.mustRun(0, "run", "--resume")
	if rf, err := blobStore(t, cfg).Load(id); err != nil || rf.Outcome != state.OutcomeSucceeded || rf.Attempt != 2 {
		t.Fatalf("resumed run in the container: %v, outcome %q", err, rf.Outcome)
	}
	e.mustRun(0, "status", "--check")

	e.mustRun(0, "reset", "--yes")
	ids, err := blobStore(t, cfg).Backend().ListJournals(context.Background())
	if err != nil || len(ids) != 2 {
		t.Fatalf("journals in the container after reset: %v %v, want the run and the teardown", ids, err)
	}
	td, err := blobStore(t, cfg).Load(ids[1])
	if err != nil || !td.Header.Teardown || td.Outcome != state.OutcomeSucceeded {
		t.Errorf("teardown %s in the container: %v %+v", ids[1], err, td)
	}
	if st := e.mustRun(0, "status"); !strings.Contains(st.stdout, "torn down") {
		t.Errorf("status after reset:\n%s", st.stdout)
	}
	noLocalState(t)
}

// TestRemote_StatusEmpty: a container with no run yet names the URL, not
// a directory.
func TestRemote_StatusEmpty(t *testing.T) {
	e, cfg := newRemoteEnv(t, baseConfig)
	if r := e.mustRun(0, "status"); !strings.Contains(r.stdout, "nothing deployed from "+cfg.URL()) {
		t.Errorf("status of an empty container:\n%s", r.stdout)
	}
	if r := e.mustRun(0, "runs"); !strings.Contains(r.stdout, "no runs in "+cfg.URL()) {
		t.Errorf("runs of an empty container:\n%s", r.stdout)
	}
	noLocalState(t)
}

// TestRemote_Operators: operators lists what the container's journals
// record; remove takes the lease (a live holder elsewhere: exit 3 naming
// it) and refuses an unknown operator; nothing of it touches a local
// state directory.
func TestRemote_Operators(t *testing.T) {
	e, cfg := newRemoteEnv(t, baseConfig)
	if r := e.mustRun(2, "operators", "remove", "bob@b"); !strings.Contains(r.stderr, "no run in "+cfg.URL()) {
		t.Errorf("remove with no run:\n%s", r)
	}
	id := journalOperators(t, blobStore(t, cfg))
	r := e.mustRun(0, "--operator", "bob@b", "operators")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "alice@a ") ||
		!strings.HasPrefix(lines[2], "bob@b (you)") || !strings.Contains(lines[2], id) {
		t.Errorf("operators from the container:\n%s", r.stdout)
	}

	// Another process holds the lease: remove is refused at once, naming it.
	other := blobStore(t, cfg)
	h := state.CurrentHolder("k0rdent run (elsewhere)")
	h.PID, h.Host = 4242, "ci-runner-7"
	l, _, err := other.Lock(h)
	if err != nil {
		t.Fatal(err)
	}
	r = e.mustRun(3, "--operator", "alice@a", "operators", "remove", "bob@b")
	for _, want := range []string{"state " + cfg.URL() + " is in use", "pid 4242", "ci-runner-7", "lease expires"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("remove under another's lease lacks %q:\n%s", want, r.stderr)
		}
	}
	l.Unlock()
	if r := e.mustRun(2, "--operator", "alice@a", "operators", "remove", "nobody@x"); !strings.Contains(r.stderr, "operators: alice@a, bob@b") {
		t.Errorf("remove of an unknown operator:\n%s", r)
	}
	rf, err := blobStore(t, cfg).Load(id)
	if err != nil || len(rf.Records) != 4 {
		t.Errorf("the run in the container changed: %v, %d records, want the 4 written", err, len(rf.Records))
	}
	noLocalState(t)
}

// TestRemote_StatusRunInProgressElsewhere: the current run's holder is a
// process on another machine (a live lease there): status says the run is
// in progress and where, which a pid check on this machine cannot tell.
func TestRemote_StatusRunInProgressElsewhere(t *testing.T) {
	e, cfg := newRemoteEnv(t, baseConfig)
	id := journalOperators(t, blobStore(t, cfg))
	h := state.CurrentHolder("k0rdent run --resume")
	h.RunID, h.PID, h.Host = id, 4242, "ci-runner-7"
	l, _, err := blobStore(t, cfg).Lock(h)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if r := e.mustRun(0, "status"); !strings.Contains(r.stdout, "in progress, pid 4242 on ci-runner-7") {
		t.Errorf("status while a run holds the lease elsewhere:\n%s", r.stdout)
	}
	var v struct {
		PID  int    `json:"in_progress_pid"`
		Host string `json:"in_progress_host"`
	}
	if err := json.Unmarshal([]byte(e.mustRun(0, "status", "-o", "json").stdout), &v); err != nil || v.PID != 4242 || v.Host != "ci-runner-7" {
		t.Errorf("status -o json in progress: %+v %v, want pid 4242 on ci-runner-7", v, err)
	}
	l.Unlock()
	if r := e.mustRun(0, "status"); strings.Contains(r.stdout, "in progress") {
		t.Errorf("status after the lease was released:\n%s", r.stdout)
	}
}
