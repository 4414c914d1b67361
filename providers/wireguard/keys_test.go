package wireguard

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestKeyStore_LoadOrGenerate(t *testing.T) {
	secrets := t.TempDir()
	s := NewKeyStore(secrets)
	k1, created, err := s.LoadOrGenerate("k0s-controller-1")
	if err != nil || !created {
		t.Fatalf("first LoadOrGenerate = created %v, %v; want a new key", created, err)
	}
	path := filepath.Join(secrets, "wireguard", "k0s-controller-1.key")
	if s.Path("k0s-controller-1") != path {
		t.Errorf("Path = %s, want %s", s.Path("k0s-controller-1"), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), k1.String()+"\n"; got != want {
		t.Errorf("key file holds %d bytes, want the base64 key and a newline", len(got))
	}
	assertMode(t, path, 0o600)
	assertMode(t, filepath.Dir(path), 0o700)

	k2, created, err := s.LoadOrGenerate("k0s-controller-1")
	if err != nil || created || k2 != k1 {
		t.Errorf("second LoadOrGenerate = same key %v, created %v, %v; want the same key reused", k2 == k1, created, err)
	}
	if ents, _ := os.ReadDir(s.Dir); len(ents) != 1 {
		t.Errorf("%d entries in %s, want only the key (temporary files left?)", len(ents), s.Dir)
	}
}

func TestKeyStore_Load(t *testing.T) {
	valid, _ := wgtypes.GeneratePrivateKey()
	tests := []struct {
		name    string
		content *string // nil: no file
		mode    os.FileMode
		wantErr string
		wantNo  bool
	}{
		{name: "Missing", wantNo: true},
		{name: "MigratedWithNewline", content: ptr(valid.String() + "\n"), mode: 0o600},
		{name: "NoNewline", content: ptr(valid.String()), mode: 0o600},
		{name: "LooseModeTightened", content: ptr(valid.String()), mode: 0o644},
		{name: "Corrupt", content: ptr("not-a-key\n"), mode: 0o600,
			wantErr: "not a base64 WireGuard private key"},
		{name: "Empty", content: ptr(""), mode: 0o600, wantErr: "restore the file from a backup, or delete it"},
		{name: "Truncated", content: ptr(valid.String()[:20]), mode: 0o600, wantErr: "re-run from wireguard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewKeyStore(t.TempDir())
			if tt.content != nil {
				os.MkdirAll(s.Dir, 0o700)
				if err := os.WriteFile(s.Path("h"), []byte(*tt.content), tt.mode); err != nil {
					t.Fatal(err)
				}
				os.Chmod(s.Path("h"), tt.mode)
			}
			key, err := s.Load("h")
			switch {
			case tt.wantNo:
				if !errors.Is(err, ErrNoKey) {
					t.Errorf("Load = %v, want ErrNoKey", err)
				}
				return
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), s.Path("h")) {
					t.Errorf("Load error = %v, want it to name the file and contain %q", err, tt.wantErr)
				}
				// A corrupt key is never replaced.
				if _, _, err := s.LoadOrGenerate("h"); err == nil {
					t.Error("LoadOrGenerate over a corrupt key succeeded; want the error")
				}
				if data, _ := os.ReadFile(s.Path("h")); string(data) != *tt.content {
					t.Error("the corrupt key file was changed")
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if key != valid {
				t.Error("Load returned another key")
			}
			assertMode(t, s.Path("h"), 0o600)
		})
	}
}

func TestKeyStore_LoadRefusesUnsafeNames(t *testing.T) {
	s := NewKeyStore(t.TempDir())
	for _, name := range []string{"", "../x", "a/b", ".hidden"} {
		if _, _, err := s.LoadOrGenerate(name); err == nil {
			t.Errorf("LoadOrGenerate(%q) accepted", name)
		}
	}
}

func TestKeyStore_GenerateNeverReplaces(t *testing.T) {
	s := NewKeyStore(t.TempDir())
	k, _ := wgtypes.GeneratePrivateKey()
	os.MkdirAll(s.Dir, 0o700)
	// A key appears between Load and the link: create must not replace it.
	os.WriteFile(s.Path("h"), []byte(k.String()+"\n"), 0o600)
	if err := s.create(s.Path("h"), []byte("other\n")); !errors.Is(err, os.ErrExist) {
		t.Errorf("create over an existing key = %v, want ErrExist", err)
	}
	if got, err := s.Load("h"); err != nil || got != k {
		t.Errorf("key after create = %v (same %v), want the original", err, got == k)
	}
}

func TestKeyStore_Adopt(t *testing.T) {
	s := NewKeyStore(t.TempDir())
	legacy, _, err := s.LoadOrGenerate("mylaptop")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Adopt(HubName, "mylaptop"); !ok || err != nil {
		t.Fatalf("Adopt = %v, %v; want adopted", ok, err)
	}
	if got, err := s.Load(HubName); err != nil || got != legacy {
		t.Errorf("hub key after Adopt: %v, same %v", err, got == legacy)
	}
	if ok, err := s.Adopt(HubName, "mylaptop"); ok || err != nil {
		t.Errorf("second Adopt = %v, %v; want nothing to do", ok, err)
	}
	if ok, err := NewKeyStore(t.TempDir()).Adopt(HubName, "mylaptop"); ok || err != nil {
		t.Errorf("Adopt without a legacy key = %v, %v; want nothing to do", ok, err)
	}
}

