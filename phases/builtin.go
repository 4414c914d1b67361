package phases

// Builtin returns a new registry holding the built-in k0rdent phases. Each
// call returns a new registry that the caller may extend (see
// examples/thirdparty). The built-in phases are listed in builtinPlugins,
// one line each, in graph order; a phase lands there only when it is real,
// never as a placeholder.
func Builtin() *Registry {
	r := NewRegistry()
	for _, p := range builtinPlugins() {
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
