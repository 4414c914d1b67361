package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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
	az := testenv.SharedAzurite(t)
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

// Racing runs on one shared state: exactly one proceeds, the others exit
// 3 naming it; kill -9 of that one, and a resumed run from another
// process is refused while its lease lives, then takes over (journalled)
// and finishes the same run.
func TestBlobState_RacingRunsThenKillAndResume(t *testing.T) {
	// slow runs while the file hold exists (the racing runs), and
	// finishes at once when it is gone (the resumed run).
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
	killed := p.currentRun().Header.RunID
	winner.cmd.Process.Signal(syscall.SIGKILL)
	<-winner.done
	os.Remove(hold)

	if r := p.run("run", "--resume", "--yes"); r.code != 3 || !strings.Contains(r.stderr, "pid "+pid) {
		t.Fatalf("resume right after kill -9: want exit 3 naming pid %s (the lease lives on):\n%s", pid, r)
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		r := p.run("run", "--resume", "--yes")
		if r.code == 0 {
			break
		}
		if r.code != 3 || time.Now().After(deadline) {
			t.Fatalf("resume after the lease expired:\n%s", r)
		}
		time.Sleep(time.Second)
	}
	rf := p.currentRun()
	if rf.Header.RunID != killed || rf.Outcome != state.OutcomeSucceeded || len(rf.Takeovers) != 1 {
		t.Fatalf("resumed run %s: outcome %q, %d takeovers; want run %s succeeded with 1 takeover", rf.Header.RunID, rf.Outcome, len(rf.Takeovers), killed)
	}
	if rf.Takeovers[0].PID != winner.cmd.Process.Pid {
		t.Errorf("takeover journalled holder pid %d, want the killed %s", rf.Takeovers[0].PID, pid)
	}
	// Readers see the shared state from any process.
	if r := p.run("runs"); r.code != 0 || !strings.Contains(r.stdout, killed) {
		t.Errorf("runs on the shared state:\n%s", r)
	}
}
