package phases

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/k0rdent/k0rdent-deploy/config"
)

// What each built-in phase reads (day two: see Inputs). A declaration
// lists the config that changes the phase's work (not timeouts or retry
// delays, which change how long it may take), and the version of its
// behaviour: the k0rdent version in which the same inputs last started to
// make it do something different. Bump a phase's version with such a
// change, and a succeeded deployment runs the phase again on its next run.
const (
	wireguardBehaviour     = "v0.1.0"
	terraformBehaviour     = "v0.1.0"
	vpnBehaviour           = "v0.1.0"
	k0sBehaviour           = "v0.1.0"
	k0rdentBehaviour       = "v0.1.0"
	azureChildrenBehaviour = "v0.1.0"
	kofBehaviour           = "v0.1.0"
	commandBehaviour       = "v0.1.0" // how a command phase is run
)

var (
	_ InputsDeclarer = (*WireGuard)(nil)
	_ InputsDeclarer = (*Terraform)(nil)
	_ InputsDeclarer = (*VPN)(nil)
	_ InputsDeclarer = (*K0s)(nil)
	_ InputsDeclarer = (*K0rdent)(nil)
	_ InputsDeclarer = (*AzureChildren)(nil)
	_ InputsDeclarer = (*AzureChild)(nil)
	_ InputsDeclarer = (*KOF)(nil)
	_ InputsDeclarer = (*Command)(nil)
)

// Inputs: the address plan and the hosts it numbers.
func (*WireGuard) Inputs(*config.Config) Inputs {
	return Inputs{Version: wireguardBehaviour,
		Config: []string{"network.wireguard_network", "network.wireguard_port", "cluster.controllers", "cluster.workers", "metadata.name"}}
}

// Inputs: the whole Azure infrastructure, and the SSH key by content.
func (p *Terraform) Inputs(cfg *config.Config) Inputs {
	in := Inputs{Version: terraformBehaviour,
		Config: []string{"metadata", "azure", "network.vnet_prefix", "network.subnet_prefix", "network.wireguard_port", "vm_sizing", "cluster.controllers", "cluster.workers", "ssh", "terraform"}}
	if cfg != nil && cfg.SSH.KeyPath != "" {
		in.Files = []string{cfg.SSH.KeyPath}
	}
	return in
}

// Inputs: the operator's device (volatile: it runs on every run anyway).
func (*VPN) Inputs(*config.Config) Inputs {
	return Inputs{Version: vpnBehaviour, Config: []string{"vpn", "network.wireguard_network"}}
}

// Inputs: the k0s cluster spec and how k0sctl reaches the hosts.
func (*K0s) Inputs(*config.Config) Inputs {
	return Inputs{Version: k0sBehaviour, Config: []string{"software.k0s", "cluster.controllers", "cluster.workers", "ssh.username", "vpn.ssh_port"}}
}

// Inputs: the KCM chart and its Management object.
func (*K0rdent) Inputs(*config.Config) Inputs {
	return Inputs{Version: k0rdentBehaviour, Config: []string{"software.k0rdent"}}
}

// Inputs: the service principal and the k0rdent Credential, not the
// clusters (each is its own node).
func (*AzureChildren) Inputs(*config.Config) Inputs {
	return Inputs{Version: azureChildrenBehaviour, Config: []string{"metadata.name", "azure.subscription_id",
		"azure_children.credential", "azure_children.identity", "azure_children.namespace", "azure_children.scope"}}
}

// Inputs: its own element of azure_children.clusters, found by name.
func (p *AzureChild) Inputs(cfg *config.Config) Inputs {
	in := Inputs{Version: azureChildrenBehaviour, Config: []string{"azure_children.namespace"}}
	if cfg != nil {
		if i := slices.IndexFunc(cfg.AzureChildren.Clusters, func(c config.ChildCluster) bool { return c.Name == p.cluster.Name }); i >= 0 {
			in.Config = append(in.Config, fmt.Sprintf("azure_children.clusters[%d]", i))
		}
	}
	return in
}

// Inputs: the KOF section and what names its clusters.
func (*KOF) Inputs(*config.Config) Inputs {
	return Inputs{Version: kofBehaviour, Config: []string{"kof", "metadata.name", "azure.location", "azure_children.namespace"}}
}

// Inputs: its command, env and input files (its own element of phases:,
// found by name; the digest holds values, so moving it in the list
// changes nothing).
func (c *Command) Inputs(cfg *config.Config) Inputs {
	in := Inputs{Version: commandBehaviour}
	if cfg != nil {
		if i := slices.IndexFunc(cfg.Phases, func(p config.CommandPhase) bool { return p.Name == c.spec.Name }); i >= 0 {
			p := fmt.Sprintf("phases[%d]", i)
			in.Config = []string{p + ".command", p + ".env", p + ".inputs"}
		}
	}
	if in.Config == nil { // not from this config (built in Go): by value
		in.Version += fmt.Sprintf(" %q %q", c.spec.Command, sortedEnv(c.spec.Env))
	}
	for _, f := range c.spec.Inputs {
		if !filepath.IsAbs(f) && c.spec.Dir != "" {
			f = filepath.Join(c.spec.Dir, f)
		}
		in.Files = append(in.Files, f)
	}
	return in
}

func sortedEnv(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
