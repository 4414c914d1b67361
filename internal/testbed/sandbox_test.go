package testbed

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
)

// TestTestbed_Sandbox: what a session on a sandboxed VM writes under the
// sandboxed directories lands in the testbed's directory, never on the
// machine, and each VM has its own view.
func TestTestbed_Sandbox(t *testing.T) {
	t.Parallel() // its own namespaces or API server: it runs beside the other slow tests
	Require(t, true)
	f := newFixture(t, wireguard.Host{Name: "k0s-controller-1", Role: wireguard.RoleController}, wireguard.Host{Name: "k0s-worker-1", Role: wireguard.RoleWorker})
	tb := New(t, Options{VMs: []VM{{Name: "k0s-controller-1"}, {Name: "k0s-worker-1"}}, AuthorizedKey: f.authorizedKey(t), Sandbox: true})
	for _, vm := range f.plan.Hosts {
		if err := tb.ConfigureVM(vm.Name, f.docs[vm.Name]); err != nil {
			t.Fatal(err)
		}
	}
	operatorUp(t, tb, f)
	marker := "/etc/k0tb-sandbox-" + tb.ID()
	bin := "/usr/local/bin/k0tb-sandbox-" + tb.ID()
	lib := "/var/lib/k0tb-sandbox-" + tb.ID() + "/data"
	t.Cleanup(func() { os.Remove(marker); os.Remove(bin); os.RemoveAll("/var/lib/k0tb-sandbox-" + tb.ID()) })

	ssh := func(vm, script string) string {
		addr, err := tb.SSHAddress(vm)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, tb, addr)
		host := strings.TrimSuffix(addr, ":22")
		return run(t, tb.OperatorExec(context.Background(), "ssh", "-i", f.sshID, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "root@"+host, script))
	}
	ssh("k0s-controller-1", "echo controller > "+marker+" && echo bin > "+bin+" && mkdir -p "+lib+" && echo lib > "+lib+"/f")
	// The VM sees its own writes; the other VM and the machine do not.
	if got := ssh("k0s-controller-1", "cat "+marker); strings.TrimSpace(got) != "controller" {
		t.Errorf("controller reads %q back", got)
	}
	if got := ssh("k0s-worker-1", "cat "+marker+" 2>/dev/null || echo absent"); strings.TrimSpace(got) != "absent" {
		t.Errorf("the worker sees the controller's file: %q", got)
	}
	for _, p := range []string{marker, bin, lib} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written to the machine", p)
		}
		hp, ok := tb.SandboxPath("k0s-controller-1", p)
		if !ok {
			t.Errorf("SandboxPath(%s) not sandboxed", p)
			continue
		}
		if _, err := os.Stat(hp); err != nil {
			t.Errorf("%s is not in the sandbox: %v", p, err)
		}
	}
	// Reads see the machine's files.
	if got := ssh("k0s-worker-1", "test -r /etc/os-release && echo ok"); strings.TrimSpace(got) != "ok" {
		t.Errorf("the sandbox hides /etc/os-release: %q", got)
	}
	checkHome(t, tb, "k0s-worker-1", func(script string) string { return ssh("k0s-worker-1", script) })
	if _, ok := tb.SandboxPath("k0s-controller-1", "/tmp/x"); ok {
		t.Error("SandboxPath says /tmp is sandboxed")
	}
}
