package wireguard

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// QuickConfig renders cfg as a wg-quick(8) configuration file, for
// operators who prefer `wg-quick up <file>` or a GUI client to k0rdent's
// own device. It holds the private key: write it 0600 under secrets
// (WriteQuickConfig). Address is the hub's address with the network's
// prefix length, so wg-quick routes the WireGuard network through the
// tunnel; ListenPort is written only when set (the hub dials the VMs).
func QuickConfig(cfg DeviceConfig) []byte {
	q := WGQuick{PrivateKey: cfg.PrivateKey, Address: []netip.Prefix{cfg.Address}, ListenPort: cfg.ListenPort}
	for _, p := range cfg.Peers {
		q.Peers = append(q.Peers, WGQuickPeer{
			Comment:             p.Name,
			PublicKey:           p.PublicKey,
			AllowedIPs:          []netip.Prefix{netip.PrefixFrom(p.Address, 32)},
			Endpoint:            p.Endpoint.String(),
			PersistentKeepalive: int(PersistentKeepalive.Seconds()),
		})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# wg-quick configuration of the k0rdent operator device %s (the hub).\n", cfg.Interface)
	b.WriteString("# Written by k0rdent's vpn phase. It holds a private key: keep it 0600.\n")
	b.Write(q.Marshal())
	return []byte(b.String())
}

// WriteQuickConfig writes QuickConfig(cfg) to path, 0600, atomically
// (temporary file, fsync, rename), creating its directory 0700.
func WriteQuickConfig(path string, cfg DeviceConfig) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write wg-quick config: %w", err)
	}
	f, err := os.CreateTemp(dir, ".wg-quick-*")
	if err != nil {
		return fmt.Errorf("write wg-quick config: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write wg-quick config %s: %w", path, err)
	}
	if _, err := f.Write(QuickConfig(cfg)); err != nil {
		f.Close()
		return fmt.Errorf("write wg-quick config %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write wg-quick config %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write wg-quick config %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write wg-quick config %s: %w", path, err)
	}
	return nil
}
