package state

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// lockedStore is a store in a temporary directory whose lock is held.
func lockedStore(t testing.TB) *Store {
	t.Helper()
	s := NewStore(t.TempDir())
	l, prev, err := s.Lock(CurrentHolder("test"))
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if prev != nil {
		t.Fatalf("Lock: unexpected takeover of %+v", prev)
	}
	t.Cleanup(func() { l.Unlock() })
	return s
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// at returns t0 plus n seconds.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

func ev(n int, node string, from, to workflow.State) workflow.Event {
	return workflow.Event{Time: at(n), Node: node, From: from, To: to, Attempt: 1}
}

// happyEvents is a whole successful deployment with projected outputs.
func happyEvents() []workflow.Event {
	peers := `[{"name":"hub","address":"10.8.0.1","public_key":"aGVsbG8taHViLXB1YmxpYy1rZXktMDAwMDAwMDAwMDA=","role":"operator"},` +
		`{"name":"vm-1","address":"10.8.0.2","public_key":"dm0xLXB1YmxpYy1rZXktMDAwMDAwMDAwMDAwMDAwMDA=","role":"controller","endpoint":"20.1.2.3:51820"}]`
	evs := []workflow.Event{
		ev(1, "wireguard", workflow.Pending, workflow.Running),
		{Time: at(2), Node: "wireguard", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Duration: time.Second,
			Outputs: map[string]string{"peers": peers, "port": "51820", "network": "10.8.0.0/24", "hub_private_key_path": "/state/secrets/wireguard/hub.key"}},
		ev(3, "terraform", workflow.Pending, workflow.Running),
		{Time: at(10), Node: "terraform", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Duration: 7 * time.Second,
			Outputs: map[string]string{"resource_group": "rg-k0rdent-ab12", "vm_details": `{"vm-1":{"public_ip":"20.1.2.3","private_ip":"10.0.0.4"}}`}},
		ev(11, "vpn", workflow.Pending, workflow.Running),
		{Time: at(12), Node: "vpn", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Duration: time.Second,
			Outputs: map[string]string{"status": "connected"}},
		ev(13, "k0s", workflow.Pending, workflow.Running),
		{Time: at(40), Node: "k0s", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Duration: 27 * time.Second,
			Outputs: map[string]string{"kubeconfig": "/state/secrets/kubeconfig"}},
		ev(41, "k0rdent", workflow.Pending, workflow.Running),
		{Time: at(90), Node: "k0rdent", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Duration: 49 * time.Second},
		{Time: at(90), Node: "kof", From: workflow.Pending, To: workflow.Skipped, Attempt: 0, Reason: "disabled: --with-kof not set"},
	}
	return evs
}

func testHeader(id string) Header {
	return Header{
		RunID: id, Created: t0, Operator: "alice", Host: "laptop", ToolVersion: "v0.1.0",
		ConfigPath: "k0rdent.yaml", ConfigDigest: "sha256:0123", Flags: map[string]bool{"with_kof": false},
		Nodes: []string{"wireguard", "terraform", "vpn", "k0s", "k0rdent", "kof"},
	}
}

// writeRun creates run id with the events and, if outcome is set, an
// outcome record, all at fixed times.
func writeRun(t testing.TB, s *Store, id string, evs []workflow.Event, outcome Outcome) *Run {
	t.Helper()
	r, err := s.CreateRun(testHeader(id))
	if err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	for _, e := range evs {
		if err := r.Record(e); err != nil {
			t.Fatalf("Record(%s %s->%s): %v", e.Node, e.From, e.To, err)
		}
	}
	if outcome != "" {
		last := r.rf.LastTime()
		if err := r.Append(Record{Kind: KindOutcome, Time: last.Add(time.Second), Outcome: outcome, FailedNodes: r.rf.FailedNodes(), Flags: r.rf.Flags}); err != nil {
			t.Fatalf("outcome: %v", err)
		}
	}
	return r
}

// yamlDocs decodes a YAML stream with yaml.v3 and returns its documents.
func yamlDocs(t testing.TB, data []byte) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if err != nil {
			if err.Error() == "EOF" {
				return docs
			}
			t.Fatalf("yaml.v3 stream decode after %d documents: %v", len(docs), err)
		}
		docs = append(docs, m)
	}
}

// yqDocs runs /usr/bin/yq (the jq wrapper) over path and counts documents;
// -1 if yq is not installed.
func yqDocs(t testing.TB, path string) int {
	t.Helper()
	if _, err := os.Stat("/usr/bin/yq"); err != nil {
		return -1
	}
	out, err := exec.Command("/usr/bin/yq", "-c", ".kind", path).CombinedOutput()
	if err != nil {
		t.Fatalf("yq %s: %v\n%s", path, err, out)
	}
	return bytes.Count(out, []byte("\n"))
}
