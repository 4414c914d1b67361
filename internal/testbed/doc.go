// Package testbed builds a throw-away network of Linux network namespaces
// for tests: an "operator" namespace (where k0rdent, or the test, plays the
// operator's machine) and one namespace per "VM", each running what a VM
// built from the wireguard phase's cloud-init would run: wireguard-go with
// wg0.conf, and an sshd on its WireGuard address.
//
//	operator netns  ── bridge 198.51.100.1/24 ──┬── veth ── VM 1 netns  198.51.100.10/24
//	                                             └── veth ── VM 2 netns  198.51.100.11/24 …
//
// The underlay is 198.51.100.0/24 (TEST-NET-2): the VMs' "public IPs" are
// there, by default 198.51.100.<10+index>, the addresses the terraform test
// module's fake VMs report. No namespace has a default route, so nothing a
// test does can leave the machine.
//
// New(t, Options) creates the namespaces and links and registers a
// t.Cleanup that kills every process the testbed started (SIGTERM, then
// SIGKILL), then anything else still running in its namespaces (a device
// the code under test left up), removes leftover WireGuard UAPI sockets and
// deletes the namespaces. ConfigureVM takes a VM's cloud-init document (the bytes the
// wireguard phase wrote), reads /etc/wireguard/wg0.conf out of it with
// wireguard.ParseCloudInit and does what wg-quick would: start wireguard-go,
// `wg setconf` (the file without Address), add the address, bring the link
// up and add a route per AllowedIPs. It then starts the VM's sshd, which
// listens on the VM's WireGuard address (own host key, the test's
// authorized key, UsePAM no, StrictModes no; the namespace allows non-local
// binds, so sshd outlives a stopped tunnel). Each VM's sshd runs in a
// mount namespace of its own in which root's home (VMHome, /root) is an
// empty directory of the testbed, as on a fresh VM: commands run over SSH
// neither read the machine's dotfiles (a .bashrc that runs pyenv made
// every SSH command cost seconds) nor write to its home. StopWireGuard and
// StartWireGuard take a VM's tunnel down and up again from the same
// document. ConfigureFromSecrets configures every VM from the documents the
// wireguard phase wrote under a secrets directory; BootFromSecrets does so
// in the background as each document appears (or changes), like a VM
// booting after `terraform apply`, so that a single `k0rdent run` can go
// from wireguard through terraform to vpn.
//
// ConfigureVM also writes the document's wg-quick file where the VM keeps
// it (WGConfPath, under Dir; the VM's sshd gives its sessions
// K0RDENT_WG_CONF_DIR, so that what edits it over SSH never touches the
// machine's /etc/wireguard), and RebootWireGuard restarts the VM's
// WireGuard from that file, as a reboot would. Options.PublicSSH makes
// sshd listen on the VM's public IP too (Azure's security group opens
// port 22), and AddOperator adds another operator namespace on the
// underlay (198.51.100.2, …), for tests of several operator machines.
//
// Options.Sandbox runs each VM's sshd in its own mount namespace with
// overlays over /etc, /usr/local/bin, /var/lib and /run (sandbox.go), so a
// tool that installs software over SSH (k0sctl) writes into the testbed's
// directory, never onto the machine; SandboxPath says where a VM's file is.
// Options.SandboxDirs narrows the overlays (an overlay over /run hides the
// WireGuard sockets wireguard-go creates after it).
//
// Names: every testbed has an id of 8 hex digits (4 from a hash of
// t.Name(), 4 random). Namespaces are k0tb-<id>-op and k0tb-<id>-vm<i>;
// interface names fit Linux's 15 characters. WireGuard interface names must
// be unique on the whole machine, not only in their namespace, because
// wireguard-go's UAPI sockets (/var/run/wireguard/<ifname>.sock) are shared
// by all namespaces: VM i's is tb<id>w<i> (Interface), and OperatorInterface
// suggests one for the operator's side.
//
// Requirements: root, /dev/net/tun, `ip` (iproute2), wireguard-go and wg;
// sshd and ssh-keygen when Options.AuthorizedKey is set. New skips the test,
// saying which is missing, when one is not there. Processes get Pdeathsig
// SIGKILL, so they do not outlive a test binary that is killed; a test
// binary killed with SIGKILL leaves its namespaces behind (ip netns list |
// grep k0tb-), harmless and removed by `ip netns del`.
//
// The helpers OperatorExec, VMExec and DialOperator run commands and open
// connections inside the namespaces. Handshakes: a WireGuard initiation
// sent before the responder is up is retried only after about 5 s, so
// reachability checks should retry for 15 s or more.
//
// # Kubernetes and KCM
//
// LaunchKube and StartLocalKube run a real etcd and kube-apiserver on
// loopback (kube.go); StartKube runs them inside a VM's namespace.
// InstallCRDs installs the real CRDs of KCM v1.4.0 (ClusterDeployment,
// ClusterTemplate, Credential, Management) and CAPZ v1.21.0
// (AzureClusterIdentity) from crds/, copied unchanged from the shared
// fixtures (crds/README.md); Sveltos's ClusterProfile is a stand-in there,
// the one CRD of which no real copy is available. StartKCM (kcm_standin.go)
// plays KCM and CAPZ on top: the ClusterTemplates KCMTemplates(version)
// lists, valid after a delay; Credentials ready after a delay (status.ready
// and the CredentialReady condition, as KCM's controller sets them);
// ClusterDeployments Ready after a delay; and KCM's ClusterDeployment
// admission as a real ValidatingWebhookConfiguration served by the test
// process, refusing with KCM's messages a ClusterDeployment whose template
// is missing or not valid or whose Credential is not ready, and refusing
// a spec.config that does not match the real values schema of
// azure-standalone-cp (ValuesSchema, with santhosh-tekuri/jsonschema).
package testbed
