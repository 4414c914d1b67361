package config

import (
	"net/netip"
	"path/filepath"
)

// K0s network providers (software.k0s.network.provider).
const (
	K0sProviderCalico     = "calico"
	K0sProviderKubeRouter = "kuberouter"
	K0sProviderCustom     = "custom"
)

// k0s checks software.k0s beyond its version: the network keys.
func (v *validator) k0s() {
	n := v.c.Software.K0s.Network
	switch n.Provider {
	case "", K0sProviderCalico, K0sProviderKubeRouter, K0sProviderCustom:
	default:
		v.errorf("software.k0s.network.provider", "unknown provider %q (write calico, kuberouter or custom)", n.Provider)
	}
	if n.CalicoIPAutodetection != "" && n.Provider != "" && n.Provider != K0sProviderCalico {
		v.errorf("software.k0s.network.calico_ip_autodetection", "set, but the provider is %s (remove it or use calico)", n.Provider)
	}
	var cidrs []netip.Prefix
	for _, c := range []struct{ path, s string }{
		{"software.k0s.network.pod_cidr", n.PodCIDR},
		{"software.k0s.network.service_cidr", n.ServiceCIDR},
	} {
		if c.s == "" {
			continue
		}
		if p, ok := v.prefix(c.path, c.s); ok {
			cidrs = append(cidrs, p)
		}
	}
	if len(cidrs) == 2 && cidrs[0].Overlaps(cidrs[1]) {
		v.errorf("software.k0s.network.service_cidr", "%s overlaps pod_cidr %s (pick disjoint ranges)", cidrs[1], cidrs[0])
	}
}

// K0sBinaryPath is software.k0s.binary_path made absolute against the
// config file's directory; empty when it is not set.
func (c *Config) K0sBinaryPath() string {
	p := c.Software.K0s.BinaryPath
	if p == "" || filepath.IsAbs(p) || c.File() == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.File()), p)
}
