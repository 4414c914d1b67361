package phases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/k0rdent/k0rdent-deploy/config"
	tf "github.com/k0rdent/k0rdent-deploy/providers/terraform"
	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// VPNName is the vpn node's name: the journal key.
const VPNName = "vpn"

// Outputs of the vpn node.
const (
	VPNOutputStatus     = "status"      // connected
	VPNOutputInterface  = "interface"   // the device name
	VPNOutputConfigPath = "config_path" // the wg-quick file under secrets
	VPNOutputHandshake  = "handshake."  // + VM name: RFC 3339 time of its last handshake
)

// vpnSecretsSubdir holds the wg-quick file, the pid file and
// wireguard-go's log under the secrets directory.
const vpnSecretsSubdir = "vpn"

// StaleHandshake is how old a peer's last handshake may be before Verify
// calls the tunnel stale. WireGuard re-handshakes every 2 minutes while
// traffic flows, and the keepalive (25s) keeps traffic flowing.
const StaleHandshake = 3 * time.Minute

// vpnDevice is what the vpn phase needs of the operator's WireGuard device
// (*wireguard.Device implements it).
type vpnDevice interface {
	Up(ctx context.Context, cfg wireguard.DeviceConfig) (wireguard.DeviceInfo, error)
	Status(ctx context.Context, name string) (*wireguard.Status, error)
	Down(ctx context.Context, name, runDir string) error
}

// VPN is the vpn phase: the operator's end of the WireGuard network (the
// hub), then a reachability check of every VM through it.
//
// It is volatile: the tunnel lives on the operator's machine, so every run
// and resume that needs it brings it up again, which reuses a device that
// is still up (same key) and replaces its peers, so a VM whose WireGuard
// restarted gets a fresh handshake.
//
// Inputs: the wireguard node's peers (the hub's address and every VM's
// address and public key) and network, the hub's private key from
// <secrets>/wireguard/operator.key, and terraform's public_ips and
// wireguard_port (the VMs' endpoints). The preconditions check that they
// are there and say which run fixes them (`k0rdent run --from wireguard`,
// `k0rdent run --from terraform`).
//
// Run writes the wg-quick file <secrets>/vpn/<interface>.conf (0600; it
// holds the hub's key), brings the device up (vpn.mode: the kernel's
// WireGuard, else wireguard-go, detached, with its pid file and log beside
// the wg-quick file), then checks every VM until timeouts.vpn_connect runs
// out: a handshake no older than StaleHandshake and a TCP connection to
// vpn.ssh_port on the VM's WireGuard address. On failure the error names
// every unreachable VM with its address, its endpoint and what was seen.
// Outputs: status (connected), interface, config_path and handshake.<vm>
// (RFC 3339); runtime.yaml shows them.
//
// Verify (on `status --check`) fails when the device is gone, or a VM's
// handshake is missing or stale, or its SSH port does not answer. Destroy
// (`k0rdent reset`) removes the device and stops its wireguard-go.
//
// One peer per operator (Dirs.Operator): the tunnel is this machine's
// operator's. The first operator (none recorded yet, which includes a
// deployment built or migrated before operators existed) is the hub, with
// the hub's address and the hub's key: under secrets/ (with the device's
// files in secrets/vpn, as above) in a deployment from before operators,
// else the first operator's own key in its own directory (with the
// device's files in <operator dir>/vpn), which the wireguard node made
// the hub's when the deployment was new. Any other operator
// uses its own key (generated once in its own directory, never under
// secrets/), its recorded address or, new, wireguard.OperatorAddress, and
// its device's files in <operator dir>/vpn. Before bringing its device up,
// Run makes it a peer of every VM over SSH to the VMs' public IPs
// (terraform's public_ips, vpn.ssh_port) as terraform's ssh_user with its
// ssh_key_path, on the device and in the VM's wg-quick file; a VM that
// has it already is left alone, and a VM's peer holding its address with
// another key (a key it lost) is replaced. Host keys are trusted on first
// use (known_hosts in the operator's directory). The outputs
// operator.name, operator.address, operator.public_key and
// operator.added_to journal it (state.Store.Operators lists them).
// `k0rdent operators remove` takes a peer off the VMs the same way
// (RemoveOperatorPeer).
type VPN struct {
	cfg        config.VPN
	vms        int           // how many VMs the config has
	connect    time.Duration // timeouts.vpn_connect
	secretsDir string
	dev        vpnDevice
	// now and dial are the clock and the TCP check; tests replace them.
	now  func() time.Time
	dial func(ctx context.Context, addr string) error
	// interval is the pause between reachability rounds.
	interval time.Duration
	// op is the operator on this machine (Dirs.Operator); sshConnect
	// bounds each SSH connection to a VM, and shell opens them (tests
	// replace it).
	op         Operator
	sshConnect time.Duration
	shell      func(user, keyPath, knownHosts string, timeout time.Duration) (vmShell, error)
}

