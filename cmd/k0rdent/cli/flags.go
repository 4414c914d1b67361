package cli

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
)

// Global flag names. They are accepted both before the command
// (`k0rdent --state-dir x run`) and after it (`k0rdent run --state-dir x`);
// the one nearest the command wins, then the environment, then the default.
const (
	flagConfig   = "config"
	flagStateDir = "state-dir"
	flagStateURL = "state-url"
	flagLogLevel = "log-level"
	flagNoColor  = "no-color"
	flagOutput   = "output"
	flagOperator = "operator"
)

// optionalBool reads a bool flag as a tri-state: nil when the command line
// does not give it, else its value (--name, --name=true, --name=false,
// --name=0, ...).
func optionalBool(c *ucli.Context, name string) *bool {
	if !c.IsSet(name) {
		return nil
	}
	v := c.Bool(name)
	return &v
}

// componentFlags are the --with-x[=false] flags of the registry's optional
// components (phases.Component), in declaration order, each with the help
// usage gives it. A flag not given leaves the decision to the config key
// its DefaultText names.
func (a *app) componentFlags(usage func(phases.Component) string) []ucli.Flag {
	var out []ucli.Flag
	for _, comp := range a.Registry.Components() {
		out = append(out, &ucli.BoolFlag{Name: comp.Flag, DefaultText: comp.ConfigKey, Usage: usage(comp)})
	}
	return out
}

// readComponents reads the flags of componentFlags as given: a flag not
// given is absent from the result.
func (a *app) readComponents(c *ucli.Context) phases.RunFlags {
	out := phases.RunFlags{}
	for _, comp := range a.Registry.Components() {
		if c.IsSet(comp.Flag) {
			out[comp.JournalKey] = c.Bool(comp.Flag)
		}
	}
	return out
}

// globalOptions is what every command gets from the global flags.
type globalOptions struct {
	ConfigPath string
	// StateDir is the state directory, or the state URL
	// (azblob://account/container/prefix) when the state is remote
	// (--state-url, K0RDENT_STATE_URL or the config's state section);
	// openStore opens either.
	StateDir string
	LogLevel slog.Level
	NoColor  bool
	// Operator is this machine's operator (--operator, K0RDENT_OPERATOR,
	// else user@host): its own WireGuard peer of the VMs.
	Operator string
}

// globalFlags returns fresh global flag definitions. urfave/cli flags carry
// parse state, so each app (and each command) gets its own; withEnv is true
// only for the app-level copies, so that an environment variable never
// shadows a flag given before the command.
func globalFlags(withEnv bool) []ucli.Flag {
	env := func(names ...string) []string {
		if withEnv {
			return names
		}
		return nil
	}
	def := func(v string) string {
		if withEnv {
			return v
		}
		return ""
	}
	return []ucli.Flag{
		&ucli.StringFlag{Name: flagConfig, Aliases: []string{"c"}, Category: "global", Value: def("k0rdent.yaml"),
			EnvVars: env("K0RDENT_CONFIG"), Usage: "deployment config `FILE`", TakesFile: true},
		&ucli.StringFlag{Name: flagStateDir, Category: "global", DefaultText: "state/ beside --config",
			EnvVars: env("K0RDENT_STATE_DIR"), Usage: "state `DIR` (run journals, logs, secrets, lock)", TakesFile: true},
		&ucli.StringFlag{Name: flagStateURL, Category: "global",
			EnvVars: env("K0RDENT_STATE_URL"), Usage: "shared state in Azure Blob Storage: `URL` azblob://ACCOUNT/CONTAINER[/PREFIX] (see README, Working as a team)"},
		&ucli.StringFlag{Name: flagLogLevel, Category: "global", Value: def("info"),
			EnvVars: env("K0RDENT_LOG_LEVEL"), Usage: "log level: debug, info, warn, error"},
		// NO_COLOR is read by readGlobals: any non-empty value counts
		// (no-color.org), which a bool flag's env parsing would reject.
		&ucli.BoolFlag{Name: flagNoColor, Category: "global",
			Usage: "no colours or live redraw (also NO_COLOR)"},
		&ucli.StringFlag{Name: flagOperator, Category: "global", DefaultText: "user@host",
			EnvVars: env("K0RDENT_OPERATOR"), Usage: "operator `NAME`: this machine's own WireGuard peer of the VMs"},
	}
}

// withGlobals appends fresh command-level copies of the global flags.
func withGlobals(flags ...ucli.Flag) []ucli.Flag {
	return append(flags, globalFlags(false)...)
}

// lookupGlobal finds the value of a global flag: the nearest context that
// set it explicitly, else the app-level value (environment or default).
func lookupGlobal(c *ucli.Context, name string) string {
	lineage := c.Lineage()
	for _, ctx := range lineage {
		if slices.Contains(ctx.LocalFlagNames(), name) {
			return ctx.String(name)
		}
	}
	// Command-level copies default to "", so the first non-empty value from
	// the root down is the app-level one (environment or default).
	for i := len(lineage) - 1; i >= 0; i-- {
		if v := lineage[i].String(name); v != "" {
			return v
		}
	}
	return ""
}

// lookupGlobalBool is lookupGlobal for a boolean flag.
func lookupGlobalBool(c *ucli.Context, name string) bool {
	for _, ctx := range c.Lineage() {
		if slices.Contains(ctx.LocalFlagNames(), name) {
			return ctx.Bool(name)
		}
	}
	return false
}

