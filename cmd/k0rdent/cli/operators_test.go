package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// journalOperators writes a run whose vpn node recorded alice@a, then
// bob@b (with a handshake).
func journalOperators(t *testing.T, s *state.Store) string {
	t.Helper()
	l, _, err := s.Lock(state.CurrentHolder("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	id := "20261125-100000-0001"
	r, err := s.CreateRun(state.Header{RunID: id, Created: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Nodes: []string{"vpn"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	from := workflow.Pending
	for i, o := range []map[string]string{
		{state.OutputOperatorName: "alice@a", state.OutputOperatorAddress: "10.8.0.1", state.OutputOperatorPublicKey: "YWxpY2UtcHVibGljLWtleS0wMDAwMDAwMDAwMDAwMDA="},
		{state.OutputOperatorName: "bob@b", state.OutputOperatorAddress: "10.8.0.254", state.OutputOperatorPublicKey: "Ym9iLXB1YmxpYy1rZXktMDAwMDAwMDAwMDAwMDAwMDA=",
			"handshake.vm-1": "2026-11-25T10:05:00Z"},
	} {
		at := time.Date(2026, 11, 25, 10, i, 0, 0, time.UTC)
		if err := r.Record(workflow.Event{Time: at, Node: "vpn", From: from, To: workflow.Running, Attempt: i + 1}); err != nil {
			t.Fatal(err)
		}
		if err := r.Record(workflow.Event{Time: at.Add(time.Second), Node: "vpn", From: workflow.Running, To: workflow.Succeeded, Attempt: i + 1, Outputs: o}); err != nil {
			t.Fatal(err)
		}
		from = workflow.Succeeded
	}
	return id
}

func TestOperators_List(t *testing.T) {
	e := newEnv(t, "azure:\n  location: westus2\n")
	if r := e.mustRun(0, "operators"); !strings.Contains(r.stdout, "no operators yet") {
		t.Errorf("empty state:\n%s", r)
	}
	id := journalOperators(t, e.store())
	r := e.mustRun(0, "--operator", "bob@b", "operators")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "alice@a ") ||
		!strings.HasPrefix(lines[2], "bob@b (you)") || !strings.Contains(lines[2], "10.8.0.254") || !strings.Contains(lines[2], id) ||
		!strings.Contains(lines[2], "2026-11-25 10:05:00Z") || strings.Contains(lines[1], "(you)") {
		t.Errorf("operators as bob@b:\n%s", r.stdout)
	}
	r = e.mustRun(0, "operators", "-o", "json", "--operator", "alice@a")
	var v struct {
		Operators []map[string]any `json:"operators"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || len(v.Operators) != 2 {
		t.Fatalf("operators -o json: %v\n%s", err, r.stdout)
	}
	a, b := v.Operators[0], v.Operators[1]
	if a["name"] != "alice@a" || a["you"] != true || b["you"] != false || b["public_key"] != "Ym9iLXB1YmxpYy1rZXktMDAwMDAwMDAwMDAwMDAwMDA=" ||
		b["added_by_run"] != id || b["last_handshake"] != "2026-11-25T10:05:00Z" || b["address"] != "10.8.0.254" {
		t.Errorf("operators -o json:\n%s", r.stdout)
	}
}

func TestOperators_BadInput(t *testing.T) {
	e := newEnv(t, "azure:\n  location: westus2\n")
	for _, args := range [][]string{
		{"operators", "remove"},
		{"operators", "remove", "a", "b"},
		{"operators", "bob@b"},
		{"--operator", "not a name", "operators"},
		{"operators", "remove", "nobody@x"}, // no run yet
	} {
		if r := e.run(args...); r.code != 2 || r.stderr == "" {
			t.Errorf("k0rdent %s: want exit 2 with a message\n%s", strings.Join(args, " "), r)
		}
	}
}
