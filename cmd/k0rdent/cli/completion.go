package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/state"
)

// Shell completion. The scripts `completion bash|zsh|fish` print call the
// hidden command `__complete WORD... CURRENT`, which walks the command tree
// over the words, never runs a command's action, never takes the lock and
// never writes: it reads the config (for phase names) and lists the runs
// (for run ids), both read-only. It prints one candidate per line; the
// single line ":files" asks the shell to complete file names.
//
// urfave/cli's own completion (--generate-bash-completion) is turned off:
// it ran the command's action when the word before the cursor was not a
// flag it knew, so `k0rdent run --<Tab>` started a deployment.

const completeCommandName = "__complete"

// filesDirective is printed alone when the shell should complete paths.
const filesDirective = ":files"

func (a *app) completionCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: "Completes commands, flags, phase names after --only, --skip and --from (from the\n" +
			"config), run ids after `runs show` (from the state directory or URL) and output formats.\n" +
			"Completing never runs a command and never writes anything.\n\n" +
			examples(
				"source <("+a.Name+" completion bash)                   # this bash session",
				a.Name+" completion bash > /etc/bash_completion.d/"+a.Name,
				a.Name+" completion zsh > \"${fpath[1]}/_"+a.Name+"\"",
				a.Name+" completion fish > ~/.config/fish/completions/"+a.Name+".fish"),
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("completion: want one shell, bash, zsh or fish (see %s completion --help)", a.Name)
			}
			script, ok := completionScript(c.Args().First(), a.Name)
			if !ok {
				return usageErrorf("completion %q: want bash, zsh or fish (see %s completion --help)", c.Args().First(), a.Name)
			}
			_, err := fmt.Fprint(a.Stdout, script)
			return err
		},
	}
}

func (a *app) completeCommand() *ucli.Command {
	return &ucli.Command{
		Name:            completeCommandName,
		Hidden:          true,
		SkipFlagParsing: true,
		Usage:           "print completion candidates for the words after the program name (used by the completion scripts)",
		Action: func(c *ucli.Context) error {
			for _, s := range a.complete(c.App, c.Args().Slice()) {
				fmt.Fprintln(a.Stdout, s)
			}
			return nil
		},
	}
}

// complete returns the candidates for the last of words (the word under
// the cursor, possibly empty), given the words before it.
func (a *app) complete(app *ucli.App, words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, before := words[len(words)-1], words[:len(words)-1]
	flags, cmds := app.Flags, app.Commands
	var path []string // command names walked
	var positional []string
	globals := map[string]string{}
	for i := 0; i < len(before); i++ {
		w := before[i]
		if w == "--" {
			positional = append(positional, before[i+1:]...)
			break
		}
		if isFlag(w) {
			name, val, hasVal := strings.Cut(strings.TrimLeft(w, "-"), "=")
			if takesValue(flags, w) && !hasVal && i+1 < len(before) {
				val, hasVal = before[i+1], true
				i++
			}
			if hasVal {
				globals[name] = val
			}
			continue
		}
		if cmd := findCommand(cmds, w); cmd != nil && len(positional) == 0 {
			path = append(path, cmd.Name)
			flags, cmds = cmd.Flags, cmd.Subcommands
			continue
		}
		positional = append(positional, w)
	}

	// The value of a flag: the previous word is a flag that takes one.
	if n := len(before); n > 0 && isFlag(before[n-1]) && takesValue(flags, before[n-1]) {
		return a.flagValues(flags, strings.TrimLeft(before[n-1], "-"), cur, globals)
	}
	if name, val, ok := strings.Cut(cur, "="); ok && isFlag(name) && takesValue(flags, name) {
		var out []string
		for _, v := range a.flagValues(flags, strings.TrimLeft(name, "-"), val, globals) {
			if v == filesDirective {
				return []string{filesDirective}
			}
			out = append(out, name+"="+v)
		}
		return out
	}
	if strings.HasPrefix(cur, "-") {
		var out []string
		for _, f := range flags {
			if h, ok := f.(interface{ IsVisible() bool }); ok && !h.IsVisible() {
				continue
			}
			out = append(out, "--"+f.Names()[0])
		}
		out = append(out, "--help")
		return withPrefix(out, cur)
	}
	var out []string
	switch strings.Join(path, " ") {
	case "runs show":
		if len(positional) == 0 {
			out = append([]string{"latest"}, a.completeRunIDs(globals)...)
		}
	case "completion":
		if len(positional) == 0 {
			out = []string{"bash", "zsh", "fish"}
		}
	case "help":
		out = visibleCommandNames(app.Commands)
	default:
		for _, c := range cmds {
			if !c.Hidden && c.Name != "help" {
				out = append(out, c.Name)
			}
		}
	}
	return withPrefix(out, cur)
}

