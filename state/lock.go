package state

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// Holder says who holds (or held) the store lock. It is written into the
// lock file while the lock is held.
type Holder struct {
	RunID   string    `yaml:"run_id,omitempty"`
	PID     int       `yaml:"pid"`
	Host    string    `yaml:"host,omitempty"`
	User    string    `yaml:"user,omitempty"`
	Command string    `yaml:"command,omitempty"`
	Started time.Time `yaml:"started"`
}

// CurrentHolder describes this process: pid, host, user, now, and command.
func CurrentHolder(command string) Holder {
	h := Holder{PID: os.Getpid(), Command: command, Started: time.Now().UTC().Truncate(time.Second)}
	h.Host, _ = os.Hostname()
	if u, err := user.Current(); err == nil {
		h.User = u.Username
	}
	return h
}

// Lock is the held store lock: an exclusive flock on state/lock, whose
// content is the holder record.
type Lock struct {
	s      *Store
	f      *os.File
	holder Holder
}

// Lock takes the store lock without waiting. If a live process holds it,
// the error is a *LockedError naming that holder (errors.Is ErrLocked). If
// the OS lock is free but a holder record remains, its process died
// holding it: the lock is taken over and the previous holder returned, for
// the caller to journal with Run.LockTakeover.
func (s *Store) Lock(h Holder) (*Lock, *Holder, error) {
	if err := os.MkdirAll(s.root, 0o755); err != nil {
		return nil, nil, fmt.Errorf("lock: create %s: %w", s.root, err)
	}
	path := s.LockPath()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("lock: open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			le := &LockedError{Path: s.root}
			if prev, _ := s.ReadHolder(); prev != nil {
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
	l := &Lock{s: s, f: f, holder: h}
	if err := l.write(); err != nil {
		l.release()
		return nil, nil, err
	}
	s.mu.Lock()
	s.lock = l
	s.mu.Unlock()
	return l, prev, nil
}

// Holder is the record this lock was taken with.
func (l *Lock) Holder() Holder { return l.holder }

// SetRunID records the run the holder works on, once it is known.
func (l *Lock) SetRunID(id string) error {
	l.holder.RunID = id
	return l.write()
}

func (l *Lock) write() error {
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

// Unlock clears the holder record and releases the lock. A second call
// does nothing.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
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

func (l *Lock) release() {
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
	l.s.mu.Lock()
	if l.s.lock == l {
		l.s.lock = nil
	}
	l.s.mu.Unlock()
}

// ReadHolder returns the holder record in the lock file, or nil if there
// is none. It does not take the lock; the holder may be dead.
func (s *Store) ReadHolder() (*Holder, error) {
	data, err := os.ReadFile(s.LockPath())
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
		return nil, fmt.Errorf("read lock holder %s: %w", s.LockPath(), err)
	}
	return &h, nil
}

// locked returns nil if this Store holds the lock.
func (s *Store) locked() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return fmt.Errorf("%w (state %s)", ErrNotLocked, s.root)
	}
	return nil
}
