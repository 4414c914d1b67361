package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/phases"
)

// commandLine is the command that carries on with this deployment from
// any directory: the binary's name, the config as an absolute path, the
// state directory when it is not the one beside the config (a remote
// state's URL unless the config's state section names it), the command,
// then the optional components' flags as they were given (a resumed run
// takes them from the command line, not from its header) and args.
// Words are quoted for a POSIX shell where they need it.
func (a *app) commandLine(g globalOptions, command string, components phases.RunFlags, args ...string) string {
	words := []string{a.Name, "-c", absPath(g.ConfigPath)}
	switch {
	case remoteState(g.StateDir):
		if st, err := config.LoadState(g.ConfigPath); err != nil || st.URL() != g.StateDir {
			words = append(words, "--state-url", g.StateDir)
		}
	case filepath.Clean(g.StateDir) != filepath.Clean(defaultStateDir(g.ConfigPath)):
		words = append(words, "--state-dir", absPath(g.StateDir))
	}
	words = append(words, command)
	for _, c := range a.Registry.Components() {
		if v, ok := components[c.JournalKey]; ok {
			if v {
				words = append(words, "--"+c.Flag)
			} else {
				words = append(words, "--"+c.Flag+"=false")
			}
		}
	}
	words = append(words, args...)
	for i, w := range words {
		words[i] = shellQuote(w)
	}
	return strings.Join(words, " ")
}

// resumeCommand is the exact command that resumes the run o started: the
// run's header keeps its selection (--only/--from/--skip), so --resume
// alone reproduces it; --fail-fast and a non-default --parallelism are
// restated, since they are this command line's, not the run's, and
// --force when this run needed it (the config changed since the run
// started).
func (a *app) resumeCommand(o runOptions) string {
	args := a.runTuning(o)
	if o.Force {
		args = append(args, "--force")
	}
	return a.commandLine(o.globalOptions, "run", o.Components, append(args, "--resume")...)
}

// restCommand is the command that runs what a partial run's selection
// left out: a new run of the whole graph (what already succeeded is
// verified and reused).
func (a *app) restCommand(o runOptions) string {
	return a.commandLine(o.globalOptions, "run", o.Components, a.runTuning(o)...)
}

func (a *app) runTuning(o runOptions) []string {
	var args []string
	if o.FailFast {
		args = append(args, "--fail-fast")
	}
	if o.Parallelism != defaultParallelism {
		args = append(args, fmt.Sprintf("--parallelism=%d", o.Parallelism))
	}
	return args
}

// defaultParallelism is the default of run's and reset's --parallelism.
const defaultParallelism = 4

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// shellQuote quotes w for a POSIX shell unless it needs none.
func shellQuote(w string) string {
	if w != "" && strings.Trim(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+/.,:@%") == "" {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}
