package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate_K0rdent(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // problems, by substring; none means valid
	}{
		{"defaults", "", nil},
		{"local chart and management", `
  k0rdent:
    chart: charts/kcm
    management: {api_version: k0rdent.mirantis.com/v1alpha1, resource: managements, name: kcm}`, nil},
		{"chart archive URL", `
  k0rdent:
    registry: https://charts.example.com/kcm-1.4.0.tgz`, nil},
		{"unknown registry scheme", `
  k0rdent:
    registry: ghcr.io/k0rdent/kcm/charts/kcm`, []string{`software.k0rdent.registry: "ghcr.io/k0rdent/kcm/charts/kcm" is not an OCI chart reference (write oci://host/path/chart)`}},
		{"bad management", `
  k0rdent:
    management: {api_version: v1beta1, resource: Managements, name: KCM}`, []string{
			`software.k0rdent.management.api_version: "v1beta1" is not a group/version`,
			`software.k0rdent.management.resource: "Managements" is not a plural resource name`,
			`software.k0rdent.management.name: "KCM" is not a Kubernetes object name`,
		}},
		{"bad namespace", `
  k0rdent:
    namespace: KCM_System`, []string{`software.k0rdent.namespace: "KCM_System" is not a Kubernetes namespace name`}},
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
				t.Fatalf("Parse succeeded (%+v), want %q", c.Software.K0rdent, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not mention %q", err, w)
				}
			}
		})
	}
}

func TestConfig_K0rdentChartAndManagement(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse([]byte("azure: {location: westus2}\nsoftware:\n  k0rdent:\n    chart: charts/kcm\n    management: {name: other}\n"), filepath.Join(dir, "k0rdent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.K0rdentChart(), filepath.Join(dir, "charts/kcm"); got != want {
		t.Errorf("K0rdentChart() = %q, want %q", got, want)
	}
	g, v, r, n := c.ManagementObject()
	if got, want := strings.Join([]string{g, v, r, n}, " "), "k0rdent.mirantis.com v1beta1 managements other"; got != want {
		t.Errorf("ManagementObject() = %q, want %q", got, want)
	}

	// Unset, the keys stay out of the canonical form: digests of existing
	// configs do not change.
	d := Default()
	d.Azure.Location = "westus2"
	out, err := d.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"chart:", "management:"} {
		if strings.Contains(string(out), key) {
			t.Errorf("canonical form of the default config has %q:\n%s", key, out)
		}
	}
	if d.K0rdentChart() != "" {
		t.Errorf("K0rdentChart() of the default config = %q, want empty", d.K0rdentChart())
	}
}
