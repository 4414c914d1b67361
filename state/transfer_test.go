package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
)

// snapshotDir reads every file under dir (path -> content), to show a
// transfer left its source untouched.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && filepath.Base(p) != LockFile {
			data, _ := os.ReadFile(p)
			out[p] = string(data)
		}
		return nil
	})
	return out
}

func sameSnapshot(t *testing.T, what string, a, b map[string]string) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d files before, %d after", what, len(a), len(b))
	}
	for p, v := range a {
		if b[p] != v {
			t.Fatalf("%s: %s changed", what, p)
		}
	}
}

func TestTransfer_PushPullIdempotentVerified(t *testing.T) {
	az := testenv.SharedAzurite(t)
	ctx := context.Background()
	opts := TransferOptions{RunFiles: []string{"k0rdent.yaml"}, WorkDirs: []string{"terraform"}, Command: "test push"}

	// A local deployment: two runs, a secret, a log, a run file, a work dir.
	local := lockedStore(t)
	writeRun(t, local, "20261125-100000-0001", happyEvents()[:2], OutcomeFailed)
	writeRun(t, local, "20261125-110000-0002", happyEvents(), OutcomeSucceeded)
	if _, err := local.WriteSecret("wg/hub.key", []byte("KEY")); err != nil {
		t.Fatal(err)
	}
	lb := local.LocalBackend()
	if err := lb.WriteRunFile(ctx, "20261125-110000-0002", "k0rdent.yaml", []byte("cluster: x\n")); err != nil {
		t.Fatal(err)
	}
	w, err := lb.OpenLog(ctx, "20261125-110000-0002", "k0s")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("line 1\nline 2\n"))
	w.Close()
	wd, _ := lb.WorkDir(ctx, "terraform")
	os.MkdirAll(filepath.Join(wd, ".terraform"), 0o755)
	os.WriteFile(filepath.Join(wd, "main.tf.json"), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(wd, ".terraform", "provider"), []byte("big"), 0o644)
	unlockTestStore(t, local)
	before := snapshotDir(t, local.LocalBackend().Root())

	cfg := blobTestContainer(t, az, az.Endpoint())
	remote := newBlobBackend(t, cfg)
	rep, err := Transfer(ctx, NewLocalBackend(lb.Root()), remote, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Journals != 2 || rep.Copied != 2 || rep.Secrets != 1 || rep.Logs != 1 || rep.RunFiles != 1 || rep.WorkFiles != 1 {
		t.Fatalf("first push: %+v", rep)
	}
	sameSnapshot(t, "source after push", before, snapshotDir(t, lb.Root()))

	// The pushed store loads through Store like the local one.
	rs := OpenStore(newBlobBackend(t, cfg))
	infos, err := rs.List()
	if err != nil || len(infos) != 2 || infos[0].Outcome != OutcomeSucceeded {
		t.Fatalf("remote List = %+v, %v", infos, err)
	}
	if lines, err := rs.TailLog("20261125-110000-0002", "k0s", 5); err != nil || len(lines) != 2 {
		t.Fatalf("remote log: %v, %v", lines, err)
	}

	// Idempotent: nothing written again.
	rep, err = Transfer(ctx, NewLocalBackend(lb.Root()), remote, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Same != 2 || rep.Copied+rep.Extended+rep.Secrets+rep.Logs+rep.RunFiles+rep.WorkFiles != 0 {
		t.Fatalf("second push wrote again: %+v", rep)
	}

	// Pull into an empty directory: the same runs, the same bytes.
	pulled := t.TempDir() + "/state"
	rep, err = Transfer(ctx, newBlobBackend(t, cfg), NewLocalBackend(pulled), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Copied != 2 {
		t.Fatalf("pull: %+v", rep)
	}
	for _, id := range []string{"20261125-100000-0001", "20261125-110000-0002"} {
		a, _ := os.ReadFile(lb.RunPath(id))
		b, _ := os.ReadFile(NewLocalBackend(pulled).RunPath(id))
		if string(a) != string(b) {
			t.Fatalf("run %s pulled differs from the original", id)
		}
	}
	if v, err := NewLocalBackend(pulled).GetSecret(ctx, "wg/hub.key"); err != nil || string(v) != "KEY" {
		t.Fatalf("pulled secret: %q, %v", v, err)
	}
	if _, err := os.Stat(filepath.Join(pulled, "terraform", ".terraform")); !os.IsNotExist(err) {
		t.Fatalf(".terraform/ was copied: %v", err)
	}

	// Another deployment is refused, and nothing of it is written.
	other := lockedStore(t)
	writeRun(t, other, "20261126-100000-0003", happyEvents()[:2], OutcomeFailed)
	unlockTestStore(t, other)
	_, err = Transfer(ctx, NewLocalBackend(other.LocalBackend().Root()), remote, opts)
	if !errors.Is(err, ErrOtherDeployment) {
		t.Fatalf("push of another deployment: %v, want ErrOtherDeployment", err)
	}
	if ids, _ := remote.ListJournals(ctx); len(ids) != 2 {
		t.Fatalf("after the refused push the target has %v", ids)
	}
}

// unlockTestStore releases the lock lockedStore took.
func unlockTestStore(t *testing.T, s *Store) {
	t.Helper()
	s.mu.Lock()
	l := s.lock
	s.mu.Unlock()
	if l != nil {
		if err := l.Unlock(); err != nil {
			t.Fatal(err)
		}
	}
}
