package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLoad_RefusesWhatIsNotAConfigFile: each is refused before it is read,
// naming the file and the fix; none blocks or reads without bound.
func TestLoad_RefusesWhatIsNotAConfigFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.yaml")
	if err := os.Symlink("gone.yaml", dangling); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("azure:\n  location: westus2\n#"+strings.Repeat("x", MaxFileSize)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       []string
	}{
		{"FIFO", fifo, []string{fifo, "named pipe", "point --config at a YAML file"}},
		{"Device", "/dev/zero", []string{"/dev/zero", "is a device"}},
		{"Directory", dir, []string{"is a directory", "k0rdent.yaml"}},
		{"DanglingSymlink", dangling, []string{"a symlink to gone.yaml, which does not exist"}},
		{"TooLarge", big, []string{"larger than 4 MiB"}},
		{"Missing", filepath.Join(dir, "none.yaml"), []string{"no such file", "k0rdent init --config"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParse_IntegersAndUTF8(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"Float", "azure:\n  location: westus2\ncluster:\n  workers:\n    count: 1.5\n", `k0rdent.yaml:5: cluster.workers.count: want an integer, got "1.5"`},
		{"Exponent", "azure:\n  location: westus2\ncluster:\n  workers:\n    count: 1e1\n", `got "1e1" (write a whole number`},
		{"InvalidUTF8", "azure:\n  location: westus2\nmetadata:\n  name: caf\xe9\n", "k0rdent.yaml:4: invalid UTF-8 at column 12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "k0rdent.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	c, err := Parse([]byte("azure:\n  location: westus2\ncluster:\n  workers:\n    count: 3\n"), "k0rdent.yaml")
	if err != nil || c.Cluster.Workers.Count != 3 {
		t.Errorf("count: 3 = %v, %v", c, err)
	}
}
