package state

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// FormatVersion is the run file and runtime.yaml format this package writes
// and the newest it reads.
const FormatVersion = 1

// Kind says what a record is.
type Kind string

// Record kinds. The header is the first document and has no Kind field
// value other than "header".
const (
	KindHeader       Kind = "header"
	KindTeardown     Kind = "teardown" // the header of a teardown run
	KindTransition   Kind = "transition"
	KindResumed      Kind = "resumed"
	KindSuperseded   Kind = "superseded"
	KindLockTakeover Kind = "lock-takeover"
	KindOutcome      Kind = "outcome"
	KindProcess      Kind = "process"  // a process group a running attempt started
	KindOperator     Kind = "operator" // an operator peer removed from the VMs (operators remove)
)

// Outcome is how a run ended. The empty outcome means unfinished.
type Outcome string

// Run outcomes. OutcomeSuperseded is never written in an outcome record:
// it is what a run with a superseded record is listed as.
const (
	OutcomeNone      Outcome = ""
	OutcomeSucceeded Outcome = "succeeded"
	OutcomeFailed    Outcome = "failed"
	OutcomeCancelled Outcome = "cancelled"
	// OutcomePartial: every selected node is done but the selection
	// (--only, --from, --skip) left enabled nodes not done: never run, or
	// failed, blocked or cancelled in an earlier attempt and not selected
	// since. It is never last_successful_run.
	OutcomePartial    Outcome = "partial"
	OutcomeSuperseded Outcome = "superseded"
)

// Header is the first document of a run file.
type Header struct {
	Format       int             `yaml:"format"`
	RunID        string          `yaml:"run_id"`
	ParentRunID  string          `yaml:"parent_run_id,omitempty"`
	Created      time.Time       `yaml:"created"`
	Operator     string          `yaml:"operator,omitempty"`
	Host         string          `yaml:"host,omitempty"`
	ToolVersion  string          `yaml:"tool_version,omitempty"`
	ConfigPath   string          `yaml:"config_path,omitempty"`
	ConfigDigest string          `yaml:"config_digest,omitempty"`
	ClusterID    string          `yaml:"cluster_id,omitempty"`
	Flags        map[string]bool `yaml:"flags,omitempty"`
	Nodes        []string        `yaml:"nodes,omitempty"` // planned nodes
	// Deps are the dependency edges of the planned graph: node -> the
	// nodes it depends on (nodes without dependencies are left out), so
	// that `runs show` needs no config to draw the critical path.
	Deps     map[string][]string `yaml:"deps,omitempty"`
	Migrated bool                `yaml:"migrated,omitempty"`
	// Only, From and Skip are the run's selection (--only, --from,
	// --skip); all empty: every enabled node. A resume that changes the
	// selection records the new one in its resumed record.
	Only []string `yaml:"only,omitempty"`
	From []string `yaml:"from,omitempty"`
	Skip []string `yaml:"skip,omitempty"`
	// Projects declares which node provides which fact of runtime.yaml,
	// from which output: node -> ["fact=key", …] (EncodeProjections).
	// Absent: the built-in declaration (files written before it existed).
	Projects map[string][]string `yaml:"projects,omitempty"`
	// Legacy (migrated runs only): what the legacy tool created that
	// outlives our nodes; projected into runtime.yaml.
	Legacy *LegacyResources `yaml:"legacy,omitempty"`
	// Teardown: the run is a teardown (`k0rdent reset`); its header
	// document's kind is teardown instead of header.
	Teardown bool `yaml:"-"`
}

// headerDoc is the header as written: kind first.
type headerDoc struct {
	Kind   Kind `yaml:"kind"`
	Header `yaml:",inline"`
}

// Record is one document after the header. Which fields are set depends on
// Kind; see the package documentation.
type Record struct {
	Kind Kind      `yaml:"kind"`
	Seq  uint64    `yaml:"seq"`
	Time time.Time `yaml:"time"`

	// transition
	Node     string            `yaml:"node,omitempty"`
	From     workflow.State    `yaml:"from,omitempty"`
	To       workflow.State    `yaml:"to,omitempty"`
	Attempt  int               `yaml:"attempt,omitempty"` // node attempt; run attempt for resumed
	Reason   string            `yaml:"reason,omitempty"`  // also outcome reason
	Error    string            `yaml:"error,omitempty"`
	Duration time.Duration     `yaml:"duration,omitempty"`
	Outputs  map[string]string `yaml:"outputs,omitempty"`
	// succeeded: the inputs digest and own digest the outputs were built
	// with (workflow.Inputs); absent in records written before digests.
	Digest    string `yaml:"digest,omitempty"`
	OwnDigest string `yaml:"own_digest,omitempty"`
	// succeeded -> succeeded (a reuse): the run the node last ran in
	BuiltIn string `yaml:"built_in,omitempty"`

	// resumed, outcome, superseded: the run's flags from then on
	Flags map[string]bool `yaml:"flags,omitempty"`
	// resumed: a selection given with the resume replaces the run's
	// (recorded only when it changes)
	Only       []string `yaml:"only,omitempty"`
	SelectFrom []string `yaml:"select_from,omitempty"` // --from (From is the transition's)
	Skip       []string `yaml:"skip,omitempty"`
	// outcome
	Outcome     Outcome  `yaml:"outcome,omitempty"`
	FailedNodes []string `yaml:"failed_nodes,omitempty"`
	// superseded
	By string `yaml:"by,omitempty"`
	// lock-takeover
	Previous *Holder `yaml:"previous,omitempty"`
	// process (with node and attempt)
	Process *ProcessRecord `yaml:"process,omitempty"`
	// operator
	Operator *OperatorRecord `yaml:"operator,omitempty"`
}

