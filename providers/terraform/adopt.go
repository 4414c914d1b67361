package terraform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
)

// Adoption of resources that exist but are in no Terraform state: those
// the legacy bash tool created with az. The legacy migration
// (state.Migrate) writes AdoptionFile into the working directory; the
// terraform phase, finding it and no state, writes ImportsFile (one
// Terraform import block per recorded resource, terraform >= 1.5
// config-driven import) from the module's ImportTemplatesFile, plans, and
// applies only a plan that imports and adds or destroys nothing.

// AdoptionFile holds the legacy resources to adopt, in the working
// directory; after a successful import it is renamed to AdoptionFile +
// ".imported".
const AdoptionFile = "k0rdent-adopt.json"

// ImportsFile holds the generated import blocks, in the working directory,
// only while an adoption is planned and applied.
const ImportsFile = "k0rdent-imports.tf"

// ImportTemplatesFile is the module's declaration of what it can adopt:
// JSON {"imports": [{"to": address, "id": resource id, "each_vm": bool}]},
// where to and id may use {subscription}, {cluster_id},
// {resource_group}, and for each_vm entries {vm} (the config's name: the
// address key), {vm_name} (its name in Azure), {nic}, {public_ip} and
// {ip_configuration} (the VM's legacy resource names). A module without it
// cannot adopt.
const ImportTemplatesFile = "k0rdent-imports.json"

// Adoption is AdoptionFile: what the legacy state records as existing.
type Adoption struct {
	Source        string                `json:"source,omitempty"`
	ClusterID     string                `json:"cluster_id"`
	Location      string                `json:"location,omitempty"`
	ResourceGroup string                `json:"resource_group,omitempty"`
	VMs           map[string]AdoptionVM `json:"vms"`
}

// AdoptionVM is one VM the legacy state records, with the names of the
// resources az created beside it.
type AdoptionVM struct {
	// Name is the VM's name in Azure when it is not the config's.
	Name            string `json:"name,omitempty"`
	Role            string `json:"role,omitempty"`
	PublicIP        string `json:"public_ip,omitempty"`
	PrivateIP       string `json:"private_ip,omitempty"`
	NIC             string `json:"nic"`
	PublicIPName    string `json:"public_ip_name"`
	IPConfiguration string `json:"ip_configuration"`
}

// ReadAdoption reads AdoptionFile in dir; nil when there is none.
func ReadAdoption(dir string) (*Adoption, error) { return readAdoption(dir, AdoptionFile) }

// ReadAdopted reads the adoption done earlier (AdoptionFile renamed by
// AdoptionDone); nil when there is none. Every later run keeps the
// adopted VMs' names and custom data from it.
func ReadAdopted(dir string) (*Adoption, error) { return readAdoption(dir, AdoptionFile+".imported") }

func readAdoption(dir, name string) (*Adoption, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read legacy resources to adopt: %w", err)
	}
	var a Adoption
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("legacy resources to adopt %s: %w (written by the migration; migrate again from state/legacy/, or move it aside to create new resources)", filepath.Join(dir, name), err)
	}
	return &a, nil
}

// AdoptionDone marks the adoption finished: AdoptionFile is renamed, so
// that later runs plan as usual, and ImportsFile is removed.
func AdoptionDone(dir string) error {
	if err := os.Rename(filepath.Join(dir, AdoptionFile), filepath.Join(dir, AdoptionFile+".imported")); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return fmt.Errorf("mark the adoption done: %w", err)
	}
	return RemoveImports(dir)
}

