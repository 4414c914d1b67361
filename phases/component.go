package phases

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/k0rdent/k0rdent-deploy/config"
)

// Component is the one declaration of an optional component (KOF, the
// Azure child clusters, or any a team adds): its command-line flag, the
// key its run header journals, the config key and the enablement rule.
// The CLI builds its --with-x[=false] flags and their help from the
// registry's components, deploy journals them in the run header, status
// reads them back, and the plugin decides its nodes with Decide. Adding a
// --with-x is one Registry.RegisterComponent call.
type Component struct {
	// Name is the component's name, e.g. "kof".
	Name string
	// Flag is the command-line flag without dashes, e.g. "with-kof".
	Flag string
	// JournalKey is the name of the flag in the run header's flags and
	// in a command phase's when key, e.g. "with_kof".
	JournalKey string
	// ConfigKey is the config key that decides when the flag is not
	// given, e.g. "kof.enabled"; for messages and help. Empty for a
	// component the config cannot enable (only its flag does).
	ConfigKey string
	// Usage is the help text of the flag of run.
	Usage string
	// ResetUsage is the help text of the flag of reset; empty: "include
	// <Name>; =false leaves it out. ...".
	ResetUsage string
	// Enabled is the config key's value: whether the config enables the
	// component. Nil (with no ConfigKey) means the config never does:
	// only the flag turns it on.
	Enabled func(*config.Config) bool
}

var reComponentFlag = regexp.MustCompile(`^with-[a-z0-9]+(-[a-z0-9]+)*$`)

// check reports a component that cannot be registered.
func (c Component) check() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("phases: component with flag %q has no name", c.Flag)
	case !reComponentFlag.MatchString(c.Flag):
		return fmt.Errorf("phases: component %s: flag %q is not with-<kebab-case>", c.Name, c.Flag)
	case c.JournalKey != strings.ReplaceAll(c.Flag, "-", "_"):
		return fmt.Errorf("phases: component %s: journal key %q is not %q", c.Name, c.JournalKey, strings.ReplaceAll(c.Flag, "-", "_"))
	}
	return nil
}

// EnabledBy is what turns the component on, for `k0rdent phases`, e.g.
// "--with-kof or kof.enabled".
func (c Component) EnabledBy() string {
	if c.ConfigKey == "" {
		return "--" + c.Flag
	}
	return "--" + c.Flag + " or " + c.ConfigKey
}

// ResetHelp is the help text of the component's flag of reset.
func (c Component) ResetHelp() string {
	if c.ResetUsage != "" {
		return c.ResetUsage
	}
	if c.ConfigKey == "" {
		return "include " + c.Name + "; =false leaves it out"
	}
	return "include " + c.Name + "; =false leaves it out. Given, it takes precedence over " + c.ConfigKey + " in the config"
}

// Decide decides whether the component is on for a run with flags under
// cfg (nil: nothing enabled there), and what decided: an explicit flag
// wins over the config key in both directions; not given, the config
// decides.
func (c Component) Decide(cfg *config.Config, flags RunFlags) config.Decision {
	given := flags.Given(c.JournalKey)
	if c.ConfigKey == "" && c.Enabled == nil {
		switch {
		case given == nil:
			return config.Decision{Reason: "--" + c.Flag + " not set"}
		case *given:
			return config.Decision{On: true, ByFlag: true, Reason: "--" + c.Flag + " given"}
		}
		return config.Decision{ByFlag: true, Reason: "--" + c.Flag + "=false given"}
	}
	cfg = orEmpty(cfg)
	conf := c.Enabled != nil && c.Enabled(cfg)
	return cfg.DecideFlag(given, conf, "--"+c.Flag, c.ConfigKey)
}

// The built-in optional components.
var (
	// KOFComponent is --with-kof / kof.enabled.
	KOFComponent = Component{
		Name: "kof", Flag: "with-kof", JournalKey: config.FlagWithKOF, ConfigKey: "kof.enabled",
		Usage:      "deploy KOF (mothership, regional); =false skips it. Given, it takes precedence over kof.enabled in the config",
		ResetUsage: "include KOF; =false leaves it out. Given, it takes precedence over kof.enabled in the config",
		Enabled:    func(c *config.Config) bool { return c.KOF.Enabled },
	}
	// AzureChildrenComponent is --with-azure-children / azure_children.enabled.
	AzureChildrenComponent = Component{
		Name: "azure-children", Flag: "with-azure-children", JournalKey: config.FlagWithAzureChildren, ConfigKey: "azure_children.enabled",
		Usage:      "deploy the Azure child clusters; =false skips them. Given, it takes precedence over azure_children.enabled in the config",
		ResetUsage: "include the Azure child clusters; =false leaves them out. Given, it takes precedence over azure_children.enabled in the config",
		Enabled:    func(c *config.Config) bool { return c.AzureChildren.Enabled },
	}
)

// builtinComponents are the built-in optional components, in flag order.
// Every registry has them (Registry.Components).
func builtinComponents() []Component {
	return []Component{KOFComponent, AzureChildrenComponent}
}

// RegisterComponent declares an optional component. It panics, like
// Register, when the declaration is invalid or its name, flag or journal
// key is already taken: those are programming errors.
func (r *Registry) RegisterComponent(c Component) {
	if err := c.check(); err != nil {
		panic(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range slices.Concat(builtinComponents(), r.components) {
		if o.Name == c.Name || o.Flag == c.Flag {
			panic(fmt.Sprintf("phases: component %s (--%s) registered twice", c.Name, c.Flag))
		}
	}
	r.components = append(r.components, c)
}

// Components returns the declared optional components: the built-in ones
// (--with-kof, --with-azure-children), which every registry has because
// the config's kof and azure_children sections and the when conditions of
// command phases name them, then the registered ones in registration
// order.
func (r *Registry) Components() []Component {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Concat(builtinComponents(), r.components)
}

// Journal is the effective value of every declared component for a run
// with flags under cfg, keyed by its journal key (with_kof, …), as run
// headers and resumed records keep them.
func (r *Registry) Journal(flags RunFlags, cfg *config.Config) map[string]bool {
	out := map[string]bool{}
	for _, c := range r.Components() {
		out[c.JournalKey] = c.Decide(cfg, flags).On
	}
	return out
}

// FromJournal is the flags a run journalled for the declared components,
// given as such (absent where the run did not record one: the config
// decides), so that they reproduce what was on whatever the config says
// now. Other journalled flags (fail_fast) are left out.
func (r *Registry) FromJournal(flags map[string]bool) RunFlags {
	out := RunFlags{}
	for _, c := range r.Components() {
		if v, ok := flags[c.JournalKey]; ok {
			out[c.JournalKey] = v
		}
	}
	return out
}
