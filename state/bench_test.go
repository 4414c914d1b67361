package state

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Benchmarks, on the real filesystem of t.TempDir():
//
//	go test -run '^$' -bench . -benchtime 2000x ./state   (append figures)
//	go test -run '^$' -bench 'List|Load' ./state

// BenchmarkRun_Append: one record, one write, one fsync.
func BenchmarkRun_Append(b *testing.B) {
	benchAppend(b, false)
}

// BenchmarkRun_AppendWithRuntime adds the live runtime.yaml replacement
// (write, fsync, rename, fsync dir) that every append does in a real run.
func BenchmarkRun_AppendWithRuntime(b *testing.B) {
	benchAppend(b, true)
}

func benchAppend(b *testing.B, live bool) {
	s := lockedStore(b)
	r, err := s.CreateRun(Header{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	r.noRuntime = !live
	if err := r.Record(workflow.Event{Node: "k0s", From: workflow.Pending, To: workflow.Running, Attempt: 1}); err != nil {
		b.Fatal(err)
	}
	e := workflow.Event{Node: "k0s", From: workflow.Running, To: workflow.Running, Attempt: 1, Reason: "retry 2/3 in 4s"}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Record(e); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRunFile writes a finished run file of n transitions directly (no
// fsync), for the read benchmarks.
func benchRunFile(tb testing.TB, s *Store, id string, n int) {
	tb.Helper()
	h := testHeader(id)
	data, err := encodeHeader(h)
	if err != nil {
		tb.Fatal(err)
	}
	seq := uint64(1)
	add := func(rec Record) {
		rec.Seq = seq
		seq++
		doc, err := encodeRecord(rec)
		if err != nil {
			tb.Fatal(err)
		}
		data = append(data, doc...)
	}
	tm := t0
	add(Record{Kind: KindTransition, Time: tm, Node: "k0s", From: workflow.Pending, To: workflow.Running, Attempt: 1})
	for i := 1; i < n-1; i++ {
		tm = tm.Add(time.Millisecond)
		add(Record{Kind: KindTransition, Time: tm, Node: "k0s", From: workflow.Running, To: workflow.Running, Attempt: i + 1, Reason: "retry"})
	}
	add(Record{Kind: KindTransition, Time: tm, Node: "k0s", From: workflow.Running, To: workflow.Succeeded, Attempt: n - 1, Duration: time.Second,
		Outputs: map[string]string{"kubeconfig": "/state/secrets/kubeconfig"}})
	add(Record{Kind: KindOutcome, Time: tm, Outcome: OutcomeSucceeded, Flags: h.Flags})
	if err := os.WriteFile(s.RunPath(id), data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkStore_List10000Runs lists 10,000 finished runs of 12 records
// each (goal: under 300 ms per List).
func BenchmarkStore_List10000Runs(b *testing.B) {
	s := NewStore(b.TempDir())
	os.MkdirAll(s.RunsDir(), 0o755)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 10000; i++ {
		benchRunFile(b, s, NewRunID(start.Add(time.Duration(i)*time.Minute)), 12)
	}
	b.ResetTimer()
	for b.Loop() {
		infos, err := s.List()
		if err != nil || len(infos) != 10000 || infos[0].Outcome != OutcomeSucceeded {
			b.Fatalf("List: %d runs, %v", len(infos), err)
		}
	}
}

// BenchmarkStore_Load100000Records loads and replays one run file of
// 100,000 records.
func BenchmarkStore_Load100000Records(b *testing.B) {
	s := NewStore(b.TempDir())
	os.MkdirAll(s.RunsDir(), 0o755)
	const id = "20261125-100000-0001"
	benchRunFile(b, s, id, 100000)
	fi, _ := os.Stat(s.RunPath(id))
	b.SetBytes(fi.Size())
	b.ResetTimer()
	for b.Loop() {
		rf, err := s.Load(id)
		if err != nil || rf.Err != nil || len(rf.Records) != 100001 {
			b.Fatal(fmt.Sprint(err, rf.Err))
		}
	}
}
