package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// LocalBackend is the Backend of a state directory on local disk, in the
// layout of doc.go: run journals are files appended with one write plus
// fsync, the lock is flock(2) on state/lock, secrets are 0600 files under
// secrets/ (SecretsDir is that directory: nothing is copied), and work
// dirs are directories of the state directory (terraform/, k0s/).
//
// Its path methods (Root, RunPath, LogPath, …) describe that layout for
// this package and for tests; code outside state never calls them (the
// seam test in this package refuses it).
type LocalBackend struct {
	root string
}

var _ Backend = (*LocalBackend)(nil)

// NewLocalBackend returns the backend of the state directory root. Nothing
// is created yet.
func NewLocalBackend(root string) *LocalBackend { return &LocalBackend{root: root} }

// Location is the state directory.
func (b *LocalBackend) Location() string { return b.root }

// Root is the state directory.
func (b *LocalBackend) Root() string { return b.root }

// RunsDir holds the run files and the per-run log directories.
func (b *LocalBackend) RunsDir() string { return filepath.Join(b.root, RunsDirName) }

// SecretsPath is the 0700 directory for secrets (files 0600).
func (b *LocalBackend) SecretsPath() string { return filepath.Join(b.root, SecretsName) }

// LegacyDir holds migrated files of the bash tool, untouched.
func (b *LocalBackend) LegacyDir() string { return filepath.Join(b.root, LegacyName) }

// TerraformDir is the Terraform working directory (work dir "terraform").
func (b *LocalBackend) TerraformDir() string { return filepath.Join(b.root, TerraformDir) }

// RuntimePath is the path of runtime.yaml.
func (b *LocalBackend) RuntimePath() string { return filepath.Join(b.root, RuntimeFile) }

// LockPath is the path of the lock file.
func (b *LocalBackend) LockPath() string { return filepath.Join(b.root, LockFile) }

// RunPath is the path of the run file of id.
func (b *LocalBackend) RunPath(id string) string { return filepath.Join(b.RunsDir(), id+".yaml") }

// LogDir is the directory of the node logs of run id.
func (b *LocalBackend) LogDir(id string) string { return filepath.Join(b.RunsDir(), id) }

// LogPath is the log file of node in run id.
func (b *LocalBackend) LogPath(id, node string) string {
	return filepath.Join(b.LogDir(id), filepath.FromSlash(node)+".log")
}

// RunFilePath is the path of a file kept beside run id's node logs.
func (b *LocalBackend) RunFilePath(id, name string) string {
	return filepath.Join(b.LogDir(id), filepath.FromSlash(name))
}

// checkRunID refuses what is not a run id before it becomes a path.
func checkRunID(id string) error {
	if !ValidRunID(id) {
		return fmt.Errorf("run id %q: want YYYYMMDD-HHMMSS-xxxx", id)
	}
	return nil
}

// ---- lock

// localLease is the held flock and its holder record.
type localLease struct {
	mu     sync.Mutex
	f      *os.File // nil after Unlock
	holder Holder
}

// Lock takes flock(LOCK_EX|LOCK_NB) on state/lock and writes h into it.
func (b *LocalBackend) Lock(ctx context.Context, h Holder) (Lease, *Holder, error) {
	if err := os.MkdirAll(b.root, 0o755); err != nil {
		return nil, nil, fmt.Errorf("lock: create %s: %w", b.root, err)
	}
	path := b.LockPath()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("lock: open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			le := &LockedError{Path: b.root}
			if prev, _ := b.ReadHolder(ctx); prev != nil {
				le.Holder = *prev
			}
			return nil, nil, le
		}
		return nil, nil, fmt.Errorf("lock: flock %s: %w", path, err)
	}
	var prev *Holder
	if data, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(data))) > 0 {
		var ph Holder
		if yaml.Unmarshal(data, &ph) != nil {
			ph = Holder{Command: "unreadable holder record"}
		}
		prev = &ph
	}
	l := &localLease{f: f, holder: h}
	if err := l.write(); err != nil {
		l.release()
		return nil, nil, err
	}
	return l, prev, nil
}

func (l *localLease) Holder() Holder {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.holder
}

