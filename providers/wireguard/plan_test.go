package wireguard

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestPlan(t *testing.T) {
	ctrl := func(n string) Host { return Host{Name: n, Role: RoleController} }
	work := func(n string) Host { return Host{Name: n, Role: RoleWorker} }
	tests := []struct {
		name    string
		network string
		hosts   []Host
		want    string // "name=addr ..." hub first
		wantErr string
	}{
		{name: "Default", network: "192.168.100.0/24", hosts: []Host{ctrl("c1"), work("w1"), work("w2")},
			want: "operator=192.168.100.1 c1=192.168.100.2 w1=192.168.100.3 w2=192.168.100.4"},
		{name: "ControllersFirstWhateverTheOrder", network: "10.8.0.0/16", hosts: []Host{work("w1"), ctrl("c1"), work("w2"), ctrl("c2")},
			want: "operator=10.8.0.1 c1=10.8.0.2 c2=10.8.0.3 w1=10.8.0.4 w2=10.8.0.5"},
		{name: "CrossesOctet", network: "172.16.0.0/23", hosts: hostsN(256),
			want: "operator=172.16.0.1 … h256=172.16.1.1"},
		{name: "ExactFit30", network: "10.0.0.0/30", hosts: []Host{ctrl("c1")}, want: "operator=10.0.0.1 c1=10.0.0.2"},
		{name: "HubOnly", network: "10.0.0.4/30", want: "operator=10.0.0.5"},
		{name: "TooSmall", network: "10.0.0.0/30", hosts: []Host{ctrl("c1"), work("w1"), work("w2")},
			wantErr: "wireguard network 10.0.0.0/30 holds 2 usable addresses but the hub and 3 hosts need 4 (use a /29 or larger network)"},
		{name: "Slash31", network: "10.0.0.0/31", hosts: []Host{ctrl("c1")},
			wantErr: "10.0.0.0/31 holds 0 usable addresses but the hub and 1 hosts need 2 (use a /30 or larger network)"},
		{name: "Slash32", network: "10.0.0.1/32",
			wantErr: "10.0.0.1/32 holds 0 usable addresses but the hub and 0 hosts need 1 (use a /30 or larger network)"},
		{name: "BroadcastNotUsed", network: "10.0.0.0/29", hosts: hostsN(6),
			wantErr: "holds 6 usable addresses but the hub and 6 hosts need 7 (use a /28 or larger network)"},
		{name: "NotCIDR", network: "192.168.100.0", wantErr: `wireguard network "192.168.100.0": not a CIDR`},
		{name: "IPv6", network: "fd00::/64", wantErr: "wireguard network fd00::/64: not IPv4"},
		{name: "HostBits", network: "192.168.100.7/24", wantErr: "host bits set (write 192.168.100.0/24)"},
		{name: "Duplicate", network: "10.0.0.0/24", hosts: []Host{ctrl("c1"), work("c1")}, wantErr: `wireguard host 1: duplicate name "c1"`},
		{name: "HubNameReserved", network: "10.0.0.0/24", hosts: []Host{ctrl("operator")}, wantErr: `name "operator" is reserved for the hub`},
		{name: "UnsafeName", network: "10.0.0.0/24", hosts: []Host{ctrl("../x")}, wantErr: `name "../x" is not a path-safe word`},
		{name: "BadRole", network: "10.0.0.0/24", hosts: []Host{{Name: "x", Role: "hub"}}, wantErr: `wireguard host x: role "hub", want controller or worker`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Plan(tt.network, tt.hosts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Plan error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, peer := range p.Peers() {
				parts = append(parts, peer.Name+"="+peer.Address.String())
			}
			got := strings.Join(parts, " ")
			if len(parts) > 4 && strings.Contains(tt.want, "…") {
				got = parts[0] + " … " + parts[len(parts)-1]
			}
			if got != tt.want {
				t.Errorf("plan:\n got %s\nwant %s", got, tt.want)
			}
			if p.Hub.Role != RoleHub || p.Network.String() != tt.network {
				t.Errorf("hub role %q, network %s", p.Hub.Role, p.Network)
			}
		})
	}
}

func hostsN(n int) []Host {
	hs := make([]Host, n)
	for i := range hs {
		hs[i] = Host{Name: fmt.Sprintf("h%d", i+1), Role: RoleWorker}
	}
	return hs
}

func TestPlan_RolesAndLookup(t *testing.T) {
	p, err := Plan("192.168.100.0/24", []Host{{Name: "k0s-worker-1", Role: RoleWorker}, {Name: "k0s-controller-1", Role: RoleController}})
	if err != nil {
		t.Fatal(err)
	}
	h, ok := p.Host("k0s-worker-1")
	if !ok || h.Role != RoleWorker || h.Address != netip.MustParseAddr("192.168.100.3") || h.Prefix().String() != "192.168.100.3/32" {
		t.Errorf("Host(k0s-worker-1) = %+v, %v", h, ok)
	}
	if _, ok := p.Host(HubName); ok {
		t.Error("Host(operator) found the hub; Host looks up VMs only")
	}
}

func TestCapacity(t *testing.T) {
	for _, tt := range []struct {
		pfx  string
		want int
	}{{"10.0.0.0/32", 0}, {"10.0.0.0/31", 0}, {"10.0.0.0/30", 2}, {"10.0.0.0/24", 254}, {"10.0.0.0/8", 1<<24 - 2}, {"0.0.0.0/0", 1<<31 - 1}} {
		if got := Capacity(netip.MustParsePrefix(tt.pfx)); got != tt.want {
			t.Errorf("Capacity(%s) = %d, want %d", tt.pfx, got, tt.want)
		}
	}
}

func BenchmarkPlan(b *testing.B) {
	hosts := hostsN(2000)
	for b.Loop() {
		if _, err := Plan("10.0.0.0/16", hosts); err != nil {
			b.Fatal(err)
		}
	}
}