var (
	_ workflow.Phase          = (*VPN)(nil)
	_ workflow.Volatiler      = (*VPN)(nil)
	_ workflow.Preconditioner = (*VPN)(nil)
	_ workflow.Verifier       = (*VPN)(nil)
	_ workflow.Describer      = (*VPN)(nil)
	_ workflow.Policer        = (*VPN)(nil)
	_ workflow.Destroyer      = (*VPN)(nil)
)

func vpnPlugin() Plugin {
	return Plugin{
		Name:        VPNName,
		Description: "operator-side WireGuard device (kernel or wireguard-go) and a reachability check of every VM",
		DependsOn:   []string{WireGuardName, TerraformName},
		Factory: func(bc BuildContext) ([]workflow.Phase, error) {
			// Absolute, so that the config_path output and the pid file
			// are found from any directory (a resume, a reset).
			secrets, err := filepath.Abs(bc.Dirs.Secrets)
			if err != nil {
				return nil, fmt.Errorf("vpn: secrets directory: %w", err)
			}
			v := NewVPN(bc.Config, secrets, &wireguard.Device{})
			v.op = bc.Dirs.Operator
			return []workflow.Phase{v}, nil
		},
	}
}

// NewVPN returns the vpn phase for cfg, keeping its files under
// secretsDir/vpn and driving dev.
func NewVPN(cfg *config.Config, secretsDir string, dev vpnDevice) *VPN {
	vc := cfg.VPN
	// A wireguard-go path with a directory in it is relative to the config
	// file, like every path of the config; a bare name is looked up in PATH.
	if w := vc.WireGuardGo; strings.ContainsRune(w, '/') && !filepath.IsAbs(w) && cfg.File() != "" {
		vc.WireGuardGo = filepath.Join(filepath.Dir(cfg.File()), w)
	}
	return &VPN{
		cfg:        vc,
		vms:        len(cfg.Hosts()),
		connect:    cfg.Timeouts.VPNConnect.D(),
		secretsDir: secretsDir,
		dev:        dev,
		now:        time.Now,
		dial:       dialTCP,
		interval:   time.Second,
		sshConnect: cfg.Timeouts.SSHConnect.D(),
		shell: func(user, keyPath, knownHosts string, timeout time.Duration) (vmShell, error) {
			return newSSHShell(user, keyPath, knownHosts, timeout)
		},
	}
}

func (*VPN) Name() string        { return VPNName }
func (*VPN) DependsOn() []string { return []string{WireGuardName, TerraformName} }
func (*VPN) Volatile() bool      { return true }

// Policy bounds an attempt by timeouts.vpn_connect plus a minute for
// bringing the device up; the reachability check has its own retries.
func (v *VPN) Policy() workflow.Policy {
	return workflow.Policy{Timeout: v.connect + time.Minute}
}

// runDir holds the wg-quick file, wireguard-go's pid file and its log.
func (v *VPN) runDir() string { return filepath.Join(v.secretsDir, vpnSecretsSubdir) }

// ConfigPath is the wg-quick file the phase writes.
func (v *VPN) ConfigPath() string { return filepath.Join(v.runDir(), v.cfg.Interface+".conf") }

