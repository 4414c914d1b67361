package wireguard

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Operator is one operator machine (or CI runner) in a deployment's
// WireGuard network: a peer of every VM, with its own key and address.
type Operator struct {
	Name      string
	Address   netip.Addr
	PublicKey wgtypes.Key
}

// Compiled on first use, not at every process's start-up.
var reOperatorName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*$`) })

// ValidOperatorName reports whether name can name an operator: a word of
// letters, digits, '.', '_', '@' and '-' (user@host), at most 64 bytes.
func ValidOperatorName(name string) bool {
	return len(name) <= 64 && reOperatorName().MatchString(name)
}

// DefaultOperatorName is user@host of this process, made a valid operator
// name (other characters become '-').
func DefaultOperatorName() string {
	name := "operator"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + strings.SplitN(h, ".", 2)[0]
	}
	name = strings.Map(func(r rune) rune {
		if r < 128 && (r == '.' || r == '_' || r == '@' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return '-'
	}, name)
	if len(name) > 64 {
		name = name[:64]
	}
	if !ValidOperatorName(name) {
		return "operator"
	}
	return name
}

// OperatorDirEnv overrides where an operator machine keeps its own files
// for a deployment (OperatorDir).
const OperatorDirEnv = "K0RDENT_OPERATOR_DIR"

// OperatorDir is the directory on this machine where the operator keeps
// what belongs to it alone for the deployment named deployment
// (metadata.name): its WireGuard private key (wireguard/operator.key, as
// KeyStore lays it out) and its device's wg-quick and pid files (vpn/).
// It is $K0RDENT_OPERATOR_DIR when set, else
// <os.UserConfigDir>/k0rdent/<deployment> (~/.config/k0rdent/<name>, or
// $XDG_CONFIG_HOME/k0rdent/<name>). It is neither the state directory,
// which the team shares (a blob container), nor beside the config, which
// is usually committed to a repository: a private key must stay on the
// machine whose tunnel it opens.
func OperatorDir(deployment string) (string, error) {
	if d := os.Getenv(OperatorDirEnv); d != "" {
		return filepath.Abs(d)
	}
	if !ValidPeerName(deployment) {
		return "", fmt.Errorf("operator directory: deployment name %q is not a path-safe word (metadata.name)", deployment)
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("operator directory: %w (set %s)", err, OperatorDirEnv)
	}
	return filepath.Join(base, "k0rdent", deployment), nil
}

// OperatorKeyName is the key file name of the operator's own key in its
// OperatorDir's KeyStore.
const OperatorKeyName = "operator"

// OperatorAddress allocates a new operator's address: the highest usable
// address of the plan's network that no peer of the plan (the hub and the
// VMs, which grow upwards from the bottom) and no operator of taken holds.
// Operators therefore grow downwards from the top, and the result depends
// only on the plan and the recorded operators, so every machine computes
// the same address for the same history.
func OperatorAddress(plan AddressPlan, taken []Operator) (netip.Addr, error) {
	used := map[netip.Addr]bool{}
	for _, p := range plan.Peers() {
		used[p.Address] = true
	}
	for _, o := range taken {
		used[o.Address] = true
	}
	n := plan.Network
	if !n.IsValid() || !n.Addr().Is4() {
		return netip.Addr{}, fmt.Errorf("operator address: no IPv4 network in the plan")
	}
	last := lastAddr(n)
	for a := last.Prev(); a.IsValid() && n.Contains(a) && a != n.Addr(); a = a.Prev() {
		if !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("wireguard network %s has no free address for one more operator (%d VMs, %d operators): use a larger network.wireguard_network",
		n, len(plan.Hosts), len(taken))
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// The remote side: what the vpn phase and `k0rdent operators remove` run
// on a VM over SSH. A VM's WireGuard interface is found by its WireGuard
// address (wg0 on a real VM; the testbed names it otherwise), and its
// wg-quick file is $K0RDENT_WG_CONF_DIR/<interface>.conf, /etc/wireguard
// unless the VM's environment says otherwise (the testbed's sshd sets it,
// so that nothing is written to the machine's /etc).

// remotePrelude is the common start of every remote script (run as root:
// RemoteCommand adds sudo for another user): the interface holding $1 (the
// VM's WireGuard address), the wg-quick file.
const remotePrelude = `set -eu
addr=$1
if=$(ip -o -4 addr show to "$addr/32" | awk '{print $2; exit}')
[ -n "$if" ] || { echo "no WireGuard interface holds $addr" >&2; exit 3; }
conf=${K0RDENT_WG_CONF_DIR:-/etc/wireguard}/$if.conf
`

// ReadPeersScript prints the interface, the wg-quick file's path, the
// device's peers (`wg show <if> allowed-ips`: key, then allowed IPs) and,
// after a line "--- conf", the wg-quick file if there is one. Argument: the
// VM's WireGuard address.
const ReadPeersScript = remotePrelude + `echo "$if"
echo "$conf"
wg show "$if" allowed-ips
echo "--- conf"
if [ -f "$conf" ]; then cat "$conf"; fi
`

// SetPeerScript adds (action add) or removes (action remove) one peer on
// the device and, when the VM has a wg-quick file, replaces it with the
// file on stdin (atomically: temporary file, then rename), so that the
// change survives a reboot. Arguments: the VM's WireGuard address, add or
// remove, the peer's public key, its address (a /32).
const SetPeerScript = remotePrelude + `action=$2 key=$3 peer=$4
case $action in
add)
	wg set "$if" peer "$key" allowed-ips "$peer/32"
	ip route replace "$peer/32" dev "$if";;
