package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Exit codes the errors of this package carry (ExitCode). They are the
// k0rdent binary's (ARCHITECTURE §8).
const (
	CodePhaseFailed  = 1   // a phase failed (or an unexpected error)
	CodeUsage        = 2   // fix the command line, the config or the state directory; nothing was written
	CodeLocked       = 3   // another k0rdent holds the state directory lock
	CodePrecondition = 4   // a phase precondition failed
	CodeInterrupted  = 130 // interrupted by SIGINT/SIGTERM
)

// Error is an error with the exit code of the process that reports it.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ExitCode is e.Code.
func (e *Error) ExitCode() int { return e.Code }

// withCode wraps err with code; nil stays nil.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// usagef is an error the operator fixes (exit 2).
func usagef(format string, args ...any) error {
	return &Error{Code: CodeUsage, Err: fmt.Errorf(format, args...)}
}

// Deployer is one state directory and one config, with what the actions
// need around them. Registry, Store and ConfigPath are required.
type Deployer struct {
	// Registry builds the phases from the config.
	Registry *phases.Registry
	// Store is the state directory.
	Store *state.Store
	// ConfigPath is k0rdent.yaml; its directory is where legacy files of
	// the bash tool are looked for.
	ConfigPath string
	// Name is the binary name used in hints ("k0rdent" when empty).
	Name string
	// Version is recorded in run headers.
	Version string
	// Command is the command line recorded in the lock's holder record.
	Command string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NewRunID makes run ids; nil lets the state package pick.
	NewRunID func(now time.Time) string
	// Notices receives warnings and one-line notices (config warnings,
	// a migration report, an archived run, a lock takeover); nil discards.
	Notices io.Writer
	// Log is the scheduler's own debug log; nil discards.
	Log *slog.Logger
	// Operator is the name of the operator on this machine (user@host,
	// or --operator): its WireGuard peer on the VMs (see Operators).
	// Empty: the single operator of old, nothing journalled about it.
	Operator string

	preview bool // plans a migration's preview store: no legacy files to look for
}

func (d *Deployer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deployer) name() string {
	if d.Name == "" {
		return "k0rdent"
	}
	return d.Name
}

func (d *Deployer) notices() io.Writer {
	if d.Notices == nil {
		return io.Discard
	}
	return d.Notices
}

func (d *Deployer) logger() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return d.Log
}

// Loaded is a config turned into a validated graph for one run's flags.
type Loaded struct {
	Config *config.Config
	Flags  phases.RunFlags // as given (nil: not given)
	Graph  *workflow.Graph
	Dirs   phases.Dirs // the local directories the store handed the phases
}

// Load loads the config, validates it for flags, builds the phases and
// the graph, and reports every problem of all four at once, in file order
// (config.Check, then phases.Registry.Graph, which carries on from a config
// with problems). Every problem is a CodeUsage error; warnings go to
// Notices. `validate`, `run` and `run --plan` all start here.
func (d *Deployer) Load(flags phases.RunFlags) (*Loaded, error) {
	// One pass reports every problem: the config's fields, then the
	// nodes and the graph built from it (even from a config with
	// problems), in file order.
	cfg, warnings, err := config.Check(d.ConfigPath, flags.Config())
	if cfg == nil {
		return nil, withCode(CodeUsage, ConfigError(err))
	}
	var known *config.Error
	if err != nil && !errors.As(err, &known) {
		return nil, withCode(CodeUsage, err)
	}
	dirs, err := d.dirs()
	if err != nil {
		return nil, err
	}
	if dirs.Operator, err = d.operator(cfg); err != nil {
		return nil, err
	}
	g, err := d.Registry.Graph(cfg, flags, dirs, known)
	if err != nil {
		return nil, withCode(CodeUsage, ConfigError(err))
	}
	for _, w := range warnings {
		fmt.Fprintf(d.notices(), "warning: %s\n", w)
	}
	return &Loaded{Config: cfg, Flags: flags, Graph: g, Dirs: dirs}, nil
}