func (v *VPN) Describe(env *workflow.Env) []string {
	mode := v.cfg.Mode
	if mode == config.VPNModeAuto {
		mode = "kernel WireGuard, else wireguard-go"
	}
	lines := []string{
		fmt.Sprintf("bring up %s (%s) as the hub, with %s at <public ip>:<wireguard port>", v.cfg.Interface, mode, plural(v.vms, "VM peer")),
		"write the wg-quick file " + v.ConfigPath(),
		fmt.Sprintf("check every VM within %s: a WireGuard handshake and TCP port %d on its WireGuard address", config.Duration(v.connect), v.cfg.SSHPort),
	}
	if v.op.Name != "" {
		lines = append(lines, v.describeOperator(env))
	}
	return lines
}

// describeOperator says which operator the tunnel is for and what happens
// to the VMs' peers.
func (v *VPN) describeOperator(env *workflow.Env) string {
	vms, hub, err := v.wireguardInputs(env)
	if err != nil || v.isHub(env, hub.Addr()) {
		return fmt.Sprintf("operator %s: the first operator (the hub of the VMs' cloud-init)", v.op.Name)
	}
	for _, k := range v.op.Known {
		if k.Name == v.op.Name {
			return fmt.Sprintf("operator %s at %s (own key in %s): a peer of every VM already, added again where missing (SSH to the public IPs)", v.op.Name, k.Address, v.op.Dir)
		}
	}
	addr, err := wireguard.OperatorAddress(operatorPlan(hub, vms), v.op.Known)
	if err != nil {
		return "operator " + v.op.Name + ": " + err.Error()
	}
	return fmt.Sprintf("operator %s, new: address %s, own key in %s; added as a peer of every VM over SSH to their public IPs before the tunnel comes up", v.op.Name, addr, v.op.Dir)
}

// Preconditions: the wireguard keys and plan, and Terraform's public IPs
// and port.
func (v *VPN) Preconditions() []workflow.Check {
	return []workflow.Check{
		{
			Name: "wireguard keys present",
			Fix:  "k0rdent run --from wireguard",
			Check: func(ctx context.Context, env *workflow.Env) error {
				_, _, err := v.wireguardInputs(env)
				return err
			},
		},
		{
			Name: "terraform outputs present",
			Fix:  "k0rdent run --from terraform",
			Check: func(ctx context.Context, env *workflow.Env) error {
				if err := TerraformOutputsPresent().Check(ctx, env); err != nil {
					return err
				}
				peers, _, err := v.wireguardInputs(env)
				if err != nil {
					return nil // reported by the check above
				}
				_, err = terraformEndpoints(env, peers)
				return err
			},
		},
	}
}

// vpnPeer is one element of the wireguard node's peers output.
type vpnPeer struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	PublicKey string `json:"public_key"`
	Role      string `json:"role,omitempty"`
	Endpoint  string `json:"endpoint,omitempty"`
}

// wireguardInputs reads the wireguard node's peers and network and the
// hub's private key file, and returns the VMs and the hub's address with
// the network's prefix length.
func (v *VPN) wireguardInputs(env *workflow.Env) (vms []vpnPeer, hub netip.Prefix, err error) {
	raw, ok := env.Input(WireGuardName, WireGuardOutputPeers)
	if !ok {
		return nil, hub, fmt.Errorf("wireguard output %q missing", WireGuardOutputPeers)
	}
	var peers []vpnPeer
	if err := json.Unmarshal([]byte(raw), &peers); err != nil {
		return nil, hub, fmt.Errorf("wireguard output %q: %w", WireGuardOutputPeers, err)
	}
	netw, ok := env.Input(WireGuardName, WireGuardOutputNetwork)
	if !ok {
		return nil, hub, fmt.Errorf("wireguard output %q missing", WireGuardOutputNetwork)
	}
	np, err := netip.ParsePrefix(netw)
	if err != nil {
		return nil, hub, fmt.Errorf("wireguard output %q: %w", WireGuardOutputNetwork, err)
	}
	var hubAddr netip.Addr
	for _, p := range peers {
		a, err := netip.ParseAddr(p.Address)
		if err != nil {
			return nil, hub, fmt.Errorf("wireguard peer %s: address %q: %w", p.Name, p.Address, err)
		}
		if p.Role == wireguard.RoleHub {
			hubAddr = a
			continue
		}
		vms = append(vms, p)
	}
	if !hubAddr.IsValid() {
		return nil, hub, fmt.Errorf("wireguard output %q has no peer with role hub", WireGuardOutputPeers)
	}
	if len(vms) == 0 {
		return nil, hub, fmt.Errorf("wireguard output %q has no VM", WireGuardOutputPeers)
	}
	if v.isHub(env, hubAddr) {
		if _, _, err := v.hubKey(env); err != nil {
			return nil, hub, err
		}
	}
	return vms, netip.PrefixFrom(hubAddr, np.Bits()), nil
}

