// Package config reads the deployment spec, k0rdent.yaml: its schema,
// defaults, and validation that reports every problem at once with its file,
// line and field path.
//
// # Reading a config
//
// Load(path) and Parse(data, filename) decode the file strictly, fill in the
// defaults and validate it. Problems come back together in one *Error,
// sorted by line, each formatted as
//
//	k0rdent.yaml:12: cluster.controllers.count: must be at least 1, got 0
//	k0rdent.yaml:14: azure.locaton: unknown key (did you mean "location"?)
//
// A message ends with the fix in parentheses where there is one. Warnings
// (an even controller count, no workers, a placeholder KOF domain) do not
// fail: they are in Config.Warnings, or in Error.Warnings next to the
// problems. A problem in a key that is absent from the file (a default that
// conflicts with something else) carries the line of its nearest enclosing
// key, or no line.
//
// Before reading, Load refuses (CheckFile) what is not a config file: a
// FIFO (reading would block), a device (/dev/zero would be read until
// memory runs out), a directory, a socket, a dangling symlink, or a file
// over MaxFileSize (4 MiB); it opens without blocking and reads at most
// that much. Parse refuses invalid UTF-8 with its line and column, and an
// integer field given a float or an exponent (`count: 1.5`, `1e1`), which
// yaml.v3 would truncate or expand.
//
// Decoding walks the yaml.Node tree rather than calling yaml.v3's Decode with
// KnownFields(true), because Decode stops at the first type error and its
// messages name Go types, not field paths. The walker is strict in the same
// way: an unknown key, a duplicate key, a string where a number belongs, a
// scalar where a list belongs, a second YAML document are all problems, and
// the decoder keeps going. Anchors, aliases and merge keys (<<: *a) work;
// top-level keys starting with x- are ignored, as a place to put anchors.
// A key with no value (`vm_image:`) keeps its default. The schema keeps the
// bash tool's layout; a key of the bash tool's config that was renamed or
// dropped is reported with its replacement (timeouts.k0s_install_wait:
// "renamed (write timeouts.k0s_install with a unit, e.g. 20m)").
//
// Validation runs even when decoding found problems (a field that failed to
// decode keeps its default and is reported once), so one pass shows
// everything. Parse validates all but the kof and azure_children sections,
// which only the run flags can settle: --with-kof and --with-azure-children
// take precedence over the sections' enabled keys in both directions
// (--with-kof=false turns KOF off although kof.enabled is true). The CLI
// calls Config.Validate with the run's flags, which checks a section only
// when it is on for the run (an optional component that is off is not
// validated and warns about nothing).
//
// # Defaults
//
// A minimal file is two lines:
//
//	azure:
//	  location: westus2
//
// Parse decodes the file over Default's zero-meaningful values (counts,
// retries, kof.regional.enabled) and then calls SetDefaults, which fills
// every empty field. So an empty or zero value means the default, except
// for the counts where zero is an answer: cluster.controllers.count: 0 is
// an error, cluster.workers.count: 0 a warning, network.wireguard_port: 0
// picks a port. Some defaults follow other fields: a child cluster's and
// the KOF regional cluster's location default to azure.location, and
// kof.regional.credential to azure_children.credential.
// testdata/minimal.defaulted.golden.yaml is the minimal file with every
// default filled in.
//
// # Schema
//
// Durations are Go durations with a unit (30s, 10m, 1h30m); a bare number
// is an error. Sizes are Azure VM sizes (Standard_D2s_v5). Names that become
// Kubernetes objects are DNS labels.
//
//	version: 1                              # schema version; only 1
//	metadata:
//	  name: k0rdent                         # cluster name prefix: the cluster id is <name>-<8 random>; [a-z][a-z0-9-], <= 20
//	  owner: ""                             # resource group owner tag; empty: git e-mail or user@host
//	  description: ""                       # free text
//	azure:
//	  location: <required>                  # Azure region, e.g. westus2
//	  subscription_id: ""                   # UUID; empty: the Azure CLI's current subscription
//	  vm_image: Debian:debian-12:12-gen2:latest   # image URN publisher:offer:sku:version
//	  vm_priority: Regular                  # Regular or Spot, any letter case (stored canonical)
//	  eviction_policy: ""                   # Deallocate or Delete, spot only (ignored with a warning for Regular); spot default Deallocate
//	  os_disk_size_gb: 64                   # 30-4095
//	network:
//	  vnet_prefix: 10.0.0.0/16              # IPv4 CIDR
//	  subnet_prefix: 10.0.1.0/24            # inside vnet_prefix
//	  wireguard_network: 192.168.100.0/24   # VPN: hub (the operator) first, then the VMs; must hold
//	                                        # 1 + controllers + workers hosts and not overlap the VNet
//	  wireguard_port: 0                     # UDP port on the VMs; 0: random in 30000-64000, kept in the state
//	vm_sizing:
//	  controller: {size: Standard_D2s_v5}
//	  worker: {size: Standard_D2s_v5}
//	cluster:
//	  controllers: {count: 1, zones: [1]}   # count >= 1; an even count > 1 warns (etcd quorum)
//	  workers: {count: 1, zones: [1]}       # count >= 0; 0 warns; zones 1-3, round-robin in host order
//	ssh:
//	  username: k0rdent                     # VM admin and k0sctl user; not an Azure-reserved name (root, admin...)
//	  key_path: ""                          # existing private key; empty: generated under state/secrets
//	software:
//	  k0s:
//	    version: v1.33.2+k0s.0              # vX.Y.Z+k0s.N
//	    binary_path: ""                     # air-gapped: a local k0s binary uploaded to every host
//	                                        # (relative to the config file); empty: hosts download it
//	    network:                            # all optional; empty keeps the bash tool's settings
//	      provider: calico                  # calico | kuberouter | custom
//	      calico_ip_autodetection: can-reach=8.8.8.8
//	      pod_cidr: ""                      # IPv4 CIDR; empty: k0s's 10.244.0.0/16
//	      service_cidr: ""                  # IPv4 CIDR; empty: k0s's 10.96.0.0/12
//	      disable_node_local_load_balancing: false   # node-local load balancing is EnvoyProxy
//	  k0rdent:
//	    version: 1.4.0                      # kcm chart version
//	    registry: oci://ghcr.io/k0rdent/kcm/charts/kcm   # OCI reference, or the http(s) URL of a chart archive
//	    namespace: kcm-system
//	    chart: ""                           # air-gapped/tests: a local chart directory or archive installed
//	                                        # instead of pulling registry (relative to the config file)
//	    management:                         # all optional: the object whose Ready condition ends the wait
//	      api_version: k0rdent.mirantis.com/v1beta1
//	      resource: managements
//	      name: kcm
//	timeouts:
//	  ssh_connect: 30s
//	  vm_creation: 10m
//	  vm_check_interval: 30s
//	  vpn_connect: 2m
//	  k0s_install: 20m
//	  k0rdent_install: 25m
//	  verification_retries: 3               # >= 0
//	  verification_retry_delay: 10s
//	vpn:                                    # the operator-side WireGuard device (the hub)
//	  interface: wg-k0rdent                 # Linux interface name, <= 15 characters
//	  mode: auto                            # auto (kernel if it has WireGuard, else wireguard-go) | kernel | userspace
//	  wireguard_go: ""                      # wireguard-go binary for userspace; empty: from PATH
//	  ssh_port: 22                          # TCP port the reachability check dials on each VM's WireGuard address
//	kof:                                    # checked only when on (--with-kof[=false] if given, else kof.enabled)
//	  enabled: false
//	  version: 1.1.0                        # KOF version: 1.0-1.4 kof-istio/-operators/-mothership charts, 1.5 k0rdent-istio + kof
//	  istio: {version: 1.1.0, namespace: istio-system}
//	  mothership:
//	    namespace: kof
//	    storage_class: default              # "default": the cluster's default StorageClass
//	    install_retries: 3                  # the chart's webhook race
//	    retry_delay: 30s
//	  regional:                             # an Azure child cluster: needs azure_children on
//	    enabled: true
//	    cluster_name: ""                    # empty: kof-regional-<suffix>-<location>
//	    domain: <required>                  # DNS domain
//	    admin_email: <required>
//	    location: <azure.location>
//	    template: <by KCM version>       # 1.4.0: azure-standalone-cp-1-0-15; other versions: required
//	    credential: <azure_children.credential>   # must equal it
//	    cp_instance_size: Standard_A4_v2
//	    worker_instance_size: Standard_A4_v2
//	    root_volume_size: 32                # GB
//	    ready_timeout: 20m
//	azure_children:                         # checked only when on (--with-azure-children[=false] if given, else enabled)
//	  enabled: false
//	  credential: azure-cluster-credential  # the k0rdent Credential
//	  identity: azure-cluster-identity      # the AzureClusterIdentity
//	  namespace: kcm-system
//	  clusters:                             # one graph node azure-children/<name> each; none: credentials only
//	    - name: <required>                  # DNS label, unique, not kof.regional.cluster_name
//	      location: <azure.location>
//	      template: <by KCM version>       # 1.4.0: azure-standalone-cp-1-0-15; other versions: required
//	      cp_count: 1
//	      cp_instance_size: Standard_A4_v2
//	      worker_count: 1
//	      worker_instance_size: Standard_A4_v2
//	      root_volume_size: 32              # GB
//	      labels: {}                        # Kubernetes labels for the ClusterDeployment
//	      ready_timeout: 30m                # the wait for Ready (and for deletion on reset)
//	terraform:                              # all optional; relative paths from the config file's directory
//	  binary: ""                            # terraform executable; empty: PATH, then a copy downloaded earlier,
//	                                        # then a download of version with hc-install (needs the network)
//	  module: ""                            # directory with a module of the embedded Azure module's contract
//	                                        # (variables and outputs: see providers/terraform); empty: Azure
//	  version: ""                           # X.Y.Z to download; empty: the version k0rdent was tested with
//	phases:                                 # command phases
//	  - name: <required>                    # kebab-case, unique; the journal key
//	    description: ""                     # shown by --plan
//	    command: [<required>, ...]          # argv, no shell; use [sh, -c, "..."] for one
//	    env: {}                             # added to the inherited environment; K0RDENT_* is reserved;
//	                                        # values are not secret (secret-looking names warn)
//	    depends_on: []                      # built-in or command phase names (azure-children/<name> too)
//	    when: always                        # always | never | with_kof | with_azure_children | !<flag>
//	    timeout: 30m                        # per attempt
//	    retries: 0                          # 0-10, after a transient failure (exit status 75)
//	    inputs: []                          # files (relative to this file) whose content, with command
//	                                        # and env, decides whether a new run reuses the phase's
//	                                        # last success (day two); digested, never copied
//
// Whether a depends_on name exists, and whether a command phase's name
// clashes with a built-in phase, is checked when the graph is built (the
// CLI), not here: only the registry knows the built-in names.
//
// # Command phase conditions
//
// `when` is one term: always (the default), never, a run flag, or a run flag
// negated with a leading !. The flags are with_kof and with_azure_children;
// a flag is on when its command-line flag is given as true, off when given
// as false, and otherwise what its config section's enabled key says
// (Config.Effective, Config.Decide). CommandPhase.Enabled evaluates it and
// says why a phase is off, e.g. "when: with_kof, and with_kof is off".
//
// # Digest and changed keys
//
// Config.Digest is the SHA-256 of Config.Canonical, the defaulted config as
// YAML in schema order. Comments, key order, formatting, letter case of
// vm_priority and keys that restate a default do not change it. DiffKeys
// names the field paths whose effective values differ between two configs;
// the CLI uses both to refuse resuming a run whose config changed.
//
// # Templates
//
// The example configs are embedded from templates/ (Templates,
// TemplateList) for `k0rdent init --template <name>`; examples/*.yaml are
// identical copies, kept so by a test (go test ./config -update rewrites
// them). Every template parses and validates with no problem and no warning.
package config