// ProcessRecord is the process group of a process record: what a later
// k0rdent needs to find what is left of it (see workflow.ProcessGroup).
type ProcessRecord struct {
	PGID        int    `yaml:"pgid"`
	LeaderStart uint64 `yaml:"leader_start"`
	BootID      string `yaml:"boot_id,omitempty"`
}

// Event returns the workflow event of a transition record.
func (r *Record) Event() workflow.Event {
	return workflow.Event{
		Seq: r.Seq, Time: r.Time, Node: r.Node, From: r.From, To: r.To, Attempt: r.Attempt,
		Reason: r.Reason, Error: r.Error, Duration: r.Duration, Outputs: r.Outputs,
		Digest: r.Digest, OwnDigest: r.OwnDigest, Built: r.BuiltIn,
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	docStart  = "---\n"
	sumPrefix = "# sum crc32c="
)

// frame wraps a marshalled body into a document: "---", body, sum line.
func frame(body []byte, seq uint64) []byte {
	buf := make([]byte, 0, len(body)+48)
	buf = append(buf, docStart...)
	buf = append(buf, body...)
	return fmt.Appendf(buf, "%s%08x seq=%d\n", sumPrefix, crc32.Checksum(body, castagnoli), seq)
}

// encodeHeader returns the header document.
func encodeHeader(h Header) ([]byte, error) {
	if h.Format == 0 {
		h.Format = FormatVersion
	}
	kind := KindHeader
	if h.Teardown {
		kind = KindTeardown
	}
	h.Deps = compactDeps(h.Deps)
	body, err := yaml.Marshal(headerDoc{Kind: kind, Header: h})
	if err != nil {
		return nil, fmt.Errorf("encode header: %w", err)
	}
	return frame(body, 0), nil
}

// compactDeps copies deps without the nodes that have no dependencies;
// nil if none is left.
func compactDeps(deps map[string][]string) map[string][]string {
	var out map[string][]string
	for n, d := range deps {
		if len(d) > 0 {
			if out == nil {
				out = map[string][]string{}
			}
			out[n] = slices.Clone(d)
		}
	}
	return out
}

// encodeRecord returns the document of rec.
func encodeRecord(rec Record) ([]byte, error) {
	body, err := yaml.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode record %d: %w", rec.Seq, err)
	}
	return frame(body, rec.Seq), nil
}

// rawDoc is one framed document found in a byte slice.
type rawDoc struct {
	off, end int // data[off:end] is the whole document
	body     []byte
	seq      uint64
}

// parseDoc parses the document that starts at data[off]. ok is false when
// there is no complete, well-formed document with a matching checksum
// there: it is torn, damaged, or not a document start.
func parseDoc(data []byte, off int) (d rawDoc, ok bool) {
	if !bytes.HasPrefix(data[off:], []byte(docStart)) {
		return d, false
	}
	bodyStart := off + len(docStart)
	p := bodyStart
	for p < len(data) {
		nl := bytes.IndexByte(data[p:], '\n')
		if nl < 0 {
			return d, false // incomplete line: torn
		}
		line := data[p : p+nl]
		if bytes.HasPrefix(line, []byte("# sum ")) {
			sum, seq, ok := parseSumLine(line)
			if !ok || crc32.Checksum(data[bodyStart:p], castagnoli) != sum {
				return d, false
			}
			return rawDoc{off: off, end: p + nl + 1, body: data[bodyStart:p], seq: seq}, true
		}
		if string(line) == "---" {
			return d, false // the next document starts before this one ended
		}
		p += nl + 1
	}
	return d, false
}

// parseSumLine parses "# sum crc32c=<8 hex> seq=<n>".
func parseSumLine(line []byte) (sum uint32, seq uint64, ok bool) {
	rest, found := bytes.CutPrefix(line, []byte(sumPrefix))
	if !found || len(rest) < 8+5 || string(rest[8:13]) != " seq=" {
		return 0, 0, false
	}
	for _, c := range rest[:8] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return 0, 0, false
		}
	}
	s, err := strconv.ParseUint(string(rest[:8]), 16, 32)
	if err != nil {
		return 0, 0, false
	}
	digits := rest[13:]
	if len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return 0, 0, false
	}
	n, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return uint32(s), n, true
}

