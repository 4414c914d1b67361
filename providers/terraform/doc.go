// Package terraform runs Terraform for the terraform phase: the real
// terraform binary through terraform-exec, over one working directory
// (state/terraform/) that holds the module, the variables file and the local
// state.
//
// # Interface
//
// The phase consumes the small Terraform interface (Init, Plan, Apply,
// Output, Drift, Destroy); Exec implements it with two *tfexec.Terraform
// over the same directory: one whose stdout and stderr go to the node log
// (init, plan, apply, destroy: terraform redacts sensitive values there), and
// one that keeps stdout to itself (output -json, show -json of a plan, whose
// JSON holds sensitive values in the clear). An Exec is not safe for
// concurrent use, as tfexec's setters mutate it: one per working directory
// and goroutine.
//
// Environment: the inherited one without the variables terraform-exec
// manages (TF_LOG, TF_VAR_*, ...), then Options.Env (e.g.
// TF_CLI_CONFIG_FILE), then CHECKPOINT_DISABLE=1, always: tfexec passes it
// through but never sets it. After apply and destroy the local state files
// are made 0600: they hold each VM's custom data, and with it its WireGuard
// private key; the working directory is 0700.
//
// State: Terraform's local backend (terraform.tfstate in the working
// directory), or, with Options.Backend, its http backend over k0rdent's
// state store (HTTPBackend: BackendFile selects it, init runs with
// -reconfigure and -backend-config address, lock_address,
// unlock_address and username; the password only in TF_HTTP_PASSWORD,
// so it is neither on a command line nor in .terraform/).
//
// Drift is Verify's tool: a refresh-only plan written to a temporary 0600
// plan file in the working directory (removed afterwards), read back with
// show -json. It changes no state. It returns the resources changed outside
// Terraform ("<address> deleted") and the outputs after the refresh, so the
// phase can say what drifted.
//
// # Outputs
//
// Node outputs are strings. OutputString turns an output's JSON value into
// one: a string as itself, a number or bool as its literal, null as "",
// lists and objects as compact JSON with sorted keys (so a value is
// byte-stable across runs).
//
// # Finding terraform
//
// Find looks at the configured binary (config terraform.binary), then PATH,
// then a copy installed earlier in the install directory, then, when
// allowed, downloads terraform (terraform.version, default DefaultVersion)
// from releases.hashicorp.com with hc-install. Offline the download fails,
// and the error says to install terraform on PATH or set terraform.binary.
//
// # Modules and their contract
//
// AzureModule is the module embedded in the binary (azure/*.tf): resource
// group <cluster_id>-resgrp, VNet, subnet, an NSG that lets in the WireGuard
// UDP port and SSH, and per VM a static public IP, a NIC and a Linux VM in
// its zone, with spot priority, eviction policy and max price when spot, the
// admin SSH key, and its cloud-init document as custom data; everything
// tagged cluster-id, owner and created-by=k0rdent. WriteModule copies a
// module into the working directory before init (and removes top-level .tf
// files that are not part of it), so config terraform.module can replace
// it with any directory that keeps the contract:
//
//   - variables: exactly the JSON names of Vars (VarNames), written by
//     WriteVars as k0rdent.auto.tfvars.json, which terraform loads by itself.
//     VMs are keyed by name; each has its position in host order, role,
//     size, zone, WireGuard address and the path of its cloud-init document
//     (the module reads the file: secrets stay out of the variables file).
//   - outputs: OutputNames: vm_details (name → VMDetails), public_ips and
//     private_ips (name → address), resource_group, wireguard_port.
//
// The embedded module is never initialised in tests (azurerm cannot be
// downloaded here); tests check it with the real terraform fmt -check and
// compare its variable and output blocks with the contract. The test module
// (testdata/testmodule) declares the same contract and uses VMs from the
// test provider local.test/k0rdent/fakevm (testdata/fakevm, its own Go
// module), served from a filesystem mirror by package tftest; its VMs get
// public IP 198.51.100.<10+index> and private IP 10.0.1.<4+index>. With
// FAKEVM_DIR set, each fake VM is also a file there, and deleting the file
// deletes the VM behind Terraform's back (how tests make drift).
// tftest.UseTestModule sets everything up for a test, CLI runs included.
//
// # Adopting what the legacy bash tool created
//
// The bash tool created its resources with az, under the same names
// (<id>-resgrp, -vnet, -subnet, -nsg, the VMs), except the NIC, public IP
// and IP configuration az vm create named itself, and (≤0.1.0) a first
// controller named k0s-controller. Vars.LegacyNames carries those names
// into the module, and a VM with an empty cloud_init keeps the custom data
// it was built with (Azure does not return it; changing it replaces the
// VM). The legacy migration writes AdoptionFile in the working directory;
// the terraform phase, finding it and no state, expands the module's
// ImportTemplatesFile (Imports) into ImportsFile, one import block per
// recorded resource (terraform >= 1.5 config-driven import), plans into a
// file (PlanFile, SummarizePlan: "N to import, N to add, N to change, N to
// destroy") and applies that plan only if it destroys or replaces nothing
// and changes nothing but tags; otherwise it stops before apply naming the
// resources and the choices. AdoptionDone keeps the adoption as
// AdoptionFile.imported (later runs keep the legacy names and custom
// data) and removes the import blocks. The test provider implements
// ImportState (id fakevm-<name>; Read fills the attributes from the VM's
// file), so adoption is tested with the real terraform binary.
package terraform
