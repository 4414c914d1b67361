package state

import (
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TestRun_DigestsInSuccessRecords: a succeeded record keeps the digests it
// was built with, a reuse in a later run carries them on, LastKnown hands
// them to the next run, and a success written before digests loads
// without any (never reused by a new run).
func TestRun_DigestsInSuccessRecords(t *testing.T) {
	s := lockedStore(t)
	evs := happyEvents()
	for i := range evs {
		if evs[i].To == workflow.Succeeded && evs[i].Node != "k0rdent" {
			evs[i].Digest, evs[i].OwnDigest = "sha256:full-"+evs[i].Node, "sha256:own-"+evs[i].Node
		}
	}
	writeRun(t, s, "20261125-100000-aaaa", evs, OutcomeSucceeded)
	reuse := workflow.Event{Time: at(100), Node: "terraform", From: workflow.Succeeded, To: workflow.Succeeded, Attempt: 1,
		Reason:  "unchanged since run 20261125-100000-aaaa, verified",
		Outputs: map[string]string{"resource_group": "rg-k0rdent-ab12"}, Digest: "sha256:full-terraform", OwnDigest: "sha256:own-terraform"}
	run := writeRun(t, s, "20261125-110000-bbbb", []workflow.Event{reuse}, "")
	run.Close()

	rf, err := s.Load("20261125-110000-bbbb")
	if err != nil {
		t.Fatal(err)
	}
	if got := rf.Nodes["terraform"]; got.Digest != "sha256:full-terraform" || got.OwnDigest != "sha256:own-terraform" {
		t.Errorf("reused terraform digests %q %q, want those it was built with", got.Digest, got.OwnDigest)
	}
	known, err := s.LastKnown()
	if err != nil {
		t.Fatal(err)
	}
	for node, want := range map[string]string{"wireguard": "sha256:full-wireguard", "terraform": "sha256:full-terraform", "k0rdent": ""} {
		if got := known[node].Digest; got != want {
			t.Errorf("LastKnown %s digest %q, want %q", node, got, want)
		}
	}
	if known["terraform"].RunID != "20261125-110000-bbbb" {
		t.Errorf("terraform last succeeded in %q, want the run that reused it", known["terraform"].RunID)
	}
	// a new attempt clears them
	run2, err := s.OpenRun("20261125-110000-bbbb")
	if err != nil {
		t.Fatal(err)
	}
	defer run2.Close()
	if err := run2.Record(workflow.Event{Time: at(200), Node: "terraform", From: workflow.Succeeded, To: workflow.Running, Attempt: 2, Duration: time.Second}); err != nil {
		t.Fatal(err)
	}
	if got := run2.Nodes()["terraform"]; got.Digest != "" || got.OwnDigest != "" {
		t.Errorf("running terraform keeps digests %q %q", got.Digest, got.OwnDigest)
	}
}
