package phases

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// script writes a /bin/sh script into a temp dir and returns its argv.
func script(t *testing.T, body string) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "phase.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{"/bin/sh", path}
}

func newCommand(t *testing.T, spec CommandSpec) *Command {
	t.Helper()
	if spec.Name == "" {
		spec.Name = "hook"
	}
	c, err := NewCommand(spec, nil, RunFlags{})
	if err != nil {
		t.Fatalf("NewCommand: %v", err)
	}
	return c
}

// syncBuffer is an io.Writer safe to read after Run returns and, through
// waitFor, while Run is still writing.
type syncBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	seen chan struct{}
	want string
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.want != "" && b.seen != nil && strings.Contains(b.buf.String(), b.want) {
		close(b.seen)
		b.seen = nil
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor returns a channel closed when the output contains s.
func (b *syncBuffer) waitFor(s string) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.want, b.seen = s, make(chan struct{})
	return b.seen
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid file %s: %v", path, err)
	}
	return pid
}

func TestCommand_Run_CapturesStdoutAndStderr(t *testing.T) {
	c := newCommand(t, CommandSpec{Command: script(t, `echo to-stdout; echo to-stderr >&2`)})
	var out syncBuffer
	if err := c.Run(context.Background(), &workflow.Env{Node: "hook", Attempt: 1, Output: &out}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := out.String()
	for _, want := range []string{"to-stdout\n", "to-stderr\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output = %q, want it to contain %q", got, want)
		}
	}
}

func TestCommand_Run_Environment(t *testing.T) {
	t.Setenv("K0RDENT_TEST_INHERITED", "from-operator")
	t.Setenv(EnvNode, "must-be-overridden")
	secrets := t.TempDir()
	c := newCommand(t, CommandSpec{
		Name:    "post-install",
		Command: script(t, `env | grep -E '^(K0RDENT_|GREETING=)' | grep -v '^K0RDENT_OUTPUT=' | sort`),
		Env:     map[string]string{"GREETING": "hello world"},
	})
	var out syncBuffer
	env := &workflow.Env{
		RunID:      "20261125-172300-abcd",
		Node:       "post-install",
		Attempt:    3,
		Output:     &out,
		SecretsDir: secrets,
		Inputs: map[string]map[string]string{
			"terraform":           {"public_ip": "203.0.113.7", "resource-group": "rg-1"},
			"azure-children/eu-1": {"kubeconfig": "/s/eu-1.kubeconfig"},
		},
	}
	if err := c.Run(context.Background(), env); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := strings.Join([]string{
		"GREETING=hello world",
		"K0RDENT_ATTEMPT=3",
		"K0RDENT_INPUT_AZURE_CHILDREN_EU_1_KUBECONFIG=/s/eu-1.kubeconfig",
		"K0RDENT_INPUT_TERRAFORM_PUBLIC_IP=203.0.113.7",
		"K0RDENT_INPUT_TERRAFORM_RESOURCE_GROUP=rg-1",
		"K0RDENT_NODE=post-install",
		"K0RDENT_RUN_ID=20261125-172300-abcd",
		"K0RDENT_SECRETS_DIR=" + secrets,
		"K0RDENT_TEST_INHERITED=from-operator",
	}, "\n") + "\n"
	if got := out.String(); got != want {
		t.Errorf("environment:\n got: %q\nwant: %q", got, want)
	}
}

func TestCommand_Run_Outputs(t *testing.T) {
	c := newCommand(t, CommandSpec{Command: script(t, `
cat >> "$K0RDENT_OUTPUT" <<EOF
# a comment
endpoint=https://10.0.0.1:6443

kubeconfig=/state/secrets/kubeconfig
query=a=b&c=d
endpoint=https://10.0.0.2:6443
EOF`)})
	env := &workflow.Env{Node: "hook"}
	if err := c.Run(context.Background(), env); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := env.Outputs()
	want := map[string]string{
		"endpoint":   "https://10.0.0.2:6443",
		"kubeconfig": "/state/secrets/kubeconfig",
		"query":      "a=b&c=d",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outputs = %v, want %v", got, want)
	}
}

