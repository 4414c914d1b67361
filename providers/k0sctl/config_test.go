package k0sctl

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", os.Getenv("K0RDENT_UPDATE_GOLDEN") != "", "rewrite the golden files in testdata (or K0RDENT_UPDATE_GOLDEN=1, as make golden sets)")

func hosts(controllers, workers int) []Host {
	var hs []Host
	for i := range controllers {
		hs = append(hs, Host{Name: "k0s-controller-" + string(rune('1'+i)), Role: RoleController, Address: "192.168.100." + string(rune('2'+i))})
	}
	for i := range workers {
		hs = append(hs, Host{Name: "k0s-worker-" + string(rune('1'+i)), Role: RoleWorker, Address: "192.168.100." + string(rune('2'+controllers+i))})
	}
	return hs
}

func TestBuild_Golden(t *testing.T) {
	base := Spec{
		ClusterName: "k0rdent-ab12cd34",
		SSHUser:     "k0rdent",
		SSHKeyPath:  "/state/secrets/ssh/id_ed25519",
		K0sVersion:  "v1.33.2+k0s.0",
	}
	tests := []struct {
		name  string
		edit  func(*Spec)
		roles []string
	}{
		{
			name:  "one-controller",
			edit:  func(s *Spec) { s.Hosts = hosts(1, 0) },
			roles: []string{"controller+worker"},
		},
		{
			name:  "three-controllers-two-workers",
			edit:  func(s *Spec) { s.Hosts = hosts(3, 2) },
			roles: []string{"controller", "controller+worker", "controller+worker", "worker", "worker"},
		},
		{
			name: "air-gapped",
			edit: func(s *Spec) {
				s.Hosts = hosts(1, 1)
				s.K0sBinaryPath = "/opt/k0s/k0s-v1.33.2+k0s.0-amd64"
				s.SSHPort = 2222
				s.Network = Network{PodCIDR: "10.244.0.0/16", ServiceCIDR: "10.96.0.0/12"}
			},
			roles: []string{"controller+worker", "worker"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := base
			tt.edit(&spec)
			c, err := Build(spec)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			var roles []string
			for _, h := range c.Spec.Hosts {
				roles = append(roles, h.Role)
				if got, want := h.UploadBinary, spec.K0sBinaryPath != ""; got != want {
					t.Errorf("host %s: uploadBinary = %v, want %v", h.HostnameOverride, got, want)
				}
			}
			if diff := cmp.Diff(tt.roles, roles); diff != "" {
				t.Errorf("roles (-want +got):\n%s", diff)
			}
			got, err := Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.name+".golden.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./providers/k0sctl -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("k0sctl.yaml (-want +got):\n%s", diff)
			}
			// What we write reads back and validates with k0sctl.
			back, err := Unmarshal(got)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if back.Spec.K0s.Version.String() != spec.K0sVersion {
				t.Errorf("version read back = %s, want %s", back.Spec.K0s.Version, spec.K0sVersion)
			}
			if strings.Contains(string(got), "PRIVATE KEY") {
				t.Error("k0sctl.yaml holds key material")
			}
		})
	}
}

func TestBuild_Errors(t *testing.T) {
	ok := Spec{ClusterName: "c", SSHUser: "u", SSHKeyPath: "/k", K0sVersion: "v1.33.2+k0s.0", Hosts: hosts(1, 1)}
	tests := []struct {
		name string
		edit func(*Spec)
		want []string
	}{
		{"no controller", func(s *Spec) { s.Hosts = hosts(0, 2) }, []string{"no controller host"}},
		{"bad version", func(s *Spec) { s.K0sVersion = "latest-ish" }, []string{`k0s version "latest-ish" (software.k0s.version)`}},
		{"everything", func(s *Spec) {
			s.ClusterName, s.SSHUser, s.SSHKeyPath = "", "", ""
			s.Hosts = []Host{{Name: "x", Role: "boss"}}
		}, []string{"empty cluster name", "ssh.username", "ssh.key_path", `host x: unknown role "boss"`, "host x: no address", "no controller host"}},
		{"bad address", func(s *Spec) { s.Hosts[0].Address = "not an address!" }, []string{`address "not an address!" is not an IP address`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			s.Hosts = hosts(1, 1)
			tt.edit(&s)
			_, err := Build(s)
			if err == nil {
				t.Fatal("Build succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestWriteConfig(t *testing.T) {
	c, err := Build(Spec{ClusterName: "c", SSHUser: "u", SSHKeyPath: "/k", K0sVersion: "v1.33.2+k0s.0", Hosts: hosts(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "run", "k0sctl.yaml")
	if err := WriteConfig(path, c); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	back, err := ReadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Spec.Hosts[0].SSH.Address; got != "192.168.100.2" {
		t.Errorf("address read back = %q", got)
	}
}
