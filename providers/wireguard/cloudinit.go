package wireguard

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
	"gopkg.in/yaml.v3"
)

// VMConfPath is where the cloud-init document writes the VM's wg-quick
// file; the VM's interface is therefore wg0.
const VMConfPath = "/etc/wireguard/wg0.conf"

// WGQuick is a wg-quick(8) configuration file: an [Interface] and its
// [Peer]s. Marshal writes it; ParseWGQuick reads it back.
type WGQuick struct {
	PrivateKey wgtypes.Key
	Address    []netip.Prefix // wg-quick only; `wg setconf` does not know it
	ListenPort int            // 0: none
	Peers      []WGQuickPeer
}

// WGQuickPeer is one [Peer] section.
type WGQuickPeer struct {
	// Comment is written as "# <Comment>" above the section (e.g. the
	// peer's name); ParseWGQuick keeps the first comment line it finds.
	Comment             string
	PublicKey           wgtypes.Key
	AllowedIPs          []netip.Prefix
	Endpoint            string // host:port; empty: the peer dials in
	PersistentKeepalive int    // seconds; 0: off
}

// Marshal renders the wg-quick file.
func (c WGQuick) Marshal() []byte { return c.render(true) }

// SetConf renders the subset `wg setconf` accepts: Marshal without the
// wg-quick-only Address line.
func (c WGQuick) SetConf() []byte { return c.render(false) }

func (c WGQuick) render(withAddress bool) []byte {
	var b bytes.Buffer
	b.WriteString("[Interface]\n")
	fmt.Fprintf(&b, "PrivateKey = %s\n", c.PrivateKey)
	if withAddress && len(c.Address) > 0 {
		fmt.Fprintf(&b, "Address = %s\n", joinPrefixes(c.Address))
	}
	if c.ListenPort != 0 {
		fmt.Fprintf(&b, "ListenPort = %d\n", c.ListenPort)
	}
	for _, p := range c.Peers {
		b.WriteString("\n")
		if p.Comment != "" {
			fmt.Fprintf(&b, "# %s\n", strings.ReplaceAll(p.Comment, "\n", " "))
		}
		b.WriteString("[Peer]\n")
		fmt.Fprintf(&b, "PublicKey = %s\n", p.PublicKey)
		if len(p.AllowedIPs) > 0 {
			fmt.Fprintf(&b, "AllowedIPs = %s\n", joinPrefixes(p.AllowedIPs))
		}
		if p.Endpoint != "" {
			fmt.Fprintf(&b, "Endpoint = %s\n", p.Endpoint)
		}
		if p.PersistentKeepalive != 0 {
			fmt.Fprintf(&b, "PersistentKeepalive = %d\n", p.PersistentKeepalive)
		}
	}
	return b.Bytes()
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// ParseWGQuick reads a wg-quick file: the keys Marshal writes, in any
// letter case, with '#' comments. Other wg-quick keys (DNS, MTU, Table,
// PreUp, ...) are ignored; an unknown section, a line that is not
// key = value, or a bad value is an error naming the line.
func ParseWGQuick(data []byte) (WGQuick, error) {
	var (
		c       WGQuick
		section string
		peer    *WGQuickPeer
		comment string
		haveKey bool
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			if comment == "" {
				comment = strings.TrimSpace(strings.TrimPrefix(line, "#"))
			}
			continue
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") {
			switch strings.ToLower(line) {
			case "[interface]":
				section, peer = "interface", nil
			case "[peer]":
				section = "peer"
				c.Peers = append(c.Peers, WGQuickPeer{Comment: comment})
				peer = &c.Peers[len(c.Peers)-1]
			default:
				return WGQuick{}, fmt.Errorf("wg-quick line %d: unknown section %s (want [Interface] or [Peer])", n, line)
			}
			comment = ""
			continue
		}
		comment = ""
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return WGQuick{}, fmt.Errorf("wg-quick line %d: %q is not key = value", n, line)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		var err error
		switch {
		case section == "":
			return WGQuick{}, fmt.Errorf("wg-quick line %d: %s outside a section", n, k)
		case section == "interface" && k == "privatekey":
			c.PrivateKey, err = wgtypes.ParseKey(v)
			haveKey = err == nil
		case section == "interface" && k == "address":
			c.Address, err = parsePrefixes(v)
		case section == "interface" && k == "listenport":
			c.ListenPort, err = parsePort(v)
		case section == "peer" && k == "publickey":
			peer.PublicKey, err = wgtypes.ParseKey(v)
		case section == "peer" && k == "allowedips":
			peer.AllowedIPs, err = parsePrefixes(v)
		case section == "peer" && k == "endpoint":
			peer.Endpoint = v
		case section == "peer" && k == "persistentkeepalive":
			if v != "off" {
				peer.PersistentKeepalive, err = parsePort(v) // seconds, 0-65535 like a port
			}
		}
		if err != nil {
			// Never echo the value: it may be a private key.
			return WGQuick{}, fmt.Errorf("wg-quick line %d: bad %s", n, k)
		}
	}
	if err := sc.Err(); err != nil {
		return WGQuick{}, fmt.Errorf("read wg-quick file: %w", err)
	}
	if !haveKey {
		return WGQuick{}, fmt.Errorf("wg-quick file: no [Interface] PrivateKey")
	}
	for i, p := range c.Peers {
		if p.PublicKey == (wgtypes.Key{}) {
			return WGQuick{}, fmt.Errorf("wg-quick file: [Peer] %d has no PublicKey", i+1)
		}
	}
	return c, nil
}