func TestCommand_Run_MalformedOutputs(t *testing.T) {
	c := newCommand(t, CommandSpec{Name: "bad-out", Command: script(t, `
printf 'good=1\nno equals sign\n9lives=x\n' >> "$K0RDENT_OUTPUT"`)})
	env := &workflow.Env{Node: "bad-out"}
	err := c.Run(context.Background(), env)
	if err == nil {
		t.Fatal("Run = nil, want an error for the malformed output file")
	}
	want := "command phase bad-out: $K0RDENT_OUTPUT: line 2: \"no equals sign\" is not key=value\n" +
		"line 3: key \"9lives\" is invalid (start with a letter; letters, digits, '_', '-', '.' only)"
	if err.Error() != want {
		t.Errorf("error:\n got: %q\nwant: %q", err, want)
	}
	if got := env.Outputs(); len(got) != 0 {
		t.Errorf("outputs = %v, want none when the output file is malformed", got)
	}
}

func TestCommand_Run_ExitStatus(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantErr   string
		transient bool
	}{
		{name: "Success", body: `echo key=v >> "$K0RDENT_OUTPUT"; exit 0`},
		{name: "Failure", body: `echo key=v >> "$K0RDENT_OUTPUT"; exit 3`, wantErr: "command phase hook: exit status 3 (see log)"},
		{name: "TempFail", body: `exit 75`, wantErr: "command phase hook: exit status 75 (see log)", transient: true},
		{name: "KilledBySignal", body: `kill -KILL $$`, wantErr: "command phase hook: killed by signal SIGKILL (see log)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCommand(t, CommandSpec{Command: script(t, tt.body)})
			env := &workflow.Env{Node: "hook"}
			err := c.Run(context.Background(), env)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Run = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("Run = %v, want %q", err, tt.wantErr)
			}
			if got := workflow.IsTransient(err); got != tt.transient {
				t.Errorf("IsTransient = %v, want %v", got, tt.transient)
			}
			if got := env.Outputs(); len(got) != 0 {
				t.Errorf("outputs = %v, want none after a failure", got)
			}
		})
	}
}

func TestCommand_Run_StartError(t *testing.T) {
	c := newCommand(t, CommandSpec{Command: []string{"/nonexistent/k0rdent-hook"}})
	err := c.Run(context.Background(), &workflow.Env{})
	if err == nil || !strings.HasPrefix(err.Error(), "command phase hook: start /nonexistent/k0rdent-hook: ") {
		t.Fatalf("Run = %v, want a start error naming the command", err)
	}
}

func TestCommand_Run_AlreadyCancelled(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	c := newCommand(t, CommandSpec{Command: []string{"/bin/sh", "-c", "touch " + marker}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Run(ctx, &workflow.Env{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the command ran although the context was cancelled before Run (stat: %v)", err)
	}
}

// stubbornGrandchild starts a grandchild that ignores SIGTERM (ignored
// signals survive exec) and records its pid, then waits in the foreground.
const stubbornGrandchild = `
sh -c 'trap "" TERM; echo $$ > "$PIDFILE"; exec sleep 300' &
while [ ! -s "$PIDFILE" ]; do sleep 0.01; done
echo ready
wait`

func TestCommand_Run_TimeoutKillsProcessGroup(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "grandchild.pid")
	c := newCommand(t, CommandSpec{
		Name:        "slow",
		Command:     script(t, stubbornGrandchild),
		Env:         map[string]string{"PIDFILE": pidfile},
		GracePeriod: 100 * time.Millisecond,
	})
	// The scheduler applies Policy().Timeout like this.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := c.Run(ctx, &workflow.Env{Node: "slow"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want context.DeadlineExceeded", err)
	}
	if want := "command phase slow: stopped: context deadline exceeded"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if pid := readPID(t, pidfile); !processGone(t, pid) {
		t.Errorf("grandchild %d (ignores SIGTERM) is still running after Run returned", pid)
	}
}

func TestCommand_Run_CancelKillsProcessGroup(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "grandchild.pid")
	c := newCommand(t, CommandSpec{
		Command:     script(t, stubbornGrandchild),
		Env:         map[string]string{"PIDFILE": pidfile},
		GracePeriod: 100 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	ready := out.waitFor("ready")
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, &workflow.Env{Output: &out}) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run returned before the script was ready: %v; output %q", err, out.String())
	}
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if want := "command phase hook: stopped: context canceled"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if pid := readPID(t, pidfile); !processGone(t, pid) {
		t.Errorf("grandchild %d (ignores SIGTERM) is still running after Run returned", pid)
	}
}

