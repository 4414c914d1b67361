// Package workflow is the generic engine of k0rdent-deploy: the phase
// contract, the validated dependency graph, the scheduler that runs it and
// records every transition, and the pure planner with its renderers. It
// knows nothing of k0rdent, YAML or files, and imports only the standard
// library.
//
// # Phases and their capabilities
//
// A Phase is a node: Name (stable, kebab-case, the journal key), DependsOn
// and Run. Everything else is an optional capability, found by type
// assertion; a phase file asserts the ones it implements at compile time
// (var _ workflow.Verifier = (*VPN)(nil)):
//
//   - Enabler: Enabled() == false makes the node skipped with the reason
//     "disabled: <reason>". Skipped counts as done: dependents proceed.
//   - Preconditioner: named read-only Checks, run inside the running
//     attempt, after every dependency succeeded and before Run. The first
//     failing Check fails the attempt with a *PreconditionError (name,
//     what was found, Fix). A check error marked Transient is retried.
//   - Verifier: on resume a succeeded node is reused only if Verify
//     passes; if it fails the node runs again, and so does everything
//     downstream of it.
//   - Volatiler: a volatile node (a VPN tunnel) runs on every run even
//     after success. Re-establishing it does not invalidate its dependents.
//   - Describer: the lines Plan prints for the node.
//   - Policer: Policy.Timeout fails an attempt that runs too long ("timed
//     out after 5s: …"); errors marked with Transient are retried up to
//     Policy.Retries times, after Backoff doubling up to MaxBackoff;
//     Policy.Class shares Scheduler.ClassLimits.
//   - Destroyer: Scheduler.Destroy calls Destroy in reverse dependency order.
//
// A Selection narrows a run (Only, From, Skip); Only and From force what
// they name unless the selection is a resumed one (Resume), and Replace
// forces the nodes it names in every case.
//
// Each attempt gets its own Env: RunID, Node, Attempt (from 1, counted
// across retries and resumes), Log and Output (the node's log, opened
// through Scheduler.LogSink), Inputs (the outputs of the direct
// dependencies, from this run or, for reused nodes, from the prior run),
// Recorded (the node's own outputs as last journalled, which Verify compares
// reality with) and SecretsDir. What a phase passes to Env.SetOutput goes into its succeeded
// Event and into Result.
//
// # Graph
//
// NewGraph reports every problem at once, through errors.Join in a fixed
// order: *EmptyNameError, *DuplicateError, *UnknownDependencyError (with
// the known names), *SelfDependencyError, then one *CycleError per
// elementary cycle (at most 50), as a path from its smallest name:
// "cycle: a -> b -> a" reads "a depends on b, which depends on a". A Graph
// is immutable; node order, ready sets, TopoOrder and Waves are by name, so
// runs are reproducible.
//
// The graph algorithms live once, in order.go: the topological order
// (Kahn's, smallest index first among the ready: Graph's, and TopoSort for
// lists that are not a Graph, such as a recorded run's nodes or the
// registry's phase listing) and the critical path (the longest chain by
// weight, passing through nodes that do not count; total durations
// compared at TieResolution (a tenth of a second, as a run shows them), ties by node
// count, then by name: the scheduler's Result by time run, Plan by
// expected duration, and CriticalPath for a recorded run, so that the path
// a plan predicts is the one the run reports when durations tie).
//
// Scheduler.Check verifies instead of running: every node that succeeded
// in the prior and has Verify is verified, in dependency order, with the
// scheduler's slots, timeouts (Policy.Timeout applies to Verify here),
// grace period, panic recovery and node log; nothing is recorded.
// Scheduler.Destroy with a prior destroys only the nodes that exist
// (Exists: they ran).
//
// # Scheduler
//
// One coordinator goroutine owns all node state and is the only caller of
// Recorder.Record; workers run phases and send results back on a channel.
// With a GroupRecorder (the group commit, journal.go) the coordinator
// stages each event instead (Stage answers at once, a refusal included)
// and one journal writer goroutine makes what is staged durable with one
// Sync (one write and one fsync for the run file) while the coordinator
// goes on collecting results and dispatching; what is staged meanwhile
// goes with the next Sync. The coordinator keeps the durable watermark:
// how many of the events it staged are durable.
// A slot (Parallelism, and the node's class limit) is taken only when a
// node is ready; the ready node with the smallest name goes first.
//
// Durability: `running` is recorded before the phase's checks and Run
// start, and `succeeded` before any dependent starts. With a
// GroupRecorder a launched job holds its slot and starts only once every
// event staged before its launch is durable (its own running record and
// its dependencies' succeeded records among them), a process group record
// is answered once durable, and Run returns only once everything staged
// is durable, so the caller's outcome record follows them. If Record (or
// Stage, or Sync) fails, nothing else is dispatched or recorded, running
// phases have their context cancelled and are waited for (up to
// GracePeriod), and Run returns the Recorder's error.
//
// Refusals: a Recorder may refuse an event for what a field holds (a
// *RefusedError: the content of a secret in an output, reason or error),
// having written nothing; a GroupRecorder refuses in Stage, synchronously,
// so a refusal is handled the same way with or without the group commit.
// That does not stop the run. A refused output
// fails the attempt (recorded running -> failed with the refusal as its
// error, outputs dropped; dependents blocked); a refused reason or error
// is recorded replaced by the refusal's message; a refused reuse (outputs
// journalled by an earlier attempt or run) makes the node run again, or
// blocked when the selection leaves it out. The refusal never quotes the
// value, so nothing of it reaches the journal or the returned error.
//
// Process groups: a phase that starts processes calls
// Env.StartedProcessGroup right after; the coordinator hands the group to
// the Recorder if it is a ProcessRecorder and the phase continues once the
// record is durable. That record is what lets a later k0rdent end the
// groups a dead one left before it starts the node again.
//
// Failure travels only downstream (Terraform's rule): the transitive
// dependents of a failed node are recorded `blocked` with the reason
// "dependency x failed" (plus "(via y)" when indirect), and independent
// branches finish. With FailFast the first failure also stops scheduling:
// its dependents are blocked, and every other node not started is recorded
// `cancelled` ("not started: fail-fast
// after x failed") — cancelled rather than blocked, because nothing it
// needs failed, so a resume simply runs it — and running nodes finish. A
// panic in a phase is recovered: the node fails with "panic: …" and the
// stack goes to the node's log.
//
// Cancelling ctx stops dispatch; nodes not started are recorded
// `cancelled`, except those that were done before (succeeded or skipped),
// were going to be reused or verified, and that the run had not reached or
// was still verifying: they stay as they were, so that a resume does not
// redo them (the same holds for FailFast). A node known to need a run
// (planned to run, found drifted, or sitting on a node re-done in this run)
// is recorded `cancelled` even if it succeeded before, so that the next
// resume runs it. Running phases see their context cancelled and have
// GracePeriod to return, after which they are recorded `cancelled` anyway
// and abandoned. The outcome is `cancelled` and the error wraps
// context.Canceled.
//
// Retries: a transient failure with retries left is recorded
// running->failed with the reason "retry 1/3 in 2s", then failed->running
// with the next attempt number. During the backoff the node holds no slot.
//
// Run returns errors.Join of a *PhaseError per failed node in topological
// order (blocked nodes are explained by the failure that blocked them), a
// *BlockedError per node blocked by the selection, the cancellation and the
// Recorder error. Result.Outcome is succeeded, failed (a node failed or was
// blocked or cancelled by fail-fast, or the Recorder failed) or cancelled.
//
// # Resume
//
// Run(ctx, prior) re-enters the graph at the frontier. prior is what the
// journal says of each node; the first event of a node has From equal to
// its prior state.
//
//   - succeeded: reused (succeeded->succeeded, "reused from run X") when it
//     has no Verifier, else after Verify ("verified, reused from run X").
//     A failed Verify re-runs it (succeeded->running, "verify failed: …")
//     and everything downstream re-runs ("dependency x re-ran"). A node
//     that depends on a Verify is "decided at run time" in the plan.
//   - volatile and succeeded: runs again; dependents are reused unless
//     something upstream of it re-ran.
//   - running (a crash), failed, blocked, cancelled, pending: runs again
//     with attempt = prior attempt + 1. A node left running that must now be
//     skipped or blocked is first recorded running->cancelled ("interrupted
//     in a prior run"), since running cannot go there directly.
//   - skipped before but enabled now: runs ("enabled: was skipped (…)");
//     succeeded before but disabled now: skipped ("disabled: … (was
//     succeeded in run X)"). A skipped node has no outputs.
//   - any node that runs for another reason than volatility re-runs the
//     succeeded nodes downstream of it ("dependency x re-runs").
//
// # Day two: reuse by inputs digest
//
// With Scheduler.Inputs (PlanOptions.Inputs) every succeeded record
// carries the node's inputs digest (Event.Digest: its own digest, given by
// the caller from what the phase declares, combined with its
// dependencies' outputs; a volatile dependency counts by name only) and
// its own digest. A run that is not a resume starts from the nodes' last
// known states and reuses a succeeded node whose digests are unchanged
// after Verify ("unchanged since run X, verified"); it runs one that is
// forced, volatile, declares nothing, has no recorded digest, or whose own
// inputs changed ("changed: …", Inputs.Explain). A node downstream of one
// that runs is decided at dispatch, when its dependencies' outputs are
// known: reused if its digest is unchanged, else run ("input from x
// changed: key"). A failed Verify there is "drift: verify failed: …".
// PlanOptions.Verified lets a plan include Verify results the caller got
// from Scheduler.Check. See Inputs.
//
// # Selection
//
// Scheduler.Selection (and PlanOptions.Selection) is --only/--from/--skip;
// see Selection for how they combine. Unknown names are a *SelectionError
// listing the known names. A node that is not selected is not run: if it is
// done it is reused (recorded with the reason "not selected; …") and its
// outputs flow; otherwise the selected nodes that need it are blocked with
// "dependency x not selected and not completed". Nodes named by Only or
// From run even if they succeeded before. A not-selected node reused
// although something upstream of it re-runs is marked "stale: upstream x
// re-runs" in its reason: that is what the selection invalidates.
//
// # Teardown
//
// Destroy(ctx, prior) walks the graph in reverse: a node's Destroy runs
// after those of everything that depends on it, with the same recording
// (running->succeeded means destroyed), logs, policies and cancellation.
// A failed Destroy blocks the teardown of what its node depends on. Nodes
// without Destroy are passed over and record nothing.
//
// # Plan
//
// Plan(g, PlanOptions) is pure: it never calls Run, Verify or a Check. It
// gives, wave by wave, each node's Action (run, skip, reuse, verify then
// reuse, blocked, decided at run time) and why, its check names, its
// Describe lines, its expected duration from History, and the critical
// path: the longest chain, by expected duration, of the nodes that will
// run. It starts from the same decisions as Run. Renderers:
//
//   - (*PlanResult).WriteText / WriteTextWith: for a terminal, wrapped to
//     100 columns: one header (title, summary, legend), then per wave one
//     line per node built from named columns (planColumns/planRow: mark,
//     ACTION, PHASE, EXPECTED, NOTE; a column is added there), the nodes a
//     selection leaves out on one line, and the critical path.
//   - (*PlanResult).WriteJSON: one object; field names are snake_case.
//   - (*PlanResult).WriteDOT: Graphviz (`dot -Tsvg`).
//   - (*PlanResult).WriteMermaid: a Mermaid flowchart.
//
// (*Graph).WriteDrawing draws a graph as text (the README's drawing of the
// built-in graph is rendered with it). Golden files under testdata/ pin
// the four plan renderers; regenerate them with
// `go test ./workflow -run Golden -update`.
package workflow
