package terraform

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

//go:embed azure/*.tf azure/k0rdent-imports.json
var azureModule embed.FS

// AzureModule is the embedded Azure module: resource group, VNet, subnet,
// NSG (WireGuard UDP port and SSH), and per VM a public IP, a NIC and a
// Linux VM with its zone, spot settings, SSH key and cloud-init custom data.
func AzureModule() iofs.FS {
	sub, err := iofs.Sub(azureModule, "azure")
	if err != nil {
		panic(err) // unreachable: the directory is embedded
	}
	return sub
}

// VarsFile is the variables file WriteVars writes in the working
// directory. Terraform loads *.auto.tfvars.json by itself, so an operator
// can also run terraform by hand in the working directory.
const VarsFile = "k0rdent.auto.tfvars.json"

// isModuleFile reports whether a file name belongs to a module's source
// rather than to Terraform's working data or our variables.
func isModuleFile(name string) bool {
	base := path.Base(name)
	switch {
	case strings.HasPrefix(base, ".terraform"), strings.HasPrefix(base, "terraform.tfstate"),
		strings.HasSuffix(base, ".tfvars"), strings.HasSuffix(base, ".tfvars.json"),
		strings.HasSuffix(base, ".tfplan"), base == ".k0rdent":
		return false
	}
	return true
}

// WriteModule writes module into dir (made 0700): every file, in its
// sub-directory, except Terraform's working data (.terraform*, state,
// *.tfvars*, plan files). Top-level *.tf and *.tf.json files in dir that
// module does not have are removed, so that switching modules leaves no
// stray configuration behind.
func WriteModule(dir string, module iofs.FS) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create terraform working directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil { // it holds the state, and the state holds secrets
		return fmt.Errorf("make terraform working directory %s private: %w", dir, err)
	}
	want := map[string]bool{}
	err := iofs.WalkDir(module, ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".terraform") {
				return iofs.SkipDir
			}
			return os.MkdirAll(filepath.Join(dir, filepath.FromSlash(p)), 0o700)
		}
		if !d.Type().IsRegular() || !isModuleFile(p) {
			return nil
		}
		want[p] = true
		return copyFile(module, p, filepath.Join(dir, filepath.FromSlash(p)))
	})
	if err != nil {
		return fmt.Errorf("write terraform module to %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("write terraform module to %s: %w", dir, err)
	}
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && (strings.HasSuffix(n, ".tf") || strings.HasSuffix(n, ".tf.json")) && !want[n] {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return fmt.Errorf("remove stale module file: %w", err)
			}
		}
	}
	return nil
}

func copyFile(fsys iofs.FS, name, dst string) error {
	in, err := fsys.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Vars are the module's input variables, the contract every module the
// terraform phase applies (the embedded Azure one, the test module, one
// given by terraform.module) must declare. They are written as JSON, so
// the names are the JSON tags.
type Vars struct {
	ClusterID      string        `json:"cluster_id"`
	SubscriptionID string        `json:"subscription_id"`
	Location       string        `json:"location"`
	Owner          string        `json:"owner"`
	VMImage        string        `json:"vm_image"`
	VMPriority     string        `json:"vm_priority"`
	EvictionPolicy string        `json:"eviction_policy"`
	SpotMaxPrice   float64       `json:"spot_max_price"`
	OSDiskSizeGB   int           `json:"os_disk_size_gb"`
	VNetPrefix     string        `json:"vnet_prefix"`
	SubnetPrefix   string        `json:"subnet_prefix"`
	WireGuardPort  int           `json:"wireguard_port"`
	SSHUser        string        `json:"ssh_user"`
	SSHPublicKey   string        `json:"ssh_public_key"`
	VMs            map[string]VM `json:"vms"`
	// LegacyNames are, by VM, the names of the resources the legacy bash
	// tool created beside it, kept when they are adopted.
	LegacyNames map[string]LegacyNames `json:"legacy_names"`
}

// LegacyNames are the names az vm create gave a VM's resources.
type LegacyNames struct {
	// VM is the VM's name in Azure (≤0.1.0 named the first controller
	// k0s-controller).
	VM              string `json:"vm"`
	NIC             string `json:"nic"`
	PublicIP        string `json:"public_ip"`
	IPConfiguration string `json:"ip_configuration"`
}

// VM is one entry of Vars.VMs.
type VM struct {
	// Index is the VM's position in host order (controllers, then
	// workers), from 0.
	Index       int    `json:"index"`
	Role        string `json:"role"`
	Size        string `json:"size"`
	Zone        string `json:"zone"`
	WireGuardIP string `json:"wireguard_ip"`
	// CloudInit is the path of the VM's cloud-init document (under
	// secrets: it holds the VM's WireGuard private key); the module reads
	// it, so only the path is in the variables file. Empty for an adopted
	// VM: it keeps the custom data it was built with.
	CloudInit string `json:"cloud_init"`
}

// VarNames are the variable names of the contract, sorted.
func VarNames() []string {
	return jsonNames(Vars{})
}

// OutputNames are the output names of the contract, sorted.
func OutputNames() []string {
	return []string{OutputPrivateIPs, OutputPublicIPs, OutputResourceGroup, OutputVMDetails, OutputWireGuardPort}
}

// The module outputs of the contract.
const (
	OutputVMDetails     = "vm_details"     // JSON object name → VMDetails
	OutputPublicIPs     = "public_ips"     // JSON object name → IP
	OutputPrivateIPs    = "private_ips"    // JSON object name → IP
	OutputResourceGroup = "resource_group" // name
	OutputWireGuardPort = "wireguard_port" // decimal
)

// VMDetails is one value of the vm_details output.
type VMDetails struct {
	Role        string `json:"role"`
	Zone        string `json:"zone"`
	Size        string `json:"size"`
	PublicIP    string `json:"public_ip"`
	PrivateIP   string `json:"private_ip"`
	WireGuardIP string `json:"wireguard_ip"`
}

// ParseVMDetails decodes the vm_details output.
func ParseVMDetails(s string) (map[string]VMDetails, error) {
	var m map[string]VMDetails
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("terraform output vm_details: %w", err)
	}
	return m, nil
}

// WriteVars writes v as dir/VarsFile, 0600. It holds no secret (the
// cloud-init documents are referenced by path) but lives beside the state.
func WriteVars(dir string, v Vars) (string, error) {
	if v.VMs == nil {
		return "", errors.New("terraform variables: no VMs")
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode terraform variables: %w", err)
	}
	p := filepath.Join(dir, VarsFile)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("write terraform variables %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("write terraform variables %s: %w", p, err)
	}
	return p, nil
}

func jsonNames(v any) []string {
	b, _ := json.Marshal(v)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