// HasState reports whether dir holds a Terraform state with resources.
func HasState(dir string) (bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, "terraform.tfstate"))
	if errors.Is(err, iofs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read terraform state: %w", err)
	}
	var st struct {
		Resources []json.RawMessage `json:"resources"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return false, fmt.Errorf("terraform state %s: %w", filepath.Join(dir, "terraform.tfstate"), err)
	}
	return len(st.Resources) > 0, nil
}

// Import is one import block.
type Import struct {
	To string `json:"to"`
	ID string `json:"id"`
}

type importTemplate struct {
	To     string `json:"to"`
	ID     string `json:"id"`
	EachVM bool   `json:"each_vm,omitempty"`
}

// Imports expands module's ImportTemplatesFile for a: one import per
// recorded resource, VMs in name order. vms limits the VMs to those the
// config has (a recorded VM the config lacks is the caller's mismatch).
func Imports(module iofs.FS, a *Adoption, subscription string) ([]Import, error) {
	data, err := iofs.ReadFile(module, ImportTemplatesFile)
	if err != nil {
		return nil, fmt.Errorf("the terraform module cannot adopt existing resources (it has no %s): %w", ImportTemplatesFile, err)
	}
	var tpl struct {
		Imports []importTemplate `json:"imports"`
	}
	if err := json.Unmarshal(data, &tpl); err != nil {
		return nil, fmt.Errorf("module %s: %w", ImportTemplatesFile, err)
	}
	rg := a.ResourceGroup
	if rg == "" {
		rg = a.ClusterID + "-resgrp"
	}
	base := []string{"{subscription}", subscription, "{cluster_id}", a.ClusterID, "{resource_group}", rg}
	var out []Import
	vms := slices.Sorted(mapKeys(a.VMs))
	for _, t := range tpl.Imports {
		if !t.EachVM {
			r := strings.NewReplacer(base...)
			out = append(out, Import{To: r.Replace(t.To), ID: r.Replace(t.ID)})
			continue
		}
		for _, name := range vms {
			vm := a.VMs[name]
			azName := vm.Name
			if azName == "" {
				azName = name
			}
			r := strings.NewReplacer(append(slices.Clone(base), "{vm_name}", azName, "{vm}", name, "{nic}", vm.NIC, "{public_ip}", vm.PublicIPName, "{ip_configuration}", vm.IPConfiguration)...)
			out = append(out, Import{To: r.Replace(t.To), ID: r.Replace(t.ID)})
		}
	}
	for _, im := range out {
		if strings.Contains(im.ID, "/subscriptions//") {
			return nil, fmt.Errorf("importing %s needs the Azure subscription id: set azure.subscription_id (or ARM_SUBSCRIPTION_ID)", im.To)
		}
	}
	return out, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// WriteImports writes the import blocks into dir/ImportsFile.
func WriteImports(dir string, imports []Import) error {
	var b strings.Builder
	b.WriteString("# Generated by k0rdent: adopt the resources the legacy bash tool created.\n# Removed once they are imported.\n")
	for _, im := range imports {
		fmt.Fprintf(&b, "\nimport {\n  to = %s\n  id = %q\n}\n", im.To, im.ID)
	}
	p := filepath.Join(dir, ImportsFile)
	if err := os.WriteFile(p+".tmp", []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write terraform imports: %w", err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		return fmt.Errorf("write terraform imports: %w", err)
	}
	return nil
}

// RemoveImports removes dir/ImportsFile.
func RemoveImports(dir string) error {
	if err := os.Remove(filepath.Join(dir, ImportsFile)); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return fmt.Errorf("remove terraform imports: %w", err)
	}
	return nil
}

// PlanSummary counts a plan's resource changes, as terraform prints them
// ("N to import, N to add, N to change, N to destroy"), and names the
// resources of each kind.
type PlanSummary struct {
	Import, Add, Change, Destroy []string
	// Changed names, for each updated resource, the top-level attributes
	// an update changes, tags left out.
	Changed map[string][]string
}

func (s PlanSummary) String() string {
	return fmt.Sprintf("%d to import, %d to add, %d to change, %d to destroy", len(s.Import), len(s.Add), len(s.Change), len(s.Destroy))
}

// SummarizePlan counts the resource changes of plan. A replacement counts
// as an add and a destroy.
func SummarizePlan(plan *tfjson.Plan) PlanSummary {
	var s PlanSummary
	for _, rc := range plan.ResourceChanges {
		if rc == nil || rc.Change == nil {
			continue
		}
		a := rc.Change.Actions
		if rc.Change.Importing != nil {
			s.Import = append(s.Import, rc.Address)
		}
		switch {
		case a.Replace():
			s.Add = append(s.Add, rc.Address)
			s.Destroy = append(s.Destroy, rc.Address)
		case a.Create():
			s.Add = append(s.Add, rc.Address)
		case a.Delete():
			s.Destroy = append(s.Destroy, rc.Address)
		case a.Update():
			s.Change = append(s.Change, rc.Address)
			if attrs := changedAttrs(rc.Change.Before, rc.Change.After); len(attrs) > 0 {
				if s.Changed == nil {
					s.Changed = map[string][]string{}
				}
				s.Changed[rc.Address] = attrs
			}
		}
	}
	for _, l := range [][]string{s.Import, s.Add, s.Change, s.Destroy} {
		sort.Strings(l)
	}
	return s
}

// PlanFile runs terraform plan into planFile (0600) and summarizes it.
func (e *Exec) PlanFile(ctx context.Context, planFile string) (PlanSummary, error) {
	if _, err := e.loud.Plan(ctx, tfexec.Out(planFile)); err != nil {
		return PlanSummary{}, fmt.Errorf("terraform plan in %s: %w", e.dir, err)
	}
	os.Chmod(planFile, 0o600)
	plan, err := e.quiet.ShowPlanFile(ctx, planFile)
	if err != nil {
		return PlanSummary{}, fmt.Errorf("terraform show %s: %w", planFile, err)
	}
	return SummarizePlan(plan), nil
}

// ApplyPlanFile applies a saved plan and makes the state files 0600.
func (e *Exec) ApplyPlanFile(ctx context.Context, planFile string) error {
	err := e.loud.Apply(ctx, tfexec.DirOrPlan(planFile))
	if perr := PrivateState(e.dir); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("terraform apply %s in %s: %w", planFile, e.dir, err)
	}
	return nil
}

// changedAttrs lists the top-level attributes that differ between before
// and after, except tags (the legacy tool tagged only the resource group)
// and values unknown until apply.
func changedAttrs(before, after any) []string {
	b, _ := before.(map[string]any)
	a, _ := after.(map[string]any)
	var out []string
	for k, av := range a {
		if k == "tags" || k == "tags_all" {
			continue
		}
		bj, _ := json.Marshal(b[k])
		aj, _ := json.Marshal(av)
		if string(bj) != string(aj) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
