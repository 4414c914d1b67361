package config

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Version is the only schema version this package reads.
const Version = 1

// Config is the deployment spec read from k0rdent.yaml. The defaults noted on
// each field are what Default and SetDefaults fill in; Parse applies them.
type Config struct {
	// Version of the schema. Default 1; nothing else is accepted.
	Version int `yaml:"version"`
	// Metadata names the deployment.
	Metadata Metadata `yaml:"metadata"`
	// Azure holds where and on what the VMs run.
	Azure Azure `yaml:"azure"`
	// Network holds the Azure VNet and the WireGuard network.
	Network Network `yaml:"network"`
	// VMSizing holds the VM sizes per role.
	VMSizing VMSizing `yaml:"vm_sizing"`
	// Cluster holds the controller and worker counts and zones.
	Cluster Cluster `yaml:"cluster"`
	// SSH holds the VM admin user.
	SSH SSH `yaml:"ssh"`
	// Software holds the k0s and k0rdent versions.
	Software Software `yaml:"software"`
	// Timeouts bound the long waits of the built-in phases.
	Timeouts Timeouts `yaml:"timeouts"`
	// VPN configures the operator-side WireGuard device of the vpn phase.
	VPN VPN `yaml:"vpn"`
	// KOF configures the optional KOF observability phase.
	KOF KOF `yaml:"kof"`
	// AzureChildren configures the optional Azure child clusters phase.
	AzureChildren AzureChildren `yaml:"azure_children"`
	// Terraform says which terraform binary and module the terraform
	// phase uses; every key is optional.
	Terraform Terraform `yaml:"terraform,omitempty"`
	// Phases declares command phases: processes run as graph nodes.
	Phases []CommandPhase `yaml:"phases,omitempty"`
	// State says where the deployment's state lives (local directory, or
	// an Azure Blob Storage container shared by a team); see state.go.
	State State `yaml:"state,omitempty"`

	// Set by Parse; not part of the canonical form.
	file     string
	lines    map[string]int
	warnings []Problem
}

// Metadata names the deployment.
type Metadata struct {
	// Name is the cluster name prefix: the cluster id is <name>-<8 random
	// characters>, chosen once and kept in the state. Lower-case letters,
	// digits and hyphens, at most 20 characters. Default "k0rdent".
	Name string `yaml:"name"`
	// Owner is recorded as the resource group's owner tag. Default: empty,
	// the CLI then uses the git e-mail or user@host.
	Owner string `yaml:"owner,omitempty"`
	// Description is free text.
	Description string `yaml:"description,omitempty"`
}

// Azure holds where and on what the VMs run.
type Azure struct {
	// Location is the Azure region, e.g. westus2. Required.
	Location string `yaml:"location"`
	// SubscriptionID selects the subscription; empty means the Azure CLI's
	// current one. A UUID when set.
	SubscriptionID string `yaml:"subscription_id,omitempty"`
	// VMImage is the image URN publisher:offer:sku:version.
	// Default "Debian:debian-12:12-gen2:latest".
	VMImage string `yaml:"vm_image"`
	// VMPriority is Regular or Spot, in any letter case; it is stored in
	// this canonical case. Default "Regular".
	VMPriority string `yaml:"vm_priority"`
	// EvictionPolicy is Deallocate or Delete, spot VMs only. Default
	// "Deallocate" when VMPriority is Spot, empty otherwise.
	EvictionPolicy string `yaml:"eviction_policy,omitempty"`
	// OSDiskSizeGB is the OS disk size of every VM. Default 64.
	OSDiskSizeGB int `yaml:"os_disk_size_gb"`
}

// Network holds the Azure VNet and the WireGuard network.
type Network struct {
	// VNetPrefix is the VNet address space. Default "10.0.0.0/16".
	VNetPrefix string `yaml:"vnet_prefix"`
	// SubnetPrefix is the VM subnet, inside VNetPrefix. Default "10.0.1.0/24".
	SubnetPrefix string `yaml:"subnet_prefix"`
	// WireGuardNetwork is the VPN network: the operator's machine (the
	// hub) is its first host address, the VMs follow. It must hold the hub
	// and every VM and must not overlap the VNet. Default "192.168.100.0/24".
	WireGuardNetwork string `yaml:"wireguard_network"`
	// WireGuardPort is the UDP port the VMs listen on. 0 (the default)
	// picks a random port in 30000-64000 once and keeps it in the state.
	WireGuardPort int `yaml:"wireguard_port"`
}

