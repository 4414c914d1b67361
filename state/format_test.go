package state

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// updateGolden is the -update flag, shared by every golden test of the package
// (the legacy migration tests included): do not register another.
var updateGolden = flag.Bool("update", os.Getenv("K0RDENT_UPDATE_GOLDEN") != "", "rewrite golden files under testdata/ (or K0RDENT_UPDATE_GOLDEN=1, as make golden sets)")

func TestRun_ValidYAMLAfterEveryAppend(t *testing.T) {
	s := lockedStore(t)
	r, err := s.CreateRun(testHeader("20261125-100000-0001"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	check := func(wantDocs int) {
		t.Helper()
		data, err := os.ReadFile(r.Path())
		if err != nil {
			t.Fatal(err)
		}
		docs := yamlDocs(t, data)
		if len(docs) != wantDocs {
			t.Fatalf("yaml.v3 read %d documents, want %d", len(docs), wantDocs)
		}
		if docs[0]["kind"] != "header" {
			t.Errorf("first document kind = %v, want header", docs[0]["kind"])
		}
		if wantDocs > 1 {
			last := docs[wantDocs-1]
			if got, want := fmt.Sprint(last["seq"]), fmt.Sprint(wantDocs-1); got != want {
				t.Errorf("last document seq = %s, want %s", got, want)
			}
		}
	}
	check(1)
	for i, e := range happyEvents() {
		if err := r.Record(e); err != nil {
			t.Fatal(err)
		}
		check(i + 2)
	}
	if err := r.Finish(OutcomeSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	n := len(happyEvents()) + 2
	check(n)
	if got := yqDocs(t, r.Path()); got != -1 && got != n {
		t.Errorf("yq read %d documents, want %d", got, n)
	}
}

// TestRun_Golden pins the byte format of a run file.
func TestRun_Golden(t *testing.T) {
	s := lockedStore(t)
	r := writeRun(t, s, "20261125-100000-0001", happyEvents(), "")
	if err := r.Append(Record{Kind: KindOutcome, Time: at(100), Outcome: OutcomeFailed, Reason: "interrupted", Flags: map[string]bool{"with_kof": false}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Append(Record{Kind: KindResumed, Time: at(200), Attempt: 2, Flags: map[string]bool{"with_kof": true}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Append(Record{Kind: KindLockTakeover, Time: at(200), Previous: &Holder{PID: 4242, Host: "laptop", User: "alice", Command: "k0rdent run", Started: at(150)}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Append(Record{Kind: KindSuperseded, Time: at(300), By: "20261125-100500-0002"}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	got, err := os.ReadFile(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "run-v1.yaml")
	if *updateGolden {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./state -run TestRun_Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("run file differs from %s (go test ./state -run TestRun_Golden -update)\ngot:\n%s", golden, got)
	}
	// The golden file decodes cleanly into what was written.
	rf := decodeBytes(want, golden)
	if rf.Err != nil || rf.Torn {
		t.Fatalf("decode golden: err %v torn %v", rf.Err, rf.Torn)
	}
	if got, want := len(rf.Records), len(happyEvents())+4; got != want {
		t.Errorf("records = %d, want %d", got, want)
	}
	if rf.Outcome != OutcomeSuperseded || rf.SupersededBy != "20261125-100500-0002" || rf.Attempt != 2 || !rf.Flags["with_kof"] {
		t.Errorf("outcome %q by %q attempt %d flags %v", rf.Outcome, rf.SupersededBy, rf.Attempt, rf.Flags)
	}
	if len(rf.Takeovers) != 1 || rf.Takeovers[0].PID != 4242 {
		t.Errorf("takeovers = %+v", rf.Takeovers)
	}
}

// docOffsets returns the start offset of every document.
func docOffsets(data []byte) []int {
	var offs []int
	for i := 0; i < len(data); {
		if bytes.HasPrefix(data[i:], []byte("---\n")) && (i == 0 || data[i-1] == '\n') {
			offs = append(offs, i)
		}
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return offs
}

func TestOpenRun_TornTailAtEveryByte(t *testing.T) {
	t.Parallel() // its own store
	s := lockedStore(t)
	const id = "20261125-100000-0001"
	r := writeRun(t, s, id, happyEvents(), OutcomeSucceeded)
	r.Close()
	full, err := os.ReadFile(s.LocalBackend().RunPath(id))
	if err != nil {
		t.Fatal(err)
	}
	offs := docOffsets(full)
	n := len(offs) - 1 // records
	lastStart := offs[len(offs)-1]
	for cut := lastStart; cut < len(full); cut++ {
		path := s.LocalBackend().RunPath(id)
		if err := os.WriteFile(path, full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		rf, err := s.Load(id)
		if err != nil {
			t.Fatal(err)
		}
		if rf.Err != nil {
			t.Fatalf("cut %d: Load err %v", cut, rf.Err)
		}
		if len(rf.Records) != n-1 {
			t.Fatalf("cut %d: %d records, want %d", cut, len(rf.Records), n-1)
		}
		if wantTorn := cut > lastStart; rf.Torn != wantTorn {
			t.Fatalf("cut %d: Torn = %v, want %v", cut, rf.Torn, wantTorn)
		}
		run, err := s.OpenRun(id)
		if err != nil {
			t.Fatalf("cut %d: OpenRun: %v", cut, err)
		}
		if cut > lastStart {
			broken, err := os.ReadFile(path + ".broken")
			if err != nil || !bytes.Equal(broken, full[:cut]) {
				t.Fatalf("cut %d: .broken copy missing or different: %v", cut, err)
			}
		}
		if err := run.Finish(OutcomeSucceeded, "again"); err != nil {
			t.Fatalf("cut %d: append after repair: %v", cut, err)
		}
		run.Close()
		rf, err = s.Load(id)
		if err != nil || rf.Err != nil || rf.Torn || len(rf.Records) != n || rf.Outcome != OutcomeSucceeded {
			t.Fatalf("cut %d: after repair+append: err %v/%v torn %v records %d outcome %q", cut, err, rf.Err, rf.Torn, len(rf.Records), rf.Outcome)
		}
		os.Remove(path + ".broken")
	}
}

func TestRepair_KeepsEveryBrokenCopy(t *testing.T) {
	s := lockedStore(t)
	const id = "20261125-100000-0001"
	writeRun(t, s, id, happyEvents()[:2], "").Close()
	path := s.LocalBackend().RunPath(id)
	for i := 0; i < 3; i++ {
		f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		fmt.Fprintf(f, "---\nkind: transition\nseq: %d", i)
		f.Close()
		r, err := s.OpenRun(id)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	for _, name := range []string{".broken", ".broken.2", ".broken.3"} {
		if _, err := os.Stat(path + name); err != nil {
			t.Errorf("want %s%s: %v", id, name, err)
		}
	}
}

func TestOpenRun_CorruptMiddleRefused(t *testing.T) {
	s := lockedStore(t)
	const id = "20261125-100000-0001"
	r := writeRun(t, s, id, happyEvents(), OutcomeSucceeded)
	r.Close()
	path := s.LocalBackend().RunPath(id)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	offs := docOffsets(full)
	lastStart := offs[len(offs)-1]
	doc := 0
	for pos := 0; pos < lastStart; pos++ {
		for doc+1 < len(offs) && offs[doc+1] <= pos {
			doc++
		}
		data := bytes.Clone(full)
		data[pos] ^= 0x01
		rf := decodeBytes(data, path)
		var ce *CorruptError
		if !errors.As(rf.Err, &ce) {
			t.Fatalf("flip at %d (record %d): err %v torn %v, want *CorruptError", pos, doc, rf.Err, rf.Torn)
		}
		if ce.Record != uint64(doc) || ce.File != path {
			t.Fatalf("flip at %d: error names record %d in %q, want record %d in %q", pos, ce.Record, ce.File, doc, path)
		}
		if len(rf.Records) != max(doc-1, 0) {
			t.Fatalf("flip at %d: valid prefix has %d records, want %d", pos, len(rf.Records), max(doc-1, 0))
		}
	}
	// OpenRun refuses and leaves the file alone.
	data := bytes.Clone(full)
	data[offs[3]+10] ^= 0x01
	os.WriteFile(path, data, 0o644)
	_, err = s.OpenRun(id)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("OpenRun = %v, want ErrCorrupt", err)
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "record 3") {
		t.Errorf("error %q should name %s and record 3", msg, path)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, data) {
		t.Error("OpenRun changed a corrupt file")
	}
	if _, err := os.Stat(path + ".broken"); err == nil {
		t.Error("OpenRun made a .broken copy of a corrupt file")
	}
}

func TestDecode_Classify(t *testing.T) {
	s := lockedStore(t)
	r := writeRun(t, s, "20261125-100000-0001", happyEvents()[:4], "")
	r.Close()
	good, _ := os.ReadFile(r.Path())
	hdr, _ := encodeHeader(Header{RunID: "20261125-100000-0001", Created: t0})
	rec := func(seq uint64, body string) string {
		return string(frame([]byte(body), seq))
	}
	okRec := "kind: transition\nseq: 1\ntime: 2026-11-25T10:00:01Z\nnode: a\nfrom: pending\nto: running\nattempt: 1\n"
	tests := []struct {
		name      string
		data      string
		wantTorn  bool
		wantErr   error // ErrCorrupt, ErrUnsupportedFormat, or nil
		wantTrans bool
		wantRecs  int
	}{
		{name: "Good", data: string(good), wantRecs: 4},
		{name: "Empty", data: "", wantErr: ErrCorrupt},
		{name: "HeaderOnly", data: string(hdr)},
		{name: "TornHeader", data: string(hdr[:20]), wantErr: ErrCorrupt},
		{name: "TornWithNULs", data: string(good) + "---\nkind: tra\x00\x00\x00\x00", wantTorn: true, wantRecs: 4},
		{name: "AllNULTail", data: string(good) + "\x00\x00\x00", wantTorn: true, wantRecs: 4},
		{name: "StrayNewline", data: string(good) + "\n", wantErr: ErrCorrupt, wantRecs: 4},
		{name: "FlipInLastBody", data: string(good[:bytes.LastIndex(good, []byte("to: succeeded"))]) + "to: succeedeD" + string(good[bytes.LastIndex(good, []byte("to: succeeded"))+13:]), wantErr: ErrCorrupt, wantRecs: 3},
		{name: "TrailingGarbageLine", data: string(good) + "--", wantTorn: true, wantRecs: 4},
		{name: "MissingNewlineAfterSum", data: string(good[:len(good)-1]), wantTorn: true, wantRecs: 3},
		{name: "Future format", data: strings.Replace(rec(0, "kind: header\nformat: 2\nrun_id: 20261125-100000-0001\ncreated: 2026-11-25T10:00:00Z\n"), "x", "x", 1), wantErr: ErrUnsupportedFormat},
		{name: "NotAHeaderFirst", data: rec(0, "kind: transition\n"), wantErr: ErrCorrupt},
		{name: "SeqGap", data: string(hdr) + rec(2, strings.Replace(okRec, "seq: 1", "seq: 2", 1)), wantErr: ErrCorrupt},
		{name: "SeqBodyMismatch", data: string(hdr) + rec(1, strings.Replace(okRec, "seq: 1", "seq: 7", 1)), wantErr: ErrCorrupt},
		{name: "BadYAMLGoodSum", data: string(hdr) + rec(1, "kind: [\n"), wantErr: ErrCorrupt},
		{name: "UnknownKind", data: string(hdr) + rec(1, "kind: nope\nseq: 1\ntime: 2026-11-25T10:00:01Z\n"), wantErr: ErrCorrupt},
		{name: "NoTime", data: string(hdr) + rec(1, "kind: resumed\nseq: 1\nattempt: 2\n"), wantErr: ErrCorrupt},
		{name: "BadOutcome", data: string(hdr) + rec(1, "kind: outcome\nseq: 1\ntime: 2026-11-25T10:00:01Z\noutcome: meh\n"), wantErr: ErrCorrupt},
		{name: "BadSupersededBy", data: string(hdr) + rec(1, "kind: superseded\nseq: 1\ntime: 2026-11-25T10:00:01Z\nby: x\n"), wantErr: ErrCorrupt},
		{name: "TakeoverWithoutHolder", data: string(hdr) + rec(1, "kind: lock-takeover\nseq: 1\ntime: 2026-11-25T10:00:01Z\n"), wantErr: ErrCorrupt},
		{name: "ResumedWithoutAttempt", data: string(hdr) + rec(1, "kind: resumed\nseq: 1\ntime: 2026-11-25T10:00:01Z\n"), wantErr: ErrCorrupt},
		{name: "UnknownState", data: string(hdr) + rec(1, strings.Replace(okRec, "to: running", "to: flying", 1)), wantErr: ErrCorrupt},
		{name: "NoNode", data: string(hdr) + rec(1, strings.Replace(okRec, "node: a\n", "", 1)), wantErr: ErrCorrupt},
		{name: "IllegalTransition", data: string(hdr) + rec(1, strings.Replace(okRec, "to: running", "to: succeeded", 1)), wantTrans: true},
		{name: "BadSumLine", data: string(hdr) + strings.Replace(rec(1, okRec), "seq=1", "seq=01", 1), wantErr: ErrCorrupt},
		{name: "UppercaseSum", data: string(hdr) + "---\n" + okRec + "# sum crc32c=ABCDEF01 seq=1\n", wantErr: ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rf, err := Decode(strings.NewReader(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if rf.Torn != tt.wantTorn {
				t.Errorf("Torn = %v, want %v (err %v)", rf.Torn, tt.wantTorn, rf.Err)
			}
			var te *TransitionError
			switch {
			case tt.wantTrans:
				if !errors.As(rf.Err, &te) {
					t.Errorf("Err = %v, want *TransitionError", rf.Err)
				}
			case tt.wantErr == nil:
				if rf.Err != nil {
					t.Errorf("Err = %v, want nil", rf.Err)
				}
			default:
				if !errors.Is(rf.Err, tt.wantErr) {
					t.Errorf("Err = %v, want %v", rf.Err, tt.wantErr)
				}
			}
			if len(rf.Records) != tt.wantRecs {
				t.Errorf("records = %d, want %d", len(rf.Records), tt.wantRecs)
			}
		})
	}
}

func TestDecode_TransitionErrors(t *testing.T) {
	tests := []struct {
		name        string
		evs         []workflow.Event
		wantNode    string
		wantRec     uint64
		wantIllegal bool // a transition CanTransition forbids, not a from mismatch
	}{
		{
			name:     "SucceedWithoutRunning",
			evs:      []workflow.Event{ev(1, "wireguard", workflow.Pending, workflow.Succeeded)},
			wantNode: "wireguard", wantRec: 1, wantIllegal: true,
		},
		{
			name: "FromMismatch",
			evs: []workflow.Event{
				ev(1, "wireguard", workflow.Pending, workflow.Running),
				ev(2, "terraform", workflow.Pending, workflow.Running),
				ev(3, "wireguard", workflow.Pending, workflow.Running),
			},
			wantNode: "wireguard", wantRec: 3,
		},
		{
			name: "BackToPending",
			evs: []workflow.Event{
				ev(1, "k0s", workflow.Pending, workflow.Running),
				ev(2, "k0s", workflow.Running, workflow.Pending),
			},
			wantNode: "k0s", wantRec: 2, wantIllegal: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Write the records bypassing Run's validation.
			data, _ := encodeHeader(Header{RunID: "20261125-100000-0001", Created: t0})
			for i, e := range tt.evs {
				doc, err := encodeRecord(Record{Kind: KindTransition, Seq: uint64(i + 1), Time: e.Time, Node: e.Node, From: e.From, To: e.To, Attempt: 1})
				if err != nil {
					t.Fatal(err)
				}
				data = append(data, doc...)
			}
			rf := decodeBytes(data, "runs/x.yaml")
			var te *TransitionError
			if !errors.As(rf.Err, &te) {
				t.Fatalf("Err = %v, want *TransitionError", rf.Err)
			}
			if te.Node != tt.wantNode || te.Record != tt.wantRec || te.File != "runs/x.yaml" {
				t.Errorf("got node %s record %d file %s, want node %s record %d", te.Node, te.Record, te.File, tt.wantNode, tt.wantRec)
			}
			var ill *workflow.IllegalTransitionError
			if got := errors.As(rf.Err, &ill); got != tt.wantIllegal || got && (ill.Node != tt.wantNode || ill.From.CanTransition(ill.To)) {
				t.Errorf("errors.As IllegalTransitionError = %v, %v; want %v", got, ill, tt.wantIllegal)
			}
			for _, want := range []string{"runs/x.yaml", fmt.Sprintf("record %d", tt.wantRec), tt.wantNode} {
				if !strings.Contains(rf.Err.Error(), want) {
					t.Errorf("message %q lacks %q", rf.Err, want)
				}
			}
			if len(rf.Records) != int(tt.wantRec)-1 {
				t.Errorf("valid prefix %d records, want %d", len(rf.Records), tt.wantRec-1)
			}
		})
	}
}