// terraformEndpoints returns each VM's endpoint, <public ip>:<port>, from
// Terraform's public_ips and wireguard_port (or the wireguard node's port).
func terraformEndpoints(env *workflow.Env, vms []vpnPeer) (map[string]netip.AddrPort, error) {
	raw, ok := env.Input(TerraformName, tf.OutputPublicIPs)
	if !ok {
		return nil, fmt.Errorf("terraform output %q missing", tf.OutputPublicIPs)
	}
	var ips map[string]string
	if err := json.Unmarshal([]byte(raw), &ips); err != nil {
		return nil, fmt.Errorf("terraform output %q: want a JSON object of VM name to IP: %w", tf.OutputPublicIPs, err)
	}
	portS, ok := env.Input(TerraformName, tf.OutputWireGuardPort)
	if !ok {
		portS, ok = env.Input(WireGuardName, WireGuardOutputPort)
	}
	if !ok {
		return nil, fmt.Errorf("terraform output %q missing", tf.OutputWireGuardPort)
	}
	port, err := strconv.ParseUint(portS, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("terraform output %q: %q is not a UDP port", tf.OutputWireGuardPort, portS)
	}
	eps := map[string]netip.AddrPort{}
	var missing []string
	for _, p := range vms {
		ip, ok := ips[p.Name]
		if !ok {
			missing = append(missing, p.Name)
			continue
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, fmt.Errorf("terraform output %q: %s: %q is not an IP address", tf.OutputPublicIPs, p.Name, ip)
		}
		eps[p.Name] = netip.AddrPortFrom(a, uint16(port))
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("terraform output %q has no public IP for %s", tf.OutputPublicIPs, strings.Join(missing, ", "))
	}
	return eps, nil
}

// isHub reports whether this machine's operator is the hub (hubAddr):
// the single operator of old (no name), the first operator (none
// recorded yet, and this machine holds the hub's key: it claims the hub),
// or the operator recorded at the hub's address.
func (v *VPN) isHub(env *workflow.Env, hubAddr netip.Addr) bool {
	if v.op.Name == "" {
		return true
	}
	if len(v.op.Known) == 0 {
		// Nobody recorded yet: the hub is whoever holds its key.
		_, _, err := v.hubKey(env)
		return err == nil
	}
	for _, k := range v.op.Known {
		if k.Name == v.op.Name {
			return k.Address == hubAddr
		}
	}
	return false
}

// operatorPlan is the address plan the inputs give: the hub and the VMs.
func operatorPlan(hub netip.Prefix, vms []vpnPeer) wireguard.AddressPlan {
	plan := wireguard.AddressPlan{Network: hub.Masked(), Hub: wireguard.Peer{Name: wireguard.HubName, Role: wireguard.RoleHub, Address: hub.Addr()}}
	for _, p := range vms {
		if a, err := netip.ParseAddr(p.Address); err == nil {
			plan.Hosts = append(plan.Hosts, wireguard.Peer{Name: p.Name, Role: p.Role, Address: a})
		}
	}
	return plan
}

