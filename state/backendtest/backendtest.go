// Package backendtest is the contract test suite of state.Backend: every
// implementation runs the same tests (as litestream's replica clients
// share one suite). state runs it on the local directory
// (state.LocalBackend); a remote backend runs it on its emulator:
//
//	func TestAzureBlob_Contract(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backendtest.Harness {
//			container := newContainer(t) // fresh and empty
//			return backendtest.Harness{
//				Open:    func() state.Backend { return openBlob(t, container) },
//				Abandon: func(t *testing.T, l state.Lease) { /* let the lease lapse */ },
//			}
//		})
//	}
//
// The suite checks what callers above the seam rely on: errors (ErrNotFound,
// *LockedError), names refused, atomic creation, appends that never
// interleave, the lock seen from another client, secrets and work dirs
// put back and seen by another client, and the whole journal lifecycle of
// state.Store (create, append, finish, list, load, repair) on top.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Harness is one fresh, empty store under test.
type Harness struct {
	// Open returns a new client of the store, as another process would
	// open it (its own lock view, its own materialised directories).
	Open func() state.Backend
	// Abandon leaves l as a holder that died leaves it: the OS lock or
	// lease is gone, the holder record stays. Nil skips the takeover test.
	Abandon func(t *testing.T, l state.Lease)
}

// Factory makes a fresh Harness for each test.
type Factory func(t *testing.T) Harness

// Run runs the contract suite.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"Location", testLocation},
		{"Lock", testLock},
		{"LockTakeover", testLockTakeover},
		{"JournalCreate", testJournalCreate},
		{"JournalAppend", testJournalAppend},
		{"JournalWritersNeverInterleave", testJournalWriters},
		{"JournalRepair", testJournalRepair},
		{"JournalNames", testJournalNames},
		{"Runtime", testRuntime},
		{"RunFiles", testRunFiles},
		{"Logs", testLogs},
		{"Secrets", testSecrets},
		{"SecretsDir", testSecretsDir},
		{"WorkDir", testWorkDir},
		{"Store", testStore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := f(t)
			tt.fn(t, h)
		})
	}
}

var ctx = context.Background()

const (
	id1 = "20261203-100000-0001"
	id2 = "20261203-100000-0002"
	id3 = "20261203-110000-00ab"
)

func open(t *testing.T, h Harness) state.Backend {
	t.Helper()
	b := h.Open()
	t.Cleanup(func() { b.Close() })
	return b
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, state.ErrNotFound) {
		t.Errorf("%s: got %v, want an error matching state.ErrNotFound", what, err)
	}
}

func testLocation(t *testing.T, h Harness) {
	if loc := open(t, h).Location(); loc == "" {
		t.Error("Location() is empty")
	}
}

