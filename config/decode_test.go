package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// problems parses src as k0rdent.yaml and returns the formatted problems,
// failing the test when Parse succeeds.
func problems(t *testing.T, src string) []string {
	t.Helper()
	_, err := Parse([]byte(src), "k0rdent.yaml")
	if err == nil {
		t.Fatalf("Parse succeeded, want problems")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse error is %T (%v), want *Error", err, err)
	}
	var got []string
	for _, p := range e.Problems {
		got = append(got, p.String())
	}
	return got
}

func equalLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\ngot:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestParse_Problems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "EmptyFileNeedsLocation",
			src:  "",
			want: []string{"k0rdent.yaml: azure.location: is required (set azure.location to an Azure region, e.g. westus2)"},
		},
		{
			name: "UnknownKeySuggestsNearest",
			src:  "azure:\n  locaton: westus2\n",
			want: []string{
				"k0rdent.yaml:1: azure.location: is required (set azure.location to an Azure region, e.g. westus2)",
				`k0rdent.yaml:2: azure.locaton: unknown key (did you mean "location"?)`,
			},
		},
		{
			name: "UnknownKeyFarFromAllListsKnown",
			src:  "azure:\n  location: westus2\nfoo: bar\n",
			want: []string{"k0rdent.yaml:3: foo: unknown key (known keys: azure, azure_children, cluster, kof, metadata, network, phases, software, ssh, state, terraform, timeouts, version, vm_sizing, vpn)"},
		},
		{
			name: "UnknownKeyInListElement",
			src:  "azure:\n  location: westus2\nphases:\n  - name: a\n    command: [x]\n    dependson: [k0s]\n",
			want: []string{`k0rdent.yaml:6: phases[0].dependson: unknown key (did you mean "depends_on"?)`},
		},
		{
			name: "DuplicateKey",
			src:  "azure:\n  location: westus2\n  location: eastus\n",
			want: []string{"k0rdent.yaml:3: azure.location: duplicate key (first on line 2; keep one)"},
		},
		{
			name: "TypeErrors",
			src: "azure:\n  location: westus2\n  os_disk_size_gb: big\ncluster:\n  workers:\n    count: \"2\"\n    zones: 1\n" +
				"kof:\n  enabled: yes\nmetadata: [a]\n",
			want: []string{
				`k0rdent.yaml:3: azure.os_disk_size_gb: want an integer, got "big"`,
				`k0rdent.yaml:6: cluster.workers.count: want an integer, got "2"`,
				"k0rdent.yaml:7: cluster.workers.zones: want a list, got a scalar",
				`k0rdent.yaml:9: kof.enabled: want true or false, got "yes"`,
				"k0rdent.yaml:10: metadata: want a mapping, got a list",
			},
		},
		{
			name: "Durations",
			src:  "azure:\n  location: westus2\ntimeouts:\n  ssh_connect: 30\n  vm_creation: 10 minutes\n  vpn_connect: -1m\n",
			want: []string{
				`k0rdent.yaml:4: timeouts.ssh_connect: duration "30" has no unit (write e.g. 30s or 30m)`,
				`k0rdent.yaml:5: timeouts.vm_creation: want a duration like 30s or 10m, got "10 minutes"`,
				"k0rdent.yaml:6: timeouts.vpn_connect: must be a positive duration, got -1m (write e.g. 30s or 10m)",
			},
		},
		{
			name: "InvalidYAML",
			src:  "azure:\n  location: [westus2\n",
			want: []string{"k0rdent.yaml:1: invalid YAML: did not find expected ',' or ']' (fix the YAML syntax near this line: check brackets, quotes and indentation)"},
		},
		{
			name: "SecondDocument",
			src:  "azure:\n  location: westus2\n---\nx: 1\n",
			want: []string{"k0rdent.yaml:3: a second YAML document (keep one document per file)"},
		},
		{
			name: "DocumentNotAMapping",
			src:  "- 1\n",
			want: []string{
				"k0rdent.yaml:1: want a mapping of keys (azure:, cluster:, ...), got a list",
			},
		},
		{
			name: "FieldFormats",
			src: `version: 2
metadata:
  name: My_Cluster
azure:
  location: West US 2
  subscription_id: not-a-uuid
  vm_image: debian
  vm_priority: cheap
  os_disk_size_gb: 10
vm_sizing:
  controller:
    size: D2s_v5
ssh:
  username: root
software:
  k0s:
    version: 1.33.2
  k0rdent:
    version: latest
    registry: ghcr.io/k0rdent/kcm
    namespace: KCM
`,
			want: []string{
				"k0rdent.yaml:1: version: unsupported schema version 2 (this k0rdent reads version 1)",
				`k0rdent.yaml:3: metadata.name: "My_Cluster" is not a cluster name prefix (1-20 lower-case letters, digits and hyphens, starting with a letter)`,
				`k0rdent.yaml:5: azure.location: "West US 2" is not an Azure region name like westus2 (lower-case, no spaces)`,
				"k0rdent.yaml:6: azure.subscription_id: \"not-a-uuid\" is not a subscription id (a UUID; see `az account show`)",
				`k0rdent.yaml:7: azure.vm_image: "debian" is not an image URN (write publisher:offer:sku:version, e.g. Debian:debian-12:12-gen2:latest)`,
				`k0rdent.yaml:8: azure.vm_priority: "cheap" is not a VM priority (write Regular or Spot)`,
				"k0rdent.yaml:9: azure.os_disk_size_gb: 10 is out of range (Azure OS disks are 30 to 4095 GB)",
				`k0rdent.yaml:12: vm_sizing.controller.size: "D2s_v5" is not an Azure VM size like Standard_D2s_v5`,
				`k0rdent.yaml:14: ssh.username: "root" is reserved by Azure (pick another name, e.g. k0rdent)`,
				`k0rdent.yaml:17: software.k0s.version: "1.33.2" is not a k0s version like v1.33.2+k0s.0`,
				`k0rdent.yaml:19: software.k0rdent.version: "latest" is not a chart version like 1.4.0`,
				`k0rdent.yaml:20: software.k0rdent.registry: "ghcr.io/k0rdent/kcm" is not an OCI chart reference (write oci://host/path/chart)`,
				`k0rdent.yaml:21: software.k0rdent.namespace: "KCM" is not a Kubernetes namespace name`,
			},
		},
		{
			name: "Network",
			src: `azure:
  location: westus2
network:
  vnet_prefix: 10.0.0.0/33
  subnet_prefix: 10.1.0.1/24
  wireguard_network: fd00::/64
  wireguard_port: 70000
`,
			want: []string{
				`k0rdent.yaml:4: network.vnet_prefix: "10.0.0.0/33" is not an IPv4 CIDR (write e.g. 10.0.0.0/16)`,
				`k0rdent.yaml:5: network.subnet_prefix: "10.1.0.1/24" has host bits set (write 10.1.0.0/24)`,
				`k0rdent.yaml:6: network.wireguard_network: "fd00::/64" is not an IPv4 CIDR (write e.g. 10.0.0.0/16)`,
				"k0rdent.yaml:7: network.wireguard_port: 70000 is not a port (write 1-65535, or 0 to pick one at random)",
			},
		},
		{
			name: "Counts",
			src:  "azure:\n  location: westus2\ncluster:\n  controllers:\n    count: 0\n    zones: [1, 4, 1]\n  workers:\n    count: -1\n",
			want: []string{
				"k0rdent.yaml:5: cluster.controllers.count: must be at least 1, got 0",
				"k0rdent.yaml:6: cluster.controllers.zones[1]: zone 4 does not exist (Azure zones are 1, 2 and 3)",
				"k0rdent.yaml:6: cluster.controllers.zones[2]: zone 1 is listed twice (list each zone once)",
				"k0rdent.yaml:8: cluster.workers.count: must be 0 or more, got -1",
			},
		},
		{
			name: "TooManyHosts",
			src:  "azure:\n  location: westus2\nnetwork:\n  wireguard_network: 10.128.0.0/9\ncluster:\n  workers:\n    count: 5000\n",
			want: []string{
				"k0rdent.yaml:7: cluster.workers.count: 5000 is more than 1000 VMs (a management cluster needs a handful; put workloads in azure_children clusters)",
			},
		},
		{
			name: "MapKeyNotPlain",
			src:  "azure:\n  location: westus2\nphases:\n  - name: a\n    command: [x]\n    env:\n      [a]: b\n",
			want: []string{"k0rdent.yaml:7: phases[0].env: a key must be a plain name, got a list"},
		},
		{
			name: "CommandPhases",
			src: `azure:
  location: westus2
phases:
  - name: Smoke_Test
    command: []
    depends_on: [smoke, k0rdent, k0rdent, Bad_Dep]
    when: sometimes
    env: {K0RDENT_X: a, "1x": c}
    retries: -1
    timeout: 0s
  - name: smoke
    command: [x]
    depends_on: [smoke]
  - name: smoke
    command: [""]
  - command: [x]
`,
			want: []string{
				`k0rdent.yaml:4: phases[0].name: "Smoke_Test" is not a kebab-case name (lower-case letters and digits joined by single hyphens)`,
				"k0rdent.yaml:5: phases[0].command: is required (write the argv as a list, e.g. command: [kubectl, get, nodes])",
				`k0rdent.yaml:6: phases[0].depends_on[2]: "k0rdent" is listed twice (list each dependency once)`,
				`k0rdent.yaml:6: phases[0].depends_on[3]: "Bad_Dep" is not a phase name (kebab-case, or azure-children/<cluster>)`,
				`k0rdent.yaml:7: phases[0].when: "sometimes" is not a condition (write always, never, with_kof, with_azure_children, or one of them negated with !)`,
				`k0rdent.yaml:8: phases[0].env.1x: "1x" is not an environment variable name (letters, digits and _, not starting with a digit)`,
				"k0rdent.yaml:8: phases[0].env.K0RDENT_X: K0RDENT_ variables are set by k0rdent itself (rename K0RDENT_X)",
				"k0rdent.yaml:9: phases[0].retries: -1 is out of range (write 0 to 10)",
				`k0rdent.yaml:13: phases[1].depends_on[0]: a phase cannot depend on itself (remove "smoke")`,
				`k0rdent.yaml:14: phases[2].name: "smoke" is also the name of phases[1] (names must be unique)`,
				"k0rdent.yaml:15: phases[2].command[0]: the program is empty (name an executable)",
				"k0rdent.yaml:16: phases[3].name: is required (name the phase in kebab-case, e.g. name: smoke-test)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equalLines(t, problems(t, tt.src), tt.want)
		})
	}
}

