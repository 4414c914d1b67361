package testbed

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
)

// Versions of the Kubernetes binaries `make kube-bins` builds; keep in step
// with hack/kube-bins/build.sh.
const (
	KubeVersion = "1.33.4"
	EtcdVersion = "3.7.3"
	// KubeAPIPort is the port the testbed's kube-apiserver listens on in
	// a VM, k0s's.
	KubeAPIPort = 6443
)

// KubeBinsEnv names the directory holding kube-apiserver and etcd; unset,
// KubeBinsDir is the cache directory `make kube-bins` fills.
const KubeBinsEnv = "K0RDENT_KUBE_BINS"

// KubeBinsDir returns the directory with the kube-apiserver and etcd
// binaries: $K0RDENT_KUBE_BINS, else
// $HOME/.cache/k0rdent-test/kube/v<KubeVersion>-etcd<EtcdVersion>. It
// returns an error saying how to get them when either is missing.
func KubeBinsDir() (string, error) {
	dir := os.Getenv(KubeBinsEnv)
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("kube binaries: no home directory (set %s): %w", KubeBinsEnv, err)
		}
		dir = filepath.Join(home, ".cache", "k0rdent-test", "kube", "v"+KubeVersion+"-etcd"+EtcdVersion)
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		fi, err := os.Stat(filepath.Join(dir, b))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("kube binaries: no executable %s in %s (build them with `make kube-bins`, about 3 minutes, or set %s)", b, dir, KubeBinsEnv)
		}
	}
	return dir, nil
}

// RequireKube skips t unless the kube-apiserver and etcd binaries are
// there, and returns their directory.
func RequireKube(t testing.TB) string {
	t.Helper()
	dir, err := KubeBinsDir()
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	return dir
}

// Kube is a running etcd and kube-apiserver: a real Kubernetes API with no
// scheduler, controller manager or kubelet (objects are stored and served;
// pods never run, namespaces are never finalized).
type Kube struct {
	// Server is the API server's URL, https://<address>:<port>.
	Server string
	// Kubeconfig is the path of an admin kubeconfig (0600): the serving
	// CA and a bearer token of the group system:masters.
	Kubeconfig string
	// Dir holds the certificates, the token file, etcd's data and both
	// logs (etcd.log, kube-apiserver.log).
	Dir string

	stop func() // ends both processes; nil for a testbed VM's (cleanup does it)
}

// Stop ends the processes of a Kube from LaunchKube. It is idempotent.
func (k *Kube) Stop() {
	if k.stop != nil {
		k.stop()
		k.stop = nil
	}
}

// kubeFiles are what kube-apiserver is started with.
type kubeFiles struct {
	dir     string
	ca      []byte // PEM
	token   string
	sans    []net.IP
	apiArgs []string // the flags naming the files
}

