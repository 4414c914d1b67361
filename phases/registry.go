package phases

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// RunFlags are the optional components' flags of one run, as the command
// line gave them, keyed by the component's journal key (with_kof, …): a
// key is absent when its flag was not given, so that the config's enabled
// key decides; present, the given value takes precedence over the config
// in both directions. Component.Decide combines them with the config.
type RunFlags map[string]bool

// Given is the flag of journal key as given: nil when not given.
func (f RunFlags) Given(key string) *bool {
	v, ok := f[key]
	if !ok {
		return nil
	}
	return &v
}

// With returns a copy of f with the flag of journal key given as v (nil:
// not given).
func (f RunFlags) With(key string, v *bool) RunFlags {
	out := maps.Clone(f)
	if out == nil {
		out = RunFlags{}
	}
	delete(out, key)
	if v != nil {
		out[key] = *v
	}
	return out
}

// Config returns the built-in components' flags in the config package's
// terms, for config validation.
func (f RunFlags) Config() config.RunFlags {
	return config.RunFlags{WithKOF: f.Given(config.FlagWithKOF), WithAzureChildren: f.Given(config.FlagWithAzureChildren)}
}

// Effective returns the built-in components that are on for the run
// (config.Config.Effective). A nil cfg counts as every enabled key false.
func (f RunFlags) Effective(cfg *config.Config) config.Flags {
	return orEmpty(cfg).Effective(f.Config())
}

// Decide decides whether the built-in component of the when flag name
// (config.FlagWithKOF, config.FlagWithAzureChildren) is on for the run and
// says what decided (Component.Decide). A nil cfg counts as every enabled
// key false; an unknown name is off.
func (f RunFlags) Decide(cfg *config.Config, name string) config.Decision {
	for _, c := range builtinComponents() {
		if c.JournalKey == name {
			return c.Decide(cfg, f)
		}
	}
	return orEmpty(cfg).Decide(f.Config(), name)
}

// orEmpty is cfg, or a config with nothing enabled.
func orEmpty(cfg *config.Config) *config.Config {
	if cfg == nil {
		return &config.Config{}
	}
	return cfg
}

// When evaluates a command phase's enable condition (config.ParseCondition:
// "" or always, never, with_kof, with_azure_children, or a flag negated with
// "!") for a run with config cfg (nil: nothing enabled there). When the
// phase is disabled, reason says why in the words of the command line,
// naming what decided the flag (see Decide), e.g. "when with_kof:
// --with-kof not set and kof.enabled is false", "when with_kof:
// --with-kof=false given (kof.enabled is true in k0rdent.yaml)" or "when
// !with_kof: --with-kof given (kof.enabled is false in k0rdent.yaml)". An
// unknown condition is an error listing the known ones.
func (f RunFlags) When(cfg *config.Config, cond string) (enabled bool, reason string, err error) {
	c, err := config.ParseCondition(cond)
	if err != nil {
		return false, "", err
	}
	if c.Flag == "" {
		if c.Not {
			return false, "when " + config.CondNever, nil
		}
		return true, "", nil
	}
	d := f.Decide(cfg, c.Flag)
	if d.On != c.Not {
		return true, "", nil
	}
	return false, fmt.Sprintf("when %s: %s", c, d.Reason), nil
}

// BuildContext is what a Factory builds its nodes from.
type BuildContext struct {
	// Config is the defaulted, validated deployment spec. Never nil.
	Config *config.Config
	// Flags are the run flags as given: a nil one was not given. A node
	// decides its enablement with Flags.Decide(Config, ...), so that a
	// given flag takes precedence over the config and the skip reason
	// says which decided.
	Flags RunFlags
	// Dirs are where phases keep what outlives a run.
	Dirs Dirs
}

// The names of the work dirs the built-in phases ask the store for
// (state.Store.WorkDir): Dirs.Terraform and Dirs.K0s.
const (
	TerraformWorkDir = "terraform"
	K0sWorkDir       = "k0s"
)

// Dirs are the local directories a phase may use, and what the store
// knew when the registry was built. The state store hands them out (see
// state.Store: SecretsDir, WorkDir); a phase never derives one from
// another, nor a path inside the state directory from any of them.
type Dirs struct {
	// Secrets is the 0700 secrets directory; files in it are 0600.
	Secrets string
	// Terraform is Terraform's working directory (module, tfvars, local state).
	Terraform string
	// TerraformState, when set, serves Terraform's state from the state
	// store (Terraform's http backend on loopback) for as long as the
	// terraform node runs terraform; nil: Terraform keeps
	// terraform.tfstate in the Terraform work dir (the local store).
	TerraformState func(ctx context.Context) (TerraformStateServer, error) `json:"-"`
	// K0s is the k0s phase's working directory (k0sctl.yaml).
	K0s string
	// ClusterID is the cluster id the runtime snapshot holds, or "": the
	// id a new Terraform working directory adopts.
	ClusterID string
	// Operator is who runs k0rdent on this machine, with its own directory
	// (outside the state) and the operators the journals know; the vpn
	// node uses it (see Operator). The zero value: the single operator
	// of old, the hub, with nothing journalled about it.
	Operator Operator
}

