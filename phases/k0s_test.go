package phases

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/k0sproject/k0sctl/pkg/apis/k0sctl.k0sproject.io/v1beta1"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/providers/k0sctl"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// A kubeconfig as k0sctl returns it; the token is what a scan must never
// find outside the 0600 file.
const k0sTestToken = "k0s-test-token-4f1c2a9e7b"

func k0sTestKubeconfig(server string) []byte {
	return []byte(`apiVersion: v1
kind: Config
clusters:
- name: k0rdent-test
  cluster:
    server: ` + server + `
    insecure-skip-tls-verify: true
contexts:
- name: k0rdent-test
  context: {cluster: k0rdent-test, user: admin}
current-context: k0rdent-test
users:
- name: admin
  user: {token: ` + k0sTestToken + `}
`)
}

type k0sFixture struct {
	cfg   *config.Config
	dirs  Dirs
	env   *workflow.Env
	hosts []k0sctl.Host
	log   *bytes.Buffer
}

// newK0sFixture: controllers and workers at 127.0.0.2.., the inputs the
// wireguard, terraform and vpn nodes give.
func newK0sFixture(t *testing.T, controllers, workers int, extra string) *k0sFixture {
	t.Helper()
	cfg := tfTestConfig(t, fmt.Sprintf("cluster:\n  controllers: {count: %d}\n  workers: {count: %d}\n", controllers, workers)+extra)
	root := t.TempDir()
	f := &k0sFixture{cfg: cfg, dirs: Dirs{K0s: filepath.Join(root, K0sWorkDir), Secrets: filepath.Join(root, "secrets")}, log: &bytes.Buffer{}}
	peers := []vpnPeer{{Name: "operator", Address: "127.0.0.1", Role: "hub"}}
	for i, h := range cfg.Hosts() {
		addr := "127.0.0." + strconv.Itoa(2+i)
		peers = append(peers, vpnPeer{Name: h.Name, Address: addr, Role: h.Role})
		f.hosts = append(f.hosts, k0sctl.Host{Name: h.Name, Role: h.Role, Address: addr})
	}
	pj, _ := json.Marshal(peers)
	f.env = &workflow.Env{RunID: "r1", Node: K0sName, Attempt: 1, SecretsDir: f.dirs.Secrets,
		Log: slog.New(slog.NewTextHandler(f.log, nil)), Output: f.log,
		Inputs: map[string]map[string]string{
			WireGuardName: {WireGuardOutputPeers: string(pj)},
			TerraformName: {TerraformOutputClusterID: "k0rdent-ab12cd34", TerraformOutputSSHUser: "k0rdent",
				TerraformOutputSSHKeyPath: filepath.Join(f.dirs.Secrets, "ssh", "id_ed25519")},
			VPNName: {VPNOutputStatus: "connected", VPNOutputInterface: "wg-k0rdent"},
		}}
	return f
}

// phase is the k0s phase with every outside effect failing the test
// unless the test replaces it.
func (f *k0sFixture) phase(t *testing.T) *K0s {
	p := NewK0s(BuildContext{Config: f.cfg, Dirs: f.dirs})
	p.apply = func(context.Context, *v1beta1.Cluster, k0sctl.Options) ([]byte, error) {
		t.Fatal("k0sctl apply called")
		return nil, nil
	}
	p.reset = func(context.Context, *v1beta1.Cluster, k0sctl.Options) error {
		t.Fatal("k0sctl reset called")
		return nil
	}
	p.version = func(context.Context, string, time.Duration) (string, error) {
		t.Fatal("server version asked")
		return "", nil
	}
	p.banner = func(context.Context, string) (string, error) {
		t.Fatal("ssh dialled")
		return "", nil
	}
	return p
}

func TestK0s_Capabilities(t *testing.T) {
	f := newK0sFixture(t, 1, 1, "timeouts:\n  k0s_install: 7m\n")
	p := f.phase(t)
	if got, want := p.DependsOn(), []string{WireGuardName, TerraformName, VPNName}; !cmp.Equal(got, want) {
		t.Errorf("DependsOn = %v, want %v", got, want)
	}
	if got := p.Policy().Timeout; got != 7*time.Minute {
		t.Errorf("Policy().Timeout = %v, want 7m (timeouts.k0s_install)", got)
	}
	var names []string
	for _, c := range p.Preconditions() {
		names = append(names, c.Name)
	}
	if want := []string{"vpn reachable", "ssh answers on every host"}; !cmp.Equal(names, want) {
		t.Errorf("preconditions = %v, want %v", names, want)
	}
	desc := strings.Join(p.Describe(f.env), "\n")
	for _, w := range []string{"1 controllers, 1 workers", "k0s v1.33.2+k0s.0", "the hosts download k0s", "within 7m"} {
		if !strings.Contains(desc, w) {
			t.Errorf("Describe does not say %q:\n%s", w, desc)
		}
	}
}

