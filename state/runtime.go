package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// The built-in nodes and their outputs, as legacy migration synthesizes
// them and as run files without a projects: declaration are projected
// (defaultProjections). Project itself reads the run's declaration.
const (
	NodeWireGuard = "wireguard"
	NodeTerraform = "terraform"
	NodeVPN       = "vpn"
	NodeK0s       = "k0s"

	// wireguard outputs
	OutputPeers   = "peers"   // JSON array of Peer
	OutputPort    = "port"    // listen port, decimal
	OutputNetwork = "network" // CIDR
	// vpn outputs
	OutputVPNStatus    = "status"     // connected | disconnected | unverified
	OutputVPNInterface = "interface"  // the operator's device
	OutputVPNHandshake = "handshake." // + peer name: RFC 3339 time of its last handshake
	// terraform output
	OutputClusterID = "cluster_id" // the id Azure resources are named after; wins over the header's
	// k0s output
	OutputKubeconfig = "kubeconfig" // path under secrets/
)

// VPN statuses.
const (
	VPNConnected    = "connected"
	VPNDisconnected = "disconnected"
	VPNUnverified   = "unverified"
)

func validVPNStatus(s string) bool {
	return s == VPNConnected || s == VPNDisconnected || s == VPNUnverified
}

// Runtime is runtime.yaml: the current snapshot, nothing historical.
type Runtime struct {
	Format            int               `yaml:"format"`
	ClusterID         string            `yaml:"cluster_id,omitempty"`
	CurrentRunID      string            `yaml:"current_run_id,omitempty"`
	CurrentOutcome    Outcome           `yaml:"current_outcome,omitempty"` // "" while unfinished
	LastSuccessfulRun string            `yaml:"last_successful_run,omitempty"`
	Flags             map[string]bool   `yaml:"flags,omitempty"`
	WireGuard         *WireGuard        `yaml:"wireguard,omitempty"`
	VPN               *VPNStatus        `yaml:"vpn,omitempty"`
	Terraform         map[string]string `yaml:"terraform,omitempty"` // output references
	Kubeconfig        string            `yaml:"kubeconfig,omitempty"`
	// Legacy: what the legacy bash tool created that no node of ours
	// manages (from a migration), so that status shows it and reset
	// removes it.
	Legacy  *LegacyResources `yaml:"legacy,omitempty"`
	Updated time.Time        `yaml:"updated"`
}

// LegacyResources are the resources and files of a migrated legacy
// deployment that outlive the nodes of our graph: the VMs' admin SSH key,
// and the Azure service principal and KOF installation the legacy state
// still records as existing, even after a later legacy run without them.
type LegacyResources struct {
	// SSHKey is the VMs' admin key (azure-resources/<id>-ssh-key),
	// copied under secrets/.
	SSHKey           string                  `yaml:"ssh_key,omitempty" json:"ssh_key,omitempty"`
	ServicePrincipal *LegacyServicePrincipal `yaml:"service_principal,omitempty" json:"service_principal,omitempty"`
	KOF              *LegacyKOFInstall       `yaml:"kof,omitempty" json:"kof,omitempty"`
}

// LegacyServicePrincipal is the Azure service principal the legacy tool's
// setup_azure_children created (identifiers only; the secret stays in
// CredentialsFile).
type LegacyServicePrincipal struct {
	Name            string `yaml:"name,omitempty" json:"name,omitempty"`
	SubscriptionID  string `yaml:"subscription_id,omitempty" json:"subscription_id,omitempty"`
	TenantID        string `yaml:"tenant_id,omitempty" json:"tenant_id,omitempty"`
	ClientID        string `yaml:"client_id,omitempty" json:"client_id,omitempty"`
	CredentialsFile string `yaml:"credentials_file,omitempty" json:"credentials_file,omitempty"`
}

