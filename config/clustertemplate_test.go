package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/internal/testbed"
)

// Every default ClusterTemplate is one that its KCM version ships (the list
// the test bed's KCM stand-in serves, taken from the KCM release tree), so
// no default is refused at admission.
func TestDefaultClusterTemplate_ShippedByKCM(t *testing.T) {
	table := DefaultClusterTemplates()
	if len(table) == 0 {
		t.Fatal("no KCM version has a default ClusterTemplate")
	}
	for kcm, tmpl := range table {
		shipped := testbed.KCMTemplates(kcm)
		if shipped == nil {
			t.Errorf("KCM %s: the test bed has no template list for it (add KCM %s's templates to internal/testbed KCMTemplates)", kcm, kcm)
			continue
		}
		if !slices.Contains(shipped, tmpl) {
			t.Errorf("KCM %s: default template %s is not among the templates it ships %v", kcm, tmpl, shipped)
		}
	}
	if got, _ := DefaultClusterTemplate(Default().Software.K0rdent.Version); got != "azure-standalone-cp-1-0-15" {
		t.Errorf("default KCM %s: template %q, want azure-standalone-cp-1-0-15", Default().Software.K0rdent.Version, got)
	}
}

// The templates follow software.k0rdent.version; a version with no known
// default is an error naming the key to set, and setting it is enough.
func TestDefaultClusterTemplate_ByKCMVersion(t *testing.T) {
	const children = `azure:
  location: westus2
azure_children:
  enabled: true
  clusters:
    - name: dev
kof:
  enabled: true
  regional:
    domain: kof.example.net
    admin_email: ops@example.net
`
	run := RunFlags{}
	cfg, err := Parse([]byte(children), "k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Validate(run); err != nil {
		t.Fatal(err)
	}
	if got := cfg.AzureChildren.Clusters[0].Template; got != "azure-standalone-cp-1-0-15" {
		t.Errorf("child template = %q, want azure-standalone-cp-1-0-15", got)
	}
	if got := cfg.KOF.Regional.Template; got != "azure-standalone-cp-1-0-15" {
		t.Errorf("regional template = %q, want azure-standalone-cp-1-0-15", got)
	}

	cfg, err = Parse([]byte(children+"software:\n  k0rdent:\n    version: 1.3.0\n"), "k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Validate(run)
	if err == nil {
		t.Fatal("KCM 1.3.0 with no template: validated, want an error")
	}
	for _, want := range []string{
		"azure_children.clusters[0].template: is required (k0rdent knows no default ClusterTemplate for KCM 1.3.0 (software.k0rdent.version); set azure_children.clusters[0].template",
		"kof.regional.template: is required (k0rdent knows no default ClusterTemplate for KCM 1.3.0 (software.k0rdent.version); set kof.regional.template",
		"known defaults: 1.4.0 → azure-standalone-cp-1-0-15",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	set := strings.Replace(children, "    - name: dev\n", "    - name: dev\n      template: azure-standalone-cp-1-0-12\n", 1) +
		""
	set = strings.Replace(set, "    admin_email: ops@example.net\n", "    admin_email: ops@example.net\n    template: azure-standalone-cp-1-0-12\n", 1)
	cfg, err = Parse([]byte(set+"software:\n  k0rdent:\n    version: 1.3.0\n"), "k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Validate(run); err != nil {
		t.Errorf("KCM 1.3.0 with the templates set: %v", err)
	}
}
