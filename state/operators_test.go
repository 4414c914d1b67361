package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// vpnEvents is a wireguard and a vpn node succeeding; op (if not nil)
// are the vpn node's operator outputs.
func vpnEvents(start int, op map[string]string) []workflow.Event {
	peers := `[{"name":"operator","address":"10.8.0.1","public_key":"aGVsbG8taHViLXB1YmxpYy1rZXktMDAwMDAwMDAwMDA=","role":"hub"},` +
		`{"name":"vm-1","address":"10.8.0.2","public_key":"dm0xLXB1YmxpYy1rZXktMDAwMDAwMDAwMDAwMDAwMDA=","role":"controller"}]`
	out := map[string]string{"status": "connected", "interface": "wg-k0rdent", "handshake.vm-1": at(start + 3).Format(time.RFC3339)}
	for k, v := range op {
		out[k] = v
	}
	return []workflow.Event{
		ev(start, "wireguard", workflow.Pending, workflow.Running),
		{Time: at(start + 1), Node: "wireguard", From: workflow.Running, To: workflow.Succeeded, Attempt: 1,
			Outputs: map[string]string{"peers": peers, "port": "51820", "network": "10.8.0.0/24"}},
		ev(start+2, "vpn", workflow.Pending, workflow.Running),
		{Time: at(start + 4), Node: "vpn", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Outputs: out},
	}
}

func operatorOutputs(name, addr, key string) map[string]string {
	return map[string]string{OutputOperatorName: name, OutputOperatorAddress: addr, OutputOperatorPublicKey: key, OutputOperatorAddedTo: "vm-1"}
}

func TestStore_Operators(t *testing.T) {
	s := lockedStore(t)
	names := func() string {
		t.Helper()
		ops, err := s.Operators()
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, o := range ops {
			s := o.Name + "=" + o.Address
			if o.Legacy {
				s += "(legacy)"
			}
			n = append(n, s)
		}
		return strings.Join(n, ",")
	}
	if got := names(); got != "" {
		t.Fatalf("empty store: %q", got)
	}
	// A deployment from before operators were recorded: the hub is the
	// legacy operator.
	writeRun(t, s, "20261125-100000-0001", vpnEvents(1, nil), OutcomeSucceeded).Close()
	if got := names(); got != "operator=10.8.0.1(legacy)" {
		t.Fatalf("before any operator record: %q", got)
	}
	// The first operator's vpn node claims it.
	alice := operatorOutputs("alice@a", "10.8.0.1", "YWxpY2UtcHVibGljLWtleS0wMDAwMDAwMDAwMDAwMDA=")
	writeRun(t, s, "20261125-100100-0001", vpnEvents(10, alice), OutcomeSucceeded).Close()
	bob := operatorOutputs("bob@b", "10.8.0.254", "Ym9iLXB1YmxpYy1rZXktMDAwMDAwMDAwMDAwMDAwMDA=")
	r3 := writeRun(t, s, "20261125-100200-0001", vpnEvents(20, bob), OutcomeSucceeded)
	if got := names(); got != "alice@a=10.8.0.1,bob@b=10.8.0.254" {
		t.Fatalf("after bob joined: %q", got)
	}
	ops, _ := s.Operators()
	if b := ops[1]; b.AddedBy != "20261125-100200-0001" || !b.LastHandshake.Equal(at(23)) || b.PublicKey != bob[OutputOperatorPublicKey] {
		t.Errorf("bob: %+v", b)
	}
	if a := ops[0]; a.AddedBy != "20261125-100100-0001" {
		t.Errorf("alice: %+v", a)
	}

	// Removing bob appends an operator record after the outcome; the run
	// stays succeeded and loads.
	if err := r3.RemoveOperator(ops[1], "alice@a"); err != nil {
		t.Fatal(err)
	}
	r3.Close()
	if got := names(); got != "alice@a=10.8.0.1" {
		t.Fatalf("after removing bob: %q", got)
	}
	rf, err := s.Load("20261125-100200-0001")
	if err != nil || rf.Outcome != OutcomeSucceeded {
		t.Fatalf("run after the operator record: %v, outcome %q", err, rf.Outcome)
	}
	last := rf.Records[len(rf.Records)-1]
	if last.Kind != KindOperator || last.Operator.Name != "bob@b" || last.Operator.By != "alice@a" || last.Operator.Action != OperatorRemoved {
		t.Errorf("last record %+v", last)
	}
	infos, err := s.List()
	if err != nil || infos[len(infos)-1].Outcome != OutcomeSucceeded {
		t.Errorf("List after the operator record: %+v, %v", infos, err)
	}
	data, _ := os.ReadFile(s.LocalBackend().RunPath("20261125-100200-0001"))
	if !strings.Contains(string(data), "kind: operator\n") || !strings.Contains(string(data), "action: removed") {
		t.Errorf("run file has no operator record:\n%s", data)
	}
	// bob joins again: a new address, added by the new run.
	bob[OutputOperatorAddress] = "10.8.0.253"
	writeRun(t, s, "20261125-100300-0001", vpnEvents(30, bob), OutcomeSucceeded).Close()
	if got := names(); got != "alice@a=10.8.0.1,bob@b=10.8.0.253" {
		t.Fatalf("after bob came back: %q", got)
	}
}

// An operator record must name the operator and say removed.
func TestRun_OperatorRecordChecked(t *testing.T) {
	s := lockedStore(t)
	r := writeRun(t, s, "20261125-100000-0001", nil, "")
	defer r.Close()
	if err := r.Append(Record{Kind: KindOperator, Operator: &OperatorRecord{Action: "added", Name: "x"}}); err == nil {
		t.Error("operator record with action added: accepted")
	}
	if err := r.Append(Record{Kind: KindOperator}); err == nil {
		t.Error("operator record without body: accepted")
	}
}

// A deployment migrated from the bash tool has one operator: its hub
// ("mylaptop"), listed as the legacy operator until the first operator's
// vpn node claims the hub's address; the migrated run files still load.
func TestStore_Operators_Migrated(t *testing.T) {
	dir := filepath.Join(realFixtureDir, "v0.3.0-fresh")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real legacy fixtures not found: %v", err)
	}
	project := copyRealFixture(t, dir)
	s := lockStateStore(t, project)
	if _, err := s.Migrate(project, MigrateOptions{Now: fixedNow}); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	ops, err := s.Operators()
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 1 || !ops[0].Legacy || ops[0].Name != "mylaptop" || ops[0].PublicKey == "" || ops[0].Address == "" {
		t.Fatalf("migrated operators %+v, want the legacy hub mylaptop", ops)
	}
	ids, err := s.runIDs()
	if err != nil || len(ids) == 0 {
		t.Fatalf("run ids %v, %v", ids, err)
	}
	// The first operator's run claims it: same address and key, its own name.
	claim := operatorOutputs("alice@a", ops[0].Address, ops[0].PublicKey)
	r := writeRun(t, s, "29991125-100000-0001", vpnEvents(1, claim), OutcomeSucceeded)
	r.Close()
	got, err := s.Operators()
	if err != nil || len(got) != 1 || got[0].Name != "alice@a" || got[0].Legacy || got[0].Address != ops[0].Address || got[0].PublicKey != ops[0].PublicKey {
		t.Errorf("after the first operator's run: %+v, %v", got, err)
	}
}
