package testbed

import (
	"os"
	"path/filepath"
	"strings"
)

// Sandboxed VMs (Options.Sandbox).
//
// The namespace VMs share the machine's filesystem. A test that lets a
// tool install software over SSH (k0sctl writes /usr/local/bin/k0s,
// /etc/k0s, /etc/init.d/k0s*, /var/lib/k0s, lock files under /run) must not
// change the machine, so a sandboxed VM's sshd starts in its own mount
// namespace (`unshare --mount --propagation private`) in which each of
// SandboxedDirs is covered by an overlay: reads see the machine's files,
// writes land in <Dir>/<netns>-sandbox/upper/<dir>. Every session and
// command sshd starts inherits that view. The namespace ends with the last
// process in it (cleanup kills them all), and the upper directories are
// under the test's temporary directory, so nothing outlives the test.
// /tmp is not overlaid: the testbed's own files (sshd's configuration,
// host key and authorized keys) are there, and overlayfs refuses an upper
// directory inside its lower one.

// SandboxedDirs are the directories a sandboxed VM sees through an
// overlay.
func SandboxedDirs() []string {
	return []string{"/etc", "/usr/local/bin", "/var/lib", "/run"}
}

// sandboxDir is vm's sandbox root under Dir.
func (tb *Testbed) sandboxDir(v *vmState) string {
	return filepath.Join(tb.dir, v.netns+"-sandbox")
}

// upperName is the directory under upper/ and work/ for a sandboxed dir:
// /usr/local/bin is usr-local-bin.
func upperName(dir string) string {
	return strings.ReplaceAll(strings.Trim(dir, "/"), "/", "-")
}

// SandboxPath is where path, as written inside sandboxed VM vm, is on the
// machine: <Dir>/<netns>-sandbox/upper/<dir>/<rest> for a path under one
// of SandboxedDirs. ok is false when the path is not sandboxed (or the VM
// is not) and would be written to the machine itself.
func (tb *Testbed) SandboxPath(vm, path string) (hostPath string, ok bool) {
	v := tb.vm(vm)
	if !tb.sandbox {
		return path, false
	}
	clean := filepath.Clean(path)
	for _, d := range tb.sandboxDirs {
		if clean == d || strings.HasPrefix(clean, d+"/") {
			return filepath.Join(tb.sandboxDir(v), "upper", upperName(d), strings.TrimPrefix(clean, d)), true
		}
	}
	return path, false
}

// VMHome is the login users' home directory inside every VM with an sshd
// (root's, and Options.AdminUser's, which is root under another name).
const VMHome = "/root"

// homeDir is where vm's home (VMHome) is on the machine.
func (tb *Testbed) homeDir(v *vmState) string {
	return filepath.Join(tb.dir, v.netns+"-home")
}

// sshdArgv wraps sshd's argv in a mount namespace of its own (`unshare
// --mount --propagation private`), in which VMHome is a directory of the
// testbed, empty as on a fresh VM, bind-mounted over the machine's: every
// session and command sshd starts sees it. Without it, each command run
// over SSH would be run by a bash that reads the machine's /root/.bashrc
// (Debian's bash does for a shell started by sshd), whatever the operator
// of the machine put there (pyenv, cargo...: seconds per command under
// load), and would write into the machine's home (~/.kube/cache). On a
// sandboxed testbed the same script also mounts the overlays.
func (tb *Testbed) sshdArgv(v *vmState, sshd []string) []string {
	var script strings.Builder
	script.WriteString("set -e\n")
	home := tb.homeDir(v)
	if err := os.MkdirAll(home, 0o700); err != nil {
		tb.t.Fatalf("testbed: home of %s: %v", v.Name, err)
	}
	script.WriteString("mount --bind " + home + " " + VMHome + "\n")
	if tb.sandbox {
		root := tb.sandboxDir(v)
		for _, d := range tb.sandboxDirs {
			n := upperName(d)
			up, work := filepath.Join(root, "upper", n), filepath.Join(root, "work", n)
			if err := os.MkdirAll(up, 0o755); err != nil {
				tb.t.Fatalf("testbed: sandbox of %s: %v", v.Name, err)
			}
			if err := os.MkdirAll(work, 0o755); err != nil {
				tb.t.Fatalf("testbed: sandbox of %s: %v", v.Name, err)
			}
			script.WriteString("mount -t overlay overlay -o lowerdir=" + d + ",upperdir=" + up + ",workdir=" + work + " " + d + "\n")
		}
		if tb.admin != "" {
			// Written inside the sandbox: the machine's /etc/passwd is untouched.
			script.WriteString("echo '" + tb.admin + ":x:0:0:k0rdent testbed admin:" + VMHome + ":/bin/sh' >>/etc/passwd\n")
		}
	}
	script.WriteString(`exec "$@"` + "\n")
	return append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script.String(), "vm"}, sshd...)
}
