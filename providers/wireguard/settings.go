package wireguard

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
)

// SettingsFileName holds a deployment's own WireGuard settings under
// KeysDirName. The legacy migration writes it (state.Migrate); the
// wireguard phase reads it and never rewrites it, so every later run
// keeps what the deployment was built with.
const SettingsFileName = "settings.json"

// Settings are what a deployment built elsewhere (the legacy bash tool)
// fixed and Plan would choose differently: the hub's peer name, the
// operator's interface name and every peer's address. The listen port is
// in PortFileName and the keys in <peer>.key, as for any deployment.
type Settings struct {
	// Hub is the hub peer's name (the bash tool's "mylaptop").
	Hub string `json:"hub,omitempty"`
	// Interface is the operator's device name (the bash tool's
	// wgk0<suffix>).
	Interface string `json:"interface,omitempty"`
	// Network is the WireGuard network the addresses are in.
	Network string `json:"network,omitempty"`
	// Addresses are the peers' addresses, by name (hub included).
	Addresses map[string]string `json:"addresses,omitempty"`
	// Source says where the settings come from, for logs and plans.
	Source string `json:"source,omitempty"`
}

// SettingsPath is the settings file.
func (s *KeyStore) SettingsPath() string { return filepath.Join(s.Dir, SettingsFileName) }

// Settings reads the deployment's own settings; nil when there are none.
func (s *KeyStore) Settings() (*Settings, error) {
	data, err := os.ReadFile(s.SettingsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read wireguard settings: %w", err)
	}
	var st Settings
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("wireguard settings %s: %w (it was written by the migration of the legacy tool; restore it from state/legacy/ by running the migration again, or delete it to renumber the peers, which needs new VMs)", s.SettingsPath(), err)
	}
	if st.Hub != "" && !ValidPeerName(st.Hub) {
		return nil, fmt.Errorf("wireguard settings %s: hub %q is not a path-safe peer name", s.SettingsPath(), st.Hub)
	}
	return &st, nil
}

// Keep returns the plan with the deployment's own settings applied: the
// hub takes st.Hub's name and address, every host with a recorded address
// keeps it, and hosts without one (added since) take the lowest free
// addresses of the network. A recorded address outside the network, or
// one used twice, is an error naming the peer.
func (p AddressPlan) Keep(st *Settings) (AddressPlan, error) {
	if st == nil {
		return p, nil
	}
	out := AddressPlan{Network: p.Network, Hub: p.Hub}
	used := map[netip.Addr]string{}
	addr := func(name string) (netip.Addr, bool, error) {
		v, ok := st.Addresses[name]
		if !ok {
			return netip.Addr{}, false, nil
		}
		a, err := netip.ParseAddr(v)
		switch {
		case err != nil:
			return a, false, fmt.Errorf("wireguard settings: peer %s: address %q: %w", name, v, err)
		case !p.Network.Contains(a) || a == p.Network.Addr():
			return a, false, fmt.Errorf("wireguard settings: peer %s: address %s is not a host address of %s", name, a, p.Network)
		case used[a] != "":
			return a, false, fmt.Errorf("wireguard settings: peers %s and %s both have address %s", used[a], name, a)
		}
		used[a] = name
		return a, true, nil
	}
	if st.Hub != "" {
		out.Hub.Name = st.Hub
	}
	if a, ok, err := addr(out.Hub.Name); err != nil {
		return AddressPlan{}, err
	} else if ok {
		out.Hub.Address = a
	} else {
		used[out.Hub.Address] = out.Hub.Name
	}
	var fresh []int
	for i, h := range p.Hosts {
		if h.Name == out.Hub.Name {
			return AddressPlan{}, fmt.Errorf("wireguard host %q: the name is the hub's", h.Name)
		}
		a, ok, err := addr(h.Name)
		if err != nil {
			return AddressPlan{}, err
		}
		if ok {
			h.Address = a
		} else {
			fresh = append(fresh, i)
		}
		out.Hosts = append(out.Hosts, h)
	}
	next := p.Network.Addr().Next()
	for _, i := range fresh {
		for used[next] != "" {
			next = next.Next()
		}
		if !p.Network.Contains(next.Next()) { // keep the broadcast address free
			return AddressPlan{}, fmt.Errorf("wireguard network %s: no free address for %s", p.Network, out.Hosts[i].Name)
		}
		out.Hosts[i].Address = next
		used[next] = out.Hosts[i].Name
	}
	return out, nil
}
