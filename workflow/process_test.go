package workflow

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

const secretValue = "c2VjcmV0LWtleS1tYXRlcmlhbC1vZi10aGUtaHViCg"

// refusingRecorder refuses, like state.Run, any event whose outputs,
// reason or error hold secretValue, and journals process groups.
type refusingRecorder struct {
	*memRecorder
	mu      sync.Mutex
	groups  []ProcessGroup
	procErr error
}

func (r *refusingRecorder) Record(ev Event) error {
	refuse := func(field string) error {
		return &RefusedError{Field: field, Err: errors.New("it holds the content of secrets/hub.key")}
	}
	for _, v := range ev.Outputs {
		if strings.Contains(v, secretValue) {
			return refuse(RefusedOutputs)
		}
	}
	if strings.Contains(ev.Reason, secretValue) {
		return refuse(RefusedReason)
	}
	if strings.Contains(ev.Error, secretValue) {
		return refuse(RefusedErrorText)
	}
	return r.memRecorder.Record(ev)
}

func (r *refusingRecorder) RecordProcessGroup(pg ProcessGroup) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.procErr != nil {
		return r.procErr
	}
	if got := r.memRecorder.lastState(pg.Node); got != Running {
		r.t.Errorf("process group of %s recorded while it is %s", pg.Node, got)
	}
	r.groups = append(r.groups, pg)
	return nil
}

// noSecret fails if any recorded event, or the run error, holds the secret.
func noSecret(t *testing.T, rec *refusingRecorder, err error) {
	t.Helper()
	if trail := rec.trail(); strings.Contains(trail, secretValue) {
		t.Errorf("the secret was recorded:\n%s", trail)
	}
	for _, ev := range rec.events {
		for k, v := range ev.Outputs {
			if strings.Contains(v, secretValue) {
				t.Errorf("output %s of %s holds the secret", k, ev.Node)
			}
		}
	}
	if err != nil && strings.Contains(err.Error(), secretValue) {
		t.Errorf("the run error holds the secret: %v", err)
	}
}

func TestScheduler_RefusedOutputsFailTheNode(t *testing.T) {
	recorderModes(t, func(t *testing.T, wrap func(Recorder) Recorder) {
		a, b := ph("a"), ph("b", "a")
		a.run = func(ctx context.Context, env *Env) error {
			env.SetOutput("hub", secretValue)
			return nil
		}
		rec := &refusingRecorder{memRecorder: newRecorder(t, nil)}
		s := &Scheduler{Graph: mustGraph(t, a, b), Recorder: wrap(rec)}
		res, err := s.Run(context.Background(), nil)
		var pe *PhaseError
		var re *RefusedError
		if !errors.As(err, &pe) || pe.Phase != "a" || !errors.As(err, &re) || re.Field != RefusedOutputs {
			t.Fatalf("Run error = %v, want a *PhaseError of a wrapping the refusal of its outputs", err)
		}
		if res.Outcome != OutcomeFailed || res.Nodes["a"].State != Failed || res.Nodes["b"].State != Blocked {
			t.Errorf("outcome %s, a %s, b %s; want failed, failed, blocked", res.Outcome, res.Nodes["a"].State, res.Nodes["b"].State)
		}
		if res.Nodes["a"].Outputs != nil {
			t.Errorf("a keeps the refused outputs in the result: %v", res.Nodes["a"].Outputs)
		}
		wantTrail(t, rec.memRecorder, "a pending->running #1\n"+
			"a running->failed #1 err=outputs refused: it holds the content of secrets/hub.key\n"+
			"b pending->blocked #0 dependency a failed\n")
		noSecret(t, rec, err)
	})
}

