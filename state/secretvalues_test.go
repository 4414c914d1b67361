package state

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// operatorKey is a WireGuard private key: by shape it cannot be told from a
// public key, so only its value gives it away.
const operatorKey = "aGVsbG8tb3BlcmF0b3ItcHJpdmF0ZS1rZXktMDAwMDA="

// fileHolds reports whether any file under root holds s.
func fileHolds(t *testing.T, path, s string) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(data), s)
}

func TestRun_RefusesSecretValues(t *testing.T) {
	s := lockedStore(t)
	if _, err := s.WriteSecret("wireguard/operator.key", []byte(operatorKey+"\n")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"wireguard/port", "ssh/id_ed25519.pub"} {
		content := "51820\n" // too short to count
		if strings.HasSuffix(name, ".pub") {
			content = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk0cmRlbnQtcHVibGljLWtleS1vZi10aGUtdm1z k0rdent\n"
		}
		if _, err := s.WriteSecret(name, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	r := writeRun(t, s, "", []workflow.Event{ev(1, "hook", workflow.Pending, workflow.Running)}, "")
	defer r.Close()
	tests := []struct {
		name  string
		ev    workflow.Event
		field string
		want  string
	}{{
		name:  "Output",
		ev:    workflow.Event{Time: at(2), Node: "hook", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Outputs: map[string]string{"hub": operatorKey}},
		field: workflow.RefusedOutputs,
		want:  `outputs refused: state: refusing to journal secret material: output "hub" holds the content of secrets/wireguard/operator.key; write secrets to files under the secrets directory ($K0RDENT_SECRETS_DIR) and output their paths`,
	}, {
		name:  "OutputEmbedded",
		ev:    workflow.Event{Time: at(2), Node: "hook", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Outputs: map[string]string{"wg": "[Interface]\tPrivateKey=" + operatorKey}},
		field: workflow.RefusedOutputs,
	}, {
		name:  "Reason",
		ev:    workflow.Event{Time: at(2), Node: "hook", From: workflow.Running, To: workflow.Running, Attempt: 2, Reason: "retry: key " + operatorKey + " rejected"},
		field: workflow.RefusedReason,
		want:  "reason refused: state: refusing to journal secret material: it holds the content of secrets/wireguard/operator.key",
	}, {
		name:  "Error",
		ev:    workflow.Event{Time: at(2), Node: "hook", From: workflow.Running, To: workflow.Failed, Attempt: 1, Error: "wg set private-key " + operatorKey + ": exit 1"},
		field: workflow.RefusedErrorText,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := r.rf.Size
			err := r.Record(tt.ev)
			var re *workflow.RefusedError
			if !errors.As(err, &re) || re.Field != tt.field || !errors.Is(err, ErrSecret) {
				t.Fatalf("Record = %v, want a *workflow.RefusedError of %s wrapping ErrSecret", err, tt.field)
			}
			if tt.want != "" && re.Error() != tt.want {
				t.Errorf("refusal = %q, want %q", re.Error(), tt.want)
			}
			if strings.Contains(err.Error(), operatorKey) {
				t.Errorf("the refusal quotes the secret: %v", err)
			}
			if fi, _ := os.Stat(r.Path()); fi.Size() != size || fileHolds(t, r.Path(), operatorKey) {
				t.Errorf("the refused record was written")
			}
		})
	}
	// Short values and public keys are not secret values.
	ok := workflow.Event{Time: at(3), Node: "hook", From: workflow.Running, To: workflow.Succeeded, Attempt: 1,
		Outputs: map[string]string{"port": "51820", "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk0cmRlbnQtcHVibGljLWtleS1vZi10aGUtdm1z k0rdent"}}
	if err := r.Record(ok); err != nil {
		t.Errorf("Record(port, public key) = %v, want nil", err)
	}
}

func TestRun_RefusesSecretValuesWrittenDuringTheRun(t *testing.T) {
	s := lockedStore(t)
	r := writeRun(t, s, "", []workflow.Event{ev(1, "wireguard", workflow.Pending, workflow.Running)}, "")
	defer r.Close()
	// The phase generates the key after the run opened, then leaks it.
	if _, err := s.WriteSecret("wireguard/hub.key", []byte(operatorKey+"\n")); err != nil {
		t.Fatal(err)
	}
	err := r.Record(workflow.Event{Time: at(2), Node: "wireguard", From: workflow.Running, To: workflow.Succeeded, Attempt: 1,
		Outputs: map[string]string{"hub": operatorKey}})
	if !errors.Is(err, ErrSecret) {
		t.Fatalf("Record = %v, want ErrSecret", err)
	}
	// Replaced with another key: the old value is no longer a secret.
	if _, err := s.WriteSecret("wireguard/hub.key", []byte("bmV3LWh1Yi1rZXktYWZ0ZXItcm90YXRpb24tMDAwMDA=\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a new mtime even on coarse clocks; ordering only
	err = r.Record(workflow.Event{Time: at(3), Node: "wireguard", From: workflow.Running, To: workflow.Succeeded, Attempt: 1,
		Outputs: map[string]string{"hub": "bmV3LWh1Yi1rZXktYWZ0ZXItcm90YXRpb24tMDAwMDA="}})
	if !errors.Is(err, ErrSecret) {
		t.Fatalf("Record with the new key = %v, want ErrSecret", err)
	}
}

func TestRun_FinishWithASecretReasonJournalsTheRefusal(t *testing.T) {
	s := lockedStore(t)
	if _, err := s.WriteSecret("azure/client-secret", []byte(operatorKey)); err != nil {
		t.Fatal(err)
	}
	r := writeRun(t, s, "", nil, "")
	defer r.Close()
	if err := r.Finish(OutcomeFailed, "az login --password "+operatorKey+": denied"); err != nil {
		t.Fatalf("Finish = %v", err)
	}
	if r.rf.Outcome != OutcomeFailed || !strings.Contains(r.rf.OutcomeReason, "holds the content of secrets/azure/client-secret") {
		t.Errorf("outcome %q (%q), want failed with the refusal as its reason", r.rf.Outcome, r.rf.OutcomeReason)
	}
	if fileHolds(t, r.Path(), operatorKey) {
		t.Error("the run file holds the secret")
	}
}

// TestScheduler_SecretOutputFailsTheNode is the regression of issue 10
// item 8: `hub=$(cat …/operator.key)` was journalled, and an output that
// Record refused left the node running. With the state journal as the
// Recorder, the node fails with the refusal, its dependent is blocked, and
// neither the run file nor runtime.yaml holds the key.
func TestScheduler_SecretOutputFailsTheNode(t *testing.T) {
	s := lockedStore(t)
	if _, err := s.WriteSecret("wireguard/operator.key", []byte(operatorKey+"\n")); err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateRun(testHeader(""))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	leak := &phaseFunc{name: "leak", run: func(ctx context.Context, env *workflow.Env) error {
		env.SetOutput("hub", operatorKey)
		return nil
	}}
	after := &phaseFunc{name: "after", deps: []string{"leak"}}
	g, err := workflow.NewGraph(leak, after)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&workflow.Scheduler{Graph: g, RunID: r.ID(), Recorder: r}).Run(context.Background(), nil)
	if err == nil || strings.Contains(err.Error(), operatorKey) {
		t.Fatalf("Run error = %v, want the refusal, without the key", err)
	}
	if err := r.Finish(Outcome(res.Outcome), ""); err != nil {
		t.Fatal(err)
	}
	rf, err := s.Load(r.ID())
	if err != nil || rf.Err != nil {
		t.Fatalf("Load: %v %v", err, rf.Err)
	}
	if st := rf.Nodes["leak"]; st.State != workflow.Failed || !strings.Contains(st.Error, `output "hub" holds the content of secrets/wireguard/operator.key`) {
		t.Errorf("leak = %s (%q), want failed with the refusal", st.State, st.Error)
	}
	if st := rf.Nodes["after"]; st.State != workflow.Blocked {
		t.Errorf("after = %s, want blocked", st.State)
	}
	if rf.Outcome != OutcomeFailed {
		t.Errorf("outcome = %q, want failed", rf.Outcome)
	}
	for _, path := range []string{r.Path(), s.LocalBackend().RuntimePath()} {
		if fileHolds(t, path, operatorKey) {
			t.Errorf("%s holds the key", path)
		}
	}
}

// phaseFunc is a minimal workflow.Phase.
type phaseFunc struct {
	name string
	deps []string
	run  func(ctx context.Context, env *workflow.Env) error
}

func (p *phaseFunc) Name() string        { return p.name }
func (p *phaseFunc) DependsOn() []string { return p.deps }
func (p *phaseFunc) Run(ctx context.Context, env *workflow.Env) error {
	if p.run == nil {
		return nil
	}
	return p.run(ctx, env)
}

func TestRun_RecordProcessGroup(t *testing.T) {
	s := lockedStore(t)
	r := writeRun(t, s, "", []workflow.Event{ev(1, "hook", workflow.Pending, workflow.Running)}, "")
	pg := workflow.ProcessGroup{RunID: r.ID(), Node: "hook", Attempt: 1, PGID: 4242, LeaderStart: 123456, BootID: "0f9e-boot"}
	if err := r.RecordProcessGroup(pg); err != nil {
		t.Fatalf("RecordProcessGroup: %v", err)
	}
	// Only a running attempt can start a group.
	for _, bad := range []workflow.ProcessGroup{
		{Node: "hook", Attempt: 2, PGID: 1},
		{Node: "other", Attempt: 1, PGID: 1},
		{Node: "hook", Attempt: 1},
	} {
		if err := r.RecordProcessGroup(bad); err == nil {
			t.Errorf("RecordProcessGroup(%+v) = nil, want an error", bad)
		}
	}
	if err := r.Record(ev(2, "hook", workflow.Running, workflow.Succeeded)); err != nil {
		t.Fatal(err)
	}
	r.Close()
	rf, err := s.Load(r.ID())
	if err != nil || rf.Err != nil {
		t.Fatalf("Load: %v %v", err, rf.Err)
	}
	if len(rf.ProcessGroups) != 1 || rf.ProcessGroups[0] != pg {
		t.Errorf("ProcessGroups = %+v, want [%+v]", rf.ProcessGroups, pg)
	}
	if st := rf.Nodes["hook"]; st.State != workflow.Succeeded || st.Attempt != 1 {
		t.Errorf("hook = %+v: the process record changed the node", st)
	}
	if got := s.LeftoverProcessGroups(rf, nil); len(got) != 1 || got[0] != pg {
		t.Errorf("LeftoverProcessGroups(rf) = %+v", got)
	}
	// A takeover names the dead holder's run.
	if got := s.LeftoverProcessGroups(nil, &Holder{RunID: r.ID(), PID: 1}); len(got) != 1 || got[0] != pg {
		t.Errorf("LeftoverProcessGroups(takeover) = %+v", got)
	}
	if got := s.LeftoverProcessGroups(rf, &Holder{RunID: r.ID(), PID: 1}); len(got) != 1 {
		t.Errorf("LeftoverProcessGroups(rf, the same run) = %+v, want it once", got)
	}
	if got := s.LeftoverProcessGroups(nil, nil); got != nil {
		t.Errorf("LeftoverProcessGroups(nil, nil) = %+v", got)
	}
}

// BenchmarkRun_RecordSecretValues measures a record checked against the
// secret values of a typical state directory (keys, kubeconfig, cloud-init)
// without the fsync: the cost the check adds to every append.
func BenchmarkRun_RecordSecretValues(b *testing.B) {
	s := NewStore(b.TempDir())
	for _, name := range []string{"wireguard/hub.key", "wireguard/vm-1.key", "wireguard/vm-2.key", "wireguard/vm-3.key",
		"wireguard/cloud-init/vm-1.yaml", "wireguard/cloud-init/vm-2.yaml", "k0s/kubeconfig", "ssh/id_ed25519", "azure/client-secret"} {
		if _, err := s.WriteSecret(name, []byte(strings.Repeat(name, 20))); err != nil {
			b.Fatal(err)
		}
	}
	sv := newSecretValues(s.LocalBackend().SecretsPath())
	rec := &Record{Kind: KindTransition, Node: "terraform", Reason: "reused from run 20261125-100000-abcd",
		Outputs: map[string]string{"resource_group": "rg-k0rdent-ab12", "vm_details": `{"vm-1":{"public_ip":"20.1.2.3","private_ip":"10.0.0.4"}}`}}
	b.ReportAllocs()
	for b.Loop() {
		if err := sv.check(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// A process record changes no node, and what readers see of runtime.yaml
// (Current: the file with the run file's tail folded in) stays the
// projection of the run file: a rebuild after it gives the same snapshot.
func TestRun_ProcessRecordKeepsRuntimeAProjection(t *testing.T) {
	s := lockedStore(t)
	r := writeRun(t, s, "", []workflow.Event{ev(1, "hook", workflow.Pending, workflow.Running)}, "")
	defer r.Close()
	if err := r.RecordProcessGroup(workflow.ProcessGroup{Node: "hook", Attempt: 1, PGID: 4242, LeaderStart: 1}); err != nil {
		t.Fatal(err)
	}
	live, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := s.RebuildRuntime()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(live, rebuilt) {
		t.Errorf("runtime after a process record differs from its rebuild:\n--- live\n%+v\n--- rebuilt\n%+v", live, rebuilt)
	}
}
