package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// mustParse parses src or fails the test.
func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse([]byte(src), "k0rdent.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// validate runs Validate with flags and returns the formatted problems and
// warnings.
func validate(t *testing.T, c *Config, run RunFlags) (probs, warns []string) {
	t.Helper()
	ws, err := c.Validate(run)
	for _, w := range ws {
		warns = append(warns, w.String())
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Validate error is %T, want *Error", err)
		}
		for _, p := range e.Problems {
			probs = append(probs, p.String())
		}
	}
	return probs, warns
}

const kofBase = `azure:
  location: westus2
kof:
  regional:
    domain: kof.acme.internal
    admin_email: ops@acme.internal
`

func TestValidate_CrossField(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		run       RunFlags
		wantProbs []string
		wantWarns []string
	}{
		{
			name: "KOFDisabledIsNotValidated",
			src:  "azure:\n  location: westus2\nkof:\n  version: nope\n  regional:\n    domain: \"not a domain\"\n",
		},
		{
			name: "KOFRegionalNeedsAzureChildren",
			src:  kofBase,
			run:  RunFlags{WithKOF: yes},
			wantProbs: []string{
				"k0rdent.yaml:4: kof.regional: the KOF regional cluster needs the Azure credentials of azure_children (set azure_children.enabled: true or run with --with-azure-children, or set kof.regional.enabled: false)",
			},
		},
		{
			// Parse accepts it (--with-azure-children could be given);
			// Validate without the flag refuses it.
			name: "KOFEnabledInFileNeedsAzureChildren",
			src:  kofBase + "  enabled: true\n",
			wantProbs: []string{
				"k0rdent.yaml:4: kof.regional: the KOF regional cluster needs the Azure credentials of azure_children (set azure_children.enabled: true or run with --with-azure-children, or set kof.regional.enabled: false)",
			},
		},
		{
			name: "KOFEnabledInFileWithAzureChildrenFlag",
			src:  kofBase + "  enabled: true\n",
			run:  RunFlags{WithAzureChildren: yes},
		},
		{
			name: "KOFRegionalWithAzureChildrenFlag",
			src:  kofBase,
			run:  RunFlags{WithKOF: yes, WithAzureChildren: yes},
		},
		{
			name: "KOFRegionalWithAzureChildrenEnabledInFile",
			src:  kofBase + "azure_children:\n  enabled: true\n",
			run:  RunFlags{WithKOF: yes},
		},
		{
			name: "KOFWithoutRegionalNeedsNoAzureChildren",
			src:  "azure:\n  location: westus2\nkof:\n  regional:\n    enabled: false\n",
			run:  RunFlags{WithKOF: yes},
		},
		{
			name: "KOFRegionalCredentialMustBeAzureChildrens",
			src:  kofBase + "    credential: other-cred\nazure_children:\n  credential: my-cred\n",
			run:  RunFlags{WithKOF: yes, WithAzureChildren: yes},
			wantProbs: []string{
				`k0rdent.yaml:7: kof.regional.credential: "other-cred" is not the credential azure_children creates, "my-cred" (make them equal, or remove kof.regional.credential)`,
			},
		},
		{
			name: "ChildReadyTimeoutNegative",
			src:  "azure:\n  location: westus2\nazure_children:\n  enabled: true\n  clusters:\n    - name: dev\n      ready_timeout: -5m\n    - name: ok\n      ready_timeout: 45m\n",
			wantProbs: []string{
				"k0rdent.yaml:7: azure_children.clusters[0].ready_timeout: must be a positive duration, got -5m (write e.g. 30s or 10m)",
			},
		},
		{
			name: "KOFRegionalCredentialFollowsAzureChildren",
			src:  kofBase + "azure_children:\n  credential: my-cred\n",
			run:  RunFlags{WithKOF: yes, WithAzureChildren: yes},
		},
		{
			name: "KOFNeedsDomainAndEmail",
			src:  "azure:\n  location: westus2\nkof:\n  enabled: true\nazure_children:\n  enabled: true\n",
			wantProbs: []string{
				"k0rdent.yaml:3: kof.regional.admin_email: is required (set the address that receives certificate notices)",
				"k0rdent.yaml:3: kof.regional.domain: is required (set the regional cluster's DNS domain, e.g. kof.example.net)",
			},
		},
		{
			name: "KOFFormats",
			src: `azure:
  location: westus2
azure_children:
  enabled: true
  clusters:
    - name: kof-eu
kof:
  enabled: true
  version: one
  istio:
    namespace: Istio
  mothership:
    install_retries: -1
  regional:
    cluster_name: kof-eu
    domain: example.com
    admin_email: admin@example.com
    root_volume_size: -5
`,
			wantProbs: []string{
				`k0rdent.yaml:9: kof.version: "one" is not a chart version like 1.1.0`,
				`k0rdent.yaml:11: kof.istio.namespace: "Istio" is not a Kubernetes namespace name`,
				"k0rdent.yaml:13: kof.mothership.install_retries: must be 0 or more, got -1",
				`k0rdent.yaml:15: kof.regional.cluster_name: "kof-eu" is also azure_children.clusters[0].name (rename one of them)`,
				"k0rdent.yaml:18: kof.regional.root_volume_size: must be at least 1 (GB), got -5",
			},
			wantWarns: []string{
				`k0rdent.yaml:16: kof.regional.domain: "example.com" is a placeholder (set your own domain)`,
				`k0rdent.yaml:17: kof.regional.admin_email: "admin@example.com" is a placeholder (set your own address)`,
			},
		},
		{
			// kof.enabled: true, but --with-kof=false takes precedence:
			// the section is neither checked nor warned about.
			name: "KOFEnabledInFileOffByFlagIsNotValidated",
			src:  "azure:\n  location: westus2\nkof:\n  enabled: true\n  version: nope\n  regional:\n    domain: example.com\n",
			run:  RunFlags{WithKOF: no},
		},
		{
			// The same file without the flag: kof.enabled decides.
			name: "KOFEnabledInFileIsValidated",
			src:  "azure:\n  location: westus2\nkof:\n  enabled: true\n  version: nope\n  regional:\n    enabled: false\n    domain: example.com\n",
			wantProbs: []string{
				`k0rdent.yaml:5: kof.version: "nope" is not a chart version like 1.1.0`,
			},
		},
		{
			// azure_children.enabled: true, but --with-azure-children=false
			// takes precedence, and KOF stays off.
			name: "AzureChildrenEnabledInFileOffByFlagIsNotValidated",
			src:  "azure:\n  location: westus2\nazure_children:\n  enabled: true\n  credential: Cred\n  clusters:\n    - name: Bad_Name\n",
			run:  RunFlags{WithAzureChildren: no},
		},
		{
			// azure_children off by the flag no longer supplies the
			// credentials KOF's regional cluster needs.
			name: "KOFRegionalNeedsAzureChildrenOffByFlag",
			src:  kofBase + "  enabled: true\nazure_children:\n  enabled: true\n",
			run:  RunFlags{WithAzureChildren: no},
			wantProbs: []string{
				"k0rdent.yaml:4: kof.regional: the KOF regional cluster needs the Azure credentials of azure_children, which --with-azure-children=false turns off for this run (drop that flag, or set kof.regional.enabled: false)",
			},
		},
		{
			name: "AzureChildrenDisabledIsNotValidated",
			src:  "azure:\n  location: westus2\nazure_children:\n  clusters:\n    - name: Bad_Name\n",
		},
		{
			name: "AzureChildrenClusters",
			src: `azure:
  location: westus2
azure_children:
  enabled: true
  credential: Cred
  clusters:
    - name: dev
      cp_count: -1
      worker_instance_size: big
      labels:
        team: platform
        "bad key!": x
    - name: dev
      location: West Europe
    - location: eastus
`,
			wantProbs: []string{
				`k0rdent.yaml:5: azure_children.credential: "Cred" is not a Kubernetes object name`,
				"k0rdent.yaml:8: azure_children.clusters[0].cp_count: must be at least 1, got -1",
				`k0rdent.yaml:9: azure_children.clusters[0].worker_instance_size: "big" is not an Azure VM size like Standard_D2s_v5`,
				`k0rdent.yaml:12: azure_children.clusters[0].labels.bad key!: "bad key!" is not a Kubernetes label key`,
				`k0rdent.yaml:13: azure_children.clusters[1].name: "dev" is also the name of azure_children.clusters[0] (names must be unique)`,
				`k0rdent.yaml:14: azure_children.clusters[1].location: "West Europe" is not an Azure region name like westus2 (lower-case, no spaces)`,
				"k0rdent.yaml:15: azure_children.clusters[2].name: is required (name the child cluster, e.g. name: dev-1)",
			},
		},
		{
			name: "EvenControllersWarn",
			src:  "azure:\n  location: westus2\ncluster:\n  controllers:\n    count: 4\n    zones: [1, 2, 3]\n",
			wantWarns: []string{
				"k0rdent.yaml:5: cluster.controllers.count: 4 controllers: an even count adds no fault tolerance to etcd (use 3 or 5)",
			},
		},
		{
			name: "TwoControllersWarn",
			src:  "azure:\n  location: westus2\ncluster:\n  controllers:\n    count: 2\n",
			wantWarns: []string{
				"k0rdent.yaml:5: cluster.controllers.count: 2 controllers: an even count adds no fault tolerance to etcd (use 1 or 3)",
			},
		},
		{
			name: "NoWorkersAndSpareZonesWarn",
			src:  "azure:\n  location: westus2\ncluster:\n  controllers:\n    count: 1\n    zones: [1, 2]\n  workers:\n    count: 0\n",
			wantWarns: []string{
				"k0rdent.yaml:6: cluster.controllers.zones: only the first 1 of 2 zones are used, one per host (list at most 1)",
				"k0rdent.yaml:8: cluster.workers.count: no workers: the controllers run the workloads",
			},
		},
		{
			name: "WireGuardExactlyFits",
			// A /29 has 6 usable addresses: the hub and 5 hosts.
			src: "azure:\n  location: westus2\nnetwork:\n  wireguard_network: 10.9.0.0/29\ncluster:\n  controllers:\n    count: 3\n  workers:\n    count: 2\n",
		},
		{
			name: "WireGuardTooSmall",
			src:  "azure:\n  location: westus2\nnetwork:\n  wireguard_network: 10.9.0.0/29\ncluster:\n  controllers:\n    count: 3\n  workers:\n    count: 3\n",
			wantProbs: []string{
				"k0rdent.yaml:4: network.wireguard_network: 10.9.0.0/29 holds 6 addresses but the hub and 6 hosts need 7 (use a /28 or larger network)",
			},
		},
		{
			name: "WireGuardDefaultTooSmallForManyHosts",
			src:  "azure:\n  location: westus2\ncluster:\n  workers:\n    count: 254\n",
			wantProbs: []string{
				"k0rdent.yaml: network.wireguard_network: 192.168.100.0/24 holds 254 addresses but the hub and 255 hosts need 256 (use a /23 or larger network)",
			},
		},
		{
			name: "WireGuardOverlapsVNet",
			src:  "azure:\n  location: westus2\nnetwork:\n  wireguard_network: 10.0.200.0/24\n",
			wantProbs: []string{
				"k0rdent.yaml:4: network.wireguard_network: 10.0.200.0/24 overlaps network.vnet_prefix 10.0.0.0/16 (pick a separate range, e.g. 192.168.100.0/24)",
			},
		},
		{
			name: "SubnetOutsideVNet",
			src:  "azure:\n  location: westus2\nnetwork:\n  vnet_prefix: 10.1.0.0/16\n",
			wantProbs: []string{
				"k0rdent.yaml:3: network.subnet_prefix: 10.0.1.0/24 is not inside network.vnet_prefix 10.1.0.0/16 (pick a subnet of the VNet)",
			},
		},
		{
			name: "SubnetLargerThanVNet",
			src:  "azure:\n  location: westus2\nnetwork:\n  vnet_prefix: 10.0.0.0/16\n  subnet_prefix: 10.0.0.0/8\n",
			wantProbs: []string{
				"k0rdent.yaml:5: network.subnet_prefix: 10.0.0.0/8 is not inside network.vnet_prefix 10.0.0.0/16 (pick a subnet of the VNet)",
			},
		},
		{
			name: "EvictionPolicyWithRegularWarns",
			src:  "azure:\n  location: westus2\n  eviction_policy: Delete\n",
			wantWarns: []string{
				"k0rdent.yaml:3: azure.eviction_policy: ignored: only Spot VMs have an eviction policy (remove it, or set vm_priority: Spot)",
			},
		},
		{
			name: "BadEvictionPolicy",
			src:  "azure:\n  location: westus2\n  vm_priority: spot\n  eviction_policy: Stop\n",
			wantProbs: []string{
				`k0rdent.yaml:4: azure.eviction_policy: "Stop" is not an eviction policy (write Deallocate or Delete)`,
			},
		},
		{
			name: "SecretLookingEnvWarns",
			src:  "azure:\n  location: westus2\nphases:\n  - name: a\n    command: [x]\n    env:\n      API_TOKEN: abc\n",
			wantWarns: []string{
				"k0rdent.yaml:7: phases[0].env.API_TOKEN: looks like a secret: config values are not secret (export it in the environment of k0rdent instead; command phases inherit it)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Parse reports what it can without flags; Validate with
			// the run's flags reports the rest.
			var probs, warns []string
			c, err := Parse([]byte(tt.src), "k0rdent.yaml")
			var e *Error
			switch {
			case err == nil:
				probs, warns = validate(t, c, tt.run)
			case !errors.As(err, &e):
				t.Fatalf("Parse: %v", err)
			default:
				for _, p := range e.Problems {
					probs = append(probs, p.String())
				}
				for _, w := range e.Warnings {
					warns = append(warns, w.String())
				}
			}
			if got, want := strings.Join(probs, "\n"), strings.Join(tt.wantProbs, "\n"); got != want {
				t.Errorf("problems:\ngot:\n  %s\nwant:\n  %s", strings.ReplaceAll(got, "\n", "\n  "), strings.ReplaceAll(want, "\n", "\n  "))
			}
			if got, want := strings.Join(warns, "\n"), strings.Join(tt.wantWarns, "\n"); got != want {
				t.Errorf("warnings:\ngot:\n  %s\nwant:\n  %s", strings.ReplaceAll(got, "\n", "\n  "), strings.ReplaceAll(want, "\n", "\n  "))
			}
		})
	}
}