// hubKey is the hub's private key on this machine and the directory for
// its device's files: the hub's key under secrets/ (a deployment from
// before operators, or built without one) with secrets/vpn, else this
// machine's operator key (its own directory) when it is the hub's (the
// wireguard node's peers say which public key the hub has), with
// <operator dir>/vpn, so that the wg-quick file, which holds the key,
// stays on this machine too.
func (v *VPN) hubKey(env *workflow.Env) (wgtypes.Key, string, error) {
	ks := wireguard.NewKeyStore(v.secretsDir)
	name := hubPeerName(env)
	if ks.Exists(name) || v.op.Dir == "" {
		k, err := ks.Load(name)
		if err != nil {
			return k, "", fmt.Errorf("hub key: %w", err)
		}
		return k, v.runDir(), nil
	}
	ko := wireguard.NewKeyStore(v.op.Dir)
	k, err := ko.Load(wireguard.OperatorKeyName)
	if err != nil {
		return k, "", fmt.Errorf("hub key: neither %s nor this operator's %w", ks.Path(name), err)
	}
	if want, ok := hubPeerKey(env); ok && k.PublicKey() != want {
		return wgtypes.Key{}, "", fmt.Errorf("hub key: this operator's key %s is not the hub's (another machine's operator is the hub)", ko.Path(wireguard.OperatorKeyName))
	}
	return k, filepath.Join(v.op.Dir, vpnSecretsSubdir), nil
}

// self is the operator this machine's tunnel is for.
type self struct {
	hub    bool
	op     wireguard.Operator // name, address, public key
	key    wgtypes.Key        // its private key
	runDir string             // the wg-quick file, pid file and log
}

// self resolves this machine's operator. The hub uses the hub's key under
// secrets/ and its address; another operator its own key in its
// directory (generated there once when create is set, else it must
// exist) and its recorded address, or, new, the address
// wireguard.OperatorAddress gives.
func (v *VPN) self(env *workflow.Env, hub netip.Prefix, vms []vpnPeer, create bool) (self, error) {
	if v.isHub(env, hub.Addr()) {
		key, runDir, err := v.hubKey(env)
		if err != nil {
			return self{}, err
		}
		return self{hub: true, key: key, runDir: runDir,
			op: wireguard.Operator{Name: v.op.Name, Address: hub.Addr(), PublicKey: key.PublicKey()}}, nil
	}
	if v.op.Dir == "" {
		return self{}, fmt.Errorf("operator %s: no directory of its own for its key", v.op.Name)
	}
	ks := wireguard.NewKeyStore(v.op.Dir)
	var key wgtypes.Key
	var err error
	if create {
		key, _, err = ks.LoadOrGenerate(wireguard.OperatorKeyName)
	} else {
		key, err = ks.Load(wireguard.OperatorKeyName)
	}
	if err != nil {
		return self{}, fmt.Errorf("operator %s: %w", v.op.Name, err)
	}
	s := self{key: key, runDir: filepath.Join(v.op.Dir, vpnSecretsSubdir), op: wireguard.Operator{Name: v.op.Name, PublicKey: key.PublicKey()}}
	for _, k := range v.op.Known {
		if k.Name == v.op.Name {
			s.op.Address = k.Address
		}
	}
	if !s.op.Address.IsValid() {
		if s.op.Address, err = wireguard.OperatorAddress(operatorPlan(hub, vms), v.op.Known); err != nil {
			return self{}, err
		}
	}
	return s, nil
}

// deviceConfig builds the device from the inputs, for this machine's
// operator (see self; create: its key may be generated).
func (v *VPN) deviceConfig(env *workflow.Env, create bool) (wireguard.DeviceConfig, self, error) {
	vms, hub, err := v.wireguardInputs(env)
	if err != nil {
		return wireguard.DeviceConfig{}, self{}, err
	}
	eps, err := terraformEndpoints(env, vms)
	if err != nil {
		return wireguard.DeviceConfig{}, self{}, err
	}
	me, err := v.self(env, hub, vms, create)
	if err != nil {
		return wireguard.DeviceConfig{}, self{}, err
	}
	iface := v.cfg.Interface
	if kept, ok := env.Input(WireGuardName, WireGuardOutputInterface); ok && kept != "" {
		iface = kept // a migrated deployment's device keeps its name
	}
	cfg := wireguard.DeviceConfig{
		Interface:   iface,
		Mode:        v.cfg.Mode,
		WireGuardGo: v.cfg.WireGuardGo,
		PrivateKey:  me.key,
		Address:     netip.PrefixFrom(me.op.Address, hub.Bits()),
		RunDir:      me.runDir,
	}
	for _, p := range vms {
		pub, err := wgtypes.ParseKey(p.PublicKey)
		if err != nil {
			return wireguard.DeviceConfig{}, self{}, fmt.Errorf("wireguard peer %s: public key: %w", p.Name, err)
		}
		cfg.Peers = append(cfg.Peers, wireguard.DevicePeer{
			Name: p.Name, PublicKey: pub, Endpoint: eps[p.Name], Address: netip.MustParseAddr(p.Address),
		})
	}
	return cfg, me, nil
}

