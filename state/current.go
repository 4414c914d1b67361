package state

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// NextRunID returns a new run id for a run created at now: greater than
// every existing one, so that run files sort in creation order.
func (s *Store) NextRunID(now time.Time) (string, error) { return s.nextRunID(now) }

// WriteRunFile writes name beside run id's node logs, atomically, 0600.
func (s *Store) WriteRunFile(id, name string, data []byte) error {
	return s.b.WriteRunFile(s.ctx(), id, name, data)
}

// ReadRunFile reads a file WriteRunFile wrote (ErrNotFound if none).
func (s *Store) ReadRunFile(id, name string) ([]byte, error) {
	return s.b.ReadRunFile(s.ctx(), id, name)
}

// LogSink is the sink of run id's node logs (see Run.LogSink) for a
// process that does not hold the run open: `status --check` appends what
// each Verify says to the log of the attempt it verifies.
func (s *Store) LogSink(id string) workflow.LogSink {
	return func(node string, attempt int) (io.WriteCloser, error) {
		w, err := s.b.OpenLog(s.ctx(), id, node)
		if err != nil {
			return nil, err
		}
		if _, err := fmt.Fprintf(w, "===== %s attempt %d %s =====\n", node, attempt, s.now().Format(time.RFC3339)); err != nil {
			w.Close()
			return nil, fmt.Errorf("node log %s: %w", s.b.LogLocation(id, node), err)
		}
		return w, nil
	}
}

// Current is the runtime projection as the run files say it is, computed
// without writing and without the lock: runtime.yaml when it is readable
// and names the newest run, with that run's file folded over it (so that
// a runtime.yaml left behind by a kill between an append and its rewrite
// is brought up to date); otherwise the fold of every run file, oldest
// first (runtime.yaml deleted, garbage, or naming an older run because a
// kill came right after a new run's header). Without run files it is
// runtime.yaml as it is (a migration may have seeded one), or
// ErrNotFound.
func (s *Store) Current() (*Runtime, error) {
	ids, err := s.runIDs()
	if err != nil {
		return nil, err
	}
	rt, rerr := s.ReadRuntime()
	if len(ids) == 0 {
		return rt, rerr
	}
	newest := ids[len(ids)-1]
	if rerr == nil && rt.CurrentRunID == newest {
		rf, err := s.Load(newest)
		if err != nil {
			return nil, err
		}
		if rf.hasHeader {
			return Project(rt, rf), nil
		}
	}
	rt, err = s.foldRuns()
	if err != nil {
		return nil, err
	}
	if rt == nil {
		return nil, fmt.Errorf("%w: no run file with a header in %s", ErrNotFound, s.Location())
	}
	return rt, nil
}

// Refresh rewrites runtime.yaml with Current when it differs (or is
// missing or unreadable) and removes the temporary files a process killed
// in the middle of an atomic write left behind (.runtime.yaml.tmp-*,
// .k0rdent.yaml.tmp-* beside the run logs). The caller must hold the lock.
func (s *Store) Refresh() (*Runtime, error) {
	if err := s.locked(); err != nil {
		return nil, fmt.Errorf("refresh runtime: %w", err)
	}
	if t, ok := s.b.(interface{ removeTemps() }); ok {
		t.removeTemps()
	}
	rt, err := s.Current()
	if errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if old, err := s.ReadRuntime(); err == nil && sameRuntime(old, rt) {
		return rt, nil
	}
	if err := s.WriteRuntime(rt); err != nil {
		return nil, err
	}
	return rt, nil
}

// sameRuntime compares two runtimes by their encoding.
func sameRuntime(a, b *Runtime) bool {
	ea, err1 := encodeRuntime(a)
	eb, err2 := encodeRuntime(b)
	return err1 == nil && err2 == nil && string(ea) == string(eb)
}

// Existing is what a teardown destroys: each node the journal says may
// have left something behind, with the run that last touched it. It folds
// every run file oldest first: a deployment run sets each node that ran in
// it (went running at least once) to its state there, succeeded with its
// outputs, or failed, cancelled or left running; a node it only reused
// keeps its earlier entry. A teardown removes each node whose Destroy
// succeeded. A node that failed after it once succeeded keeps the outputs
// of that success. Nodes that never ran, or only ever were skipped, are absent.
// A file's valid prefix counts even if the file is torn or corrupt.
func (s *Store) Existing() (map[string]workflow.NodeStatus, error) {
	return s.foldNodes(func(out map[string]workflow.NodeStatus, rf *RunFile, id, name string, st workflow.NodeStatus, ran bool) {
		switch {
		case rf.Header.Teardown:
			if st.State == workflow.Succeeded {
				delete(out, name)
			}
		case ran && st.State == workflow.Skipped:
			delete(out, name)
		case ran:
			st.Outputs = maps.Clone(st.Outputs)
			if prev, ok := out[name]; ok && st.State != workflow.Succeeded {
				st.Outputs = prev.Outputs // what it last built is still the best known
			}
			if st.RunID == "" {
				st.RunID = id
			}
			out[name] = st
		}
	})
}

// Probe reports, without taking the lock and without creating or writing
// anything, whether a live process holds it: a *LockedError naming the
// holder (errors.Is ErrLocked), or nil. A command that would refuse on
// what the run files say calls Probe first, so that a live holder is
// reported as such (exit 3), never as the state it is in the middle of
// changing.
func (s *Store) Probe() error { return s.b.Probe(s.ctx()) }