// VMSizing holds the VM sizes per role.
type VMSizing struct {
	// Controller is the controllers' VM. Default size "Standard_D2s_v5".
	Controller VMSize `yaml:"controller"`
	// Worker is the workers' VM. Default size "Standard_D2s_v5".
	Worker VMSize `yaml:"worker"`
}

// VMSize is one Azure VM size.
type VMSize struct {
	// Size is the Azure VM size, e.g. Standard_D2s_v5.
	Size string `yaml:"size"`
}

// Cluster holds the controller and worker counts and zones.
type Cluster struct {
	// Controllers: count default 1 (at least 1; an even count above 1
	// warns, etcd needs an odd quorum), zones default [1].
	Controllers NodeGroup `yaml:"controllers"`
	// Workers: count default 1 (0 warns: the controllers then run the
	// workloads), zones default [1].
	Workers NodeGroup `yaml:"workers"`
}

// NodeGroup is a number of VMs spread round-robin over availability zones.
type NodeGroup struct {
	// Count is the number of VMs.
	Count int `yaml:"count"`
	// Zones are Azure availability zones (1, 2 or 3), assigned round-robin
	// in host order. Default [1].
	Zones []int `yaml:"zones,flow"`
}

// SSH holds the VM admin user.
type SSH struct {
	// Username is the VM admin user and k0sctl's SSH user. Default "k0rdent".
	Username string `yaml:"username"`
	// KeyPath is an existing private key (its .pub beside it) to use; empty
	// (the default) generates one under the state's secrets directory.
	KeyPath string `yaml:"key_path,omitempty"`
}

// Software holds the k0s and k0rdent versions.
type Software struct {
	// K0s: version default "v1.33.2+k0s.0".
	K0s K0s `yaml:"k0s"`
	// K0rdent: version default "1.4.0".
	K0rdent K0rdent `yaml:"k0rdent"`
}

// K0s is the k0s distribution.
type K0s struct {
	// Version is a k0s release, vX.Y.Z+k0s.N.
	Version string `yaml:"version"`
	// BinaryPath is a local k0s binary of Version for air-gapped installs:
	// k0sctl uploads it to every host instead of the hosts downloading the
	// release. Relative to the config file's directory. Default: empty,
	// the hosts download it.
	BinaryPath string `yaml:"binary_path,omitempty"`
	// Network is the k0s cluster network; empty keys keep the bash tool's
	// settings (see K0sNetwork).
	Network K0sNetwork `yaml:"network,omitempty"`
}

// K0sNetwork is spec.network of the k0s cluster configuration. Every key is
// optional and empty by default, so that the section stays out of the
// canonical form (and the digest) of a config without it; empty means the
// bash tool's settings: Calico with ipAutodetectionMethod
// can-reach=8.8.8.8 and FELIX_IGNORELOOSERPF, node-local load balancing
// with EnvoyProxy, k0s's default CIDRs.
type K0sNetwork struct {
	// Provider is calico, kuberouter or custom. Empty: calico.
	Provider string `yaml:"provider,omitempty"`
	// CalicoIPAutodetection is Calico's ipAutodetectionMethod. Empty:
	// can-reach=8.8.8.8.
	CalicoIPAutodetection string `yaml:"calico_ip_autodetection,omitempty"`
	// PodCIDR and ServiceCIDR are IPv4 CIDRs; empty: k0s's defaults
	// (10.244.0.0/16 and 10.96.0.0/12).
	PodCIDR     string `yaml:"pod_cidr,omitempty"`
	ServiceCIDR string `yaml:"service_cidr,omitempty"`
	// DisableNodeLocalLoadBalancing turns k0s's node-local load
	// balancing (EnvoyProxy) off. Default false: on.
	DisableNodeLocalLoadBalancing bool `yaml:"disable_node_local_load_balancing,omitempty"`
}

// K0rdent is the KCM Helm chart.
type K0rdent struct {
	// Version is the kcm chart version, X.Y.Z. Default "1.4.0".
	Version string `yaml:"version"`
	// Registry is the chart's OCI reference, or the http(s) URL of a
	// chart archive. Default "oci://ghcr.io/k0rdent/kcm/charts/kcm".
	Registry string `yaml:"registry"`
	// Namespace is the release namespace. Default "kcm-system".
	Namespace string `yaml:"namespace"`
	// Chart is a local chart directory or archive installed instead of
	// pulling Registry (air-gapped installs, tests). Relative to the
	// config file's directory. Default: empty, Registry is pulled.
	Chart string `yaml:"chart,omitempty"`
	// Management is the object whose Ready condition ends the install's
	// wait. Empty keys (the default) mean KCM's: K0rdentManagement.
	Management K0rdentManagement `yaml:"management,omitempty"`
}

