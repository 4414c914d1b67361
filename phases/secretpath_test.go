package phases

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TestSecretPath: a path recorded under another process's copy of the
// secrets (gone) is found under this process's secrets directory; a path
// that exists, or has no counterpart, stays as recorded.
func TestSecretPath(t *testing.T) {
	current := t.TempDir()
	doc := filepath.Join(current, "wireguard", "cloud-init", "vm-1.yaml")
	if err := os.MkdirAll(filepath.Dir(doc), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(doc, []byte("#cloud-config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "exists.yaml")
	if err := os.WriteFile(elsewhere, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := &workflow.Env{SecretsDir: current}
	gone := "/tmp/k0rdent-secrets-1235-1553970489/wireguard/cloud-init/vm-1.yaml"
	for _, tt := range []struct{ recorded, want string }{
		{gone, doc},
		{elsewhere, elsewhere},
		{"/tmp/k0rdent-secrets-1235-1553970489/wireguard/cloud-init/vm-2.yaml", "/tmp/k0rdent-secrets-1235-1553970489/wireguard/cloud-init/vm-2.yaml"},
		{"", ""},
	} {
		if got := secretPath(env, tt.recorded); got != tt.want {
			t.Errorf("secretPath(%q) = %q, want %q", tt.recorded, got, tt.want)
		}
	}
	if got := secretPath(&workflow.Env{}, gone); got != gone {
		t.Errorf("without a secrets directory: %q, want the path as recorded", got)
	}
}