func (l *localLease) SetHolder(_ context.Context, h Holder) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("lock: set holder: not held")
	}
	l.holder = h
	return l.write()
}

// write replaces the lock file's content with the holder record; l.mu
// held or l not shared yet.
func (l *localLease) write() error {
	data, err := yaml.Marshal(l.holder)
	if err != nil {
		return fmt.Errorf("lock: encode holder: %w", err)
	}
	if _, err := l.f.WriteAt(data, 0); err != nil {
		return fmt.Errorf("lock: write holder %s: %w", l.f.Name(), err)
	}
	if err := l.f.Truncate(int64(len(data))); err != nil {
		return fmt.Errorf("lock: write holder %s: %w", l.f.Name(), err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("lock: fsync %s: %w", l.f.Name(), err)
	}
	return nil
}

func (l *localLease) Unlock(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	var err error
	if terr := l.f.Truncate(0); terr != nil {
		err = fmt.Errorf("unlock: clear holder %s: %w", l.f.Name(), terr)
	} else if serr := l.f.Sync(); serr != nil {
		err = fmt.Errorf("unlock: fsync %s: %w", l.f.Name(), serr)
	}
	l.release()
	return err
}

func (l *localLease) release() {
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// ReadHolder reads the lock file's holder record.
func (b *LocalBackend) ReadHolder(context.Context) (*Holder, error) {
	data, err := os.ReadFile(b.LockPath())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lock holder: %w", err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, nil
	}
	var h Holder
	if err := yaml.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("read lock holder %s: %w", b.LockPath(), err)
	}
	return &h, nil
}