// K0rdentManagement names the object the k0rdent phase waits for. Every key
// is optional and empty by default, so that the section stays out of the
// canonical form (and the digest) of a config without it; empty means KCM
// 1.x's Management: api_version k0rdent.mirantis.com/v1beta1, resource
// managements, name kcm (cluster-scoped).
type K0rdentManagement struct {
	// APIVersion is group/version. Empty: k0rdent.mirantis.com/v1beta1.
	APIVersion string `yaml:"api_version,omitempty"`
	// Resource is the plural resource name. Empty: managements.
	Resource string `yaml:"resource,omitempty"`
	// Name is the object's name. Empty: kcm.
	Name string `yaml:"name,omitempty"`
}

// Timeouts bound the long waits of the built-in phases. Durations are Go
// durations with a unit: 30s, 10m, 1h30m.
type Timeouts struct {
	// SSHConnect bounds one SSH connection attempt. Default 30s.
	SSHConnect Duration `yaml:"ssh_connect"`
	// VMCreation bounds the creation of the VMs. Default 10m.
	VMCreation Duration `yaml:"vm_creation"`
	// VMCheckInterval is the poll interval while VMs come up. Default 30s.
	VMCheckInterval Duration `yaml:"vm_check_interval"`
	// VPNConnect bounds bringing the tunnel up and reaching every VM. Default 2m.
	VPNConnect Duration `yaml:"vpn_connect"`
	// K0sInstall bounds k0sctl apply. Default 20m.
	K0sInstall Duration `yaml:"k0s_install"`
	// K0rdentInstall bounds the KCM Helm install and the wait for the
	// Management object. Default 25m.
	K0rdentInstall Duration `yaml:"k0rdent_install"`
	// VerificationRetries is how often a reachability check is retried.
	// Default 3.
	VerificationRetries int `yaml:"verification_retries"`
	// VerificationRetryDelay is the pause between those retries. Default 10s.
	VerificationRetryDelay Duration `yaml:"verification_retry_delay"`
}

// VPN configures the operator-side WireGuard device: the hub of the
// WireGuard network, on the machine that runs k0rdent.
type VPN struct {
	// Interface is the device name, at most 15 characters (a Linux
	// interface name). Default "wg-k0rdent".
	Interface string `yaml:"interface"`
	// Mode is auto (the kernel's WireGuard when it has it, else
	// wireguard-go), kernel or userspace, in any letter case. Default "auto".
	Mode string `yaml:"mode"`
	// WireGuardGo is the wireguard-go binary for userspace mode. Default:
	// empty, meaning wireguard-go on PATH.
	WireGuardGo string `yaml:"wireguard_go,omitempty"`
	// SSHPort is the TCP port the reachability check connects to on each
	// VM's WireGuard address. Default 22.
	SSHPort int `yaml:"ssh_port"`
}

// Values of azure_children.scope.
const (
	ScopeSubscription  = "subscription"
	ScopeResourceGroup = "resource_group"
)

// Values of vpn.mode.
const (
	VPNModeAuto      = "auto"
	VPNModeKernel    = "kernel"
	VPNModeUserspace = "userspace"
)

// KOF configures the optional KOF observability phase (mothership on the
// management cluster, regional cluster on Azure). It is validated only when
// on for the run: --with-kof or --with-kof=false when given, else Enabled.
type KOF struct {
	// Enabled turns KOF on for every run that does not say otherwise:
	// --with-kof turns it on for one run, --with-kof=false off (the flag
	// takes precedence). Default false.
	Enabled bool `yaml:"enabled"`
	// Version is the KOF version: the version of the kof-operators and
	// kof-mothership charts (up to 1.4) or of the umbrella kof chart (1.5);
	// it picks the chart layout (KOFChartLayout). Default "1.1.0".
	Version string `yaml:"version"`
	// Istio is the kof-istio chart.
	Istio KOFIstio `yaml:"istio"`
	// Mothership is the KOF mothership on the management cluster.
	Mothership KOFMothership `yaml:"mothership"`
	// Regional is the KOF regional cluster, an Azure child cluster.
	Regional KOFRegional `yaml:"regional"`
	// ChartsDir is a directory holding local copies of the charts
	// (kof-istio, kof-operators, kof-mothership, or k0rdent-istio and kof,
	// by kof.version, and azuredisk-csi-driver, each a chart directory or
	// archive of that name) installed instead of
	// pulling them (air-gapped installs, tests). Relative to the config
	// file's directory. Default: empty, the charts are pulled.
	ChartsDir string `yaml:"charts_dir,omitempty"`
}