func TestK0s_Run(t *testing.T) {
	tests := []struct {
		name         string
		controllers  int
		workers      int
		airGapped    bool
		wantRoles    []string
		wantUploaded bool
	}{
		{"one controller", 1, 0, false, []string{"controller+worker"}, false},
		{"three controllers two workers", 3, 2, false, []string{"controller", "controller+worker", "controller+worker", "worker", "worker"}, false},
		{"air-gapped", 1, 1, true, []string{"controller+worker", "worker"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := ""
			bin := filepath.Join(t.TempDir(), "k0s")
			if tt.airGapped {
				if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
					t.Fatal(err)
				}
				extra = "software:\n  k0s:\n    binary_path: " + bin + "\n"
			}
			f := newK0sFixture(t, tt.controllers, tt.workers, extra)
			p := f.phase(t)
			var applied *v1beta1.Cluster
			p.apply = func(_ context.Context, c *v1beta1.Cluster, opts k0sctl.Options) ([]byte, error) {
				applied = c
				fmt.Fprintln(opts.Log, "k0sctl: ==> Running phase: Connect to hosts")
				return k0sTestKubeconfig(c.Spec.KubeAPIURL()), nil
			}
			if err := p.Run(context.Background(), f.env); err != nil {
				t.Fatalf("Run: %v", err)
			}
			var roles, addrs []string
			for i, h := range applied.Spec.Hosts {
				roles = append(roles, h.Role)
				addrs = append(addrs, h.SSH.Address)
				if h.UploadBinary != tt.wantUploaded || (tt.wantUploaded && h.K0sBinaryPath != bin) {
					t.Errorf("host %d: uploadBinary %v k0sBinaryPath %q, want %v %q", i, h.UploadBinary, h.K0sBinaryPath, tt.wantUploaded, bin)
				}
				if got, want := *h.SSH.KeyPath, f.env.Inputs[TerraformName][TerraformOutputSSHKeyPath]; got != want {
					t.Errorf("host %d: keyPath %q, want %q", i, got, want)
				}
			}
			var wantAddrs []string
			for _, h := range f.hosts {
				wantAddrs = append(wantAddrs, h.Address)
			}
			if diff := cmp.Diff(tt.wantRoles, roles); diff != "" {
				t.Errorf("roles (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantAddrs, addrs); diff != "" {
				t.Errorf("addresses (-want +got):\n%s", diff)
			}
			out := f.env.Outputs()
			want := map[string]string{
				K0sOutputKubeconfig:   filepath.Join(f.dirs.Secrets, "k0s", "kubeconfig"),
				K0sOutputK0sctlConfig: filepath.Join(f.dirs.K0s, "k0sctl.yaml"),
				K0sOutputAPIEndpoint:  "https://127.0.0.2:6443",
				K0sOutputVersion:      "v1.33.2+k0s.0",
			}
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("outputs (-want +got):\n%s", diff)
			}
			for path, mode := range map[string]os.FileMode{out[K0sOutputKubeconfig]: 0o600, out[K0sOutputK0sctlConfig]: 0o600} {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != mode {
					t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), mode)
				}
			}
			written, err := k0sctl.ReadConfig(out[K0sOutputK0sctlConfig])
			if err != nil {
				t.Fatalf("the written k0sctl.yaml does not read back: %v", err)
			}
			if len(written.Spec.Hosts) != len(f.hosts) {
				t.Errorf("k0sctl.yaml has %d hosts, want %d", len(written.Spec.Hosts), len(f.hosts))
			}
			// The credentials are in the kubeconfig file only.
			if strings.Contains(f.log.String(), k0sTestToken) {
				t.Errorf("the node log holds the kubeconfig's token:\n%s", f.log)
			}
			for k, v := range out {
				if strings.Contains(v, k0sTestToken) {
					t.Errorf("output %s holds the token", k)
				}
			}
			if !strings.Contains(f.log.String(), "Running phase: Connect to hosts") {
				t.Errorf("k0sctl's log is not in the node log:\n%s", f.log)
			}
		})
	}
}