// readGlobals resolves the global flags of c.
func readGlobals(c *ucli.Context) (globalOptions, error) {
	g := globalOptions{
		ConfigPath: lookupGlobal(c, flagConfig),
		StateDir:   lookupGlobal(c, flagStateDir),
		NoColor:    lookupGlobalBool(c, flagNoColor),
		Operator:   lookupGlobal(c, flagOperator),
	}
	if g.Operator == "" {
		g.Operator = wireguard.DefaultOperatorName()
	} else if !wireguard.ValidOperatorName(g.Operator) {
		return g, usageErrorf("--operator %q: want letters, digits, '.', '_', '@' and '-' (at most 64), e.g. alice@laptop", g.Operator)
	}
	if v, ok := os.LookupEnv("NO_COLOR"); ok && v != "" {
		g.NoColor = true
	}
	switch lv := strings.ToLower(lookupGlobal(c, flagLogLevel)); lv {
	case "debug":
		g.LogLevel = slog.LevelDebug
	case "info", "":
		g.LogLevel = slog.LevelInfo
	case "warn", "warning":
		g.LogLevel = slog.LevelWarn
	case "error":
		g.LogLevel = slog.LevelError
	default:
		return g, usageErrorf("--log-level %q: want debug, info, warn or error", lv)
	}
	if g.ConfigPath == "" {
		g.ConfigPath = "k0rdent.yaml"
	}
	if remote, err := stateURL(c, g); err != nil || remote != "" {
		g.StateDir = remote
		return g, err
	}
	how := "--state-dir"
	if g.StateDir == "" {
		// Neither --state-dir nor K0RDENT_STATE_DIR: state/ beside the
		// config, unless ./state holds this config's deployment.
		g.StateDir = defaultStateDir(g.ConfigPath)
		how = "state directory"
		if err := strayStateDir(g.ConfigPath, g.StateDir); err != nil {
			return g, err
		}
	}
	if err := checkStateDir(g.StateDir, how); err != nil {
		return g, err
	}
	return g, nil
}

// readCommon resolves the global flags of c and, when the command offers
// output formats, its -o flag: what every command's Action reads first.
func readCommon(c *ucli.Context, formats ...string) (globalOptions, string, error) {
	g, err := readGlobals(c)
	if err != nil || len(formats) == 0 {
		return g, "", err
	}
	out, err := readOutput(c, formats...)
	return g, out, err
}

// outputFlag is the -o/--output flag of a command offering the given formats.
func outputFlag(formats ...string) ucli.Flag {
	return &ucli.StringFlag{Name: flagOutput, Aliases: []string{"o"}, Value: formats[0],
		Usage: "output format: " + strings.Join(formats, ", ")}
}

// readOutput validates -o against the formats the command offers.
func readOutput(c *ucli.Context, formats ...string) (string, error) {
	f := strings.ToLower(c.String(flagOutput))
	if !slices.Contains(formats, f) {
		return "", usageErrorf("-o %s: want one of %s", c.String(flagOutput), strings.Join(formats, ", "))
	}
	return f, nil
}

// splitList splits comma-separated values of a repeated string-slice flag:
// `--only a,b --only c` is [a b c].
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// examples formats the Examples section of a command's help. Every command
// has one; a test iterates all commands.
func examples(lines ...string) string {
	var b strings.Builder
	b.WriteString("Examples:\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	return strings.TrimRight(b.String(), "\n")
}

// interspersed moves the flags given after a command's positional
// arguments before them (`runs show latest -o json` is `runs show -o json
// latest`): urfave/cli v2 stops parsing flags at the first positional
// argument. Only the arguments of the command that runs move; everything
// after "--" stays positional; a flag that takes a value takes the next
// word with it unless written --flag=value.
func interspersed(app *ucli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	flags, cmds := app.Flags, app.Commands
	i := 1
	// The command path: flags of each level stay where they are.
	for i < len(args) {
		arg := args[i]
		if arg == "--" {
			return append(out, args[i:]...)
		}
		if isFlag(arg) {
			out = append(out, arg)
			if takesValue(flags, arg) && i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
			i++
			continue
		}
		cmd := findCommand(cmds, arg)
		if cmd == nil {
			break
		}
		out = append(out, arg)
		flags, cmds = cmd.Flags, cmd.Subcommands
		i++
		if cmd.SkipFlagParsing {
			// Its arguments are words, not flags (__complete).
			return append(out, args[i:]...)
		}
		if len(cmds) == 0 {
			break
		}
	}
	if len(cmds) > 0 {
		// Not inside a leaf command (an unknown command, or none):
		// leave the rest as it is.
		return append(out, args[i:]...)
	}
	var moved, positional []string
	for ; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			positional = append(positional, args[i:]...)
			break
		}
		if !isFlag(arg) {
			positional = append(positional, arg)
			continue
		}
		moved = append(moved, arg)
		if takesValue(flags, arg) && i+1 < len(args) {
			moved = append(moved, args[i+1])
			i++
		}
	}
	return append(append(out, moved...), positional...)
}

func isFlag(arg string) bool { return len(arg) > 1 && arg[0] == '-' }

func findCommand(cmds []*ucli.Command, name string) *ucli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// takesValue reports whether the flag written as arg (-o, --output) is
// one of flags that takes a value in the next word.
func takesValue(flags []ucli.Flag, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			if tv, ok := f.(interface{ TakesValue() bool }); ok {
				return tv.TakesValue()
			}
			return false
		}
	}
	return false
}
