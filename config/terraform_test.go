package config

import (
	"strings"
	"testing"
)

func TestParse_Terraform(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    Terraform
		problem string
	}{
		{name: "Absent", yaml: ""},
		{name: "All", yaml: "terraform:\n  binary: /opt/tf/terraform\n  module: ./infra\n  version: 1.11.4\n",
			want: Terraform{Binary: "/opt/tf/terraform", Module: "./infra", Version: "1.11.4"}},
		{name: "BadVersion", yaml: "terraform:\n  version: latest\n",
			problem: `k0rdent.yaml:4: terraform.version: "latest" is not a terraform version like 1.11.4`},
		{name: "UnknownKey", yaml: "terraform:\n  path: /usr/bin/terraform\n",
			problem: `k0rdent.yaml:4: terraform.path: unknown key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte("azure:\n  location: westus2\n"+tt.yaml), "k0rdent.yaml")
			if tt.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tt.problem) {
					t.Fatalf("got %v, want a problem %q", err, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Terraform != tt.want {
				t.Errorf("got %+v, want %+v", c.Terraform, tt.want)
			}
		})
	}
}

// TestCanonical_TerraformOmittedWhenEmpty: a config without the section
// keeps the digest it had before the section existed.
func TestCanonical_TerraformOmittedWhenEmpty(t *testing.T) {
	c, err := Parse([]byte("azure:\n  location: westus2\n"), "k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "terraform") {
		t.Errorf("canonical form mentions terraform:\n%s", b)
	}
	c.Terraform.Module = "./infra"
	if b, _ = c.Canonical(); !strings.Contains(string(b), "module: ./infra") {
		t.Errorf("canonical form lacks terraform.module:\n%s", b)
	}
}
