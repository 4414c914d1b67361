package state

import "strings"

// Facts of runtime.yaml that phases fill from their outputs. A phase
// declares which of them it provides and from which output key (in the
// phases registry; the run header keeps the declaration as projects:
// node -> [fact=key, …]), so that state spells no node name and no output
// key of its own.
const (
	FactWireGuardPeers   = "wireguard.peers"   // JSON array of Peer
	FactWireGuardPort    = "wireguard.port"    // listen port, decimal
	FactWireGuardNetwork = "wireguard.network" // CIDR
	FactVPNStatus        = "vpn.status"        // connected | disconnected | unverified
	FactVPNInterface     = "vpn.interface"     // the operator's device
	FactVPNHandshake     = "vpn.handshake"     // key prefix; + peer name: RFC 3339 time of its last handshake
	FactTerraform        = "terraform"         // key "*": every output is a Terraform reference
	FactClusterID        = "cluster_id"        // the id Azure resources are named after; wins over the header's
	FactKubeconfig       = "kubeconfig"        // path under secrets/

	// What a migrated deployment's legacy tool created that no run of
	// ours recorded (runtime.yaml's legacy). The node declaring one is
	// handed it, as JSON of the Legacy* type, under its key in
	// Env.Recorded when a teardown destroys it (LegacyResources.Handover);
	// its succeeded teardown record sets the key (to what it removed)
	// only once the thing is gone, and only that clears the fact.
	FactLegacyServicePrincipal = "legacy.service_principal"
	FactLegacyKOF              = "legacy.kof"
)

// facts are the known facts, in the order runtime.yaml is built.
var facts = []string{FactWireGuardPeers, FactWireGuardPort, FactWireGuardNetwork, FactVPNStatus, FactVPNInterface,
	FactVPNHandshake, FactTerraform, FactClusterID, FactKubeconfig, FactLegacyServicePrincipal, FactLegacyKOF}

// Projection is what one node provides: fact -> output key.
type Projection map[string]string

// EncodeProjections is the header form of per-node projections: node ->
// sorted "fact=key" entries; unknown facts are dropped.
func EncodeProjections(byNode map[string]Projection) map[string][]string {
	out := map[string][]string{}
	for node, p := range byNode {
		for _, f := range facts {
			if k, ok := p[f]; ok {
				out[node] = append(out[node], f+"="+k)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// defaultProjections is the declaration of run files written before
// headers carried one (format 1 files without projects:, migrated runs):
// the built-in phases' as they were then.
var defaultProjections = map[string][]string{
	NodeWireGuard: {FactWireGuardPeers + "=" + OutputPeers, FactWireGuardPort + "=" + OutputPort, FactWireGuardNetwork + "=" + OutputNetwork},
	NodeVPN:       {FactVPNStatus + "=" + OutputVPNStatus, FactVPNInterface + "=" + OutputVPNInterface, FactVPNHandshake + "=" + OutputVPNHandshake},
	NodeTerraform: {FactTerraform + "=*", FactClusterID + "=" + OutputClusterID},
	NodeK0s:       {FactKubeconfig + "=" + OutputKubeconfig},
}

// provider is who provides a fact in a run: node and output key.
type provider struct{ node, key string }

// projections decodes the run's declaration (the header's, or the
// default for files without one): fact -> provider.
func (rf *RunFile) projections() map[string]provider {
	if rf.provides != nil {
		return rf.provides
	}
	decl := rf.Header.Projects
	if decl == nil {
		decl = defaultProjections
	}
	rf.provides = map[string]provider{}
	for node, entries := range decl {
		for _, e := range entries {
			f, k, ok := strings.Cut(e, "=")
			if ok {
				rf.provides[f] = provider{node: node, key: k}
			}
		}
	}
	return rf.provides
}

// Projects reports whether the records of node decide facts of
// runtime.yaml in this run: the recorder rewrites runtime.yaml after such
// a node finishes, and only then between a run's start and its outcome.
func (rf *RunFile) Projects(node string) bool {
	for _, p := range rf.projections() {
		if p.node == node {
			return true
		}
	}
	return false
}

// Projects reports whether node's records decide facts of runtime.yaml
// (RunFile.Projects).
func (r *Run) Projects(node string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rf.Projects(node)
}