// KOFIstio is the Istio chart: kof-istio up to KOF 1.4, k0rdent-istio
// from 1.5.
type KOFIstio struct {
	// Version default "1.1.0".
	Version string `yaml:"version"`
	// Namespace default "istio-system".
	Namespace string `yaml:"namespace"`
}

// KOFMothership is the KOF mothership on the management cluster.
type KOFMothership struct {
	// Namespace default "kof".
	Namespace string `yaml:"namespace"`
	// StorageClass is passed to the chart unless it is "default" (the default).
	StorageClass string `yaml:"storage_class"`
	// InstallRetries retries the chart install (webhook race). Default 3.
	InstallRetries int `yaml:"install_retries"`
	// RetryDelay is the pause between those retries. Default 30s.
	RetryDelay Duration `yaml:"retry_delay"`
}

// KOFRegional is the KOF regional cluster. It is created with the Azure
// credentials of azure_children, which must therefore be enabled too.
type KOFRegional struct {
	// Enabled creates the regional cluster. Default true.
	Enabled bool `yaml:"enabled"`
	// ClusterName default: empty, meaning kof-regional-<suffix>-<location>.
	ClusterName string `yaml:"cluster_name,omitempty"`
	// Domain is the regional domain. Required.
	Domain string `yaml:"domain"`
	// AdminEmail receives the certificate notices. Required.
	AdminEmail string `yaml:"admin_email"`
	// Location default: azure.location.
	Location string `yaml:"location"`
	// Template is the ClusterTemplate. Default: the Azure standalone
	// template of software.k0rdent.version (DefaultClusterTemplate; 1.4.0:
	// azure-standalone-cp-1-0-15); required for a KCM version without one.
	Template string `yaml:"template"`
	// Credential is the k0rdent Credential; it must be
	// azure_children.credential. Default: azure_children.credential.
	Credential string `yaml:"credential"`
	// ControlPlaneSize default "Standard_A4_v2".
	ControlPlaneSize string `yaml:"cp_instance_size"`
	// WorkerSize default "Standard_A4_v2".
	WorkerSize string `yaml:"worker_instance_size"`
	// RootVolumeSizeGB default 32.
	RootVolumeSizeGB int `yaml:"root_volume_size"`
	// ReadyTimeout bounds the wait for the ClusterDeployment to be Ready.
	// Default 20m.
	ReadyTimeout Duration `yaml:"ready_timeout"`
}

// AzureChildren configures the optional Azure child clusters phase: a
// service principal, the k0rdent Credential objects, then one node
// azure-children/<name> per cluster. It is validated only when on for the
// run: --with-azure-children or --with-azure-children=false when
// given, else Enabled.
type AzureChildren struct {
	// Enabled turns the phase on for every run that does not say
	// otherwise: --with-azure-children turns it on for one run,
	// --with-azure-children=false off (the flag takes precedence).
	// Default false.
	Enabled bool `yaml:"enabled"`
	// Credential is the k0rdent Credential name.
	// Default "azure-cluster-credential".
	Credential string `yaml:"credential"`
	// Identity is the AzureClusterIdentity name.
	// Default "azure-cluster-identity".
	Identity string `yaml:"identity"`
	// Namespace holds the credential objects. Default "kcm-system".
	Namespace string `yaml:"namespace"`
	// Scope is where the service principal gets its Contributor role:
	// subscription (the subscription of azure.subscription_id, what CAPZ
	// needs to create each child cluster's resource group) or
	// resource_group (the deployment's resource group only, for child
	// clusters placed there). Empty (the default) means subscription; it
	// stays out of the canonical form (and the digest) of a config
	// without it.
	Scope string `yaml:"scope,omitempty"`
	// Clusters are the child clusters; none means credentials only.
	Clusters []ChildCluster `yaml:"clusters,omitempty"`
}

