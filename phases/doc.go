// Package phases holds the phase registry, which turns a configuration into
// the nodes of the deployment graph, and Command, the phase that runs a
// command declared in the config as a process.
//
// # The registry
//
// A Registry is database/sql's driver registry as a value rather than a
// package global: a binary builds one, registers a Factory per plugin name,
// and hands it to the CLI (cmd/k0rdent/cli.NewApp). Register panics on an
// empty name, a nil factory or a duplicate, as sql.Register does: those are
// programming errors found by the first run of the binary.
//
// A Factory receives a BuildContext (the typed *config.Config and the
// RunFlags as given: a map keyed by component journal key, absent where not
// given; Component.Decide combines them with the config: a given flag takes
// precedence over the config's enabled key in both directions) and returns the nodes of its plugin: none, one, or
// several. A plugin named p may contribute the node p and nodes p/<suffix>
// (azure-children contributes azure-children/<cluster> per child cluster);
// any other name is an error, so that a plugin owns its part of the journal's
// key space. A factory has no side effects (`run --plan` calls it) and
// returns the same node names whatever the flags are: an
// optional component says it is off through workflow.Enabler, so the node is
// recorded `skipped` with its reason rather than vanishing from the plan.
//
// Registry.Build calls every factory in name order, then adds the command
// phases of the config's `phases:` section. A command phase whose name is
// taken by a registered plugin (or one of its nodes) is rejected with an
// error naming the config field and the fix. All problems are reported at
// once; the command-phase problems come as one *config.Error with field
// paths and lines. The graph itself (dependencies, cycles) is checked by
// workflow.NewGraph. Registry.Graph does both for `validate`, `run` and
// `run --plan` (deploy.Load), together with the problems config.Check
// found: a clash, an unknown depends_on, every cycle and a bad field come
// in one list in file order, each graph problem at the depends_on entry it
// comes from. From a config with problems a factory may fail or panic; it
// is then not reported and stands in the graph with its plugin's declared
// dependencies, as a command phase with problems does, so that the rest of
// the graph is still checked.
//
// Register takes a name and a factory; RegisterPlugin also takes what
// `k0rdent phases` shows (description, dependencies, the flag that enables
// an optional plugin). Registry.List describes the plugins and the config's
// command phases together, in dependency order (workflow.TopoSort, the
// module's one topological order).
//
// # Optional components
//
// An optional component (KOF, the Azure child clusters, or one a team adds)
// is declared once, as a Component: its name, its command-line flag
// (with-kof), the key its run header journals (with_kof), the config key
// (kof.enabled) and the rule by which the config enables it. Everything
// else derives from the declarations of Registry.Components: the CLI builds
// the --with-x[=false] flags of run, validate and reset and their help;
// deploy journals each component's effective value in the run header
// (Registry.Journal) and a later command reads them back
// (Registry.FromJournal: status --check builds the graph that run had); and
// the plugin decides its nodes' enablement with Component.Decide (an
// explicit flag wins over the config key in both directions; unset, the
// config decides). Every registry has the built-in components
// (KOFComponent, AzureChildrenComponent), since the config's sections and
// command phases' when conditions name them; a team's binary adds its own
// with Registry.RegisterComponent, and that one call is its --with-x flag
// (a component without a config key is enabled by its flag alone). The
// when conditions of command phases know the built-in flags only (the
// config validates them).
//
// Builtin returns a new registry with the built-in k0rdent phases (empty
// until they land with issues 5-7; it never holds placeholders). Teams add a
// phase in one of two ways. In Go, in their own binary: start from
// Builtin(), register a factory, and pass the registry to cli.NewApp;
// examples/thirdparty is a complete example (a phase with Describe and
// Verify, its tests, and a main.go). Such a phase can use every capability
// of the workflow contract (preconditions, verify, destroy, ...). Or without
// Go, by declaring a command phase in k0rdent.yaml:
//
//	phases:
//	- name: post-install
//	  description: label the management cluster
//	  command: [./hooks/post-install.sh, --label, team=infra]
//	  env: {LOG_LEVEL: debug}
//	  depends_on: [k0rdent]
//	  when: with_kof   # always (default), never, with_kof, with_azure_children, !with_kof, ...
//	  timeout: 10m
//	  retries: 2
//
// # Command phases
//
// A command phase runs with the same journalling, node log, retries and plan
// output as a Go phase. Its argv is executed directly (no shell: use
// [sh, -c, "..."] for one), in its own process group, in the directory of
// the config file (so ./hooks/x.sh means the same wherever k0rdent is run
// from); stdin is /dev/null and stdout and stderr both go to the node's log.
//
// Environment: the operator's environment, then the phase's `env`, then
// these variables (which win; keys starting with K0RDENT_ are reserved):
//
//	K0RDENT_RUN_ID             the run id
//	K0RDENT_NODE               the phase's name
//	K0RDENT_ATTEMPT            the attempt, counting from 1 across retries and resumes
//	K0RDENT_SECRETS_DIR        the 0700 directory for secrets (write them 0600)
//	K0RDENT_OUTPUT             a file to write outputs to (see below)
//	K0RDENT_INPUT_<DEP>_<KEY>  one per output of each phase in its depends_on
//
// Inputs flow from direct dependencies only, as they do for Go phases
// (workflow.Env.Inputs): a phase that reads an output of a phase further
// up lists that phase in depends_on too (examples/demo's package lists
// fetch beside lint and render), as the built-in k0s lists wireguard and
// terraform beside vpn. Why not every ancestor: depends_on is then the
// whole contract of what a phase reads, visible in the config, in `k0rdent
// phases` and in the plan; a new phase upstream cannot change a phase's
// environment (or shadow a name in it) without an edit to that phase; and
// what a resumed or partly selected run must hand a phase is exactly the
// recorded outputs of the phases it names. Listing an ancestor adds no
// wait and no run: the edge is already implied.
//
// In K0RDENT_INPUT_<DEP>_<KEY>, DEP and KEY are upper-cased and every
// character other than an ASCII letter or digit becomes '_': the output
// public_ip of terraform is K0RDENT_INPUT_TERRAFORM_PUBLIC_IP, the output
// kubeconfig of azure-children/eu-1 is
// K0RDENT_INPUT_AZURE_CHILDREN_EU_1_KUBECONFIG.
//
// Outputs: the command may append `key=value` lines to $K0RDENT_OUTPUT. On
// exit status 0 they become the node's outputs, journalled with its success
// and given to its dependents as inputs, also in a resumed run. Blank lines
// and lines starting with '#' are ignored; the value is everything after the
// first '='; a later line for a key wins. A key starts with a letter and
// holds letters, digits, '_', '-' and '.'; a value is UTF-8 without control
// characters (tab allowed). A malformed line fails the phase, naming the line.
// Outputs are references (paths, ids, addresses) and never secrets: write a
// secret to a 0600 file under $K0RDENT_SECRETS_DIR and output its path. The
// file may hold at most 1 MiB.
//
// Exit status conventions:
//
//	0    success
//	75   EX_TEMPFAIL (sysexits.h): a transient failure, retried up to `retries`
//	     times with backoff
//	else a permanent failure: "command phase <name>: exit status N (see log)"
//
// A command killed by a signal it did not get from k0rdent fails with
// "killed by signal SIG...".
//
// Termination: when the run is interrupted or the phase's timeout expires,
// the whole process group gets SIGTERM, then SIGKILL after the grace period
// (CommandSpec.GracePeriod; default 5s, half the scheduler's grace period, so
// the group is gone before the scheduler stops waiting); the error wraps
// context.Canceled or context.DeadlineExceeded. On Linux the child also gets
// Pdeathsig SIGKILL, so it dies with k0rdent. When the command exits,
// anything it left running in its process group is stopped the same way: a
// phase's processes never outlive the phase (start a daemon with setsid if
// it must survive, and keep in mind that k0rdent will not know about it).
//
// The process group is journalled right after the start (a process record:
// workflow.Env.StartedProcessGroup), with the leader's start time and the
// boot id. Pdeathsig kills only the leader; if k0rdent is killed -9 or
// exits on a second interrupt, what the leader forked lives on. So the
// CLI ends the journalled groups of running nodes on a second interrupt
// before it exits, and a later k0rdent, once it holds the lock, ends what
// is left of the groups of the run it resumes, supersedes or takes over
// (EndProcessGroups: SIGTERM, grace, SIGKILL) before any node runs again.
// A group is recognised by its leader's start time or, once the leader is
// gone, by its members' K0RDENT_* environment, never by pid alone. (Linux
// only: elsewhere there is no /proc to recognise a group by, and nothing
// is journalled.) A process that forks between the start and the record
// (a few milliseconds) and outlives a kill -9 in that window is missed.
//
// Like every phase, a command phase must be idempotent: a crash between its
// start and the journal's record of its success runs it again on resume.
//
// # Declared inputs (day two)
//
// A node that implements InputsDeclarer says what determines its work: the
// config paths it reads, the version of its behaviour and the files it
// reads (Inputs). Digest turns that into the node's own digest, which the
// engine combines with its dependencies' outputs (workflow.Inputs): a new
// run reuses the node while that digest is unchanged and its Verify
// passes. Every built-in phase declares (inputs.go, with one behaviour
// version constant per phase, to bump with a change of behaviour); a
// command phase's inputs are its command, its env and the content of the
// files it lists under `inputs:` (relative to the config file), by value,
// so moving it in the phases: list changes nothing. A Go plugin that does
// not declare runs on every run.
package phases
