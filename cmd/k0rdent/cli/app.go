package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
)

// Options are what NewApp needs. Registry and the streams are required;
// the rest have defaults and exist so that tests can pin them.
type Options struct {
	// Registry holds the Go phases this binary knows. phases.Builtin() for
	// k0rdent itself; a team's binary adds its own factories.
	Registry *phases.Registry
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
	// Version is printed by `version` and recorded in run headers. Empty
	// means the module version from runtime/debug.ReadBuildInfo (a Go
	// pseudo-version with the VCS revision when built with -buildvcs),
	// else "dev"; the revision, dirty flag and BuildTime are added.
	Version string
	// Revision and Dirty are the VCS revision the binary was built from and
	// whether the work tree had uncommitted changes, for builds without the
	// -buildvcs stamp (set by `make build`); the stamp wins.
	Revision string
	Dirty    bool
	// BuildTime is when the binary was built (RFC 3339, set by `make
	// build` through -ldflags -X); empty leaves it out.
	BuildTime string
	// Name is the binary name used in help and hints; default "k0rdent".
	Name string

	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NewRunID makes a run id; nil lets the state package pick one
	// (YYYYMMDD-HHMMSS-xxxx, greater than every existing id).
	NewRunID func(now time.Time) string
	// IsTerminal reports whether a stream is an interactive terminal;
	// nil means a real check (golang.org/x/term) on *os.File streams.
	IsTerminal func(stream any) bool
	// Exit ends the process on a second interrupt; nil means os.Exit.
	Exit func(code int)
	// Heartbeat is how long a running node may go without a line in the
	// plain progress (piped, CI, NO_COLOR); 0 means DefaultHeartbeat.
	Heartbeat time.Duration
}

// app is one CLI instance: Options with defaults applied. Commands are
// methods so that they share it without package-level state.
type app struct {
	Options
	runIDs bool      // NewRunID was given; else state picks run ids
	build  BuildInfo // what `version` prints; Version is its String()
	// jsonError, set by Execute under -o json, writes the error document
	// on the real stderr (for an exit that does not return to Execute).
	jsonError func(err error, code int)

	storesMu sync.Mutex
	stores   []*state.Store // opened by openStore; closed by closeStores
}

// NewApp builds the k0rdent command line.
func NewApp(opts Options) *ucli.App {
	a := &app{Options: opts}
	if a.Name == "" {
		a.Name = "k0rdent"
	}
	a.build = readBuildInfo(a.Name, a.Version, a.Revision, a.Dirty, a.BuildTime)
	a.Version = a.build.String()
	if a.Stdin == nil {
		a.Stdin = eofReader{}
	}
	if a.Stdout == nil {
		a.Stdout = io.Discard
	}
	if a.Stderr == nil {
		a.Stderr = io.Discard
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	a.runIDs = a.NewRunID != nil
	if a.IsTerminal == nil {
		a.IsTerminal = isTerminal
	}
	if a.Exit == nil {
		a.Exit = os.Exit
	}
	if a.Registry == nil {
		a.Registry = phases.NewRegistry()
	}

	usage := func(c *ucli.Context, err error, _ bool) error {
		return withCode(ExitUsage, fmt.Errorf("%w%s (see %s --help)", err, suggestFlag(c, err), helpPath(c)))
	}
	app := &ucli.App{
		Name:      a.Name,
		Usage:     "deploy a k0rdent management cluster and keep a crash-safe journal of every run",
		Version:   a.Version,
		Reader:    a.Stdin,
		Writer:    a.Stdout,
		ErrWriter: a.Stderr,
		// urfave/cli's own completion runs the command's Action when the
		// word before the cursor is not a flag it knows (`k0rdent run --`
		// <Tab> started a deployment): completion is the hidden __complete
		// command instead, which never runs an action (completion.go).
		EnableBashCompletion: false,
		// urfave/cli adds --help to the app only with its own help command,
		// which helpCommand replaces.
		Flags:        append(globalFlags(true), ucli.HelpFlag),
		OnUsageError: usage,
		// Errors are returned to Execute, which maps them to exit codes;
		// urfave/cli must never call os.Exit itself.
		ExitErrHandler: func(*ucli.Context, error) {},
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return unknownCommand(c.App.Commands, c.Args().First(), a.Name)
			}
			return ucli.ShowAppHelp(c)
		},
		Commands: []*ucli.Command{
			a.initCommand(),
			a.runCommand(),
			a.statusCommand(),
			a.runsCommand(),
			a.phasesCommand(),
			a.migrateCommand(),
			a.stateCommand(),
			a.resetCommand(),
			a.operatorsCommand(),
			a.validateCommand(),
			a.versionCommand(),
			a.completionCommand(),
			a.completeCommand(),
			a.helpCommand(),
		},
	}
	setUsageHandler(app.Commands, usage)
	app.Metadata = map[string]any{metadataKey: a}
	return app
}

// metadataKey is where NewApp leaves its app in ucli.App.Metadata, for
// Execute.
const metadataKey = "k0rdent.app"

func setUsageHandler(cmds []*ucli.Command, h ucli.OnUsageErrorFunc) {
	for _, c := range cmds {
		c.OnUsageError = h
		setUsageHandler(c.Subcommands, h)
	}
}

