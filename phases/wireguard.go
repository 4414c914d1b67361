package phases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
	"github.com/k0rdent/k0rdent-deploy/workflow"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// WireGuardName is the wireguard node's name: the journal key.
const WireGuardName = "wireguard"

// Outputs of the wireguard node (the peers, port and network outputs are
// the ones state projects into runtime.yaml).
const (
	WireGuardOutputPeers      = "peers"       // JSON array of {name,address,public_key,role}: hub, controllers, workers
	WireGuardOutputPort       = "port"        // the VMs' UDP listen port, decimal
	WireGuardOutputNetwork    = "network"     // the WireGuard network, CIDR
	WireGuardOutputHubAddress = "hub_address" // the operator's address in it
	WireGuardOutputKeysDir    = "keys_dir"    // <secrets>/wireguard
	// WireGuardOutputInterface is the operator's device name a migrated
	// deployment keeps (the vpn node uses it over vpn.interface).
	WireGuardOutputInterface = "interface"
	// WireGuardOutputCloudInit + <vm> is the path of that VM's cloud-init
	// document, under secrets/ (it holds the VM's private key).
	WireGuardOutputCloudInit = "cloud_init."
)

// legacyHubName is what the bash tool called the hub; a migrated
// deployment keeps that key as the operator's.
const legacyHubName = "mylaptop"

func wireguardPlugin() Plugin {
	return Plugin{
		Name:        WireGuardName,
		Description: "WireGuard address plan, keys (generated once, kept), listen port and a cloud-init document per VM",
		Factory: func(bc BuildContext) ([]workflow.Phase, error) {
			return []workflow.Phase{newWireGuard(bc)}, nil
		},
	}
}

// WireGuard is the wireguard node: it plans the addresses, creates or
// reuses every peer's key and the listen port, and renders each VM's
// cloud-init document under secrets/. It is pure local work: nothing
// remote exists yet when it runs. A deployment migrated from the legacy
// bash tool keeps its own settings (providers/wireguard.Settings, written
// by the migration): the hub keeps its name and address, every VM its
// address, the operator's device its name (output interface, which the
// vpn node uses), and the listen port and keys are those of the legacy
// deployment; Verify passes on such a state as long as it matches the
// recorded peers (cloud-init documents are rendered on the next run: the
// VMs were built from the legacy tool's).
//
// The hub's private key is never needed here, only its public key
// (hubPublic): a new deployment's hub key is the first operator's own key,
// generated in its own directory (Dirs.Operator), never under the shared
// secrets; another operator re-running this node takes the hub's public
// key from the journal and renders the same documents.
type WireGuard struct {
	network    string
	port       int // network.wireguard_port; 0: random, chosen once
	hosts      []wireguard.Host
	secretsDir string // from BuildContext.Dirs; Env.SecretsDir when empty
	intN       func(int) int
	op         Operator // from BuildContext.Dirs: where a new hub's key is kept
}

var (
	_ workflow.Phase     = (*WireGuard)(nil)
	_ workflow.Describer = (*WireGuard)(nil)
	_ workflow.Verifier  = (*WireGuard)(nil)
	_ workflow.Destroyer = (*WireGuard)(nil)
)

func newWireGuard(bc BuildContext) *WireGuard {
	w := &WireGuard{
		network:    bc.Config.Network.WireGuardNetwork,
		port:       bc.Config.Network.WireGuardPort,
		secretsDir: bc.Dirs.Secrets,
		op:         bc.Dirs.Operator,
	}
	for _, h := range bc.Config.Hosts() {
		// config.Host roles are the provider's: "controller", "worker".
		w.hosts = append(w.hosts, wireguard.Host{Name: h.Name, Role: h.Role})
	}
	return w
}

// Name implements workflow.Phase.
func (w *WireGuard) Name() string { return WireGuardName }

// DependsOn implements workflow.Phase: wireguard is a root.
func (w *WireGuard) DependsOn() []string { return nil }

// store is the key store under the secrets directory; abs makes its paths
// absolute (for outputs), else they are as configured (for --plan).
func (w *WireGuard) store(env *workflow.Env, abs bool) (*wireguard.KeyStore, error) {
	dir := w.secretsDir
	if dir == "" && env != nil {
		dir = env.SecretsDir
	}
	if dir == "" {
		return nil, errors.New("wireguard: no secrets directory (the state store sets it)")
	}
	if abs {
		// Outputs are journalled: a path must still hold when a run is
		// resumed from another working directory.
		var err error
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, fmt.Errorf("wireguard: secrets directory: %w", err)
		}
	}
	s := wireguard.NewKeyStore(dir)
	s.IntN = w.intN
	return s, nil
}