// Probe tries a shared flock on state/lock and releases it at once.
func (b *LocalBackend) Probe(ctx context.Context) error {
	f, err := os.Open(b.LockPath())
	if err != nil {
		return nil // no lock file: nobody holds it
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return nil
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return nil // cannot tell; the lock itself decides later
	}
	le := &LockedError{Path: b.root}
	// The holder writes its record right after it takes the lock.
	for range 50 {
		if h, _ := b.ReadHolder(ctx); h != nil {
			le.Holder = *h
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return le
}

// ---- journals

// ListJournals lists runs/*.yaml named by a run id.
func (b *LocalBackend) ListJournals(context.Context) ([]string, error) {
	ents, err := os.ReadDir(b.RunsDir())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list runs %s: %w", b.RunsDir(), err)
	}
	ids := make([]string, 0, len(ents))
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok || !ValidRunID(id) || !e.Type().IsRegular() {
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// localJournal is a run file open with O_APPEND.
type localJournal struct {
	f    *os.File
	size int64
}

// CreateJournal writes the run file atomically (tmp, fsync, rename, fsync
// runs/) and opens it for appending.
func (b *LocalBackend) CreateJournal(_ context.Context, id string, header []byte) (Journal, error) {
	if err := checkRunID(id); err != nil {
		return nil, fmt.Errorf("create run: %w", err)
	}
	if err := os.MkdirAll(b.RunsDir(), 0o755); err != nil {
		return nil, fmt.Errorf("create run %s: %w", id, err)
	}
	path := b.RunPath(id)
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("create run: %s already exists; run ids are never reused", path)
	}
	if err := WriteFileAtomic(path, header, 0o644); err != nil {
		return nil, fmt.Errorf("create run: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("create run: %w", err)
	}
	return &localJournal{f: f, size: int64(len(header))}, nil
}

// OpenJournal opens runs/<id>.yaml with O_APPEND.
func (b *LocalBackend) OpenJournal(_ context.Context, id string) (Journal, error) {
	if err := checkRunID(id); err != nil {
		return nil, fmt.Errorf("open run: %w", err)
	}
	path := b.RunPath(id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%w: run %s (%s)", ErrNotFound, id, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open run %s: %w", id, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open run %s: %w", id, err)
	}
	return &localJournal{f: f, size: fi.Size()}, nil
}

func (j *localJournal) Size() int64 { return j.size }

// Append is one write(2) and one fsync(2). The lock keeps other writers
// away; a file that is no longer where this journal left it (a repair, a
// writer without the lock, an earlier torn write) is refused.
func (j *localJournal) Append(_ context.Context, p []byte) error {
	if j.f == nil {
		return fmt.Errorf("append to run file: closed")
	}
	fi, err := j.f.Stat()
	if err != nil {
		return fmt.Errorf("append to run file %s: %w", j.f.Name(), err)
	}
	if fi.Size() != j.size {
		return fmt.Errorf("append to run file %s: it is %d bytes, not the %d this writer left: another writer or a torn write; open the run again", j.f.Name(), fi.Size(), j.size)
	}
	if _, err := j.f.Write(p); err != nil {
		return fmt.Errorf("append to run file %s: %w", j.f.Name(), err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("append to run file %s: fsync: %w", j.f.Name(), err)
	}
	j.size += int64(len(p))
	return nil
}

func (j *localJournal) Close() error {
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	name := j.f.Name()
	j.f = nil
	if err != nil {
		return fmt.Errorf("close run file %s: %w", name, err)
	}
	return nil
}

// localReader reads a run file through its descriptor alone: open(2),
// pread(2), close(2), and fstat(2) only when Size is asked. An *os.File
// costs five more system calls per file (it tries to register a regular
// file with the network poller: four fcntl and an epoll_ctl that fails),
// which is most of what listing 10,000 runs spends (`runs`).
type localReader struct {
	fd   int
	path string
	size int64 // -1 until Size is first called
	err  error // fstat's error, returned by every ReadAt after it
}

// Size is the file's length as fstat(2) gives it at the first call. A
// journal only grows while it is read without the lock, so the bytes
// below it stay what they were.
func (r *localReader) Size() int64 {
	if r.size < 0 {
		var st syscall.Stat_t
		if err := ignoringEINTR(func() error { return syscall.Fstat(r.fd, &st) }); err != nil {
			r.size, r.err = 0, &os.PathError{Op: "fstat", Path: r.path, Err: err}
		} else {
			r.size = st.Size
		}
	}
	return r.size
}

// ReadAt reads like os.File's: all of p, or io.EOF with what there was.
// One pread(2) suffices for a journal that ends within p: Linux reads a
// regular file up to the count asked or to its end (a read of more than
// 1 GiB may stop short: it goes on), so a shorter read is the end of the
// file as of the read, and a second pread to see 0 bytes (what os.File
// does) would be a third of what listing runs costs in system calls.
func (r *localReader) ReadAt(p []byte, off int64) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "readat", Path: r.path, Err: errors.New("negative offset")}
	}
	n := 0
	for len(p) > 0 {
		m, err := syscall.Pread(r.fd, p, off)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, &os.PathError{Op: "read", Path: r.path, Err: err}
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
		if m < len(p) && m < 1<<30 {
			return n, io.EOF
		}
		p, off = p[m:], off+int64(m)
	}
	return n, nil
}

func (r *localReader) Close() error {
	if r.fd < 0 {
		return &os.PathError{Op: "close", Path: r.path, Err: os.ErrClosed}
	}
	err := syscall.Close(r.fd)
	r.fd = -1
	if err != nil {
		return &os.PathError{Op: "close", Path: r.path, Err: err}
	}
	return nil
}

func ignoringEINTR(f func() error) error {
	for {
		if err := f(); err != syscall.EINTR {
			return err
		}
	}
}

// ReadJournal opens runs/<id>.yaml for reading.
func (b *LocalBackend) ReadJournal(_ context.Context, id string) (JournalReader, error) {
	if err := checkRunID(id); err != nil {
		return nil, fmt.Errorf("load run: %w", err)
	}
	path := b.RunPath(id)
	var fd int
	err := ignoringEINTR(func() (err error) {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		return err
	})
	if err == syscall.ENOENT {
		return nil, fmt.Errorf("%w: run %s (%s)", ErrNotFound, id, path)
	}
	if err != nil {
		return nil, fmt.Errorf("load run %s: %w", id, &os.PathError{Op: "open", Path: path, Err: err})
	}
	return &localReader{fd: fd, path: path, size: -1}, nil
}

// RepairJournal keeps a copy as <file>.broken[.N] and truncates the file.
func (b *LocalBackend) RepairJournal(_ context.Context, id string, size int64) (string, error) {
	if err := checkRunID(id); err != nil {
		return "", fmt.Errorf("repair run: %w", err)
	}
	path := b.RunPath(id)
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return "", fmt.Errorf("%w: run %s (%s)", ErrNotFound, id, path)
	}
	if err != nil {
		return "", fmt.Errorf("repair %s: %w", path, err)
	}
	if size < 0 || size > int64(len(data)) {
		return "", fmt.Errorf("repair %s: cut to %d bytes: the file has %d", path, size, len(data))
	}
	broken := path + ".broken"
	for i := 2; ; i++ {
		if _, err := os.Lstat(broken); os.IsNotExist(err) {
			break
		}
		broken = fmt.Sprintf("%s.broken.%d", path, i)
	}
	if err := WriteFileAtomic(broken, data, 0o644); err != nil {
		return "", fmt.Errorf("repair %s: keep copy: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return "", fmt.Errorf("repair %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return "", fmt.Errorf("repair %s: truncate to %d bytes: %w", path, size, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("repair %s: fsync: %w", path, err)
	}
	return broken, nil
}

// ---- runtime snapshot

// ReadRuntime reads runtime.yaml.
func (b *LocalBackend) ReadRuntime(context.Context) ([]byte, error) {
	data, err := os.ReadFile(b.RuntimePath())
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, b.RuntimePath())
	}
	if err != nil {
		return nil, fmt.Errorf("read runtime: %w", err)
	}
	return data, nil
}

