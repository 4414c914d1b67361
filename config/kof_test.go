package config

import (
	"strings"
	"testing"
)

func TestKOFChartLayout(t *testing.T) {
	for _, tt := range []struct {
		version, want string
	}{
		{"1.0.0", KOFLayoutSplit}, {"1.1.0", KOFLayoutSplit}, {"1.4.2", KOFLayoutSplit},
		{"1.5.0", KOFLayoutUmbrella}, {"v1.5.1", KOFLayoutUmbrella},
		{"1.6.0", ""}, {"2.0.0", ""}, {"0.9.0", ""}, {"latest", ""},
	} {
		got, err := KOFChartLayout(tt.version)
		if got != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("KOFChartLayout(%s) = %q, %v; want %q", tt.version, got, err, tt.want)
		}
	}
	// An unknown version is refused by validation, naming the known ones.
	cfg, err := Parse([]byte("azure:\n  location: westus2\nkof:\n  enabled: true\n  version: 1.6.0\n  regional: {enabled: false}\n"), "k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Validate(RunFlags{})
	want := "kof.version: KOF 1.6.0 is not a version k0rdent knows the charts of (known: 1.0 to 1.4: kof-istio, kof-operators, kof-mothership; 1.5: k0rdent-istio and the kof umbrella chart) (set kof.version to one of them)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Validate = %v, want %q", err, want)
	}
}
