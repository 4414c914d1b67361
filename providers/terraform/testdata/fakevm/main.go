// Command terraform-provider-fakevm is a Terraform provider for tests: its
// fakevm_vm resource stands in for an Azure VM with the same inputs and the
// outputs the k0rdent module contract needs. Addresses are deterministic:
// public_ip is 198.51.100.<10+index> and private_ip 10.0.1.<4+index>, so a
// network-namespace testbed can give its "VMs" the same addresses.
//
// When FAKEVM_DIR is set in the provider's environment, every VM is also a
// file <FAKEVM_DIR>/<name>.json: Create writes it, Delete removes it, and
// Read reports the VM gone when the file is missing and otherwise refreshes
// every attribute but custom_data from it (as Azure does not return custom
// data). Deleting the file is how a test deletes a VM "in the cloud", behind
// Terraform's back; writing one is how it creates a VM Terraform does not
// know, which `terraform import` (id fakevm-<name>) then adopts.
//
// It lives in its own Go module so that the main module does not depend on
// terraform-plugin-framework.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Address is the provider's registry address; the filesystem mirror serves
// it from local.test/k0rdent/fakevm/<version>/<os>_<arch>/.
const Address = "local.test/k0rdent/fakevm"

func main() {
	if err := providerserver.Serve(context.Background(), func() provider.Provider { return &fakeProvider{} },
		providerserver.ServeOpts{Address: Address}); err != nil {
		log.Fatal(err)
	}
}

type fakeProvider struct{}

func (p *fakeProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "fakevm"
	resp.Version = "0.1.0"
}

func (p *fakeProvider) Schema(context.Context, provider.SchemaRequest, *provider.SchemaResponse) {}

func (p *fakeProvider) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {
}

func (p *fakeProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{func() resource.Resource { return &vmResource{dir: os.Getenv("FAKEVM_DIR")} }}
}

func (p *fakeProvider) DataSources(context.Context) []func() datasource.DataSource { return nil }

var _ resource.ResourceWithImportState = (*vmResource)(nil)

type vmResource struct {
	dir string // FAKEVM_DIR; empty: VMs exist only in the state
}

type vmModel struct {
	ID           types.String `tfsdk:"id"`
	Name         types.String `tfsdk:"name"`
	Index        types.Int64  `tfsdk:"index"`
	Role         types.String `tfsdk:"role"`
	Zone         types.String `tfsdk:"zone"`
	Size         types.String `tfsdk:"size"`
	WireGuardIP  types.String `tfsdk:"wireguard_ip"`
	CustomData   types.String `tfsdk:"custom_data"`
	SSHPublicKey types.String `tfsdk:"ssh_public_key"`
	PublicIP     types.String `tfsdk:"public_ip"`
	PrivateIP    types.String `tfsdk:"private_ip"`
}

func (r *vmResource) Metadata(_ context.Context, _ resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = "fakevm_vm"
}

func (r *vmResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	input := func(desc string, sensitive bool) schema.StringAttribute {
		return schema.StringAttribute{Description: desc, Required: true, Sensitive: sensitive, PlanModifiers: replace}
	}
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Description: desc, Computed: true, PlanModifiers: keep}
	}
	resp.Schema = schema.Schema{
		Description: "A fake VM: no machine, deterministic addresses.",
		Attributes: map[string]schema.Attribute{
			"id":   computed("fakevm-<name>"),
			"name": input("VM name", false),
			"index": schema.Int64Attribute{Description: "position in host order, from 0; picks the addresses",
				Required: true, PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()}},
			"role":         input("controller or worker", false),
			"zone":         input("availability zone", false),
			"size":         input("VM size", false),
			"wireguard_ip": input("the VM's WireGuard address", false),
			"custom_data": schema.StringAttribute{Description: "cloud-init document (holds the VM's WireGuard private key); null for an adopted VM",
				Optional: true, Sensitive: true, PlanModifiers: replace},
			"ssh_public_key": input("admin SSH public key", false),
			"public_ip":      computed("198.51.100.<10+index>"),
			"private_ip":     computed("10.0.1.<4+index>"),
		},
	}
}

func (r *vmResource) path(name string) string { return filepath.Join(r.dir, name+".json") }

