package phases

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/phases/outputfile"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Exit codes with a meaning for command phases.
const (
	// ExitTempFail (EX_TEMPFAIL from sysexits.h) marks a failure as
	// transient: the scheduler retries the phase up to its Retries. Every
	// other non-zero exit status is a permanent failure.
	ExitTempFail = 75
)

// Environment variables a command phase receives on top of the operator's
// environment and its configured env.
const (
	EnvRunID      = "K0RDENT_RUN_ID"      // the run id
	EnvNode       = "K0RDENT_NODE"        // the phase's name
	EnvAttempt    = "K0RDENT_ATTEMPT"     // the attempt, from 1
	EnvSecretsDir = "K0RDENT_SECRETS_DIR" // the 0700 secrets directory
	EnvOutput     = "K0RDENT_OUTPUT"      // the file the command writes key=value outputs to
	EnvInput      = "K0RDENT_INPUT_"      // prefix of K0RDENT_INPUT_<DEP>_<KEY>, one per input
)

// DefaultGracePeriod is how long a command's process group gets between
// SIGTERM and SIGKILL when CommandSpec.GracePeriod is 0. It is half the
// scheduler's grace period (workflow.DefaultGracePeriod), so that the group
// is killed and Run returns before the scheduler gives up waiting for it.
const DefaultGracePeriod = workflow.DefaultGracePeriod / 2

// CommandSpec declares a command phase: a process run as a node of the graph.
// It is what the `phases:` section of k0rdent.yaml holds, in typed form.
type CommandSpec struct {
	// Name is the node name and journal key (kebab-case).
	Name string
	// Command is the argv; Command[0] is looked up in PATH.
	Command []string
	// Env is added to the operator's environment. Keys starting with
	// K0RDENT_ are reserved.
	Env map[string]string
	// DependsOn names the phases that must be done first.
	DependsOn []string
	// When is the enable condition on the run flags; see RunFlags.When.
	When string
	// Timeout bounds one attempt; 0 means none. The scheduler applies it
	// (Policy); Run stops the process group when ctx is done.
	Timeout time.Duration
	// Retries is how many more attempts a transient failure (exit status
	// ExitTempFail) gets.
	Retries int
	// Description is shown by `k0rdent phases`.
	Description string
	// Dir is the working directory; "" means the current one. Build sets
	// it to the config file's directory.
	Dir string
	// Inputs are files (relative to Dir) whose content is an input of the
	// phase, with Command and Env (see Inputs).
	Inputs []string
	// GracePeriod is the time between SIGTERM and SIGKILL to the process
	// group on cancellation or timeout; 0 means DefaultGracePeriod. Keep it
	// below the scheduler's grace period.
	GracePeriod time.Duration
}

// Command is a workflow.Phase that runs a CommandSpec as a child process.
// Build it with NewCommand.
//
// The process runs in its own process group with Pdeathsig SIGKILL (Linux),
// so it dies with k0rdent. When the context is done (cancel or timeout) the
// whole group gets SIGTERM, then SIGKILL after the grace period. When the
// command exits, whatever it left running in its process group gets the
// same treatment: a phase's processes never outlive the phase (start a
// daemon in its own session with setsid if it must survive).
type Command struct {
	spec    CommandSpec
	enabled bool
	reason  string
}

var (
	_ workflow.Phase     = (*Command)(nil)
	_ workflow.Enabler   = (*Command)(nil)
	_ workflow.Describer = (*Command)(nil)
	_ workflow.Policer   = (*Command)(nil)
)

