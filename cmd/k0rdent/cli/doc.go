// Package cli is the k0rdent command line, as an importable app constructor
// so that a team can compile its own phases into its own binary and keep
// every command (see examples/thirdparty):
//
//	app := cli.NewApp(cli.Options{Registry: reg, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Version: v})
//	os.Exit(cli.Execute(app, os.Args))
//
// Layering follows k0sctl: a command (one file each) reads its flags into an
// options struct, hands it to an action, and the action drives the engines
// (config, phases, state, workflow). Nothing here is package-level mutable
// state: flags are parsed per app, signal handlers are installed per run,
// and the I/O streams, clock and run-id source come from Options.
//
// Exit codes (ARCHITECTURE §8) come from errors implementing ExitCoder:
// 0 ok, 1 a phase failed, 2 usage or config error, 3 lock held, 4 a
// precondition failed, 130 interrupted.
//
// Output: on a terminal, `run` keeps a live view (one line per running node
// with its elapsed time, redrawn four times a second with ANSI escapes);
// otherwise (piped, CI, NO_COLOR) it prints one plain line per transition
// and a heartbeat for each node still running at least every
// Options.Heartbeat (DefaultHeartbeat, 30 s): `12:05:30 k0s running 5m30s`.
// A failed attempt the scheduler will retry (workflow.Retry) is shown as
// `k0s retry 1/3 in 4s: <error>`, in yellow live, never as `failed`. Each
// node's own output goes to its log file under the state directory. An
// interrupted or failed run ends with the exact command that resumes it,
// a partial one with the command that runs the rest (resume.go): the
// config as an absolute path, --state-dir when it is not beside it, the
// --with-x, --fail-fast and --parallelism flags as given; the selection is
// in the run's header, so --resume reproduces it.
//
// JSON (output.go): every -o json document is one object whose first key
// is "schema" (Schema, "k0rdent/v1"), with snake_case keys throughout.
// Under -o json (read from the words, so that a usage error is JSON too)
// stderr gets one object or nothing: the error (exit_code, message, fix,
// config problems) with whatever the command wrote on stderr as notices,
// or, on success, those notices alone. `reset -o json` never prompts: it
// needs --plan or --yes.
//
// Signals: the first SIGINT or SIGTERM says what it does (`cancelling:
// waiting up to 10s for 2 running phases; press Ctrl-C again to stop at
// once`) and cancels the run (running phases get the scheduler's grace
// period and are journalled `cancelled`, the run's outcome is
// `cancelled`); a second one journals `cancelled` for whatever is still
// running plus the outcome, then exits 130 at once.
//
// Run lifecycle (ARCHITECTURE §5) is not here: it is package deploy, once
// (Plan, Run, Reset, Check). The run, reset and status commands read their
// flags into deploy's options, answer its prompts (Decide: resume or fresh;
// Confirm: the reset plan, node by node, then "Type yes") and render what
// it returns: the progress lines, the summary, the FAILED blocks, the plan.
// Commands that take no arguments refuse any (exit 2); --yes means one
// thing on every command that has it: do not ask, take the prompt's
// default answer (yesUsage).
//
// Operators (operators.go): every operator machine is its own WireGuard
// peer of the VMs; --operator (K0RDENT_OPERATOR, default user@host) names
// it. `operators` lists them from the journals (-o json: name, address,
// public_key, added_by_run, last_handshake, you); `operators remove NAME`
// takes one off every VM (deploy.RemoveOperator) and refuses the last one
// and yourself without --force.
//
// Journal clock: the store gets Options.Now (Store.Now), so the header and
// the resumed, outcome, superseded and lock-takeover records are pinned in
// tests as the transitions are. Run headers carry the graph's edges, so
// `runs show` computes the critical path and blocked-by from the run file
// alone, falling back to the current config for older files.
//
// Finding the state (store.go): --state-dir, else K0RDENT_STATE_DIR, else
// state/ beside the config file. Before any command reads, creates or locks
// it, checkStateDir refuses (exit 2) a dangling symlink, a file where the
// directory, runs/ or the lock should be, a lock file without a holder
// record, and a runtime.yaml or current run file of a newer format; and
// strayStateDir refuses to start over when only ./state holds this
// config's deployment. A remote state (--state-url, K0RDENT_STATE_URL or
// the config's state section; statecmd.go) replaces all of that: every
// command reads and writes through the store's Backend, never a local
// path (a local state/ left beside the config after `state push` is not
// looked at, not even by completion); messages name the URL, the resume
// command restates --state-url, and status tells a run in progress by
// its live lease (its holder may be another machine) rather than a pid
// here.
//
// Command line (app.go, flags.go): flags may follow positional arguments
// (interspersed reorders them for urfave/cli v2); an unknown command or
// flag gets the nearest name by edit distance, never a far one; `help`
// is ours, so that an unknown topic exits 2. `version` reads
// runtime/debug.ReadBuildInfo plus what `make build` stamps (version.go),
// and the same one-line form is every run header's tool_version.
//
// Completion (completion.go): `completion bash|zsh|fish` prints a script
// that calls the hidden `__complete`, which only reads (the config for
// phase names, the run list for ids). urfave/cli's own completion is off:
// it ran the action when it did not know the last word.
//
// Testing hook: K0RDENT_TEST_KILL_AT=n (deploy.KillAtEnv) makes the recorder kill -9 its own
// process right after the n-th durable transition record of the run; the
// crash-safety test resumes from every such point.
package cli
