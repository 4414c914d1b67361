package phases

import (
	"os"
	"path/filepath"
	"testing"
)

// The plan names the azurerm version: the locked one once terraform init
// has written the lock file.
func TestAzurermPlanLine(t *testing.T) {
	dir := t.TempDir()
	if got, want := azurermPlanLine(dir), "azurerm provider: the newest release matching >= 4.60, < 5.0 at the first terraform init, then locked in "+filepath.Join(dir, ".terraform.lock.hcl"); got != want {
		t.Errorf("before init: %q, want %q", got, want)
	}
	lock := "provider \"registry.terraform.io/hashicorp/azurerm\" {\n  version     = \"4.81.0\"\n  constraints = \">= 4.60.0, < 5.0.0\"\n  hashes = []\n}\n"
	if err := os.WriteFile(filepath.Join(dir, ".terraform.lock.hcl"), []byte(lock), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := azurermPlanLine(dir), "azurerm provider 4.81.0, locked in "+filepath.Join(dir, ".terraform.lock.hcl")+" (terraform init -upgrade there moves on)"; got != want {
		t.Errorf("after init: %q, want %q", got, want)
	}
}