func TestParse_SpotPriorityIsCaseInsensitive(t *testing.T) {
	for _, prio := range []string{"Spot", "spot", "SPOT", "sPoT"} {
		t.Run(prio, func(t *testing.T) {
			c := mustParse(t, "azure:\n  location: westus2\n  vm_priority: "+prio+"\n  eviction_policy: delete\n")
			if c.Azure.VMPriority != PrioritySpot || !c.Azure.IsSpot() {
				t.Errorf("vm_priority: got %q, want %q", c.Azure.VMPriority, PrioritySpot)
			}
			if c.Azure.EvictionPolicy != EvictionDelete {
				t.Errorf("eviction_policy: got %q, want %q", c.Azure.EvictionPolicy, EvictionDelete)
			}
		})
	}
	c := mustParse(t, "azure:\n  location: westus2\n  vm_priority: SPOT\n")
	if c.Azure.EvictionPolicy != EvictionDeallocate {
		t.Errorf("spot default eviction_policy: got %q, want %q", c.Azure.EvictionPolicy, EvictionDeallocate)
	}
	c = mustParse(t, "azure:\n  location: westus2\n  vm_priority: regular\n")
	if c.Azure.VMPriority != PriorityRegular || c.Azure.EvictionPolicy != "" {
		t.Errorf("regular: got %q/%q, want Regular and no eviction policy", c.Azure.VMPriority, c.Azure.EvictionPolicy)
	}
}

