package state

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// blobTestContainer creates a fresh container in az for one test and
// returns the config of a state in it (prefix "team/prod"), reaching
// Azurite at endpoint (az's, or a proxy in front of it).
func blobTestContainer(t testing.TB, az *testenv.AzuriteServer, endpoint string) BlobConfig {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := "t" + hex.EncodeToString(b[:])
	cc, err := container.NewClientFromConnectionString(az.ConnectionString(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Create(context.Background(), nil); err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
	return BlobConfig{
		Account: testenv.AzuriteAccount, Container: name, Prefix: "team/prod",
		ConnectionString: testenv.AzuriteConnectionString(endpoint),
		LeasePeriod:      15 * time.Second, TryTimeout: 5 * time.Second,
	}
}

func newBlobBackend(t testing.TB, cfg BlobConfig) *BlobBackend {
	t.Helper()
	b, err := NewBlobBackend(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// blobRecords encodes n transition records of node "k0s" from seq first.
func blobRecords(t testing.TB, first, n int) []byte {
	t.Helper()
	var out []byte
	for i := 0; i < n; i++ {
		st := workflow.Running
		from := workflow.Pending
		if first+i > 1 {
			from = workflow.Running
		}
		doc, err := encodeRecord(Record{Kind: KindTransition, Seq: uint64(first + i), Time: at(first + i),
			Node: "k0s", From: from, To: st, Attempt: first + i, Reason: "retry"})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, doc...)
	}
	return out
}

// loadBlobJournal downloads a journal and decodes it with the local
// reader (Decode).
func loadBlobJournal(t testing.TB, b *BlobBackend, id string) *RunFile {
	t.Helper()
	jr, err := b.ReadJournal(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	rf, err := Decode(io.NewSectionReader(jr, 0, jr.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return rf
}

const blobRunID = "20261203-180000-0001"

func TestBlobBackend_JournalLoadsWithLocalReader(t *testing.T) {
	az := testenv.SharedAzurite(t)
	b := newBlobBackend(t, blobTestContainer(t, az, az.Endpoint()))
	ctx := context.Background()
	hdr, err := encodeHeader(testHeader(blobRunID))
	if err != nil {
		t.Fatal(err)
	}
	j, err := b.CreateJournal(ctx, blobRunID, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateJournal(ctx, blobRunID, hdr); err == nil || !strings.Contains(err.Error(), "never reused") {
		t.Fatalf("second CreateJournal: got %v, want an error saying run ids are never reused", err)
	}
	if err := j.Append(ctx, blobRecords(t, 1, 3)); err != nil { // a batch
		t.Fatal(err)
	}
	if err := j.Append(ctx, blobRecords(t, 4, 1)); err != nil {
		t.Fatal(err)
	}
	rf := loadBlobJournal(t, b, blobRunID)
	if rf.Err != nil || rf.Torn || len(rf.Records) != 4 || rf.Header.RunID != blobRunID {
		t.Fatalf("loaded: err %v torn %v records %d header %q; want 4 records, no error", rf.Err, rf.Torn, len(rf.Records), rf.Header.RunID)
	}
	if got := rf.Size; got != j.Size() {
		t.Errorf("decoded size %d, journal size %d", got, j.Size())
	}
	ids, err := b.ListJournals(ctx)
	if err != nil || len(ids) != 1 || ids[0] != blobRunID {
		t.Fatalf("ListJournals = %v, %v; want [%s]", ids, err, blobRunID)
	}
	// Reopened, it appends at the end.
	j2, err := b.OpenJournal(ctx, blobRunID)
	if err != nil {
		t.Fatal(err)
	}
	if j2.Size() != j.Size() {
		t.Fatalf("reopened size %d, want %d", j2.Size(), j.Size())
	}
	if _, err := b.OpenJournal(ctx, "20261203-180000-0002"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OpenJournal of a missing run: got %v, want ErrNotFound", err)
	}
}

// Two writers of one journal never interleave: the second, whose idea of
// the end is stale, is refused and writes nothing.
func TestBlobJournal_TwoWritersNeverInterleave(t *testing.T) {
	az := testenv.SharedAzurite(t)
	cfg := blobTestContainer(t, az, az.Endpoint())
	b1, b2 := newBlobBackend(t, cfg), newBlobBackend(t, cfg)
	ctx := context.Background()
	hdr, _ := encodeHeader(testHeader(blobRunID))
	j1, err := b1.CreateJournal(ctx, blobRunID, hdr)
	if err != nil {
		t.Fatal(err)
	}
	j2, err := b2.OpenJournal(ctx, blobRunID)
	if err != nil {
		t.Fatal(err)
	}
	if err := j1.Append(ctx, blobRecords(t, 1, 1)); err != nil {
		t.Fatal(err)
	}
	// A different record at the same place (the same bytes would be
	// indistinguishable from j2's own append whose response was lost).
	err = j2.Append(ctx, blobRecords(t, 2, 1))
	if err == nil || !strings.Contains(err.Error(), "another process appended") {
		t.Fatalf("stale writer: got %v, want a refusal naming another writer", err)
	}
	rf := loadBlobJournal(t, b1, blobRunID)
	if rf.Err != nil || len(rf.Records) != 1 {
		t.Fatalf("after the refused append: err %v, %d records; want 1", rf.Err, len(rf.Records))
	}
}

// cutProxy forwards TCP to target. Armed with cutAfter(n), it closes the
// next connection that sends more than n request bytes after arming, at
// n bytes (a torn request). Armed with dropResponse, it forwards the next
// request whole and closes the connection at the first response byte
// (the request was carried out, the client never learns it).
type cutProxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	cut       int64 // bytes left before the cut; -1 unarmed
	drop      bool
	cuts      int
	dropsDone int
}

func newCutProxy(t testing.TB, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, cut: -1}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cutProxy) endpoint() string {
	return "http://" + p.ln.Addr().String() + "/" + testenv.AzuriteAccount
}

func (p *cutProxy) cutAfter(n int64) {
	p.mu.Lock()
	p.cut, p.drop = n, false
	p.mu.Unlock()
}

func (p *cutProxy) dropResponse() {
	p.mu.Lock()
	p.cut, p.drop = -1, true
	p.mu.Unlock()
}

func (p *cutProxy) serve(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	closeBoth := func() { c.Close(); s.Close() }
	var sentRequest atomic.Bool
	go func() { // client -> server, cut after the armed count
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				p.mu.Lock()
				chunk := buf[:n]
				cutNow := false
				if p.cut >= 0 {
					if int64(n) > p.cut {
						chunk = buf[:p.cut]
						cutNow = true
						p.cut = -1
						p.cuts++
					} else {
						p.cut -= int64(n)
					}
				}
				if p.drop {
					sentRequest.Store(true)
				}
				p.mu.Unlock()
				s.Write(chunk)
				if cutNow {
					closeBoth()
					return
				}
			}
			if err != nil {
				closeBoth()
				return
			}
		}
	}()
	buf := make([]byte, 4096)
	for { // server -> client
		n, err := s.Read(buf)
		if n > 0 {
			p.mu.Lock()
			if p.drop && sentRequest.Load() {
				p.drop = false
				p.dropsDone++
				p.mu.Unlock()
				closeBoth()
				return
			}
			p.mu.Unlock()
			c.Write(buf[:n])
		}
		if err != nil {
			closeBoth()
			return
		}
	}
}

// A request cut at any byte never leaves a journal that loads wrong: the
// append is whole or absent, never torn, never doubled.
func TestBlobJournal_TornAppend(t *testing.T) {
	az := testenv.SharedAzurite(t)
	proxy := newCutProxy(t, "127.0.0.1:"+az.Port())
	b := newBlobBackend(t, blobTestContainer(t, az, proxy.endpoint()))
	ctx := context.Background()
	hdr, _ := encodeHeader(testHeader(blobRunID))
	j, err := b.CreateJournal(ctx, blobRunID, hdr)
	if err != nil {
		t.Fatal(err)
	}
	seq := 1
	// Cut points through the request line, the headers and the body of
	// the Append Block request.
	for _, n := range []int64{0, 1, 20, 100, 300, 600, 900, 1200} {
		rec := blobRecords(t, seq, 1)
		proxy.cutAfter(n)
		err := j.Append(ctx, rec)
		proxy.cutAfter(-1)
		rf := loadBlobJournal(t, b, blobRunID)
		if rf.Err != nil || rf.Torn {
			t.Fatalf("cut at %d: journal loads with err %v torn %v", n, rf.Err, rf.Torn)
		}
		want := seq - 1
		if err == nil {
			want = seq
			seq++
		}
		if len(rf.Records) != want {
			t.Fatalf("cut at %d (append err %v): %d records, want %d", n, err, len(rf.Records), want)
		}
		if j.Size() != rf.Size {
			t.Fatalf("cut at %d: writer's size %d, journal %d", n, j.Size(), rf.Size)
		}
	}
	if proxy.cuts == 0 {
		t.Fatal("the proxy cut no request: the test tested nothing")
	}
}

// A lost response (the append happened, the client saw the connection
// drop) is detected by reading the length back, not appended twice.
func TestBlobJournal_LostResponseNotDuplicated(t *testing.T) {
	az := testenv.SharedAzurite(t)
	proxy := newCutProxy(t, "127.0.0.1:"+az.Port())
	b := newBlobBackend(t, blobTestContainer(t, az, proxy.endpoint()))
	ctx := context.Background()
	hdr, _ := encodeHeader(testHeader(blobRunID))
	j, err := b.CreateJournal(ctx, blobRunID, hdr)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		proxy.dropResponse()
		if err := j.Append(ctx, blobRecords(t, i, 1)); err != nil {
			t.Fatalf("append %d with its response lost: %v (the append happened: reconcile should see it)", i, err)
		}
	}
	if proxy.dropsDone != 3 {
		t.Fatalf("the proxy dropped %d responses, want 3", proxy.dropsDone)
	}
	rf := loadBlobJournal(t, b, blobRunID)
	if rf.Err != nil || rf.Torn || len(rf.Records) != 3 {
		t.Fatalf("journal: err %v torn %v, %d records; want exactly 3", rf.Err, rf.Torn, len(rf.Records))
	}
}

func TestBlobBackend_RuntimeETag(t *testing.T) {
	az := testenv.SharedAzurite(t)
	cfg := blobTestContainer(t, az, az.Endpoint())
	b1, b2 := newBlobBackend(t, cfg), newBlobBackend(t, cfg)
	ctx := context.Background()
	if _, err := b1.ReadRuntime(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadRuntime of an empty store: %v, want ErrNotFound", err)
	}
	if err := b1.WriteRuntime(ctx, []byte("a: 1\n")); err != nil {
		t.Fatal(err)
	}
	if err := b1.WriteRuntime(ctx, []byte("a: 2\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := b2.ReadRuntime(ctx); err != nil || string(got) != "a: 2\n" {
		t.Fatalf("b2 reads %q, %v", got, err)
	}
	if err := b2.WriteRuntime(ctx, []byte("a: 3\n")); err != nil {
		t.Fatal(err)
	}
	// b1's ETag is stale now: its write is refused, b2's stays.
	err := b1.WriteRuntime(ctx, []byte("a: stale\n"))
	if err == nil || !strings.Contains(err.Error(), "ETag") {
		t.Fatalf("stale write: got %v, want the ETag refusal", err)
	}
	if got, _ := b2.ReadRuntime(ctx); string(got) != "a: 3\n" {
		t.Fatalf("after the refused write: %q, want b2's", got)
	}
}

func TestBlobBackend_LockHolderAndProbe(t *testing.T) {
	az := testenv.SharedAzurite(t)
	cfg := blobTestContainer(t, az, az.Endpoint())
	a, b := newBlobBackend(t, cfg), newBlobBackend(t, cfg)
	ctx := context.Background()
	h := Holder{RunID: blobRunID, PID: 4242, Host: "laptop-a", User: "alice", Command: "k0rdent run", Started: t0}
	la, prev, err := a.Lock(ctx, h)
	if err != nil || prev != nil {
		t.Fatalf("first Lock: %v, prev %v", err, prev)
	}
	_, _, err = b.Lock(ctx, CurrentHolder("k0rdent run"))
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.PID != 4242 || le.Holder.Host != "laptop-a" || !strings.Contains(err.Error(), "pid 4242") {
		t.Fatalf("second Lock: got %v, want a LockedError naming pid 4242 on laptop-a", err)
	}
	if err := b.Probe(ctx); !errors.Is(err, ErrLocked) {
		t.Fatalf("Probe while held: %v, want ErrLocked", err)
	}
	if got, err := b.ReadHolder(ctx); err != nil || got == nil || *got != h {
		t.Fatalf("ReadHolder = %+v, %v; want %+v", got, err, h)
	}
	if err := la.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := la.Unlock(ctx); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
	if err := b.Probe(ctx); err != nil {
		t.Fatalf("Probe after Unlock: %v", err)
	}
	lb, prev, err := b.Lock(ctx, CurrentHolder("k0rdent run"))
	if err != nil || prev != nil {
		t.Fatalf("Lock after a clean Unlock: %v, prev %+v (want no takeover)", err, prev)
	}
	lb.Unlock(ctx)
}

func TestBlobBackend_SecretsMaterialisedPrivately(t *testing.T) {
	az := testenv.SharedAzurite(t)
	b := newBlobBackend(t, blobTestContainer(t, az, az.Endpoint()))
	ctx := context.Background()
	if err := b.PutSecret(ctx, "ssh/id_ed25519", []byte("PRIVATE")); err != nil {
		t.Fatal(err)
	}
	dir, err := b.SecretsDir(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, dir + "/ssh": 0o700, dir + "/ssh/id_ed25519": 0o600} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v mode %v, want %v", p, err, fi.Mode().Perm(), want)
		}
	}
	if err := os.WriteFile(dir+"/kubeconfig", []byte("KUBE"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(dir + "/ssh/id_ed25519")
	if err := b.SaveSecrets(ctx); err != nil {
		t.Fatal(err)
	}
	if names, err := b.ListSecrets(ctx); err != nil || strings.Join(names, ",") != "kubeconfig" {
		t.Fatalf("ListSecrets = %v, %v; want [kubeconfig]", names, err)
	}
	// Apart from journals and logs.
	m, err := b.list(ctx, RunsDirName)
	if err != nil || len(m) != 0 {
		t.Fatalf("runs/ holds %v", m)
	}
	b.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("secrets dir after Close: %v, want removed", err)
	}
}

// ---- processes ----

// TestBlobHelperProcess is not a test: the tests below run the test binary
// again as a k0rdent-like process on the blob state (STATE_BLOB_HELPER):
//
//	lock  take the lock, print "locked <pid>", create a run, append a
//	      record every 100ms, until stdin closes or it is killed; exit 3
//	      printing the error if the lock is held
func TestBlobHelperProcess(t *testing.T) {
	if os.Getenv("STATE_BLOB_HELPER") == "" {
		t.Skip("helper process")
	}
	cfg, err := ParseStateURL(os.Getenv("STATE_BLOB_URL"))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	cfg.ConnectionString = os.Getenv("AZURE_STORAGE_CONNECTION_STRING")
	cfg.LeasePeriod = 15 * time.Second
	cfg.TryTimeout = 5 * time.Second
	ctx := context.Background()
	b, err := NewBlobBackend(ctx, cfg)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	l, _, err := b.Lock(ctx, CurrentHolder("helper lock"))
	if errors.Is(err, ErrLocked) {
		fmt.Println("locked-out", err)
		os.Exit(3)
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("locked", os.Getpid())
	hdr, _ := encodeHeader(testHeader(blobRunID))
	j, err := b.CreateJournal(ctx, blobRunID, hdr)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	stdin := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stdin) }()
	for i := 1; ; i++ {
		if err := j.Append(ctx, blobRecords(t, i, 1)); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		if i == 1 {
			fmt.Println("appending")
		}
		select {
		case <-stdin:
			l.Unlock(ctx)
			os.Exit(0)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type blobHelper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	out   strings.Builder
}

func startBlobHelper(t *testing.T, cfg BlobConfig) *blobHelper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBlobHelperProcess$")
	cmd.Env = append(os.Environ(), "STATE_BLOB_HELPER=lock", "STATE_BLOB_URL="+cfg.URL(),
		"AZURE_STORAGE_CONNECTION_STRING="+cfg.ConnectionString)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &blobHelper{cmd: cmd, stdin: stdin, lines: make(chan string, 100)}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	return h
}

// expect waits for a line starting with prefix and returns it.
func (h *blobHelper) expect(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				t.Fatalf("helper ended before %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
			if strings.HasPrefix(l, "error") || strings.HasPrefix(l, "locked") {
				t.Fatalf("helper said %q, want %q", l, prefix)
			}
		case <-timeout:
			t.Fatalf("no %q from the helper within 60s", prefix)
		}
	}
}

// Racing processes: exactly one takes the lock, the others exit 3 naming
// it.
func TestBlobLock_RacingProcesses(t *testing.T) {
	t.Parallel() // its own container and processes
	az := testenv.SharedAzurite(t)
	cfg := blobTestContainer(t, az, az.Endpoint())
	const n = 4
	hs := make([]*blobHelper, n)
	for i := range hs {
		hs[i] = startBlobHelper(t, cfg)
	}
	var winner *blobHelper
	var winnerPID string
	var lockedOut []string
	for _, h := range hs {
		l, ok := <-h.lines
		if !ok {
			t.Fatal("a helper said nothing")
		}
		switch {
		case strings.HasPrefix(l, "locked "):
			if winner != nil {
				t.Fatalf("two processes took the lock: %s and %s", winnerPID, l)
			}
			winner, winnerPID = h, strings.TrimPrefix(l, "locked ")
		case strings.HasPrefix(l, "locked-out"):
			lockedOut = append(lockedOut, l)
			err := h.cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 3 {
				t.Fatalf("locked-out helper exited %v, want 3", err)
			}
		default:
			t.Fatalf("helper said %q", l)
		}
	}
	if winner == nil {
		t.Fatalf("no process took the lock: %v", lockedOut)
	}
	for _, l := range lockedOut {
		if !strings.Contains(l, "pid "+winnerPID) {
			t.Errorf("locked-out message %q does not name the holder pid %s", l, winnerPID)
		}
	}
	winner.stdin.Close()
	if err := winner.cmd.Wait(); err != nil {
		t.Fatalf("winner: %v", err)
	}
}

// kill -9 of the holder while it appends: another process is refused
// while the lease lives, takes over once it expires (the dead holder's
// record returned for the journal), and resumes the journal, which loads
// whole.
func TestBlobLock_KillHolderThenTakeover(t *testing.T) {
	t.Parallel() // its own container; the lease (15 s, Azure's shortest) runs out beside the other tests
	az := testenv.SharedAzurite(t)
	cfg := blobTestContainer(t, az, az.Endpoint())
	h := startBlobHelper(t, cfg)
	pid := strings.TrimPrefix(h.expect(t, "locked "), "locked ")
	h.expect(t, "appending")
	time.Sleep(300 * time.Millisecond)
	h.cmd.Process.Signal(syscall.SIGKILL)
	h.cmd.Wait()
	killed := time.Now()

	b := newBlobBackend(t, cfg)
	ctx := context.Background()
	if _, _, err := b.Lock(ctx, CurrentHolder("resume")); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+pid) {
		t.Fatalf("Lock right after the kill: %v, want locked by pid %s (the lease lives on)", err, pid)
	}
	var (
		l    Lease
		prev *Holder
		err  error
	)
	for {
		l, prev, err = b.Lock(ctx, CurrentHolder("resume"))
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLocked) {
			t.Fatal(err)
		}
		if time.Since(killed) > cfg.LeasePeriod+10*time.Second {
			t.Fatalf("still locked %s after the holder died (lease %s)", time.Since(killed), cfg.LeasePeriod)
		}
		time.Sleep(500 * time.Millisecond)
	}
	defer l.Unlock(ctx)
	if prev == nil || fmt.Sprint(prev.PID) != pid || prev.Command != "helper lock" {
		t.Fatalf("takeover: previous holder %+v, want the killed pid %s", prev, pid)
	}
	rf := loadBlobJournal(t, b, blobRunID)
	if rf.Err != nil || rf.Torn || len(rf.Records) == 0 {
		t.Fatalf("journal after kill -9: err %v torn %v records %d", rf.Err, rf.Torn, len(rf.Records))
	}
	j, err := b.OpenJournal(ctx, blobRunID)
	if err != nil {
		t.Fatal(err)
	}
	n := len(rf.Records)
	if err := j.Append(ctx, blobRecords(t, n+1, 1)); err != nil {
		t.Fatal(err)
	}
	if rf := loadBlobJournal(t, b, blobRunID); rf.Err != nil || len(rf.Records) != n+1 {
		t.Fatalf("resumed journal: err %v, %d records, want %d", rf.Err, len(rf.Records), n+1)
	}
}

