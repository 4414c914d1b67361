// Package deploy is the run lifecycle of k0rdent-deploy, written once (as
// k0sctl's action/ package): one file per action.
//
//   - Plan (plan.go): what Run would do, with the same judgement of the
//     current run and the same refusals, without the lock and without
//     writing anything.
//   - Run (run.go): a new run, the resume of the unfinished current run, or
//     a fresh run that archives it.
//   - Reset (reset.go): the teardown, planned node by node from what the
//     journal says exists (ResetPlan), then run as a teardown run. What a
//     migrated bash tool left (runtime.yaml's legacy: its service
//     principal, its KOF) is handed to the node declaring it, which is
//     destroyed for it even if no run of ours built it; what it could not
//     remove stays listed and the result says how to remove it by hand.
//   - reuse.go: day two. A new run reuses what did not change: the phases'
//     declared inputs (phases.InputsDeclarer) become the engine's digests
//     (workflow.Inputs), a change is explained from the config copy each
//     run keeps, and Plan lists the config keys changed since the last
//     successful run with the nodes each feeds (Diff) and, with Verify,
//     runs the Verify of what it would reuse, down the chain: a node whose
//     dependencies' Verify passed is verified next, with their recorded
//     outputs as inputs (workflow.Scheduler.CheckNodes).
//   - Check (check.go): every Verify of the current run's succeeded nodes,
//     through the workflow scheduler (timeouts, panic recovery, node logs).
//   - RemoveOperator (operators.go): `operators remove`: under the lock,
//     an operator's WireGuard peer taken off every VM, then an operator
//     record in the current run. Load hands the phases this machine's
//     operator (Deployer.Operator, its own directory, the operators the
//     journals record: phases.Operator), which the vpn node's tunnel is for.
//     Operators lists them from the journals, without the lock. Both read
//     and write only through the Store, so on a shared remote store every
//     operator sees the same list, and a removal takes the lease like a
//     run (while another process holds it: CodeLocked, naming it).
//
// Each action follows the same steps: take the lock (Run, Reset), judge the
// current run from the run files (never from runtime.yaml alone: it is a
// projection), migrate legacy state, build the graph from the phase
// registry, record, schedule, finish.
//
// The phases' directories (secrets, the Terraform and k0s work dirs) and
// the cluster id come from the state store (Deployer.dirs, in Load), never
// from a path of the state directory, and what the phases leave there is
// put back through the store after the scheduler returns (saveStore), so a
// store that is not a local directory stands behind the same code.
//
// deploy owns no flags, prompts or rendering: the command line (cmd/k0rdent)
// parses flags into the options structs here, answers the Decide callback
// (a terminal prompt) and renders what the actions return. Errors carry an
// exit code (ExitCode) so that the command line maps them without knowing
// their cause: CodeUsage for anything the operator fixes on the command
// line, in the config or in the state directory (nothing is written),
// CodeLocked for a live lock holder, CodePhaseFailed, CodePrecondition and
// CodeInterrupted for how a run ended. StoreError and LockedError word the
// store by its kind: a state directory (make it writable) or a remote
// store's URL (check the account, the container and the access; a dead
// holder's lease expires by itself). A write the remote store did not
// answer wraps state.ErrUnreachable, for which the command line adds the
// resume command.
package deploy
