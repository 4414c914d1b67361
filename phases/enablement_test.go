package phases

import (
	"fmt"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// enablementCases are every combination of a run flag (not given, given
// true, given false) and the config's enabled key, with what the optional
// phase must decide: a given flag wins in both directions, a flag not given
// leaves it to the key, and the skip reason says which decided.
func enablementCases(flag, key string) []struct {
	given  *bool
	conf   bool
	on     bool
	reason string
} {
	return []struct {
		given  *bool
		conf   bool
		on     bool
		reason string
	}{
		{nil, false, false, flag + " not set and " + key + " is false"},
		{nil, true, true, ""},
		{config.Bool(true), false, true, ""},
		{config.Bool(true), true, true, ""},
		{config.Bool(false), false, false, flag + "=false given (" + key + " is false too)"},
		{config.Bool(false), true, false, flag + "=false given (" + key + " is true in k0rdent.yaml)"},
	}
}

func givenName(b *bool) string {
	if b == nil {
		return "unset"
	}
	return fmt.Sprint(*b)
}

// TestKOF_EnabledFlagTakesPrecedence: the kof node's decision for --with-kof
// unset/true/false × kof.enabled true/false.
func TestKOF_EnabledFlagTakesPrecedence(t *testing.T) {
	for _, tt := range enablementCases("--with-kof", "kof.enabled") {
		t.Run(fmt.Sprintf("flag=%s/config=%t", givenName(tt.given), tt.conf), func(t *testing.T) {
			cfg := testConfig(t, fmt.Sprintf("kof:\n  enabled: %t\n  regional:\n    enabled: false\n", tt.conf))
			nodes, err := kofPlugin().Factory(BuildContext{Config: cfg, Flags: RunFlags{}.With(config.FlagWithKOF, tt.given)})
			if err != nil || len(nodes) != 1 {
				t.Fatalf("Factory = %v, %v", nodes, err)
			}
			on, why := nodes[0].(workflow.Enabler).Enabled()
			if on != tt.on || why != tt.reason {
				t.Errorf("Enabled = (%v, %q), want (%v, %q)", on, why, tt.on, tt.reason)
			}
		})
	}
}

// TestAzureChildren_EnabledFlagTakesPrecedence: every azure-children node's
// decision for --with-azure-children unset/true/false ×
// azure_children.enabled true/false.
func TestAzureChildren_EnabledFlagTakesPrecedence(t *testing.T) {
	for _, tt := range enablementCases("--with-azure-children", "azure_children.enabled") {
		t.Run(fmt.Sprintf("flag=%s/config=%t", givenName(tt.given), tt.conf), func(t *testing.T) {
			cfg := testConfig(t, fmt.Sprintf("azure_children:\n  enabled: %t\n  clusters:\n    - name: a\n", tt.conf))
			nodes, err := azureChildrenPlugin().Factory(BuildContext{Config: cfg, Flags: RunFlags{}.With(config.FlagWithAzureChildren, tt.given)})
			if err != nil || len(nodes) != 2 {
				t.Fatalf("Factory = %v, %v", nodes, err)
			}
			for _, n := range nodes {
				on, why := n.(workflow.Enabler).Enabled()
				if on != tt.on || why != tt.reason {
					t.Errorf("%s Enabled = (%v, %q), want (%v, %q)", n.Name(), on, why, tt.on, tt.reason)
				}
			}
		})
	}
}

// TestRegistry_Build_WhenFlagTakesPrecedence: command phases' when
// conditions see the same decision through Build, for both flags and
// negated.
func TestRegistry_Build_WhenFlagTakesPrecedence(t *testing.T) {
	for _, comp := range []struct {
		cond, section, flag, key string
		set                      func(*RunFlags, *bool)
	}{
		{"with_kof", "kof", "--with-kof", "kof.enabled", func(f *RunFlags, v *bool) { *f = f.With(config.FlagWithKOF, v) }},
		{"with_azure_children", "azure_children", "--with-azure-children", "azure_children.enabled", func(f *RunFlags, v *bool) { *f = f.With(config.FlagWithAzureChildren, v) }},
	} {
		for _, tt := range enablementCases(comp.flag, comp.key) {
			t.Run(fmt.Sprintf("%s/flag=%s/config=%t", comp.cond, givenName(tt.given), tt.conf), func(t *testing.T) {
				section := fmt.Sprintf("%s:\n  enabled: %t\n", comp.section, tt.conf)
				cfg := testConfig(t, section+"phases:\n  - name: pos\n    command: [\"true\"]\n    when: "+comp.cond+
					"\n  - name: neg\n    command: [\"true\"]\n    when: \"!"+comp.cond+"\"\n")
				var flags RunFlags
				comp.set(&flags, tt.given)
				nodes, err := NewRegistry().Build(cfg, flags, Dirs{})
				if err != nil || len(nodes) != 2 {
					t.Fatalf("Build = %v, %v", names(nodes), err)
				}
				on, why := nodes[0].(workflow.Enabler).Enabled()
				want := ""
				if tt.reason != "" {
					want = "when " + comp.cond + ": " + tt.reason
				}
				if on != tt.on || why != want {
					t.Errorf("when %s: Enabled = (%v, %q), want (%v, %q)", comp.cond, on, why, tt.on, want)
				}
				if on, why := nodes[1].(workflow.Enabler).Enabled(); on == tt.on || (on && why != "") || (!on && why == "") {
					t.Errorf("when !%s: Enabled = (%v, %q), want (%v, a reason when off)", comp.cond, on, why, !tt.on)
				}
			})
		}
	}
}