func TestK0s_RunErrors(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		edit  func(*workflow.Env)
		apply error
		want  []string
	}{
		{"apply fails", "", nil, errors.New("k0sctl apply: connect to 127.0.0.2: refused"),
			[]string{"k0sctl apply: connect to 127.0.0.2: refused", "k0s/k0sctl.yaml"}},
		{"missing terraform outputs", "", func(e *workflow.Env) { delete(e.Inputs, TerraformName) },
			nil, []string{"terraform outputs missing: cluster_id, ssh_user, ssh_key_path (k0rdent run --from terraform)"}},
		{"missing peers", "", func(e *workflow.Env) { delete(e.Inputs, WireGuardName) },
			nil, []string{`wireguard output "peers" missing (k0rdent run --from wireguard)`}},
		{"air-gapped binary missing", "software:\n  k0s:\n    binary_path: /nonexistent/k0s\n", nil,
			nil, []string{"software.k0s.binary_path", "/nonexistent/k0s", "remove the key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newK0sFixture(t, 1, 1, tt.extra)
			p := f.phase(t)
			if tt.apply != nil {
				p.apply = func(context.Context, *v1beta1.Cluster, k0sctl.Options) ([]byte, error) { return nil, tt.apply }
			}
			if tt.edit != nil {
				tt.edit(f.env)
			}
			err := p.Run(context.Background(), f.env)
			if err == nil {
				t.Fatal("Run succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if _, err := os.Stat(filepath.Join(f.dirs.Secrets, "k0s", "kubeconfig")); err == nil {
				t.Error("a failed run saved a kubeconfig")
			}
		})
	}
}

// sshListener answers like sshd (banner) or like something else.
func sshListener(t *testing.T, addr, greeting string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, greeting)
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func TestK0s_PreconditionSSH(t *testing.T) {
	f := newK0sFixture(t, 1, 2, "")
	// k0s-controller-1 runs sshd, k0s-worker-1 something else, and
	// nothing listens for k0s-worker-2.
	a := sshListener(t, "127.0.0.2:0", "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
	_, port, _ := net.SplitHostPort(a)
	sshListener(t, "127.0.0.3:"+port, "HTTP/1.1 400 Bad Request\r\n")
	n, _ := strconv.Atoi(port)
	f.cfg.VPN.SSHPort = n
	f.cfg.Timeouts.SSHConnect = config.Duration(2 * time.Second)
	p := f.phase(t)
	p.banner = sshBanner
	check := p.Preconditions()[1]
	err := check.Check(context.Background(), f.env)
	if err == nil {
		t.Fatal("check passed, want two hosts failing")
	}
	msg := err.Error()
	for _, w := range []string{
		"k0s-worker-1 (127.0.0.3:" + port + "): not an SSH server",
		"k0s-worker-2 (127.0.0.4:" + port + "):",
		"ssh -i <ssh_key_path> k0rdent@127.0.0.4",
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not mention %q:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "k0s-controller-1") {
		t.Errorf("the host with sshd is reported:\n%s", msg)
	}
	if check.Fix == "" {
		t.Error("the check has no fix")
	}
}

func TestK0s_Verify(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" || r.Header.Get("Authorization") != "Bearer "+k0sTestToken {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"major": "1", "minor": "33", "gitVersion": "v1.33.2+k0s"})
	}))
	defer srv.Close()

	f := newK0sFixture(t, 1, 0, "")
	kc := filepath.Join(f.dirs.Secrets, "k0s", "kubeconfig")
	if err := k0sctl.SaveKubeconfig(kc, k0sTestKubeconfig(srv.URL)); err != nil {
		t.Fatal(err)
	}
	p := f.phase(t)
	p.version = k0sctl.ServerVersion
	f.env.Recorded = map[string]string{K0sOutputKubeconfig: kc}
	if err := p.Verify(context.Background(), f.env); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !strings.Contains(f.log.String(), "v1.33.2+k0s") {
		t.Errorf("Verify does not log the version:\n%s", f.log)
	}

	// A server that refuses the credentials, then one that is gone.
	if err := k0sctl.SaveKubeconfig(kc, bytes.Replace(k0sTestKubeconfig(srv.URL), []byte(k0sTestToken), []byte("wrong"), 1)); err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(context.Background(), f.env); err == nil || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("Verify with a refused token = %v, want an error naming %s", err, srv.URL)
	}
	srv.Close()
	if err := k0sctl.SaveKubeconfig(kc, k0sTestKubeconfig(srv.URL)); err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(context.Background(), f.env); err == nil {
		t.Error("Verify with the API server gone succeeded")
	}
	os.Remove(kc)
	if err := p.Verify(context.Background(), f.env); err == nil || !strings.Contains(err.Error(), "admin kubeconfig") {
		t.Errorf("Verify without a kubeconfig = %v, want an admin kubeconfig error", err)
	}
}