// plan is the address plan: Plan over the configured network and hosts,
// then the deployment's own settings (a migrated deployment's network,
// hub name and addresses) kept over it. st is nil without settings.
func (w *WireGuard) plan(s *wireguard.KeyStore) (wireguard.AddressPlan, *wireguard.Settings, error) {
	st, err := s.Settings()
	if err != nil {
		return wireguard.AddressPlan{}, nil, err
	}
	network := w.network
	if st != nil && st.Network != "" {
		network = st.Network
	}
	plan, err := wireguard.Plan(network, w.hosts)
	if err != nil {
		return plan, st, fmt.Errorf("%w (network.wireguard_network)", err)
	}
	plan, err = plan.Keep(st)
	return plan, st, err
}

// Run implements workflow.Phase. It is idempotent: keys and the port are
// generated only when missing, and the cloud-init documents are rendered
// again, byte for byte the same.
func (w *WireGuard) Run(ctx context.Context, env *workflow.Env) error {
	s, err := w.store(env, true)
	if err != nil {
		return err
	}
	plan, st, err := w.plan(s)
	if err != nil {
		return err
	}
	if st != nil {
		env.Log.Info("keeping the deployment's own WireGuard settings", "file", s.SettingsPath(), "source", st.Source,
			"hub", plan.Hub.Name, "interface", st.Interface, "network", plan.Network.String())
	} else if ok, err := s.Adopt(wireguard.HubName, legacyHubName); err != nil {
		return err
	} else if ok {
		env.Log.Info("adopted the migrated hub key", "from", s.Path(legacyHubName), "to", s.Path(wireguard.HubName))
	}
	keys := map[string]wgtypes.Key{}   // private keys, by peer
	public := map[string]wgtypes.Key{} // their public keys
	var generated, reused int
	for _, p := range plan.Peers() {
		if err := ctx.Err(); err != nil {
			return err
		}
		var (
			k       wgtypes.Key
			created bool
			from    string
		)
		if p.Role == wireguard.RoleHub {
			public[p.Name], created, from, err = w.hubPublic(s, p, env, true)
		} else {
			k, created, err = s.LoadOrGenerate(p.Name)
			keys[p.Name], public[p.Name], from = k, k.PublicKey(), s.Path(p.Name)
		}
		if err != nil {
			return err
		}
		if created {
			generated++
		} else {
			reused++
		}
		env.Log.Info("wireguard peer", "name", p.Name, "role", p.Role, "address", p.Address, "public_key", public[p.Name].String(), "generated", created, "key", from)
	}
	port, created, err := s.ListenPort(w.port)
	if err != nil {
		return err
	}
	env.Log.Info("listen port", "port", port, "chosen_now", created, "file", s.PortPath())

	for _, vm := range plan.Hosts {
		doc, err := wireguard.VMConfig{VM: vm, PrivateKey: keys[vm.Name], ListenPort: port, Hub: plan.Hub, HubPublicKey: public[plan.Hub.Name]}.CloudInit()
		if err != nil {
			return err
		}
		path, err := s.WriteCloudInit(vm.Name, doc)
		if err != nil {
			return err
		}
		env.SetOutput(WireGuardOutputCloudInit+vm.Name, path)
	}
	var vms []string
	for _, vm := range plan.Hosts {
		vms = append(vms, vm.Name)
	}
	if removed, err := s.PruneCloudInit(vms); err != nil {
		return err
	} else if len(removed) > 0 {
		env.Log.Info("removed the cloud-init documents of VMs no longer in the config (their keys are kept)", "vms", removed)
	}
	peers, err := peersJSON(plan, public)
	if err != nil {
		return err
	}
	env.SetOutput(WireGuardOutputPeers, peers)
	env.SetOutput(WireGuardOutputPort, strconv.Itoa(port))
	env.SetOutput(WireGuardOutputNetwork, plan.Network.String())
	env.SetOutput(WireGuardOutputHubAddress, plan.Hub.Address.String())
	env.SetOutput(WireGuardOutputKeysDir, s.Dir)
	if st != nil && st.Interface != "" {
		env.SetOutput(WireGuardOutputInterface, st.Interface)
	}
	env.Log.Info("wireguard ready", "peers", len(public), "keys_generated", generated, "keys_reused", reused,
		"cloud_init_dir", filepath.Join(s.Dir, wireguard.CloudInitDirName))
	return nil
}