// ChildCluster is one Azure child cluster (a k0rdent ClusterDeployment).
type ChildCluster struct {
	// Name is the ClusterDeployment name and the node azure-children/<name>.
	// Required; a DNS label, unique.
	Name string `yaml:"name"`
	// Location default: azure.location.
	Location string `yaml:"location"`
	// Template is the ClusterTemplate. Default: the Azure standalone
	// template of software.k0rdent.version (DefaultClusterTemplate; 1.4.0:
	// azure-standalone-cp-1-0-15); required for a KCM version without one.
	Template string `yaml:"template"`
	// ControlPlaneCount default 1.
	ControlPlaneCount int `yaml:"cp_count"`
	// ControlPlaneSize default "Standard_A4_v2".
	ControlPlaneSize string `yaml:"cp_instance_size"`
	// WorkerCount default 1.
	WorkerCount int `yaml:"worker_count"`
	// WorkerSize default "Standard_A4_v2".
	WorkerSize string `yaml:"worker_instance_size"`
	// RootVolumeSizeGB default 32.
	RootVolumeSizeGB int `yaml:"root_volume_size"`
	// Labels are added to the ClusterDeployment.
	Labels map[string]string `yaml:"labels,omitempty"`
	// ReadyTimeout bounds the wait for the ClusterDeployment to be Ready
	// (and for its deletion on reset). Empty means 30m; unset, it stays
	// out of the canonical form (and the digest).
	ReadyTimeout Duration `yaml:"ready_timeout,omitempty"`
}

// Terraform says which terraform binary and module the terraform phase
// uses. Every key is optional and empty by default, so that the section
// stays out of the canonical form (and the digest) of a config without it.
// Relative paths are relative to the config file's directory.
type Terraform struct {
	// Binary is the terraform executable: a path, or a name looked up in
	// PATH. Empty: terraform on PATH, else one downloaded earlier, else a
	// download of Version with hc-install (which needs the network).
	Binary string `yaml:"binary,omitempty"`
	// Module is a directory holding a Terraform module with the same
	// variables and outputs as the embedded Azure module, applied instead
	// of it. Empty: the embedded Azure module.
	Module string `yaml:"module,omitempty"`
	// Version is the terraform version downloaded when no binary is
	// found, X.Y.Z. Empty: the version this k0rdent was tested with.
	Version string `yaml:"version,omitempty"`
}

// CommandPhase is a phase declared in the config: a process run as a graph
// node, with the same journalling, logs, retries and plan output as the
// built-in phases.
type CommandPhase struct {
	// Name is kebab-case and unique; it is the journal key.
	Name string `yaml:"name"`
	// Description is shown by --plan.
	Description string `yaml:"description,omitempty"`
	// Command is the argv; no shell is involved (use [sh, -c, "..."]).
	Command []string `yaml:"command,flow"`
	// Env is added to the process environment, which is inherited. Values
	// are not secret: they are part of the config digest.
	Env map[string]string `yaml:"env,omitempty"`
	// DependsOn names built-in or command phases.
	DependsOn []string `yaml:"depends_on,flow"`
	// When is the enable condition: always (the default), never, a run
	// flag (with_kof, with_azure_children) or its negation (!with_kof).
	When string `yaml:"when"`
	// Timeout bounds one attempt. Default 30m.
	Timeout Duration `yaml:"timeout"`
	// Retries is how many more attempts the phase gets after a transient
	// failure (the command exits 75, EX_TEMPFAIL). Default 0, at most 10.
	Retries int `yaml:"retries"`
	// Inputs names files (relative to the config file's directory) whose
	// content, with command and env, decides whether a later run may reuse
	// the phase's last success instead of running it again (day two). They
	// are digested by content, never copied.
	Inputs []string `yaml:"inputs,omitempty,flow"`
}

// Default returns the configuration a file with no keys would give, before
// the required azure.location is set.
func Default() *Config {
	c := preset()
	c.SetDefaults()
	return c
}

// preset holds the defaults SetDefaults cannot tell from a deliberate zero
// value; Parse decodes the file over it and then calls SetDefaults.
func preset() *Config {
	c := &Config{}
	c.Cluster.Controllers.Count = 1
	c.Cluster.Workers.Count = 1
	c.Timeouts.VerificationRetries = 3
	c.KOF.Mothership.InstallRetries = 3
	c.KOF.Regional.Enabled = true
	return c
}

