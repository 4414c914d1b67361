package terraform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
)

// Terraform is what the terraform phase needs from Terraform, over one
// working directory that holds the module, the variables file and the
// local state. Exec is the real one. An implementation is used by one
// goroutine at a time.
type Terraform interface {
	// Init installs the module's providers (terraform init).
	Init(ctx context.Context) error
	// Plan reports whether applying would change anything.
	Plan(ctx context.Context) (changes bool, err error)
	// Apply creates or updates the infrastructure (terraform apply).
	Apply(ctx context.Context) error
	// Output returns the root module's outputs as node output strings
	// (see OutputString), from the state as it is.
	Output(ctx context.Context) (map[string]string, error)
	// Drift refreshes without writing anything (a refresh-only plan) and
	// returns what changed outside Terraform and the outputs after the
	// refresh.
	Drift(ctx context.Context) (*Drift, error)
	// Destroy deletes everything the state holds (terraform destroy).
	Destroy(ctx context.Context) error
}

// Drift is the result of a refresh-only plan.
type Drift struct {
	// Resources describes each resource changed outside Terraform, as
	// "<address> <action>" (e.g. `fakevm_vm.vm["k0s-worker-1"] deleted`),
	// sorted.
	Resources []string
	// Outputs are the outputs after the refresh, as node output strings.
	Outputs map[string]string
}

// Options configure Exec.
type Options struct {
	// Dir is the working directory: module, VarsFile, local state. It is
	// created 0700 if missing.
	Dir string
	// Binary is the terraform executable (see Find).
	Binary string
	// Env is added to the inherited environment, e.g. TF_CLI_CONFIG_FILE.
	// Variables terraform-exec manages itself (TF_LOG, TF_VAR_*, ...) are
	// dropped from the inherited environment and refused here.
	// CHECKPOINT_DISABLE=1 is always set.
	Env map[string]string
	// Output receives terraform's own stdout and stderr (the node log).
	// nil discards them.
	Output io.Writer
	// Backend, when set, keeps Terraform's state behind Terraform's http
	// backend (the state store serves it) instead of terraform.tfstate in
	// Dir: see HTTPBackend. nil: Terraform's local backend.
	Backend *HTTPBackend
}

// HTTPBackend is where Terraform's http backend keeps the state: one URL
// for the state and its lock (LOCK and UNLOCK, Terraform's default
// methods), with HTTP basic auth. New writes BackendFile (an empty http
// backend block) into the working directory; Init runs with -reconfigure
// (the address changes from run to run) and the address, lock and unlock
// address and the username as -backend-config values (Terraform keeps
// them in .terraform/); the password reaches terraform only in its
// environment, TF_HTTP_PASSWORD, never on its command line or in a file.
type HTTPBackend struct {
	Address  string
	Username string
	Password string
}

// BackendFile is the file that selects Terraform's http backend in the
// working directory (Options.Backend). A module used with a remote state
// store must not declare a backend of its own.
const BackendFile = "k0rdent_backend.tf"

// backendBlock is BackendFile's content: the values come from init.
const backendBlock = "# Written by k0rdent: Terraform's state is kept in k0rdent's state store, served by k0rdent while\n" +
	"# terraform runs (the http backend; address and credentials come from terraform init and the environment).\n" +
	"terraform {\n  backend \"http\" {}\n}\n"

// initArgs are the -backend-config values of init with backend b (none
// secret).
func (b *HTTPBackend) initArgs() []string {
	return []string{"address=" + b.Address, "lock_address=" + b.Address, "unlock_address=" + b.Address, "username=" + b.Username}
}

// Exec runs the real terraform binary through terraform-exec. It is not
// safe for concurrent use: one Exec per working directory and goroutine.
type Exec struct {
	dir     string
	backend *HTTPBackend      // nil: the local backend
	loud    *tfexec.Terraform // stdout and stderr to Options.Output
	quiet   *tfexec.Terraform // stderr only: for commands whose stdout may hold sensitive values
}

var _ Terraform = (*Exec)(nil)

