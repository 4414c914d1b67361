package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// blobProject is a project whose state is in a fresh Azurite container
// (K0RDENT_STATE_URL), with a 15s lease.
type blobProject struct {
	*project
	cfg state.BlobConfig
	env []string
}

func newBlobProject(t *testing.T, config string) *blobProject {
	t.Helper()
	return newBlobProjectOn(t, testenv.SharedAzurite(t), config)
}

// newBlobProjectOn is newBlobProject on the Azurite az (a test that stops
// the store has its own).
func newBlobProjectOn(t *testing.T, az *testenv.AzuriteServer, config string) *blobProject {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := "e" + hex.EncodeToString(b[:])
	cc, err := container.NewClientFromConnectionString(az.ConnectionString(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Create(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	cfg := state.BlobConfig{Account: testenv.AzuriteAccount, Container: name, Prefix: "prod",
		ConnectionString: az.ConnectionString(), LeasePeriod: 15 * time.Second}
	return &blobProject{project: newProject(t, config), cfg: cfg, env: []string{
		"K0RDENT_STATE_URL=" + cfg.URL(), "AZURE_STORAGE_CONNECTION_STRING=" + az.ConnectionString(), "K0RDENT_STATE_LEASE=15s"}}
}

func (p *blobProject) start(args ...string) *started {
	p.t.Helper()
	c := p.cmd(args...)
	c.Env = append(c.Env, p.env...)
	out, err := c.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	s := &started{cmd: c, lines: make(chan string, 100), stderr: &strings.Builder{}, done: make(chan error, 1)}
	c.Stderr = s.stderr
	if err := c.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { c.Process.Kill() })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		s.done <- c.Wait()
	}()
	return s
}

func (p *blobProject) run(args ...string) result {
	p.t.Helper()
	c := p.cmd(args...)
	c.Env = append(c.Env, p.env...)
	return run(p.t, c)
}

// store opens the container as another process would; it is closed when
// the test ends.
func (p *blobProject) store() *state.Store {
	p.t.Helper()
	b, err := state.NewBlobBackend(context.Background(), p.cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { b.Close() })
	return state.OpenStore(b)
}

// blobs downloads every blob of the container, by name.
func (p *blobProject) blobs() map[string][]byte {
	p.t.Helper()
	ctx := context.Background()
	cc, err := container.NewClientFromConnectionString(p.cfg.ConnectionString, p.cfg.Container, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	out := map[string][]byte{}
	pager := cc.NewListBlobsFlatPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			p.t.Fatal(err)
		}
		for _, it := range page.Segment.BlobItems {
			resp, err := cc.NewBlobClient(*it.Name).DownloadStream(ctx, nil)
			if err != nil {
				p.t.Fatalf("download %s: %v", *it.Name, err)
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				p.t.Fatalf("download %s: %v", *it.Name, err)
			}
			out[*it.Name] = data
		}
	}
	return out
}

