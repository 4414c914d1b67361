package phases

// Builtin returns a new registry holding the built-in k0rdent phases. Each
// call returns a new registry that the caller may extend (see
// examples/thirdparty). The built-in phases are listed in builtinPlugins,
// one line each, in graph order; a phase lands there only when it is real,
// never as a placeholder. Its optional components (--with-kof,
// --with-azure-children) are declared in builtinComponents, which every
// registry has.
func Builtin() *Registry {
	r := NewRegistry()
	proj := builtinProjections()
	for _, p := range builtinPlugins() {
		p.Projects = proj[p.Name]
		r.RegisterPlugin(p)
	}
	return r
}

func builtinPlugins() []Plugin {
	return []Plugin{
		// One line per built-in phase, in graph order.
		wireguardPlugin(),
		terraformPlugin(),
		vpnPlugin(),
		k0sPlugin(),
		k0rdentPlugin(),
		azureChildrenPlugin(),
		kofPlugin(),
	}
}

// builtinProjections declares, per built-in node, the facts of the
// deployment snapshot (runtime.yaml: state's Fact* names) it provides and
// from which of its outputs. It is the only place that ties a node or an
// output to runtime.yaml.
func builtinProjections() map[string]map[string]string {
	return map[string]map[string]string{
		WireGuardName: {"wireguard.peers": WireGuardOutputPeers, "wireguard.port": WireGuardOutputPort, "wireguard.network": WireGuardOutputNetwork},
		VPNName:       {"vpn.status": VPNOutputStatus, "vpn.interface": VPNOutputInterface, "vpn.handshake": VPNOutputHandshake},
		TerraformName: {"terraform": "*", "cluster_id": TerraformOutputClusterID},
		K0sName:       {"kubeconfig": K0sOutputKubeconfig},
		// What the bash tool left of these, handed to their Destroy
		// under the key, which it sets once it removed it.
		AzureChildrenName: {"legacy.service_principal": AzureOutputLegacyServicePrincipal},
		KOFName:           {"legacy.kof": KOFOutputLegacy},
	}
}