func TestCommand_Run_StopsStrayProcesses(t *testing.T) {
	// The stray keeps stdout open: Run must neither hang on the pipe nor
	// leave the stray behind.
	pidfile := filepath.Join(t.TempDir(), "stray.pid")
	c := newCommand(t, CommandSpec{
		Command:     script(t, `sleep 300 & echo $! > "$PIDFILE"; echo key=v >> "$K0RDENT_OUTPUT"; exit 0`),
		Env:         map[string]string{"PIDFILE": pidfile},
		GracePeriod: 5 * time.Second,
	})
	env := &workflow.Env{}
	if err := c.Run(context.Background(), env); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if pid := readPID(t, pidfile); !processGone(t, pid) {
		t.Errorf("stray %d is still running after Run returned", pid)
	}
	if got := env.Outputs()["key"]; got != "v" {
		t.Errorf("output key = %q, want %q", got, "v")
	}
}

func TestCommand_Enabled(t *testing.T) {
	tests := []struct {
		when       string
		flags      RunFlags
		wantOn     bool
		wantReason string
	}{
		{when: "", wantOn: true},
		{when: "always", wantOn: true},
		{when: "never", wantReason: "when never"},
		{when: "with_kof", wantReason: "when with_kof: --with-kof not set and kof.enabled is false"},
		{when: "with_kof", flags: RunFlags{config.FlagWithKOF: true}, wantOn: true},
		{when: "with_kof", flags: RunFlags{config.FlagWithKOF: false}, wantReason: "when with_kof: --with-kof=false given (kof.enabled is false too)"},
		{when: "!with_kof", wantOn: true},
		{when: "!with_kof", flags: RunFlags{config.FlagWithKOF: true}, wantReason: "when !with_kof: --with-kof given (kof.enabled is false in the config)"},
		{when: "with_azure_children", flags: RunFlags{config.FlagWithKOF: true}, wantReason: "when with_azure_children: --with-azure-children not set and azure_children.enabled is false"},
		{when: "with_azure_children", flags: RunFlags{config.FlagWithAzureChildren: true}, wantOn: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.when, tt.wantReason), func(t *testing.T) {
			c, err := NewCommand(CommandSpec{Name: "x", Command: []string{"true"}, When: tt.when}, nil, tt.flags)
			if err != nil {
				t.Fatalf("NewCommand: %v", err)
			}
			on, reason := c.Enabled()
			if on != tt.wantOn || reason != tt.wantReason {
				t.Errorf("Enabled() = (%v, %q), want (%v, %q)", on, reason, tt.wantOn, tt.wantReason)
			}
		})
	}
}