func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, err
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePort(v string) (int, error) {
	p, err := strconv.Atoi(v)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("not in 0-65535")
	}
	return p, nil
}

// VMConfig is what a VM needs to join the WireGuard network as a spoke.
type VMConfig struct {
	// VM is the VM's peer in the plan.
	VM Peer
	// PrivateKey is the VM's private key.
	PrivateKey wgtypes.Key
	// ListenPort is the UDP port the VM listens on.
	ListenPort int
	// Hub is the operator's peer and HubPublicKey its public key. The hub
	// dials in, so the VM has no endpoint for it.
	Hub          Peer
	HubPublicKey wgtypes.Key
}

// WGQuick is the VM's wg0.conf.
func (c VMConfig) WGQuick() WGQuick {
	return WGQuick{
		PrivateKey: c.PrivateKey,
		Address:    []netip.Prefix{c.VM.Prefix()},
		ListenPort: c.ListenPort,
		Peers: []WGQuickPeer{{
			Comment:    c.Hub.Name + " (" + c.Hub.Role + ")",
			PublicKey:  c.HubPublicKey,
			AllowedIPs: []netip.Prefix{c.Hub.Prefix()},
		}},
	}
}

// cloudConfig is the part of cloud-init's #cloud-config schema we write.
type cloudConfig struct {
	PackageUpdate bool        `yaml:"package_update,omitempty"`
	Packages      []string    `yaml:"packages,omitempty"`
	WriteFiles    []writeFile `yaml:"write_files"`
	RunCmd        []string    `yaml:"runcmd,omitempty"`
}

type writeFile struct {
	Path        string `yaml:"path"`
	Owner       string `yaml:"owner,omitempty"`
	Permissions string `yaml:"permissions,omitempty"`
	Content     string `yaml:"content"`
}

// CloudInit renders the VM's #cloud-config document: it installs the
// wireguard package, writes /etc/wireguard/wg0.conf (0600) and brings wg0
// up with wg-quick through systemd. The document holds the VM's private
// key: store it 0600 under secrets (KeyStore.WriteCloudInit). The output is
// deterministic.
func (c VMConfig) CloudInit() ([]byte, error) {
	if c.ListenPort < 1 || c.ListenPort > 65535 {
		return nil, fmt.Errorf("cloud-init of %s: listen port %d is not a port", c.VM.Name, c.ListenPort)
	}
	doc := cloudConfig{
		PackageUpdate: true,
		Packages:      []string{"wireguard"},
		WriteFiles: []writeFile{{
			Path:        VMConfPath,
			Owner:       "root:root",
			Permissions: "0600",
			Content:     string(c.WGQuick().Marshal()),
		}},
		RunCmd: []string{"systemctl enable --now wg-quick@wg0"},
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "#cloud-config\n# k0rdent: WireGuard spoke %s (%s, %s); holds the VM's private key\n", c.VM.Name, c.VM.Role, c.VM.Address)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("render cloud-init of %s: %w", c.VM.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render cloud-init of %s: %w", c.VM.Name, err)
	}
	return b.Bytes(), nil
}

// ParseCloudInit reads the wg-quick file a cloud-init document writes to
// /etc/wireguard/wg0.conf, as cloud-init would: the testbed configures its
// namespace "VMs" from it, and the wireguard phase's Verify checks it.
func ParseCloudInit(doc []byte) (WGQuick, error) {
	if !bytes.HasPrefix(doc, []byte("#cloud-config\n")) {
		return WGQuick{}, fmt.Errorf("cloud-init: the first line is not #cloud-config")
	}
	var cc cloudConfig
	if err := yaml.Unmarshal(doc, &cc); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) { // its message may quote values, and a value may be a key
			return WGQuick{}, fmt.Errorf("cloud-init: %d fields of the wrong type", len(te.Errors))
		}
		return WGQuick{}, fmt.Errorf("cloud-init: %w", err)
	}
	for _, f := range cc.WriteFiles {
		if f.Path == VMConfPath {
			q, err := ParseWGQuick([]byte(f.Content))
			if err != nil {
				return WGQuick{}, fmt.Errorf("cloud-init %s: %w", VMConfPath, err)
			}
			return q, nil
		}
	}
	return WGQuick{}, fmt.Errorf("cloud-init: no write_files entry for %s", VMConfPath)
}