// ConfigError puts every problem of a *config.Error on its own line,
// together with any other error joined beside it (Registry.Build joins a
// plugin factory's own errors with the config problems of others).
func ConfigError(err error) error {
	var ce *config.Error
	if !errors.As(err, &ce) {
		return err
	}
	var lines []string
	problems := 0
	for _, e := range flattenJoin(err) {
		if errors.As(e, &ce) {
			problems += len(ce.Problems)
		} else {
			problems++
		}
		lines = append(lines, e.Error())
	}
	noun := "problems"
	if problems == 1 {
		noun = "problem"
	}
	return &configError{msg: fmt.Sprintf("invalid config (%d %s):\n  %s", problems, noun,
		strings.ReplaceAll(strings.Join(lines, "\n"), "\n", "\n  ")), err: err}
}

// configError is ConfigError's: its own text, and the problems it lists
// still reachable with errors.As (the CLI's -o json lists them).
type configError struct {
	msg string
	err error
}

func (e *configError) Error() string { return e.msg }
func (e *configError) Unwrap() error { return e.err }

// flattenJoin lists the errors joined in err (errors.Join, recursively).
func flattenJoin(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flattenJoin(e)...)
	}
	return out
}

// projectRoot is where legacy files of the bash tool are looked for.
func (d *Deployer) projectRoot() string { return filepath.Dir(d.ConfigPath) }

// lock takes the store lock with runID in the holder record from the
// start. A live holder is CodeLocked naming it; prev is the holder record
// of a dead process whose lock was taken over.
func (d *Deployer) lock(runID string) (*state.Lock, *state.Holder, error) {
	h := state.CurrentHolder(d.Command)
	h.RunID = runID
	lock, prev, err := d.Store.Lock(h)
	var le *state.LockedError
	if errors.As(err, &le) {
		return nil, nil, withCode(CodeLocked, LockedError(le))
	}
	if err != nil {
		return nil, nil, withCode(CodeUsage, StoreError(d.Store, err))
	}
	return lock, prev, nil
}

// StoreError words a store that cannot be locked or written with its fix:
// a local directory to make writable, or a remote store (Location is a
// URL) to reach.
func StoreError(s *state.Store, err error) error {
	if s.Remote() {
		return fmt.Errorf("state %s: %w (check the storage account, the container and your access to it: see README, Working as a team)", s.Location(), err)
	}
	return fmt.Errorf("--state-dir %s: %w (point --state-dir at a writable directory)", s.Location(), err)
}

// LockedError names the holder of the lock: run id, pid, host, user,
// command and start time.
func LockedError(le *state.LockedError) error {
	h := le.Holder
	if h.PID == 0 {
		return le
	}
	run := h.RunID
	if run == "" {
		run = "(starting)"
	}
	who := ""
	if h.User != "" || h.Host != "" {
		who = fmt.Sprintf(" by %s@%s", h.User, h.Host)
	}
	where, wait := "state directory", "wait for it to finish"
	if strings.Contains(le.Path, "://") {
		// A remote store's URL: the lock is a lease, which a dead holder
		// loses when it expires.
		where, wait = "state", "wait for it to finish (if it died, its lease expires within a minute and the next run takes over)"
	}
	return fmt.Errorf("%s %s is in use by run %s, pid %d%s, started %s (%s); %s: %w",
		where, le.Path, run, h.PID, who, h.Started.Local().Format("2006-01-02 15:04:05"), h.Command, wait, state.ErrLocked)
}

// migrate migrates legacy files the first time they are found; the
// caller holds the lock. The report goes to Notices.
func (d *Deployer) migrate() error {
	rep, err := d.Store.Migrate(d.projectRoot(), state.MigrateOptions{Now: d.Now})
	if err != nil {
		return withCode(CodeUsage, fmt.Errorf("%w (inspect with: %s migrate --dry-run)", err, d.name()))
	}
	if rep.Nothing {
		return nil
	}
	fmt.Fprintf(d.notices(), "found state of the bash tool; migrated it first:\n")
	return rep.WriteText(d.notices())
}

// legacyPending reports whether there are legacy files to migrate (a
// dry run; nothing is written).
func (d *Deployer) legacyPending() bool {
	rep, err := d.Store.Migrate(d.projectRoot(), state.MigrateOptions{DryRun: true, Now: d.Now})
	return err == nil && !rep.Nothing
}

