// Package state keeps k0rdent's state: the append-only journal of every
// run, the runtime snapshot, node logs, secrets, the store lock, and the
// legacy migration, in a local state directory or an Azure Blob Storage
// container. This comment is the format specification of both.
//
// # Backends
//
// Store holds the journal logic (format, checksums, replay, projection,
// the secret refusal) once, over a Backend (backend.go) that keeps the
// bytes: lock and holder record, run journals (create atomically, append
// at the end, read, repair a torn tail), the runtime snapshot, files kept
// beside a run's logs, node logs and their tails, named secrets, and work
// dirs. LocalBackend is the directory below (NewStore); a remote backend
// keeps the same documents, so a journal from any backend loads with
// Decode. The package state/backendtest is the contract every backend
// passes. Nothing outside this package builds a path inside the state
// directory (TestSeam): phases get local directories from the store
// (Store.SecretsDir: every secret as a 0600 file in a 0700 directory;
// Store.WorkDir: Terraform's working directory, k0s's) and the caller puts
// back what must outlive the run (Store.SaveSecrets, Store.SaveWorkDir;
// nothing to do locally); cmd tails logs with Store.TailLog and names
// them with Store.LogLocation. The legacy migration works on a local
// directory only.
//
// # Layout
//
//	state/
//	  runtime.yaml               current snapshot (a projection of the run files)
//	  runs/<run-id>.yaml         run file: the journal of one run
//	  runs/<run-id>.yaml.broken  copy kept when a torn tail was repaired (.broken.2, … after that)
//	  runs/<run-id>/<node>.log   node logs, 0600 (a node "a/b" logs to runs/<run-id>/a/b.log)
//	  secrets/                   0700; private keys, kubeconfigs, credentials; files 0600
//	  terraform/                 Terraform working directory and local state
//	  legacy/                    files of the bash tool, moved here untouched by migration
//	  lock                       flock(2) target; its content is the holder record
//
// Nothing is ever deleted: a run that is abandoned is superseded, not
// removed. Directories are created when first needed.
//
// # Terraform's state
//
// In the state directory, Terraform keeps its own state with its local
// backend: terraform/terraform.tfstate (0600). A backend that is a
// TerraformStater (the Azure Blob one) keeps it instead as the blob
// <prefix>/terraform.tfstate (TerraformStateFile, beside runtime.yaml):
// Terraform's JSON state byte for byte, replaced whole (one Put Blob,
// MD5-checked) under an ETag condition by the lock holder only, never
// copied into the work dir blobs (work/terraform/ has no
// terraform.tfstate once a run has moved it in). Terraform reaches it
// through its http backend, which Store.ServeTerraformState serves on
// loopback while terraform runs (tfhttp.go: the protocol, the lock, the
// move-in of a pushed terraform.tfstate). Transfer copies it: the source's
// (the blob, else the work dir's file) becomes the target's (the blob,
// else terraform/terraform.tfstate), refused when the target's has
// another lineage or a higher serial.
//
// # Run ids
//
// A run id is YYYYMMDD-HHMMSS-xxxx: the UTC creation time to the second and
// four lower-case hex digits, random, except that CreateRun makes a new id
// greater than every existing one (counting up from the newest id of the
// same second). Ids therefore sort by creation time and the directory
// listing is the index; no other index exists.
//
// # Run files
//
// A run file is a YAML stream, valid YAML after every append: any YAML
// library or `yq . runs/<id>.yaml` reads it. Each document is framed as
//
//	---
//	<body: one YAML mapping, as gopkg.in/yaml.v3 marshals it>
//	# sum crc32c=<8 lower-case hex> seq=<n>
//
// Bodies are gopkg.in/yaml.v3's block output of the record structs (keys
// in the order below, 4-space indentation, maps sorted by key). Readers
// accept any YAML mapping: this package decodes the subset it writes with
// a fast line decoder (checked against yaml.v3 by test and fuzzing) and
// hands anything else to yaml.v3.
//
// The checksum is CRC-32C (Castagnoli) of the exact body bytes: everything
// after the "---\n" line up to and excluding the sum line. The sum line is
// a YAML comment, so YAML tools ignore it. seq is 0 for the header and
// counts up by one for every record after it; the body repeats it (field
// seq) for records.
//
// The first document is the header, written once when the file is
// created: the file is written to a temporary name in runs/, fsynced,
// renamed into place, and runs/ is fsynced. Header fields:
//
//	kind: header
//	format: 1                     FormatVersion; a reader refuses newer formats
//	run_id, parent_run_id         parent: the run this one superseded
//	created                       RFC 3339 UTC
//	operator, host, tool_version
//	config_path, config_digest
//	cluster_id                    optional; projected into runtime.yaml
//	flags: {with_kof: true, …}    the run's flags
//	nodes: [wireguard, …]         the planned nodes, in topological order
//	deps: {vpn: [terraform, …]}   the planned graph's edges: node -> the
//	                              nodes it depends on; nodes without
//	                              dependencies are left out. `runs show`
//	                              draws the critical path from them
//	migrated: true                the run was synthesized from legacy files
//	only, from, skip: [a, …]      the run's selection (--only, --from,
//	                              --skip); absent: every enabled node
//	projects: {wireguard: [wireguard.peers=peers, …]}
//	                              which node provides which fact of
//	                              runtime.yaml (Fact* names), from which
//	                              output ("*": all of them; a key ending
//	                              in "." is a prefix), as the phases
//	                              declare it (phases.Plugin.Projects);
//	                              absent: the built-in declaration below
//	legacy: {ssh_key, service_principal, kof}
//	                              migrated runs only: what the legacy tool
//	                              created that outlives our nodes
//	                              (projected into runtime.yaml's legacy)
//
// A teardown run (`k0rdent reset`) is a run file whose header document
// has kind: teardown instead of kind: header, with the same fields. Its
// records are the Destroy transitions (running, then succeeded when the
// node is destroyed, or failed) and an outcome; it can be superseded like
// any run. Listings mark it as a teardown.
//
// Every later document is one record. Records are appended in batches,
// the group commit: Run.Append (one record), Run.AppendBatch and
// Run.RecordBatch (several), and Run.Stage/StageProcessGroup followed by
// Run.Sync, which is how the scheduler records (workflow.GroupRecorder):
// Stage checks a record against the run as the durable and the staged
// records before it leave it, refuses it at once if it must (nothing is
// staged then), and queues it; Sync writes everything staged. A batch is
// one or more whole documents, each with its own checksum and seq, written
// with a single write(2) followed by one fsync(2); every record of a batch
// is durable when the call returns, and only then is it part of what
// Run.Nodes and the projection see. Staging goes on while a batch is being
// written; what is staged meanwhile goes with the next one. The format does not
// mark batches: a reader sees the same stream of documents as if they had
// been appended one by one, and a crash in the middle of a batch leaves a
// valid prefix and a torn tail, repaired like any torn record (the whole
// documents before the tear are kept).
// Common fields: kind, seq, time (RFC 3339 UTC, nanoseconds; transitions
// carry the engine's time, records without one get Store.Now, which also
// dates the header). Kinds:
//
//	transition     node, from, to, attempt, reason, error, duration (Go
//	               duration string), outputs (map of strings; on succeeded),
//	               digest and own_digest (on succeeded, "sha256:<hex>": the
//	               inputs digest its outputs were built with, and the part
//	               of it the node declares itself; see workflow.Inputs.
//	               Secrets enter only these combined digests, never alone.
//	               Absent in files written before digests: such a success
//	               is never reused by a new run.), built_in (on a reuse,
//	               succeeded -> succeeded: the run the node last ran in,
//	               whose work is reused)
//	resumed        attempt (the run attempt: 2, 3, …), flags (from now on);
//	               only, select_from, skip when the resume changed the
//	               selection (RunFile.Selection: the header's, replaced by
//	               each resumed record that carries one)
//	lock-takeover  previous: the holder record of the dead process
//	outcome        outcome (succeeded|partial|failed|cancelled), reason,
//	               failed_nodes, flags
//	superseded     by (the new run id), flags
//	process        node, attempt, process (pgid, leader_start: the
//	               leader's start time in clock ticks since boot,
//	               boot_id): a process group the node's running attempt
//	               started (a command phase's child), written right
//	               after it started; only a running attempt can have one.
//	               A later k0rdent that holds the lock ends what is left
//	               of these groups before it runs their nodes again
//	               (Store.LeftoverProcessGroups); they change no state
//	operator       operator: {action: removed, name, address, public_key,
//	               by}: `k0rdent operators remove` took that operator's
//	               peer off every VM (by: who did). Appended, under the
//	               lock, to the current run file, also after its outcome;
//	               it changes no node, no outcome and no selection
//
// An outcome does not end the file: a resumed run appends a resumed record
// and more transitions after a failed or cancelled outcome. The latest
// outcome wins; a resumed record after it makes the run unfinished again.
// A superseded record is final: nothing is appended after it and the run
// is listed with outcome "superseded". A run whose selection left enabled
// nodes unrun, every selected one done, ends "partial": it is finished (not
// offered for resume) but never becomes last_successful_run.
//
// # Reading, torn tails and corruption
//
// A reader walks the documents from the start. A document is valid when it
// starts with a "---" line, reaches a sum line (with its newline) before
// any other "---" line, its checksum matches, its seq is the next one, and
// its body decodes to a known, consistent record. The bytes from the first
// invalid document on are:
//
//   - a torn tail (a write interrupted by a crash) when they can be a
//     strict prefix of one document: they start like "---\n", hold no
//     complete sum line and no second "---" line (trailing NUL bytes, as
//     some filesystems leave after a crash, are allowed). Readers use the
//     valid prefix;
//   - corruption otherwise (*CorruptError: file, record number, byte
//     offset; errors.Is ErrCorrupt): damage before the last document, a
//     damaged last document whose sum line survived, or a document that
//     passes its checksum but does not decode, has the wrong seq or an
//     unknown kind. The message says whether valid documents follow.
//
// Store.Load and Decode never lock and never repair (they back `status`
// and `runs show`). Store.OpenRun, which needs the store lock, repairs a
// torn tail: it copies the file to <file>.broken (.broken.2, … if taken)
// and truncates it to the valid prefix; it refuses a corrupt file and
// leaves it untouched. Store.List reads only the header and the last
// document of a file (a bounded read at each end), so it does not see
// damage in between; it reads the whole file only when the last document
// is not an outcome or superseded record.
//
// # Replay
//
// Replaying the transitions gives each node's state (the engine resumes
// from it), attempt, reason, error and, for succeeded nodes, outputs and
// RunID. A node's first transition in a file may start from any state (a
// node reused from an earlier run starts from succeeded); every later one
// must start from the node's replayed state, and every one must be allowed
// by workflow.State.CanTransition. Anything else is a *TransitionError
// naming the file, record and node, never silently accepted. A transition
// to running clears outputs; a reuse (succeeded -> succeeded) without
// outputs keeps those recorded earlier in the same file (a reuse with a
// digest sets the digests; without, keeps them). RunID of a
// succeeded node is the run it last ran in: a reuse's built_in, else the
// run of the file (a reuse written before built_in reads as succeeded in
// this one). Store.Load also gives the per-node timeline
// (first start, last finish, summed duration, attempts), the outcome and
// the effective flags (header, then each resumed record's flags).
//
// # runtime.yaml
//
// runtime.yaml holds only the current snapshot (type Runtime): format,
// cluster_id, current_run_id and current_outcome, last_successful_run,
// flags, wireguard (port, network, peers: name, address, public_key,
// endpoint, role; never private keys), vpn (status connected, disconnected
// or unverified, when checked, the interface, and per peer its last
// handshake), terraform (output references),
// kubeconfig (a path), legacy (what a migrated legacy deployment left
// that no node manages: the admin SSH key under secrets/, the Azure
// service principal and the KOF installation the legacy state still
// records; from the latest migrated header, carried by later runs; the
// SSH key is cleared by a teardown that destroys the node providing
// terraform; the service principal and KOF only by a teardown whose
// succeeded record of the node declaring legacy.service_principal or
// legacy.kof sets the declared key, which that node's Destroy does once
// it removed the thing: a teardown hands it the thing as JSON under that
// key (LegacyResources.Handover), and what it could not remove stays
// listed, with the commands that remove it by hand (Leftovers)),
// updated (the time of the current run's latest
// record, so that a rebuild gives the same file). It is a pure projection
// of the run files (Project): a vpn status of unverified has no checked
// time. RebuildRuntime folds Project over all run
// files, oldest first, and yields the same file.
//
// It is replaced atomically (temporary file, fsync, rename, fsync the
// directory) only at these points, never on every append: when a run is
// created (CreateRun) or resumed (Resumed), when a record of a node that
// Projects is made durable (the recorder calls Run.WriteRuntime), and at
// the outcome (Finish). So it may be behind the newest run file: by the
// tail of records since the last of those points, or entirely when a
// process was killed between an append and the rewrite (or right after a
// new run's header). Readers therefore never trust it alone: Store.Current
// takes runtime.yaml if it is readable and names the newest run file and
// folds that run file over it (Project is idempotent over prefixes of a
// run), and otherwise folds every run file; it neither writes nor locks.
// Store.Refresh, under the lock, rewrites runtime.yaml with Current when
// it differs and removes the temporary files (".runtime.yaml.tmp-*",
// ".k0rdent.yaml.tmp-*") that a kill in the middle of an atomic write
// left behind. The built-in declaration (what the built-in phases declare,
// and what a header without projects: gets):
//
//	wireguard  outputs peers (JSON array of {name,address,public_key,role,
//	           endpoint}; unknown fields such as private_key are refused),
//	           port, network
//	vpn        outputs status, interface, handshake.<peer> (RFC 3339); the
//	           record time is when it was checked; a failed vpn node means
//	           disconnected (and no peers)
//	terraform  its outputs become the Terraform references; its cluster_id
//	           output (the id Azure resources are named after) becomes
//	           runtime.yaml's cluster_id, over the header's
//	k0s        output kubeconfig (a path under secrets/)
//
// A teardown run clears the facts of every node it destroyed (a succeeded
// Destroy record): no peers, no Terraform references, no kubeconfig, and
// the VPN disconnected as of that record; a node whose Destroy failed
// keeps its facts, and a teardown never becomes last_successful_run.
//
// For each of these nodes the latest succeeded or skipped record of the
// current run decides (a reuse, succeeded -> succeeded, without outputs
// does not): succeeded sets the facts from its outputs, skipped
// (disabled) clears them, so nothing from earlier runs is carried for a
// node the current run skipped. A node the current run has not decided yet
// keeps the facts of earlier runs. The cluster id comes from the latest
// header that has one.
//
// # What earlier runs know
//
// Store.LastKnown folds every run file, oldest first, into each node's
// latest Done state (succeeded with outputs, digests and the run it
// succeeded in, or skipped): what a fresh --only/--from run reuses and what a teardown
// destroys. A run in which the node went running without ending Done
// forgets it, a node only blocked or cancelled before starting keeps its
// state, and a teardown forgets the nodes whose Destroy ran.
// Store.Existing folds them into what a teardown destroys: every node that
// went running in a deployment run and was not destroyed since (succeeded,
// or failed, cancelled or left running after it started), with the run
// that last touched it; nodes that never ran or were skipped are absent.
// Store.History(n) gives each node's median succeeded attempt duration in
// the newest n deployment runs, for the plan's expected durations.
//
// # Operators
//
// Each operator machine (or CI runner) is its own WireGuard peer of every
// VM (providers/wireguard: its key stays on that machine, never here).
// A node journals the operator whose tunnel it brought up with its
// succeeded record's outputs operator.name, operator.address,
// operator.public_key and operator.added_to (the VMs it was added to in
// that attempt); an operator record removes one. Store.Operators folds
// every run file, oldest first: an operator appears with the first record
// naming it (added_by: that run; a new address or key counts as new),
// its last handshake is the newest handshake.<vm> output of its latest
// record, an operator record removes it, and a teardown forgets them all
// (the VMs went with it). A deployment with no operator recorded (built
// or migrated before operators existed) lists its single hub peer, from
// the wireguard node's peers, as the legacy operator; the first operator
// whose vpn node runs claims the hub's address and key. Operators are not
// part of runtime.yaml.
//
// # Secrets
//
// Secrets are written only under secrets/ (Store.WriteSecret: 0700
// directory, 0600 files, atomic); outputs and runtime.yaml hold their
// paths. Run.Record refuses, cheaply, outputs that look like secrets. By
// value: PEM private key blocks, kubeconfig client keys, "private_key"
// JSON fields. By name, since a WireGuard private key cannot be told from
// a public key by its shape: a non-empty value that is not a path (it
// starts with /, or the name ends in _path, _file or _dir) of an output
// whose name, split into words at _ - . and camelCase and joined, contains
// privatekey, clientkeydata, password or passwd, or whose last word is
// secret or token. So private_key, hubPrivateKey, client-key-data,
// client_secret, admin_password and sas_token are refused, while
// private_ips, secret_name and private_key_path are journalled.
//
// By content: a record whose outputs, reason or error contain the content
// of a file under secrets/ (trimmed of white space; at least 12 bytes, so
// that a port number does not count; files named *.pub are public keys and
// do not count) is refused too, so `hub=$(cat .../hub.key)` never reaches
// a run file. The values are read once per Run, and again only when a
// directory under secrets/ changed. A refusal is a *workflow.RefusedError
// (errors.Is ErrSecret) naming the field and the file, never the value;
// nothing is written, and the scheduler records the node failed with the
// refusal instead (see the workflow package). An outcome whose reason is
// refused is journalled with the refusal as its reason.
//
// Migration writes, besides the run files and runtime.yaml, what the
// phases keep as a deployment's own settings: secrets/wireguard/<peer>.key,
// listen-port and settings.json (hub name, interface, network and every
// peer's address, read by providers/wireguard.KeyStore.Settings),
// secrets/ssh/legacy-admin-key(.pub), secrets/k0s/kubeconfig,
// secrets/kof/regional-kubeconfig, and terraform/k0rdent-adopt.json (the
// Azure resources to import, read by providers/terraform.ReadAdoption).
// InspectLegacy and Store.PreviewMigration describe a directory not
// migrated yet without changing it (status, run --plan).
//
// # Lock
//
// The store lock is flock(LOCK_EX|LOCK_NB) on state/lock, whose content is
// the holder record (YAML: run_id, pid, host, user, command, started),
// cleared on unlock. A second process gets *LockedError naming the holder
// (errors.Is ErrLocked). The OS releases the lock when its process dies; a
// holder record found under a free lock is a dead holder: the lock is
// taken over and the previous holder returned, and the caller journals a
// lock-takeover record. CreateRun, OpenRun and StartFresh need the lock.
//
// # Azure Blob Storage
//
// BlobBackend (azblob.go) keeps the same documents in one container of a
// storage account, under an optional prefix: azblob://ACCOUNT/CONTAINER
// [/PREFIX], from --state-url, K0RDENT_STATE_URL or the config's state:
// {backend: azureblob, account, container, prefix}. The container is
// created by the team (README, "Working as a team"), never by k0rdent.
// Blob names are the local layout's paths below <prefix>/:
//
//	<prefix>/
//	  runtime.yaml                block blob: the runtime snapshot
//	  runs/<run-id>.yaml          append blob: the run file, byte for byte the local format
//	  runs/<run-id>.yaml.broken   block blob: the copy a repair keeps (.broken.2, …)
//	  runs/<run-id>/<node>.log    append blob: a node's log
//	  runs/<run-id>/<name>        block blob: a file kept beside the run's logs (the config it started with)
//	  secrets/<name>              block blob per secret (wireguard/<peer>.key, the SSH key, kubeconfigs, …)
//	  work/<name>/<file>          block blob per file of a work dir (terraform/, k0s/), .terraform/ left out
//	  lock                        block blob: the store lock is a lease on it; its content is the holder record
//
// There is no directory: a name is listed by its prefix (runs/,
// secrets/, work/<name>/), and ids sort as locally. Legacy files are
// migrated into a local directory only (then `k0rdent state push`).
// Every write is one request with a Content-MD5, under these conditions:
//
//   - A journal is created with Create Append Blob (If-None-Match: *),
//     then its header is appended at position 0. A crash between the two
//     leaves an empty blob: ListJournals, ReadJournal and OpenJournal
//     count it as no journal, and CreateJournal reuses it, so a journal
//     exists whole or not at all.
//   - Each batch of records (the group commit) is one Append Block with
//     the append-position condition (x-ms-blob-condition-appendpos: the
//     length this writer knows). Two writers can never interleave: the
//     second one's condition fails. A block is committed whole or not at
//     all, so a request cut mid-way leaves no torn tail. When the outcome
//     is unknown (a timeout, a lost response, a retry meeting its own
//     earlier block) the length is read back: the old length plus the
//     batch, ending with the batch, means it was written (it is never
//     sent twice); the old length means it was not; anything else is
//     another writer. If the length cannot be read back either, the
//     append fails with ErrUnreachable: every record before it is kept,
//     and the run is resumed once the store is back. A batch is at most
//     4 MiB. Readers download a journal in one GET, a consistent view.
//   - A repair (a journal from elsewhere may still end torn) uploads the
//     whole journal as <id>.yaml.broken[.N] (If-None-Match: *), writes
//     the valid prefix to the append blob <id>.yaml.repair, copies that
//     over the journal server-side on condition that the journal's ETag
//     is the one read (nobody appended since), and deletes the temporary
//     blob. Readers see the old journal or the cut one.
//   - runtime.yaml is replaced by one Put Blob with an ETag condition:
//     If-Match the version this process last read or wrote or, if it
//     has seen none, the version there at its first write (it holds the
//     lock, so that is the previous holder's; If-None-Match: * when there
//     is none). A process that lost the lock to another cannot overwrite
//     what the new holder wrote.
//   - Logs are appended in blocks (buffered, about once a second, and
//     when the node ends); run files, secrets and work-dir files are
//     replaced whole by one Put Blob each.
//
// The lock is a blob lease on lock, of K0RDENT_STATE_LEASE (15 s to 60 s,
// Azure's bounds; default 60 s), renewed every third of it while held.
// The lock blob is created empty on first use (If-None-Match: *); the
// holder writes its holder record into it under the lease (YAML, the
// fields of the local lock: run_id, pid, host, user, command, started),
// readable by anyone (ReadHolder, and the message of a refused Lock),
// and clears it before releasing the lease (Unlock). A second process's
// Acquire Lease fails (LeaseAlreadyPresent): *LockedError naming the
// holder, exit 3. A holder that dies stops renewing: its lease expires
// within the lease period, its record stays, and the next Lock takes the
// lease and returns that record as the previous holder, which the caller
// journals as a lock-takeover record, as locally. A holder that cannot
// renew for the lease period (minus one renewal interval) counts its
// lease as lost (ErrUnreachable when the store did not answer) and
// refuses every later write: another process may hold the lock by then.
// Readers (status, runs, runs show, operators) never take a lease.
//
// Secrets are blobs of their own under secrets/, never inside journals,
// logs or runtime.yaml (the journals hold their paths, as locally): the
// SSH key, kubeconfigs, the VMs' WireGuard keys and the Azure client
// secret the deployment needs to share. Whoever can read the container
// can read them. An operator's own WireGuard key is never in the store
// (see Operators). SecretsDir materialises them on local disk in a fresh
// temporary 0700 directory as 0600 files; SaveSecrets puts back what a
// phase changed there (before the success record that names it); Close
// removes the directory when the command ends. Work dirs (WorkDir,
// SaveWorkDir) are restored and kept the same way, under work/<name>/.
// The local directories are named k0rdent-secrets-<pid>-* and
// k0rdent-work-<pid>-*; those of a dead process of the same user (a
// kill -9 runs no Close) are removed when the next one is made.
//
// # Fresh start
//
// StartFresh archives the current run if it did not succeed: the old run
// gets a superseded record naming the new run, the new header names the
// old run as parent_run_id, and runtime.yaml points at the new run.
package state
