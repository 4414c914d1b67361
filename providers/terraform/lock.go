package terraform

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
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

// lockSchema and providerSchema are the lock file's shape: provider
// blocks, labelled with the source address, of version, constraints and
// hashes; anything else at the top is left alone. They are read with hcl's
// schema API and not gohcl's struct tags: gohcl links hclwrite and with it
// go-cmp, whose package initialisation every process of the binary paid
// (about 2 ms: README "Performance").
var (
	lockSchema     = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "provider", LabelNames: []string{"source"}}}}
	providerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "version", Required: true}, {Name: "constraints"}, {Name: "hashes"},
	}}
)

// lockString is a provider block's string attribute name ("" if absent).
func lockString(attrs hcl.Attributes, name string) (string, hcl.Diagnostics) {
	a, ok := attrs[name]
	if !ok {
		return "", nil
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return "", diags
	}
	if v.IsNull() || !v.IsKnown() || !v.Type().Equals(cty.String) {
		return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
			Detail: fmt.Sprintf("%s: want a string", name), Subject: a.Expr.Range().Ptr()}}
	}
	return v.AsString(), nil
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
	content, _, diags := f.Body.PartialContent(lockSchema)
	if diags.HasErrors() {
		return nil, fmt.Errorf("read %s: %s", path, diags.Error())
	}
	m := map[string]LockedProvider{}
	for _, b := range content.Blocks {
		pc, diags := b.Body.Content(providerSchema)
		var p LockedProvider
		if !diags.HasErrors() {
			p.Version, diags = lockString(pc.Attributes, "version")
		}
		if !diags.HasErrors() {
			p.Constraints, diags = lockString(pc.Attributes, "constraints")
		}
		if diags.HasErrors() {
			return nil, fmt.Errorf("read %s: %s", path, diags.Error())
		}
		m[b.Labels[0]] = p
	}
	return m, nil
}