// currentRun loads the current run from the container.
func (p *blobProject) currentRun() *state.RunFile {
	p.t.Helper()
	b, err := state.NewBlobBackend(context.Background(), p.cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	defer b.Close()
	store := state.OpenStore(b)
	rt, err := store.ReadRuntime()
	if err != nil {
		p.t.Fatalf("read runtime: %v", err)
	}
	rf, err := store.Load(rt.CurrentRunID)
	if err != nil || rf.Err != nil {
		p.t.Fatalf("load current run %s: %v %v", rt.CurrentRunID, err, rf.Err)
	}
	return rf
}

// A remote state's local copies (the secrets, such as the SSH key, and
// the work directories) live in a private temporary directory only while
// a command runs: run, status --check, runs and status leave nothing in
// TMPDIR (they used to leave every secret behind).
func TestBlobState_LeavesNoLocalCopies(t *testing.T) {
	t.Parallel()
	p := newBlobProject(t, baseConfig+"phases:\n  - name: a\n    command: [\"true\"]\n")
	tmp := t.TempDir()
	p.env = append(p.env, "TMPDIR="+tmp)
	for _, args := range [][]string{{"run", "--yes"}, {"status", "--check"}, {"runs"}, {"status"}} {
		if r := p.run(args...); r.code != 0 {
			t.Fatalf("k0rdent %s: want exit 0\n%s", strings.Join(args, " "), r)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("after k0rdent %s, TMPDIR holds %v; want nothing", strings.Join(args, " "), left)
		}
	}
}

// Racing runs on one shared state: exactly one proceeds, the others exit
// 3 naming it and write nothing; the one that proceeds finishes.
func TestBlobState_RacingRuns(t *testing.T) {
	t.Parallel()
	// slow runs while the file hold exists.
	dir := t.TempDir()
	hold := filepath.Join(dir, "hold")
	os.WriteFile(hold, nil, 0o644)
	p := newBlobProject(t, baseConfig+fmt.Sprintf("phases:\n  - name: slow\n    command: [sh, -c, %q]\n  - name: after\n    command: [\"true\"]\n    depends_on: [slow]\n",
		"echo started; while [ -e "+hold+" ]; do sleep 0.2; done"))
	const n = 3
	ss := make([]*started, n)
	for i := range ss {
		ss[i] = p.start("run", "--yes")
	}
	// Every run but one exits 3; the one holding the lock runs on.
	exitedC := make(chan *started, n)
	for _, s := range ss {
		go func() {
			err := <-s.done
			s.done <- err
			exitedC <- s
		}()
	}
	done := map[*started]bool{}
	timeout := time.After(60 * time.Second)
	for len(done) < n-1 {
		select {
		case s := <-exitedC:
			err := <-s.done
			s.done <- err
			code := 0
			if err != nil {
				code = exitCode(t, err)
			}
			if code != 3 {
				t.Fatalf("a racing run exited %d, want 3; stderr:\n%s", code, s.stderr)
			}
			done[s] = true
		case <-timeout:
			t.Fatalf("racing runs: %d of %d exited 3 within 60s", len(done), n-1)
		}
	}
	var winner *started
	for _, s := range ss {
		if !done[s] {
			winner = s
		}
	}
	winner.waitLine(t, "slow running")
	pid := strconv.Itoa(winner.cmd.Process.Pid)
	for _, s := range ss {
		if s != winner && !strings.Contains(s.stderr.String(), "pid "+pid) {
			t.Errorf("locked-out run does not name the holder pid %s:\n%s", pid, s.stderr)
		}
	}
	// The winner finishes once released; readers in other processes see
	// it (the kill -9 of a holder and the takeover after its lease:
	// TestBlobState_KillAtEveryTransitionThenTakeOver).
	os.Remove(hold)
	select {
	case err := <-winner.done:
		if err != nil {
			t.Fatalf("the run holding the lock: %v\n%s", err, winner.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the run holding the lock did not finish within 60s of its release")
	}
	rf := p.currentRun()
	if rf.Outcome != state.OutcomeSucceeded || len(rf.Takeovers) != 0 {
		t.Fatalf("the winner's run %s: outcome %q, %d takeovers; want succeeded, none", rf.Header.RunID, rf.Outcome, len(rf.Takeovers))
	}
	if ids, err := p.store().Backend().ListJournals(context.Background()); err != nil || len(ids) != 1 {
		t.Errorf("journals in the container: %v %v, want only the winner's (a locked-out run writes nothing)", ids, err)
	}
	if r := p.run("runs"); r.code != 0 || !strings.Contains(r.stdout, rf.Header.RunID) {
		t.Errorf("runs on the shared state:\n%s", r)
	}
}

// resumeAfterLease runs `run --resume --yes` until the dead holder's lease
// has expired and the run takes over: refused with exit 3 before that
// (naming the holder pid, when given), at most the lease period and 20s
// after killed. It returns the successful run's result.
func (p *blobProject) resumeAfterLease(killed time.Time, pid int) result {
	p.t.Helper()
	lease := p.cfg.LeasePeriod
	deadline := killed.Add(lease + 20*time.Second)
	// No use knocking before the lease can have expired.
	time.Sleep(time.Until(killed.Add(lease - time.Second)))
	for {
		r := p.run("run", "--resume", "--yes")
		if r.code == 0 {
			return r
		}
		if r.code != 3 || (pid != 0 && !strings.Contains(r.stderr, "pid "+strconv.Itoa(pid))) || time.Now().After(deadline) {
			p.t.Fatalf("resume after the holder died (lease %s): want exit 3 naming pid %d until the lease expires, then 0:\n%s", lease, pid, r)
		}
		time.Sleep(time.Second)
	}
}

// Issue 15 item 3 with the real binary on the blob backend: kill -9 of the
// lock holder at every transition of a small command-phase run (after the
// batch holding the n-th record is durable in the container). Another
// process is refused while the dead holder's lease lives (exit 3 naming
// it), then takes over: the takeover is journalled with the dead
// holder's pid, the same run finishes, every node ran, and only a node in
// flight at the kill ran twice. The kill points run at once (each has its
// own container), so the whole costs about one lease period.
func TestBlobState_KillAtEveryTransitionThenTakeOver(t *testing.T) {
	t.Parallel()
	const transitions = 6 // 2 nodes: running, process (its process group), succeeded each
	var names []string
	for n := 1; n <= transitions; n++ {
		names = append(names, fmt.Sprintf("KillAt%d", n))
	}
	atOnce(t, names, func(t *testing.T, i int) {
		n := i + 1
		side := filepath.Join(t.TempDir(), "side-effects")
		p := newBlobProject(t, baseConfig+fmt.Sprintf(`phases:
  - name: a
    command: [sh, -c, 'echo a >> %[1]s']
  - name: b
    command: [sh, -c, 'echo b >> %[1]s']
    depends_on: [a]
`, side))
		c := p.cmd("run")
		c.Env = append(c.Env, p.env...)
		c.Env = append(c.Env, "K0RDENT_TEST_KILL_AT="+strconv.Itoa(n))
		var out, errb strings.Builder
		c.Stdout, c.Stderr = &out, &errb
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		pid := c.Process.Pid
		err := c.Wait()
		killed := time.Now()
		if err == nil || exitCode(t, err) != 128+int(syscall.SIGKILL) {
			t.Fatalf("run with kill at %d: %v, want death by SIGKILL\n%s%s", n, err, out.String(), errb.String())
		}
		crashed := p.currentRun()
		if len(crashed.Records) < n {
			t.Fatalf("journal has %d records after the kill, want at least %d (each was durable before the kill)", len(crashed.Records), n)
		}
		inFlight := runningNodes(crashed)
		if r := p.run("run", "--resume", "--yes"); r.code != 3 || !strings.Contains(r.stderr, "pid "+strconv.Itoa(pid)) {
			t.Fatalf("resume right after the kill: want exit 3 naming pid %d (its lease lives on):\n%s", pid, r)
		}
		p.resumeAfterLease(killed, pid)
		rf := p.currentRun()
		if rf.Header.RunID != crashed.Header.RunID || rf.Outcome != state.OutcomeSucceeded {
			t.Errorf("after the takeover: run %s %q, want %s succeeded", rf.Header.RunID, rf.Outcome, crashed.Header.RunID)
		}
		if len(rf.Takeovers) != 1 || rf.Takeovers[0].PID != pid {
			t.Errorf("takeovers journalled: %+v, want one of the killed pid %d", rf.Takeovers, pid)
		}
		for i, rec := range crashed.Records { // nothing durable before the kill was lost or changed
			if got := rf.Records[i]; got.Seq != rec.Seq || got.Kind != rec.Kind || got.Node != rec.Node || got.To != rec.To {
				t.Errorf("record %d before the kill %+v is now %+v", i, rec, got)
			}
		}
		data, err := os.ReadFile(side)
		if err != nil {
			t.Fatal(err)
		}
		ranOnceUnlessInFlight(t, string(data), inFlight, "a", "b")
	})
}

// Issue 15 item 3: the store goes away mid-run (Azurite stopped while a
// node runs). The run fails when it next needs the store, with a message
// that says the store is unreachable and how to go on; the journal in the
// container keeps every record made durable before; once the store is
// back (and the dead run's lease has expired), a resumed run finishes the
// same run.
func TestBlobState_StoreStoppedMidRun(t *testing.T) {
	t.Parallel()
	az := testenv.Azurite(t) // its own: this test stops it
	hold := filepath.Join(t.TempDir(), "hold")
	os.WriteFile(hold, nil, 0o644)
	p := newBlobProjectOn(t, az, baseConfig+fmt.Sprintf("phases:\n  - name: slow\n    command: [sh, -c, %q]\n  - name: after\n    command: [\"true\"]\n    depends_on: [slow]\n",
		"echo started; while [ -e "+hold+" ]; do sleep 0.2; done"))
	s := p.start("--no-color", "run")
	s.waitLine(t, "slow running")
	before := p.currentRun()
	az.Stop()
	stopped := time.Now()
	os.Remove(hold)
	var err error
	select {
	case err = <-s.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the run did not end within 2 minutes of the store going away; stderr:\n%s", s.stderr)
	}
	code := 0
	if err != nil {
		code = exitCode(t, err)
	}
	msg := s.stderr.String()
	if code != 1 || !strings.Contains(msg, "unreachable") || !strings.Contains(msg, "run --resume") {
		t.Errorf("run with the store gone: exit %d, want 1 with a message saying the store is unreachable and the resume command:\n%s", code, msg)
	}
	if err := az.Start(); err != nil {
		t.Fatal(err)
	}
	after := p.currentRun()
	if after.Header.RunID != before.Header.RunID || after.Err != nil || after.Torn || len(after.Records) < len(before.Records) {
		t.Fatalf("journal after the outage: run %s, %v (torn %v), %d records; want run %s with the %d records made durable before", after.Header.RunID, after.Err, after.Torn, len(after.Records), before.Header.RunID, len(before.Records))
	}
	for i, rec := range before.Records { // nothing durable before the outage was lost or changed
		if got := after.Records[i]; got.Seq != rec.Seq || got.Kind != rec.Kind || got.Node != rec.Node || got.To != rec.To {
			t.Errorf("record %d before the outage %+v is now %+v", i, rec, got)
		}
	}
	p.resumeAfterLease(stopped, 0)
	rf := p.currentRun()
	if rf.Header.RunID != before.Header.RunID || rf.Outcome != state.OutcomeSucceeded || rf.Nodes["after"].State != workflow.Succeeded {
		t.Errorf("resumed run %s: outcome %q, after %s; want %s succeeded", rf.Header.RunID, rf.Outcome, rf.Nodes["after"].State, before.Header.RunID)
	}
}
