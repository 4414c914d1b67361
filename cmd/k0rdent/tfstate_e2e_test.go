package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
	"github.com/k0rdent/k0rdent-deploy/providers/terraform/tftest"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// slowModuleTF is added to the test module: after the VMs, "settle"
// takes longer than Terraform's 20s interval between intermediate state
// saves to a remote backend (so Terraform saves the VMs and settle while
// it applies), then "slow" waits while the file HOLD exists.
const slowModuleTF = `
resource "terraform_data" "settle" {
  depends_on = [fakevm_vm.vm]
  provisioner "local-exec" {
    command = "sleep 21"
  }
}

resource "terraform_data" "slow" {
  depends_on = [terraform_data.settle]
  provisioner "local-exec" {
    command = "while [ -e %s ]; do sleep 0.2; done"
  }
}
`

// tfStateAddresses lists the resource instances of a Terraform state.
func tfStateAddresses(t *testing.T, data []byte) []string {
	t.Helper()
	var st struct {
		Resources []struct {
			Type, Name string
			Instances  []struct {
				IndexKey any `json:"index_key"`
			}
		}
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("terraform state: %v", err)
	}
	var out []string
	for _, r := range st.Resources {
		for _, i := range r.Instances {
			a := r.Type + "." + r.Name
			if i.IndexKey != nil {
				a += fmt.Sprintf("[%v]", i.IndexKey)
			}
			out = append(out, a)
		}
	}
	return out
}

// terraformChild finds the terraform process k0rdent pid started and
// returns its pid and environment (nil while there is none).
func terraformChild(pid int) (int, []string) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, c := range strings.Fields(string(b)) {
			comm, _ := os.ReadFile("/proc/" + c + "/comm")
			if strings.TrimSpace(string(comm)) != "terraform" {
				continue
			}
			env, err := os.ReadFile("/proc/" + c + "/environ")
			if err != nil {
				continue
			}
			n, _ := strconv.Atoi(c)
			return n, strings.Split(string(env), "\x00")
		}
	}
	return 0, nil
}