// Run brings the device up, writes the wg-quick file, and waits until
// every VM answers through the tunnel: a handshake and a TCP connection to
// the SSH port of its WireGuard address, retried until timeouts.vpn_connect.
func (v *VPN) Run(ctx context.Context, env *workflow.Env) error {
	cfg, me, err := v.deviceConfig(env, true)
	if err != nil {
		return err
	}
	var added []string
	if !me.hub {
		// The VMs learn the new operator's key before its tunnel comes up.
		if added, err = v.addToVMs(ctx, env, me.op); err != nil {
			return fmt.Errorf("operator %s (%s): make it a peer of every VM: %w", me.op.Name, me.op.Address, err)
		}
	}
	quick := filepath.Join(me.runDir, cfg.Interface+".conf") // wg-quick names the device after the file
	if err := wireguard.WriteQuickConfig(quick, cfg); err != nil {
		return err
	}
	info, err := v.dev.Up(ctx, cfg)
	if err != nil {
		return fmt.Errorf("bring up %s: %w", cfg.Interface, err)
	}
	switch {
	case info.Reused:
		env.Log.Info("wireguard device reused", "interface", cfg.Interface, "kind", info.Kind)
	case info.PID != 0:
		env.Log.Info("wireguard device created", "interface", cfg.Interface, "kind", info.Kind, "pid", info.PID)
	default:
		env.Log.Info("wireguard device created", "interface", cfg.Interface, "kind", info.Kind)
	}

	results, err := v.waitReachable(ctx, env, cfg)
	if err != nil {
		return err
	}
	env.SetOutput(VPNOutputStatus, "connected")
	env.SetOutput(VPNOutputInterface, cfg.Interface)
	env.SetOutput(VPNOutputConfigPath, quick)
	for _, r := range results {
		env.SetOutput(VPNOutputHandshake+r.name, r.handshake.UTC().Format(time.RFC3339))
	}
	if me.op.Name != "" {
		env.SetOutput(VPNOutputOperatorName, me.op.Name)
		env.SetOutput(VPNOutputOperatorAddress, me.op.Address.String())
		env.SetOutput(VPNOutputOperatorPublicKey, me.op.PublicKey.String())
		env.SetOutput(VPNOutputOperatorAddedTo, joinNames(added))
	}
	return nil
}

// addToVMs makes op a peer of every VM over SSH (syncOperatorPeer),
// retrying until timeouts.vpn_connect runs out (a VM's sshd may still be
// starting). It returns the VMs it was added to.
func (v *VPN) addToVMs(ctx context.Context, env *workflow.Env, op wireguard.Operator) ([]string, error) {
	a, err := readVMAccess(env.Inputs, v.cfg.SSHPort)
	if err != nil {
		return nil, err
	}
	sh, err := v.shell(a.user, a.keyPath, filepath.Join(v.op.Dir, "known_hosts"), v.sshConnect)
	if err != nil {
		return nil, err
	}
	env.Log.Info("adding the operator as a peer of every VM", "operator", op.Name, "address", op.Address, "public_key", op.PublicKey.String(), "vms", len(a.targets))
	deadline := time.Now().Add(v.connect)
	var all []string
	for {
		added, err := syncOperatorPeer(ctx, sh, a, op, true, env.Log)
		all = append(all, added...)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return all, err
		}
		env.Log.Info("retrying", "error", err.Error())
		select {
		case <-ctx.Done():
			return all, ctx.Err()
		case <-time.After(5 * v.interval):
		}
	}
}

// reach is what one reachability check of a VM saw.
type reach struct {
	name      string
	addr      string // WireGuard address:ssh port
	endpoint  string
	handshake time.Time
	problem   string // empty when reachable
}