// SetDefaults fills every empty (zero) field with its default. Counts where
// zero is an answer, right or wrong (cluster.controllers.count,
// cluster.workers.count, network.wireguard_port, retries), and booleans are
// left alone: Default sets those, and Parse decodes the file over them.
// Derived defaults (a child cluster's location, the regional credential)
// follow the fields they derive from. Priority and eviction policy are put
// in canonical letter case.
func (c *Config) SetDefaults() {
	setInt(&c.Version, Version)
	setStr(&c.Metadata.Name, "k0rdent")
	setStr(&c.Azure.VMImage, "Debian:debian-12:12-gen2:latest")
	setStr(&c.Azure.VMPriority, PriorityRegular)
	c.Azure.VMPriority = canonical(c.Azure.VMPriority, PriorityRegular, PrioritySpot)
	c.Azure.EvictionPolicy = canonical(c.Azure.EvictionPolicy, EvictionDeallocate, EvictionDelete)
	if c.Azure.VMPriority == PrioritySpot {
		setStr(&c.Azure.EvictionPolicy, EvictionDeallocate)
	}
	setInt(&c.Azure.OSDiskSizeGB, 64)

	setStr(&c.Network.VNetPrefix, "10.0.0.0/16")
	setStr(&c.Network.SubnetPrefix, "10.0.1.0/24")
	setStr(&c.Network.WireGuardNetwork, "192.168.100.0/24")

	setStr(&c.VMSizing.Controller.Size, "Standard_D2s_v5")
	setStr(&c.VMSizing.Worker.Size, "Standard_D2s_v5")

	if len(c.Cluster.Controllers.Zones) == 0 {
		c.Cluster.Controllers.Zones = []int{1}
	}
	if len(c.Cluster.Workers.Zones) == 0 {
		c.Cluster.Workers.Zones = []int{1}
	}

	setStr(&c.SSH.Username, "k0rdent")

	setStr(&c.Software.K0s.Version, "v1.33.2+k0s.0")
	setStr(&c.Software.K0rdent.Version, "1.4.0")
	setStr(&c.Software.K0rdent.Registry, "oci://ghcr.io/k0rdent/kcm/charts/kcm")
	setStr(&c.Software.K0rdent.Namespace, "kcm-system")

	t := &c.Timeouts
	setDur(&t.SSHConnect, 30*time.Second)
	setDur(&t.VMCreation, 10*time.Minute)
	setDur(&t.VMCheckInterval, 30*time.Second)
	setDur(&t.VPNConnect, 2*time.Minute)
	setDur(&t.K0sInstall, 20*time.Minute)
	setDur(&t.K0rdentInstall, 25*time.Minute)
	setDur(&t.VerificationRetryDelay, 10*time.Second)

	setStr(&c.VPN.Interface, "wg-k0rdent")
	setStr(&c.VPN.Mode, VPNModeAuto)
	c.VPN.Mode = canonical(c.VPN.Mode, VPNModeAuto, VPNModeKernel, VPNModeUserspace)
	setInt(&c.VPN.SSHPort, 22)

	ac := &c.AzureChildren
	setStr(&ac.Credential, "azure-cluster-credential")
	setStr(&ac.Identity, "azure-cluster-identity")
	setStr(&ac.Namespace, "kcm-system")
	// The ClusterTemplate follows the KCM version; for a version with no
	// known default it stays empty and Validate says which key to set.
	tmpl, _ := DefaultClusterTemplate(c.Software.K0rdent.Version)
	for i := range ac.Clusters {
		cc := &ac.Clusters[i]
		setStr(&cc.Location, c.Azure.Location)
		setStr(&cc.Template, tmpl)
		setInt(&cc.ControlPlaneCount, 1)
		setStr(&cc.ControlPlaneSize, defaultChildSize)
		setInt(&cc.WorkerCount, 1)
		setStr(&cc.WorkerSize, defaultChildSize)
		setInt(&cc.RootVolumeSizeGB, 32)
	}

	k := &c.KOF
	setStr(&k.Version, "1.1.0")
	setStr(&k.Istio.Version, "1.1.0")
	setStr(&k.Istio.Namespace, "istio-system")
	setStr(&k.Mothership.Namespace, "kof")
	setStr(&k.Mothership.StorageClass, "default")
	setDur(&k.Mothership.RetryDelay, 30*time.Second)
	r := &k.Regional
	setStr(&r.Location, c.Azure.Location)
	setStr(&r.Template, tmpl)
	setStr(&r.Credential, ac.Credential)
	setStr(&r.ControlPlaneSize, defaultChildSize)
	setStr(&r.WorkerSize, defaultChildSize)
	setInt(&r.RootVolumeSizeGB, 32)
	setDur(&r.ReadyTimeout, 20*time.Minute)

	for i := range c.Phases {
		p := &c.Phases[i]
		setStr(&p.When, CondAlways)
		setDur(&p.Timeout, 30*time.Minute)
	}
}