func TestScheduler_RefusedErrorTextIsReplaced(t *testing.T) {
	recorderModes(t, func(t *testing.T, wrap func(Recorder) Recorder) {
		a := ph("a")
		a.run = func(ctx context.Context, env *Env) error {
			return errors.New("login with " + secretValue + " failed")
		}
		v := verifierPhase{ph("v")}
		v.verify = func(ctx context.Context, env *Env) error { return errors.New("token " + secretValue + " expired") }
		prior := map[string]NodeStatus{"v": {State: Succeeded, Attempt: 1}}
		rec := &refusingRecorder{memRecorder: newRecorder(t, prior)}
		s := &Scheduler{Graph: mustGraph(t, a, v), Recorder: wrap(rec)}
		res, err := s.Run(context.Background(), prior)
		if res.Nodes["a"].State != Failed || res.Nodes["v"].State != Succeeded {
			t.Fatalf("a %s, v %s; want failed, succeeded (verify failed, ran again): %v", res.Nodes["a"].State, res.Nodes["v"].State, err)
		}
		wantTrail(t, rec.memRecorder, "a pending->running #1\n"+
			"a running->failed #1 err=error refused: it holds the content of secrets/hub.key\n", "a")
		wantTrail(t, rec.memRecorder, "v succeeded->running #2 reason refused: it holds the content of secrets/hub.key\n"+
			"v running->succeeded #2\n", "v")
		if got := res.Nodes["a"].Error; got != "error refused: it holds the content of secrets/hub.key" {
			t.Errorf("a's error in the result = %q", got)
		}
		noSecret(t, rec, err)
	})
}

func TestScheduler_RefusedReuseRunsAgain(t *testing.T) {
	recorderModes(t, func(t *testing.T, wrap func(Recorder) Recorder) {
		a, b := ph("a"), ph("b", "a")
		a.run = func(ctx context.Context, env *Env) error {
			env.SetOutput("hub_key_path", "/state/secrets/hub.key")
			return nil
		}
		var got string
		b.run = func(ctx context.Context, env *Env) error {
			got, _ = env.Input("a", "hub_key_path")
			return nil
		}
		prior := map[string]NodeStatus{
			"a": {State: Succeeded, Attempt: 1, RunID: "old", Outputs: map[string]string{"hub": secretValue}},
		}
		rec := &refusingRecorder{memRecorder: newRecorder(t, prior)}
		s := &Scheduler{Graph: mustGraph(t, a, b), Recorder: wrap(rec)}
		res, err := s.Run(context.Background(), prior)
		if err != nil || res.Outcome != OutcomeSucceeded {
			t.Fatalf("Run = %v, %v; want succeeded", res.Outcome, err)
		}
		if got != "/state/secrets/hub.key" {
			t.Errorf("b got input %q, want the one of a's new run", got)
		}
		wantTrail(t, rec.memRecorder, "a succeeded->running #2 recorded outputs refused: it holds the content of secrets/hub.key\n"+
			"a running->succeeded #2\n"+
			"b pending->running #1\n"+
			"b running->succeeded #1\n")
		noSecret(t, rec, err)
	})
}

func TestScheduler_RefusedReuseOutsideTheSelectionBlocks(t *testing.T) {
	recorderModes(t, func(t *testing.T, wrap func(Recorder) Recorder) {
		a, b := ph("a"), ph("b", "a")
		prior := map[string]NodeStatus{
			"a": {State: Succeeded, Attempt: 1, RunID: "old", Outputs: map[string]string{"hub": secretValue}},
		}
		rec := &refusingRecorder{memRecorder: newRecorder(t, prior)}
		s := &Scheduler{Graph: mustGraph(t, a, b), Recorder: wrap(rec), Selection: Selection{Only: []string{"b"}}}
		res, err := s.Run(context.Background(), prior)
		if res.Outcome != OutcomeFailed || res.Nodes["a"].State != Blocked || res.Nodes["b"].State != Blocked {
			t.Fatalf("outcome %s, a %s, b %s (%v); want failed, blocked, blocked", res.Outcome, res.Nodes["a"].State, res.Nodes["b"].State, err)
		}
		wantTrail(t, rec.memRecorder, "a succeeded->blocked #1 recorded outputs refused: it holds the content of secrets/hub.key; select it to run it again\n"+
			"b pending->blocked #0 dependency a failed\n")
		noSecret(t, rec, err)
	})
}