func TestParse_ErrorKeepsWarnings(t *testing.T) {
	_, err := Parse([]byte("azure:\n  location: westus2\ncluster:\n  controllers:\n    count: 2\n  workers:\n    count: -1\n"), "k.yaml")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want *Error", err)
	}
	if len(e.Warnings) != 1 || e.Warnings[0].Path != "cluster.controllers.count" {
		t.Errorf("warnings: got %v, want one on cluster.controllers.count", e.Warnings)
	}
	if got, want := e.Error(), "k.yaml:7: cluster.workers.count: must be 0 or more, got -1"; got != want {
		t.Errorf("Error(): got %q, want %q", got, want)
	}
}

func TestParse_MergeKeysAndAliases(t *testing.T) {
	// Top-level x- keys are ignored: a place for anchors.
	src := `x-size: &size
  size: Standard_D4s_v5
azure:
  location: westus2
vm_sizing:
  controller: *size
  worker:
    <<: *size
`
	c, err := Parse([]byte(src), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.VMSizing.Controller.Size != "Standard_D4s_v5" || c.VMSizing.Worker.Size != "Standard_D4s_v5" {
		t.Errorf("sizes: got %+v, want Standard_D4s_v5 for both", c.VMSizing)
	}
	equalLines(t, problems(t, "azure:\n  location: westus2\n  x-size: 1\n"),
		[]string{"k0rdent.yaml:3: azure.x-size: unknown key (known keys: eviction_policy, location, os_disk_size_gb, subscription_id, vm_image, vm_priority)"})
}

func TestParse_NullValueKeepsDefault(t *testing.T) {
	c, err := Parse([]byte("azure:\n  location: westus2\n  vm_image:\ncluster:\n"), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Azure.VMImage, "Debian:debian-12:12-gen2:latest"; got != want {
		t.Errorf("vm_image: got %q, want %q", got, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "k0rdent init") {
		t.Errorf("missing file: got %v, want a not-exist error naming `k0rdent init`", err)
	}
	path := filepath.Join(dir, "k0rdent.yaml")
	if err := os.WriteFile(path, []byte("azure:\n  location: eastus\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.File() != path || c.Azure.Location != "eastus" {
		t.Errorf("got file %q location %q, want %q eastus", c.File(), c.Azure.Location, path)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"controllers", "workers", "zones", "count"}
	tests := []struct{ key, want string }{
		{"controller", ` (did you mean "controllers"?)`},
		{"worker", ` (did you mean "workers"?)`},
		{"Zones", ` (did you mean "zones"?)`},
		{"coutn", ` (did you mean "count"?)`},
		{"cnt", " (known keys: controllers, workers, zones, count)"},
		{"xyz", " (known keys: controllers, workers, zones, count)"},
	}
	for _, tt := range tests {
		if got := suggest(tt.key, known); got != tt.want {
			t.Errorf("suggest(%q): got %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestConfig_Line(t *testing.T) {
	c := mustParse(t, "azure:\n  location: westus2\nphases:\n  - name: a\n    command: [x]\n  - name: b\n    command: [y]\n")
	for _, tt := range []struct {
		path string
		want int
	}{
		{"azure.location", 2},
		{"phases[1].name", 6},
		{"phases[1]", 6},
		{"phases[1].depends_on", 6}, // absent: the element's line
		{"azure.vm_image", 1},       // absent: the section's line
		{"network.vnet_prefix", 0},  // absent section
	} {
		if got := c.Line(tt.path); got != tt.want {
			t.Errorf("Line(%q): got %d, want %d", tt.path, got, tt.want)
		}
	}
}

// TestParse_LegacyConfig parses the bash tool's default config: every key
// this schema renamed or dropped gets a fix, and nothing else is reported.
func TestParse_LegacyConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "legacy-default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(data, "k0rdent.yaml")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want *Error", err)
	}
	var got []string
	for _, p := range e.Problems {
		got = append(got, p.String())
	}
	equalLines(t, got, []string{
		"k0rdent.yaml:4: metadata.version: unknown key: the bash tool's header (remove it; the schema version is the top-level version: 1)",
		"k0rdent.yaml:5: metadata.schema: unknown key: the bash tool's header (remove it)",
		"k0rdent.yaml:30: ssh.key_comment: unknown key: the bash tool never used it (remove it)",
		`k0rdent.yaml:39: timeouts.ssh_connect: duration "30" has no unit (write e.g. 30s or 30m)`,
		"k0rdent.yaml:40: timeouts.k0s_install_wait: unknown key: renamed (write timeouts.k0s_install with a unit, e.g. 20m)",
		"k0rdent.yaml:41: timeouts.k0rdent_install_wait: unknown key: renamed (write timeouts.k0rdent_install with a unit, e.g. 25m)",
		"k0rdent.yaml:42: timeouts.wireguard_connect_wait: unknown key: renamed (write timeouts.vpn_connect with a unit, e.g. 2m)",
		"k0rdent.yaml:43: timeouts.vm_creation_minutes: unknown key: renamed (write timeouts.vm_creation with a unit, e.g. 10m)",
		"k0rdent.yaml:44: timeouts.vm_wait_check_interval: unknown key: renamed (write timeouts.vm_check_interval with a unit, e.g. 30s)",
		`k0rdent.yaml:46: timeouts.verification_retry_delay: duration "10" has no unit (write e.g. 10s or 10m)`,
		"k0rdent.yaml:57: kof.mothership.retry_delay_seconds: unknown key: renamed (write kof.mothership.retry_delay with a unit, e.g. 30s)",
		"k0rdent.yaml:58: kof.mothership.collectors: unknown key: the bash tool never used it (remove it)",
		`k0rdent.yaml:69: kof.regional.root_volume_size: want an integer, got "32"`,
	})
	// Regular VMs with an eviction policy, as the bash tool's default file
	// has them, only warn.
	var warns []string
	for _, w := range e.Warnings {
		warns = append(warns, w.String())
	}
	if want := "k0rdent.yaml:11: azure.eviction_policy: ignored: only Spot VMs have an eviction policy (remove it, or set vm_priority: Spot)"; !slices.Contains(warns, want) {
		t.Errorf("warnings %q lack %q", warns, want)
	}
}
