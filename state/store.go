package state

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
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

// Store is one state directory. Directories are created lazily by the
// operations that need them. Reading (Load, List, ReadRuntime, ReadHolder)
// never takes the lock; writing run files (CreateRun, OpenRun, StartFresh)
// requires the lock taken with Store.Lock on this same Store.
type Store struct {
	root string

	// Now is the clock of the records the store writes itself and of
	// records appended without a time: run creation, resumed, outcome,
	// superseded and lock-takeover records. Nil means time.Now. Set it
	// before the first write; tests pin it to get stable files.
	Now func() time.Time

	mu   sync.Mutex // guards lock
	lock *Lock      // held by this Store, nil if none
}

// NewStore returns the store rooted at root. Nothing is created yet.
func NewStore(root string) *Store { return &Store{root: root} }

// now is the store's clock in UTC.
func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Root is the state directory.
func (s *Store) Root() string { return s.root }

// RunsDir holds the run files and the per-run log directories.
func (s *Store) RunsDir() string { return filepath.Join(s.root, RunsDirName) }

// SecretsDir is the 0700 directory for secrets (files 0600).
func (s *Store) SecretsDir() string { return filepath.Join(s.root, SecretsName) }

// LegacyDir holds migrated files of the bash tool, untouched.
func (s *Store) LegacyDir() string { return filepath.Join(s.root, LegacyName) }

// TerraformDir is the Terraform working directory.
func (s *Store) TerraformDir() string { return filepath.Join(s.root, TerraformDir) }

// RuntimePath is the path of runtime.yaml.
func (s *Store) RuntimePath() string { return filepath.Join(s.root, RuntimeFile) }

// LockPath is the path of the lock file.
func (s *Store) LockPath() string { return filepath.Join(s.root, LockFile) }

// RunPath is the path of the run file of id.
func (s *Store) RunPath(id string) string { return filepath.Join(s.RunsDir(), id+".yaml") }

// LogDir is the directory of the node logs of run id.
func (s *Store) LogDir(id string) string { return filepath.Join(s.RunsDir(), id) }

// LogPath is the log file of node in run id (see Run.LogSink).
func (s *Store) LogPath(id, node string) string {
	return filepath.Join(s.LogDir(id), filepath.FromSlash(node)+".log")
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
func (s *Store) runIDs() ([]string, error) {
	ents, err := os.ReadDir(s.RunsDir())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list runs %s: %w", s.RunsDir(), err)
	}
	ids := make([]string, 0, len(ents))
	for _, e := range ents {
		name := e.Name()
		id, ok := strings.CutSuffix(name, ".yaml")
		if !ok || !ValidRunID(id) || !e.Type().IsRegular() {
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

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

// WriteSecret writes data to secrets/<name> atomically with mode 0600 and
// returns its path; only the path may be journalled. name is a relative
// slash-separated path without "..".
func (s *Store) WriteSecret(name string, data []byte) (string, error) {
	if err := checkRelName(name); err != nil {
		return "", fmt.Errorf("write secret: %w", err)
	}
	path := filepath.Join(s.SecretsDir(), filepath.FromSlash(name))
	if err := mkdirPrivate(s.SecretsDir()); err != nil {
		return "", err
	}
	if err := mkdirPrivate(filepath.Dir(path)); err != nil {
		return "", err
	}
	if err := WriteFileAtomic(path, data, 0o600); err != nil {
		return "", fmt.Errorf("write secret: %w", err)
	}
	return path, nil
}

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
