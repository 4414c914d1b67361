package state

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TestSecrets_OnlyInSecretsDir runs a deployment whose wireguard node
// generates keys the way the phase will: private keys to secrets/, public
// keys and paths to outputs. No other file under state/ may contain the
// private key material, in any common encoding.
func TestSecrets_OnlyInSecretsDir(t *testing.T) {
	s := lockedStore(t)
	r, err := s.CreateRun(testHeader(""))
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ priv, pub []byte }
	var keys []key
	var peers []Peer
	outputs := map[string]string{"port": "51820", "network": "10.8.0.0/24"}
	for i, name := range []string{"hub", "vm-1", "vm-2"} {
		k := key{priv: make([]byte, 32), pub: make([]byte, 32)}
		rand.Read(k.priv)
		rand.Read(k.pub)
		keys = append(keys, k)
		path, err := s.WriteSecret("wireguard/"+name+".key", []byte(base64.StdEncoding.EncodeToString(k.priv)+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, Peer{Name: name, Address: "10.8.0." + string(rune('1'+i)), PublicKey: base64.StdEncoding.EncodeToString(k.pub)})
		outputs[name+"_private_key_path"] = path
	}
	pj, _ := json.Marshal(peers)
	outputs["peers"] = string(pj)
	sink := r.LogSink()
	for _, e := range []workflow.Event{
		ev(1, "wireguard", workflow.Pending, workflow.Running),
		{Time: at(2), Node: "wireguard", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Outputs: outputs},
	} {
		if err := r.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := sink("wireguard", 1)
	io.WriteString(w, "generated keys for hub, vm-1, vm-2; public keys in outputs\n")
	w.Close()
	if err := r.Finish(OutcomeSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := s.RebuildRuntime(); err != nil {
		t.Fatal(err)
	}
	rt, _ := s.Current()
	if rt.WireGuard == nil || len(rt.WireGuard.Peers) != 3 || rt.WireGuard.Peers[0].PublicKey == "" {
		t.Fatalf("runtime peers = %+v", rt.WireGuard)
	}

	// secrets/ is 0700, its files 0600.
	if fi, err := os.Stat(s.LocalBackend().SecretsPath()); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("secrets dir: %v %v, want 0700", fi.Mode().Perm(), err)
	}
	filepath.WalkDir(s.LocalBackend().SecretsPath(), func(path string, d fs.DirEntry, err error) error {
		if fi, _ := d.Info(); !d.IsDir() && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", path, fi.Mode().Perm())
		}
		return nil
	})

	var needles [][]byte
	for _, k := range keys {
		needles = append(needles, []byte(base64.StdEncoding.EncodeToString(k.priv)), []byte(base64.RawStdEncoding.EncodeToString(k.priv)),
			[]byte(base64.URLEncoding.EncodeToString(k.priv)), k.priv)
	}
	scanned, inSecrets := 0, 0
	err = filepath.WalkDir(s.LocalBackend().Root(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		hit := false
		for _, n := range needles {
			hit = hit || bytes.Contains(data, n)
		}
		rel, _ := filepath.Rel(s.LocalBackend().Root(), path)
		if filepath.Dir(rel) == filepath.Join("secrets", "wireguard") {
			if hit {
				inSecrets++
			}
			return nil
		}
		scanned++
		if hit {
			t.Errorf("private key material in %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 4 || inSecrets != 3 { // run file, runtime.yaml, lock, log at least
		t.Errorf("scanned %d files outside secrets/ and found keys in %d secret files; the scan is not looking", scanned, inSecrets)
	}
}

func TestStore_WriteSecret(t *testing.T) {
	s := NewStore(t.TempDir())
	p, err := s.WriteSecret("kubeconfig", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteSecret("kubeconfig", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(p); string(data) != "v2" || p != filepath.Join(s.LocalBackend().SecretsPath(), "kubeconfig") {
		t.Errorf("secret %s = %q, want v2", p, data)
	}
	// An existing secrets/ with loose permissions is tightened.
	os.Chmod(s.LocalBackend().SecretsPath(), 0o755)
	if _, err := s.WriteSecret("a/b", nil); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(s.LocalBackend().SecretsPath()); fi.Mode().Perm() != 0o700 {
		t.Errorf("secrets dir mode %v", fi.Mode().Perm())
	}
	for _, bad := range []string{"", "/etc/x", "../x", "a/../../x", "a\\b", "a/./b"} {
		if _, err := s.WriteSecret(bad, nil); err == nil {
			t.Errorf("WriteSecret(%q) accepted", bad)
		}
	}
	if ents, _ := os.ReadDir(s.LocalBackend().SecretsPath()); len(ents) != 2 {
		t.Errorf("secrets dir has %d entries (temporary files left?)", len(ents))
	}
	if err := WriteFileAtomic(filepath.Join(s.LocalBackend().Root(), "no", "such", "dir"), nil, 0o600); err == nil {
		t.Error("WriteFileAtomic into a missing directory = nil error")
	}
}

// TestSecretLike pins which outputs Run.Record refuses: private-key names
// and key-looking values, but not names that merely contain "private"
// (Terraform's private_ips) or paths.
func TestSecretLike(t *testing.T) {
	tests := []struct {
		name, key, value string
		secret           bool
	}{
		{"terraform private ips", "private_ips", `["10.0.0.4","10.0.0.5"]`, false},
		{"private ip", "vm_private_ip", "10.0.0.4", false},
		{"private dns zone", "privateDnsZone", "zone.internal", false},
		{"secret name is not a secret", "secret_name", "azure-sp", false},
		{"token ttl", "token_ttl", "1h", false},
		{"public key", "public_key", "q2Rz0uD3y7xXJm2e9c3jvZf1tV5Yk8m4o0c1D9p0aQw=", false},
		{"private key path", "private_key_path", "/state/secrets/wireguard/hub.key", false},
		{"private key relative path", "hub_private_key_path", "secrets/hub.key", false},
		{"empty private key", "private_key", "", false},
		{"private key", "private_key", "q2Rz0uD3y7xXJm2e9c3jvZf1tV5Yk8m4o0c1D9p0aQw=", true},
		{"wireguard private key", "hub-privatekey", "q2Rz0uD3y7xXJm2e9c3jvZf1tV5Yk8m4o0c1D9p0aQw=", true},
		{"camel private key", "hubPrivateKey", "q2Rz0uD3y7xXJm2e9c3jvZf1tV5Yk8m4o0c1D9p0aQw=", true},
		{"client secret", "client_secret", "s3cr3t", true},
		{"sas token", "sas_token", "sv=2020&sig=abc", true},
		{"token", "token", "abc", true},
		{"admin password", "admin_password", "hunter2", true},
		{"kubeconfig client key name", "client-key-data", "LS0tLS1CRUdJTg==", true},
		{"PEM private key value", "ssh", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", true},
		{"kubeconfig value", "kubeconfig", "users:\n- user:\n    client-key-data: abc\n", true},
		{"private_key field in JSON", "peers", `[{"name":"hub","private_key":"x"}]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why := secretLike(tt.key, tt.value)
			if got := why != ""; got != tt.secret {
				t.Errorf("secretLike(%q, %q) = %q, want secret %v", tt.key, tt.value, why, tt.secret)
			}
		})
	}
}

// TestRun_RecordPrivateIPs: Terraform's private_ips output is journalled.
func TestRun_RecordPrivateIPs(t *testing.T) {
	s := lockedStore(t)
	r, err := s.CreateRun(testHeader(""))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := map[string]string{"private_ips": `["10.0.0.4"]`, "public_ips": `["20.1.2.3"]`}
	for _, e := range []workflow.Event{
		ev(1, "terraform", workflow.Pending, workflow.Running),
		{Time: at(2), Node: "terraform", From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Outputs: out},
	} {
		if err := r.Record(e); err != nil {
			t.Fatalf("record %s -> %s: %v", e.From, e.To, err)
		}
	}
	rt, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	if rt.Terraform["private_ips"] != `["10.0.0.4"]` {
		t.Errorf("runtime terraform = %v, want private_ips", rt.Terraform)
	}
}
