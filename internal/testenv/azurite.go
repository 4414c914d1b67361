package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// AzuriteVersion is the npm package version of Azurite, the Azure Storage
// emulator, that InstallAzurite installs and the tests run.
const AzuriteVersion = "3.37.0"

// Azurite's well-known development account (public, documented by
// Microsoft; not a secret).
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// AzuriteDir is where InstallAzurite puts Azurite and where the tests look
// for it: $K0RDENT_AZURITE_DIR, else ~/.cache/k0rdent-test/azurite.
func AzuriteDir() string {
	if d := os.Getenv("K0RDENT_AZURITE_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "k0rdent-test", "azurite")
}

// AzuriteBinary returns the azurite-blob executable of AzuriteDir, or an
// error saying how to install it.
func AzuriteBinary() (string, error) {
	bin := filepath.Join(AzuriteDir(), "node_modules", ".bin", "azurite-blob")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("azurite-blob not found at %s: install it with `go run ./internal/testenv/installazurite` (npm install azurite@%s)", bin, AzuriteVersion)
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", errors.New("node is not on PATH (Azurite is a Node.js program)")
	}
	return bin, nil
}

// InstallAzurite installs Azurite AzuriteVersion into AzuriteDir with npm,
// unless it is there already. It reaches the npm registry: .ci/run calls
// it, tests never do.
func InstallAzurite(stdout, stderr io.Writer) error {
	if _, err := AzuriteBinary(); err == nil {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return errors.New("npm is not on PATH: install Node.js and npm (Debian: apt-get install nodejs npm)")
	}
	dir := AzuriteDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command(npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "azurite@"+AzuriteVersion)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm install azurite@%s into %s: %w", AzuriteVersion, dir, err)
	}
	_, err = AzuriteBinary()
	return err
}

// AzuriteServer is one Azurite blob service on loopback, with its data in
// a directory of its own. Stop and Start stop and restart it on the same
// port and data (the "store went away mid-run" tests).
type AzuriteServer struct {
	bin, dir string

	// removeDir: the shell removes dir once Azurite is gone (the shared
	// service's directory, which no test removes).
	removeDir bool

	mu    sync.Mutex // guards cmd, stdin, port
	cmd   *exec.Cmd
	stdin io.WriteCloser // held open: its close ends the service
	port  string
	done  chan struct{}
}

var listening = regexp.MustCompile(`listens on http://127\.0\.0\.1:(\d+)`)

// Azurite starts an Azurite blob service for t (skipped, or failed under
// CI, when Azurite is not installed) and stops it when t ends.
func Azurite(t testing.TB) *AzuriteServer {
	t.Helper()
	bin, err := AzuriteBinary()
	if err != nil {
		Missing(t, "%v", err)
	}
	a := &AzuriteServer{bin: bin, dir: t.TempDir(), port: "0"}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop() })
	return a
}

var shared struct {
	once sync.Once
	a    *AzuriteServer
	err  error
}

// SharedAzurite is one Azurite blob service for every test of the test
// process that calls it (started on first use: Azurite takes seconds to
// start); give each test a fresh container. It lives until the test
// process exits. Tests that stop the service use Azurite instead.
func SharedAzurite(t testing.TB) *AzuriteServer {
	t.Helper()
	bin, err := AzuriteBinary()
	if err != nil {
		Missing(t, "%v", err)
	}
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "k0rdent-azurite-")
		if err != nil {
			shared.err = err
			return
		}
		a := &AzuriteServer{bin: bin, dir: dir, port: "0", removeDir: true}
		shared.err = a.Start()
		shared.a = a
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.a
}

// Start starts the service (again, after Stop: same port, same data).
func (a *AzuriteServer) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd != nil {
		return nil
	}
	var lastErr error
	// A restart on the same port can race the old socket's release.
	for try := 0; try < 20; try++ {
		port, err := a.start()
		if err == nil {
			a.port = port
			return nil
		}
		lastErr = err
		if a.port == "0" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return lastErr
}

// start runs azurite-blob and waits for its "listens on" line; a.mu held.
func (a *AzuriteServer) start() (string, error) {
	// The shell ends Azurite when its stdin (a pipe from this process)
	// closes: when the test process exits, however it exits. The shell
	// has no Pdeathsig: killed with this process, it would leave Azurite
	// running; and the pipe is held in a (a pipe nobody references is
	// closed by the garbage collector). Once Azurite runs, the shell's own
	// output goes nowhere: its "Killed" to a pipe whose reader is gone
	// would end it with SIGPIPE before it removes the directory.
	script := `"$@" & pid=$!; exec >/dev/null 2>&1; cat >/dev/null; kill -9 $pid; wait $pid; [ -z "$RM_DIR" ] || rm -rf "$RM_DIR"`
	cmd := exec.Command("/bin/sh", "-c", script, "azurite", a.bin, "--blobHost", "127.0.0.1", "--blobPort", a.port,
		"--location", a.dir, "--skipApiVersionCheck", "--disableTelemetry", "--silent")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if a.removeDir {
		cmd.Env = append(os.Environ(), "RM_DIR="+a.dir)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = cmd.Stdout
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start azurite: %w", err)
	}
	portc := make(chan string, 1)
	done := make(chan struct{})
	var log strings.Builder
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			logMu.Lock()
			if log.Len() < 4096 {
				log.WriteString(sc.Text() + "\n")
			}
			logMu.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case portc <- m[1]:
				default:
				}
			}
		}
		cmd.Wait()
		close(done)
	}()
	select {
	case p := <-portc:
		a.cmd, a.done, a.stdin = cmd, done, stdin
		return p, nil
	case <-done:
		stdin.Close()
		logMu.Lock()
		defer logMu.Unlock()
		return "", fmt.Errorf("azurite exited before listening:\n%s", log.String())
	case <-time.After(60 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		stdin.Close()
		return "", errors.New("azurite did not listen within 60s")
	}
}

// Stop stops the service (SIGTERM: Azurite saves its data and exits; its
// clients see connections refused). A second call does nothing.
func (a *AzuriteServer) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil {
		return
	}
	syscall.Kill(-a.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		<-a.done
	}
	a.stdin.Close()
	a.cmd, a.stdin = nil, nil
}

// Endpoint is the blob service URL of the emulator's account.
func (a *AzuriteServer) Endpoint() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return "http://127.0.0.1:" + a.port + "/" + AzuriteAccount
}

// Port is the service's TCP port.
func (a *AzuriteServer) Port() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.port
}

// ConnectionString is the emulator's connection string (well-known key).
func (a *AzuriteServer) ConnectionString() string {
	return AzuriteConnectionString(a.Endpoint())
}

// AzuriteConnectionString is the development account's connection string
// for a blob endpoint (as Endpoint returns it, or a proxy in front of it).
func AzuriteConnectionString(endpoint string) string {
	return "DefaultEndpointsProtocol=http;AccountName=" + AzuriteAccount + ";AccountKey=" + AzuriteKey +
		";BlobEndpoint=" + endpoint + ";"
}
