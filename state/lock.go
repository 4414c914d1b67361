package state

import (
	"fmt"
	"os"
	"os/user"
	"time"
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

// Lock is the held store lock (the backend's Lease: locally an
// exclusive flock on state/lock, whose content is the holder record).
type Lock struct {
	s     *Store
	lease Lease
}

// Lock takes the store lock without waiting. If a live process holds it,
// the error is a *LockedError naming that holder (errors.Is ErrLocked). If
// the OS lock is free but a holder record remains, its process died
// holding it: the lock is taken over and the previous holder returned, for
// the caller to journal with Run.LockTakeover.
func (s *Store) Lock(h Holder) (*Lock, *Holder, error) {
	lease, prev, err := s.b.Lock(s.ctx(), h)
	if err != nil {
		return nil, nil, err
	}
	l := &Lock{s: s, lease: lease}
	s.mu.Lock()
	s.lock = l
	s.mu.Unlock()
	return l, prev, nil
}

// Holder is the record this lock was taken with.
func (l *Lock) Holder() Holder { return l.lease.Holder() }

// SetRunID records the run the holder works on, once it is known.
func (l *Lock) SetRunID(id string) error {
	h := l.lease.Holder()
	h.RunID = id
	return l.lease.SetHolder(l.s.ctx(), h)
}

// Unlock clears the holder record and releases the lock. A second call
// does nothing.
func (l *Lock) Unlock() error {
	if l == nil {
		return nil
	}
	err := l.lease.Unlock(l.s.ctx())
	l.s.mu.Lock()
	if l.s.lock == l {
		l.s.lock = nil
	}
	l.s.mu.Unlock()
	return err
}

// ReadHolder returns the holder record in the lock file, or nil if there
// is none. It does not take the lock; the holder may be dead.
func (s *Store) ReadHolder() (*Holder, error) { return s.b.ReadHolder(s.ctx()) }

// locked returns nil if this Store holds the lock.
func (s *Store) locked() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return fmt.Errorf("%w (state %s)", ErrNotLocked, s.Location())
	}
	return nil
}
