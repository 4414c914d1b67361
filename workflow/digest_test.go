package workflow

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
)

// dayTwo is a graph a -> b -> c, b -> d, with a volatile v that c also
// depends on; each phase's output is set by out (node -> value).
type dayTwo struct {
	tr  tracker
	out map[string]string
	bad map[string]bool // Verify fails
}

func (d *dayTwo) phases() []Phase {
	mk := func(name string, deps ...string) *fakePhase {
		f := d.tr.phase(name, deps...)
		run := f.run
		f.run = func(ctx context.Context, env *Env) error {
			if err := run(ctx, env); err != nil {
				return err
			}
			env.SetOutput("ip", d.out[name])
			return nil
		}
		f.verify = func(context.Context, *Env) error {
			if d.bad[name] {
				return fmt.Errorf("%s is gone", name)
			}
			return nil
		}
		return f
	}
	v := mk("v")
	v.volatile = true
	v.run = func(ctx context.Context, env *Env) error {
		d.tr.mu.Lock()
		d.tr.ran = append(d.tr.ran, "v")
		d.tr.mu.Unlock()
		env.SetOutput("handshake", d.out["v"]) // changes every run: not an input
		return nil
	}
	return []Phase{fullPhase{mk("a")}, fullPhase{mk("b", "a")}, fullPhase{mk("c", "b", "v")}, fullPhase{mk("d", "b")}, fullPhase{v}}
}

func (d *dayTwo) run(t *testing.T, runID string, prior map[string]NodeStatus, own map[string]string) (*Result, *memRecorder) {
	t.Helper()
	d.tr.ran = nil
	res, err, rec := runGraph(t, context.Background(), prior, func(s *Scheduler) {
		s.RunID = runID
		s.Inputs = &Inputs{Own: own, Explain: func(node string, last NodeStatus) []string {
			return []string{node + ".key old → new"}
		}}
	}, d.phases()...)
	if err != nil {
		t.Fatal(err)
	}
	return res, rec
}

func TestScheduler_ReuseByInputsDigest(t *testing.T) {
	own := map[string]string{"a": "A1", "b": "B1", "c": "C1", "d": "D1", "v": "V1"}
	d := &dayTwo{out: map[string]string{"a": "1", "b": "1", "c": "1", "d": "1", "v": "t1"}, bad: map[string]bool{}}
	res, rec := d.run(t, "r1", nil, own)
	if got := len(d.tr.ran); got != 5 {
		t.Fatalf("first run ran %q, want all five", d.tr.ranList())
	}
	for _, ev := range rec.events {
		if ev.To == Succeeded && (ev.Digest == "" || ev.OwnDigest != own[ev.Node]) {
			t.Errorf("%s succeeded with digest %q own %q, want a digest and own %q", ev.Node, ev.Digest, ev.OwnDigest, own[ev.Node])
		}
	}
	first := res.Nodes

	t.Run("NothingChanged", func(t *testing.T) {
		d.out["v"] = "t2"
		_, rec := d.run(t, "r2", first, own)
		if got := d.tr.ranList(); got != "v" {
			t.Errorf("ran %q, want only the volatile v", got)
		}
		if got := rec.trail("c"); !strings.Contains(got, "c succeeded->succeeded #1 unchanged since run r1, verified") {
			t.Errorf("c trail %q, want verified reuse naming run r1", got)
		}
	})
	t.Run("OwnChangedSameOutputs", func(t *testing.T) {
		o := maps.Clone(own)
		o["b"] = "B2"
		_, rec := d.run(t, "r2", first, o)
		if got := d.tr.ranList(); got != "v,b" && got != "b,v" {
			t.Errorf("ran %q, want v and b only: b's outputs did not change, so c and d are reused", got)
		}
		if got := rec.trail("b"); !strings.Contains(got, "changed: b.key old → new") {
			t.Errorf("b trail %q, want the explained change", got)
		}
	})
	t.Run("OwnChangedNewOutputs", func(t *testing.T) {
		o := maps.Clone(own)
		o["b"] = "B2"
		d.out["b"] = "2"
		defer func() { d.out["b"] = "1" }()
		_, rec := d.run(t, "r2", first, o)
		got := d.tr.ranList()
		for _, n := range []string{"b", "c", "d", "v"} {
			if !strings.Contains(got, n) {
				t.Errorf("ran %q, want %s too", got, n)
			}
		}
		if strings.Contains(got, "a") {
			t.Errorf("ran %q, want a reused", got)
		}
		if got := rec.trail("c"); !strings.Contains(got, "input from b changed: ip") {
			t.Errorf("c trail %q, want the changed input named", got)
		}
	})
	t.Run("Drift", func(t *testing.T) {
		d.bad["a"] = true
		defer delete(d.bad, "a")
		_, rec := d.run(t, "r2", first, own)
		if got := rec.trail("a"); !strings.Contains(got, "drift: verify failed: a is gone") {
			t.Errorf("a trail %q, want drift", got)
		}
		if got := d.tr.ranList(); got != "a,v" && got != "v,a" {
			t.Errorf("ran %q, want a (drift, same outputs) and v", got)
		}
	})
	t.Run("NoDigestRecorded", func(t *testing.T) {
		old := maps.Clone(first)
		st := old["a"]
		st.Digest, st.OwnDigest = "", ""
		old["a"] = st
		d.run(t, "r2", old, own)
		if got := d.tr.ranList(); got != "a,v" && got != "v,a" {
			t.Errorf("ran %q, want a (a success without a digest is never reused; same outputs, so b, c, d are) and v", got)
		}
	})
	t.Run("Replace", func(t *testing.T) {
		d.tr.ran = nil
		_, err, _ := runGraph(t, context.Background(), first, func(s *Scheduler) {
			s.Inputs, s.Selection = &Inputs{Own: own}, Selection{Replace: []string{"d"}}
		}, d.phases()...)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.tr.ranList(); got != "v,d" && got != "d,v" {
			t.Errorf("ran %q, want d (replaced) and v", got)
		}
	})
}

func TestPlan_ReuseByInputsDigest(t *testing.T) {
	own := map[string]string{"a": "A1", "b": "B1", "c": "C1", "d": "D1", "v": "V1"}
	d := &dayTwo{out: map[string]string{"a": "1", "b": "1", "c": "1", "d": "1", "v": "t1"}, bad: map[string]bool{}}
	res, _ := d.run(t, "r1", nil, own)
	o := maps.Clone(own)
	o["b"] = "B2"
	p := Plan(mustGraph(t, d.phases()...), PlanOptions{Prior: res.Nodes, Inputs: &Inputs{Own: o, Explain: func(node string, _ NodeStatus) []string {
		return []string{"x.y 1 → 2"}
	}}})
	got := map[string]string{}
	for _, n := range p.Nodes {
		got[n.Name] = string(n.Action) + " (" + n.Reason + ")"
	}
	want := map[string]string{
		"a": "verify then reuse (unchanged since run r1)",
		"b": "run (changed: x.y 1 → 2)",
		"c": "decided at run time (reuse if the outputs of b are unchanged after it runs, else run)",
		"d": "decided at run time (reuse if the outputs of b are unchanged after it runs, else run)",
		"v": "run (volatile: re-established on every run)",
	}
	if !maps.Equal(got, want) {
		t.Errorf("plan\ngot  %v\nwant %v", got, want)
	}
}