// LegacyKOFInstall is the KOF installation of the legacy tool.
type LegacyKOFInstall struct {
	Mothership         bool   `yaml:"mothership,omitempty" json:"mothership,omitempty"`
	MothershipVersion  string `yaml:"mothership_version,omitempty" json:"mothership_version,omitempty"`
	Namespace          string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	AzureCSI           bool   `yaml:"azure_csi,omitempty" json:"azure_csi,omitempty"`
	RegionalCluster    string `yaml:"regional_cluster,omitempty" json:"regional_cluster,omitempty"`
	RegionalVersion    string `yaml:"regional_version,omitempty" json:"regional_version,omitempty"`
	RegionalDomain     string `yaml:"regional_domain,omitempty" json:"regional_domain,omitempty"`
	RegionalKubeconfig string `yaml:"regional_kubeconfig,omitempty" json:"regional_kubeconfig,omitempty"` // under secrets/
}

func (l *LegacyResources) clone() *LegacyResources {
	if l == nil {
		return nil
	}
	c := *l
	if l.ServicePrincipal != nil {
		sp := *l.ServicePrincipal
		c.ServicePrincipal = &sp
	}
	if l.KOF != nil {
		k := *l.KOF
		c.KOF = &k
	}
	return &c
}

func (l *LegacyResources) empty() bool {
	return l == nil || l.SSHKey == "" && l.ServicePrincipal == nil && l.KOF == nil
}

// Handover is what a teardown hands the node that declares fact
// (FactLegacyServicePrincipal, FactLegacyKOF) under its key in
// Env.Recorded: the legacy thing as JSON (its json names); ok is false
// when there is none.
func (l *LegacyResources) Handover(fact string) (string, bool) {
	var v any
	switch {
	case l == nil:
		return "", false
	case fact == FactLegacyServicePrincipal && l.ServicePrincipal != nil:
		v = l.ServicePrincipal
	case fact == FactLegacyKOF && l.KOF != nil:
		v = l.KOF
	default:
		return "", false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", false // plain strings and bools: cannot fail
	}
	return string(b), true
}

// Leftover is something the legacy tool created that runtime.yaml still
// lists as existing, and how to remove it by hand.
type Leftover struct {
	Fact string `json:"fact"` // FactLegacyServicePrincipal or FactLegacyKOF
	What string `json:"what"`
	Fix  string `json:"fix"` // the commands that remove it
}

// Leftovers lists the service principal and the KOF installation still
// listed (the SSH key is listed while the VMs exist; nothing to do by
// hand).
func (l *LegacyResources) Leftovers() []Leftover {
	if l == nil {
		return nil
	}
	var out []Leftover
	if sp := l.ServicePrincipal; sp != nil {
		what := "the legacy tool's Azure service principal " + sp.Name
		fix := "az ad app delete --id " + sp.ClientID
		if sp.ClientID == "" {
			fix = "az ad app delete --id $(az ad app list --display-name " + sp.Name + " --query '[0].appId' -o tsv)"
		} else {
			what += " (client id " + sp.ClientID + ")"
		}
		if sp.CredentialsFile != "" {
			fix += "; rm " + sp.CredentialsFile
		}
		out = append(out, Leftover{Fact: FactLegacyServicePrincipal, What: what, Fix: fix})
	}
	if k := l.KOF; k != nil {
		var what, fix []string
		if k.RegionalCluster != "" {
			what = append(what, "regional cluster "+k.RegionalCluster)
			fix = append(fix, "kubectl -n kcm-system delete clusterdeployment "+k.RegionalCluster+
				" (once the management cluster is gone: az group delete --name "+k.RegionalCluster+")")
		}
		if k.Mothership {
			ns := k.Namespace
			if ns == "" {
				ns = "kof"
			}
			what = append(what, "mothership "+k.MothershipVersion+" in namespace "+ns)
			fix = append(fix, "helm uninstall -n "+ns+" kof-mothership kof-operators", "helm uninstall -n istio-system kof-istio")
		}
		if k.AzureCSI {
			what = append(what, "Azure Disk CSI manifests in kube-system (they go with the management cluster)")
		}
		out = append(out, Leftover{Fact: FactLegacyKOF, What: "the legacy tool's KOF: " + strings.Join(what, ", "), Fix: strings.Join(fix, "; ")})
	}
	return out
}