// NewCommand checks spec and evaluates its When condition for a run with
// config cfg (nil: nothing enabled there) and the run flags as given (see
// RunFlags.When: a given flag takes precedence over the config). Every
// problem is reported, each naming its field.
func NewCommand(spec CommandSpec, cfg *config.Config, flags RunFlags) (*Command, error) {
	enabled, reason, probs := spec.check(cfg, flags)
	if len(probs) > 0 {
		errs := make([]error, len(probs))
		for i, p := range probs {
			errs[i] = errors.New(p.String())
		}
		return nil, fmt.Errorf("command phase %q: %w", spec.Name, errors.Join(errs...))
	}
	spec.Command = slices.Clone(spec.Command)
	spec.DependsOn = slices.Clone(spec.DependsOn)
	spec.Env = maps.Clone(spec.Env)
	spec.Inputs = slices.Clone(spec.Inputs)
	return &Command{spec: spec, enabled: enabled, reason: reason}, nil
}

// specProblem is one thing wrong with a CommandSpec.
type specProblem struct {
	Field string // name, command, env.<KEY>, when, timeout, retries, grace_period
	Msg   string
}

func (p specProblem) String() string { return p.Field + ": " + p.Msg }

// check validates the spec and evaluates When.
func (s CommandSpec) check(cfg *config.Config, flags RunFlags) (enabled bool, reason string, probs []specProblem) {
	add := func(field, format string, args ...any) {
		probs = append(probs, specProblem{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if s.Name == "" {
		add("name", "is empty (give the phase a kebab-case name)")
	}
	if len(s.Command) == 0 || s.Command[0] == "" {
		add("command", "is empty (give the argv, e.g. [./hooks/post.sh, --flag])")
	}
	for _, k := range sortedKeys(s.Env) {
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00"):
			add("env."+k, "%q is not a valid variable name", k)
		case strings.HasPrefix(k, "K0RDENT_"):
			add("env."+k, "K0RDENT_* is reserved for the variables k0rdent sets (rename it)")
		}
	}
	enabled, reason, err := flags.When(cfg, s.When)
	if err != nil {
		add("when", "%v", err)
	}
	if s.Timeout < 0 {
		add("timeout", "%s is negative", s.Timeout)
	}
	if s.Retries < 0 {
		add("retries", "%d is negative", s.Retries)
	}
	if s.GracePeriod < 0 {
		add("grace_period", "%s is negative", s.GracePeriod)
	}
	return enabled, reason, probs
}

// Spec returns a copy of the phase's declaration.
func (c *Command) Spec() CommandSpec {
	s := c.spec
	s.Command = slices.Clone(s.Command)
	s.DependsOn = slices.Clone(s.DependsOn)
	s.Env = maps.Clone(s.Env)
	return s
}

// Name implements workflow.Phase.
func (c *Command) Name() string { return c.spec.Name }

// DependsOn implements workflow.Phase.
func (c *Command) DependsOn() []string { return slices.Clone(c.spec.DependsOn) }

// Enabled implements workflow.Enabler: the When condition on the run flags,
// e.g. (false, "when with_kof: --with-kof not set and kof.enabled is false").
func (c *Command) Enabled() (bool, string) { return c.enabled, c.reason }

// Policy implements workflow.Policer: Timeout and Retries from the spec.
// Only exit status ExitTempFail is retried.
func (c *Command) Policy() workflow.Policy {
	return workflow.Policy{Timeout: c.spec.Timeout, Retries: c.spec.Retries}
}

// Describe implements workflow.Describer: the argv as a shell would read it,
// the working directory unless it is the current one, and the names (never
// the values) of the env keys.
func (c *Command) Describe(*workflow.Env) []string {
	lines := []string{"exec " + ShellQuote(c.spec.Command)}
	if c.spec.Dir != "" && c.spec.Dir != "." {
		lines = append(lines, "in directory "+ShellQuote([]string{c.spec.Dir}))
	}
	if len(c.spec.Env) > 0 {
		lines = append(lines, "with env "+strings.Join(sortedKeys(c.spec.Env), ", "))
	}
	return lines
}

// Run implements workflow.Phase. It starts the command with the environment
// described in the package documentation, copies its stdout and stderr to
// env.Output, and on exit status 0 turns the key=value lines of the
// $K0RDENT_OUTPUT file into node outputs. The Timeout is applied by the
// scheduler (Policy) through ctx; when ctx is done Run stops the process
// group and returns an error wrapping ctx.Err().
func (c *Command) Run(ctx context.Context, env *workflow.Env) error {
	if env == nil {
		env = &workflow.Env{Node: c.spec.Name, Attempt: 1}
	}
	if err := ctx.Err(); err != nil {
		return c.ctxErr(err)
	}

	outFile, err := os.CreateTemp("", "k0rdent-output-*") // 0600
	if err != nil {
		return fmt.Errorf("command phase %s: create output file: %w", c.spec.Name, err)
	}
	outPath := outFile.Name()
	outFile.Close()
	defer os.Remove(outPath)

	environ, err := c.environ(env, outPath)
	if err != nil {
		return fmt.Errorf("command phase %s: %w", c.spec.Name, err)
	}

	output := env.Output
	if output == nil {
		output = io.Discard
	}
	if env.Log != nil {
		args := []any{"argv", ShellQuote(c.spec.Command)}
		if c.spec.Dir != "" {
			args = append(args, "dir", c.spec.Dir)
		}
		env.Log.Info("exec", args...)
	}
	if err := c.exec(ctx, env, environ, output); err != nil {
		return err
	}

	outputs, err := outputfile.Read(outPath)
	if err != nil {
		return fmt.Errorf("command phase %s: $%s: %w", c.spec.Name, EnvOutput, err)
	}
	for _, k := range sortedKeys(outputs) {
		env.SetOutput(k, outputs[k])
	}
	return nil
}

// exec runs the process to completion and cleans up its process group,
// which it journals (env.StartedProcessGroup) right after the start.
func (c *Command) exec(ctx context.Context, env *workflow.Env, environ []string, output io.Writer) error {
	grace := c.spec.GracePeriod
	if grace == 0 {
		grace = DefaultGracePeriod
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("command phase %s: create output pipe: %w", c.spec.Name, err)
	}
	defer pr.Close()

	cmd := exec.CommandContext(ctx, c.spec.Command[0], c.spec.Command[1:]...)
	cmd.Env = environ
	cmd.Dir = c.spec.Dir
	cmd.Stdin = nil // /dev/null
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = sysProcAttr()
	var cancelledAt atomic.Int64
	cmd.Cancel = func() error {
		cancelledAt.Store(time.Now().UnixNano())
		// The negative pid addresses the process group (Setpgid made the
		// child its leader).
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	// After the grace period exec SIGKILLs the leader; stopGroup below
	// takes care of the rest of the group.
	cmd.WaitDelay = grace

	// Pdeathsig fires when the OS thread that forked the child exits, not
	// the process. Go ends a thread when a goroutine locked to it exits
	// (netns code does that on purpose); keep this goroutine on its own
	// thread until the child is reaped so that no one else can end it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		pw.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return c.ctxErr(ctxErr)
		}
		return fmt.Errorf("command phase %s: start %s: %w (check the phase's command in the config)", c.spec.Name, c.spec.Command[0], err)
	}
	pw.Close() // the children hold the write end now
	pgid := cmd.Process.Pid

	// Journal the group before anything else, so that a k0rdent that dies
	// from here on leaves a record the next one ends the group by. If that
	// fails, the group must not run unrecorded.
	var recErr error
	if pg, ok := processGroupOf(pgid); ok {
		if recErr = env.StartedProcessGroup(pg); recErr != nil {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}

	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(output, pr)
		copied <- err
	}()

	waitErr := cmd.Wait()

	// Whatever the leader left in its group: SIGTERM, then SIGKILL when
	// the grace period (counted from the cancellation, if any) is over.
	deadline := time.Now().Add(grace)
	if at := cancelledAt.Load(); at != 0 {
		deadline = time.Unix(0, at).Add(grace)
	}
	stopGroup(pgid, deadline)

	// The pipe reaches EOF when the last writer is gone. A writer that left
	// the process group (setsid) could hold it forever: bound the wait.
	select {
	case <-copied:
	case <-time.After(grace):
		pr.Close()
		<-copied
	}

	if recErr != nil {
		return fmt.Errorf("command phase %s: journal its process group: %w", c.spec.Name, recErr)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return c.ctxErr(ctxErr)
	}
	if waitErr == nil {
		return nil
	}
	var exitErr *exec.ExitError
	if errors.As(waitErr, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("command phase %s: killed by signal %s (see log)", c.spec.Name, signalName(ws.Signal()))
		}
		code := exitErr.ExitCode()
		err := fmt.Errorf("command phase %s: exit status %d (see log)", c.spec.Name, code)
		if code == ExitTempFail {
			return workflow.Transient(err)
		}
		return err
	}
	return fmt.Errorf("command phase %s: %w", c.spec.Name, waitErr)
}

