package wireguard

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

var update = flag.Bool("update", os.Getenv("K0RDENT_UPDATE_GOLDEN") != "", "rewrite the golden files under testdata/ (or K0RDENT_UPDATE_GOLDEN=1, as make golden sets)")

// testKey is a fixed key so that goldens are stable.
func testKey(b byte) wgtypes.Key {
	var k wgtypes.Key
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func testVMConfig(t *testing.T) VMConfig {
	t.Helper()
	p, err := Plan("192.168.100.0/24", []Host{{Name: "k0s-controller-1", Role: RoleController}, {Name: "k0s-worker-1", Role: RoleWorker}})
	if err != nil {
		t.Fatal(err)
	}
	vm, _ := p.Host("k0s-worker-1")
	return VMConfig{VM: vm, PrivateKey: testKey(1), ListenPort: 41873, Hub: p.Hub, HubPublicKey: testKey(100).PublicKey()}
}

func TestVMConfig_CloudInit(t *testing.T) {
	c := testVMConfig(t)
	doc, err := c.CloudInit()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "cloud-init.golden.yaml", doc)

	// cloud-init reads it back into the same wg-quick file.
	got, err := ParseCloudInit(doc)
	if err != nil {
		t.Fatal(err)
	}
	if want := c.WGQuick(); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseCloudInit:\n got %+v\nwant %+v", got, want)
	}
	if got.PrivateKey.PublicKey() != testKey(1).PublicKey() || got.Peers[0].Endpoint != "" ||
		got.Peers[0].AllowedIPs[0] != netip.MustParsePrefix("192.168.100.1/32") || got.Address[0] != netip.MustParsePrefix("192.168.100.3/32") {
		t.Errorf("wg0.conf: %+v", got)
	}
}

func TestVMConfig_CloudInitBadPort(t *testing.T) {
	c := testVMConfig(t)
	c.ListenPort = 0
	if _, err := c.CloudInit(); err == nil || !strings.Contains(err.Error(), "listen port 0 is not a port") {
		t.Errorf("CloudInit with port 0 = %v", err)
	}
}

func TestWGQuick_RoundTrip(t *testing.T) {
	c := WGQuick{
		PrivateKey: testKey(7),
		Address:    []netip.Prefix{netip.MustParsePrefix("192.168.100.1/32"), netip.MustParsePrefix("fd00::1/128")},
		ListenPort: 51820,
		Peers: []WGQuickPeer{
			{Comment: "k0s-controller-1 (controller)", PublicKey: testKey(8), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("192.168.100.2/32")}, Endpoint: "198.51.100.10:41873", PersistentKeepalive: 25},
			{PublicKey: testKey(9), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("192.168.100.3/32")}},
		},
	}
	got, err := ParseWGQuick(c.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
	}
	set := string(c.SetConf())
	if strings.Contains(set, "Address") || !strings.Contains(set, "ListenPort = 51820") {
		t.Errorf("SetConf keeps Address or loses ListenPort:\n%s", set)
	}
}

func TestParseWGQuick(t *testing.T) {
	key := testKey(3).String()
	tests := []struct {
		name    string
		in      string
		check   func(WGQuick) bool
		wantErr string
	}{
		{name: "CaseAndCommentsAndExtraKeys", in: "[interface]\nprivatekey=" + key + " # mine\nAddress = 10.0.0.2\nDNS = 1.1.1.1\nMTU = 1420\n\n# hub\n[PEER]\npublickey = " + key + "\nallowedips = 10.0.0.1/32, 10.1.0.0/16\npersistentkeepalive = off\n",
			check: func(c WGQuick) bool {
				return c.Address[0].String() == "10.0.0.2/32" && len(c.Peers) == 1 && c.Peers[0].Comment == "hub" && len(c.Peers[0].AllowedIPs) == 2
			}},
		{name: "NoPrivateKey", in: "[Interface]\nListenPort = 1\n", wantErr: "no [Interface] PrivateKey"},
		{name: "BadKeyNotEchoed", in: "[Interface]\nPrivateKey = SECRETSECRET\n", wantErr: "wg-quick line 2: bad privatekey"},
		{name: "UnknownSection", in: "[Interface]\nPrivateKey = " + key + "\n[Wat]\n", wantErr: "line 3: unknown section [Wat]"},
		{name: "NotKeyValue", in: "[Interface]\nPrivateKey\n", wantErr: `line 2: "PrivateKey" is not key = value`},
		{name: "OutsideSection", in: "PrivateKey = " + key + "\n", wantErr: "line 1: privatekey outside a section"},
		{name: "BadPort", in: "[Interface]\nPrivateKey = " + key + "\nListenPort = 99999\n", wantErr: "line 3: bad listenport"},
		{name: "PeerWithoutKey", in: "[Interface]\nPrivateKey = " + key + "\n[Peer]\nAllowedIPs = 10.0.0.1/32\n", wantErr: "[Peer] 1 has no PublicKey"},
		{name: "NegativeKeepalive", in: "[Interface]\nPrivateKey = " + key + "\n[Peer]\nPublicKey = " + key + "\nPersistentKeepalive = -3\n", wantErr: "line 5: bad persistentkeepalive"},
		{name: "BadAllowedIPs", in: "[Interface]\nPrivateKey = " + key + "\n[Peer]\nAllowedIPs = nope\n", wantErr: "line 4: bad allowedips"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWGQuick([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), key) {
					t.Errorf("error %q quotes key material", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(got) {
				t.Errorf("parsed %+v", got)
			}
		})
	}
}

func TestParseCloudInit_Errors(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"NoHeader", "write_files: []\n", "first line is not #cloud-config"},
		{"NoWG", "#cloud-config\nwrite_files:\n- {path: /etc/hosts, content: x}\n", "no write_files entry for /etc/wireguard/wg0.conf"},
		{"WrongType", "#cloud-config\nwrite_files: PrivateKey=abc\n", "fields of the wrong type"},
		{"BadWG", "#cloud-config\nwrite_files:\n- {path: /etc/wireguard/wg0.conf, content: \"[Interface]\\n\"}\n", "cloud-init /etc/wireguard/wg0.conf: wg-quick file: no [Interface] PrivateKey"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCloudInit([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "abc") {
				t.Errorf("error %q quotes a value", err)
			}
		})
	}
}

// FuzzParseWGQuick: the parser never panics, and what it accepts survives
// Marshal and a second parse unchanged.
func FuzzParseWGQuick(f *testing.F) {
	f.Add(WGQuick{PrivateKey: testKey(1), Address: []netip.Prefix{netip.MustParsePrefix("192.168.100.3/32")}, ListenPort: 41873,
		Peers: []WGQuickPeer{{Comment: "operator (hub)", PublicKey: testKey(2), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("192.168.100.1/32")}}}}.Marshal())
	f.Add([]byte("[Interface]\nPrivateKey = " + testKey(3).String() + "\nAddress = 10.0.0.1, fd00::1/64\n# hub\n[Peer]\nPublicKey = " +
		testKey(4).String() + "\nAllowedIPs = 10.0.0.2\nEndpoint = [fd00::2]:51820\nPersistentKeepalive = 25\n"))
	f.Add([]byte("[interface]\nprivatekey=x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := ParseWGQuick(data)
		if err != nil {
			return
		}
		again, err := ParseWGQuick(q.Marshal())
		if err != nil {
			t.Fatalf("re-parse of Marshal: %v\n%s", err, q.Marshal())
		}
		if !reflect.DeepEqual(again, q) {
			t.Fatalf("round trip changed it:\n got %+v\nwant %+v\n%s", again, q, q.Marshal())
		}
	})
}