func TestParse_DerivedDefaults(t *testing.T) {
	c := mustParse(t, `azure:
  location: eastus
azure_children:
  credential: team-cred
  clusters:
    - name: a
    - name: b
      location: westeurope
phases:
  - name: p
    command: [x]
`)
	if got := c.AzureChildren.Clusters[0].Location; got != "eastus" {
		t.Errorf("child a location: got %q, want eastus (azure.location)", got)
	}
	if got := c.AzureChildren.Clusters[1].Location; got != "westeurope" {
		t.Errorf("child b location: got %q, want westeurope", got)
	}
	if got := c.KOF.Regional.Location; got != "eastus" {
		t.Errorf("kof.regional.location: got %q, want eastus", got)
	}
	if got := c.KOF.Regional.Credential; got != "team-cred" {
		t.Errorf("kof.regional.credential: got %q, want team-cred (azure_children.credential)", got)
	}
	if p := c.Phases[0]; p.When != CondAlways || p.Timeout.String() != "30m" || p.Retries != 0 {
		t.Errorf("phase defaults: got when %q timeout %s retries %d, want always 30m 0", p.When, p.Timeout, p.Retries)
	}
}

func TestConfig_Hosts(t *testing.T) {
	c := mustParse(t, `azure:
  location: westus2
cluster:
  controllers:
    count: 3
    zones: [1, 2, 3]
  workers:
    count: 2
    zones: [3, 2]
`)
	var got []string
	for _, h := range c.Hosts() {
		got = append(got, h.Name+"/"+h.Role+"/"+h.Size+"/"+string(rune('0'+h.Zone)))
	}
	want := []string{
		"k0s-controller-1/controller/Standard_D2s_v5/1",
		"k0s-controller-2/controller/Standard_D2s_v5/2",
		"k0s-controller-3/controller/Standard_D2s_v5/3",
		"k0s-worker-1/worker/Standard_D2s_v5/3",
		"k0s-worker-2/worker/Standard_D2s_v5/2",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Hosts:\ngot  %v\nwant %v", got, want)
	}
}

