package state

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
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
	if err := os.WriteFile(s.LocalBackend().RunPath(id), data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkStore_List10000Runs lists 10,000 finished runs of 12 records
// each (goal: under 300 ms per List).
func BenchmarkStore_List10000Runs(b *testing.B) {
	s := NewStore(b.TempDir())
	os.MkdirAll(s.LocalBackend().RunsDir(), 0o755)
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
	os.MkdirAll(s.LocalBackend().RunsDir(), 0o755)
	const id = "20261125-100000-0001"
	benchRunFile(b, s, id, 100000)
	fi, _ := os.Stat(s.LocalBackend().RunPath(id))
	b.SetBytes(fi.Size())
	b.ResetTimer()
	for b.Loop() {
		rf, err := s.Load(id)
		if err != nil || rf.Err != nil || len(rf.Records) != 100001 {
			b.Fatal(fmt.Sprint(err, rf.Err))
		}
	}
}

// memBatch is the in-memory recorder of BenchmarkDurableOverhead: it keeps
// the events, as the run file does, and makes nothing durable.
type memBatch struct{ evs []workflow.Event }

func (m *memBatch) Record(ev workflow.Event) error { m.evs = append(m.evs, ev); return nil }
func (m *memBatch) RecordBatch(evs []workflow.Event) error {
	m.evs = append(m.evs, evs...)
	return nil
}

// noopPhase is a Go phase that does nothing.
type noopPhase struct {
	name string
	deps []string
}

func (p noopPhase) Name() string                             { return p.name }
func (p noopPhase) DependsOn() []string                      { return p.deps }
func (p noopPhase) Run(context.Context, *workflow.Env) error { return nil }

// layeredGraph is layers×width no-op phases, each after the first layer
// depending on two nodes of the layer before (fixed seed).
func layeredGraph(tb testing.TB, layers, width int) *workflow.Graph {
	rng := rand.New(rand.NewPCG(1, 2))
	name := func(l, i int) string { return fmt.Sprintf("n%04d-%02d", l, i) }
	var ps []workflow.Phase
	for l := range layers {
		for i := range width {
			p := noopPhase{name: name(l, i)}
			if l > 0 {
				a := rng.IntN(width)
				p.deps = []string{name(l-1, a), name(l-1, (a+1+rng.IntN(width-1))%width)}
			}
			ps = append(ps, p)
		}
	}
	g, err := workflow.NewGraph(ps...)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// BenchmarkDurableOverhead runs the same graph of 200 no-op Go phases
// (20 layers of 10, parallelism 4) with the in-memory recorder and with a
// real run file on disk (group commit: one write and one fsync per batch;
// with and without the live runtime.yaml update), and measures in the same
// run what one fsync of a record-sized append costs on the same disk. It
// reports per node: ns/node, and for the disk variants the overhead over
// the in-memory run in fsyncs (goal: at most 2 per node), from the
// fsync cost the "fsync" sub-benchmark measured first.
//
//	go test -run '^$' -bench DurableOverhead -count 5 ./state
func BenchmarkDurableOverhead(b *testing.B) {
	const layers, width = 20, 10
	const nodes = layers * width
	g := layeredGraph(b, layers, width)
	var fsync, mem float64 // ns, measured by the sub-benchmarks in order
	b.Run("fsync", func(b *testing.B) {
		f, err := os.OpenFile(filepath.Join(b.TempDir(), "f"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rec := make([]byte, 160) // about one transition record
		for b.Loop() {
			if _, err := f.Write(rec); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		fsync = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(fsync, "ns/fsync")
	})
	run := func(b *testing.B, rec func(b *testing.B) (workflow.Recorder, func())) float64 {
		for b.Loop() {
			b.StopTimer()
			r, done := rec(b)
			b.StartTimer()
			res, err := (&workflow.Scheduler{Graph: g, Recorder: r, Parallelism: 4}).Run(context.Background(), nil)
			if err != nil || res.Outcome != workflow.OutcomeSucceeded {
				b.Fatalf("outcome %v: %v", res.Outcome, err)
			}
			b.StopTimer()
			done()
			b.StartTimer()
		}
		per := float64(b.Elapsed().Nanoseconds()) / float64(b.N*nodes)
		b.ReportMetric(per, "ns/node")
		return per
	}
	b.Run("memory", func(b *testing.B) {
		mem = run(b, func(*testing.B) (workflow.Recorder, func()) { return &memBatch{}, func() {} })
	})
	disk := func(live bool) func(b *testing.B) {
		return func(b *testing.B) {
			s := lockedStore(b)
			per := run(b, func(b *testing.B) (workflow.Recorder, func()) {
				r, err := s.CreateRun(Header{})
				if err != nil {
					b.Fatal(err)
				}
				r.noRuntime = !live
				return r, func() {
					if err := r.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
			if fsync > 0 && mem > 0 {
				b.ReportMetric((per-mem)/fsync, "fsyncs/node")
			}
		}
	}
	b.Run("disk", disk(false))
	b.Run("disk+runtime", disk(true))
}

// BenchmarkDecode_RealisticState decides whether the fast decoder
// (fastyaml.go) earns its keep: it decodes every document of a realistic
// state directory, 300 runs of 30 records (transitions with outputs,
// outcome), once with decodeHeaderBody/decodeRecordBody (fast path, yaml.v3
// fallback) and once with yaml.v3 alone, and reports the cost per document
// and per state. `runs` decodes two documents per run (header and last
// record), `status` and `runs show` one run's documents.
//
//	go test -run '^$' -bench Decode_Realistic ./state
func BenchmarkDecode_RealisticState(b *testing.B) {
	const runs, records = 300, 30
	var heads, recs [][]byte
	for i := range runs {
		h := testHeader(NewRunID(t0.Add(time.Duration(i) * time.Minute)))
		doc, err := encodeHeader(h)
		if err != nil {
			b.Fatal(err)
		}
		d, _ := parseDoc(doc, 0)
		heads = append(heads, d.body)
		for j := 1; j <= records; j++ {
			rec := Record{Kind: KindTransition, Seq: uint64(j), Time: t0.Add(time.Duration(j) * time.Second),
				Node: fmt.Sprintf("azure-children/cluster-%d", j/2), From: workflow.Pending, To: workflow.Running, Attempt: 1}
			if j%2 == 0 {
				rec.From, rec.To, rec.Duration = workflow.Running, workflow.Succeeded, 42*time.Second
				rec.Outputs = map[string]string{"kubeconfig": "/state/secrets/kubeconfig", "resource_group": "rg-k0rdent-ab12"}
			}
			if j == records {
				rec = Record{Kind: KindOutcome, Seq: uint64(j), Time: rec.Time, Outcome: OutcomeSucceeded, Flags: h.Flags}
			}
			doc, err := encodeRecord(rec)
			if err != nil {
				b.Fatal(err)
			}
			d, _ := parseDoc(doc, 0)
			recs = append(recs, d.body)
		}
	}
	docs := float64(len(heads) + len(recs))
	for _, tc := range []struct {
		name   string
		header func([]byte, *headerDoc) error
		record func([]byte, *Record) error
	}{
		{"fast", decodeHeaderBody, decodeRecordBody},
		{"yaml.v3", func(b []byte, h *headerDoc) error { return unmarshal(b, h) }, func(b []byte, r *Record) error { return unmarshal(b, r) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				for _, body := range heads {
					var h headerDoc
					if err := tc.header(body, &h); err != nil {
						b.Fatal(err)
					}
				}
				for _, body := range recs {
					var r Record
					if err := tc.record(body, &r); err != nil {
						b.Fatal(err)
					}
				}
			}
			per := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / docs
			b.ReportMetric(per, "ns/doc")
			b.ReportMetric(per*docs/1e6, "ms/state")
			b.ReportMetric(per*2*10000/1e6, "ms/list-10000-runs")
		})
	}
}
