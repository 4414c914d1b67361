package wireguard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAddressPlan_Keep(t *testing.T) {
	hosts := []Host{{"k0s-controller-1", RoleController}, {"k0s-worker-1", RoleWorker}, {"k0s-worker-2", RoleWorker}}
	legacy := &Settings{Hub: "mylaptop", Addresses: map[string]string{
		"mylaptop": "192.168.100.1", "k0s-controller-1": "192.168.100.11", "k0s-worker-1": "192.168.100.12"}}
	tests := []struct {
		name    string
		st      *Settings
		want    string // hub=addr, then host=addr...
		wantErr string
	}{
		{"NoSettings", nil, "operator=192.168.100.1 k0s-controller-1=192.168.100.2 k0s-worker-1=192.168.100.3 k0s-worker-2=192.168.100.4", ""},
		{"LegacyKeptNewHostTakesLowestFree", legacy, "mylaptop=192.168.100.1 k0s-controller-1=192.168.100.11 k0s-worker-1=192.168.100.12 k0s-worker-2=192.168.100.2", ""},
		{"OutsideNetwork", &Settings{Addresses: map[string]string{"k0s-worker-1": "10.0.0.1"}}, "", "not a host address"},
		{"Duplicate", &Settings{Addresses: map[string]string{"k0s-worker-1": "192.168.100.9", "k0s-worker-2": "192.168.100.9"}}, "", "both have address"},
		{"HubNameTaken", &Settings{Hub: "k0s-worker-1"}, "", "the hub's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Plan("192.168.100.0/24", hosts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Keep(tt.st)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, pe := range got.Peers() {
				parts = append(parts, pe.Name+"="+pe.Address.String())
			}
			if s := strings.Join(parts, " "); s != tt.want {
				t.Errorf("got  %s\nwant %s", s, tt.want)
			}
		})
	}
}

func TestKeyStore_Settings(t *testing.T) {
	s := NewKeyStore(t.TempDir())
	if st, err := s.Settings(); st != nil || err != nil {
		t.Fatalf("no file: %v, %v", st, err)
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, SettingsFileName), []byte(`{"hub":"mylaptop","interface":"wgk0abc","addresses":{"mylaptop":"192.168.100.1"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := s.Settings()
	if err != nil || st.Hub != "mylaptop" || st.Interface != "wgk0abc" || st.Addresses["mylaptop"] != "192.168.100.1" {
		t.Fatalf("got %+v, %v", st, err)
	}
	os.WriteFile(s.SettingsPath(), []byte("{"), 0o600)
	if _, err := s.Settings(); err == nil || !strings.Contains(err.Error(), s.SettingsPath()) {
		t.Errorf("a damaged file: %v, want an error naming it", err)
	}
}
