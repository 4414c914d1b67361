package phases

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	tf "github.com/k0rdent/k0rdent-deploy/providers/terraform"
	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
)

// Operator is the operator on this machine (Dirs.Operator): one WireGuard
// peer of every VM per operator machine or CI runner.
type Operator struct {
	// Name is the operator's name (user@host by default, --operator);
	// empty means the single operator of old: the hub, with nothing
	// journalled about it (tests of single phases).
	Name string
	// Dir is the operator's own directory on this machine
	// (wireguard.OperatorDir): its private key, its device's files and the
	// VMs' SSH host keys. Never in the state directory.
	Dir string
	// Known are the operator peers the journals record
	// (state.Store.Operators without the legacy one), by address.
	Known []wireguard.Operator
}

// Outputs of the vpn node about the operator whose tunnel it brought up
// (state.OutputOperator*: the journal's record of operator peers).
const (
	VPNOutputOperatorName      = "operator.name"
	VPNOutputOperatorAddress   = "operator.address"
	VPNOutputOperatorPublicKey = "operator.public_key"
	VPNOutputOperatorAddedTo   = "operator.added_to" // VMs it was added to in this attempt, comma-separated
)

// vmShell runs a command line on a VM and returns its standard output.
// *sshShell implements it over SSH; tests use a fake.
type vmShell interface {
	Run(ctx context.Context, addr netip.AddrPort, cmd string, stdin []byte) ([]byte, error)
}

// sshShell runs commands over SSH as the VMs' admin user with the
// deployment's SSH key. Host keys are trusted on first use and kept in
// known_hosts in the operator's directory; a changed host key is refused.
type sshShell struct {
	user    string
	signer  ssh.Signer
	hosts   string // known_hosts path
	timeout time.Duration
}

func newSSHShell(user, keyPath, knownHosts string, timeout time.Duration) (*sshShell, error) {
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("ssh key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("ssh key %s: %w", keyPath, err)
	}
	return &sshShell{user: user, signer: signer, hosts: knownHosts, timeout: timeout}, nil
}

func (s *sshShell) Run(ctx context.Context, addr netip.AddrPort, cmd string, stdin []byte) ([]byte, error) {
	d := net.Dialer{Timeout: s.timeout}
	conn, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetDeadline(time.Now().Add(s.timeout + time.Minute))
	c, chans, reqs, err := ssh.NewClientConn(conn, addr.String(), &ssh.ClientConfig{
		User: s.user, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.signer)}, HostKeyCallback: s.hostKey, Timeout: s.timeout,
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh %s@%s: %w", s.user, addr, err)
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("ssh %s@%s: %w", s.user, addr, err)
	}
	defer sess.Close()
	var out, errOut bytes.Buffer
	sess.Stdout, sess.Stderr, sess.Stdin = &out, &errOut, bytes.NewReader(stdin)
	if err := sess.Run(cmd); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return out.Bytes(), fmt.Errorf("on %s: %w: %s", addr, err, strings.TrimSpace(errOut.String()))
	}
	return out.Bytes(), nil
}

