package wireguard

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Listen port range for a port chosen at random.
const (
	MinRandomPort = 30000
	MaxRandomPort = 64000
)

// Layout under the secrets directory.
const (
	// KeysDirName is the directory under secrets/ holding <peer>.key,
	// listen-port and cloud-init/. The legacy migration writes the same
	// layout.
	KeysDirName = "wireguard"
	// PortFileName holds the listen port, decimal, under KeysDirName.
	PortFileName = "listen-port"
	// CloudInitDirName holds <vm>.yaml under KeysDirName.
	CloudInitDirName = "cloud-init"
)

// ErrNoKey is wrapped by KeyStore.Load when a peer has no key file yet.
var ErrNoKey = errors.New("wireguard: no key")

// KeyStore keeps the WireGuard private keys and the listen port under
// <secrets>/wireguard/: <peer>.key (0600, the base64 key and a newline) and
// listen-port (0600, decimal). A key is generated once and never replaced:
// it is created with link(2), which fails if the file exists, so that not
// even two processes racing can rotate a key. The zero value is not usable;
// use NewKeyStore.
type KeyStore struct {
	// Dir is <secrets>/wireguard.
	Dir string
	// IntN returns a number in [0, n); nil means math/rand/v2.IntN. Tests
	// set it to choose the port.
	IntN func(n int) int
}

// NewKeyStore returns the key store under the secrets directory.
func NewKeyStore(secretsDir string) *KeyStore {
	return &KeyStore{Dir: filepath.Join(secretsDir, KeysDirName)}
}

// Path is the key file of peer.
func (s *KeyStore) Path(peer string) string { return filepath.Join(s.Dir, peer+".key") }

// PortPath is the listen port file.
func (s *KeyStore) PortPath() string { return filepath.Join(s.Dir, PortFileName) }

// CloudInitPath is the cloud-init document of vm.
func (s *KeyStore) CloudInitPath(vm string) string {
	return filepath.Join(s.Dir, CloudInitDirName, vm+".yaml")
}

// Load reads the private key of peer. A missing file wraps ErrNoKey; a
// file that does not hold a key is an error naming the file and the fix
// (never a silent regeneration: the VMs were built with that key). A key
// file readable by others is made 0600.
func (s *KeyStore) Load(peer string) (wgtypes.Key, error) {
	if !ValidPeerName(peer) {
		return wgtypes.Key{}, fmt.Errorf("wireguard key of %q: not a path-safe peer name", peer)
	}
	path := s.Path(peer)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return wgtypes.Key{}, fmt.Errorf("%w: %s", ErrNoKey, path)
	}
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("read wireguard key: %w", err)
	}
	key, err := wgtypes.ParseKey(strings.TrimSpace(string(data)))
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("wireguard key %s: not a base64 WireGuard private key (%v): restore the file from a backup, "+
			"or delete it to generate a new key on the next run (the VMs then need new cloud-init: re-run from wireguard)", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return wgtypes.Key{}, fmt.Errorf("restrict wireguard key: %w", err)
		}
	}
	return key, nil
}

// Exists reports whether peer has a key file (valid or not).
func (s *KeyStore) Exists(peer string) bool {
	_, err := os.Lstat(s.Path(peer))
	return err == nil
}

// LoadOrGenerate returns the key of peer, generating and storing a new one
// when there is none. created says whether it was generated now.
func (s *KeyStore) LoadOrGenerate(peer string) (key wgtypes.Key, created bool, err error) {
	key, err = s.Load(peer)
	if !errors.Is(err, ErrNoKey) {
		return key, false, err
	}
	key, err = wgtypes.GeneratePrivateKey()
	if err != nil {
		return wgtypes.Key{}, false, fmt.Errorf("generate wireguard key of %s: %w", peer, err)
	}
	switch err := s.create(s.Path(peer), []byte(key.String()+"\n")); {
	case errors.Is(err, fs.ErrExist): // someone else won: theirs stays
		key, err = s.Load(peer)
		return key, false, err
	case err != nil:
		return wgtypes.Key{}, false, err
	}
	return key, true, nil
}

