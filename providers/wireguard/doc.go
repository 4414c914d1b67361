// Package wireguard is the WireGuard provider: the pure parts of the
// overlay network that the wireguard phase builds (this file set), and the
// operator-side device the vpn phase brings up (device*.go).
//
// The network is a hub and spokes: the operator's machine is the hub (peer
// HubName, "operator"); every VM is a spoke that knows only the hub and
// listens on one UDP port, and the hub dials in to each VM's public IP.
//
// # Address plan
//
// Plan places the hub and the VMs in any IPv4 network: the hub gets the
// first usable address, then the controllers, then the workers, at
// consecutive addresses, one /32 each. The network and broadcast addresses
// are never used, so a /31 or /32 holds nobody and a /30 holds the hub and
// one VM; a network too small is an error naming the network, how many
// addresses are needed and the prefix that would do (the same rule as
// config's validation of network.wireguard_network). The plan is a pure
// function of the network and the host list, so every run and resume
// computes the same addresses without storing them. A deployment built
// elsewhere (the legacy bash tool: hub "mylaptop" at .1, VMs from .11,
// interface wgk0<suffix>) keeps its own settings in settings.json, which
// the legacy migration writes and nothing here rewrites: AddressPlan.Keep
// applies them over the plan (recorded addresses kept, new hosts at the
// lowest free addresses), so every later run keeps them too.
//
// # Keys and the listen port
//
// KeyStore keeps the secrets under <secrets>/wireguard/, the layout the
// legacy migration also writes:
//
//	<peer>.key           0600  base64 private key (wgtypes) and a newline
//	listen-port          0600  the VMs' UDP port, decimal
//	cloud-init/<vm>.yaml 0600  the VM's cloud-init document (it holds the VM's key)
//	settings.json        0600  a migrated deployment's hub name, interface, network, addresses
//
// The directories are 0700. A key is generated once, with
// wgtypes.GeneratePrivateKey, and then reused by every later run and resume:
// it is published with link(2), which refuses to replace a file, so nothing
// in this package ever rotates a key. A key file that does not parse is an
// error naming the file and the two fixes (restore it, or delete it to get
// a new key and re-run from wireguard), never a silent regeneration: the
// VMs were built with that key. To rotate every key, delete
// <secrets>/wireguard/ and run again from wireguard; terraform and
// everything after it then run again too.
//
// PruneCloudInit removes the documents of VMs that left the config (they
// hold private keys); their key files stay.
//
// The listen port is network.wireguard_port when that is set, else the
// stored port, else a random port in 30000-64000 chosen once and stored.
//
// Adopt moves a migrated deployment over: the legacy tool called the hub
// "mylaptop", and the hub keeps that key under its new name.
//
// # Cloud-init
//
// VMConfig.CloudInit renders a VM's #cloud-config document: install the
// wireguard package, write /etc/wireguard/wg0.conf (0600, wg-quick format:
// the VM's key, its /32 address and listen port, and one [Peer], the hub,
// with AllowedIPs the hub's /32 and no Endpoint), and `systemctl enable
// --now wg-quick@wg0`. ParseCloudInit reads the wg-quick file back out of a
// document as cloud-init would; the namespace testbed (internal/testbed)
// configures its "VMs" from exactly that. WGQuick is the wg-quick format
// both ways (Marshal, ParseWGQuick, and SetConf for `wg setconf`, which
// does not know Address).
//
// # Operators
//
// Each operator machine (or CI runner) is a WireGuard peer of every VM of
// its own (Operator: name, address, public key). The first operator is
// the hub above: the VMs' cloud-init knows it. Its key is HubName's under
// secrets/ only in a deployment built before operators existed (or
// migrated from the bash tool); a new deployment's hub key is the first
// operator's own key. Every operator keeps its private key on its own
// machine, in OperatorDir(metadata.name):
// $K0RDENT_OPERATOR_DIR, else <os.UserConfigDir>/k0rdent/<name>
// (~/.config/k0rdent/<name>), as KeyStore lays it out
// (wireguard/operator.key, 0600 in 0700 directories; its device's files go
// to vpn/ there). Not the state directory: the team shares that (a blob
// container), and a private key must stay with the tunnel it opens. Not
// beside the config either: that is usually committed. OperatorAddress
// gives a new operator the highest free address of the network (the VMs
// grow up from the bottom, operators down from the top), a function of
// the plan and the recorded operators only.
//
// The VMs are changed over SSH by two small scripts (RemoteCommand:
// sh -c, under sudo -n unless the login user is root): ReadPeersScript
// finds the VM's WireGuard interface by its WireGuard address and prints
// its peers and its wg-quick file ($K0RDENT_WG_CONF_DIR or /etc/wireguard,
// <interface>.conf); SetPeerScript adds or removes one peer on the device
// (`wg set`, and the peer's /32 route) and replaces the wg-quick file with
// the one on stdin, atomically, so the change survives a reboot. The file
// is edited here, not on the VM: AddPeerSection appends a [Peer] section
// (with a "# operator <name>" comment), RemovePeerSection removes one with
// the comment lines above it; every other byte is kept.
//
// Errors never quote key material: a bad line in a wg-quick file is named
// by its number and key, not its value.
package wireguard