func (r reach) String() string {
	return fmt.Sprintf("%s (%s via %s): %s", r.name, r.addr, r.endpoint, r.problem)
}

// check looks at every peer once: its handshake (zero or older than
// StaleHandshake is a problem) and a TCP connection to its SSH port.
func (v *VPN) check(ctx context.Context, cfg wireguard.DeviceConfig, dialTimeout time.Duration) ([]reach, error) {
	st, err := v.dev.Status(ctx, cfg.Interface)
	if err != nil {
		if errors.Is(err, wireguard.ErrNoDevice) {
			return nil, fmt.Errorf("wireguard device %s is gone (k0rdent run --resume brings it up again)", cfg.Interface)
		}
		return nil, err
	}
	now := v.now()
	out := make([]reach, len(cfg.Peers))
	for i, p := range cfg.Peers {
		r := reach{name: p.Name, addr: net.JoinHostPort(p.Address.String(), strconv.Itoa(v.cfg.SSHPort)), endpoint: p.Endpoint.String()}
		var problems []string
		ps, ok := st.Peer(p.PublicKey)
		switch {
		case !ok:
			problems = append(problems, "not a peer of "+cfg.Interface)
		case ps.LastHandshake.IsZero():
			problems = append(problems, "no handshake")
		case now.Sub(ps.LastHandshake) > StaleHandshake:
			problems = append(problems, fmt.Sprintf("last handshake %s ago (stale after %s)", now.Sub(ps.LastHandshake).Round(time.Second), StaleHandshake))
		}
		r.handshake = ps.LastHandshake
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		if err := v.dial(dctx, r.addr); err != nil {
			problems = append(problems, "tcp "+r.addr+": "+err.Error())
		}
		cancel()
		r.problem = strings.Join(problems, "; ")
		out[i] = r
	}
	return out, nil
}

// waitReachable repeats check until every VM is reachable or the connect
// timeout runs out. A handshake can take a while: one sent before the VM's
// device was up is retried by WireGuard only after 5 seconds.
func (v *VPN) waitReachable(ctx context.Context, env *workflow.Env, cfg wireguard.DeviceConfig) ([]reach, error) {
	ctx, cancel := context.WithTimeout(ctx, v.connect)
	defer cancel()
	var last []reach
	for round := 1; ; round++ {
		rs, err := v.check(ctx, cfg, 3*time.Second)
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		// A round cut short by the deadline is not evidence: its dials
		// failed for want of time, so the report is the last whole round.
		// (The dialer sees the deadline pass before ctx.Err() says so.)
		if dl, _ := ctx.Deadline(); err == nil && ctx.Err() == nil && time.Now().Before(dl) {
			last = rs
			if bad := unreachable(rs); len(bad) == 0 {
				env.Log.Info("every VM reachable through the tunnel", "vms", len(rs), "rounds", round)
				return rs, nil
			} else if round%5 == 1 {
				env.Log.Info("waiting for VMs", "unreachable", len(bad), "first", bad[0].String())
			}
		}
		select {
		case <-ctx.Done():
			if parent := context.Cause(ctx); parent != nil && !errors.Is(parent, context.DeadlineExceeded) {
				return nil, parent
			}
			bad := unreachable(last)
			if last == nil {
				return nil, fmt.Errorf("%s: no reachability check finished within timeouts.vpn_connect (%s)", cfg.Interface, config.Duration(v.connect))
			}
			return nil, fmt.Errorf("%d of %d VMs unreachable through %s after %s (timeouts.vpn_connect): %s",
				len(bad), len(last), cfg.Interface, config.Duration(v.connect), joinReach(bad))
		case <-time.After(v.interval):
		}
	}
}

func unreachable(rs []reach) []reach {
	var bad []reach
	for _, r := range rs {
		if r.problem != "" {
			bad = append(bad, r)
		}
	}
	return bad
}

func joinReach(rs []reach) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, "; ")
}