remove)
	wg set "$if" peer "$key" remove
	ip route del "$peer/32" dev "$if" 2>/dev/null || true;;
*) echo "unknown action $action" >&2; exit 2;;
esac
if [ -f "$conf" ]; then
	umask 077
	cat > "$conf.k0rdent-tmp"
	mv "$conf.k0rdent-tmp" "$conf"
	echo "updated $conf"
else
	cat > /dev/null
	echo "no $conf to update"
fi
`

// RemoteCommand is the command line that runs script with args on a VM
// as root: `sh -c <script> k0rdent-wg <args>`, under `sudo -n` when the
// login user is not root (Azure's admin user). Every word is quoted for
// the remote shell.
func RemoteCommand(script string, args ...string) string {
	words := []string{"sh", "-c", script, "k0rdent-wg"}
	words = append(words, args...)
	for i, w := range words {
		words[i] = shellQuote(w)
	}
	return `$([ "$(id -u)" = 0 ] || echo sudo -n) ` + strings.Join(words, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-=+:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// VMPeers is what ReadPeersScript printed: the VM's device and its peers.
type VMPeers struct {
	Interface string
	ConfPath  string
	// Peers maps each peer's public key to its allowed IPs.
	Peers map[wgtypes.Key][]netip.Prefix
	// Conf is the wg-quick file; nil when the VM has none.
	Conf []byte
}

// ParseVMPeers reads ReadPeersScript's output.
func ParseVMPeers(out []byte) (VMPeers, error) {
	head, conf, found := bytes.Cut(out, []byte("--- conf\n"))
	if !found {
		return VMPeers{}, errors.New("remote peers: no \"--- conf\" line in the output")
	}
	v := VMPeers{Peers: map[wgtypes.Key][]netip.Prefix{}}
	if len(conf) > 0 {
		v.Conf = conf
	}
	sc := bufio.NewScanner(bytes.NewReader(head))
	for n := 0; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch n {
		case 0:
			v.Interface = line
			continue
		case 1:
			v.ConfPath = line
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		k, err := wgtypes.ParseKey(f[0])
		if err != nil {
			return VMPeers{}, fmt.Errorf("remote peers: line %d: not a public key", n+1)
		}
		var ips []netip.Prefix
		for _, s := range f[1:] {
			if p, err := netip.ParsePrefix(strings.TrimSuffix(s, ",")); err == nil {
				ips = append(ips, p)
			}
		}
		v.Peers[k] = ips
	}
	if v.Interface == "" {
		return VMPeers{}, errors.New("remote peers: no interface in the output")
	}
	return v, nil
}

// AddPeerSection returns conf with one more [Peer] section for p (with
// its comment) at the end; conf is returned unchanged when it already has
// a section with p's public key. The rest of the file is kept byte for
// byte.
func AddPeerSection(conf []byte, p WGQuickPeer) ([]byte, bool) {
	if _, _, ok := peerSection(conf, p.PublicKey); ok {
		return conf, false
	}
	out := bytes.TrimRight(conf, "\n")
	out = append(out[:len(out):len(out)], '\n')
	sec := WGQuick{Peers: []WGQuickPeer{p}}.render(false)
	// render writes "[Interface]\nPrivateKey = ...\n" first; keep the rest.
	_, peer, _ := bytes.Cut(sec, []byte("\n\n"))
	out = append(out, '\n')
	return append(out, peer...), true
}

// RemovePeerSection returns conf without the [Peer] section whose
// PublicKey is key (and the comment lines and blank line right above it);
// ok is false when there is none. The rest is kept byte for byte.
func RemovePeerSection(conf []byte, key wgtypes.Key) ([]byte, bool) {
	start, end, ok := peerSection(conf, key)
	if !ok {
		return conf, false
	}
	out := append([]byte{}, conf[:start]...)
	return append(out, conf[end:]...), true
}

// peerSection finds the byte range of the [Peer] section with key: from
// the comment and blank lines right above its header to the start of the
// next section's own comment lines (or the end).
func peerSection(conf []byte, key wgtypes.Key) (start, end int, ok bool) {
	type line struct {
		off  int
		text string
	}
	var lines []line
	for off := 0; off < len(conf); {
		i := bytes.IndexByte(conf[off:], '\n')
		next := len(conf)
		if i >= 0 {
			next = off + i + 1
		}
		lines = append(lines, line{off, strings.TrimSpace(string(conf[off:next]))})
		off = next
	}
	// sections: indexes of header lines.
	var heads []int
	for i, l := range lines {
		if strings.HasPrefix(l.text, "[") {
			heads = append(heads, i)
		}
	}
	// lead is the first line of the comment/blank block right above
	// header h.
	lead := func(h int) int {
		i := h
		for i > 0 && (lines[i-1].text == "" || strings.HasPrefix(lines[i-1].text, "#")) {
			i--
		}
		return i
	}
	for n, h := range heads {
		if !strings.EqualFold(lines[h].text, "[peer]") {
			continue
		}
		stop := len(lines)
		if n+1 < len(heads) {
			stop = lead(heads[n+1])
		}
		for _, l := range lines[h+1 : max(stop, h+1)] {
			k, v, found := strings.Cut(l.text, "=")
			if !found || !strings.EqualFold(strings.TrimSpace(k), "PublicKey") {
				continue
			}
			if pk, err := wgtypes.ParseKey(strings.TrimSpace(v)); err == nil && pk == key {
				s := lead(h)
				e := len(conf)
				if stop < len(lines) {
					e = lines[stop].off
				}
				return lines[s].off, e, true
			}
		}
	}
	return 0, 0, false
}
