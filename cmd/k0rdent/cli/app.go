package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/phases"
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
	// Version is printed by `version` and recorded in run headers.
	Version string
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
}

// app is one CLI instance: Options with defaults applied. Commands are
// methods so that they share it without package-level state.
type app struct {
	Options
	runIDs bool // NewRunID was given; else state picks run ids
}

// NewApp builds the k0rdent command line.
func NewApp(opts Options) *ucli.App {
	a := &app{Options: opts}
	if a.Name == "" {
		a.Name = "k0rdent"
	}
	if a.Version == "" {
		a.Version = "dev"
	}
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
		Name:                 a.Name,
		Usage:                "deploy a k0rdent management cluster and keep a crash-safe journal of every run",
		Version:              a.Version,
		Reader:               a.Stdin,
		Writer:               a.Stdout,
		ErrWriter:            a.Stderr,
		EnableBashCompletion: true,
		Suggest:              true,
		Flags:                globalFlags(true),
		OnUsageError:         usage,
		// Errors are returned to Execute, which maps them to exit codes;
		// urfave/cli must never call os.Exit itself.
		ExitErrHandler: func(*ucli.Context, error) {},
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return usageErrorf("unknown command %q (see %s --help)", c.Args().First(), a.Name)
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
			a.resetCommand(),
			a.versionCommand(),
		},
	}
	setUsageHandler(app.Commands, usage)
	return app
}

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
	if !ok || ucli.SuggestFlag == nil {
		return ""
	}
	flags := c.App.Flags
	if c.Command != nil && c.Command.Name != "" {
		flags = c.Command.Flags
	}
	if s := ucli.SuggestFlag(flags, strings.TrimLeft(name, "-"), true); s != "" {
		return fmt.Sprintf("; did you mean %s?", s)
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
func Execute(app *ucli.App, args []string) int {
	err := app.Run(args)
	if err != nil && !errors.Is(err, errShown) {
		fmt.Fprintf(app.ErrWriter, "Error: %v\n", err)
	}
	return ExitCode(err)
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
