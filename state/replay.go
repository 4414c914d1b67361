package state

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// RunFile is a decoded and replayed run file: what Load returns and what a
// Run keeps up to date as it appends.
type RunFile struct {
	Header  Header
	Records []Record // every record after the header, Seq 1..n

	// Nodes is the replayed state of every node that has a transition:
	// what the engine resumes from. Succeeded nodes carry their outputs and
	// RunID (the run the node last ran in: this one, or for a reuse the
	// run its built_in names).
	Nodes map[string]workflow.NodeStatus

	// Flags are the run's effective flags: the header's, replaced by each
	// resumed record that carries flags.
	Flags map[string]bool
	// Attempt is the run attempt: 1, plus one per resume.
	Attempt int
	// Outcome is the latest outcome; a resumed record after an outcome
	// makes the run unfinished again. OutcomeSuperseded once superseded.
	Outcome       Outcome
	OutcomeReason string
	Finished      time.Time // time of the outcome or superseded record
	SupersededBy  string
	// Takeovers lists the previous holders of lock takeovers.
	Takeovers []Holder
	// ProcessGroups lists the process groups the process records name, in
	// order: the groups node attempts started (see LeftoverProcessGroups).
	ProcessGroups []workflow.ProcessGroup

	// Size is the length in bytes of the valid prefix.
	Size int64
	// Torn: bytes after Size are a torn last document; OpenRun repairs it.
	Torn bool
	// Err is a *CorruptError or *TransitionError: the file is damaged or
	// inconsistent at Records[len(Records)] and cannot be resumed. The
	// fields above describe the valid prefix.
	Err error

	file      string
	hasHeader bool
	timeline  map[string]*NodeTimeline
	// last "determining" record per node, for Project (index into
	// Records): succeeded or skipped; decidedFail also counts failed.
	determining map[string]int
	decidedFail map[string]int
	ever        map[Outcome]bool
	selection   Selection
	provides    map[string]provider // projections(), decoded once
}

// Selection is a run's --only/--from/--skip.
type Selection struct {
	Only, From, Skip []string
}

// Empty reports whether the selection selects every enabled node.
func (s Selection) Empty() bool { return len(s.Only)+len(s.From)+len(s.Skip) == 0 }

// String is the selection as flags: "--only a,b --skip c".
func (s Selection) String() string {
	var parts []string
	for _, f := range []struct {
		flag  string
		names []string
	}{{"--only", s.Only}, {"--from", s.From}, {"--skip", s.Skip}} {
		if len(f.names) > 0 {
			parts = append(parts, f.flag+" "+strings.Join(f.names, ","))
		}
	}
	return strings.Join(parts, " ")
}

func (s Selection) clone() Selection {
	return Selection{Only: slices.Clone(s.Only), From: slices.Clone(s.From), Skip: slices.Clone(s.Skip)}
}

// Selection is the run's selection: the header's, replaced by each
// resumed record that carries one.
func (rf *RunFile) Selection() Selection { return rf.selection.clone() }

// NodeTimeline is what `runs show` prints for a node.
type NodeTimeline struct {
	Node     string
	State    workflow.State
	Attempts int           // how many times it went running in this run
	Started  time.Time     // first running
	Finished time.Time     // last final state
	Duration time.Duration // sum of recorded attempt durations
	Reason   string
	Error    string
}

// File is the path the run file was read from ("" for Decode).
func (rf *RunFile) File() string { return rf.file }

// LastTime is the time of the latest record, or the header's Created.
func (rf *RunFile) LastTime() time.Time {
	if n := len(rf.Records); n > 0 {
		return rf.Records[n-1].Time
	}
	return rf.Header.Created
}

// Timeline lists the nodes: planned nodes in header order, then any other
// node in order of first appearance.
func (rf *RunFile) Timeline() []NodeTimeline {
	out := make([]NodeTimeline, 0, len(rf.timeline))
	seen := map[string]bool{}
	for _, n := range rf.Header.Nodes {
		if t, ok := rf.timeline[n]; ok && !seen[n] {
			out = append(out, *t)
			seen[n] = true
		}
	}
	for _, rec := range rf.Records {
		if rec.Kind == KindTransition && !seen[rec.Node] {
			out = append(out, *rf.timeline[rec.Node])
			seen[rec.Node] = true
		}
	}
	return out
}