// Env returns the environment terraform runs with: the inherited one
// without the variables terraform-exec manages, then extra, then
// CHECKPOINT_DISABLE=1. It fails when extra names a managed variable.
func Env(environ []string, extra map[string]string) (map[string]string, error) {
	if p := tfexec.ProhibitedEnv(maps.Clone(extra)); len(p) > 0 {
		sort.Strings(p)
		return nil, fmt.Errorf("terraform environment: %s is managed by terraform-exec and cannot be set (remove it)", strings.Join(p, ", "))
	}
	env := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k != "" {
			env[k] = v
		}
	}
	env = tfexec.CleanEnv(env)
	maps.Copy(env, extra)
	env["CHECKPOINT_DISABLE"] = "1"
	return env, nil
}

// New returns an Exec for o.Dir.
func New(o Options) (*Exec, error) {
	if o.Dir == "" || o.Binary == "" {
		return nil, errors.New("terraform: working directory and binary are required")
	}
	dir, err := filepath.Abs(o.Dir) // terraform resolves paths (-out) from its working directory
	if err != nil {
		return nil, fmt.Errorf("terraform working directory %s: %w", o.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create terraform working directory %s: %w", dir, err)
	}
	env, err := Env(os.Environ(), o.Env)
	if err != nil {
		return nil, err
	}
	backendFile := filepath.Join(dir, BackendFile)
	if o.Backend != nil {
		if o.Backend.Address == "" || o.Backend.Username == "" || o.Backend.Password == "" {
			return nil, errors.New("terraform: the http backend needs an address, a username and a password")
		}
		env["TF_HTTP_PASSWORD"] = o.Backend.Password
		if err := os.WriteFile(backendFile, []byte(backendBlock), 0o600); err != nil {
			return nil, fmt.Errorf("terraform backend: %w", err)
		}
	} else {
		delete(env, "TF_HTTP_PASSWORD")
		if err := os.Remove(backendFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("terraform backend: %w", err)
		}
	}
	out := o.Output
	if out == nil {
		out = io.Discard
	}
	mk := func(stdout io.Writer) (*tfexec.Terraform, error) {
		tf, err := tfexec.NewTerraform(dir, o.Binary)
		if err != nil {
			return nil, fmt.Errorf("terraform %s in %s: %w", o.Binary, dir, err)
		}
		if err := tf.SetEnv(env); err != nil {
			return nil, fmt.Errorf("terraform environment: %w", err)
		}
		tf.SetStdout(stdout)
		tf.SetStderr(out)
		return tf, nil
	}
	e := &Exec{dir: dir, backend: o.Backend}
	if e.loud, err = mk(out); err != nil {
		return nil, err
	}
	if e.quiet, err = mk(io.Discard); err != nil {
		return nil, err
	}
	return e, nil
}

// Dir is the working directory, absolute.
func (e *Exec) Dir() string { return e.dir }

// Init runs terraform init (with the http backend: -reconfigure and its
// -backend-config values, see HTTPBackend).
func (e *Exec) Init(ctx context.Context) error {
	if err := e.loud.Init(ctx, e.initOptions()...); err != nil {
		return fmt.Errorf("terraform init in %s: %w", e.dir, err)
	}
	return nil
}

// initOptions are init's options beyond tfexec's defaults.
func (e *Exec) initOptions() []tfexec.InitOption {
	if e.backend == nil {
		return nil
	}
	opts := []tfexec.InitOption{tfexec.Reconfigure(true)}
	for _, kv := range e.backend.initArgs() {
		opts = append(opts, tfexec.BackendConfig(kv))
	}
	return opts
}

// Plan runs terraform plan and reports whether there are changes.
func (e *Exec) Plan(ctx context.Context) (bool, error) {
	changes, err := e.loud.Plan(ctx)
	if err != nil {
		return false, fmt.Errorf("terraform plan in %s: %w", e.dir, err)
	}
	return changes, nil
}

// Apply runs terraform apply and makes the state files 0600.
func (e *Exec) Apply(ctx context.Context) error {
	err := e.loud.Apply(ctx)
	if perr := PrivateState(e.dir); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("terraform apply in %s: %w", e.dir, err)
	}
	return nil
}