func TestNewCommand_Invalid(t *testing.T) {
	tests := []struct {
		name string
		spec CommandSpec
		want string
	}{
		{
			name: "NoNameNoCommand",
			spec: CommandSpec{},
			want: "command phase \"\": name: is empty (give the phase a kebab-case name)\n" +
				"command: is empty (give the argv, e.g. [./hooks/post.sh, --flag])",
		},
		{
			name: "ReservedEnvAndBadWhen",
			spec: CommandSpec{Name: "x", Command: []string{"true"}, Env: map[string]string{"K0RDENT_NODE": "y", "A=B": "c"}, When: "with-kof"},
			want: "command phase \"x\": env.A=B: \"A=B\" is not a valid variable name\n" +
				"env.K0RDENT_NODE: K0RDENT_* is reserved for the variables k0rdent sets (rename it)\n" +
				"when: \"with-kof\" is not a condition (write always, never, with_kof, with_azure_children, or one of them negated with !)",
		},
		{
			name: "Negative",
			spec: CommandSpec{Name: "x", Command: []string{"true"}, Timeout: -time.Second, Retries: -1},
			want: "command phase \"x\": timeout: -1s is negative\nretries: -1 is negative",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCommand(tt.spec, nil, RunFlags{})
			if err == nil || err.Error() != tt.want {
				t.Errorf("NewCommand error:\n got: %v\nwant: %s", err, tt.want)
			}
		})
	}
}

func TestCommand_Describe(t *testing.T) {
	tests := []struct {
		name string
		spec CommandSpec
		want []string
	}{
		{
			name: "Plain",
			spec: CommandSpec{Command: []string{"./hooks/post-install.sh", "--cluster=mgmt"}},
			want: []string{"exec ./hooks/post-install.sh --cluster=mgmt"},
		},
		{
			name: "QuotedWithEnvAndDir",
			spec: CommandSpec{
				Command: []string{"sh", "-c", "kubectl get nodes && echo it's up", ""},
				Env:     map[string]string{"TOKEN": "secret-value", "KUBECONFIG": "/k"},
				Dir:     "/srv/my hooks",
			},
			want: []string{
				`exec sh -c 'kubectl get nodes && echo it'\''s up' ''`,
				"in directory '/srv/my hooks'",
				"with env KUBECONFIG, TOKEN",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Name = "x"
			c := newCommand(t, tt.spec)
			if got := c.Describe(&workflow.Env{}); !slices.Equal(got, tt.want) {
				t.Errorf("Describe:\n got: %q\nwant: %q", got, tt.want)
			}
		})
	}
}

func TestCommand_Policy(t *testing.T) {
	c := newCommand(t, CommandSpec{Command: []string{"true"}, Timeout: 10 * time.Minute, Retries: 2})
	got := c.Policy()
	want := workflow.Policy{Timeout: 10 * time.Minute, Retries: 2}
	if got != want {
		t.Errorf("Policy() = %+v, want %+v", got, want)
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{argv: []string{"terraform", "apply", "-auto-approve"}, want: "terraform apply -auto-approve"},
		{argv: []string{"echo", "a b", "it's", "$HOME", ""}, want: `echo 'a b' 'it'\''s' '$HOME' ''`},
		{argv: []string{"A=B", "--x=y"}, want: "'A=B' --x=y"},
	}
	for _, tt := range tests {
		if got := ShellQuote(tt.argv); got != tt.want {
			t.Errorf("ShellQuote(%q) = %s, want %s", tt.argv, got, tt.want)
		}
	}
}

func TestInputEnv_Collision(t *testing.T) {
	_, err := InputEnv(map[string]map[string]string{
		"a-b": {"k": "1"},
		"a_b": {"k": "2"},
	})
	want := "inputs a-b.k and a_b.k both map to K0RDENT_INPUT_A_B_K; rename one of the outputs"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

// BenchmarkCommand_Run measures what a command phase costs beyond the
// process itself (environment, output file, pipe, group clean-up), against
// a plain exec.Command of the same program.
func BenchmarkCommand_Run(b *testing.B) {
	b.Run("Command", func(b *testing.B) {
		c, err := NewCommand(CommandSpec{Name: "noop", Command: []string{"/bin/true"}}, nil, RunFlags{})
		if err != nil {
			b.Fatal(err)
		}
		env := &workflow.Env{Node: "noop", Inputs: map[string]map[string]string{"terraform": {"ip": "10.0.0.1"}}}
		for b.Loop() {
			if err := c.Run(context.Background(), env); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PlainExec", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