// yes and no are run flags given as true and as false.
var yes, no = Bool(true), Bool(false)

func TestConfig_Effective(t *testing.T) {
	c := mustParse(t, "azure:\n  location: westus2\nazure_children:\n  enabled: true\n")
	if got, want := c.Effective(RunFlags{}), (Flags{WithAzureChildren: true}); got != want {
		t.Errorf("Effective(none): got %+v, want %+v", got, want)
	}
	if got, want := c.Effective(RunFlags{WithKOF: yes}), (Flags{WithKOF: true, WithAzureChildren: true}); got != want {
		t.Errorf("Effective(kof): got %+v, want %+v", got, want)
	}
	if got, want := c.Effective(RunFlags{WithKOF: yes, WithAzureChildren: no}), (Flags{WithKOF: true}); got != want {
		t.Errorf("Effective(kof, azure-children=false): got %+v, want %+v", got, want)
	}
}

// TestConfig_DecideFlagTakesPrecedence: for both optional components, every
// combination of the run flag (not given, given true, given false) and the
// config's enabled key: a given flag wins in both directions, a flag not
// given leaves it to the key, and the reason says which decided.
func TestConfig_DecideFlagTakesPrecedence(t *testing.T) {
	for _, comp := range []struct {
		name, flag, key, section string
		set                      func(f *RunFlags, v *bool)
	}{
		{FlagWithKOF, "--with-kof", "kof.enabled", "kof", func(f *RunFlags, v *bool) { f.WithKOF = v }},
		{FlagWithAzureChildren, "--with-azure-children", "azure_children.enabled", "azure_children", func(f *RunFlags, v *bool) { f.WithAzureChildren = v }},
	} {
		for _, tt := range []struct {
			flag       *bool
			conf       bool
			wantOn     bool
			wantByFlag bool
			wantReason string
		}{
			{nil, false, false, false, comp.flag + " not set and " + comp.key + " is false"},
			{nil, true, true, false, comp.flag + " not set and " + comp.key + " is true"},
			{yes, false, true, true, comp.flag + " given (" + comp.key + " is false in k0rdent.yaml)"},
			{yes, true, true, true, comp.flag + " given (" + comp.key + " is true too)"},
			{no, false, false, true, comp.flag + "=false given (" + comp.key + " is false too)"},
			{no, true, false, true, comp.flag + "=false given (" + comp.key + " is true in k0rdent.yaml)"},
		} {
			given := "unset"
			if tt.flag != nil {
				given = strconv.FormatBool(*tt.flag)
			}
			t.Run(fmt.Sprintf("%s/flag=%s/config=%t", comp.name, given, tt.conf), func(t *testing.T) {
				c := mustParse(t, fmt.Sprintf("azure:\n  location: westus2\n%s:\n  enabled: %t\n", comp.section, tt.conf))
				var run RunFlags
				comp.set(&run, tt.flag)
				d := c.Decide(run, comp.name)
				if d.On != tt.wantOn || d.ByFlag != tt.wantByFlag || d.Reason != tt.wantReason {
					t.Errorf("Decide: got %+v, want {On:%t ByFlag:%t Reason:%s}", d, tt.wantOn, tt.wantByFlag, tt.wantReason)
				}
				on := c.Effective(run)
				if got := map[string]bool{FlagWithKOF: on.WithKOF, FlagWithAzureChildren: on.WithAzureChildren}[comp.name]; got != tt.wantOn {
					t.Errorf("Effective: %s is %t, want %t", comp.name, got, tt.wantOn)
				}
			})
		}
	}
}

