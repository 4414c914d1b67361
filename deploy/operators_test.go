package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// writeOperatorRun journals a run whose vpn node recorded each operator
// of ops (name -> address), one attempt each.
func writeOperatorRun(t *testing.T, s *state.Store, ops [][2]string) {
	t.Helper()
	l, _, err := s.Lock(state.CurrentHolder("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	r, err := s.CreateRun(state.Header{RunID: "20261125-100000-0001", Created: time.Now(), Nodes: []string{"vpn"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	from := workflow.Pending
	keys := []string{"YWxpY2UtcHVibGljLWtleS0wMDAwMDAwMDAwMDAwMDA=", "Ym9iLXB1YmxpYy1rZXktMDAwMDAwMDAwMDAwMDAwMDA="}
	for i, o := range ops {
		if err := r.Record(workflow.Event{Time: time.Now(), Node: "vpn", From: from, To: workflow.Running, Attempt: i + 1}); err != nil {
			t.Fatal(err)
		}
		if err := r.Record(workflow.Event{Time: time.Now(), Node: "vpn", From: workflow.Running, To: workflow.Succeeded, Attempt: i + 1,
			Outputs: map[string]string{state.OutputOperatorName: o[0], state.OutputOperatorAddress: o[1], state.OutputOperatorPublicKey: keys[i]}}); err != nil {
			t.Fatal(err)
		}
		from = workflow.Succeeded
	}
}

// RemoveOperator refuses, with exit 2 and nothing journalled, an unknown
// operator, the last one and yourself (without --force); it reaches no VM
// before it has decided.
func TestDeployer_RemoveOperatorRefuses(t *testing.T) {
	e := newEnv(t, baseConfig)
	d := e.deployer()
	if _, err := d.RemoveOperator(context.Background(), "bob@b", false); exitCodeOf(err) != CodeUsage || !strings.Contains(err.Error(), "no run") {
		t.Errorf("no run yet: %v", err)
	}
	writeOperatorRun(t, d.Store, [][2]string{{"alice@a", "10.8.0.1"}})
	d.Operator = "alice@a"
	for _, tt := range []struct {
		name, who, want string
	}{
		{"Unknown", "nobody@x", `no operator "nobody@x" (operators: alice@a)`},
		{"Last", "alice@a", "last operator"},
	} {
		if _, err := d.RemoveOperator(context.Background(), tt.who, false); exitCodeOf(err) != CodeUsage || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want exit 2 with %q", tt.name, err, tt.want)
		}
	}
	e2 := newEnv(t, baseConfig)
	d = e2.deployer()
	d.Operator = "alice@a"
	writeOperatorRun(t, d.Store, [][2]string{{"alice@a", "10.8.0.1"}, {"bob@b", "10.8.0.254"}})
	if _, err := d.RemoveOperator(context.Background(), "alice@a", false); exitCodeOf(err) != CodeUsage || !strings.Contains(err.Error(), "is you") {
		t.Errorf("yourself: %v", err)
	}
	// bob@b is removable; without the wireguard and terraform outputs
	// there is no VM to reach, which fails before anything is journalled.
	_, err := d.RemoveOperator(context.Background(), "bob@b", false)
	if err == nil || exitCodeOf(err) != CodePhaseFailed {
		t.Errorf("bob@b without VMs: %v, want exit 1", err)
	}
	ops, _ := d.Store.Operators()
	if len(ops) != 2 {
		t.Errorf("operators after refusals: %+v, want both still there", ops)
	}
}

// exitCodeOf is the exit code an error carries (0 for nil, 1 without one).
func exitCodeOf(err error) int {
	var e *Error
	if err == nil {
		return 0
	}
	if errors.As(err, &e) {
		return e.Code
	}
	return 1
}