// flagValues are the candidates for the value of flag name.
func (a *app) flagValues(flags []ucli.Flag, name, cur string, given map[string]string) []string {
	var f ucli.Flag
	for _, x := range flags {
		if slices.Contains(x.Names(), name) {
			f = x
		}
	}
	if f == nil {
		return nil
	}
	name = f.Names()[0]
	switch name {
	case "only", "skip", "from":
		// --only a,b<Tab>: complete the last name of the list.
		done, last := "", cur
		if i := strings.LastIndex(cur, ","); i >= 0 {
			done, last = cur[:i+1], cur[i+1:]
		}
		var out []string
		for _, p := range withPrefix(a.phaseNames(given), last) {
			out = append(out, done+p)
		}
		return out
	case flagOutput:
		if sf, ok := f.(*ucli.StringFlag); ok {
			if _, formats, ok := strings.Cut(sf.Usage, "output format: "); ok {
				return withPrefix(strings.Split(formats, ", "), cur)
			}
		}
		return nil
	case flagLogLevel:
		return withPrefix([]string{"debug", "info", "warn", "error"}, cur)
	case "template":
		return withPrefix(templateNames(), cur)
	}
	if tf, ok := f.(interface{ TakesFile() bool }); ok && tf.TakesFile() {
		return []string{filesDirective}
	}
	if sf, ok := f.(*ucli.StringFlag); ok && sf.TakesFile {
		return []string{filesDirective}
	}
	return nil
}

// completionGlobals are the global options the words on the command line
// (or the environment, or the defaults) give completion.
func completionGlobals(given map[string]string) globalOptions {
	g := globalOptions{ConfigPath: given[flagConfig], StateDir: given[flagStateDir]}
	if v := given["c"]; g.ConfigPath == "" && v != "" {
		g.ConfigPath = v
	}
	if g.ConfigPath == "" {
		g.ConfigPath = os.Getenv("K0RDENT_CONFIG")
	}
	if g.StateDir == "" {
		g.StateDir = os.Getenv("K0RDENT_STATE_DIR")
	}
	if g.ConfigPath == "" {
		g.ConfigPath = "k0rdent.yaml"
	}
	if g.StateDir == "" {
		g.StateDir = defaultStateDir(g.ConfigPath)
	}
	return g
}

// completionStateURL is the remote state the command line would use, as
// readGlobals finds it: --state-url, K0RDENT_STATE_URL, else the config's
// state section unless --state-dir (or K0RDENT_STATE_DIR) is given; "" for
// a local state directory.
func completionStateURL(given map[string]string, g globalOptions) string {
	if v := given[flagStateURL]; v != "" {
		return v
	}
	if v := os.Getenv("K0RDENT_STATE_URL"); v != "" {
		return v
	}
	if given[flagStateDir] != "" || os.Getenv("K0RDENT_STATE_DIR") != "" {
		return ""
	}
	st, err := config.LoadState(g.ConfigPath)
	if err != nil {
		return ""
	}
	return st.URL()
}

// phaseNames are the phases of the config the command line names (plugins
// and command phases), read-only; only the plugins when it is unreadable.
func (a *app) phaseNames(given map[string]string) []string {
	g := completionGlobals(given)
	var cfg *config.Config
	if err := config.CheckFile(g.ConfigPath); err == nil {
		if c, err := config.Load(g.ConfigPath); err == nil {
			cfg = c
		}
	}
	var names []string
	for _, in := range a.Registry.List(cfg) {
		names = append(names, in.Name)
	}
	return names
}

