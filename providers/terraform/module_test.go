package terraform_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/providers/terraform"
	"github.com/k0rdent/k0rdent-deploy/providers/terraform/tftest"
)

var (
	reVariable = regexp.MustCompile(`(?m)^variable\s+"([^"]+)"\s*\{`)
	reOutput   = regexp.MustCompile(`(?m)^output\s+"([^"]+)"\s*\{`)
)

// blocks returns the sorted names of the top-level blocks re matches in
// every .tf file of fsys.
func blocks(t *testing.T, fsys fs.FS, re *regexp.Regexp) []string {
	t.Helper()
	var names []string
	files, err := fs.Glob(fsys, "*.tf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tf files: %v", err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return names
}

// TestModuleContract checks that the embedded Azure module and the test
// module declare exactly the variables the phase writes (Vars) and the
// outputs it reads.
func TestModuleContract(t *testing.T) {
	modules := map[string]fs.FS{
		"azure":      terraform.AzureModule(),
		"testmodule": os.DirFS(filepath.Join("testdata", "testmodule")),
	}
	for name, m := range modules {
		t.Run(name, func(t *testing.T) {
			if got, want := blocks(t, m, reVariable), terraform.VarNames(); !slices.Equal(got, want) {
				t.Errorf("variables:\n got %v\nwant %v", got, want)
			}
			if got, want := blocks(t, m, reOutput), terraform.OutputNames(); !slices.Equal(got, want) {
				t.Errorf("outputs:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestAzureModule_Content checks what the Azure module must do that no
// local run can show: the NSG opens the WireGuard port and SSH, VMs get
// their zone, spot settings, cloud-init and SSH key, resources are tagged.
func TestAzureModule_Content(t *testing.T) {
	b, err := fs.ReadFile(terraform.AzureModule(), "main.tf")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Join(strings.Fields(string(b)), " ")
	for _, want := range []string{
		`protocol = "Udp" source_port_range = "*" destination_port_range = tostring(var.wireguard_port)`,
		`destination_port_range = "22"`,
		`zone = each.value.zone`,
		`priority = local.spot ? "Spot" : "Regular"`,
		`eviction_policy = local.spot ? var.eviction_policy : null`,
		`max_bid_price = local.spot ? var.spot_max_price : null`,
		`custom_data = each.value.cloud_init != "" ? base64encode(file(each.value.cloud_init)) : null`,
		`name = try(var.legacy_names[each.key].nic, "${each.key}-nic")`,
		`public_key = var.ssh_public_key`,
		`"cluster-id" = var.cluster_id`, `"owner" = var.owner`, `"created-by" = "k0rdent"`,
		`name = "${var.cluster_id}-resgrp"`,
	} {
		if !strings.Contains(src, want) {
			t.Errorf("main.tf lacks %s", want)
		}
	}
}

// TestAzureModule_Fmt runs the real terraform fmt -check on the embedded
// module (the module is never initialised here: azurerm cannot be
// downloaded).
func TestAzureModule_Fmt(t *testing.T) {
	bin := tftest.Binary(t)
	for name, m := range map[string]fs.FS{"azure": terraform.AzureModule(), "testmodule": os.DirFS(filepath.Join("testdata", "testmodule"))} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := terraform.WriteModule(dir, m); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "fmt", "-check", "-diff", "-recursive", dir)
			cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1", "TF_CLI_CONFIG_FILE=/dev/null")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("terraform fmt -check: %v\n%s", err, out)
			}
		})
	}
}
