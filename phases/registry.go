package phases

import (
	"fmt"
	"strings"
)

// RunFlags are the flags of one `k0rdent run` that factories and command
// phases may depend on. Build passes the effective flags: a flag is on when
// it was given or when the config's section says enabled.
type RunFlags struct {
	// WithKOF is --with-kof (or kof.enabled).
	WithKOF bool
	// WithAzureChildren is --with-azure-children (or azure_children.enabled).
	WithAzureChildren bool
}

// Conditions of a command phase's `when`, besides the negation of a flag
// condition ("!with_kof").
const (
	CondAlways            = "always" // the default; "" means always too
	CondNever             = "never"
	CondWithKOF           = "with_kof"
	CondWithAzureChildren = "with_azure_children"
)

// flagCondition maps a flag condition to its command-line flag and value.
func (f RunFlags) flagCondition(cond string) (flag string, value bool, ok bool) {
	switch cond {
	case CondWithKOF:
		return "--with-kof", f.WithKOF, true
	case CondWithAzureChildren:
		return "--with-azure-children", f.WithAzureChildren, true
	}
	return "", false, false
}

// When evaluates a command phase's enable condition: "" or "always",
// "never", a flag condition ("with_kof", "with_azure_children") or a flag
// condition negated with a leading "!". When the phase is disabled, reason
// says why in the words of the command line, e.g. "when with_kof: --with-kof
// not set". An unknown condition is an error listing the known ones.
func (f RunFlags) When(cond string) (enabled bool, reason string, err error) {
	c := strings.TrimSpace(cond)
	switch c {
	case "", CondAlways:
		return true, "", nil
	case CondNever:
		return false, "when never", nil
	}
	neg := strings.HasPrefix(c, "!")
	flag, value, ok := f.flagCondition(strings.TrimSpace(strings.TrimPrefix(c, "!")))
	if !ok {
		return false, "", fmt.Errorf("unknown condition %q (use %s, %s, %s, %s or !%s)",
			cond, CondAlways, CondNever, CondWithKOF, CondWithAzureChildren, CondWithKOF)
	}
	switch {
	case neg && value:
		return false, fmt.Sprintf("when %s: %s set", cond, flag), nil
	case !neg && !value:
		return false, fmt.Sprintf("when %s: %s not set", cond, flag), nil
	}
	return true, "", nil
}
