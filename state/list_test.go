package state

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

func TestStore_List(t *testing.T) {
	s := lockedStore(t)
	if infos, err := s.List(); err != nil || len(infos) != 0 {
		t.Fatalf("List of an empty store = %v, %v", infos, err)
	}
	// succeeded; failed with a failed node; unfinished (header only);
	// unfinished with records; torn; corrupt; migrated; resumed after
	// failure; plus stray files List must ignore.
	writeRun(t, s, "20261125-100000-0001", happyEvents(), OutcomeSucceeded).Close()
	failed := append(happyEvents()[:7], workflow.Event{Time: at(20), Node: "k0s", From: workflow.Running, To: workflow.Failed, Attempt: 1, Error: "boom"})
	writeRun(t, s, "20261125-100100-0001", failed, OutcomeFailed).Close()
	writeRun(t, s, "20261125-100200-0001", nil, "").Close()
	writeRun(t, s, "20261125-100300-0001", happyEvents()[:3], "").Close()
	writeRun(t, s, "20261125-100400-0001", happyEvents()[:3], "").Close()
	f, _ := os.OpenFile(s.LocalBackend().RunPath("20261125-100400-0001"), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("---\nkind: trans")
	f.Close()
	writeRun(t, s, "20261125-100500-0001", happyEvents()[:3], OutcomeCancelled).Close()
	data, _ := os.ReadFile(s.LocalBackend().RunPath("20261125-100500-0001"))
	data[len(data)-30] ^= 1 // inside the last document: List reads it and sees the damage
	os.WriteFile(s.LocalBackend().RunPath("20261125-100500-0001"), data, 0o644)
	h := testHeader("20261125-100600-0001")
	h.Migrated = true
	m, _ := s.CreateRun(h)
	m.Finish(OutcomeSucceeded, "")
	m.Close()
	r := writeRun(t, s, "20261125-100700-0001", failed, OutcomeFailed)
	r.Resumed(map[string]bool{"with_kof": true}, 2)
	r.Close()
	// A long header (many planned nodes) does not fit List's first read.
	big := testHeader("20261125-100800-0001")
	for i := 0; i < 700; i++ { // 21 kB: longer than listHead
		big.Nodes = append(big.Nodes, fmt.Sprintf("azure-children/child-%03d", i))
	}
	b, _ := s.CreateRun(big)
	b.Finish(OutcomeSucceeded, "")
	b.Close()
	os.WriteFile(s.LocalBackend().RunPath("20261125-100000-0001")+".broken", []byte("x"), 0o644)
	os.WriteFile(s.LocalBackend().RunsDir()+"/notes.yaml", []byte("x"), 0o644)
	os.Mkdir(s.LocalBackend().RunsDir()+"/20261125-109900-0001.yaml", 0o755)

	infos, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	byID := map[string]RunInfo{}
	for _, in := range infos {
		ids = append(ids, in.ID)
		byID[in.ID] = in
	}
	wantIDs := "20261125-100800-0001 20261125-100700-0001 20261125-100600-0001 20261125-100500-0001 20261125-100400-0001 20261125-100300-0001 20261125-100200-0001 20261125-100100-0001 20261125-100000-0001"
	if got := strings.Join(ids, " "); got != wantIDs {
		t.Fatalf("List order\n got %s\nwant %s", got, wantIDs)
	}
	check := func(id string, outcome Outcome, failedNodes []string, torn, bad bool) {
		t.Helper()
		in := byID[id]
		if in.Outcome != outcome || !reflect.DeepEqual(in.FailedNodes, failedNodes) || in.Torn != torn || (in.Err != nil) != bad {
			t.Errorf("%s: %+v, want outcome %q failed %v torn %v err %v", id, in, outcome, failedNodes, torn, bad)
		}
	}
	check("20261125-100000-0001", OutcomeSucceeded, nil, false, false)
	check("20261125-100100-0001", OutcomeFailed, []string{"k0s"}, false, false)
	check("20261125-100200-0001", OutcomeNone, nil, false, false)
	check("20261125-100300-0001", OutcomeNone, nil, false, false)
	check("20261125-100400-0001", OutcomeNone, nil, true, false)
	check("20261125-100500-0001", OutcomeNone, nil, false, true)
	check("20261125-100600-0001", OutcomeSucceeded, nil, false, false)
	check("20261125-100700-0001", OutcomeNone, nil, false, false)
	check("20261125-100800-0001", OutcomeSucceeded, nil, false, false)
	if in := byID["20261125-100600-0001"]; !in.Migrated || in.Nodes != 6 || in.Finished.IsZero() {
		t.Errorf("migrated run %+v", in)
	}
	if in := byID["20261125-100700-0001"]; !in.Flags["with_kof"] || !in.Finished.IsZero() {
		t.Errorf("resumed run %+v: want flags from the resumed record, unfinished", in)
	}
	if in := byID["20261125-100800-0001"]; in.Nodes != 706 {
		t.Errorf("big header: %d nodes", in.Nodes)
	}
	if in := byID["20261125-100100-0001"]; !in.Created.Equal(t0) || !in.Finished.Equal(at(21)) {
		t.Errorf("times %v %v", in.Created, in.Finished)
	}
	// The quick path agrees with the full read wherever it applies.
	buf := make([]byte, listHead+listTail)
	for _, id := range ids {
		quick, ok := s.quickInfo(id, buf)
		if !ok {
			continue
		}
		if slow := s.slowInfo(id); !reflect.DeepEqual(quick, slow) {
			t.Errorf("%s: quick %+v\n slow %+v", id, quick, slow)
		}
	}
	_ = time.Second
}

// TestStore_ListNewest: the newest n runs, newest first, and only their
// files are read: the older ones here are garbage, which List would
// report.
func TestStore_ListNewest(t *testing.T) {
	s := lockedStore(t)
	ids := []string{"20261125-100000-0001", "20261125-100100-0001", "20261125-100200-0001", "20261125-100300-0001"}
	for _, id := range ids {
		writeRun(t, s, id, happyEvents(), OutcomeSucceeded).Close()
	}
	for _, id := range ids[:2] {
		if err := os.WriteFile(s.LocalBackend().RunPath(id), []byte("not a run file"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := s.ListNewest(2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range infos {
		got = append(got, in.ID)
		if in.Err != nil || in.Outcome != OutcomeSucceeded {
			t.Errorf("%s: outcome %q err %v", in.ID, in.Outcome, in.Err)
		}
	}
	if want := []string{ids[3], ids[2]}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListNewest(2) = %v, want %v", got, want)
	}
	all, err := s.ListNewest(0)
	if err != nil || len(all) != 4 || all[3].Err == nil {
		t.Errorf("ListNewest(0): %d runs, oldest err %v, %v; want all 4 and the garbage reported", len(all), all[len(all)-1].Err, err)
	}
}

// rawRunFile encodes a run file directly: the header of testHeader(id)
// with nodes planned nodes (0: testHeader's), one transition whose reason
// is pad bytes long (the file's length grows by one byte per byte of pad),
// retries more transitions, and unless outcome is "", k0s failing and the
// outcome record.
func rawRunFile(t *testing.T, id string, nodes, pad, retries int, outcome Outcome) []byte {
	t.Helper()
	h := testHeader(id)
	for i := range nodes {
		h.Nodes = append(h.Nodes, fmt.Sprintf("azure-children/child-%04d", i))
	}
	data, err := encodeHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	seq := uint64(1)
	add := func(rec Record) {
		rec.Seq = seq
		seq++
		doc, err := encodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, doc...)
	}
	add(Record{Kind: KindTransition, Time: at(1), Node: "k0s", From: workflow.Pending, To: workflow.Running, Attempt: 1, Reason: strings.Repeat("x", pad)})
	for i := range retries {
		add(Record{Kind: KindTransition, Time: at(2 + i), Node: "k0s", From: workflow.Running, To: workflow.Running, Attempt: i + 2, Reason: "retry"})
	}
	if outcome != "" { // as Run writes them: k0s failed, the header's flags
		add(Record{Kind: KindTransition, Time: at(2 + retries), Node: "k0s", From: workflow.Running, To: workflow.Failed, Attempt: retries + 1, Error: "boom"})
		add(Record{Kind: KindOutcome, Time: at(3 + retries), Outcome: outcome, FailedNodes: []string{"k0s"}, Flags: h.Flags})
	}
	return data
}

// TestStore_ListQuickPath: List's shortcut (the header from the head of
// the file, the outcome from its last document) applies where it should
// and, wherever it applies, says what reading the whole file says; where
// it does not (unfinished, torn, damaged, a header longer than the first
// read), the whole file is read, so a torn tail after an outcome still
// shows as torn.
func TestStore_ListQuickPath(t *testing.T) {
	s := lockedStore(t)
	if err := os.MkdirAll(s.LocalBackend().RunsDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	const long = 400 // retries: a file well over listHead
	// exact is the pad that makes a file with one transition and an
	// outcome exactly listHead bytes long.
	exact := 1 + listHead - len(rawRunFile(t, "20261125-100000-0001", 0, 1, 0, OutcomeFailed))
	tornTail := "---\nkind: trans"
	tests := []struct {
		name      string
		data      func(id string) []byte
		size      int  // the file's length, if it matters
		quick     bool // the shortcut applies
		outcome   Outcome
		torn, bad bool
	}{
		{name: "ShortFinished", quick: true, outcome: OutcomeFailed,
			data: func(id string) []byte { return rawRunFile(t, id, 0, 1, 3, OutcomeFailed) }},
		{name: "OneByteShortOfFirstRead", size: listHead - 1, quick: true, outcome: OutcomeFailed,
			data: func(id string) []byte { return rawRunFile(t, id, 0, exact-1, 0, OutcomeFailed) }},
		{name: "ExactlyFirstRead", size: listHead, quick: true, outcome: OutcomeFailed,
			data: func(id string) []byte { return rawRunFile(t, id, 0, exact, 0, OutcomeFailed) }},
		{name: "OneByteOverFirstRead", size: listHead + 1, quick: true, outcome: OutcomeFailed,
			data: func(id string) []byte { return rawRunFile(t, id, 0, exact+1, 0, OutcomeFailed) }},
		{name: "LongFinished", quick: true, outcome: OutcomeSucceeded,
			data: func(id string) []byte { return rawRunFile(t, id, 0, 1, long, OutcomeSucceeded) }},
		{name: "HeaderOnly", quick: true,
			data: func(id string) []byte {
				data := rawRunFile(t, id, 0, 1, 0, "")
				hd, _ := parseDoc(data, 0)
				return data[:hd.end]
			}},
		{name: "ShortUnfinished",
			data: func(id string) []byte { return rawRunFile(t, id, 0, 1, 3, "") }},
		{name: "LongUnfinished",
			data: func(id string) []byte { return rawRunFile(t, id, 0, 1, long, "") }},
		{name: "ShortOutcomeThenTornTail", outcome: OutcomeFailed, torn: true,
			data: func(id string) []byte { return append(rawRunFile(t, id, 0, 1, 3, OutcomeFailed), tornTail...) }},
		{name: "LongOutcomeThenTornTail", outcome: OutcomeSucceeded, torn: true,
			data: func(id string) []byte { return append(rawRunFile(t, id, 0, 1, long, OutcomeSucceeded), tornTail...) }},
		{name: "OutcomeTornAtFirstReadsEnd", size: listHead - 10, torn: true,
			data: func(id string) []byte { return rawRunFile(t, id, 0, exact, 0, OutcomeFailed)[:listHead-10] }},
		{name: "LongDamagedOutcome", bad: true,
			data: func(id string) []byte {
				data := rawRunFile(t, id, 0, 1, long, OutcomeSucceeded)
				data[len(data)-40] ^= 1
				return data
			}},
		{name: "HeaderLongerThanFirstRead", outcome: OutcomeFailed,
			data: func(id string) []byte { return rawRunFile(t, id, 800, 1, 3, OutcomeFailed) }},
	}
	buf := make([]byte, listHead+listTail)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case is the newest run so far: ListNewest(1) lists it.
			id := fmt.Sprintf("20261125-10%02d00-0001", i)
			data := tt.data(id)
			if tt.size != 0 && len(data) != tt.size {
				t.Fatalf("file of %d bytes, want %d (listHead%+d)", len(data), tt.size, tt.size-listHead)
			}
			if err := os.WriteFile(s.LocalBackend().RunPath(id), data, 0o644); err != nil {
				t.Fatal(err)
			}
			quick, ok := s.quickInfo(id, buf)
			if ok != tt.quick {
				t.Errorf("quickInfo ok = %v, want %v (file of %d bytes)", ok, tt.quick, len(data))
			}
			slow := s.slowInfo(id)
			if ok && !reflect.DeepEqual(quick, slow) {
				t.Errorf("quick %+v\n slow %+v", quick, slow)
			}
			infos, err := s.ListNewest(1)
			if err != nil || len(infos) != 1 {
				t.Fatalf("ListNewest(1) = %v, %v", infos, err)
			}
			got := infos[0]
			if !reflect.DeepEqual(got, slow) {
				t.Errorf("List %+v\n whole file %+v", got, slow)
			}
			if got.ID != id || got.Outcome != tt.outcome || got.Torn != tt.torn || (got.Err != nil) != tt.bad {
				t.Errorf("List: %+v; want outcome %q torn %v corrupt %v", got, tt.outcome, tt.torn, tt.bad)
			}
			if tt.outcome != OutcomeNone && !slices.Equal(got.FailedNodes, []string{"k0s"}) {
				t.Errorf("failed nodes %v, want the outcome record's", got.FailedNodes)
			}
		})
	}
}
