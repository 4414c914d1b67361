package config

import (
	"fmt"
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
// are on (see Config.Effective).
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