// hubPublic is the hub's public key: all the VMs' cloud-init needs of the
// first operator. In order: the hub's key under secrets/ (a deployment
// from before operators, or built without one: Dirs.Operator empty); the
// public key the journal records for the hub (this node's recorded peers,
// or the operator recorded at the hub's address), so that another
// operator re-running this phase renders the same documents without the
// hub's private key; else, a new deployment, the key of this machine's
// operator in its own directory (generated there when create is set),
// never under the shared secrets; without an operator directory, the
// hub's key under secrets/ as before (generated when create is set).
// from says where the key came from.
func (w *WireGuard) hubPublic(s *wireguard.KeyStore, hubPeer wireguard.Peer, env *workflow.Env, create bool) (pub wgtypes.Key, created bool, from string, err error) {
	hub := hubPeer.Name
	if s.Exists(hub) {
		k, err := s.Load(hub)
		return k.PublicKey(), false, s.Path(hub), err
	}
	if env != nil {
		var peers []wgPeer
		if json.Unmarshal([]byte(env.Recorded[WireGuardOutputPeers]), &peers) == nil {
			for _, p := range peers {
				if p.Role == wireguard.RoleHub && p.Name == hub {
					if k, err := wgtypes.ParseKey(p.PublicKey); err == nil {
						return k, false, "the journal (recorded peers)", nil
					}
				}
			}
		}
	}
	for _, k := range w.op.Known {
		if k.Address == hubPeer.Address { // the first operator
			return k.PublicKey, false, "the journal (operator " + k.Name + ")", nil
		}
	}
	if w.op.Dir != "" {
		ks := wireguard.NewKeyStore(w.op.Dir)
		var k wgtypes.Key
		if create {
			k, created, err = ks.LoadOrGenerate(wireguard.OperatorKeyName)
		} else {
			k, err = ks.Load(wireguard.OperatorKeyName)
		}
		return k.PublicKey(), created, ks.Path(wireguard.OperatorKeyName), err
	}
	var k wgtypes.Key
	if create {
		k, created, err = s.LoadOrGenerate(hub)
	} else {
		k, err = s.Load(hub)
	}
	return k.PublicKey(), created, s.Path(hub), err
}

// wgPeer is one element of the peers output (state.Peer's JSON form).
type wgPeer struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	PublicKey string `json:"public_key"`
	Role      string `json:"role"`
}

func peersJSON(plan wireguard.AddressPlan, public map[string]wgtypes.Key) (string, error) {
	var out []wgPeer
	for _, p := range plan.Peers() {
		out = append(out, wgPeer{Name: p.Name, Address: p.Address.String(), PublicKey: public[p.Name].String(), Role: p.Role})
	}
	data, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encode wireguard peers: %w", err)
	}
	return string(data), nil
}

// Describe implements workflow.Describer; it only reads.
func (w *WireGuard) Describe(env *workflow.Env) []string {
	s, err := w.store(env, false)
	if err != nil {
		return []string{err.Error()}
	}
	plan, st, err := w.plan(s)
	if err != nil {
		return []string{"address plan: " + err.Error()}
	}
	lines := []string{describePlan(plan)}
	if st != nil {
		kept := fmt.Sprintf("kept from the migrated deployment (%s): hub %q, addresses", s.SettingsPath(), plan.Hub.Name)
		if st.Interface != "" {
			kept += ", interface " + st.Interface
		}
		lines = append(lines, kept)
	}
	var reuse, generate int
	for _, p := range plan.Peers() {
		if p.Role == wireguard.RoleHub && (st == nil && p.Name == wireguard.HubName && s.Exists(legacyHubName)) {
			reuse++
			continue
		}
		if p.Role == wireguard.RoleHub {
			if _, _, _, err := w.hubPublic(s, p, env, false); err == nil {
				reuse++
			} else {
				generate++
			}
			continue
		}
		if s.Exists(p.Name) {
			reuse++
		} else {
			generate++
		}
	}
	lines = append(lines, fmt.Sprintf("keys: reuse %d, generate %d (%s)", reuse, generate, s.Dir))
	stored, err := s.StoredPort()
	switch {
	case err != nil:
		lines = append(lines, "listen port: "+err.Error())
	case w.port != 0 && stored != 0 && stored != w.port:
		lines = append(lines, fmt.Sprintf("listen port: %d (network.wireguard_port; was %d: the VMs need new cloud-init)", w.port, stored))
	case w.port != 0:
		lines = append(lines, fmt.Sprintf("listen port: %d (network.wireguard_port)", w.port))
	case stored != 0:
		lines = append(lines, fmt.Sprintf("listen port: %d (kept)", stored))
	default:
		lines = append(lines, fmt.Sprintf("listen port: random in %d-%d, chosen once", wireguard.MinRandomPort, wireguard.MaxRandomPort))
	}
	return append(lines, fmt.Sprintf("cloud-init: %s in %s (0600)", plural(len(plan.Hosts), "document"), filepath.Join(s.Dir, wireguard.CloudInitDirName)))
}

func describePlan(plan wireguard.AddressPlan) string {
	s := fmt.Sprintf("address plan: hub %s, %s", plan.Hub.Address, plural(len(plan.Hosts), "host"))
	switch n := len(plan.Hosts); n {
	case 0:
	case 1:
		s += " (" + plan.Hosts[0].Address.String() + ")"
	default:
		s += fmt.Sprintf(" (%s-%s)", plan.Hosts[0].Address, plan.Hosts[n-1].Address)
	}
	return s + " in " + plan.Network.String()
}