func TestKeyStore_ListenPort(t *testing.T) {
	tests := []struct {
		name        string
		stored      string // "" no file
		configured  int
		draw        int
		want        int
		wantCreated bool
		wantErr     string
	}{
		{name: "RandomLow", draw: 0, want: 30000, wantCreated: true},
		{name: "RandomHigh", draw: 34000, want: 64000, wantCreated: true},
		{name: "StoredKept", stored: "41873\n", draw: 5, want: 41873},
		{name: "ConfiguredWins", stored: "41873\n", configured: 51820, want: 51820, wantCreated: true},
		{name: "ConfiguredSameAsStored", stored: "51820", configured: 51820, want: 51820},
		{name: "ConfiguredNothingStored", configured: 51820, want: 51820, wantCreated: true},
		{name: "ConfiguredBad", configured: 70000, wantErr: "not a port (set network.wireguard_port"},
		{name: "StoredCorrupt", stored: "lots", wantErr: `"lots" is not a port: write the port the VMs listen on into it, or delete it`},
		{name: "StoredOutOfRange", stored: "0", wantErr: "is not a port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewKeyStore(t.TempDir())
			var drawn int
			s.IntN = func(n int) int {
				if n != 34001 {
					t.Errorf("IntN(%d), want 34001 (30000-64000 inclusive)", n)
				}
				drawn++
				return tt.draw
			}
			if tt.stored != "" {
				os.MkdirAll(s.Dir, 0o700)
				os.WriteFile(s.PortPath(), []byte(tt.stored), 0o600)
			}
			got, created, err := s.ListenPort(tt.configured)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ListenPort error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || created != tt.wantCreated {
				t.Errorf("ListenPort = %d, created %v; want %d, %v", got, created, tt.want, tt.wantCreated)
			}
			if again, created, err := s.ListenPort(tt.configured); again != got || created || err != nil {
				t.Errorf("second ListenPort = %d, created %v, %v; want %d kept", again, created, err, got)
			}
			if drawn > 1 {
				t.Errorf("drew %d random ports, want at most one", drawn)
			}
			if stored, _ := s.StoredPort(); stored != got {
				t.Errorf("stored port %d, want %d", stored, got)
			}
			assertMode(t, s.PortPath(), 0o600)
		})
	}
}

func TestKeyStore_WriteCloudInit(t *testing.T) {
	s := NewKeyStore(t.TempDir())
	p, err := s.WriteCloudInit("vm-1", []byte("#cloud-config\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(s.Dir, "cloud-init", "vm-1.yaml") {
		t.Errorf("path %s", p)
	}
	assertMode(t, p, 0o600)
	assertMode(t, filepath.Dir(p), 0o700)
	// The same document again leaves the file alone; another replaces it.
	before, _ := os.Stat(p)
	if _, err := s.WriteCloudInit("vm-1", []byte("#cloud-config\n")); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(p); !os.SameFile(before, after) {
		t.Error("an unchanged document was rewritten")
	}
	os.Chmod(p, 0o644)
	if _, err := s.WriteCloudInit("vm-1", []byte("#cloud-config\n")); err != nil {
		t.Fatal(err)
	}
	assertMode(t, p, 0o600)
	if _, err := s.WriteCloudInit("vm-1", []byte("#cloud-config\n# v2\n")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(p); string(data) != "#cloud-config\n# v2\n" {
		t.Errorf("document %q, want v2", data)
	}
	if _, err := s.WriteCloudInit("../vm", nil); err == nil {
		t.Error("WriteCloudInit(../vm) accepted")
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %v, want %v", path, got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestKeyStore_PruneCloudInit(t *testing.T) {
	s := NewKeyStore(t.TempDir())
	if got, err := s.PruneCloudInit(nil); got != nil || err != nil {
		t.Errorf("PruneCloudInit without a directory = %v, %v", got, err)
	}
	for _, vm := range []string{"k0s-worker-1", "k0s-worker-2", "k0s-worker-3"} {
		if _, err := s.WriteCloudInit(vm, []byte("#cloud-config\n")); err != nil {
			t.Fatal(err)
		}
	}
	s.LoadOrGenerate("k0s-worker-3")
	got, err := s.PruneCloudInit([]string{"k0s-worker-1"})
	if err != nil || strings.Join(got, ",") != "k0s-worker-2,k0s-worker-3" {
		t.Errorf("PruneCloudInit = %v, %v; want workers 2 and 3 removed", got, err)
	}
	if _, err := os.Stat(s.CloudInitPath("k0s-worker-1")); err != nil {
		t.Error("the kept document is gone")
	}
	if !s.Exists("k0s-worker-3") {
		t.Error("PruneCloudInit removed a key")
	}
}
