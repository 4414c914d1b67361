package config

import (
	"path/filepath"
	"strings"
)

// Defaults of software.k0rdent.management: KCM 1.x's Management object.
const (
	DefaultManagementAPIVersion = "k0rdent.mirantis.com/v1beta1"
	DefaultManagementResource   = "managements"
	DefaultManagementName       = "kcm"
)

var (
	reAPIVersion = lazyRE(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?/v[0-9]+((alpha|beta)[0-9]+)?$`)
	reObjectName = lazyRE(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
)

// k0rdent checks software.k0rdent beyond its version: where the chart
// comes from, the namespace, and the Management object's name.
func (v *validator) k0rdent() {
	k := v.c.Software.K0rdent
	if r := k.Registry; !strings.HasPrefix(r, "oci://") && !strings.HasPrefix(r, "https://") && !strings.HasPrefix(r, "http://") {
		// The message predates http(s) archive URLs; tests pin it.
		v.errorf("software.k0rdent.registry", "%q is not an OCI chart reference (write oci://host/path/chart)", r)
	}
	v.match("software.k0rdent.namespace", k.Namespace, reDNSLabel, "a Kubernetes namespace name")
	m := k.Management
	if m.APIVersion != "" {
		v.match("software.k0rdent.management.api_version", m.APIVersion, reAPIVersion, "a group/version like "+DefaultManagementAPIVersion)
	}
	if m.Resource != "" {
		v.match("software.k0rdent.management.resource", m.Resource, reDNSLabel, "a plural resource name like "+DefaultManagementResource)
	}
	if m.Name != "" {
		v.match("software.k0rdent.management.name", m.Name, reObjectName, "a Kubernetes object name like "+DefaultManagementName)
	}
}

// K0rdentChart is software.k0rdent.chart made absolute against the config
// file's directory; empty when it is not set.
func (c *Config) K0rdentChart() string {
	p := c.Software.K0rdent.Chart
	if p == "" || filepath.IsAbs(p) || c.File() == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.File()), p)
}

// ManagementObject returns software.k0rdent.management with the defaults
// filled in: group, version, resource and name.
func (c *Config) ManagementObject() (group, version, resource, name string) {
	m := c.Software.K0rdent.Management
	av, resource, name := m.APIVersion, m.Resource, m.Name
	if av == "" {
		av = DefaultManagementAPIVersion
	}
	if resource == "" {
		resource = DefaultManagementResource
	}
	if name == "" {
		name = DefaultManagementName
	}
	group, version, _ = strings.Cut(av, "/")
	return group, version, resource, name
}
