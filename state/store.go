package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Names inside the state directory.
const (
	RuntimeFile  = "runtime.yaml"
	RunsDirName  = "runs"
	SecretsName  = "secrets"
	TerraformDir = "terraform"
	LegacyName   = "legacy"
	LockFile     = "lock"
)

// Store is one deployment's state, kept by a Backend (the local state
// directory, NewStore; or another, OpenStore). It holds the journal logic
// (format, replay, projection, secret refusal), written once over any
// backend. Reading (Load, List, ReadRuntime, ReadHolder) never takes the
// lock; writing run files (CreateRun, OpenRun, StartFresh) requires the
// lock taken with Store.Lock on this same Store.
type Store struct {
	b     Backend
	local *LocalBackend // b when it is the local directory, else nil

	// Now is the clock of the records the store writes itself and of
	// records appended without a time: run creation, resumed, outcome,
	// superseded and lock-takeover records. Nil means time.Now. Set it
	// before the first write; tests pin it to get stable files.
	Now func() time.Time

	mu   sync.Mutex // guards lock
	lock *Lock      // held by this Store, nil if none
}

// NewStore returns the store of the local state directory root. Nothing is
// created yet.
func NewStore(root string) *Store { return OpenStore(NewLocalBackend(root)) }

// OpenStore returns the store kept by b.
func OpenStore(b Backend) *Store {
	s := &Store{b: b}
	s.local, _ = b.(*LocalBackend)
	return s
}

// Backend is the backend the store is kept by.
func (s *Store) Backend() Backend { return s.b }

// LocalBackend is the local state directory's backend, or nil when the store is
// kept elsewhere. Its paths are for this package and tests only.
func (s *Store) LocalBackend() *LocalBackend { return s.local }

// Remote reports whether the store is kept elsewhere than a local
// directory (Location is then a URL).
func (s *Store) Remote() bool { return s.local == nil }

// Location names the store for messages (the state directory; a URL).
func (s *Store) Location() string { return s.b.Location() }

// ctx is the context of backend calls made by methods that take none.
func (s *Store) ctx() context.Context { return context.Background() }

// now is the store's clock in UTC.
func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// NewRunID returns a run id for now: YYYYMMDD-HHMMSS-xxxx in UTC with 4
// random hex digits. Ids sort by time (to the second).
func NewRunID(now time.Time) string {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never happens on Linux/darwin
	}
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// ValidRunID reports whether id has the run id format. Only valid ids are
// turned into paths.
func ValidRunID(id string) bool {
	if len(id) != 20 || id[8] != '-' || id[15] != '-' {
		return false
	}
	for i := 0; i < 20; i++ {
		c := id[i]
		switch {
		case i == 8 || i == 15:
		case i < 15:
			if c < '0' || c > '9' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	_, err := time.Parse("20060102-150405", id[:15])
	return err == nil
}

// RunIDTime is the time encoded in a run id (UTC, to the second).
func RunIDTime(id string) (time.Time, error) {
	if !ValidRunID(id) {
		return time.Time{}, fmt.Errorf("run id %q: want YYYYMMDD-HHMMSS-xxxx", id)
	}
	return time.Parse("20060102-150405", id[:15])
}

// runIDs lists the run ids that have a run file, oldest first.
func (s *Store) runIDs() ([]string, error) { return s.b.ListJournals(s.ctx()) }

// nextRunID returns a new run id greater than every existing one, so that
// the run file order is the creation order even within one second.
func (s *Store) nextRunID(now time.Time) (string, error) {
	ids, err := s.runIDs()
	if err != nil {
		return "", err
	}
	id := NewRunID(now)
	if len(ids) == 0 || id > ids[len(ids)-1] {
		return id, nil
	}
	last := ids[len(ids)-1]
	if last[:15] < id[:15] {
		return id, nil
	}
	// Same second (or a clock that went back): count up from the newest.
	var n uint16
	fmt.Sscanf(last[16:], "%04x", &n)
	if n == 0xffff {
		return "", fmt.Errorf("new run id: 65536 runs in second %s; wait a second and retry", last[:15])
	}
	return fmt.Sprintf("%s-%04x", last[:15], n+1), nil
}

// WriteFileAtomic replaces path with data: a temporary file in the same
// directory, fsync, rename, fsync the directory. perm applies to the new
// file. Readers see the old content or the new one, never a mix.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so that a rename or create in it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// WriteSecret stores a named secret (PutSecret: 0600, atomic, apart
// from journals and logs) and returns the path of its file in SecretsDir;
// only the path may be journalled. name is a relative slash-separated path
// without "..".
func (s *Store) WriteSecret(name string, data []byte) (string, error) {
	if err := s.b.PutSecret(s.ctx(), name, data); err != nil {
		return "", err
	}
	dir, err := s.SecretsDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.FromSlash(name)), nil
}

// SecretsDir is the local directory holding every secret as a 0600 file
// (0700 directories), for phases and tools that need paths; it may not
// exist yet (its first writer creates it 0700). What phases write there is
// kept by SaveSecrets. Locally it is the state directory's secrets/.
func (s *Store) SecretsDir() (string, error) { return s.b.SecretsDir(s.ctx()) }

// SaveSecrets puts back what changed in SecretsDir (nothing to do
// locally).
func (s *Store) SaveSecrets() error { return s.b.SaveSecrets(s.ctx()) }

// WorkDir is a local directory for the files of a phase (name
// "terraform": Terraform's working directory; "k0s": k0sctl's config).
// It may not exist yet: the phase creates it (0700). SaveWorkDir keeps
// its content.
func (s *Store) WorkDir(name string) (string, error) { return s.b.WorkDir(s.ctx(), name) }

// SaveWorkDir puts back the content of work dir name (nothing to do
// locally).
func (s *Store) SaveWorkDir(name string) error { return s.b.SaveWorkDir(s.ctx(), name) }

// TailLog returns the last n lines of the log of node in run id.
func (s *Store) TailLog(id, node string, n int) ([]string, error) {
	return s.b.TailLog(s.ctx(), id, node, n)
}

// LogLocation says where the log of node in run id is, for people; node
// "" names where all of the run's logs are.
func (s *Store) LogLocation(id, node string) string { return s.b.LogLocation(id, node) }

// Close releases what the backend holds locally (a materialised secrets
// directory). It does not release the lock.
func (s *Store) Close() error { return s.b.Close() }

// mkdirPrivate creates dir (and parents) with mode 0700 and makes sure dir
// itself is 0700 even if it already existed.
func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	return nil
}

// checkRelName accepts clean relative slash paths such as "wg/hub.key" or
// "azure-children/eu".
func checkRelName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.ContainsRune(name, 0) {
		return fmt.Errorf("name %q: want a relative path like wireguard/hub.key", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("name %q: empty, . or .. path element", name)
		}
	}
	return nil
}