// Adopt gives peer the key of another peer name when peer has none: the
// legacy tool called the hub "mylaptop", and a migrated deployment keeps
// its hub key. It reports whether it adopted a key.
func (s *KeyStore) Adopt(peer, from string) (bool, error) {
	if s.Exists(peer) || !s.Exists(from) {
		return false, nil
	}
	if _, err := s.Load(from); err != nil {
		return false, err
	}
	err := os.Link(s.Path(from), s.Path(peer))
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("adopt wireguard key of %s for %s: %w", from, peer, err)
	}
	return true, syncDir(s.Dir)
}

// ListenPort returns the UDP port the VMs listen on. A configured port
// (not 0) wins and is stored; otherwise the stored port is kept; otherwise
// a random port in [MinRandomPort, MaxRandomPort] is chosen and stored.
// created says whether the port file was written now.
func (s *KeyStore) ListenPort(configured int) (port int, created bool, err error) {
	stored, err := s.StoredPort()
	if err != nil {
		return 0, false, err
	}
	switch {
	case configured != 0 && configured == stored:
		return stored, false, nil
	case configured != 0:
		if configured < 1 || configured > 65535 {
			return 0, false, fmt.Errorf("wireguard listen port %d: not a port (set network.wireguard_port to 1-65535, or 0 for a random one)", configured)
		}
		port = configured
	case stored != 0:
		return stored, false, nil
	default:
		intN := s.IntN
		if intN == nil {
			intN = rand.IntN
		}
		port = MinRandomPort + intN(MaxRandomPort-MinRandomPort+1)
	}
	if err := s.replace(s.PortPath(), []byte(strconv.Itoa(port)+"\n")); err != nil {
		return 0, false, err
	}
	return port, true, nil
}

// StoredPort reads the stored listen port; 0 when there is none. A file
// that does not hold a port is an error naming the file and the fix.
func (s *KeyStore) StoredPort() (int, error) {
	data, err := os.ReadFile(s.PortPath())
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read wireguard listen port: %w", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("wireguard listen port %s: %q is not a port: write the port the VMs listen on into it, "+
			"or delete it to choose a new one (the VMs then need new cloud-init: re-run from wireguard)", s.PortPath(), strings.TrimSpace(string(data)))
	}
	return port, nil
}

// WriteCloudInit stores the cloud-init document of vm (0600: it holds the
// VM's private key) and returns its path. The file is replaced atomically,
// and left alone when it already holds doc with mode 0600.
func (s *KeyStore) WriteCloudInit(vm string, doc []byte) (string, error) {
	if !ValidPeerName(vm) {
		return "", fmt.Errorf("cloud-init of %q: not a path-safe VM name", vm)
	}
	path := s.CloudInitPath(vm)
	if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm() == 0o600 && fi.Size() == int64(len(doc)) {
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, doc) {
			return path, nil
		}
	}
	if err := mkdirPrivate(filepath.Dir(path)); err != nil {
		return "", err
	}
	return path, s.replace(path, doc)
}

// PruneCloudInit removes the cloud-init documents of VMs not in keep (VMs
// the config no longer has) and returns their names. Their keys stay.
func (s *KeyStore) PruneCloudInit(keep []string) ([]string, error) {
	dir := filepath.Join(s.Dir, CloudInitDirName)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list cloud-init documents: %w", err)
	}
	wanted := map[string]bool{}
	for _, k := range keep {
		wanted[k] = true
	}
	var removed []string
	for _, e := range ents {
		vm, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok || e.IsDir() || wanted[vm] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return removed, fmt.Errorf("remove stale cloud-init document: %w", err)
		}
		removed = append(removed, vm)
	}
	if len(removed) > 0 {
		return removed, syncDir(dir)
	}
	return nil, nil
}

// create writes a new 0600 file at path; it fails with fs.ErrExist if path
// exists, and never leaves a partial file at path.
func (s *KeyStore) create(path string, data []byte) error {
	tmp, err := s.writeTemp(filepath.Dir(path), data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fs.ErrExist
		}
		return fmt.Errorf("create %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// replace writes path atomically (tmp, fsync, rename, fsync dir), 0600.
func (s *KeyStore) replace(path string, data []byte) error {
	tmp, err := s.writeTemp(filepath.Dir(path), data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func (s *KeyStore) writeTemp(dir string, data []byte) (string, error) {
	if err := mkdirPrivate(dir); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("write secret in %s: %w", dir, err)
	}
	name := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("write secret %s: %w", name, err)
	}
	return name, nil
}

// mkdirPrivate creates dir and its parents 0700 and tightens dir itself.
func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("restrict %s: %w", dir, err)
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