func TestK0s_Destroy(t *testing.T) {
	f := newK0sFixture(t, 1, 1, "")
	p := f.phase(t)
	// Nothing written yet: nothing to reset.
	if err := p.Destroy(context.Background(), f.env); err != nil {
		t.Fatalf("Destroy without a k0sctl.yaml: %v", err)
	}
	p.apply = func(_ context.Context, c *v1beta1.Cluster, _ k0sctl.Options) ([]byte, error) {
		return k0sTestKubeconfig(c.Spec.KubeAPIURL()), nil
	}
	if err := p.Run(context.Background(), f.env); err != nil {
		t.Fatal(err)
	}
	var reset []string
	p.reset = func(_ context.Context, c *v1beta1.Cluster, _ k0sctl.Options) error {
		for _, h := range c.Spec.Hosts {
			reset = append(reset, h.SSH.Address)
		}
		return nil
	}
	if err := p.Destroy(context.Background(), f.env); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if want := []string{"127.0.0.2", "127.0.0.3"}; !cmp.Equal(reset, want) {
		t.Errorf("reset hosts = %v, want %v", reset, want)
	}
	if _, err := os.Stat(filepath.Join(f.dirs.Secrets, "k0s", "kubeconfig")); err == nil {
		t.Error("the kubeconfig outlived the reset")
	}
	p.reset = func(context.Context, *v1beta1.Cluster, k0sctl.Options) error {
		return errors.New("k0sctl reset: connect: timeout")
	}
	if err := p.Destroy(context.Background(), f.env); err == nil || !strings.Contains(err.Error(), "k0rdent run --only vpn") {
		t.Errorf("Destroy with unreachable VMs = %v, want the vpn hint", err)
	}
}

// An apply that an earlier attempt left between `k0s install` and the
// service start is refused by k0sctl; the phase applies once more with
// k0sctl's --force, and only for that refusal (a unit test with a fake
// k0sctl apply; the testbed e2e test, TestCluster_EndToEnd, hits the real
// refusal by killing k0rdent during the install).
func TestK0s_RunRecoversInterruptedInstall(t *testing.T) {
	interrupted := errors.New("k0sctl apply: failed on 1 hosts:\n - 127.0.0.2:22: k0s doesn't appear to be running but has been installed as a service at /etc/init.d/k0scontroller - please remove it or start the service")
	for _, tt := range []struct {
		name   string
		errs   []error // what each apply returns, in order
		forces []bool  // the Force option of each call
		ok     bool
	}{
		{"interrupted, then forced", []error{interrupted, nil}, []bool{false, true}, true},
		{"interrupted, forced apply fails too", []error{interrupted, errors.New("k0sctl apply: boom")}, []bool{false, true}, false},
		{"another error is not forced", []error{errors.New("k0sctl apply: connect: refused")}, []bool{false}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newK0sFixture(t, 1, 0, "")
			p := f.phase(t)
			var forces []bool
			p.apply = func(_ context.Context, c *v1beta1.Cluster, o k0sctl.Options) ([]byte, error) {
				forces = append(forces, o.Force)
				if err := tt.errs[len(forces)-1]; err != nil {
					return nil, err
				}
				return k0sTestKubeconfig(c.Spec.KubeAPIURL()), nil
			}
			err := p.Run(context.Background(), f.env)
			if (err == nil) != tt.ok {
				t.Fatalf("Run: %v, want ok=%v", err, tt.ok)
			}
			if fmt.Sprint(forces) != fmt.Sprint(tt.forces) {
				t.Errorf("apply calls with Force %v, want %v", forces, tt.forces)
			}
			if strings.Contains(f.log.String(), "earlier attempt was interrupted") != (len(tt.forces) == 2) {
				t.Errorf("node log:\n%s", f.log)
			}
		})
	}
}