func (r *vmResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m vmModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	i := m.Index.ValueInt64()
	if i < 0 || i > 200 {
		resp.Diagnostics.AddError("index out of range", fmt.Sprintf("index %d: want 0-200", i))
		return
	}
	m.ID = types.StringValue("fakevm-" + m.Name.ValueString())
	m.PublicIP = types.StringValue(fmt.Sprintf("198.51.100.%d", 10+i))
	m.PrivateIP = types.StringValue(fmt.Sprintf("10.0.1.%d", 4+i))
	if r.dir != "" {
		rec, _ := json.Marshal(recordOf(m))
		if err := os.MkdirAll(r.dir, 0o700); err != nil {
			resp.Diagnostics.AddError("create vm", err.Error())
			return
		}
		if err := os.WriteFile(r.path(m.Name.ValueString()), rec, 0o600); err != nil {
			resp.Diagnostics.AddError("create vm", err.Error())
			return
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *vmResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m vmModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || r.dir == "" {
		return
	}
	name := m.Name.ValueString()
	if name == "" { // just imported: only the id is known
		name = strings.TrimPrefix(m.ID.ValueString(), "fakevm-")
	}
	data, err := os.ReadFile(r.path(name))
	if errors.Is(err, os.ErrNotExist) {
		resp.State.RemoveResource(ctx)
		return
	} else if err != nil {
		resp.Diagnostics.AddError("read vm", err.Error())
		return
	}
	var rec vmRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		resp.Diagnostics.AddError("read vm", err.Error())
		return
	}
	m.ID, m.Name = types.StringValue("fakevm-"+name), types.StringValue(name)
	set := func(dst *types.String, v string) {
		if v != "" {
			*dst = types.StringValue(v)
		}
	}
	set(&m.Role, rec.Role)
	set(&m.Zone, rec.Zone)
	set(&m.Size, rec.Size)
	set(&m.WireGuardIP, rec.WireGuardIP)
	set(&m.SSHPublicKey, rec.SSHPublicKey)
	set(&m.PublicIP, rec.PublicIP)
	set(&m.PrivateIP, rec.PrivateIP)
	if rec.Index != nil {
		m.Index = types.Int64Value(*rec.Index)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// ImportState adopts an existing VM by its id, fakevm-<name>; Read then
// fills the attributes from its file.
func (r *vmResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if !strings.HasPrefix(req.ID, "fakevm-") || r.dir == "" {
		resp.Diagnostics.AddError("import vm", fmt.Sprintf("id %q: want fakevm-<name>, and FAKEVM_DIR set", req.ID))
		return
	}
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}

// vmRecord is <FAKEVM_DIR>/<name>.json: the VM "in the cloud".
type vmRecord struct {
	ID           string `json:"id"`
	Index        *int64 `json:"index,omitempty"`
	Role         string `json:"role,omitempty"`
	Zone         string `json:"zone,omitempty"`
	Size         string `json:"size,omitempty"`
	WireGuardIP  string `json:"wireguard_ip,omitempty"`
	SSHPublicKey string `json:"ssh_public_key,omitempty"`
	PublicIP     string `json:"public_ip"`
	PrivateIP    string `json:"private_ip"`
}

func recordOf(m vmModel) vmRecord {
	i := m.Index.ValueInt64()
	return vmRecord{ID: m.ID.ValueString(), Index: &i, Role: m.Role.ValueString(), Zone: m.Zone.ValueString(),
		Size: m.Size.ValueString(), WireGuardIP: m.WireGuardIP.ValueString(), SSHPublicKey: m.SSHPublicKey.ValueString(),
		PublicIP: m.PublicIP.ValueString(), PrivateIP: m.PrivateIP.ValueString()}
}

func (r *vmResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// Every input requires replacement, so there is nothing to update in
	// place; keep the plan as the new state.
	var m vmModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *vmResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m vmModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || r.dir == "" {
		return
	}
	if err := os.Remove(r.path(m.Name.ValueString())); err != nil && !errors.Is(err, os.ErrNotExist) {
		resp.Diagnostics.AddError("delete vm", err.Error())
	}
}