// WireGuard is the overlay network as far as runtime.yaml knows it. Private
// keys live in secrets/ only.
type WireGuard struct {
	Port    int    `yaml:"port,omitempty" json:"port,omitempty"`
	Network string `yaml:"network,omitempty" json:"network,omitempty"`
	Peers   []Peer `yaml:"peers,omitempty" json:"peers,omitempty"`
}

// Peer is one WireGuard peer. The JSON names are those of the wireguard
// node's peers output.
type Peer struct {
	Name      string `yaml:"name" json:"name"`
	Address   string `yaml:"address" json:"address"`
	PublicKey string `yaml:"public_key" json:"public_key"`
	Endpoint  string `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	Role      string `yaml:"role,omitempty" json:"role,omitempty"`
}

// VPNStatus is the operator-side tunnel as last checked.
type VPNStatus struct {
	Status string `yaml:"status"`
	// Checked is when the status was checked; zero (left out) while
	// unverified.
	Checked   time.Time `yaml:"checked,omitempty"`
	Interface string    `yaml:"interface,omitempty"`
	// Peers are the VMs with their last handshake as of Checked, sorted by
	// name; only a connected check lists them.
	Peers []VPNPeer `yaml:"peers,omitempty"`
}

// VPNPeer is one VM's WireGuard handshake as the vpn node last saw it.
type VPNPeer struct {
	Name          string    `yaml:"name"`
	LastHandshake time.Time `yaml:"last_handshake"`
}

// vpnStatus projects a succeeded vpn record: its status (connected when
// absent), interface, and one peer per handshake.<peer> output (an
// unparsable time is left out).
func vpnStatus(rec Record, statusKey, ifaceKey, handshakePrefix string) *VPNStatus {
	st := rec.Outputs[statusKey]
	if st == "" {
		st = VPNConnected
	}
	v := &VPNStatus{Status: st, Checked: rec.Time.UTC(), Interface: rec.Outputs[ifaceKey]}
	if st == VPNUnverified {
		v.Checked = time.Time{} // nobody checked it (a migrated tunnel)
	}
	for _, k := range slices.Sorted(maps.Keys(rec.Outputs)) {
		name, ok := strings.CutPrefix(k, handshakePrefix)
		if !ok || name == "" || handshakePrefix == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, rec.Outputs[k])
		if err != nil {
			continue
		}
		v.Peers = append(v.Peers, VPNPeer{Name: name, LastHandshake: t.UTC()})
	}
	return v
}

// Project returns the runtime after run, given the runtime before it
// (prev, may be nil). It is pure, and it is the only way runtime.yaml is
// computed: live after every append, and by RebuildRuntime folding all
// runs oldest first. It is idempotent over prefixes of a run:
// Project(Project(b, prefix), run) == Project(b, run), which lets a
// resumed run start from a runtime.yaml that already shows its prefix.
//
// For each projected node, the latest record of the run that decides it
// wins: succeeded sets the node's facts from its outputs, skipped clears
// them (a disabled node leaves nothing behind); for vpn, failed also
// decides (disconnected). A node without such a record in this run keeps
// prev's facts.
func Project(prev *Runtime, run *RunFile) *Runtime {
	rt := &Runtime{Format: FormatVersion}
	if prev != nil {
		rt.ClusterID = prev.ClusterID
		rt.LastSuccessfulRun = prev.LastSuccessfulRun
		if prev.WireGuard != nil {
			wg := *prev.WireGuard
			wg.Peers = append([]Peer(nil), wg.Peers...)
			rt.WireGuard = &wg
		}
		if prev.VPN != nil {
			v := *prev.VPN
			v.Peers = slices.Clone(v.Peers)
			rt.VPN = &v
		}
		rt.Terraform = maps.Clone(prev.Terraform)
		rt.Kubeconfig = prev.Kubeconfig
		rt.Legacy = prev.Legacy.clone()
	}
	if run == nil {
		return rt
	}
	h := run.Header
	if h.ClusterID != "" && rt.ClusterID == "" {
		rt.ClusterID = h.ClusterID // a known id (terraform's, migrated) is kept
	}
	if h.Migrated && h.Legacy != nil {
		rt.Legacy = h.Legacy.clone()
	}
	rt.CurrentRunID = h.RunID
	rt.CurrentOutcome = run.Outcome
	if run.Succeeded() && !h.Teardown {
		rt.LastSuccessfulRun = h.RunID
	}
	rt.Flags = maps.Clone(run.Flags)
	rt.Updated = run.LastTime().UTC()
	if h.Teardown {
		projectTeardown(rt, run)
		return rt
	}

	provides := run.projections()
	decide := func(fact string) (Record, string, bool) {
		p, ok := provides[fact]
		if !ok {
			return Record{}, "", false
		}
		m := run.determining
		if fact == FactVPNStatus {
			m = run.decidedFail // a failed vpn node decides: disconnected
		}
		i, ok := m[p.node]
		if !ok {
			return Record{}, "", false
		}
		return run.Records[i], p.key, true
	}
	key := func(fact string) string { return provides[fact].key }
	if rec, k, ok := decide(FactWireGuardPeers); ok {
		rt.WireGuard = nil
		if rec.To == workflow.Succeeded {
			wg := &WireGuard{Network: rec.Outputs[key(FactWireGuardNetwork)]}
			wg.Port, _ = strconv.Atoi(rec.Outputs[key(FactWireGuardPort)])
			if v, ok := rec.Outputs[k]; ok {
				wg.Peers, _ = parsePeers(v) // validated when recorded
			}
			rt.WireGuard = wg
		}
	}
	if rec, _, ok := decide(FactVPNStatus); ok {
		switch rec.To {
		case workflow.Succeeded:
			rt.VPN = vpnStatus(rec, key(FactVPNStatus), key(FactVPNInterface), key(FactVPNHandshake))
		case workflow.Failed:
			rt.VPN = &VPNStatus{Status: VPNDisconnected, Checked: rec.Time.UTC()}
		default:
			rt.VPN = nil
		}
	}
	if rec, _, ok := decide(FactTerraform); ok {
		rt.Terraform = nil
		if rec.To == workflow.Succeeded && len(rec.Outputs) > 0 {
			rt.Terraform = maps.Clone(rec.Outputs)
		}
	}
	if rec, k, ok := decide(FactClusterID); ok && rec.To == workflow.Succeeded {
		if id := rec.Outputs[k]; id != "" {
			rt.ClusterID = id
		}
	}
	if rec, k, ok := decide(FactKubeconfig); ok {
		rt.Kubeconfig = ""
		if rec.To == workflow.Succeeded {
			rt.Kubeconfig = rec.Outputs[k]
		}
	}
	return rt
}

// projectTeardown clears the facts of the nodes a teardown run destroyed
// (a succeeded record is a finished Destroy): the WireGuard peers, the
// Terraform references, the kubeconfig; the VPN is disconnected as of the
// record. A node whose Destroy failed or did not run keeps its facts.
func projectTeardown(rt *Runtime, run *RunFile) {
	provides := run.projections()
	destroyedNode := func(node string) (Record, bool) {
		i, ok := run.determining[node]
		if !ok || run.Records[i].To != workflow.Succeeded {
			return Record{}, false
		}
		return run.Records[i], true
	}
	destroyed := func(fact string) (Record, bool) { return destroyedNode(provides[fact].node) }
	if _, ok := destroyed(FactWireGuardPeers); ok {
		rt.WireGuard = nil
	}
	if _, ok := destroyed(FactTerraform); ok {
		rt.Terraform = nil
	}
	if _, ok := destroyed(FactKubeconfig); ok {
		rt.Kubeconfig = ""
	}
	if l := rt.Legacy; l != nil {
		// What the legacy tool created outlives our nodes. It is gone
		// only when the teardown of the node declaring it says it
		// removed it (its succeeded record sets the declared key): a
		// Destroy that did not know of it, could not find it, or failed
		// leaves it listed.
		removed := func(fact string) bool {
			p, ok := provides[fact]
			if !ok {
				return false
			}
			rec, ok := destroyedNode(p.node)
			return ok && rec.Outputs[p.key] != ""
		}
		if removed(FactLegacyServicePrincipal) {
			l.ServicePrincipal = nil
		}
		if removed(FactLegacyKOF) {
			l.KOF = nil
		}
		// The SSH key is a file under secrets/ whose only use is the
		// VMs: it is listed until the VMs are destroyed.
		if _, ok := destroyed(FactTerraform); ok {
			l.SSHKey = ""
		}
		if l.empty() {
			rt.Legacy = nil
		}
	}
	if rec, ok := destroyed(FactVPNStatus); ok {
		rt.VPN = &VPNStatus{Status: VPNDisconnected, Checked: rec.Time.UTC()}
	}
}

// ReadRuntime reads runtime.yaml. A missing file is ErrNotFound.
func (s *Store) ReadRuntime() (*Runtime, error) {
	data, err := s.b.ReadRuntime(s.ctx())
	if err != nil {
		return nil, err
	}
	var rt Runtime
	if err := yaml.Unmarshal(data, &rt); err != nil {
		return nil, fmt.Errorf("read runtime %s: %w; it is a projection of the run files: delete it and run any k0rdent command to rebuild it", s.runtimeName(), err)
	}
	if rt.Format > FormatVersion {
		return nil, fmt.Errorf("read runtime %s: %w %d (this k0rdent reads up to %d): upgrade k0rdent", s.runtimeName(), ErrUnsupportedFormat, rt.Format, FormatVersion)
	}
	return &rt, nil
}

// runtimeName names runtime.yaml in messages: its path locally.
func (s *Store) runtimeName() string {
	if s.local != nil {
		return s.local.RuntimePath()
	}
	return s.Location() + "/" + RuntimeFile
}

// readRuntimeBase is the runtime a run's live updates start from: the
// projection as the run files say it is (Current), so that a runtime.yaml
// left behind the newest run file (its tail was not rewritten, by design
// or by a kill) is caught up first; nil when there is nothing yet.
func (s *Store) readRuntimeBase() (*Runtime, error) {
	rt, err := s.Current()
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return rt, err
}

// foldRuns folds Project over every run file, oldest first; nil if there
// is none. A run file's valid prefix counts even if it is torn or corrupt.
func (s *Store) foldRuns() (*Runtime, error) {
	ids, err := s.runIDs()
	if err != nil {
		return nil, err
	}
	var rt *Runtime
	for _, id := range ids {
		rf, err := s.Load(id)
		if err != nil {
			return nil, fmt.Errorf("rebuild runtime: %w", err)
		}
		if !rf.hasHeader {
			continue
		}
		rt = Project(rt, rf)
	}
	return rt, nil
}

// WriteRuntime replaces runtime.yaml atomically.
func (s *Store) WriteRuntime(rt *Runtime) error {
	if rt.Format == 0 {
		c := *rt
		c.Format = FormatVersion
		rt = &c
	}
	data, err := encodeRuntime(rt)
	if err != nil {
		return err
	}
	return s.b.WriteRuntime(s.ctx(), data)
}

// encodeRuntime is runtime.yaml's content.
func encodeRuntime(rt *Runtime) ([]byte, error) {
	if rt.Format == 0 {
		c := *rt
		c.Format = FormatVersion
		rt = &c
	}
	data, err := yaml.Marshal(rt)
	if err != nil {
		return nil, fmt.Errorf("encode runtime: %w", err)
	}
	return data, nil
}

// RebuildRuntime recomputes runtime.yaml from the run files, folding
// Project over them oldest first, writes it and returns it. A run file's
// valid prefix counts even if the file is torn or corrupt.
func (s *Store) RebuildRuntime() (*Runtime, error) {
	rt, err := s.foldRuns()
	if err != nil {
		return nil, err
	}
	if rt == nil {
		rt = &Runtime{Format: FormatVersion}
	}
	if err := s.WriteRuntime(rt); err != nil {
		return nil, err
	}
	return rt, nil
}