// writeKubeFiles writes a CA, a serving certificate for ips (and
// localhost), a service-account key pair and a token file with one admin
// token into dir.
func writeKubeFiles(dir string, ips []net.IP) (kubeFiles, error) {
	f := kubeFiles{dir: dir, sans: ips}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "k0rdent testbed CA"},
		NotBefore:             now,
		NotAfter:              now.Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return f, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	f.ca = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now,
		NotAfter:     now.Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses:  append([]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")}, ips...),
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return f, err
	}
	srvKeyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return f, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, err
	}
	saKeyDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return f, err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return f, err
	}
	var tok [16]byte
	rand.Read(tok[:])
	f.token = hex.EncodeToString(tok[:])

	files := map[string][]byte{
		"ca.crt":         f.ca,
		"apiserver.crt":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		"apiserver.key":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: srvKeyDER}),
		"sa.key":         pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saKeyDER}),
		"sa.pub":         pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER}),
		"tokens.csv":     []byte(f.token + `,admin,admin-uid,"system:masters"` + "\n"),
		"kube-apiserver": nil, // cert dir
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if data == nil {
			if err := os.MkdirAll(p, 0o700); err != nil {
				return f, err
			}
			continue
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return f, err
		}
	}
	f.apiArgs = []string{
		"--tls-cert-file=" + filepath.Join(dir, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(dir, "apiserver.key"),
		"--cert-dir=" + filepath.Join(dir, "kube-apiserver"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--token-auth-file=" + filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.96.0.0/16",
		// Nothing would act on them here: no controller manager.
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	}
	return f, nil
}

// kubeconfig is an admin kubeconfig for server.
func (f kubeFiles) kubeconfig(server string) []byte {
	return []byte(`apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: ` + server + `
    certificate-authority-data: ` + base64.StdEncoding.EncodeToString(f.ca) + `
users:
- name: admin
  user:
    token: ` + f.token + `
contexts:
- name: admin@testbed
  context:
    cluster: testbed
    user: admin
current-context: admin@testbed
`)
}

// waitReadyz polls server's /readyz with the admin token until it answers
// 200, one of the processes exits, or 60 s pass. dial opens connections
// (inside the right namespace).
func (f kubeFiles) waitReadyz(server string, dial func(ctx context.Context, network, addr string) (net.Conn, error), exited <-chan string) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(f.ca)
	hc := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: dial},
	}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(60 * time.Second)
	last := "no answer"
	for {
		req, _ := http.NewRequest(http.MethodGet, server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case name := <-exited:
			return fmt.Errorf("%s exited before %s/readyz answered (log: %s)", name, server, filepath.Join(f.dir, name+".log"))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/readyz not ready after 60s: %s (logs in %s)", server, last, f.dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// etcdArgs runs a single-member etcd on 127.0.0.1 with its data in dir.
func etcdArgs(dir string, client, peer int) []string {
	c := "http://127.0.0.1:" + strconv.Itoa(client)
	p := "http://127.0.0.1:" + strconv.Itoa(peer)
	return []string{
		"--name=default",
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + c, "--advertise-client-urls=" + c,
		"--listen-peer-urls=" + p, "--initial-advertise-peer-urls=" + p,
		"--initial-cluster=default=" + p,
		"--listen-metrics-urls=",
		"--log-level=warn",
		"--unsafe-no-fsync",
	}
}

// LaunchKube starts etcd and kube-apiserver from the binaries in bins as
// children of this process, in its network namespace, listening on
// 127.0.0.1 at free ports, with their files under dir. It needs no root:
// unit tests of providers use it. Stop the result when done.
//
// The ports are free when chosen but are not held until the processes bind
// them, so a parallel test's connection can take one first: when a process
// exits saying so, LaunchKube tries again on new ports, up to 3 times.
func LaunchKube(bins, dir string) (*Kube, error) {
	f, err := writeKubeFiles(dir, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		return nil, fmt.Errorf("kube files in %s: %w", dir, err)
	}
	for attempt := 1; ; attempt++ {
		k, err := launchKube(bins, dir, f)
		if err == nil || attempt == 3 || !errors.Is(err, errPortTaken) {
			return k, err
		}
		if err := os.RemoveAll(filepath.Join(dir, "etcd")); err != nil {
			return nil, err
		}
	}
}

// errPortTaken: a process exited because its port was taken.
var errPortTaken = errors.New("port taken")

// pickPorts is freePorts; a test replaces it to hand out a taken port.
var pickPorts = freePorts

func launchKube(bins, dir string, f kubeFiles) (*Kube, error) {
	ports, err := pickPorts(3)
	if err != nil {
		return nil, err
	}
	exited := make(chan string, 2)
	var procs []*exec.Cmd
	var dones []chan struct{}
	stopAll := func() {
		for i := len(procs) - 1; i >= 0; i-- {
			stop(procs[i], dones[i])
		}
	}
	startProc := func(name string, args ...string) error {
		logf, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		cmd := exec.Command(filepath.Join(bins, name), args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		if err := cmd.Start(); err != nil {
			logf.Close()
			return fmt.Errorf("start %s: %w", name, err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); logf.Close(); exited <- name; close(done) }()
		procs, dones = append(procs, cmd), append(dones, done)
		return nil
	}
	if err := startProc("etcd", etcdArgs(dir, ports[0], ports[1])...); err != nil {
		return nil, err
	}
	server := "https://127.0.0.1:" + strconv.Itoa(ports[2])
	args := append([]string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(ports[0]),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(ports[2]),
	}, f.apiArgs...)
	if err := startProc("kube-apiserver", args...); err != nil {
		stopAll()
		return nil, err
	}
	var d net.Dialer
	if err := f.waitReadyz(server, d.DialContext, exited); err != nil {
		stopAll()
		for _, name := range []string{"etcd", "kube-apiserver"} {
			if log, _ := os.ReadFile(filepath.Join(dir, name+".log")); bytes.Contains(log, []byte("address already in use")) {
				return nil, fmt.Errorf("%w: %w", errPortTaken, err)
			}
		}
		return nil, err
	}
	k := &Kube{Server: server, Kubeconfig: filepath.Join(dir, "kubeconfig"), Dir: dir, stop: stopAll}
	if err := os.WriteFile(k.Kubeconfig, f.kubeconfig(server), 0o600); err != nil {
		stopAll()
		return nil, err
	}
	return k, nil
}

// StartLocalKube is LaunchKube for one test: it skips t when the binaries
// are missing and stops the processes when t ends.
func StartLocalKube(t testing.TB) *Kube {
	t.Helper()
	bins := RequireKube(t)
	dir := t.TempDir()
	k, err := LaunchKube(bins, dir)
	if err != nil {
		t.Fatalf("testbed: %v", err)
	}
	t.Cleanup(k.Stop)
	return k
}

// freePorts asks the kernel for n free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// StartKube starts etcd and kube-apiserver inside vm's namespace, as k0s
// would run them on the VM: the API server listens on the VM's WireGuard
// address, port 6443 (KubeAPIPort), so the operator reaches it through the
// tunnel; etcd listens on the VM's 127.0.0.1. The VM must be configured
// (ConfigureVM) so that its WireGuard address is known; the tunnel need not
// be up (the namespace allows non-local binds, and readiness is checked from
// inside the VM). Kube.Kubeconfig names https://<wireguard address>:6443 and
// lives under Dir, readable by the VM's processes (it is what the k0s
// stand-in hands out for `k0s kubeconfig admin`). Cleanup stops both.
func (tb *Testbed) StartKube(vm string) (*Kube, error) {
	bins, err := KubeBinsDir()
	if err != nil {
		return nil, err
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	v := tb.vm(vm)
	if v.doc == nil {
		return nil, fmt.Errorf("testbed VM %s: not configured (ConfigureVM first)", vm)
	}
	q, err := wireguard.ParseCloudInit(v.doc)
	if err != nil {
		return nil, err
	}
	addr := q.Address[0].Addr()
	dir := filepath.Join(tb.dir, v.netns+"-kube")
	f, err := writeKubeFiles(dir, []net.IP{net.IP(addr.AsSlice())})
	if err != nil {
		return nil, fmt.Errorf("testbed VM %s: kube files: %w", vm, err)
	}
	exited := make(chan string, 2)
	startProc := func(name string, args ...string) error {
		_, done, err := tb.start(v.netns, v.netns+"-"+name+".log", nil, filepath.Join(bins, name), args...)
		if err != nil {
			return err
		}
		go func() { <-done; exited <- name }()
		return nil
	}
	if err := startProc("etcd", etcdArgs(dir, 2379, 2380)...); err != nil {
		return nil, err
	}
	server := "https://" + netip.AddrPortFrom(addr, KubeAPIPort).String()
	args := append([]string{
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address=" + addr.String(),
		"--advertise-address=" + addr.String(),
		"--secure-port=" + strconv.Itoa(KubeAPIPort),
	}, f.apiArgs...)
	if err := startProc("kube-apiserver", args...); err != nil {
		return nil, err
	}
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		return dialIn(ctx, v.netns, network, address)
	}
	if err := f.waitReadyz(server, dial, exited); err != nil {
		return nil, fmt.Errorf("testbed VM %s: %w", vm, err)
	}
	k := &Kube{Server: server, Kubeconfig: filepath.Join(dir, "kubeconfig"), Dir: dir}
	if err := os.WriteFile(k.Kubeconfig, f.kubeconfig(server), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

// InNetns runs fn in network namespace netns (its name under
// /var/run/netns) and returns fn's error: on an OS thread of its own,
// locked, that enters the namespace and then returns to this one. Sockets
// fn creates stay in netns. If the thread cannot return, it stays locked
// and ends with its goroutine, so no other goroutine runs in netns.
func InNetns(netns string, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/var/run/netns", netns))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("open netns %s: %w", netns, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("enter netns %s: %w", netns, err)
			return
		}
		err = fn()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the thread stays locked and dies with this goroutine
		ch <- err
	}()
	return <-ch
}

// dialIn opens a connection from inside netns; the socket stays there.
func dialIn(ctx context.Context, netns, network, address string) (net.Conn, error) {
	var c net.Conn
	err := InNetns(netns, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}