// Output runs terraform output -json.
func (e *Exec) Output(ctx context.Context) (map[string]string, error) {
	metas, err := e.quiet.Output(ctx)
	if err != nil {
		return nil, fmt.Errorf("terraform output in %s: %w", e.dir, err)
	}
	out := make(map[string]string, len(metas))
	for k, m := range metas {
		if out[k], err = OutputString(m.Value); err != nil {
			return nil, fmt.Errorf("terraform output %s: %w", k, err)
		}
	}
	return out, nil
}

// Drift runs a refresh-only plan into a temporary 0600 plan file in the
// working directory, reads it with terraform show -json, and removes it.
// The state is not written.
func (e *Exec) Drift(ctx context.Context) (*Drift, error) {
	f, err := os.CreateTemp(e.dir, ".k0rdent-verify-*.tfplan")
	if err != nil {
		return nil, fmt.Errorf("terraform refresh-only plan in %s: %w", e.dir, err)
	}
	planFile := f.Name()
	f.Close()
	defer os.Remove(planFile)
	if _, err := e.quiet.Plan(ctx, tfexec.RefreshOnly(true), tfexec.Out(planFile), tfexec.Lock(false)); err != nil {
		return nil, fmt.Errorf("terraform plan -refresh-only in %s: %w", e.dir, err)
	}
	plan, err := e.quiet.ShowPlanFile(ctx, planFile)
	if err != nil {
		return nil, fmt.Errorf("terraform show of the refresh-only plan in %s: %w", e.dir, err)
	}
	return DriftOf(plan)
}

// DriftOf extracts the drift and the refreshed outputs from a refresh-only
// plan.
func DriftOf(plan *tfjson.Plan) (*Drift, error) {
	d := &Drift{Outputs: map[string]string{}}
	for _, rc := range plan.ResourceDrift {
		if rc == nil || rc.Change == nil {
			continue
		}
		d.Resources = append(d.Resources, rc.Address+" "+driftAction(rc.Change.Actions))
	}
	sort.Strings(d.Resources)
	if plan.PlannedValues != nil {
		for k, o := range plan.PlannedValues.Outputs {
			if o == nil {
				continue
			}
			raw, err := json.Marshal(o.Value)
			if err != nil {
				return nil, fmt.Errorf("output %s: %w", k, err)
			}
			if d.Outputs[k], err = OutputString(raw); err != nil {
				return nil, fmt.Errorf("output %s: %w", k, err)
			}
		}
	}
	return d, nil
}

func driftAction(a tfjson.Actions) string {
	switch {
	case a.Delete():
		return "deleted"
	case a.Update():
		return "changed"
	case a.Create():
		return "created"
	case a.Replace():
		return "replaced"
	}
	parts := make([]string, len(a))
	for i, x := range a {
		parts[i] = string(x)
	}
	return strings.Join(parts, ",")
}

// Destroy runs terraform destroy and makes the state files 0600.
func (e *Exec) Destroy(ctx context.Context) error {
	err := e.loud.Destroy(ctx)
	if perr := PrivateState(e.dir); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("terraform destroy in %s: %w", e.dir, err)
	}
	return nil
}

// PrivateState makes the local state files in dir 0600: they hold the
// VMs' custom data, and with it their WireGuard private keys.
func PrivateState(dir string) error {
	for _, name := range []string{"terraform.tfstate", "terraform.tfstate.backup"} {
		p := filepath.Join(dir, name)
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("make %s private: %w", p, err)
		}
	}
	return nil
}

// OutputString turns an output's JSON value into a node output: a string
// as itself, a number or bool as its JSON literal, null as "", and lists
// and objects as compact JSON with object keys sorted.
func OutputString(raw json.RawMessage) (string, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("decode output value: %w", err)
	}
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return fmt.Sprint(x), nil
	}
	b, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		return "", fmt.Errorf("encode output value: %w", err)
	}
	return string(b), nil
}
