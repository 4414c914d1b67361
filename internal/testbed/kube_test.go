package testbed

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestKubeBinsDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(KubeBinsEnv, dir)
	_, err := KubeBinsDir()
	if err == nil || !strings.Contains(err.Error(), "no executable kube-apiserver in "+dir) || !strings.Contains(err.Error(), "make kube-bins") {
		t.Errorf("empty directory: err = %v, want one naming kube-apiserver, %s and make kube-bins", err, dir)
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if err := os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := KubeBinsDir()
	if err != nil || got != dir {
		t.Errorf("KubeBinsDir() = %q, %v; want %q", got, err, dir)
	}
	if err := os.Chmod(filepath.Join(dir, "etcd"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := KubeBinsDir(); err == nil || !strings.Contains(err.Error(), "no executable etcd") {
		t.Errorf("etcd not executable: err = %v, want one naming etcd", err)
	}
}

// TestLaunchKube starts the real binaries on loopback and reads /version
// with the kubeconfig's credentials; a wrong token is refused.
func TestLaunchKube(t *testing.T) {
	t.Parallel() // its own namespaces or API server: it runs beside the other slow tests
	k := StartLocalKube(t)
	fi, err := os.Stat(k.Kubeconfig)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kubeconfig %s: %v, %v; want a 0600 file", k.Kubeconfig, fi, err)
	}
	data, err := os.ReadFile(k.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "server: "+k.Server) || !strings.Contains(string(data), "certificate-authority-data: ") {
		t.Errorf("kubeconfig does not name %s with a CA:\n%s", k.Server, data)
	}
	ca, err := os.ReadFile(filepath.Join(k.Dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := os.ReadFile(filepath.Join(k.Dir, "tokens.csv"))
	if err != nil {
		t.Fatal(err)
	}
	token, _, _ := strings.Cut(string(tokens), ",")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, tt := range []struct {
		token string
		want  int
	}{{token, http.StatusOK}, {"wrong", http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodGet, k.Server+"/version", nil)
		req.Header.Set("Authorization", "Bearer "+tt.token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET /version with token %.4s...: %s, want %d", tt.token, resp.Status, tt.want)
		}
		if tt.want == http.StatusOK && !strings.Contains(string(body), `"gitVersion": "v`+KubeVersion+`"`) {
			t.Errorf("GET /version = %s, want gitVersion v%s", body, KubeVersion)
		}
	}
	k.Stop()
	k.Stop() // idempotent
	if _, err := hc.Get(k.Server + "/version"); err == nil {
		t.Error("the API server still answers after Stop")
	}
}

// TestLaunchKube_PortTakenFirst: the API server's port is taken between
// choosing it and binding it (a parallel test's connection can do that);
// LaunchKube tries again on new ports instead of failing the test using it.
// Not parallel: it replaces pickPorts.
func TestLaunchKube_PortTakenFirst(t *testing.T) {
	bins := RequireKube(t)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port
	calls := 0
	pickPorts = func(n int) ([]int, error) {
		calls++
		ports, err := freePorts(n)
		if calls == 1 && err == nil {
			ports[n-1] = heldPort
		}
		return ports, err
	}
	defer func() { pickPorts = freePorts }()
	k, err := LaunchKube(bins, t.TempDir())
	if err != nil {
		t.Fatalf("LaunchKube with the API server's first port taken: %v", err)
	}
	defer k.Stop()
	if calls != 2 || strings.HasSuffix(k.Server, ":"+strconv.Itoa(heldPort)) {
		t.Errorf("LaunchKube chose ports %d times and serves on %s; want a second choice, not port %d", calls, k.Server, heldPort)
	}
}
