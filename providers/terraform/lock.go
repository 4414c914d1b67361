package terraform

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// AzurermSource is the embedded module's provider, as the lock file names
// it.
const AzurermSource = "registry.terraform.io/hashicorp/azurerm"

// AzurermConstraint is the embedded module's version constraint on
// azurerm (azure/main.tf; TestAzureModule_AzurermConstraint keeps them
// equal): 4.1 brought the ed25519 admin_ssh_key the module uses, and 4.60
// lets the provider's subscription_id be unset (null) when the variable is
// empty; 5.0 may break the module.
const AzurermConstraint = ">= 4.60, < 5.0"

// LockFile is the dependency lock file terraform init writes in the
// working directory. It is never part of a module (WriteModule skips
// .terraform*) and nothing removes it, so it stays in the state's
// Terraform directory from the first init on: later inits of the same
// deployment select the same provider versions and check the same hashes,
// and `terraform init -upgrade`, by hand, is the one way to move on.
const LockFile = ".terraform.lock.hcl"

// LockedProvider is one provider block of the lock file.
type LockedProvider struct {
	// Version is the selected version, e.g. 4.81.0.
	Version string
	// Constraints are the module's constraints when it was selected.
	Constraints string
}

type lockFile struct {
	Providers []struct {
		Source      string   `hcl:"source,label"`
		Version     string   `hcl:"version"`
		Constraints string   `hcl:"constraints,optional"`
		Hashes      []string `hcl:"hashes,optional"`
	} `hcl:"provider,block"`
	Remain hcl.Body `hcl:",remain"`
}

// LockedProviders reads the lock file of the working directory dir: the
// selected version of each provider by source address. No lock file (no
// init yet) is an empty map and no error.
func LockedProviders(dir string) (map[string]LockedProvider, error) {
	path := filepath.Join(dir, LockFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]LockedProvider{}, nil
	}
	if err != nil {
		return nil, err
	}
	f, diags := hclparse.NewParser().ParseHCL(data, path)
	if diags.HasErrors() {
		return nil, fmt.Errorf("read %s: %s", path, diags.Error())
	}
	var lf lockFile
	if diags := gohcl.DecodeBody(f.Body, nil, &lf); diags.HasErrors() {
		return nil, fmt.Errorf("read %s: %s", path, diags.Error())
	}
	m := map[string]LockedProvider{}
	for _, p := range lf.Providers {
		m[p.Source] = LockedProvider{Version: p.Version, Constraints: p.Constraints}
	}
	return m, nil
}
