package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadState(t *testing.T) {
	tests := []struct {
		name, yaml string
		wantURL    string
		wantErr    []string // substrings of the error, each with file:line
	}{
		{name: "NoSection", yaml: "azure:\n  location: westus2\n"},
		{name: "Local", yaml: "state:\n  backend: local\n"},
		{name: "AzureBlob", yaml: "state:\n  backend: azureblob\n  account: mystorage\n  container: k0rdent\n  prefix: team/prod\n",
			wantURL: "azblob://mystorage/k0rdent/team/prod"},
		{name: "BadNames", yaml: "state:\n  backend: azureblob\n  account: My_Storage\n  container: K\n  prefix: ../x\n",
			wantErr: []string{"k0rdent.yaml:3: state.account", "k0rdent.yaml:4: state.container", "k0rdent.yaml:5: state.prefix"}},
		{name: "UnknownBackend", yaml: "state:\n  backend: s3\n", wantErr: []string{"k0rdent.yaml:2: state.backend: \"s3\" is not a state backend"}},
		{name: "UnknownKey", yaml: "state:\n  backend: azureblob\n  acount: x\n  account: abc\n  container: abc\n",
			wantErr: []string{"k0rdent.yaml:3: state.acount: unknown key"}},
		{name: "AccountOnLocal", yaml: "state:\n  account: abc\n", wantErr: []string{"state.account: is only for backend azureblob"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k0rdent.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			st, err := LoadState(path)
			if len(tt.wantErr) == 0 {
				if err != nil || st.URL() != tt.wantURL {
					t.Fatalf("LoadState = %q, %v; want %q", st.URL(), err, tt.wantURL)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("LoadState error = %v, want a *config.Error", err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