// validDocAfter reports whether a valid document starts at a line start
// after off. It only words the corruption message. Each candidate's scan
// stops at the next "---" line, the next candidate, so this is linear.
func validDocAfter(data []byte, off int) bool {
	for p := off + 1; p < len(data); {
		i := bytes.Index(data[p:], []byte("\n"+docStart))
		if i < 0 {
			return false
		}
		if _, ok := parseDoc(data, p+i+1); ok {
			return true
		}
		p += i + 1
	}
	return false
}

// looksTorn reports whether tail, the bytes after the last valid document,
// can be what an interrupted append leaves: a strict prefix of one
// document (possibly followed by NUL bytes, as some filesystems leave
// after a crash). Such a prefix starts like "---\n", has no complete sum
// line (that would end the document) and no second "---" line.
func looksTorn(tail []byte) bool {
	tail = bytes.TrimRight(tail, "\x00")
	n := min(len(tail), len(docStart))
	if !bytes.Equal(tail[:n], []byte(docStart)[:n]) {
		return false
	}
	for p := n; p < len(tail); {
		nl := bytes.IndexByte(tail[p:], '\n')
		if nl < 0 {
			return true // the last, incomplete line
		}
		line := tail[p : p+nl]
		if bytes.HasPrefix(line, []byte("# sum ")) || string(line) == "---" {
			return false
		}
		p += nl + 1
	}
	return true
}

// Decode reads a whole run file from r and decodes it: framing, checksums,
// contiguous sequence numbers, then replay of the records. It is pure: it
// never repairs. The returned RunFile holds the valid prefix; Torn is set
// when only the tail after it is invalid, and Err is set (a *CorruptError
// or *TransitionError) when the file is damaged or inconsistent before its
// end. The error result is only for failing to read r.
func Decode(r io.Reader) (*RunFile, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read run file: %w", err)
	}
	return decodeBytes(data, ""), nil
}

// decodeBytes is Decode on bytes; file names the file in errors.
func decodeBytes(data []byte, file string) *RunFile {
	rf := &RunFile{file: file}
	if n := bytes.Count(data, []byte("\n"+docStart)); n > 0 {
		rf.Records = make([]Record, 0, n)
	}
	off := 0
	for off < len(data) {
		d, ok := parseDoc(data, off)
		if !ok {
			if rf.hasHeader && looksTorn(data[off:]) {
				rf.Torn = true
				return rf
			}
			reason := "bad framing or checksum in the last document"
			switch {
			case !rf.hasHeader:
				reason = "no valid header document"
			case validDocAfter(data, off):
				reason = "bad framing or checksum, and valid documents follow"
			}
			rf.Err = &CorruptError{File: file, Record: rf.nextSeq(), Offset: int64(off), Reason: reason}
			return rf
		}
		if err := rf.decodeDoc(d); err != nil {
			rf.Err = err
			return rf
		}
		off = d.end
		rf.Size = int64(off)
	}
	if !rf.hasHeader {
		rf.Err = &CorruptError{File: file, Record: 0, Offset: 0, Reason: "empty run file, no header document"}
	}
	return rf
}

// unmarshal is yaml.Unmarshal that turns a panic into an error: the
// decoder must classify every input, and yaml.v3 has panicked on hostile
// input before.
func unmarshal(body []byte, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("yaml decoder panic: %v", p)
		}
	}()
	return yaml.Unmarshal(body, v)
}

// decodeDoc checks and applies one checksummed document.
func (rf *RunFile) decodeDoc(d rawDoc) error {
	want := rf.nextSeq()
	bad := func(reason string, err error) error {
		return &CorruptError{File: rf.file, Record: want, Offset: int64(d.off), Reason: reason, Err: err}
	}
	if d.seq != want {
		return bad(fmt.Sprintf("sequence number %d, want %d (a record is missing or repeated)", d.seq, want), nil)
	}
	if !rf.hasHeader {
		var h headerDoc
		if err := decodeHeaderBody(d.body, &h); err != nil {
			return bad("undecodable header", err)
		}
		if h.Kind != KindHeader && h.Kind != KindTeardown {
			return bad(fmt.Sprintf("first document is kind %q, want header or teardown", h.Kind), nil)
		}
		if h.Format < 1 || h.Format > FormatVersion {
			return bad(fmt.Sprintf("format %d; this k0rdent reads formats 1 to %d: upgrade k0rdent", h.Format, FormatVersion), ErrUnsupportedFormat)
		}
		if !ValidRunID(h.RunID) {
			return bad(fmt.Sprintf("header run_id %q is not a run id", h.RunID), nil)
		}
		rf.setHeader(h.Header)
		return nil
	}
	var rec Record
	if err := decodeRecordBody(d.body, &rec); err != nil {
		return bad("undecodable record", err)
	}
	if rec.Seq != want {
		return bad(fmt.Sprintf("record says seq %d, its sum line %d", rec.Seq, d.seq), nil)
	}
	if err := rf.check(&rec); err != nil {
		return err
	}
	rf.apply(rec)
	return nil
}
