package config

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

var (
	reName        = lazyRE(`^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$`)
	reDNSLabel    = lazyRE(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	reDNSName     = lazyRE(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	reEmail       = lazyRE(`^[^@\s]+@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$`)
	reLocation    = lazyRE(`^[a-z][a-z0-9]{2,}$`)
	reVMSize      = lazyRE(`^(Standard|Basic)_[A-Za-z0-9_]+$`)
	reUUID        = lazyRE(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	reK0sVersion  = lazyRE(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?\+k0s\.\d+$`)
	reSemver      = lazyRE(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)
	reUsername    = lazyRE(`^[a-z_][a-z0-9_-]{0,31}$`)
	reKebab       = lazyRE(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	reDependency  = lazyRE(`^[a-z0-9]+(-[a-z0-9]+)*(/[a-z0-9]+(-[a-z0-9]+)*)?$`)
	reEnvKey      = lazyRE(`^[A-Za-z_][A-Za-z0-9_]*$`)
	reSecretyName = lazyRE(`(?i)(password|passwd|secret|token|private_?key|api_?key|credential)`)
	reLabelKey    = lazyRE(`^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)
	reLabelValue  = lazyRE(`^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$`)
)

// maxGroup bounds cluster.controllers.count and cluster.workers.count.
const maxGroup = 1000

// Azure refuses these admin user names.
var reservedUsers = []string{"admin", "administrator", "root", "guest", "user", "test", "sys", "support", "console", "owner", "adm", "backup", "server"}

// placeholders are example values that must be replaced before a real run.
var placeholders = []string{"example.com", "example.org", "example.net"}

// Validate checks a defaulted config for a run with the given flags: every
// field's format and every cross-field rule. KOF and azure_children are
// checked only when on for this run (Effective: a given flag decides, else
// the enabled key); a section that is off is neither checked nor warned
// about, whatever its enabled key says. It returns the warnings, and an
// *Error holding every problem (with the warnings) when there is any. The
// CLI calls it with the run's flags before anything runs.
func (c *Config) Validate(run RunFlags) (warnings []Problem, err error) {
	return c.validate(run, true)
}

// validate is Validate; with final false the flags are not known yet
// (Parse): the optional sections, which a run flag can switch on or off,
// are left to the final call.
func (c *Config) validate(run RunFlags, final bool) (warnings []Problem, err error) {
	v := &validator{c: c, final: final, run: run}
	v.check(c.Effective(run))
	sortProblems(v.probs)
	sortProblems(v.warns)
	if len(v.probs) > 0 {
		return v.warns, &Error{Problems: v.probs, Warnings: v.warns}
	}
	return v.warns, nil
}

type validator struct {
	c *Config
	// final is false while the run flags are unknown (Parse): the
	// optional sections, which a flag can switch on or off, are not
	// checked then.
	final bool
	// run are the run flags as given (Validate).
	run   RunFlags
	probs []Problem
	warns []Problem
}

// Line is the line of the field path (e.g. phases[1].name) in the file
// Parse read, or of its nearest enclosing key there; 0 when there is none.
// Callers that find problems of their own (a command phase named like a
// built-in) use it to report them as Parse does.
func (c *Config) Line(path string) int { return c.line(path) }

// line is the line of path in the file, or of its nearest ancestor there.
func (c *Config) line(path string) int {
	for path != "" {
		if l, ok := c.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

func (v *validator) errorf(path, format string, args ...any) {
	v.probs = append(v.probs, Problem{File: v.c.file, Line: v.c.line(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) warnf(path, format string, args ...any) {
	v.warns = append(v.warns, Problem{File: v.c.file, Line: v.c.line(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// match reports a problem when s does not match re.
func (v *validator) match(path, s string, re *lazyRegexp, want string) bool {
	if !re.MatchString(s) {
		v.errorf(path, "%q is not %s", s, want)
		return false
	}
	return true
}

func (v *validator) required(path, s, fix string) bool {
	if strings.TrimSpace(s) == "" {
		v.errorf(path, "is required (%s)", fix)
		return false
	}
	return true
}

func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.errorf(path, "must be a positive duration, got %s (write e.g. 30s or 10m)", d)
	}
}

func (v *validator) check(on Flags) {
	c := v.c
	if c.Version != Version {
		v.errorf("version", "unsupported schema version %d (this k0rdent reads version %d)", c.Version, Version)
	}
	v.match("metadata.name", c.Metadata.Name, reName,
		"a cluster name prefix (1-20 lower-case letters, digits and hyphens, starting with a letter)")

	v.azure()
	v.network()
	v.cluster()

	if v.match("ssh.username", c.SSH.Username, reUsername, "a Linux user name (lower-case letters, digits, _ and -)") &&
		slices.Contains(reservedUsers, c.SSH.Username) {
		v.errorf("ssh.username", "%q is reserved by Azure (pick another name, e.g. k0rdent)", c.SSH.Username)
	}

	v.match("software.k0s.version", c.Software.K0s.Version, reK0sVersion, "a k0s version like v1.33.2+k0s.0")
	v.k0s()
	v.match("software.k0rdent.version", c.Software.K0rdent.Version, reSemver, "a chart version like 1.4.0")
	v.k0rdent()

	for _, p := range c.State.problems() {
		v.errorf(p.Path, "%s", p.Msg)
	}

	if tv := c.Terraform.Version; tv != "" {
		v.match("terraform.version", tv, reSemver, "a terraform version like 1.11.4")
	}

	t := c.Timeouts
	for _, d := range []struct {
		path string
		d    Duration
	}{
		{"timeouts.ssh_connect", t.SSHConnect},
		{"timeouts.vm_creation", t.VMCreation},
		{"timeouts.vm_check_interval", t.VMCheckInterval},
		{"timeouts.vpn_connect", t.VPNConnect},
		{"timeouts.k0s_install", t.K0sInstall},
		{"timeouts.k0rdent_install", t.K0rdentInstall},
		{"timeouts.verification_retry_delay", t.VerificationRetryDelay},
	} {
		v.positive(d.path, d.d)
	}
	if t.VerificationRetries < 0 {
		v.errorf("timeouts.verification_retries", "must be 0 or more, got %d", t.VerificationRetries)
	}

	v.vpn()

	// The optional sections only for a run they are on for: until the run
	// flags are known (Parse) a flag may still turn either off, or on.
	if v.final && on.WithAzureChildren {
		v.azureChildren()
	}
	if v.final && on.WithKOF {
		v.kof(on)
	}
	v.phases()
}

var reIfname = lazyRE(`^[A-Za-z0-9_.-]{1,15}$`)

func (v *validator) vpn() {
	n := v.c.VPN
	if !reIfname.MatchString(n.Interface) || n.Interface == "." || n.Interface == ".." {
		v.errorf("vpn.interface", "%q is not a Linux interface name (1-15 letters, digits, '.', '-' or '_', e.g. wg-k0rdent)", n.Interface)
	}
	switch n.Mode {
	case VPNModeAuto, VPNModeKernel, VPNModeUserspace:
	default:
		v.errorf("vpn.mode", "%q is not a mode (write auto, kernel or userspace)", n.Mode)
	}
	if n.SSHPort < 1 || n.SSHPort > 65535 {
		v.errorf("vpn.ssh_port", "must be a TCP port (1-65535), got %d", n.SSHPort)
	}
}

func (v *validator) location(path, s, fix string) {
	if v.required(path, s, fix) {
		v.match(path, s, reLocation, "an Azure region name like westus2 (lower-case, no spaces)")
	}
}

func (v *validator) vmSize(path, s string) {
	v.match(path, s, reVMSize, "an Azure VM size like Standard_D2s_v5")
}

func (v *validator) azure() {
	a := v.c.Azure
	v.location("azure.location", a.Location, "set azure.location to an Azure region, e.g. westus2")
	if a.SubscriptionID != "" {
		v.match("azure.subscription_id", a.SubscriptionID, reUUID, "a subscription id (a UUID; see `az account show`)")
	}
	if parts := strings.Split(a.VMImage, ":"); len(parts) != 4 || slices.Contains(parts, "") {
		v.errorf("azure.vm_image", "%q is not an image URN (write publisher:offer:sku:version, e.g. Debian:debian-12:12-gen2:latest)", a.VMImage)
	}
	switch a.VMPriority {
	case PriorityRegular:
		// The bash tool's own default file sets eviction_policy with
		// Regular VMs, so a migrated config has it: warn, do not refuse.
		if a.EvictionPolicy != "" {
			v.warnf("azure.eviction_policy", "ignored: only Spot VMs have an eviction policy (remove it, or set vm_priority: Spot)")
		}
	case PrioritySpot:
		if a.EvictionPolicy != EvictionDeallocate && a.EvictionPolicy != EvictionDelete {
			v.errorf("azure.eviction_policy", "%q is not an eviction policy (write Deallocate or Delete)", a.EvictionPolicy)
		}
	default:
		v.errorf("azure.vm_priority", "%q is not a VM priority (write Regular or Spot)", a.VMPriority)
	}
	if a.OSDiskSizeGB < 30 || a.OSDiskSizeGB > 4095 {
		v.errorf("azure.os_disk_size_gb", "%d is out of range (Azure OS disks are 30 to 4095 GB)", a.OSDiskSizeGB)
	}
	v.vmSize("vm_sizing.controller.size", v.c.VMSizing.Controller.Size)
	v.vmSize("vm_sizing.worker.size", v.c.VMSizing.Worker.Size)
}

// prefix parses an IPv4 CIDR, reporting a problem when it is not one.
func (v *validator) prefix(path, s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		v.errorf(path, "%q is not an IPv4 CIDR (write e.g. 10.0.0.0/16)", s)
		return netip.Prefix{}, false
	}
	if p.Masked() != p {
		v.errorf(path, "%q has host bits set (write %s)", s, p.Masked())
		return netip.Prefix{}, false
	}
	return p, true
}

func (v *validator) network() {
	n := v.c.Network
	vnet, okV := v.prefix("network.vnet_prefix", n.VNetPrefix)
	sub, okS := v.prefix("network.subnet_prefix", n.SubnetPrefix)
	wg, okW := v.prefix("network.wireguard_network", n.WireGuardNetwork)
	if okV && okS && (sub.Bits() < vnet.Bits() || !vnet.Contains(sub.Addr())) {
		v.errorf("network.subnet_prefix", "%s is not inside network.vnet_prefix %s (pick a subnet of the VNet)", sub, vnet)
	}
	if okV && okW && wg.Overlaps(vnet) {
		v.errorf("network.wireguard_network", "%s overlaps network.vnet_prefix %s (pick a separate range, e.g. 192.168.100.0/24)", wg, vnet)
	}
	if okW {
		hosts := max(v.c.Cluster.Controllers.Count, 0) + max(v.c.Cluster.Workers.Count, 0)
		if capacity := wgCapacity(wg); 1+hosts > capacity {
			bits := wg.Bits()
			for bits > 1 && wgCapacity(netip.PrefixFrom(wg.Addr(), bits)) < 1+hosts {
				bits--
			}
			v.errorf("network.wireguard_network", "%s holds %d addresses but the hub and %d hosts need %d (use a /%d or larger network)",
				wg, capacity, hosts, 1+hosts, bits)
		}
	}
	if n.WireGuardPort < 0 || n.WireGuardPort > 65535 {
		v.errorf("network.wireguard_port", "%d is not a port (write 1-65535, or 0 to pick one at random)", n.WireGuardPort)
	}
}

// wgCapacity is the number of usable host addresses in p: all but the
// network and broadcast addresses.
func wgCapacity(p netip.Prefix) int {
	free := 32 - p.Bits()
	if free >= 31 {
		return 1<<31 - 1
	}
	return max(1<<free-2, 0)
}

func (v *validator) cluster() {
	cl := v.c.Cluster
	if cl.Controllers.Count < 1 {
		v.errorf("cluster.controllers.count", "must be at least 1, got %d", cl.Controllers.Count)
	} else if cl.Controllers.Count > 1 && cl.Controllers.Count%2 == 0 {
		v.warnf("cluster.controllers.count", "%d controllers: an even count adds no fault tolerance to etcd (use %d or %d)",
			cl.Controllers.Count, cl.Controllers.Count-1, cl.Controllers.Count+1)
	}
	for _, g := range []struct {
		path  string
		count int
	}{{"cluster.controllers.count", cl.Controllers.Count}, {"cluster.workers.count", cl.Workers.Count}} {
		if g.count > maxGroup {
			v.errorf(g.path, "%d is more than %d VMs (a management cluster needs a handful; put workloads in azure_children clusters)", g.count, maxGroup)
		}
	}
	if cl.Workers.Count < 0 {
		v.errorf("cluster.workers.count", "must be 0 or more, got %d", cl.Workers.Count)
	} else if cl.Workers.Count == 0 {
		v.warnf("cluster.workers.count", "no workers: the controllers run the workloads")
	}
	v.zones("cluster.controllers", cl.Controllers)
	v.zones("cluster.workers", cl.Workers)
}

func (v *validator) zones(path string, g NodeGroup) {
	seen := map[int]bool{}
	for i, z := range g.Zones {
		p := fmt.Sprintf("%s.zones[%d]", path, i)
		switch {
		case z < 1 || z > 3:
			v.errorf(p, "zone %d does not exist (Azure zones are 1, 2 and 3)", z)
		case seen[z]:
			v.errorf(p, "zone %d is listed twice (list each zone once)", z)
		}
		seen[z] = true
	}
	if g.Count > 0 && len(g.Zones) > g.Count {
		v.warnf(path+".zones", "only the first %d of %d zones are used, one per host (list at most %d)", g.Count, len(g.Zones), g.Count)
	}
}

func (v *validator) azureChildren() {
	ac := v.c.AzureChildren
	v.match("azure_children.credential", ac.Credential, reDNSLabel, "a Kubernetes object name")
	v.match("azure_children.identity", ac.Identity, reDNSLabel, "a Kubernetes object name")
	v.match("azure_children.namespace", ac.Namespace, reDNSLabel, "a Kubernetes namespace name")
	if ac.Scope != "" && ac.Scope != ScopeSubscription && ac.Scope != ScopeResourceGroup {
		v.errorf("azure_children.scope", "%q is not a scope (want %s or %s)", ac.Scope, ScopeSubscription, ScopeResourceGroup)
	}
	first := map[string]int{}
	for i, cc := range ac.Clusters {
		p := fmt.Sprintf("azure_children.clusters[%d]", i)
		if v.required(p+".name", cc.Name, "name the child cluster, e.g. name: dev-1") &&
			v.match(p+".name", cc.Name, reDNSLabel, "a DNS label (lower-case letters, digits and hyphens)") {
			if j, dup := first[cc.Name]; dup {
				v.errorf(p+".name", "%q is also the name of azure_children.clusters[%d] (names must be unique)", cc.Name, j)
			} else {
				first[cc.Name] = i
			}
		}
		v.location(p+".location", cc.Location, "set a location or azure.location")
		v.required(p+".template", cc.Template, v.c.unknownTemplateFix(p+".template"))
		if cc.ControlPlaneCount < 1 {
			v.errorf(p+".cp_count", "must be at least 1, got %d", cc.ControlPlaneCount)
		}
		if cc.WorkerCount < 1 {
			v.errorf(p+".worker_count", "must be at least 1, got %d", cc.WorkerCount)
		}
		v.vmSize(p+".cp_instance_size", cc.ControlPlaneSize)
		v.vmSize(p+".worker_instance_size", cc.WorkerSize)
		if cc.RootVolumeSizeGB < 1 {
			v.errorf(p+".root_volume_size", "must be at least 1 (GB), got %d", cc.RootVolumeSizeGB)
		}
		if cc.ReadyTimeout < 0 {
			v.positive(p+".ready_timeout", cc.ReadyTimeout)
		}
		for _, k := range slices.Sorted(maps.Keys(cc.Labels)) {
			if !reLabelKey.MatchString(k) {
				v.errorf(p+".labels."+k, "%q is not a Kubernetes label key", k)
			}
			if !reLabelValue.MatchString(cc.Labels[k]) {
				v.errorf(p+".labels."+k, "%q is not a Kubernetes label value (63 characters of letters, digits, ., _ and -)", cc.Labels[k])
			}
		}
	}
}

func (v *validator) kof(on Flags) {
	k := v.c.KOF
	if v.match("kof.version", k.Version, reSemver, "a chart version like 1.1.0") {
		if _, err := KOFChartLayout(k.Version); err != nil {
			v.errorf("kof.version", "%v (set kof.version to one of them)", err)
		}
	}
	v.match("kof.istio.version", k.Istio.Version, reSemver, "a chart version like 1.1.0")
	v.match("kof.istio.namespace", k.Istio.Namespace, reDNSLabel, "a Kubernetes namespace name")
	v.match("kof.mothership.namespace", k.Mothership.Namespace, reDNSLabel, "a Kubernetes namespace name")
	v.required("kof.mothership.storage_class", k.Mothership.StorageClass, "write default to use the cluster's default StorageClass")
	if k.Mothership.InstallRetries < 0 {
		v.errorf("kof.mothership.install_retries", "must be 0 or more, got %d", k.Mothership.InstallRetries)
	}
	v.positive("kof.mothership.retry_delay", k.Mothership.RetryDelay)

	r := k.Regional
	if !r.Enabled {
		return
	}
	if v.required("kof.regional.domain", r.Domain, "set the regional cluster's DNS domain, e.g. kof.example.net") &&
		v.match("kof.regional.domain", r.Domain, reDNSName, "a DNS domain like kof.example.net") && isPlaceholder(r.Domain) {
		v.warnf("kof.regional.domain", "%q is a placeholder (set your own domain)", r.Domain)
	}
	if v.required("kof.regional.admin_email", r.AdminEmail, "set the address that receives certificate notices") &&
		v.match("kof.regional.admin_email", r.AdminEmail, reEmail, "an e-mail address") && isPlaceholder(r.AdminEmail) {
		v.warnf("kof.regional.admin_email", "%q is a placeholder (set your own address)", r.AdminEmail)
	}
	if r.ClusterName != "" {
		if v.match("kof.regional.cluster_name", r.ClusterName, reDNSLabel, "a DNS label (lower-case letters, digits and hyphens)") && on.WithAzureChildren {
			for i, cc := range v.c.AzureChildren.Clusters {
				if cc.Name == r.ClusterName {
					v.errorf("kof.regional.cluster_name", "%q is also azure_children.clusters[%d].name (rename one of them)", r.ClusterName, i)
				}
			}
		}
	}
	v.location("kof.regional.location", r.Location, "set kof.regional.location or azure.location")
	v.required("kof.regional.template", r.Template, v.c.unknownTemplateFix("kof.regional.template"))
	v.vmSize("kof.regional.cp_instance_size", r.ControlPlaneSize)
	v.vmSize("kof.regional.worker_instance_size", r.WorkerSize)
	if r.RootVolumeSizeGB < 1 {
		v.errorf("kof.regional.root_volume_size", "must be at least 1 (GB), got %d", r.RootVolumeSizeGB)
	}
	v.positive("kof.regional.ready_timeout", r.ReadyTimeout)
	// The regional cluster is an Azure child cluster: it is created with the
	// credentials azure_children sets up.
	if !on.WithAzureChildren && v.c.Decide(v.run, FlagWithAzureChildren).ByFlag {
		v.errorf("kof.regional", "the KOF regional cluster needs the Azure credentials of azure_children, which --with-azure-children=false turns off for this run (drop that flag, or set kof.regional.enabled: false)")
	} else if !on.WithAzureChildren {
		v.errorf("kof.regional", "the KOF regional cluster needs the Azure credentials of azure_children (set azure_children.enabled: true or run with --with-azure-children, or set kof.regional.enabled: false)")
	} else if r.Credential != v.c.AzureChildren.Credential {
		v.errorf("kof.regional.credential", "%q is not the credential azure_children creates, %q (make them equal, or remove kof.regional.credential)",
			r.Credential, v.c.AzureChildren.Credential)
	}
}

func isPlaceholder(s string) bool {
	for _, p := range placeholders {
		if s == p || strings.HasSuffix(s, "."+p) || strings.HasSuffix(s, "@"+p) {
			return true
		}
	}
	return false
}

func (v *validator) phases() {
	first := map[string]int{}
	for i, ph := range v.c.Phases {
		p := fmt.Sprintf("phases[%d]", i)
		if v.required(p+".name", ph.Name, "name the phase in kebab-case, e.g. name: smoke-test") &&
			v.match(p+".name", ph.Name, reKebab, "a kebab-case name (lower-case letters and digits joined by single hyphens)") {
			if j, dup := first[ph.Name]; dup {
				v.errorf(p+".name", "%q is also the name of phases[%d] (names must be unique)", ph.Name, j)
			} else {
				first[ph.Name] = i
			}
		}
		if len(ph.Command) == 0 {
			v.errorf(p+".command", "is required (write the argv as a list, e.g. command: [kubectl, get, nodes])")
		} else if strings.TrimSpace(ph.Command[0]) == "" {
			v.errorf(p+".command[0]", "the program is empty (name an executable)")
		}
		for _, k := range slices.Sorted(maps.Keys(ph.Env)) {
			if !reEnvKey.MatchString(k) {
				v.errorf(p+".env."+k, "%q is not an environment variable name (letters, digits and _, not starting with a digit)", k)
			} else if strings.HasPrefix(strings.ToUpper(k), "K0RDENT_") {
				v.errorf(p+".env."+k, "K0RDENT_ variables are set by k0rdent itself (rename %s)", k)
			} else if reSecretyName.MatchString(k) {
				v.warnf(p+".env."+k, "looks like a secret: config values are not secret (export it in the environment of k0rdent instead; command phases inherit it)")
			}
		}
		seen := map[string]bool{}
		for j, dep := range ph.DependsOn {
			dp := fmt.Sprintf("%s.depends_on[%d]", p, j)
			switch {
			case !reDependency.MatchString(dep):
				v.errorf(dp, "%q is not a phase name (kebab-case, or azure-children/<cluster>)", dep)
			case dep == ph.Name:
				v.errorf(dp, "a phase cannot depend on itself (remove %q)", dep)
			case seen[dep]:
				v.errorf(dp, "%q is listed twice (list each dependency once)", dep)
			}
			seen[dep] = true
		}
		if _, err := ParseCondition(ph.When); err != nil {
			v.errorf(p+".when", "%v", err)
		}
		v.positive(p+".timeout", ph.Timeout)
		if ph.Retries < 0 || ph.Retries > 10 {
			v.errorf(p+".retries", "%d is out of range (write 0 to 10)", ph.Retries)
		}
	}
}
