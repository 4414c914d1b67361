package phases

import (
	"maps"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/config"
)

// TestRegistry_ComponentJournalRoundTrip: a registry with one more
// component journals every component's effective value under its journal
// key, and FromJournal gives them back as given (fail_fast and unknown keys
// left out), so that a run's journalled flags reproduce what was on
// whatever the config says now.
func TestRegistry_ComponentJournalRoundTrip(t *testing.T) {
	r := NewRegistry()
	r.RegisterComponent(Component{Name: "foo", Flag: "with-foo", JournalKey: "with_foo"})
	cfg := &config.Config{}
	cfg.KOF.Enabled = true

	got := r.Journal(RunFlags{"with_foo": true, config.FlagWithAzureChildren: false}, cfg)
	want := map[string]bool{config.FlagWithKOF: true, config.FlagWithAzureChildren: false, "with_foo": true}
	if !maps.Equal(got, want) {
		t.Errorf("Journal = %v, want %v", got, want)
	}
	got["fail_fast"] = true
	got["with_gone"] = true
	back := r.FromJournal(got)
	if !maps.Equal(back, RunFlags(want)) {
		t.Errorf("FromJournal = %v, want %v", back, want)
	}
	if d := r.Components()[2].Decide(&config.Config{}, back); !d.On || d.Reason != "--with-foo given" {
		t.Errorf("foo from the journal: %+v, want on, given", d)
	}
	if d := KOFComponent.Decide(&config.Config{}, RunFlags{}); d.On || d.Reason != "--with-kof not set and kof.enabled is false" {
		t.Errorf("kof, nothing given: %+v", d)
	}
	if names := len(NewRegistry().Components()); names != 2 {
		t.Errorf("a new registry has %d components, want the 2 built-in ones", names)
	}
}