func TestDefault_IsValid(t *testing.T) {
	c := Default()
	c.Azure.Location = "westus2"
	c.SetDefaults()
	if _, err := c.Validate(RunFlags{}); err != nil {
		t.Errorf("Default with a location: %v", err)
	}
}

func TestValidate_VPN(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{name: "Defaults", src: ""},
		{name: "FifteenCharacters", src: "vpn:\n  interface: wg-k0rdent-1234\n  mode: Userspace\n"},
		{
			name: "TooLongModeAndPort",
			src:  "vpn:\n  interface: wg-k0rdent-12345\n  mode: tun\n  ssh_port: 70000\n",
			want: []string{
				`k0rdent.yaml:4: vpn.interface: "wg-k0rdent-12345" is not a Linux interface name (1-15 letters, digits, '.', '-' or '_', e.g. wg-k0rdent)`,
				`k0rdent.yaml:5: vpn.mode: "tun" is not a mode (write auto, kernel or userspace)`,
				`k0rdent.yaml:6: vpn.ssh_port: must be a TCP port (1-65535), got 70000`,
			},
		},
		{
			name: "Slash",
			src:  "vpn:\n  interface: wg/0\n",
			want: []string{`k0rdent.yaml:4: vpn.interface: "wg/0" is not a Linux interface name (1-15 letters, digits, '.', '-' or '_', e.g. wg-k0rdent)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("azure:\n  location: westus2\n"+tt.src), "k0rdent.yaml")
			var got []string
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("Parse error is %T, want *Error: %v", err, err)
				}
				for _, p := range e.Problems {
					got = append(got, p.String())
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\ngot:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}