// Verify checks, without changing anything, that the device exists and
// every VM has a fresh handshake and answers on its SSH port.
func (v *VPN) Verify(ctx context.Context, env *workflow.Env) error {
	cfg, _, err := v.deviceConfig(env, false)
	if err != nil {
		return err
	}
	rs, err := v.check(ctx, cfg, 5*time.Second)
	if err != nil {
		return err
	}
	if bad := unreachable(rs); len(bad) > 0 {
		return fmt.Errorf("%d of %d VMs unreachable through %s: %s", len(bad), len(rs), cfg.Interface, joinReach(bad))
	}
	return nil
}

// Destroy takes the device down and stops its wireguard-go.
func (v *VPN) Destroy(ctx context.Context, env *workflow.Env) error {
	iface := v.cfg.Interface
	if kept, ok := env.Input(WireGuardName, WireGuardOutputInterface); ok && kept != "" {
		iface = kept // a migrated deployment's device
	}
	runDir := v.runDir()
	if vms, hub, err := v.wireguardInputs(env); err == nil {
		if me, err := v.self(env, hub, vms, false); err == nil {
			runDir = me.runDir // the device of this machine's operator
		}
	}
	if err := v.dev.Down(ctx, iface, runDir); err != nil {
		return fmt.Errorf("take down %s: %w", iface, err)
	}
	return nil
}

func dialTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// VPNReachable is the precondition of nodes that reach the VMs through the
// tunnel (k0s, and everything that talks to the cluster): the vpn node's
// device is up and has a fresh handshake (no older than StaleHandshake)
// with every peer. It reads the device, never changes it; its failure
// says what it saw and to re-run from vpn.
func VPNReachable() workflow.Check {
	return vpnReachable(&wireguard.Device{}, time.Now)
}

func vpnReachable(dev vpnDevice, now func() time.Time) workflow.Check {
	return workflow.Check{
		Name: "vpn reachable",
		Fix:  "k0rdent run --from vpn",
		Check: func(ctx context.Context, env *workflow.Env) error {
			out := env.Inputs[VPNName]
			iface := out[VPNOutputInterface]
			if out[VPNOutputStatus] != "connected" || iface == "" {
				return fmt.Errorf("the vpn node recorded status %q and interface %q, want connected through a device", out[VPNOutputStatus], iface)
			}
			st, err := dev.Status(ctx, iface)
			if err != nil {
				if errors.Is(err, wireguard.ErrNoDevice) {
					return fmt.Errorf("wireguard device %s is gone", iface)
				}
				return err
			}
			if len(st.Peers) == 0 {
				return fmt.Errorf("wireguard device %s has no peers", iface)
			}
			var stale []string
			for _, p := range st.Peers {
				switch {
				case p.LastHandshake.IsZero():
					stale = append(stale, p.PublicKey.String()+" (no handshake)")
				case now().Sub(p.LastHandshake) > StaleHandshake:
					stale = append(stale, fmt.Sprintf("%s (last handshake %s ago)", p.PublicKey, now().Sub(p.LastHandshake).Round(time.Second)))
				}
			}
			if len(stale) > 0 {
				return fmt.Errorf("%d of %d peers of %s without a fresh handshake: %s", len(stale), len(st.Peers), iface, strings.Join(stale, ", "))
			}
			return nil
		},
	}
}

// hubPeerKey is the public key of the wireguard output's hub peer.
func hubPeerKey(env *workflow.Env) (wgtypes.Key, bool) {
	raw, _ := env.Input(WireGuardName, WireGuardOutputPeers)
	var peers []vpnPeer
	if json.Unmarshal([]byte(raw), &peers) == nil {
		for _, p := range peers {
			if p.Role == wireguard.RoleHub {
				k, err := wgtypes.ParseKey(p.PublicKey)
				return k, err == nil
			}
		}
	}
	return wgtypes.Key{}, false
}

// hubPeerName is the name of the wireguard output's hub peer: "operator",
// or what a migrated deployment kept ("mylaptop").
func hubPeerName(env *workflow.Env) string {
	raw, _ := env.Input(WireGuardName, WireGuardOutputPeers)
	var peers []vpnPeer
	if json.Unmarshal([]byte(raw), &peers) == nil {
		for _, p := range peers {
			if p.Role == wireguard.RoleHub && p.Name != "" {
				return p.Name
			}
		}
	}
	return wireguard.HubName
}
