package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// CheckDir refuses a local state directory dir whose entries have the
// wrong shape, before anything reads, creates or locks it: a file where
// the runs directory or the lock file should be, a lock file that holds no
// holder record, or a runtime.yaml or current run file written by a newer
// k0rdent (errors.Is ErrUnsupportedFormat). Each error names the entry and
// the fix; the caller names the directory and how it was chosen. A
// missing directory or entry is fine (the first run creates it); dir
// itself being a directory is the caller's check.
func CheckDir(dir string) error {
	b := NewLocalBackend(dir)
	if fi, err := os.Stat(b.RunsDir()); err == nil && !fi.IsDir() {
		return fmt.Errorf("%s is a %s, not the runs directory (move it away; run journals live in that directory)", b.RunsDir(), fileKind(fi))
	}
	if fi, err := os.Lstat(b.LockPath()); err == nil {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is a %s, not the lock file (remove it; k0rdent creates it)", b.LockPath(), fileKind(fi))
		}
		if _, err := b.ReadHolder(context.Background()); err != nil {
			return fmt.Errorf("%s holds no lock holder record: %v (if no k0rdent is running here, remove it; k0rdent creates it)", b.LockPath(), firstLineOf(err.Error()))
		}
	}
	if _, err := os.Stat(b.RuntimePath()); err == nil {
		s := OpenStore(b)
		rt, err := s.ReadRuntime()
		if errors.Is(err, ErrUnsupportedFormat) {
			return newerError(b.RuntimePath())
		}
		if err == nil && ValidRunID(rt.CurrentRunID) {
			if rf, err := s.Load(rt.CurrentRunID); err == nil && errors.Is(rf.Err, ErrUnsupportedFormat) {
				return newerError(b.RunPath(rt.CurrentRunID))
			}
		}
	}
	return nil
}

// newerFormatError is a file written by a newer k0rdent (errors.Is
// ErrUnsupportedFormat).
type newerFormatError struct{ path string }

func newerError(path string) error { return &newerFormatError{path} }

func (e *newerFormatError) Error() string {
	return fmt.Sprintf("%s: written by a newer k0rdent: upgrade k0rdent (this one reads format %d)", e.path, FormatVersion)
}

func (e *newerFormatError) Is(target error) bool { return target == ErrUnsupportedFormat }

// fileKind names what a directory entry is, for messages.
func fileKind(fi fs.FileInfo) string {
	switch m := fi.Mode(); {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "special file"
}

// firstLineOf is s up to its first newline.
func firstLineOf(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