// Values of azure.vm_priority and azure.eviction_policy, in canonical case.
const (
	PriorityRegular    = "Regular"
	PrioritySpot       = "Spot"
	EvictionDeallocate = "Deallocate"
	EvictionDelete     = "Delete"
)

const (
	defaultChildSize = "Standard_A4_v2"
)

// IsSpot reports whether the VMs are spot VMs.
func (a Azure) IsSpot() bool { return strings.EqualFold(a.VMPriority, PrioritySpot) }

// File is the path Parse or Load read the config from.
func (c *Config) File() string { return c.file }

// Warnings are the problems Parse found that do not stop a run (an even
// controller count, no workers, placeholder KOF values).
func (c *Config) Warnings() []Problem { return c.warnings }

// Host is one VM of the management cluster.
type Host struct {
	// Name is k0s-controller-<n> or k0s-worker-<n>, counting from 1.
	Name string
	// Role is "controller" or "worker".
	Role string
	// Size is the Azure VM size.
	Size string
	// Zone is the availability zone, round-robin over the group's zones.
	Zone int
}

// Hosts lists the VMs in the legacy tool's order and naming: controllers
// first, then workers, zones assigned round-robin per group. Validate caps
// each group at 1000.
func (c *Config) Hosts() []Host {
	var hs []Host
	add := func(role, size string, g NodeGroup) {
		for i := range g.Count {
			zone := 0
			if len(g.Zones) > 0 {
				zone = g.Zones[i%len(g.Zones)]
			}
			hs = append(hs, Host{Name: fmt.Sprintf("k0s-%s-%d", role, i+1), Role: role, Size: size, Zone: zone})
		}
	}
	add("controller", c.VMSizing.Controller.Size, c.Cluster.Controllers)
	add("worker", c.VMSizing.Worker.Size, c.Cluster.Workers)
	return hs
}

// Flags are the optional components that are on for a run: the result of
// Config.Effective, which command phases' when conditions test.
type Flags struct {
	WithKOF           bool
	WithAzureChildren bool
}

// RunFlags are the run flags that switch optional components on or off, as
// one run's command line gave them. Each is a tri-state: nil when the flag
// was not given, so that the config's enabled key decides; otherwise the
// given value, which takes precedence over the config in both directions
// (--with-kof=false turns KOF off even with kof.enabled: true).
type RunFlags struct {
	// WithKOF is --with-kof; nil when not given (kof.enabled decides).
	WithKOF *bool
	// WithAzureChildren is --with-azure-children; nil when not given
	// (azure_children.enabled decides).
	WithAzureChildren *bool
}

// Bool returns a pointer to v: a run flag given as v.
func Bool(v bool) *bool { return &v }

// Effective returns the components that are on for a run with these flags:
// a given flag decides; a flag not given leaves it to the config's enabled
// key.
func (c *Config) Effective(run RunFlags) Flags {
	return Flags{
		WithKOF:           c.Decide(run, FlagWithKOF).On,
		WithAzureChildren: c.Decide(run, FlagWithAzureChildren).On,
	}
}

// Duration is a time.Duration written as a Go duration string ("30s", "10m").
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String is the Go duration without zero trailing units: 10m, 1h30m, 45s.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string with a unit.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := fmt.Sscanf(s, "%d", new(int)); nerr == nil && !strings.ContainsAny(s, "hmsuµn") {
			return 0, fmt.Errorf("duration %q has no unit (write e.g. %ss or %sm)", s, s, s)
		}
		return 0, fmt.Errorf("want a duration like 30s or 10m, got %q", s)
	}
	return Duration(v), nil
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *Duration, v time.Duration) {
	if *p == 0 {
		*p = Duration(v)
	}
}

// canonical returns the option s matches case-insensitively, or s unchanged.
func canonical(s string, options ...string) string {
	for _, o := range options {
		if strings.EqualFold(s, o) {
			return o
		}
	}
	return s
}
