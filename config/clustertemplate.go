package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// defaultClusterTemplates pairs a KCM version (software.k0rdent.version)
// with the Azure standalone ClusterTemplate that version ships: the default
// of azure_children.clusters[].template and kof.regional.template. KCM names
// its templates after their chart versions and ships only the current one,
// so a template of another KCM version is refused at admission.
//
// Source: k0rdent/kcm, templates/provider/kcm-templates/files/templates/ at
// each tag. Only v1.4.0 was checked against the upstream tree here (it ships
// exactly azure-standalone-cp-1-0-15; azure-standalone-cp-1-0-8 exists only
// in KCM v1.1.x, whose patch releases could not be told apart here, so 1.1.x
// is left out). Add a version only with the template name read from that
// tag, and add the tag's template list to internal/testbed (KCMTemplates),
// which TestDefaultClusterTemplate_ShippedByKCM checks it against.
var defaultClusterTemplates = map[string]string{
	"1.4.0": "azure-standalone-cp-1-0-15",
}

// DefaultClusterTemplate returns the Azure standalone ClusterTemplate KCM
// version kcm ships, and whether this k0rdent knows that version.
func DefaultClusterTemplate(kcm string) (string, bool) {
	t, ok := defaultClusterTemplates[strings.TrimPrefix(kcm, "v")]
	return t, ok
}

// DefaultClusterTemplates returns a copy of the table: each known KCM
// version with its Azure standalone ClusterTemplate.
func DefaultClusterTemplates() map[string]string {
	return maps.Clone(defaultClusterTemplates)
}

// unknownTemplateFix is the fix of a template left empty because
// software.k0rdent.version has no default.
func (c *Config) unknownTemplateFix(path string) string {
	var known []string
	for _, v := range slices.Sorted(maps.Keys(defaultClusterTemplates)) {
		known = append(known, v+" → "+defaultClusterTemplates[v])
	}
	return fmt.Sprintf("k0rdent knows no default ClusterTemplate for KCM %s (software.k0rdent.version); set %s to the Azure standalone ClusterTemplate your KCM ships (kubectl get clustertemplates -n kcm-system); known defaults: %s",
		c.Software.K0rdent.Version, path, strings.Join(known, ", "))
}