// Factory builds the nodes of one plugin. A plugin named p may return the
// node p and nodes named p/<suffix>; nothing else. It should return the same
// names whatever the flags are and let a disabled node say so through
// workflow.Enabler. It must not have side effects: `run --plan` calls it.
type Factory func(ctx BuildContext) ([]workflow.Phase, error)

// Plugin describes a registered factory for `k0rdent phases`.
type Plugin struct {
	// Name is the plugin's name: kebab-case, the name of its node or the
	// prefix of its nodes (azure-children/<cluster>).
	Name string
	// Description is one line for `k0rdent phases`.
	Description string
	// DependsOn names the phases the plugin's nodes depend on.
	DependsOn []string
	// EnabledBy is the flag that turns an optional plugin on (e.g.
	// "--with-kof"); empty for a plugin that always runs.
	EnabledBy string
	// Factory builds the nodes. Required.
	Factory Factory
	// Projects declares the facts of the deployment snapshot
	// (runtime.yaml; the names are state's Fact* constants) that the
	// plugin's node p provides, each from one of its outputs: fact ->
	// output key ("*" for every output, a key ending in "." for a
	// prefix). The run header records it, so that the snapshot is
	// projected from what the phases declare.
	Projects map[string]string
}

// Info describes a phase for `k0rdent phases`: a registered plugin or a
// command phase of the config.
type Info struct {
	Name        string
	Kind        string // KindPlugin or KindCommand
	Description string
	DependsOn   []string
	// EnabledBy says what turns an optional phase on: a flag for a plugin
	// ("--with-kof"), the when condition for a command phase
	// ("when with_kof"). Empty when the phase always runs.
	EnabledBy string
}

// Kinds of Info.
const (
	KindPlugin  = "plugin"  // a Go factory registered in the binary
	KindCommand = "command" // declared in the config's phases: section
)