func TestEnv_StartedProcessGroup(t *testing.T) {
	a := ph("a")
	var procErr error
	a.run = func(ctx context.Context, env *Env) error {
		procErr = env.StartedProcessGroup(ProcessGroup{PGID: 4242, LeaderStart: 99, BootID: "boot"})
		return procErr
	}
	t.Run("Journalled", func(t *testing.T) {
		recorderModes(t, func(t *testing.T, wrap func(Recorder) Recorder) {
			rec := &refusingRecorder{memRecorder: newRecorder(t, nil)}
			s := &Scheduler{Graph: mustGraph(t, a), Recorder: wrap(rec), RunID: "run-1"}
			if _, err := s.Run(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			want := []ProcessGroup{{RunID: "run-1", Node: "a", Attempt: 1, PGID: 4242, LeaderStart: 99, BootID: "boot"}}
			if len(rec.groups) != 1 || rec.groups[0] != want[0] {
				t.Errorf("recorded groups = %+v, want %+v", rec.groups, want)
			}
		})
	})
	t.Run("RecorderWithoutProcessGroups", func(t *testing.T) {
		rec := newRecorder(t, nil)
		s := &Scheduler{Graph: mustGraph(t, a), Recorder: rec}
		if _, err := s.Run(context.Background(), nil); err != nil || procErr != nil {
			t.Fatalf("Run = %v, StartedProcessGroup = %v; want nil, nil", err, procErr)
		}
	})
	t.Run("RecorderFails", func(t *testing.T) {
		recorderModes(t, func(t *testing.T, wrap func(Recorder) Recorder) {
			errDisk := errors.New("disk full")
			rec := &refusingRecorder{memRecorder: newRecorder(t, nil), procErr: errDisk}
			s := &Scheduler{Graph: mustGraph(t, a), Recorder: wrap(rec)}
			res, err := s.Run(context.Background(), nil)
			if !errors.Is(procErr, errDisk) || !errors.Is(err, errDisk) {
				t.Fatalf("StartedProcessGroup = %v, Run = %v; want both to be %v", procErr, err, errDisk)
			}
			if res.Outcome != OutcomeFailed {
				t.Errorf("outcome = %s, want failed", res.Outcome)
			}
			wantTrail(t, rec.memRecorder, "a pending->running #1\n")
		})
	})
	t.Run("EnvOutsideAScheduler", func(t *testing.T) {
		var env *Env
		if err := env.StartedProcessGroup(ProcessGroup{PGID: 1}); err != nil {
			t.Errorf("nil Env: %v", err)
		}
		if err := (&Env{}).StartedProcessGroup(ProcessGroup{PGID: 1}); err != nil {
			t.Errorf("zero Env: %v", err)
		}
	})
}

func TestEnv_StartedProcessGroupInVerifyIsNotJournalled(t *testing.T) {
	v := verifierPhase{ph("v")}
	var procErr error
	v.verify = func(ctx context.Context, env *Env) error {
		procErr = env.StartedProcessGroup(ProcessGroup{PGID: 4242})
		return nil
	}
	prior := map[string]NodeStatus{"v": {State: Succeeded, Attempt: 1}}
	rec := &refusingRecorder{memRecorder: newRecorder(t, prior)}
	if _, err := (&Scheduler{Graph: mustGraph(t, v), Recorder: rec}).Run(context.Background(), prior); err != nil || procErr != nil {
		t.Fatalf("Run = %v, StartedProcessGroup = %v; want nil, nil", err, procErr)
	}
	if len(rec.groups) != 0 {
		t.Errorf("a verify's group was journalled: %+v", rec.groups)
	}
}
