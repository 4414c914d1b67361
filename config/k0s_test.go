package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate_K0s(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // problems, by substring; none means valid
	}{
		{"defaults", "", nil},
		{"air-gapped and network", `
  k0s:
    version: v1.33.2+k0s.0
    binary_path: bin/k0s
    network:
      provider: calico
      calico_ip_autodetection: interface=eth0
      pod_cidr: 10.244.0.0/16
      service_cidr: 10.96.0.0/12
      disable_node_local_load_balancing: true`, nil},
		{"unknown provider", `
  k0s:
    network: {provider: flannel}`, []string{`software.k0s.network.provider: unknown provider "flannel"`}},
		{"autodetection without calico", `
  k0s:
    network: {provider: kuberouter, calico_ip_autodetection: first-found}`, []string{"software.k0s.network.calico_ip_autodetection: set, but the provider is kuberouter"}},
		{"bad and overlapping CIDRs", `
  k0s:
    network: {pod_cidr: 10.0.0.0/8, service_cidr: 10.96.0.0/12}`, []string{"software.k0s.network.service_cidr: 10.96.0.0/12 overlaps pod_cidr 10.0.0.0/8"}},
		{"not a CIDR", `
  k0s:
    network: {pod_cidr: ten}`, []string{`software.k0s.network.pod_cidr: "ten" is not an IPv4 CIDR`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "azure:\n  location: westus2\n"
			if tt.yaml != "" {
				doc += "software:" + tt.yaml + "\n"
			}
			c, err := Parse([]byte(doc), "k0rdent.yaml")
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want %q", c.Software.K0s, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not mention %q", err, w)
				}
			}
		})
	}
}

func TestConfig_K0sBinaryPath(t *testing.T) {
	doc := "azure:\n  location: westus2\nsoftware:\n  k0s:\n    binary_path: bin/k0s\n    network: {disable_node_local_load_balancing: true}\n"
	c, err := Parse([]byte(doc), filepath.Join("/etc/k0rdent", "k0rdent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.K0sBinaryPath(), "/etc/k0rdent/bin/k0s"; got != want {
		t.Errorf("K0sBinaryPath = %q, want %q", got, want)
	}
	if !c.Software.K0s.Network.DisableNodeLocalLoadBalancing {
		t.Error("disable_node_local_load_balancing = false, want true")
	}
	// A config without the new keys keeps its digest: they are omitted
	// from the canonical form.
	plain, err := Parse([]byte("azure:\n  location: westus2\n"), "k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	canon, err := plain.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(canon), "binary_path") || strings.Contains(string(canon), "calico") {
		t.Errorf("canonical form of a plain config mentions the k0s keys:\n%s", canon)
	}
}