// FailedNodes lists the nodes whose state is failed, sorted.
func (rf *RunFile) FailedNodes() []string {
	var out []string
	for n, st := range rf.Nodes {
		if st.State == workflow.Failed {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func (rf *RunFile) nextSeq() uint64 {
	if !rf.hasHeader {
		return 0
	}
	return uint64(len(rf.Records)) + 1
}

func (rf *RunFile) setHeader(h Header) {
	rf.Header = h
	rf.hasHeader = true
	rf.Flags = maps.Clone(h.Flags)
	rf.selection = Selection{Only: h.Only, From: h.From, Skip: h.Skip}.clone()
	rf.Attempt = 1
	rf.Nodes = map[string]workflow.NodeStatus{}
	rf.timeline = map[string]*NodeTimeline{}
	rf.determining = map[string]int{}
	rf.decidedFail = map[string]int{}
	rf.ever = map[Outcome]bool{}
}

// check validates rec against the replayed state without changing it.
func (rf *RunFile) check(rec *Record) error { return rf.checkWith(rec, nil) }

// checkWith is check for a record that follows, in the same batch, records
// not applied yet: batch holds the node states those records leave.
func (rf *RunFile) checkWith(rec *Record, batch map[string]workflow.State) error {
	seq := rec.Seq
	corrupt := func(format string, args ...any) error {
		return &CorruptError{File: rf.file, Record: seq, Offset: rf.Size, Reason: fmt.Sprintf(format, args...)}
	}
	if rec.Time.IsZero() {
		return corrupt("%s record without time", rec.Kind)
	}
	switch rec.Kind {
	case KindTransition:
		if rec.Node == "" {
			return corrupt("transition without node")
		}
		if !rec.From.Valid() || !rec.To.Valid() {
			return corrupt("node %s: unknown state in %q -> %q", rec.Node, rec.From, rec.To)
		}
		terr := &TransitionError{File: rf.file, Record: seq, Node: rec.Node, From: rec.From, To: rec.To}
		cur, ok := rf.Nodes[rec.Node].State, false
		if st, in := batch[rec.Node]; in {
			cur, ok = st, true
		} else {
			_, ok = rf.Nodes[rec.Node]
		}
		if ok {
			terr.Actual = cur
			if cur != rec.From {
				terr.Reason = fmt.Sprintf("record says %s -> %s but the node is %s", rec.From, rec.To, cur)
				return terr
			}
		}
		if !rec.From.CanTransition(rec.To) {
			terr.Reason = fmt.Sprintf("illegal transition %s -> %s", rec.From, rec.To)
			return terr
		}
	case KindResumed:
		if rec.Attempt < 1 {
			return corrupt("resumed record without attempt")
		}
	case KindOutcome:
		switch rec.Outcome {
		case OutcomeSucceeded, OutcomeFailed, OutcomeCancelled, OutcomePartial:
		default:
			return corrupt("outcome %q: want succeeded, partial, failed or cancelled", rec.Outcome)
		}
	case KindSuperseded:
		if !ValidRunID(rec.By) {
			return corrupt("superseded by %q: not a run id", rec.By)
		}
	case KindLockTakeover:
		if rec.Previous == nil {
			return corrupt("lock-takeover record without previous holder")
		}
	case KindProcess:
		if rec.Process == nil || rec.Process.PGID <= 0 {
			return corrupt("process record without a process group")
		}
		if cur := rf.Nodes[rec.Node]; cur.State != workflow.Running || cur.Attempt != rec.Attempt {
			return corrupt("process record of node %q attempt %d, which is not running (it is %s, attempt %d)",
				rec.Node, rec.Attempt, cur.State, cur.Attempt)
		}
	case KindOperator:
		if o := rec.Operator; o == nil || o.Action != OperatorRemoved || o.Name == "" {
			return corrupt("operator record without action removed and a name")
		}
	default:
		return corrupt("unknown record kind %q", rec.Kind)
	}
	return nil
}

// apply folds a checked record into the replayed state.
func (rf *RunFile) apply(rec Record) {
	rf.Records = append(rf.Records, rec)
	idx := len(rf.Records) - 1
	switch rec.Kind {
	case KindTransition:
		st := rf.Nodes[rec.Node]
		tl := rf.timeline[rec.Node]
		if tl == nil {
			tl = &NodeTimeline{Node: rec.Node}
			rf.timeline[rec.Node] = tl
		}
		st.State, st.Attempt, st.Reason, st.Error = rec.To, rec.Attempt, rec.Reason, rec.Error
		tl.State, tl.Reason, tl.Error = rec.To, rec.Reason, rec.Error
		switch rec.To {
		case workflow.Running:
			st.Started, st.Finished, st.Outputs, st.RunID = rec.Time, time.Time{}, nil, ""
			st.Digest, st.OwnDigest = "", ""
			tl.Attempts++
			if tl.Started.IsZero() {
				tl.Started = rec.Time
			}
		case workflow.Succeeded:
			switch {
			case rec.From == workflow.Succeeded && rec.BuiltIn != "":
				st.RunID = rec.BuiltIn // a reuse names the run that built it
			case rec.From != workflow.Succeeded || st.RunID == "":
				st.RunID = rf.Header.RunID
			}
			st.Finished = rec.Time
			// A reuse (succeeded -> succeeded) without outputs keeps the
			// outputs known from this file and decides nothing for Project.
			if rec.From != workflow.Succeeded || rec.Digest != "" {
				st.Digest, st.OwnDigest = rec.Digest, rec.OwnDigest
			}
			if rec.From != workflow.Succeeded || rec.Outputs != nil {
				st.Outputs = maps.Clone(rec.Outputs)
				rf.determining[rec.Node] = idx
				rf.decidedFail[rec.Node] = idx
			}
		default:
			st.Outputs, st.RunID, st.Digest, st.OwnDigest = nil, "", "", ""
			st.Finished = rec.Time
			if rec.To == workflow.Skipped {
				rf.determining[rec.Node] = idx
			}
			if rec.To == workflow.Skipped || rec.To == workflow.Failed {
				rf.decidedFail[rec.Node] = idx
			}
		}
		if rec.To.Final() {
			tl.Finished = rec.Time
		}
		tl.Duration += rec.Duration
		rf.Nodes[rec.Node] = st
	case KindResumed:
		rf.Attempt = rec.Attempt
		if rec.Flags != nil {
			rf.Flags = maps.Clone(rec.Flags)
		}
		if sel := (Selection{Only: rec.Only, From: rec.SelectFrom, Skip: rec.Skip}); !sel.Empty() {
			rf.selection = sel.clone()
		}
		rf.Outcome, rf.OutcomeReason, rf.Finished = OutcomeNone, "", time.Time{}
	case KindOutcome:
		rf.Outcome, rf.OutcomeReason, rf.Finished = rec.Outcome, rec.Reason, rec.Time
		rf.ever[rec.Outcome] = true
	case KindSuperseded:
		rf.Outcome, rf.SupersededBy, rf.Finished = OutcomeSuperseded, rec.By, rec.Time
	case KindLockTakeover:
		rf.Takeovers = append(rf.Takeovers, *rec.Previous)
	case KindProcess:
		rf.ProcessGroups = append(rf.ProcessGroups, workflow.ProcessGroup{
			RunID: rf.Header.RunID, Node: rec.Node, Attempt: rec.Attempt,
			PGID: rec.Process.PGID, LeaderStart: rec.Process.LeaderStart, BootID: rec.Process.BootID})
	}
}

// Succeeded reports whether the run ever recorded the succeeded outcome.
func (rf *RunFile) Succeeded() bool { return rf.ever[OutcomeSucceeded] }
