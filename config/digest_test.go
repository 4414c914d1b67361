package config

import (
	"slices"
	"strings"
	"testing"
)

func TestConfig_DigestIsStable(t *testing.T) {
	a := mustParse(t, "azure:\n  location: westus2\n")
	same := []struct{ name, src string }{
		{"CommentsAndBlankLines", "# a comment\n\nazure:\n  # where\n  location: westus2   # region\n"},
		{"ExplicitDefaults", "version: 1\nazure:\n  location: westus2\n  vm_priority: Regular\ncluster:\n  workers:\n    count: 1\n    zones: [1]\ntimeouts:\n  vm_creation: 600s\n"},
		{"PriorityCase", "azure:\n  vm_priority: regular\n  location: westus2\n"},
		{"FlowStyle", "{azure: {location: westus2}}"},
	}
	for _, tt := range same {
		t.Run(tt.name, func(t *testing.T) {
			b := mustParse(t, tt.src)
			if a.Digest() != b.Digest() {
				t.Errorf("digest changed: got %s, want %s; changed keys %v", b.Digest(), a.Digest(), DiffKeys(a, b))
			}
			if d := DiffKeys(a, b); len(d) != 0 {
				t.Errorf("DiffKeys: got %v, want none", d)
			}
		})
	}
	if !strings.HasPrefix(a.Digest(), "sha256:") || len(a.Digest()) != len("sha256:")+64 {
		t.Errorf("digest %q: want sha256: and 64 hex digits", a.Digest())
	}
}

func TestDiffKeys(t *testing.T) {
	base := `azure:
  location: westus2
cluster:
  workers:
    count: 2
    zones: [1, 2]
phases:
  - name: a
    command: [echo, a]
    env: {X: "1"}
`
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"Same", base, nil},
		{
			"ScalarAndDerived",
			strings.Replace(base, "westus2", "eastus", 1),
			// kof.regional.location follows azure.location.
			[]string{"azure.location", "kof.regional.location"},
		},
		{"ListOfValues", strings.Replace(base, "zones: [1, 2]", "zones: [2, 1]", 1), []string{"cluster.workers.zones"}},
		{"CountAndSpotEviction", strings.Replace(base, "count: 2", "count: 3", 1) + "", []string{"cluster.workers.count"}},
		{"PhaseField", strings.Replace(base, "[echo, a]", "[echo, b]", 1), []string{"phases[0].command"}},
		{"MapValue", strings.Replace(base, `X: "1"`, `X: "2"`, 1), []string{"phases[0].env.X"}},
		{"MapKeyAdded", strings.Replace(base, `X: "1"`, `X: "1", Y: "2"`, 1), []string{"phases[0].env.Y"}},
		{"PhaseAdded", base + "  - name: b\n    command: [echo, b]\n", []string{"phases[1]"}},
		{"PhasesRemoved", "azure:\n  location: westus2\ncluster:\n  workers:\n    count: 2\n    zones: [1, 2]\n", []string{"phases[0]"}},
		{
			"Spot",
			strings.Replace(base, "  location: westus2\n", "  location: westus2\n  vm_priority: Spot\n", 1),
			[]string{"azure.eviction_policy", "azure.vm_priority"},
		},
	}
	a := mustParse(t, base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustParse(t, tt.src)
			got := DiffKeys(a, b)
			if !slices.Equal(got, tt.want) {
				t.Errorf("DiffKeys: got %v, want %v", got, tt.want)
			}
			if (a.Digest() == b.Digest()) != (len(tt.want) == 0) {
				t.Errorf("digest equal = %v, want %v", a.Digest() == b.Digest(), len(tt.want) == 0)
			}
			if rev := DiffKeys(b, a); !slices.Equal(rev, tt.want) {
				t.Errorf("DiffKeys reversed: got %v, want %v", rev, tt.want)
			}
		})
	}
}

func TestDuration_String(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"30s", "30s"}, {"600s", "10m"}, {"90m", "1h30m"}, {"2h", "2h"}, {"1m30s", "1m30s"}, {"1500ms", "1.5s"},
	} {
		d, err := parseDuration(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.String(); got != tt.want {
			t.Errorf("Duration(%s).String(): got %q, want %q", tt.in, got, tt.want)
		}
	}
}
