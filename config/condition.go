package config

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Conditions a command phase's when key accepts besides a run flag.
const (
	CondAlways = "always"
	CondNever  = "never"
)

// Run flag names a when condition can test.
const (
	FlagWithKOF           = "with_kof"
	FlagWithAzureChildren = "with_azure_children"
)

// Condition is a parsed when key: always, never, <flag> or !<flag>. It is
// deliberately tiny: one term, optionally negated.
type Condition struct {
	// Flag is with_kof or with_azure_children; empty for always/never.
	Flag string
	// Not negates Flag; for an empty Flag it turns always into never.
	Not bool
}

// ParseCondition parses a when key. Empty means always.
func ParseCondition(s string) (Condition, error) {
	t := strings.TrimSpace(s)
	switch t {
	case "", CondAlways:
		return Condition{}, nil
	case CondNever:
		return Condition{Not: true}, nil
	}
	not := strings.HasPrefix(t, "!")
	flag := strings.TrimSpace(strings.TrimPrefix(t, "!"))
	switch flag {
	case FlagWithKOF, FlagWithAzureChildren:
		return Condition{Flag: flag, Not: not}, nil
	}
	return Condition{}, fmt.Errorf("%q is not a condition (write always, never, %s, %s, or one of them negated with !)",
		s, FlagWithKOF, FlagWithAzureChildren)
}

// Eval reports whether the condition holds for a run whose effective flags
// are on (see Config.Effective and Config.Decide).
func (c Condition) Eval(on Flags) bool {
	var v bool
	switch c.Flag {
	case "":
		v = true
	case FlagWithKOF:
		v = on.WithKOF
	case FlagWithAzureChildren:
		v = on.WithAzureChildren
	}
	return v != c.Not
}

func (c Condition) String() string {
	switch {
	case c.Flag == "" && c.Not:
		return CondNever
	case c.Flag == "":
		return CondAlways
	case c.Not:
		return "!" + c.Flag
	}
	return c.Flag
}

// Enabled evaluates the phase's when key for a run whose effective flags are
// on, with the reason a disabled phase is skipped. A when key that does not
// parse disables the phase; Validate reports it.
func (p CommandPhase) Enabled(on Flags) (bool, string) {
	c, err := ParseCondition(p.When)
	if err != nil {
		return false, err.Error()
	}
	if c.Eval(on) {
		return true, ""
	}
	switch {
	case c.Flag == "":
		return false, "when: never"
	case c.Not:
		return false, fmt.Sprintf("when: %s, and %s is on", c, c.Flag)
	}
	return false, fmt.Sprintf("when: %s, and %s is off", c, c.Flag)
}

// Decision is whether an optional component is on for one run, and what
// decided it.
type Decision struct {
	// On is the component's effective state for the run.
	On bool
	// ByFlag is true when the run flag was given and so decided; false
	// when it was not given and the config's enabled key decided.
	ByFlag bool
	// Reason says what decided, in the words of the command line:
	//	--with-kof given
	//	--with-kof=false given (kof.enabled is true in k0rdent.yaml)
	//	--with-kof not set and kof.enabled is true
	//	--with-kof not set and kof.enabled is false
	Reason string
}

// FlagNames returns the command-line flag and the config key of a run flag
// name (FlagWithKOF: "--with-kof", "kof.enabled"). An unknown name gets its
// flag spelling and no key.
func FlagNames(name string) (flag, key string) {
	switch name {
	case FlagWithKOF:
		return "--with-kof", "kof.enabled"
	case FlagWithAzureChildren:
		return "--with-azure-children", "azure_children.enabled"
	}
	return "--" + strings.ReplaceAll(name, "_", "-"), ""
}

// Decide decides whether the component of the run flag name (FlagWithKOF
// or FlagWithAzureChildren) is on for a run with these flags. A given flag
// takes precedence over the config's enabled key in both directions; a
// flag not given leaves the decision to the key. An unknown name is off.
func (c *Config) Decide(run RunFlags, name string) Decision {
	var (
		given *bool
		conf  bool
	)
	switch name {
	case FlagWithKOF:
		given, conf = run.WithKOF, c.KOF.Enabled
	case FlagWithAzureChildren:
		given, conf = run.WithAzureChildren, c.AzureChildren.Enabled
	}
	flag, key := FlagNames(name)
	return c.DecideFlag(given, conf, flag, key)
}

// DecideFlag decides an optional component with command-line flag flag
// ("--with-kof") given as given (nil: not given) and config key key
// ("kof.enabled") set to conf: a given flag takes precedence over the key
// in both directions; a flag not given leaves the decision to the key.
// Decide uses it for the built-in components; phases.Component for any.
func (c *Config) DecideFlag(given *bool, conf bool, flag, key string) Decision {
	switch {
	case given == nil:
		return Decision{On: conf, Reason: fmt.Sprintf("%s not set and %s is %t", flag, key, conf)}
	case *given && conf:
		return Decision{On: true, ByFlag: true, Reason: fmt.Sprintf("%s given (%s is true too)", flag, key)}
	case *given:
		return Decision{On: true, ByFlag: true, Reason: fmt.Sprintf("%s given (%s is false in %s)", flag, key, c.fileName())}
	case conf:
		return Decision{ByFlag: true, Reason: fmt.Sprintf("%s=false given (%s is true in %s)", flag, key, c.fileName())}
	}
	return Decision{ByFlag: true, Reason: fmt.Sprintf("%s=false given (%s is false too)", flag, key)}
}

// fileName is the base name of the config file, for messages.
func (c *Config) fileName() string {
	if c.file == "" {
		return "the config"
	}
	return filepath.Base(c.file)
}