// Verify implements workflow.Verifier: every key file loads, the port file
// holds the port in use, and every VM's cloud-init document exists and
// carries that VM's key, address and port and the hub's current public
// key. A missing or changed key is drift: the phase runs again (generating
// what is missing), and so does everything after it. Verify writes
// nothing.
func (w *WireGuard) Verify(ctx context.Context, env *workflow.Env) error {
	s, err := w.store(env, true)
	if err != nil {
		return err
	}
	plan, st, err := w.plan(s)
	if err != nil {
		return err
	}
	var errs []error
	public := map[string]wgtypes.Key{}
	for _, p := range plan.Peers() {
		if p.Role == wireguard.RoleHub {
			pub, _, _, err := w.hubPublic(s, p, env, false)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			public[p.Name] = pub
			continue
		}
		k, err := s.Load(p.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		public[p.Name] = k.PublicKey()
	}
	port, err := s.StoredPort()
	switch {
	case err != nil:
		errs = append(errs, err)
	case port == 0:
		errs = append(errs, fmt.Errorf("no listen port in %s", s.PortPath()))
	case w.port != 0 && port != w.port:
		errs = append(errs, fmt.Errorf("listen port %d in %s, but network.wireguard_port is %d", port, s.PortPath(), w.port))
	}
	for _, vm := range plan.Hosts {
		if err := ctx.Err(); err != nil {
			return err
		}
		path := s.CloudInitPath(vm.Name)
		if _, err := os.Stat(path); st != nil && errors.Is(err, os.ErrNotExist) {
			// A migrated deployment's VMs were built from the legacy
			// tool's cloud-init; ours is rendered when the phase runs.
			continue
		}
		errs = append(errs, verifyCloudInit(path, vm, public, port, plan.Hub.Name))
	}
	if was := env.Recorded[WireGuardOutputPeers]; was != "" && len(public) == len(plan.Peers()) {
		// What the VMs were built with is what the journal recorded.
		if now, err := peersJSON(plan, public); err == nil && !samePeers(now, was) {
			errs = append(errs, fmt.Errorf("peers (keys or addresses) differ from those the journal recorded: the VMs were built with the recorded ones (re-run: k0rdent run --from wireguard)"))
		}
	}
	return errors.Join(errs...)
}

// verifyCloudInit checks a VM's document against the keys that loaded
// (public, by peer; a key that did not load is reported by the caller).
func verifyCloudInit(path string, vm wireguard.Peer, public map[string]wgtypes.Key, port int, hubName string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cloud-init of %s: %w", vm.Name, err)
	}
	q, err := wireguard.ParseCloudInit(doc)
	if err != nil {
		return fmt.Errorf("cloud-init of %s (%s): %w", vm.Name, path, err)
	}
	var errs []error
	if want, ok := public[vm.Name]; ok && q.PrivateKey.PublicKey() != want {
		errs = append(errs, fmt.Errorf("holds another private key than %s.key", vm.Name))
	}
	if len(q.Address) != 1 || q.Address[0] != vm.Prefix() {
		errs = append(errs, fmt.Errorf("address %v, plan says %s", q.Address, vm.Prefix()))
	}
	if port != 0 && q.ListenPort != port {
		errs = append(errs, fmt.Errorf("listen port %d, want %d", q.ListenPort, port))
	}
	if hub, ok := public[hubName]; len(q.Peers) != 1 || (ok && q.Peers[0].PublicKey != hub) {
		errs = append(errs, fmt.Errorf("its hub peer is not the operator's current public key"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("cloud-init of %s (%s): %w", vm.Name, path, errors.Join(errs...))
	}
	return nil
}

// Destroy implements workflow.Destroyer. There is nothing remote to tear
// down, and the keys are kept on purpose: a new deployment in the same
// state directory reuses them, and an operator who wants new ones deletes
// <secrets>/wireguard/ (then runs from wireguard). Destroy only says so in
// the node log.
func (w *WireGuard) Destroy(ctx context.Context, env *workflow.Env) error {
	s, err := w.store(env, true)
	if err != nil {
		return err
	}
	env.Log.Info("wireguard keys, listen port and cloud-init documents are kept; delete the directory to rotate them on the next run", "dir", s.Dir)
	return nil
}

// samePeers compares two peers outputs by name, address, public key and
// role (a migrated record also carries endpoints, which are Terraform's).
func samePeers(a, b string) bool {
	var pa, pb []wgPeer
	if json.Unmarshal([]byte(a), &pa) != nil || json.Unmarshal([]byte(b), &pb) != nil {
		return a == b
	}
	return slices.Equal(pa, pb)
}