// WriteRuntime replaces runtime.yaml atomically.
func (b *LocalBackend) WriteRuntime(_ context.Context, data []byte) error {
	if err := os.MkdirAll(b.root, 0o755); err != nil {
		return fmt.Errorf("write runtime: %w", err)
	}
	return WriteFileAtomic(b.RuntimePath(), data, 0o644)
}

// ---- run files and logs

// WriteRunFile writes runs/<id>/<name> atomically, 0600.
func (b *LocalBackend) WriteRunFile(_ context.Context, id, name string, data []byte) error {
	if err := checkRunID(id); err != nil {
		return err
	}
	if err := checkRelName(name); err != nil {
		return fmt.Errorf("run %s: %w", id, err)
	}
	path := b.RunFilePath(id, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("run %s: %w", id, err)
	}
	return WriteFileAtomic(path, data, 0o600)
}

// ReadRunFile reads runs/<id>/<name>.
func (b *LocalBackend) ReadRunFile(_ context.Context, id, name string) ([]byte, error) {
	if err := checkRunID(id); err != nil {
		return nil, err
	}
	if err := checkRelName(name); err != nil {
		return nil, fmt.Errorf("run %s: %w", id, err)
	}
	return readFile(b.RunFilePath(id, name))
}

// readFile is os.ReadFile with ErrNotFound for a missing file.
func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

// OpenLog opens runs/<id>/<node>.log for appending, 0600.
func (b *LocalBackend) OpenLog(_ context.Context, id, node string) (io.WriteCloser, error) {
	if err := checkRunID(id); err != nil {
		return nil, fmt.Errorf("node log: %w", err)
	}
	if err := checkRelName(node); err != nil {
		return nil, fmt.Errorf("node log: %w", err)
	}
	path := b.LogPath(id, node)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("node log %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("node log %s: %w", path, err)
	}
	return f, nil
}

// tailBytes bounds how much of a log TailLog reads.
const tailBytes = 64 << 10

// TailLog returns the last n lines of the log, reading at most its last
// 64 KiB.
func (b *LocalBackend) TailLog(_ context.Context, id, node string, n int) ([]string, error) {
	if err := checkRunID(id); err != nil {
		return nil, fmt.Errorf("node log: %w", err)
	}
	if err := checkRelName(node); err != nil {
		return nil, fmt.Errorf("node log: %w", err)
	}
	path := b.LogPath(id, node)
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%w: log %s", ErrNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat log %s: %w", path, err)
	}
	off := max(fi.Size()-tailBytes, 0)
	data, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return nil, fmt.Errorf("read log %s: %w", path, err)
	}
	return tailLines(data, off > 0, n), nil
}