// completeRunIDs are the run ids under the state directory, newest first. Listing
// never locks, repairs or creates anything. A remote state (--state-url,
// K0RDENT_STATE_URL or the config's state section, as for every command)
// is listed by name, with one request bounded to a few seconds; a local
// directory left beside the config (after `state push`) is not offered.
func (a *app) completeRunIDs(given map[string]string) []string {
	g := completionGlobals(given)
	if raw := completionStateURL(given, g); raw != "" {
		cfg, err := blobConfig(raw)
		if err != nil {
			return nil
		}
		cfg.TryTimeout = 3 * time.Second
		b, err := state.OpenBlobBackend(cfg)
		if err != nil {
			return nil
		}
		defer b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ids, err := b.ListJournals(ctx)
		if err != nil {
			return nil
		}
		slices.Reverse(ids)
		return ids
	}
	if fi, err := os.Stat(g.StateDir); err != nil || !fi.IsDir() {
		return nil
	}
	infos, err := state.NewStore(g.StateDir).List()
	if err != nil {
		return nil
	}
	var ids []string
	for _, in := range infos {
		ids = append(ids, in.ID)
	}
	return ids
}

func withPrefix(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}

// completionScript is the script for shell; name is the binary name.
func completionScript(shell, name string) (string, bool) {
	fn := "_" + strings.NewReplacer("-", "_", ".", "_").Replace(filepath.Base(name))
	r := strings.NewReplacer("@NAME@", name, "@FN@", fn, "@COMPLETE@", completeCommandName, "@FILES@", filesDirective)
	switch shell {
	case "bash":
		return r.Replace(bashCompletion), true
	case "zsh":
		return r.Replace(zshCompletion), true
	case "fish":
		return r.Replace(fishCompletion), true
	}
	return "", false
}

const bashCompletion = `# bash completion for @NAME@ (source it, or put it in /etc/bash_completion.d/@NAME@).
# It asks '@NAME@ @COMPLETE@', which never runs a command and never writes.
@FN@() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    local -a words=()
    local i
    # bash splits --flag=value at '=' (COMP_WORDBREAKS): drop the '=' so
    # that the value is the word after its flag.
    for ((i = 1; i < COMP_CWORD; i++)); do
        [[ "${COMP_WORDS[i]}" == "=" ]] || words+=("${COMP_WORDS[i]}")
    done
    [[ "$cur" == "=" ]] && cur=""
    words+=("$cur")
    local out
    out="$(command @NAME@ @COMPLETE@ "${words[@]}" 2>/dev/null </dev/null)" || return 0
    if [[ "$out" == "@FILES@" ]]; then
        COMPREPLY=($(compgen -f -- "$cur" || :))
        return 0
    fi
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$out" -- "$cur" || :))
    return 0
}
complete -o default -F @FN@ @NAME@
`

const zshCompletion = `#compdef @NAME@
# zsh completion for @NAME@ (put it in a directory of $fpath as _@NAME@).
# It asks '@NAME@ @COMPLETE@', which never runs a command and never writes.
@FN@() {
    local -a candidates
    local out
    out="$(command @NAME@ @COMPLETE@ "${(@)words[2,CURRENT]}" 2>/dev/null </dev/null)" || return 0
    if [[ "$out" == "@FILES@" ]]; then
        _files
        return
    fi
    candidates=("${(@f)out}")
    compadd -- "${candidates[@]}"
}
compdef @FN@ @NAME@
`

const fishCompletion = `# fish completion for @NAME@ (put it in ~/.config/fish/completions/@NAME@.fish).
# It asks '@NAME@ @COMPLETE@', which never runs a command and never writes.
function @FN@
    set -l words (commandline -opc)[2..-1] (commandline -ct)
    set -l out (command @NAME@ @COMPLETE@ $words 2>/dev/null </dev/null)
    if test "$out" = "@FILES@"
        __fish_complete_path (commandline -ct)
        return
    end
    printf '%s\n' $out
end
complete -c @NAME@ -f -a '(@FN@)'
`
