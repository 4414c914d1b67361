package state

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// fastAgrees checks that when the fast decoder accepts body, yaml.v3
// decodes it to the same value. It returns whether fast accepted.
func fastAgrees(t *testing.T, body []byte) bool {
	t.Helper()
	accepted := false
	if got, ok := fastRecord(body); ok {
		accepted = true
		var want Record
		if err := yaml.Unmarshal(body, &want); err != nil {
			t.Fatalf("fast decoder accepted a record yaml.v3 refuses (%v):\n%q", err, body)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("record decoders differ on %q\nfast %#v\nyaml %#v", body, got, want)
		}
	}
	if got, ok := fastHeader(body); ok {
		accepted = true
		var want headerDoc
		if err := yaml.Unmarshal(body, &want); err != nil {
			t.Fatalf("fast decoder accepted a header yaml.v3 refuses (%v):\n%q", err, body)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("header decoders differ on %q\nfast %#v\nyaml %#v", body, got, want)
		}
	}
	return accepted
}

var oddStrings = []string{
	"", "true", "false", "null", "~", "NULL", "0x10", "0o7", "1e3", "1_000", "+1", "-1", ".5", "a: b", "#x", "x #y",
	"it's", "''", "say \"hi\"", "back\\slash", "  lead", "trail ", "x\ny", "tab\there", "é", "- a", "@x", "`x`",
	"2026-11-25", "2026-11-25T10:00:00Z", "y", "n", "yes", "on", "[a]", "{a: b}", "*ref", "&a", "!tag", "|", ">",
	"%x", "? x", "key:", "a,b", "\x00", "\x7f", "dependency k0s failed", "retry 2/3 in 4s", "/state/secrets/kubeconfig",
	`[{"name":"hub","public_key":"a+b/c="}]`, strings.Repeat("long ", 40),
}

func TestFastDecode(t *testing.T) {
	// Everything this package writes goes through the fast path and
	// agrees with yaml.v3.
	golden, err := os.ReadFile(filepath.Join("testdata", "run-v1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	off, n := 0, 0
	for off < len(golden) {
		d, ok := parseDoc(golden, off)
		if !ok {
			t.Fatalf("golden: bad document at %d", off)
		}
		accepted := fastAgrees(t, d.body)
		if !accepted && !strings.Contains(string(d.body), "previous:") {
			t.Errorf("fast decoder refused a document we write:\n%s", d.body)
		}
		off, n = d.end, n+1
	}
	if n < 10 {
		t.Fatalf("golden has %d documents", n)
	}
	// Odd strings in every string position, written by yaml.v3.
	for _, s := range oddStrings {
		for _, v := range []any{
			Record{Kind: KindTransition, Seq: 7, Time: t0.Add(5), Node: s, From: workflow.State(s), Reason: s, Error: s,
				Duration: 1500 * time.Millisecond, Outputs: map[string]string{"k": s, "peers": s}, FailedNodes: []string{s, "x"},
				Digest: s, OwnDigest: s},
			headerDoc{Kind: KindHeader, Header: Header{Format: 1, RunID: s, Created: t0, Operator: s, ConfigPath: s,
				Flags: map[string]bool{"with_kof": true, "b": false}, Nodes: []string{s}, Migrated: true}},
		} {
			body, err := yaml.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			fastAgrees(t, body)
		}
	}
	// Hand-written bodies in and out of the subset.
	for _, body := range []string{
		"kind: transition\nseq: 1\n", "seq: 01\n", "seq: 0x1\n", "seq: -1\n", "seq: 1.0\n", "attempt: 99999999999999999999\n",
		"time: 2026-11-25T10:00:00+02:00\n", "time: 2026-11-25\n", "time: '2026-11-25T10:00:00Z'\n",
		"duration: 5\n", "duration: 1h2m\n", "duration: -1s\n", "duration: '1s'\n",
		"outputs:\n", "outputs: {}\n", "outputs:\n    a: ~\n", "outputs:\n    a: 1\n    a: 2\n", "outputs:\n    123: x\n    1e3: y\n",
		"flags:\n    a: yes\n", "flags:\n    a: True\n", "flags:\n    a: true\n", "kind: a\nkind: b\n",
		"failed_nodes:\n    - a\n    - ~\n", "failed_nodes:\n    - a\n    b: c\n", "node: |-\n    x\n",
		"node: x\n  y\n", "# comment\n", "node: x # c\n", "unknown: x\n", "migrated: yes\n", "migrated: true\n",
		"format: 1\nnodes:\n    - a\n    - 'b c'\n", "reason: \"a\\tb\"\n", "reason: 'it''s'\n", "reason: 'it's'\n",
		"from:\n", "to: ~\n", "by:\n    - x\n", "node", "node: x",
	} {
		fastAgrees(t, []byte(body))
	}
}

// FuzzFastDecode: whenever the fast decoder accepts a body, yaml.v3
// decodes it to the same value.
//
//	go test -run '^$' -fuzz '^FuzzFastDecode$' -fuzztime 20s ./state
func FuzzFastDecode(f *testing.F) {
	f.Add([]byte("kind: transition\nseq: 1\ntime: 2026-11-25T10:00:01Z\nnode: a\nfrom: pending\nto: running\nattempt: 1\nduration: 1s\noutputs:\n    k: v\n"))
	f.Add([]byte("kind: header\nformat: 1\nrun_id: 20261125-100000-0001\ncreated: 2026-11-25T10:00:00Z\nflags:\n    with_kof: true\nnodes:\n    - a\n    - 'b c'\nmigrated: true\n"))
	f.Add([]byte("kind: teardown\nformat: 1\nrun_id: 20261125-100000-0001\ncreated: 2026-11-25T10:00:00Z\nnodes:\n    - a\n    - b\ndeps:\n    b:\n        - a\n"))
	f.Add([]byte("kind: outcome\nseq: 3\ntime: 2026-11-25T10:00:03Z\noutcome: failed\nreason: \"x\"\nfailed_nodes:\n    - k0s\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		fastAgrees(t, body)
	})
}