// tailLines returns the last n lines of data; partial says data starts in
// the middle of a line (which is dropped).
func tailLines(data []byte, partial bool, n int) []string {
	if partial {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" || n <= 0 {
		return nil
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// LogLocation is the log file's path (node ""): the run's log directory.
func (b *LocalBackend) LogLocation(id, node string) string {
	if node == "" {
		return b.LogDir(id)
	}
	return b.LogPath(id, node)
}

// ---- secrets

// PutSecret writes secrets/<name> atomically, 0600, in 0700 directories.
func (b *LocalBackend) PutSecret(_ context.Context, name string, data []byte) error {
	if err := checkRelName(name); err != nil {
		return fmt.Errorf("write secret: %w", err)
	}
	path := filepath.Join(b.SecretsPath(), filepath.FromSlash(name))
	if err := mkdirPrivate(b.SecretsPath()); err != nil {
		return err
	}
	if err := mkdirPrivate(filepath.Dir(path)); err != nil {
		return err
	}
	if err := WriteFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("write secret: %w", err)
	}
	return nil
}

// GetSecret reads secrets/<name>.
func (b *LocalBackend) GetSecret(_ context.Context, name string) ([]byte, error) {
	if err := checkRelName(name); err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	data, err := os.ReadFile(filepath.Join(b.SecretsPath(), filepath.FromSlash(name)))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%w: secret %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", name, err)
	}
	return data, nil
}

// DeleteSecret removes secrets/<name> and fsyncs its directory.
func (b *LocalBackend) DeleteSecret(_ context.Context, name string) error {
	if err := checkRelName(name); err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	path := filepath.Join(b.SecretsPath(), filepath.FromSlash(name))
	if err := os.Remove(path); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	return SyncDir(filepath.Dir(path))
}

// ListSecrets walks secrets/ for regular files (temporary files of an
// interrupted atomic write are not secrets).
func (b *LocalBackend) ListSecrets(context.Context) ([]string, error) {
	root := b.SecretsPath()
	var names []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), ".tmp-") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// SecretsDir is secrets/ itself; it is created (0700) by the first writer.
func (b *LocalBackend) SecretsDir(context.Context) (string, error) { return b.SecretsPath(), nil }

// SaveSecrets has nothing to put back: SecretsDir is the store.
func (b *LocalBackend) SaveSecrets(context.Context) error { return nil }

// ---- work dirs

// reservedNames are the state directory's own entries, never work dirs.
var reservedNames = []string{RuntimeFile, RunsDirName, SecretsName, LegacyName, LockFile}

// checkWorkDir accepts a one-element name that is not one of the state
// directory's own entries.
func checkWorkDir(name string) error {
	if err := checkRelName(name); err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	if strings.Contains(name, "/") || strings.HasPrefix(name, ".") || slices.Contains(reservedNames, name) {
		return fmt.Errorf("work dir %q: want one name such as terraform, not a path or one of %s", name, strings.Join(reservedNames, ", "))
	}
	return nil
}

// WorkDir is <state>/<name> (terraform/, k0s/); the phase creates it.
func (b *LocalBackend) WorkDir(_ context.Context, name string) (string, error) {
	if err := checkWorkDir(name); err != nil {
		return "", err
	}
	return filepath.Join(b.root, name), nil
}

// SaveWorkDir has nothing to put back: the work dir is in the store.
func (b *LocalBackend) SaveWorkDir(_ context.Context, name string) error {
	return checkWorkDir(name)
}

// Close does nothing: nothing was copied.
func (b *LocalBackend) Close() error { return nil }

// removeTemps removes leftovers of WriteFileAtomic in the state directory
// and in each run's log directory (see Store.Refresh).
func (b *LocalBackend) removeTemps() {
	rm := func(dir string) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			if n := e.Name(); strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-") && e.Type().IsRegular() {
				os.Remove(filepath.Join(dir, n))
			}
		}
	}
	rm(b.root)
	rm(b.RunsDir())
	ents, err := os.ReadDir(b.RunsDir())
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() && ValidRunID(e.Name()) {
			rm(filepath.Join(b.RunsDir(), e.Name()))
		}
	}
}