// header is the run header of a new run: the graph's nodes in
// topological order and its edges, so that `runs show` needs no config.
func (d *Deployer) header(flags map[string]bool, lg *Loaded) state.Header {
	h := state.Header{
		Created:      d.now().UTC(),
		ToolVersion:  d.Version,
		ConfigPath:   d.ConfigPath,
		ConfigDigest: lg.Config.Digest(),
		ClusterID:    lg.Config.Metadata.Name, // the terraform node's cluster_id output refines it in runtime.yaml
		Flags:        flags,
		Nodes:        lg.Graph.TopoOrder(),
		Deps:         map[string][]string{},
	}
	for _, n := range h.Nodes {
		h.Deps[n] = lg.Graph.DependsOn(n)
	}
	// What the phases declare they project into runtime.yaml (none
	// declared: the header has no projects, and state applies the
	// built-in declaration, as for files written before it existed).
	proj := map[string]state.Projection{}
	for node, p := range d.Registry.Projections() {
		if lg.Graph.Has(node) {
			proj[node] = p
		}
	}
	h.Projects = state.EncodeProjections(proj)
	hold := state.CurrentHolder("")
	h.Operator, h.Host = hold.User, hold.Host
	return h
}

// newRunID is the id of the next run: NewRunID's, or the store's.
func (d *Deployer) newRunID() (string, error) {
	if d.NewRunID != nil {
		return d.NewRunID(d.now().UTC()), nil
	}
	return d.Store.NextRunID(d.now().UTC())
}

// dirs are the local directories the store hands the phases (secrets,
// the Terraform and k0s work dirs) and the cluster id it knows. Nothing is
// created: `run --plan` builds the phases too.
func (d *Deployer) dirs() (phases.Dirs, error) {
	var dirs phases.Dirs
	var err error
	fail := func(err error) (phases.Dirs, error) {
		return phases.Dirs{}, withCode(CodeUsage, fmt.Errorf("state %s: %w", d.Store.Location(), err))
	}
	if dirs.Secrets, err = d.Store.SecretsDir(); err != nil {
		return fail(err)
	}
	if dirs.Terraform, err = d.Store.WorkDir(phases.TerraformWorkDir); err != nil {
		return fail(err)
	}
	if dirs.K0s, err = d.Store.WorkDir(phases.K0sWorkDir); err != nil {
		return fail(err)
	}
	if d.Store.KeepsTerraformState() {
		// Terraform's state lives in the store: served to terraform
		// while the terraform node runs it (state.TerraformHTTP).
		store := d.Store
		dirs.TerraformState = func(ctx context.Context) (phases.TerraformStateServer, error) {
			srv, err := store.ServeTerraformState(ctx)
			if err != nil {
				return nil, err
			}
			return srv, nil
		}
	}
	if rt, err := d.Store.ReadRuntime(); err == nil {
		dirs.ClusterID = rt.ClusterID
	}
	return dirs, nil
}

// saveStore puts back, through the store, what the phases left in the
// local directories it handed out (nothing to do for a local state
// directory): the secrets and the work dirs.
func (d *Deployer) saveStore() error {
	errs := []error{d.Store.SaveSecrets()}
	for _, name := range []string{phases.TerraformWorkDir, phases.K0sWorkDir} {
		errs = append(errs, d.Store.SaveWorkDir(name))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("save the phases' files to the state at %s: %w", d.Store.Location(), err)
	}
	return nil
}

// runConfigName is where a run's canonical config is kept beside its
// logs, so that a refused resume can list the changed keys.
const runConfigName = "k0rdent.yaml"

func (d *Deployer) saveRunConfig(id string, cfg *config.Config) error {
	data, err := cfg.Canonical()
	if err != nil {
		return err
	}
	return d.Store.WriteRunFile(id, runConfigName, data)
}

// changedKeys lists the config keys that differ from the ones run id
// started with, or says why it cannot.
func (d *Deployer) changedKeys(id string, cfg *config.Config) string {
	data, err := d.Store.ReadRunFile(id, runConfigName)
	if err != nil {
		return "unknown: no readable copy of the config the run started with"
	}
	old, err := config.Parse(data, d.Store.LogLocation(id, "")+"/"+runConfigName)
	if err != nil {
		return "unknown: no readable copy of the config the run started with"
	}
	keys := config.DiffKeys(old, cfg)
	if len(keys) == 0 {
		return "no effective keys; the digest differs"
	}
	return strings.Join(keys, ", ")
}
