package cli

import "testing"

// TestBuildInfo_String: the tool_version of run headers says what the
// version does not already say of the revision, the dirty flag and the
// build time.
func TestBuildInfo_String(t *testing.T) {
	const rev = "865f4c5a286de55d87a996936aa0ffa15a92c682"
	tests := []struct {
		name string
		bi   BuildInfo
		want string
	}{
		{"Bare", BuildInfo{Version: "dev"}, "dev"},
		{"MakeBuild", BuildInfo{Version: "865f4c5", Revision: rev, BuildTime: "2026-12-03T15:09:59Z"}, "865f4c5 (rev 865f4c5a286d, built 2026-12-03T15:09:59Z)"},
		{"MakeBuildDirty", BuildInfo{Version: "865f4c5-dirty", Revision: rev, Dirty: true}, "865f4c5-dirty (rev 865f4c5a286d)"},
		{"PseudoVersion", BuildInfo{Version: "v0.0.0-20261203150810-865f4c5a286d+dirty", Revision: rev, Dirty: true}, "v0.0.0-20261203150810-865f4c5a286d+dirty"},
		{"Tag", BuildInfo{Version: "v1.2.0", Revision: rev, Dirty: true}, "v1.2.0 (rev 865f4c5a286d, dirty)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.bi.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if bi := readBuildInfo("k0rdent", "", rev, true, "now"); bi.Version != "dev" || bi.Revision != rev || !bi.Dirty || bi.BuildTime != "now" {
		t.Errorf("a test binary with stamped revision: %+v", bi)
	}
}