// hostKey trusts a VM's host key on first use and records it; a key that
// differs from the recorded one is refused.
func (s *sshShell) hostKey(host string, remote net.Addr, key ssh.PublicKey) error {
	check, err := knownhosts.New(s.hosts)
	switch {
	case err == nil:
		err = check(host, remote, key)
		var ke *knownhosts.KeyError
		if err == nil {
			return nil
		}
		if !errors.As(err, &ke) || len(ke.Want) > 0 {
			return fmt.Errorf("host key of %s differs from the one recorded in %s (a rebuilt VM: delete its line there): %w", host, s.hosts, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("known hosts %s: %w", s.hosts, err)
	}
	if err := os.MkdirAll(filepath.Dir(s.hosts), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(s.hosts, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(knownhosts.Line([]string{knownhosts.Normalize(host)}, key) + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// vmTarget is one VM as the operator peer management reaches it: its SSH
// address (public IP, SSH port) and its WireGuard address.
type vmTarget struct {
	name   string
	ssh    netip.AddrPort
	wgAddr netip.Addr
}

// vmAccess is what managing operator peers needs, from the wireguard and
// terraform nodes' outputs.
type vmAccess struct {
	plan    wireguard.AddressPlan
	hubKey  wgtypes.Key // the hub's public key (the first operator's)
	targets []vmTarget
	user    string
	keyPath string
}

// readVMAccess reads the wireguard node's peers and network and
// terraform's public IPs and SSH user and key from outputs (node ->
// outputs: a node's Inputs, or what the journals last know).
func readVMAccess(outputs map[string]map[string]string, sshPort int) (vmAccess, error) {
	var a vmAccess
	wg, tfo := outputs[WireGuardName], outputs[TerraformName]
	var peers []vpnPeer
	if err := json.Unmarshal([]byte(wg[WireGuardOutputPeers]), &peers); err != nil {
		return a, fmt.Errorf("wireguard output %q: %w", WireGuardOutputPeers, err)
	}
	netw, err := netip.ParsePrefix(wg[WireGuardOutputNetwork])
	if err != nil {
		return a, fmt.Errorf("wireguard output %q: %w", WireGuardOutputNetwork, err)
	}
	a.plan.Network = netw
	var ips map[string]string
	if err := json.Unmarshal([]byte(tfo[tf.OutputPublicIPs]), &ips); err != nil {
		return a, fmt.Errorf("terraform output %q: %w", tf.OutputPublicIPs, err)
	}
	a.user, a.keyPath = tfo[TerraformOutputSSHUser], tfo[TerraformOutputSSHKeyPath]
	if a.user == "" || a.keyPath == "" {
		return a, fmt.Errorf("terraform outputs %q and %q missing (k0rdent run --from terraform)", TerraformOutputSSHUser, TerraformOutputSSHKeyPath)
	}
	for _, p := range peers {
		addr, err := netip.ParseAddr(p.Address)
		if err != nil {
			return a, fmt.Errorf("wireguard peer %s: address %q: %w", p.Name, p.Address, err)
		}
		peer := wireguard.Peer{Name: p.Name, Role: p.Role, Address: addr}
		if p.Role == wireguard.RoleHub {
			a.plan.Hub = peer
			if a.hubKey, err = wgtypes.ParseKey(p.PublicKey); err != nil {
				return a, fmt.Errorf("wireguard peer %s: public key: %w", p.Name, err)
			}
			continue
		}
		a.plan.Hosts = append(a.plan.Hosts, peer)
		ip, err := netip.ParseAddr(ips[p.Name])
		if err != nil {
			return a, fmt.Errorf("terraform output %q: no public IP for %s", tf.OutputPublicIPs, p.Name)
		}
		a.targets = append(a.targets, vmTarget{name: p.Name, ssh: netip.AddrPortFrom(ip, uint16(sshPort)), wgAddr: addr})
	}
	if !a.plan.Hub.Address.IsValid() || len(a.targets) == 0 {
		return a, fmt.Errorf("wireguard output %q: want a hub and VMs", WireGuardOutputPeers)
	}
	return a, nil
}

// syncOperatorPeer makes o a peer of every VM (add) or of none (!add), on
// the device (wg set, its route) and in the VM's wg-quick file, so that
// it survives a reboot. A VM where o already is (or, to remove, is not) is
// left alone; adding first removes another key holding o's address (a key
// the operator lost, or a peer removed from the journal but not from this
// VM). It returns the VMs it changed, and every VM it could not change.
func syncOperatorPeer(ctx context.Context, sh vmShell, a vmAccess, o wireguard.Operator, add bool, log *slog.Logger) ([]string, error) {
	mine := netip.PrefixFrom(o.Address, 32)
	var changed []string
	var errs []error
	for _, t := range a.targets {
		if err := ctx.Err(); err != nil {
			return changed, err
		}
		out, err := sh.Run(ctx, t.ssh, wireguard.RemoteCommand(wireguard.ReadPeersScript, t.wgAddr.String()), nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: read its WireGuard peers: %w", t.name, err))
			continue
		}
		vp, err := wireguard.ParseVMPeers(out)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.name, err))
			continue
		}
		set := func(action string, key wgtypes.Key, conf []byte) error {
			_, err := sh.Run(ctx, t.ssh, wireguard.RemoteCommand(wireguard.SetPeerScript, t.wgAddr.String(), action, key.String(), o.Address.String()), conf)
			return err
		}
		conf := vp.Conf
		var vmErr error
		if add {
			for k, ips := range vp.Peers {
				if k != o.PublicKey && len(ips) == 1 && ips[0] == mine && k != a.hubKey {
					conf, _ = wireguard.RemovePeerSection(conf, k)
					log.Info("removing another key that holds the operator's address", "vm", t.name, "address", o.Address)
					if vmErr = set("remove", k, conf); vmErr != nil {
						break
					}
				}
			}
			ips, present := vp.Peers[o.PublicKey]
			_, inConf := wireguard.RemovePeerSection(conf, o.PublicKey)
			if vmErr == nil && (!present || len(ips) != 1 || ips[0] != mine || (conf != nil && !inConf)) {
				conf, _ = wireguard.AddPeerSection(conf, wireguard.WGQuickPeer{Comment: "operator " + o.Name, PublicKey: o.PublicKey, AllowedIPs: []netip.Prefix{mine}})
				if vmErr = set("add", o.PublicKey, conf); vmErr == nil {
					changed = append(changed, t.name)
					log.Info("operator added as a peer", "vm", t.name, "interface", vp.Interface, "conf", vp.ConfPath, "operator", o.Name, "address", o.Address)
				}
			} else if vmErr == nil {
				log.Info("operator already a peer", "vm", t.name, "operator", o.Name)
			}
		} else {
			_, present := vp.Peers[o.PublicKey]
			conf2, inConf := wireguard.RemovePeerSection(conf, o.PublicKey)
			if present || inConf {
				if vmErr = set("remove", o.PublicKey, conf2); vmErr == nil {
					changed = append(changed, t.name)
					log.Info("operator removed", "vm", t.name, "interface", vp.Interface, "operator", o.Name)
				}
			} else {
				log.Info("operator not a peer", "vm", t.name, "operator", o.Name)
			}
		}
		if vmErr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.name, vmErr))
		}
	}
	return changed, errors.Join(errs...)
}

// RemoveOperatorPeer takes operator o off every VM (`k0rdent operators
// remove`): over SSH to the VMs' public addresses with the deployment's
// SSH key, from outputs (node -> outputs: what the journals last know of
// the wireguard and terraform nodes). It returns the VMs it changed.
func RemoveOperatorPeer(ctx context.Context, outputs map[string]map[string]string, sshPort int, timeout time.Duration, me Operator, o wireguard.Operator, log *slog.Logger) ([]string, error) {
	a, err := readVMAccess(outputs, sshPort)
	if err != nil {
		return nil, err
	}
	sh, err := newSSHShell(a.user, a.keyPath, filepath.Join(me.Dir, "known_hosts"), timeout)
	if err != nil {
		return nil, err
	}
	return syncOperatorPeer(ctx, sh, a, o, false, log)
}

// joinNames is the added_to output: VM names, comma-separated.
func joinNames(names []string) string { return strings.Join(names, ",") }