var rePluginName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Registry maps plugin names to factories. The zero value is an empty
// registry ready to use; it is safe for concurrent use.
type Registry struct {
	mu         sync.RWMutex
	plugins    map[string]Plugin // guarded by mu
	components []Component       // guarded by mu; see RegisterComponent
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Register makes a factory available under name. Like sql.Register it
// panics when name is empty or not kebab-case, when f is nil, or when name
// is already registered: those are programming errors.
func (r *Registry) Register(name string, f Factory) {
	r.RegisterPlugin(Plugin{Name: name, Factory: f})
}

// RegisterPlugin registers a factory with the metadata `k0rdent phases`
// shows. It panics like Register.
func (r *Registry) RegisterPlugin(p Plugin) {
	if p.Name == "" {
		panic("phases: Register with an empty name")
	}
	if !rePluginName.MatchString(p.Name) {
		panic(fmt.Sprintf("phases: Register %q: the name must be kebab-case (lower-case letters and digits joined by hyphens)", p.Name))
	}
	if p.Factory == nil {
		panic(fmt.Sprintf("phases: Register %q: nil factory", p.Name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.plugins[p.Name]; dup {
		panic(fmt.Sprintf("phases: Register called twice for %q", p.Name))
	}
	if r.plugins == nil {
		r.plugins = map[string]Plugin{}
	}
	p.DependsOn = slices.Clone(p.DependsOn)
	r.plugins[p.Name] = p
}

// Projections returns the facts each plugin's node declares it provides
// (Plugin.Projects): node -> fact -> output key.
func (r *Registry) Projections() map[string]map[string]string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := map[string]map[string]string{}
	for name, p := range r.plugins {
		if len(p.Projects) > 0 {
			out[name] = maps.Clone(p.Projects)
		}
	}
	return out
}

// Names returns the registered plugin names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return sortedKeys(r.plugins)
}

// Describe returns the metadata of a registered plugin. An unknown name is
// an error listing the registered ones.
func (r *Registry) Describe(name string) (Info, error) {
	r.mu.RLock()
	p, ok := r.plugins[name]
	r.mu.RUnlock()
	if !ok {
		return Info{}, fmt.Errorf("unknown phase plugin %q (registered: %s)", name, listOrNone(r.Names()))
	}
	return p.info(), nil
}

func (p Plugin) info() Info {
	return Info{Name: p.Name, Kind: KindPlugin, Description: p.Description, DependsOn: slices.Clone(p.DependsOn), EnabledBy: p.EnabledBy}
}

// List describes every phase a run with cfg would know: the registered
// plugins, sorted by name, then the config's command phases in file order.
// A nil cfg lists the plugins only.
func (r *Registry) List(cfg *config.Config) []Info {
	var infos []Info
	for _, name := range r.Names() {
		info, _ := r.Describe(name)
		infos = append(infos, info)
	}
	if cfg == nil {
		return infos
	}
	for _, p := range cfg.Phases {
		info := Info{Name: p.Name, Kind: KindCommand, Description: p.Description, DependsOn: slices.Clone(p.DependsOn)}
		if c, err := config.ParseCondition(p.When); err != nil || c != (config.Condition{}) {
			info.EnabledBy = "when " + strings.TrimSpace(p.When)
		}
		infos = append(infos, info)
	}
	return dependencyOrder(infos)
}

// dependencyOrder puts each phase after the phases it depends on, keeping
// the given order among phases that are ready together (workflow.TopoSort).
// Phases in a cycle or after an unknown one keep their place at the end
// (the graph reports those).
func dependencyOrder(infos []Info) []Info {
	byName := make(map[string]Info, len(infos))
	names := make([]string, len(infos))
	for i, in := range infos {
		names[i] = in.Name
		if _, dup := byName[in.Name]; !dup {
			byName[in.Name] = in
		}
	}
	out := make([]Info, 0, len(infos))
	for _, n := range workflow.TopoSort(names, func(n string) []string { return byName[n].DependsOn }) {
		out = append(out, byName[n])
	}
	for i, in := range infos { // a clashing name (Build reports it) is listed too
		if byName[in.Name].Name == in.Name && !sameInfo(byName[in.Name], infos, i) {
			out = append(out, in)
		}
	}
	return out
}

// sameInfo reports whether infos[i] is the first Info named like first.
func sameInfo(first Info, infos []Info, i int) bool {
	for j := range infos {
		if infos[j].Name == first.Name {
			return j == i
		}
	}
	return false
}

// Build returns the nodes of a run: every registered factory's, in plugin
// name order, then one Command per entry of cfg.Phases, in file order,
// running in the directory of the config file (cfg.File).
// flags are the run's command-line flags, nil where not given; factories
// and when conditions decide with them and the config (RunFlags.Decide).
//
// It reports every problem at once: a factory's error, a node a factory
// names outside its plugin's name space, and command phases that clash with
// a plugin's node or are invalid. The command-phase problems come as one
// *config.Error (field paths such as phases[1].name), so callers treat them
// as a config error, sorted by line. Dependencies and cycles are left to
// workflow.NewGraph; Graph does both and reports their problems together.
func (r *Registry) Build(cfg *config.Config, flags RunFlags, dirs Dirs) ([]workflow.Phase, error) {
	if cfg == nil {
		return nil, errors.New("build phases: no config (load k0rdent.yaml first)")
	}
	b := r.build(cfg, flags, dirs, false)
	if err := b.err(nil); err != nil {
		return nil, err
	}
	return b.nodes, nil
}

// built is what build made: the nodes, and the problems found on the way.
type built struct {
	cfg   *config.Config
	nodes []workflow.Phase
	// stubs stand for the nodes that could not be built, so that the
	// graph can still be checked (Graph); only with problems.
	stubs []workflow.Phase
	errs  []error          // a factory's own errors
	probs []config.Problem // command phases' problems, at their field paths
}

// err joins b's errors and problems with the problems known before (nil:
// none), the problems as one *config.Error sorted by line. A problem at a
// field that already has one, or inside it, or around it (phases[0].command
// and phases[0].command[0]), is left out: it says the same.
func (b *built) err(known *config.Error) error {
	var probs []config.Problem
	if known != nil {
		probs = slices.Clone(known.Problems)
	}
	for _, p := range b.probs {
		if !slices.ContainsFunc(probs, func(q config.Problem) bool { return samePlace(p.Path, q.Path) }) {
			probs = append(probs, p)
		}
	}
	errs := slices.Clone(b.errs)
	if len(probs) > 0 {
		slices.SortStableFunc(probs, func(a, b config.Problem) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return strings.Compare(a.Path, b.Path)
		})
		ce := &config.Error{Problems: probs}
		if known != nil {
			ce.Warnings = known.Warnings
		}
		errs = append(errs, ce)
	}
	return errors.Join(errs...)
}

func (b *built) problem(path, format string, args ...any) {
	b.probs = append(b.probs, config.Problem{File: b.cfg.File(), Line: b.cfg.Line(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// build is Build. lenient is for a config already known to have problems
// (Graph): a factory that fails or panics on it is not reported (its
// error would only echo the config's problems) but stands in the graph as
// a stub with the plugin's declared dependencies.
func (r *Registry) build(cfg *config.Config, flags RunFlags, dirs Dirs, lenient bool) *built {
	r.mu.RLock()
	plugins := make([]Plugin, 0, len(r.plugins))
	for _, name := range sortedKeys(r.plugins) {
		plugins = append(plugins, r.plugins[name])
	}
	r.mu.RUnlock()

	bc := BuildContext{Config: cfg, Flags: flags, Dirs: dirs}
	b := &built{cfg: cfg}
	owner := map[string]string{} // node name -> plugin
	for _, p := range plugins {
		got, err := runFactory(p, bc, lenient)
		if err != nil {
			if lenient {
				b.stubs = append(b.stubs, &graphStub{name: p.Name, deps: p.DependsOn})
				owner[p.Name] = p.Name
				continue
			}
			b.errs = append(b.errs, fmt.Errorf("phase plugin %s: %w", p.Name, err))
			continue
		}
		for i, ph := range got {
			if ph == nil {
				b.errs = append(b.errs, fmt.Errorf("phase plugin %s: node %d is nil (a factory returns only real phases)", p.Name, i))
				continue
			}
			name := ph.Name()
			if name != p.Name && !strings.HasPrefix(name, p.Name+"/") {
				b.errs = append(b.errs, fmt.Errorf("phase plugin %s: node %q is outside the plugin's names (name it %q or %q)", p.Name, name, p.Name, p.Name+"/"+name))
				continue
			}
			if _, dup := owner[name]; dup {
				b.errs = append(b.errs, fmt.Errorf("phase plugin %s: node %q returned twice", p.Name, name))
				continue
			}
			owner[name] = p.Name
			b.nodes = append(b.nodes, ph)
		}
	}

	taken := make([]string, len(plugins))
	for i, p := range plugins {
		taken[i] = p.Name
	}
	// Command phases run in the config file's directory, so that relative
	// paths in the config (./hooks/x.sh) mean the same from anywhere.
	configDir := ""
	if cfg.File() != "" {
		configDir = filepath.Dir(cfg.File())
	}
	for i, cp := range cfg.Phases {
		path := fmt.Sprintf("phases[%d]", i)
		plugin, ok := owner[cp.Name]
		if !ok && slices.Contains(taken, pluginOf(cp.Name)) {
			plugin = pluginOf(cp.Name) // its name space, even if unused now
		}
		if plugin != "" {
			b.problem(path+".name", "%q clashes with the registered phase %q (rename the command phase, e.g. %q; registered: %s)",
				cp.Name, plugin, "my-"+cp.Name, strings.Join(taken, ", "))
			continue
		}
		spec := commandSpec(cp, configDir)
		if _, _, sp := spec.check(cfg, bc.Flags); len(sp) > 0 {
			for _, p := range sp {
				b.problem(path+"."+p.Field, "%s", p.Msg)
			}
			// Its dependents still find it, and its own dependencies
			// are still checked.
			if cp.Name != "" {
				b.stubs = append(b.stubs, &graphStub{name: cp.Name, deps: cp.DependsOn})
			}
			continue
		}
		c, err := NewCommand(spec, cfg, bc.Flags)
		if err != nil {
			b.errs = append(b.errs, err) // unreachable: check passed
			continue
		}
		b.nodes = append(b.nodes, c)
	}
	return b
}

// runFactory calls p's factory; when lenient, a panic is returned as an
// error (the config has problems the factory was not written for).
func runFactory(p Plugin, bc BuildContext, lenient bool) (nodes []workflow.Phase, err error) {
	if lenient {
		defer func() {
			if v := recover(); v != nil {
				nodes, err = nil, fmt.Errorf("panic: %v", v)
			}
		}()
	}
	return p.Factory(bc)
}

// samePlace reports whether field paths a and b are one field, or one is
// inside the other.
func samePlace(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	inside := func(x, y string) bool {
		return strings.HasPrefix(x, y) && (len(x) == len(y) || x[len(y)] == '.' || x[len(y)] == '[')
	}
	return inside(a, b) || inside(b, a)
}

// pluginOf is the plugin part of a node name: azure-children/eu-1 →
// azure-children.
func pluginOf(node string) string {
	name, _, _ := strings.Cut(node, "/")
	return name
}

// commandSpec converts a config command phase that runs in dir.
func commandSpec(p config.CommandPhase, dir string) CommandSpec {
	return CommandSpec{
		Dir:         dir,
		Name:        p.Name,
		Command:     p.Command,
		Env:         p.Env,
		DependsOn:   p.DependsOn,
		When:        p.When,
		Timeout:     p.Timeout.D(),
		Retries:     p.Retries,
		Description: p.Description,
		Inputs:      p.Inputs,
	}
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