func holder(cmd string) state.Holder {
	return state.Holder{PID: 4242, Host: "host-a", User: "alice", Command: cmd, Started: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
}

func testLock(t *testing.T, h Harness) {
	a, b := open(t, h), open(t, h)
	if hd, err := b.ReadHolder(ctx); err != nil || hd != nil {
		t.Fatalf("ReadHolder on a fresh store: %+v, %v; want nil, nil", hd, err)
	}
	if err := b.Probe(ctx); err != nil {
		t.Fatalf("Probe on a fresh store: %v", err)
	}
	l, prev, err := a.Lock(ctx, holder("k0rdent run"))
	if err != nil || prev != nil {
		t.Fatalf("Lock: prev %+v, %v", prev, err)
	}
	if l.Holder().Command != "k0rdent run" {
		t.Errorf("Lease.Holder() = %+v", l.Holder())
	}
	// Another client sees the holder and is refused, naming it.
	_, _, err = b.Lock(ctx, holder("k0rdent reset"))
	var le *state.LockedError
	if !errors.As(err, &le) || !errors.Is(err, state.ErrLocked) || le.Holder.Command != "k0rdent run" || le.Holder.PID != 4242 {
		t.Fatalf("second Lock: got %v (%+v), want a *LockedError naming the holder", err, le)
	}
	if err := b.Probe(ctx); !errors.As(err, &le) || le.Holder.Host != "host-a" {
		t.Errorf("Probe while held: got %v, want a *LockedError naming the holder", err)
	}
	hd, err := b.ReadHolder(ctx)
	if err != nil || hd == nil || hd.User != "alice" || !hd.Started.Equal(holder("").Started) {
		t.Errorf("ReadHolder while held: %+v, %v", hd, err)
	}
	// SetHolder is seen by others.
	nh := l.Holder()
	nh.RunID = id1
	if err := l.SetHolder(ctx, nh); err != nil {
		t.Fatal(err)
	}
	if hd, err := b.ReadHolder(ctx); err != nil || hd == nil || hd.RunID != id1 {
		t.Errorf("ReadHolder after SetHolder: %+v, %v; want run %s", hd, err, id1)
	}
	if l.Holder().RunID != id1 {
		t.Errorf("Lease.Holder() after SetHolder: %+v", l.Holder())
	}
	// Unlock clears the record and frees the lock; twice is fine.
	if err := l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(ctx); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
	if hd, err := b.ReadHolder(ctx); err != nil || hd != nil {
		t.Errorf("ReadHolder after Unlock: %+v, %v; want nil", hd, err)
	}
	if err := b.Probe(ctx); err != nil {
		t.Errorf("Probe after Unlock: %v", err)
	}
	l2, prev, err := b.Lock(ctx, holder("k0rdent reset"))
	if err != nil || prev != nil {
		t.Fatalf("Lock after Unlock: prev %+v, %v; want no takeover", prev, err)
	}
	l2.Unlock(ctx)
}

func testLockTakeover(t *testing.T, h Harness) {
	if h.Abandon == nil {
		t.Skip("the harness cannot abandon a lease")
	}
	a, b := open(t, h), open(t, h)
	l, _, err := a.Lock(ctx, holder("k0rdent run"))
	if err != nil {
		t.Fatal(err)
	}
	nh := l.Holder()
	nh.RunID = id1
	if err := l.SetHolder(ctx, nh); err != nil {
		t.Fatal(err)
	}
	h.Abandon(t, l)
	if err := b.Probe(ctx); err != nil {
		t.Errorf("Probe after the holder died: %v, want nil", err)
	}
	l2, prev, err := b.Lock(ctx, holder("k0rdent run --resume"))
	if err != nil {
		t.Fatalf("Lock after the holder died: %v", err)
	}
	defer l2.Unlock(ctx)
	if prev == nil || prev.RunID != id1 || prev.Command != "k0rdent run" || prev.PID != 4242 {
		t.Errorf("takeover: previous holder %+v, want the dead holder's record", prev)
	}
	if hd, _ := a.ReadHolder(ctx); hd == nil || hd.Command != "k0rdent run --resume" {
		t.Errorf("ReadHolder after takeover: %+v", hd)
	}
}

func readAll(t *testing.T, b state.Backend, id string) []byte {
	t.Helper()
	r, err := b.ReadJournal(ctx, id)
	if err != nil {
		t.Fatalf("ReadJournal %s: %v", id, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		t.Fatalf("read journal %s: %v", id, err)
	}
	return data
}

func testJournalCreate(t *testing.T, h Harness) {
	b := open(t, h)
	if ids, err := b.ListJournals(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("ListJournals on a fresh store: %v, %v", ids, err)
	}
	_, err := b.ReadJournal(ctx, id1)
	wantNotFound(t, "ReadJournal of a missing run", err)
	_, err = b.OpenJournal(ctx, id1)
	wantNotFound(t, "OpenJournal of a missing run", err)
	for _, id := range []string{id3, id1, id2} {
		j, err := b.CreateJournal(ctx, id, []byte("header "+id+"\n"))
		if err != nil {
			t.Fatalf("CreateJournal %s: %v", id, err)
		}
		if j.Size() != int64(len("header "+id+"\n")) {
			t.Errorf("Size after create = %d", j.Size())
		}
		j.Close()
	}
	ids, err := open(t, h).ListJournals(ctx)
	if want := []string{id1, id2, id3}; err != nil || !slices.Equal(ids, want) {
		t.Errorf("ListJournals = %v, %v; want %v (oldest first)", ids, err, want)
	}
	if _, err := b.CreateJournal(ctx, id1, []byte("again\n")); err == nil {
		t.Error("CreateJournal of an existing run: no error (run ids are never reused)")
	}
	if got := readAll(t, b, id1); string(got) != "header "+id1+"\n" {
		t.Errorf("journal %s = %q after a refused second create", id1, got)
	}
}

func testJournalAppend(t *testing.T, h Harness) {
	b := open(t, h)
	j, err := b.CreateJournal(ctx, id1, []byte("h\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"one\n", "two\n"} {
		if err := j.Append(ctx, []byte(p)); err != nil {
			t.Fatalf("Append %q: %v", p, err)
		}
	}
	if j.Size() != 10 {
		t.Errorf("Size = %d, want 10", j.Size())
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	other := open(t, h)
	if got := readAll(t, other, id1); string(got) != "h\none\ntwo\n" {
		t.Errorf("another client reads %q", got)
	}
	// Reopened, it appends at the end.
	j, err = other.OpenJournal(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	if j.Size() != 10 {
		t.Errorf("Size after OpenJournal = %d, want 10", j.Size())
	}
	if err := j.Append(ctx, []byte("three\n")); err != nil {
		t.Fatal(err)
	}
	j.Close()
	// ReadAt reads any range (List reads only the ends).
	r, err := b.ReadJournal(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != 16 {
		t.Errorf("reader Size = %d, want 16", r.Size())
	}
	buf := make([]byte, 4)
	if n, err := r.ReadAt(buf, 6); (err != nil && err != io.EOF) || string(buf[:n]) != "two\n" {
		t.Errorf("ReadAt(4 bytes at 6) = %q, %v", buf[:n], err)
	}
	buf = make([]byte, 10)
	if n, _ := r.ReadAt(buf, 10); string(buf[:n]) != "three\n" {
		t.Errorf("ReadAt past the end = %q, want the 6 bytes left", buf[:n])
	}
}

func testJournalWriters(t *testing.T, h Harness) {
	b, c := open(t, h), open(t, h)
	j0, err := b.CreateJournal(ctx, id1, []byte("h\n"))
	if err != nil {
		t.Fatal(err)
	}
	j0.Close()
	j1, err := b.OpenJournal(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	defer j1.Close()
	j2, err := c.OpenJournal(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if err := j1.Append(ctx, []byte("first\n")); err != nil {
		t.Fatal(err)
	}
	if err := j2.Append(ctx, []byte("second\n")); err == nil {
		t.Error("a writer appended after another writer changed the journal; want an error")
	}
	if got := readAll(t, b, id1); string(got) != "h\nfirst\n" {
		t.Errorf("journal = %q, want only the first writer's append", got)
	}
}

func testJournalRepair(t *testing.T, h Harness) {
	b := open(t, h)
	j, err := b.CreateJournal(ctx, id1, []byte("h\n"))
	if err != nil {
		t.Fatal(err)
	}
	j.Append(ctx, []byte("whole\n"))
	j.Append(ctx, []byte("---\ntorn"))
	j.Close()
	kept, err := b.RepairJournal(ctx, id1, 8)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(kept, id1+".yaml.broken") {
		t.Errorf("kept copy %q, want a name with %s.yaml.broken", kept, id1)
	}
	if got := readAll(t, open(t, h), id1); string(got) != "h\nwhole\n" {
		t.Errorf("after repair: %q", got)
	}
	if ids, _ := b.ListJournals(ctx); !slices.Equal(ids, []string{id1}) {
		t.Errorf("ListJournals after repair = %v: the copy is not a journal", ids)
	}
	j, err = b.OpenJournal(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	if j.Size() != 8 {
		t.Errorf("Size after repair = %d, want 8", j.Size())
	}
	if err := j.Append(ctx, []byte("next\n")); err != nil {
		t.Fatal(err)
	}
	j.Close()
	kept2, err := b.RepairJournal(ctx, id1, 8)
	if err != nil || kept2 == kept {
		t.Errorf("second repair kept %q, %v; want a new copy beside %q", kept2, err, kept)
	}
	if _, err := b.RepairJournal(ctx, id1, 1000); err == nil {
		t.Error("RepairJournal to more bytes than the journal has: no error")
	}
	_, err = b.RepairJournal(ctx, id2, 0)
	wantNotFound(t, "RepairJournal of a missing run", err)
}

func testJournalNames(t *testing.T, h Harness) {
	b := open(t, h)
	for _, id := range []string{"", "../x", "20261203-100000-ZZZZ", "runs/" + id1} {
		if _, err := b.CreateJournal(ctx, id, []byte("h\n")); err == nil {
			t.Errorf("CreateJournal(%q): no error", id)
		}
		if _, err := b.ReadJournal(ctx, id); err == nil {
			t.Errorf("ReadJournal(%q): no error", id)
		}
	}
	if ids, _ := b.ListJournals(ctx); len(ids) != 0 {
		t.Errorf("ListJournals after refused creates = %v", ids)
	}
}

func testRuntime(t *testing.T, h Harness) {
	b := open(t, h)
	_, err := b.ReadRuntime(ctx)
	wantNotFound(t, "ReadRuntime on a fresh store", err)
	for _, v := range []string{"format: 1\n", "format: 1\ncurrent_run_id: " + id1 + "\n"} {
		if err := b.WriteRuntime(ctx, []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got, err := open(t, h).ReadRuntime(ctx); err != nil || string(got) != v {
			t.Errorf("ReadRuntime = %q, %v; want %q", got, err, v)
		}
	}
}

func testRunFiles(t *testing.T, h Harness) {
	b := open(t, h)
	_, err := b.ReadRunFile(ctx, id1, "k0rdent.yaml")
	wantNotFound(t, "ReadRunFile of a missing file", err)
	for _, v := range []string{"v1", "v2"} {
		if err := b.WriteRunFile(ctx, id1, "k0rdent.yaml", []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got, err := open(t, h).ReadRunFile(ctx, id1, "k0rdent.yaml"); err != nil || string(got) != v {
			t.Errorf("ReadRunFile = %q, %v; want %q", got, err, v)
		}
	}
	for _, name := range []string{"", "../x", "/abs"} {
		if err := b.WriteRunFile(ctx, id1, name, []byte("x")); err == nil {
			t.Errorf("WriteRunFile(%q): no error", name)
		}
	}
	if err := b.WriteRunFile(ctx, "not-an-id", "k0rdent.yaml", []byte("x")); err == nil {
		t.Error("WriteRunFile of a bad run id: no error")
	}
	if ids, _ := b.ListJournals(ctx); len(ids) != 0 {
		t.Errorf("a run file made a journal: %v", ids)
	}
}

func writeLog(t *testing.T, b state.Backend, id, node, text string) {
	t.Helper()
	w, err := b.OpenLog(ctx, id, node)
	if err != nil {
		t.Fatalf("OpenLog %s %s: %v", id, node, err)
	}
	if _, err := io.WriteString(w, text); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func testLogs(t *testing.T, h Harness) {
	b := open(t, h)
	_, err := b.TailLog(ctx, id1, "vpn", 5)
	wantNotFound(t, "TailLog of a missing log", err)
	writeLog(t, b, id1, "vpn", "a\nb\n")
	writeLog(t, open(t, h), id1, "vpn", "c\n") // appended across clients
	writeLog(t, b, id1, "azure-children/eu", "child\n")
	other := open(t, h)
	for _, tt := range []struct {
		node string
		n    int
		want []string
	}{
		{"vpn", 2, []string{"b", "c"}},
		{"vpn", 10, []string{"a", "b", "c"}},
		{"azure-children/eu", 1, []string{"child"}},
	} {
		if got, err := other.TailLog(ctx, id1, tt.node, tt.n); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("TailLog(%s, %d) = %q, %v; want %q", tt.node, tt.n, got, err, tt.want)
		}
	}
	// A long log: the tail is the last lines, whole.
	var long bytes.Buffer
	for i := range 20000 {
		long.WriteString(strings.Repeat("x", i%50) + "\n")
	}
	long.WriteString("last line\n")
	writeLog(t, b, id2, "k0s", long.String())
	if got, err := other.TailLog(ctx, id2, "k0s", 2); err != nil || len(got) != 2 || got[1] != "last line" || got[0] != strings.Repeat("x", 19999%50) {
		t.Errorf("TailLog of a long log = %q, %v", got, err)
	}
	locs := map[string]bool{b.LogLocation(id1, "vpn"): true, b.LogLocation(id1, "k0s"): true, b.LogLocation(id2, "vpn"): true, b.LogLocation(id1, ""): true}
	if len(locs) != 4 || locs[""] {
		t.Errorf("LogLocation gives %v; want four different, non-empty places", locs)
	}
	for _, node := range []string{"", "../x", "/abs", "a//b"} {
		if _, err := b.OpenLog(ctx, id1, node); err == nil {
			t.Errorf("OpenLog(%q): no error", node)
		}
	}
	if _, err := b.OpenLog(ctx, "../"+id1, "vpn"); err == nil {
		t.Error("OpenLog of a bad run id: no error")
	}
	if ids, _ := b.ListJournals(ctx); len(ids) != 0 {
		t.Errorf("logs made journals: %v", ids)
	}
}

func testSecrets(t *testing.T, h Harness) {
	b := open(t, h)
	_, err := b.GetSecret(ctx, "ssh/id")
	wantNotFound(t, "GetSecret of a missing secret", err)
	if names, err := b.ListSecrets(ctx); err != nil || len(names) != 0 {
		t.Errorf("ListSecrets on a fresh store = %v, %v", names, err)
	}
	for _, v := range []string{"key-1", "key-2"} {
		if err := b.PutSecret(ctx, "ssh/id", []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got, err := open(t, h).GetSecret(ctx, "ssh/id"); err != nil || string(got) != v {
			t.Errorf("GetSecret = %q, %v; want %q", got, err, v)
		}
	}
	if err := b.PutSecret(ctx, "wireguard/hub.key", []byte("hub")); err != nil {
		t.Fatal(err)
	}
	if names, err := open(t, h).ListSecrets(ctx); err != nil || !slices.Equal(names, []string{"ssh/id", "wireguard/hub.key"}) {
		t.Errorf("ListSecrets = %v, %v", names, err)
	}
	if err := b.DeleteSecret(ctx, "ssh/id"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteSecret(ctx, "ssh/id"); err != nil {
		t.Errorf("DeleteSecret of a missing secret: %v", err)
	}
	_, err = open(t, h).GetSecret(ctx, "ssh/id")
	wantNotFound(t, "GetSecret after DeleteSecret", err)
	for _, name := range []string{"", "../x", "/abs", "a/../b"} {
		if err := b.PutSecret(ctx, name, []byte("x")); err == nil {
			t.Errorf("PutSecret(%q): no error", name)
		}
	}
	// Secrets are apart from journals, logs and the runtime snapshot.
	if ids, _ := b.ListJournals(ctx); len(ids) != 0 {
		t.Errorf("secrets made journals: %v", ids)
	}
	if _, err := b.ReadRuntime(ctx); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("secrets made a runtime snapshot: %v", err)
	}
}

func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func testSecretsDir(t *testing.T, h Harness) {
	b := open(t, h)
	if err := b.PutSecret(ctx, "k0s/kubeconfig", []byte("kc")); err != nil {
		t.Fatal(err)
	}
	c := open(t, h)
	dir, err := c.SecretsDir(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "k0s", "kubeconfig")
	if data, err := os.ReadFile(path); err != nil || string(data) != "kc" {
		t.Fatalf("materialised %s = %q, %v", path, data, err)
	}
	if p := perm(t, path); p != 0o600 {
		t.Errorf("%s mode %o, want 600", path, p)
	}
	for _, d := range []string{dir, filepath.Dir(path)} {
		if p := perm(t, d); p != 0o700 {
			t.Errorf("%s mode %o, want 700", d, p)
		}
	}
	// What a phase writes or removes there is put back by SaveSecrets.
	os.MkdirAll(filepath.Join(dir, "wireguard"), 0o700)
	if err := os.WriteFile(filepath.Join(dir, "wireguard", "hub.key"), []byte("hub-private"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveSecrets(ctx); err != nil {
		t.Fatal(err)
	}
	d := open(t, h)
	if got, err := d.GetSecret(ctx, "wireguard/hub.key"); err != nil || string(got) != "hub-private" {
		t.Errorf("a secret written in SecretsDir, after SaveSecrets: %q, %v", got, err)
	}
	_, err = d.GetSecret(ctx, "k0s/kubeconfig")
	wantNotFound(t, "a secret removed from SecretsDir, after SaveSecrets", err)
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func testWorkDir(t *testing.T, h Harness) {
	b := open(t, h)
	dir, err := b.WorkDir(ctx, "terraform")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveWorkDir(ctx, "terraform"); err != nil {
		t.Fatal(err)
	}
	c := open(t, h)
	dir2, err := c.WorkDir(ctx, "terraform")
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir2, "main.tf.json")); err != nil || string(data) != "{}" {
		t.Errorf("another client's work dir: main.tf.json = %q, %v", data, err)
	}
	k0s, err := c.WorkDir(ctx, "k0s")
	if err != nil || k0s == dir2 {
		t.Errorf("WorkDir(k0s) = %q, %v; want a directory of its own", k0s, err)
	}
	for _, name := range []string{"", "../x", "/abs", "a/b", "runs", "secrets"} {
		if _, err := b.WorkDir(ctx, name); err == nil {
			t.Errorf("WorkDir(%q): no error", name)
		}
	}
	if ids, _ := b.ListJournals(ctx); len(ids) != 0 {
		t.Errorf("work dirs made journals: %v", ids)
	}
}

// testStore runs the journal logic of state.Store on the backend: what
// `k0rdent run`, `runs` and a resume do.
func testStore(t *testing.T, h Harness) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	s := state.OpenStore(open(t, h))
	s.Now = func() time.Time { return now }
	lock, _, err := s.Lock(holder("k0rdent run"))
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.CreateRun(state.Header{Nodes: []string{"a", "b"}, Operator: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	id := run.ID()
	if err := lock.SetRunID(id); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []workflow.Event{
		{Node: "a", From: workflow.Pending, To: workflow.Running, Attempt: 1, Time: now},
		{Node: "a", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Time: now, Outputs: map[string]string{"ip": "10.0.0.1"}},
		{Node: "b", From: workflow.Pending, To: workflow.Running, Attempt: 1, Time: now},
	} {
		if err := run.Record(ev); err != nil {
			t.Fatal(err)
		}
	}
	w, err := run.LogSink()("b", 1)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "b says hello\n")
	w.Close()
	run.Close()
	lock.Unlock()

	// Another client lists and loads it, unfinished; its log tails.
	r := state.OpenStore(open(t, h))
	runs, err := r.List()
	if err != nil || len(runs) != 1 || runs[0].ID != id || runs[0].Outcome != state.OutcomeNone {
		t.Fatalf("List = %+v, %v", runs, err)
	}
	rf, err := r.Load(id)
	if err != nil || rf.Err != nil || rf.Nodes["a"].State != workflow.Succeeded || rf.Nodes["b"].State != workflow.Running {
		t.Fatalf("Load = %+v, %v", rf, err)
	}
	if tail, err := r.TailLog(id, "b", 1); err != nil || !slices.Equal(tail, []string{"b says hello"}) {
		t.Errorf("TailLog = %q, %v", tail, err)
	}
	if cur, err := r.Current(); err != nil || cur.CurrentRunID != id {
		t.Errorf("Current = %+v, %v", cur, err)
	}

	// It resumes the run and finishes it.
	lock, _, err = r.Lock(holder("k0rdent run --resume"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	run, err = r.OpenRun(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Resumed(nil, 2); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []workflow.Event{
		{Node: "b", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Time: now},
	} {
		if err := run.Record(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := run.Finish(state.OutcomeSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	run.Close()
	rt, err := state.OpenStore(open(t, h)).ReadRuntime()
	if err != nil || rt.CurrentRunID != id || rt.CurrentOutcome != state.OutcomeSucceeded || rt.LastSuccessfulRun != id {
		t.Errorf("runtime after the outcome: %+v, %v", rt, err)
	}

	// A journal read from the backend decodes with the reader of any
	// backend (Decode), record for record.
	jr, err := open(t, h).ReadJournal(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	dec, err := state.Decode(io.NewSectionReader(jr, 0, jr.Size()))
	if err != nil || dec.Err != nil || dec.Outcome != state.OutcomeSucceeded || len(dec.Records) != 6 {
		t.Errorf("Decode of the journal: %+v, %v", dec, err)
	}
}