// ctxErr wraps a context error so that errors.Is(err, context.Canceled) and
// errors.Is(err, context.DeadlineExceeded) keep working. (The scheduler
// adds "timed out after X" itself.)
func (c *Command) ctxErr(err error) error {
	return fmt.Errorf("command phase %s: stopped: %w", c.spec.Name, err)
}

// environ builds the child's environment: the operator's, then the
// configured env, then the K0RDENT_* variables (which win).
func (c *Command) environ(env *workflow.Env, outPath string) ([]string, error) {
	vars := os.Environ()
	for _, k := range sortedKeys(c.spec.Env) {
		vars = append(vars, k+"="+c.spec.Env[k])
	}
	attempt := env.Attempt
	if attempt == 0 {
		attempt = 1
	}
	vars = append(vars,
		EnvRunID+"="+env.RunID,
		EnvNode+"="+c.spec.Name,
		EnvAttempt+"="+strconv.Itoa(attempt),
		EnvSecretsDir+"="+env.SecretsDir,
		EnvOutput+"="+outPath,
	)
	inputs, err := InputEnv(env.Inputs)
	if err != nil {
		return nil, err
	}
	return append(vars, inputs...), nil
}

// InputEnv returns one K0RDENT_INPUT_<DEP>_<KEY>=value entry per input,
// sorted. DEP and KEY are upper-cased and every character that is not an
// ASCII letter or digit becomes '_' (azure-children/eu-1 → AZURE_CHILDREN_EU_1).
// Two inputs that map to the same variable are an error naming both.
func InputEnv(inputs map[string]map[string]string) ([]string, error) {
	type src struct{ dep, key string }
	seen := map[string]src{}
	var vars []string
	var errs []error
	for _, dep := range sortedKeys(inputs) {
		for _, key := range sortedKeys(inputs[dep]) {
			name := EnvInput + envWord(dep) + "_" + envWord(key)
			if prev, ok := seen[name]; ok {
				errs = append(errs, fmt.Errorf("inputs %s.%s and %s.%s both map to %s; rename one of the outputs", prev.dep, prev.key, dep, key, name))
				continue
			}
			seen[name] = src{dep, key}
			vars = append(vars, name+"="+inputs[dep][key])
		}
	}
	sort.Strings(vars)
	return vars, errors.Join(errs...)
}

func envWord(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, ch := range b {
		if !(ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// ShellQuote renders argv the way a POSIX shell would read it back: words
// made only of safe characters stay bare, everything else is single-quoted.
func ShellQuote(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = quoteWord(a)
		if i == 0 && words[0] == a && strings.Contains(a, "=") {
			// A bare first word with '=' would read as an assignment.
			words[0] = "'" + a + "'"
		}
	}
	return strings.Join(words, " ")
}

func quoteWord(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, ch := range s {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.ContainsRune("@%+=:,./_-", ch)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGABRT:
		return "SIGABRT"
	}
	return s.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