// Issue 15, Terraform's own state in the shared store, end to end with
// the real k0rdent and terraform binaries, Azurite, in a private network
// namespace: kill -9 of k0rdent mid-apply of a multi-resource module
// loses nothing Terraform had saved (it is in the blob store, through
// k0rdent's http backend), and the resumed run does not create it again;
// `state pull` brings Terraform's state back as terraform.tfstate and a
// push of that directory to another prefix carries it; the backend's
// password is in terraform's environment only: not on its command line,
// in no blob, run file, log, output or pulled file.
func TestBlobState_TerraformStateSurvivesKill(t *testing.T) {
	// Built (or found built) out here: in the namespace there is no route
	// to the module proxy for its dependencies.
	tftest.Mirror(t)
	if !testenv.PrivateNetwork(t) {
		return
	}
	_, cloud, tfEnv := tftest.TestModuleEnv(t)
	_, testModule := tftest.Mirror(t)
	module := t.TempDir()
	hold := filepath.Join(t.TempDir(), "hold")
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(hold) }) // ends an orphaned "slow" provisioner
	mainTF, err := os.ReadFile(filepath.Join(testModule, "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(module, "main.tf"), append(mainTF, fmt.Sprintf(slowModuleTF, hold)...), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newBlobProject(t, baseConfig+fmt.Sprintf("cluster:\n  controllers: {count: 1}\n  workers: {count: 2}\nterraform:\n  module: %q\n", module))
	env := append(append([]string{}, p.env...), tfEnv...)
	k0rdent := func(args ...string) *startedCmd {
		c := p.cmdWith(binPath, args...)
		c.Env = append(c.Env, env...)
		return startCmd(t, c)
	}
	store := func() (*state.Store, *state.BlobBackend) {
		b, err := state.NewBlobBackend(context.Background(), p.cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return state.OpenStore(b), b
	}
	_, reader := store()
	stored := func() []byte {
		data, _, err := reader.ReadTerraformState(context.Background())
		if err != nil {
			return nil
		}
		return data
	}
	var outputs []string

	// Run 1: wireguard, then terraform applies the VMs and settle, and
	// waits in slow. Terraform saves the VMs and settle as it goes.
	first := k0rdent("--no-color", "run", "--only", "wireguard,terraform")
	var password string
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if password == "" {
			if pid, environ := terraformChild(first.cmd.Process.Pid); pid != 0 {
				for _, kv := range environ {
					if v, ok := strings.CutPrefix(kv, "TF_HTTP_PASSWORD="); ok {
						password = v
					}
				}
				if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); password != "" && bytes.Contains(cmdline, []byte(password)) {
					t.Errorf("terraform's command line holds the backend password: %q", cmdline)
				}
			}
		}
		if data := stored(); data != nil && strings.Contains(strings.Join(tfStateAddresses(t, data), " "), "terraform_data.settle") {
			break
		}
		if first.exited() || time.Now().After(deadline) {
			first.cmd.Process.Kill()
			t.Fatalf("terraform did not save the VMs and settle in the store within 3 minutes (exited %v)\n%s", first.exited(), first.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(password) != 32 {
		t.Fatalf("no TF_HTTP_PASSWORD of 32 characters in terraform's environment: %q", password)
	}
	if rf := p.currentRun(); rf.Nodes["terraform"].State != workflow.Running {
		t.Fatalf("terraform node %s while terraform applies, want running", rf.Nodes["terraform"].State)
	}
	first.cmd.Process.Signal(syscall.SIGKILL)
	first.wait()
	outputs = append(outputs, first.output())
	saved := stored()
	want := "fakevm_vm.vm[k0s-controller-1] fakevm_vm.vm[k0s-worker-1] fakevm_vm.vm[k0s-worker-2] terraform_data.settle"
	if got := strings.Join(tfStateAddresses(t, saved), " "); got != want {
		t.Fatalf("after kill -9 the store's Terraform state holds %s, want %s", got, want)
	}
	vmTimes := map[string]time.Time{}
	for _, vm := range []string{"k0s-controller-1", "k0s-worker-1", "k0s-worker-2"} {
		fi, err := os.Stat(filepath.Join(cloud, vm+".json"))
		if err != nil {
			t.Fatal(err)
		}
		vmTimes[vm] = fi.ModTime()
	}

	// Resume once the lease is gone: terraform creates slow only.
	os.Remove(hold)
	deadline = time.Now().Add(60 * time.Second)
	for {
		r := k0rdent("--no-color", "run", "--resume", "--yes")
		r.wait()
		outputs = append(outputs, r.output())
		if r.code == 0 {
			break
		}
		if r.code != 3 || time.Now().After(deadline) {
			t.Fatalf("resume after kill -9:\n%s", r.output())
		}
		time.Sleep(time.Second)
	}
	rf := p.currentRun()
	if rf.Nodes["terraform"].State != workflow.Succeeded || rf.Nodes["terraform"].Attempt != 2 {
		t.Errorf("terraform node after the resume: %s, attempt %d; want succeeded at attempt 2", rf.Nodes["terraform"].State, rf.Nodes["terraform"].Attempt)
	}
	for vm, mt := range vmTimes {
		if fi, err := os.Stat(filepath.Join(cloud, vm+".json")); err != nil || !fi.ModTime().Equal(mt) {
			t.Errorf("VM %s was created again by the resumed run (%v)", vm, err)
		}
	}
	if got, want := strings.Join(tfStateAddresses(t, stored()), " "), want+" terraform_data.slow"; got != want {
		t.Errorf("Terraform state after the resume: %s, want %s", got, want)
	}
	s, _ := store()
	tfLog, err := s.TailLog(rf.Header.RunID, "terraform", 400)
	if err != nil {
		t.Fatal(err)
	}
	if log := strings.Join(tfLog, "\n"); !strings.Contains(log, "Apply complete! Resources: 1 added, 0 changed, 0 destroyed") {
		t.Errorf("the resumed apply did not add slow alone:\n%s", log)
	}

	// state pull: Terraform's state comes back as terraform.tfstate.
	local := filepath.Join(t.TempDir(), "state")
	pull := p.cmdWith(binPath, "state", "pull", "--from", p.cfg.URL(), "--state-dir", local)
	pull.Env = append(pull.Env, withoutStateURL(env)...) // --state-dir names the local side
	r := run(t, pull)
	outputs = append(outputs, r.stdout+r.stderr)
	if r.code != 0 {
		t.Fatalf("state pull:\n%s", r)
	}
	pulled, err := os.ReadFile(filepath.Join(local, "terraform", "terraform.tfstate"))
	if err != nil || !bytes.Equal(pulled, stored()) {
		t.Fatalf("pulled terraform.tfstate (%v) differs from the store's Terraform state", err)
	}
	// ... and a push of it to another prefix carries it.
	cfg2 := p.cfg
	cfg2.Prefix = "copy"
	push := p.cmdWith(binPath, "state", "push", "--to", cfg2.URL(), "--state-dir", local)
	push.Env = append(push.Env, withoutStateURL(env)...)
	if r := run(t, push); r.code != 0 {
		t.Fatalf("state push:\n%s", r)
	}
	b2, err := state.NewBlobBackend(context.Background(), cfg2)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if data, _, err := b2.ReadTerraformState(context.Background()); err != nil || !bytes.Equal(data, pulled) {
		t.Errorf("pushed copy's Terraform state differs (%v)", err)
	}

	// The password: in no blob of the container, no output, no pulled file.
	cc, err := container.NewClientFromConnectionString(p.cfg.ConnectionString, p.cfg.Container, nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs := 0
	pager := cc.NewListBlobsFlatPager(nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Segment.BlobItems {
			resp, err := cc.NewBlobClient(*it.Name).DownloadStream(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			blobs++
			if bytes.Contains(data, []byte(password)) {
				t.Errorf("blob %s holds the backend password", *it.Name)
			}
		}
	}
	if blobs < 10 {
		t.Errorf("only %d blobs searched for the password", blobs)
	}
	filepath.WalkDir(local, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(password)) {
				t.Errorf("pulled file %s holds the backend password", path)
			}
		}
		return nil
	})
	for i, o := range outputs {
		if strings.Contains(o, password) {
			t.Errorf("the output of command %d holds the backend password", i)
		}
	}
}

// startedCmd is a k0rdent process started with its output captured.
type startedCmd struct {
	cmd  *exec.Cmd
	buf  *bytes.Buffer
	done chan struct{}
	code int
}

func startCmd(t *testing.T, c *exec.Cmd) *startedCmd {
	t.Helper()
	s := &startedCmd{cmd: c, buf: &bytes.Buffer{}, done: make(chan struct{})}
	c.Stdout, c.Stderr = &lockedWriter{b: s.buf}, &lockedWriter{b: s.buf}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill() })
	go func() {
		err := c.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			s.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				s.code = 128 + int(ws.Signal())
			}
		} else if err != nil {
			s.code = -1
		}
		close(s.done)
	}()
	return s
}

func (s *startedCmd) wait() { <-s.done }

func (s *startedCmd) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *startedCmd) output() string {
	mu.Lock()
	defer mu.Unlock()
	return fmt.Sprintf("exit %d\n%s", s.code, s.buf.String())
}

var mu sync.Mutex

type lockedWriter struct{ b *bytes.Buffer }

func (w *lockedWriter) Write(p []byte) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	return w.b.Write(p)
}

func withoutStateURL(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "K0RDENT_STATE_URL=") {
			out = append(out, kv)
		}
	}
	return out
}