// Azurite stopped mid-run: the append fails with a message that says the
// store is unreachable and nothing is lost; once it is back, a later
// process resumes the journal with every record written before.
func TestBlobBackend_StoreStoppedMidRun(t *testing.T) {
	t.Parallel() // its own Azurite; the lease runs out beside the other tests
	az := testenv.Azurite(t)
	cfg := blobTestContainer(t, az, az.Endpoint())
	cfg.TryTimeout = 2 * time.Second
	b := newBlobBackend(t, cfg)
	ctx := context.Background()
	l, _, err := b.Lock(ctx, CurrentHolder("run"))
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := encodeHeader(testHeader(blobRunID))
	j, err := b.CreateJournal(ctx, blobRunID, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(ctx, blobRecords(t, 1, 2)); err != nil {
		t.Fatal(err)
	}
	az.Stop()
	err = j.Append(ctx, blobRecords(t, 3, 1))
	if err == nil || !strings.Contains(err.Error(), "unreachable") || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("append with the store stopped: %v, want a clear unreachable message (errors.Is ErrUnreachable)", err)
	}
	l.Unlock(ctx) // fails too; the lease expires by itself
	if err := az.Start(); err != nil {
		t.Fatal(err)
	}
	b2 := newBlobBackend(t, cfg)
	deadline := time.Now().Add(cfg.LeasePeriod + 15*time.Second)
	for {
		l2, _, err := b2.Lock(ctx, CurrentHolder("resume"))
		if err == nil {
			defer l2.Unlock(ctx)
			break
		}
		if !errors.Is(err, ErrLocked) || time.Now().After(deadline) {
			t.Fatalf("Lock after the store came back: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	rf := loadBlobJournal(t, b2, blobRunID)
	if rf.Err != nil || rf.Torn || len(rf.Records) != 2 {
		t.Fatalf("journal after the outage: err %v torn %v, %d records; want the 2 written before", rf.Err, rf.Torn, len(rf.Records))
	}
	j2, err := b2.OpenJournal(ctx, blobRunID)
	if err != nil {
		t.Fatal(err)
	}
	if err := j2.Append(ctx, blobRecords(t, 3, 1)); err != nil {
		t.Fatal(err)
	}
}

// TestLocalCopyDir_RemovesWhatDeadProcessesLeft: the local copies of a
// remote state (secrets such as the SSH key) that a killed k0rdent left in
// TMPDIR are removed by the next one; a live process's and other names
// are left alone. Not parallel: it sets TMPDIR.
func TestLocalCopyDir_RemovesWhatDeadProcessesLeft(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { live.Process.Kill(); live.Wait() }()
	mk := func(name string) string {
		d := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Join(d, "ssh"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "ssh", "id_ed25519"), []byte("key"), 0o600); err != nil {
			t.Fatal(err)
		}
		return d
	}
	deadDir := mk(fmt.Sprintf("k0rdent-secrets-%d-123", dead.Process.Pid))
	liveDir := mk(fmt.Sprintf("k0rdent-secrets-%d-456", live.Process.Pid))
	otherKind := mk(fmt.Sprintf("k0rdent-work-%d-789", dead.Process.Pid))
	oldName := mk("k0rdent-secrets-42")
	dir, err := localCopyDir("secrets")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("k0rdent-secrets-%d-", os.Getpid()); !strings.HasPrefix(filepath.Base(dir), want) || filepath.Dir(dir) != tmp {
		t.Errorf("localCopyDir = %s, want %s/%s…", dir, tmp, want)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v, %v; want a 0700 directory", dir, fi, err)
	}
	if _, err := os.Stat(deadDir); !os.IsNotExist(err) {
		t.Errorf("the dead process's copies %s: %v; want them removed", deadDir, err)
	}
	for _, d := range []string{liveDir, otherKind, oldName} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: %v; want it left alone", d, err)
		}
	}
}
