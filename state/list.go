package state

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// RunInfo is one line of `runs`.
type RunInfo struct {
	ID           string
	ParentRunID  string
	Created      time.Time
	Finished     time.Time // zero while unfinished
	Outcome      Outcome   // "" while unfinished; superseded
	SupersededBy string
	Flags        map[string]bool
	Migrated     bool
	Teardown     bool     // a teardown run (k0rdent reset)
	Nodes        int      // planned nodes
	FailedNodes  []string // at the outcome
	Torn         bool     // the tail is torn (repaired on resume)
	Err          error    // the file is unreadable or corrupt; the fields describe its valid prefix
}

// Load reads and replays run id. It never locks and never repairs: a torn
// tail sets Torn, corruption sets Err, and the RunFile describes the valid
// prefix. The error is for a missing (ErrNotFound) or unreadable file.
func (s *Store) Load(id string) (*RunFile, error) {
	if !ValidRunID(id) {
		return nil, fmt.Errorf("load run %q: not a run id (YYYYMMDD-HHMMSS-xxxx)", id)
	}
	path := s.journalName(id)
	r, err := s.b.ReadJournal(s.ctx(), id)
	if err != nil {
		return nil, err
	}
	data := make([]byte, r.Size())
	_, err = r.ReadAt(data, 0)
	r.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("load run %s: %w", id, err)
	}
	rf := decodeBytes(data, path)
	if rf.Err == nil && rf.hasHeader && rf.Header.RunID != id {
		rf.Err = &CorruptError{File: path, Record: 0, Reason: fmt.Sprintf("header run_id %s does not match the file name", rf.Header.RunID)}
	}
	return rf, nil
}

// journalName names run id's journal in messages and errors: its path in
// a local state directory.
func (s *Store) journalName(id string) string {
	if s.local != nil {
		return s.local.RunPath(id)
	}
	return s.Location() + "/" + RunsDirName + "/" + id + ".yaml"
}

// listHead is how much of the head of a run file List reads first: most
// run files are shorter, and then that one read is all List needs (the
// header and the last record both). listTail is how much of the end of a
// longer file it reads for its last record.
const (
	listHead = 16 << 10
	listTail = 4 << 10
)

// List describes every run, newest first. It reads the header from the
// head of each file and the last record from its tail; only a file whose
// last record is not an outcome or superseded record (unfinished, torn,
// damaged) is read whole. Corruption between the header and the last
// record is therefore not seen by List; Load (runs show, resume) sees it.
func (s *Store) List() ([]RunInfo, error) { return s.ListNewest(0) }

// ListNewest is List limited to the newest n runs (n <= 0: all). It opens
// only their files: run ids sort by time, so the directory listing alone
// says which they are (`runs --limit N`).
func (s *Store) ListNewest(n int) ([]RunInfo, error) {
	ids, err := s.runIDs()
	if err != nil {
		return nil, err
	}
	slices.Reverse(ids)
	if n > 0 && len(ids) > n {
		ids = ids[:n]
	}
	out := make([]RunInfo, len(ids))
	// Listing is system calls (open, pread, close) more than parsing:
	// a few readers overlap them. Each writes only its own slots.
	workers := min(len(ids), 2*runtime.GOMAXPROCS(0))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			buf := make([]byte, listHead+listTail)
			for i := int(next.Add(1) - 1); i < len(ids); i = int(next.Add(1) - 1) {
				info, ok := s.quickInfo(ids[i], buf)
				if !ok {
					info = s.slowInfo(ids[i])
				}
				out[i] = info
			}
		})
	}
	wg.Wait()
	return out, nil
}

// quickInfo reads the header and the last document only: one read of the
// head for a file shorter than listHead, one more of its tail otherwise.
// ok is false when the file needs slowInfo (unreadable, no valid header,
// a last document that is not a whole outcome or superseded record:
// unfinished, torn or damaged).
func (s *Store) quickInfo(id string, buf []byte) (RunInfo, bool) {
	f, err := s.b.ReadJournal(s.ctx(), id)
	if err != nil {
		return RunInfo{}, false
	}
	defer f.Close()
	head := buf[:listHead]
	n, err := f.ReadAt(head, 0)
	whole := errors.Is(err, io.EOF) // the file ends within head
	if err != nil && !whole {
		return RunInfo{}, false
	}
	head = head[:n]
	hd, ok := parseDoc(head, 0)
	if !ok || hd.seq != 0 {
		return RunInfo{}, false
	}
	h, err := headerOf(hd.body)
	if err != nil || h.Kind != KindHeader && h.Kind != KindTeardown || h.RunID != id || h.Format > FormatVersion {
		return RunInfo{}, false
	}
	// The last document starts after the last "\n---\n" (keep the "\n"
	// that ends the header) and ends at the end of the file.
	var tail []byte
	if whole {
		if hd.end == len(head) {
			return infoFromHeader(h.Header), true // header only: unfinished
		}
		tail = head[hd.end-1:]
	} else {
		size := f.Size()
		if size < int64(hd.end) {
			return RunInfo{}, false
		}
		if size == int64(hd.end) {
			return infoFromHeader(h.Header), true
		}
		off := max(size-listTail, int64(hd.end)-1)
		tail = buf[listHead : listHead+int(size-off)]
		if m, err := f.ReadAt(tail, off); m != len(tail) || err != nil && !errors.Is(err, io.EOF) {
			return RunInfo{}, false
		}
	}
	i := bytes.LastIndex(tail, []byte("\n"+docStart))
	if i < 0 {
		return RunInfo{}, false
	}
	d, ok := parseDoc(tail, i+1)
	if !ok || d.end != len(tail) {
		return RunInfo{}, false
	}
	rec, err := recordOf(d.body)
	if err != nil || rec.Seq != d.seq {
		return RunInfo{}, false
	}
	if rec.Kind != KindOutcome && rec.Kind != KindSuperseded {
		return RunInfo{}, false
	}
	info := infoFromHeader(h.Header)
	info.Finished = rec.Time
	info.Flags = rec.Flags
	if rec.Kind == KindSuperseded {
		info.Outcome, info.SupersededBy = OutcomeSuperseded, rec.By
	} else {
		info.Outcome, info.FailedNodes = rec.Outcome, rec.FailedNodes
	}
	return info, true
}

func infoFromHeader(h Header) RunInfo {
	return RunInfo{ID: h.RunID, ParentRunID: h.ParentRunID, Created: h.Created, Flags: h.Flags,
		Migrated: h.Migrated, Teardown: h.Teardown, Nodes: len(h.Nodes)}
}

// slowInfo loads the whole file.
func (s *Store) slowInfo(id string) RunInfo {
	rf, err := s.Load(id)
	if err != nil {
		return RunInfo{ID: id, Err: err}
	}
	info := infoFromHeader(rf.Header)
	info.ID = id
	info.Flags = rf.Flags
	info.Outcome, info.Finished, info.SupersededBy = rf.Outcome, rf.Finished, rf.SupersededBy
	if rf.Outcome != OutcomeNone {
		info.FailedNodes = rf.FailedNodes()
	}
	info.Torn, info.Err = rf.Torn, rf.Err
	return info
}
