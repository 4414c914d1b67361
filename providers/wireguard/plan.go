package wireguard

import (
	"fmt"
	"math/bits"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Peer roles. The hub is the operator's machine; the VMs are spokes that
// know only the hub.
const (
	RoleHub        = "hub"
	RoleController = "controller"
	RoleWorker     = "worker"
)

// HubName is the peer name of the operator's machine.
const HubName = "operator"

// Host is one VM to place in the WireGuard network.
type Host struct {
	// Name is the VM's name (config.Host.Name). It names the VM's key file,
	// so it is a path-safe word: letters, digits, '.', '_' and '-'.
	Name string
	// Role is RoleController or RoleWorker.
	Role string
}

// Peer is one peer of the address plan.
type Peer struct {
	Name    string
	Role    string
	Address netip.Addr
}

// Prefix is the peer's address as a /32, as WireGuard's AllowedIPs and
// wg-quick's Address take it.
func (p Peer) Prefix() netip.Prefix { return netip.PrefixFrom(p.Address, 32) }

// AddressPlan places the hub and the VMs in the WireGuard network.
type AddressPlan struct {
	// Network is the WireGuard network.
	Network netip.Prefix
	// Hub is the operator's machine: the first usable address.
	Hub Peer
	// Hosts are the VMs: controllers, then workers, each group in the
	// order given, at consecutive addresses after the hub.
	Hosts []Peer
}

// Peers returns the hub, then the hosts.
func (p AddressPlan) Peers() []Peer {
	return append([]Peer{p.Hub}, p.Hosts...)
}

// Host returns the VM named name.
func (p AddressPlan) Host(name string) (Peer, bool) {
	for _, h := range p.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return Peer{}, false
}

// Compiled on first use, not at every process's start-up.
var rePeerName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`) })

// ValidPeerName reports whether name can name a peer (and its key file).
func ValidPeerName(name string) bool { return len(name) <= 64 && rePeerName().MatchString(name) }

// Plan places the hub and hosts in network, an IPv4 CIDR: the hub gets the
// first usable address, the controllers the next ones, then the workers,
// one /32 each. The network address and the broadcast address are never
// used, so a /31 or /32 holds nobody. Plan is pure: the same input gives
// the same plan, which is what lets every run and resume agree.
func Plan(network string, hosts []Host) (AddressPlan, error) {
	pfx, err := netip.ParsePrefix(strings.TrimSpace(network))
	if err != nil {
		return AddressPlan{}, fmt.Errorf("wireguard network %q: not a CIDR (write e.g. 192.168.100.0/24)", network)
	}
	if !pfx.Addr().Is4() {
		return AddressPlan{}, fmt.Errorf("wireguard network %s: not IPv4 (write e.g. 192.168.100.0/24)", pfx)
	}
	if pfx.Masked() != pfx {
		return AddressPlan{}, fmt.Errorf("wireguard network %s: host bits set (write %s)", pfx, pfx.Masked())
	}
	var ctrl, work []Host
	seen := map[string]bool{HubName: true}
	for i, h := range hosts {
		switch {
		case !ValidPeerName(h.Name):
			return AddressPlan{}, fmt.Errorf("wireguard host %d: name %q is not a path-safe word (letters, digits, '.', '_', '-')", i, h.Name)
		case seen[h.Name] && h.Name == HubName:
			return AddressPlan{}, fmt.Errorf("wireguard host %d: name %q is reserved for the hub", i, h.Name)
		case seen[h.Name]:
			return AddressPlan{}, fmt.Errorf("wireguard host %d: duplicate name %q", i, h.Name)
		}
		seen[h.Name] = true
		switch h.Role {
		case RoleController:
			ctrl = append(ctrl, h)
		case RoleWorker:
			work = append(work, h)
		default:
			return AddressPlan{}, fmt.Errorf("wireguard host %s: role %q, want %s or %s", h.Name, h.Role, RoleController, RoleWorker)
		}
	}
	need := 1 + len(hosts)
	if usable := Capacity(pfx); need > usable {
		return AddressPlan{}, fmt.Errorf("wireguard network %s holds %d usable addresses but the hub and %d hosts need %d (use a /%d or larger network)",
			pfx, usable, len(hosts), need, prefixFor(need))
	}
	plan := AddressPlan{Network: pfx}
	addr := pfx.Addr().Next()
	plan.Hub = Peer{Name: HubName, Role: RoleHub, Address: addr}
	for _, h := range slices.Concat(ctrl, work) {
		addr = addr.Next()
		plan.Hosts = append(plan.Hosts, Peer{Name: h.Name, Role: h.Role, Address: addr})
	}
	return plan, nil
}

// Capacity is the number of usable host addresses of an IPv4 prefix: all
// but the network and broadcast addresses (0 for a /31 or /32), capped at
// 1<<31-1.
func Capacity(p netip.Prefix) int {
	free := 32 - p.Bits()
	if free >= 31 {
		return 1<<31 - 1
	}
	return max(1<<free-2, 0)
}

// prefixFor is the longest prefix length whose network holds n usable
// addresses.
func prefixFor(n int) int {
	// 2^free - 2 >= n  <=>  2^free >= n+2
	free := bits.Len(uint(n + 1))
	return max(32-free, 0)
}