// suggestFlag is "; did you mean --x?" for an unknown flag near a known
// one (urfave/cli prints its suggestion only without OnUsageError).
func suggestFlag(c *ucli.Context, err error) string {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: ")
	if !ok {
		return ""
	}
	flags := c.App.Flags
	if c.Command != nil && c.Command.Name != "" {
		flags = c.Command.Flags
	}
	var names []string
	for _, f := range flags {
		for _, n := range f.Names() {
			if len(n) > 1 { // -o is never "did you mean -c"
				names = append(names, n)
			}
		}
	}
	if s := nearest(strings.TrimLeft(name, "-"), names); s != "" {
		return fmt.Sprintf("; did you mean --%s?", s)
	}
	return ""
}

func helpPath(c *ucli.Context) string {
	if c.Command != nil && c.Command.HelpName != "" {
		return c.Command.HelpName
	}
	return c.App.Name
}

// Execute runs app with args (os.Args), prints the error if there is one
// and has not been shown yet, and returns the process exit code.
//
// Under -o json, stderr gets one JSON document or nothing: on an error,
// the exit code, the message, the fix and the config problems
// (errorJSON), with whatever the command wrote on stderr as notices; on
// success, those notices alone if there were any.
func Execute(ua *ucli.App, args []string) int {
	args = interspersed(ua, args)
	a, _ := ua.Metadata[metadataKey].(*app)
	if a != nil {
		defer a.closeStores()
	}
	if a == nil || !wantsJSON(args) {
		err := ua.Run(args)
		if err != nil && !errors.Is(err, errShown) {
			fmt.Fprintf(ua.ErrWriter, "Error: %v\n", err)
		}
		return ExitCode(err)
	}
	stderr, collected := a.Stderr, &lineCollector{}
	a.Stderr, ua.ErrWriter = collected, collected
	a.jsonError = func(err error, code int) { _ = writeJSON(stderr, newErrorJSON(err, code, collected.lines())) }
	err := ua.Run(args)
	a.Stderr, ua.ErrWriter, a.jsonError = stderr, stderr, nil
	code := ExitCode(err)
	switch {
	case err != nil:
		_ = writeJSON(stderr, newErrorJSON(err, code, collected.lines()))
	case len(collected.lines()) > 0:
		_ = writeJSON(stderr, noticesJSON{Notices: collected.lines()})
	}
	return code
}

// errShown marks an error whose details were already printed (a failed run
// prints its own report), so Execute only sets the exit code.
var errShown = errors.New("error already shown")

// shown wraps err so Execute does not print it again.
func shown(err error) error {
	if err == nil {
		return nil
	}
	return &shownError{err}
}

type shownError struct{ error }

func (e *shownError) Unwrap() error        { return e.error }
func (e *shownError) Is(target error) bool { return target == errShown }

// eofReader is the stdin of an app built without one.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// unknownCommand is the usage error for `k0rdent <name>` when no command
// is called name: it suggests the nearest command (`stauts` → status).
func unknownCommand(cmds []*ucli.Command, name, app string) error {
	if s := nearest(name, visibleCommandNames(cmds)); s != "" {
		return usageErrorf("unknown command %q: did you mean %q? (see %s --help)", name, s, app)
	}
	return usageErrorf("unknown command %q (see %s --help)", name, app)
}

func visibleCommandNames(cmds []*ucli.Command) []string {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	return names
}

// nearest is the candidate closest to s by edit distance (adjacent
// transpositions count once), if it is close enough to be what was meant:
// at most a third of the longer word's letters differ. Ties go to the
// first candidate.
func nearest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(1, max(len(s), len(best))/3) {
		return ""
	}
	return best
}

// editDistance is the optimal-string-alignment distance of a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// helpCommand replaces urfave/cli's, which exits 3 (our lock-held code)
// for an unknown topic: `help <unknown>` is a usage error (exit 2) with a
// suggestion, and `help runs show` shows the subcommand's help.
func (a *app) helpCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show the commands, or one command's help",
		ArgsUsage: "[COMMAND [SUBCOMMAND]]",
		Action: func(c *ucli.Context) error {
			args := c.Args().Slice()
			if len(args) == 0 {
				return ucli.ShowAppHelp(c)
			}
			cmds, path := c.App.Commands, a.Name
			var cmd *ucli.Command
			for _, name := range args {
				var next *ucli.Command
				for _, x := range cmds {
					if !x.Hidden && x.HasName(name) {
						next = x
					}
				}
				if next == nil {
					if cmd != nil && len(cmd.Subcommands) == 0 {
						return usageErrorf("help %s: %s takes no subcommand (see %s help %s)", strings.Join(args, " "), path, a.Name, strings.TrimPrefix(path, a.Name+" "))
					}
					if s := nearest(name, visibleCommandNames(cmds)); s != "" {
						return usageErrorf("no help for %q: unknown command; did you mean %q? (see %s --help)", strings.TrimSpace(strings.TrimPrefix(path, a.Name)+" "+name), s, a.Name)
					}
					return usageErrorf("no help for %q: unknown command (see %s --help)", strings.TrimSpace(strings.TrimPrefix(path, a.Name)+" "+name), a.Name)
				}
				cmd, cmds, path = next, next.Subcommands, path+" "+next.Name
			}
			// Run the command's own --help so that its help template,
			// including a subcommand's, is what `--help` shows.
			help := append(strings.Fields(path), "--help")
			return c.App.RunContext(c.Context, help)
		},
	}
}
