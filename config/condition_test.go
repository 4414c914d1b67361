package config

import "testing"

func TestCommandPhase_Enabled(t *testing.T) {
	none, kof, both := Flags{}, Flags{WithKOF: true}, Flags{WithKOF: true, WithAzureChildren: true}
	tests := []struct {
		when       string
		on         Flags
		want       bool
		wantReason string
	}{
		{"", none, true, ""},
		{"always", none, true, ""},
		{"never", both, false, "when: never"},
		{"with_kof", none, false, "when: with_kof, and with_kof is off"},
		{"with_kof", kof, true, ""},
		{"!with_kof", kof, false, "when: !with_kof, and with_kof is on"},
		{"!with_kof", none, true, ""},
		{" ! with_azure_children ", kof, true, ""},
		{"with_azure_children", both, true, ""},
		{"with_kof && x", both, false, `"with_kof && x" is not a condition (write always, never, with_kof, with_azure_children, or one of them negated with !)`},
	}
	for _, tt := range tests {
		t.Run(tt.when, func(t *testing.T) {
			got, reason := CommandPhase{When: tt.when}.Enabled(tt.on)
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("Enabled(%+v): got %v %q, want %v %q", tt.on, got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestParseCondition_RoundTrip(t *testing.T) {
	for _, s := range []string{"always", "never", "with_kof", "!with_kof", "with_azure_children", "!with_azure_children"} {
		c, err := ParseCondition(s)
		if err != nil {
			t.Fatalf("ParseCondition(%q): %v", s, err)
		}
		if c.String() != s {
			t.Errorf("ParseCondition(%q).String(): got %q", s, c.String())
		}
	}
}
