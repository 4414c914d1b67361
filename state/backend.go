package state

// Backend is the seam between the journal logic of this package (format,
// checksums, replay, projection, the secret refusal) and where the bytes
// live. Store holds one; LocalBackend (a directory, the layout in doc.go)
// is the first implementation, and a remote store (Azure Blob Storage) is
// the second. Everything above a Backend is written once and shared:
// a journal downloaded from any backend loads with Decode.
//
// Stability: this file is the contract another engineer implements from
// branch issue15a (`git show issue15a:state/backend.go`). Change it only
// when a caller needs it, and then say here what changed and why.
//
//	2026-12-03  first version.
//	2026-12-03  doc only: Store calls SaveSecrets before it journals each
//	            node's success (Run.Record), so it should put back only
//	            what changed. SecretsDir and WorkDir: the directory may not
//	            exist yet; WorkDir's names are one path element.
//	2026-12-03  doc only: the optional capabilities are named
//	            (TerraformStater added beside the interface, no change
//	            to it).
//
// The contract, shared by every implementation and checked by
// state/backendtest.Run (run it on a new implementation):
//
//   - Names. Run ids are valid (ValidRunID); node, secret, run-file and
//     work-dir names are clean relative slash paths ("wireguard/hub.key",
//     "azure-children/eu"); a backend refuses anything else with an error
//     and builds no name from it.
//   - Errors. A missing journal, runtime snapshot, secret or run file is an
//     error that matches ErrNotFound (errors.Is). A live lock holder is a
//     *LockedError (errors.Is ErrLocked) naming the holder.
//   - Durability. A method that writes returns only when what it wrote
//     survives a crash of this process (fsync locally; a completed request
//     remotely). Replacements (runtime snapshot, secrets, run files) are
//     atomic: readers see the old content or the new one.
//   - Concurrency. Readers never need the lock. Writes to journals, the
//     runtime snapshot, secrets and work dirs are made by the lock holder
//     only; Store checks that, a backend need not. A backend is safe for
//     use by several goroutines; a Journal is used by one at a time.
//   - Context. ctx bounds remote calls; a local backend may ignore it.
//
// Optional capabilities (found by type assertion, like the phases'):
// LogReader (transfer.go: a node's whole log) and TerraformStater
// (tfhttp.go: Terraform's own state as one object replaced under a
// version condition, served to Terraform's http backend by
// Store.ServeTerraformState; BlobBackend has it, LocalBackend leaves the
// state to Terraform's local backend in the terraform work dir).

import (
	"context"
	"io"
)

// Backend stores one deployment's state. See the contract above.
type Backend interface {
	// Location names the store for people: a directory, a URL. It is what
	// messages print ("--state-dir /x: …", "logs in …"); never parse it.
	Location() string

	// Lock takes the store lock for h without waiting. A live holder is a
	// *LockedError naming it. A holder record left by a dead holder (its
	// process died: the OS lock or the lease is gone) is taken over: the
	// lock is taken and that record returned as prev, for the caller to
	// journal (Run.LockTakeover). The Lease's holder record is readable by
	// other processes (ReadHolder) until Unlock.
	Lock(ctx context.Context, h Holder) (lease Lease, prev *Holder, err error)
	// ReadHolder returns the holder record, or nil if none; it does not
	// take the lock and the holder may be dead.
	ReadHolder(ctx context.Context) (*Holder, error)
	// Probe reports, without taking the lock or writing anything, whether a
	// live process holds it: a *LockedError naming the holder, or nil.
	Probe(ctx context.Context) error

	// ListJournals returns the ids of every run journal, oldest first
	// (ascending; ids sort by creation time). Names that are not run ids
	// are ignored.
	ListJournals(ctx context.Context) ([]string, error)
	// CreateJournal creates the journal of run id holding exactly header
	// (the encoded header document), atomically: afterwards it exists
	// whole or not at all. It fails if the journal exists (run ids are
	// never reused). The returned Journal appends after header.
	CreateJournal(ctx context.Context, id string, header []byte) (Journal, error)
	// OpenJournal opens an existing journal for appending at its end
	// (ErrNotFound if none).
	OpenJournal(ctx context.Context, id string) (Journal, error)
	// ReadJournal opens a journal for reading (ErrNotFound if none): a
	// consistent view of its bytes as of the call. List reads only its
	// ends (ReadAt), Load all of it.
	ReadJournal(ctx context.Context, id string) (JournalReader, error)
	// RepairJournal keeps a copy of the whole journal as
	// "<id>.yaml.broken" (".broken.2", … if taken) and cuts the journal to
	// its first size bytes (a torn tail; see doc.go). It returns the name
	// of the copy, for messages. The journal must not be open for
	// appending.
	RepairJournal(ctx context.Context, id string, size int64) (kept string, err error)

	// ReadRuntime returns the runtime snapshot (runtime.yaml's bytes);
	// ErrNotFound if there is none.
	ReadRuntime(ctx context.Context) ([]byte, error)
	// WriteRuntime replaces the runtime snapshot atomically.
	WriteRuntime(ctx context.Context, data []byte) error

	// WriteRunFile stores a file kept beside run id's node logs (the config
	// the run started with), atomically, readable by the operator only.
	WriteRunFile(ctx context.Context, id, name string, data []byte) error
	// ReadRunFile reads it back (ErrNotFound if none).
	ReadRunFile(ctx context.Context, id, name string) ([]byte, error)

	// OpenLog opens the log of node in run id for appending (created if
	// missing; appended across attempts and processes). Logs are readable
	// by the operator only.
	OpenLog(ctx context.Context, id, node string) (io.WriteCloser, error)
	// TailLog returns the last n lines of that log (without newlines;
	// fewer if it is shorter); ErrNotFound if there is no log.
	TailLog(ctx context.Context, id, node string, n int) ([]string, error)
	// LogLocation says where the log of node in run id is, for people (a
	// path, a URL); node "" names the place of all of the run's logs.
	LogLocation(id, node string) string

	// PutSecret stores a named secret (a private key, a kubeconfig, a
	// client secret), apart from journals and logs, readable by the
	// operator only, replacing any earlier value atomically.
	PutSecret(ctx context.Context, name string, data []byte) error
	// GetSecret returns a secret's value; ErrNotFound if none.
	GetSecret(ctx context.Context, name string) ([]byte, error)
	// DeleteSecret removes a secret; a missing one is not an error.
	DeleteSecret(ctx context.Context, name string) error
	// ListSecrets returns the names of every secret, sorted.
	ListSecrets(ctx context.Context) ([]string, error)
	// SecretsDir materialises every secret as a file <dir>/<name> (mode
	// 0600, directories 0700) on local disk, for tools and phases that
	// need paths, and returns dir. Files written or removed there are put
	// back by SaveSecrets; Close removes a temporary copy. The local
	// backend returns its own secrets directory (nothing to copy). The
	// directory may not exist while there is no secret: its first writer
	// creates it 0700. It is called at plan time too, so it writes nothing
	// to the store.
	SecretsDir(ctx context.Context) (string, error)
	// SaveSecrets puts back what changed in the materialised directory:
	// new and changed files become secrets, removed files are deleted.
	// Store calls it before it journals a node's success, so that no
	// success record names a secret the store does not keep.
	SaveSecrets(ctx context.Context) error

	// WorkDir returns a local directory for the phase files named name
	// ("terraform": Terraform's working directory; k0sctl's config), with
	// what SaveWorkDir put back last time restored into it. The local
	// backend returns the directory in the state directory itself. name
	// is one path element and none of the state directory's own entries
	// (runs, secrets, legacy, lock, runtime.yaml). The directory may not
	// exist yet: the phase creates it (0700). Like SecretsDir it is called
	// at plan time and writes nothing to the store.
	WorkDir(ctx context.Context, name string) (string, error)
	// SaveWorkDir puts back the content of work dir name so that it
	// outlives this process (nothing to do locally).
	SaveWorkDir(ctx context.Context, name string) error

	// Close releases what the backend holds locally: a materialised
	// secrets directory is removed (after SaveSecrets, if the caller
	// wants changes kept). It does not release the lock.
	Close() error
}

// Lease is a held store lock (Backend.Lock).
type Lease interface {
	// Holder is the record the lock is held with.
	Holder() Holder
	// SetHolder replaces the holder record (it gains the run id once the
	// run is known), durably.
	SetHolder(ctx context.Context, h Holder) error
	// Unlock clears the holder record and releases the lock. A second call
	// does nothing.
	Unlock(ctx context.Context) error
}

// Journal is one run journal open for appending (Backend.CreateJournal,
// OpenJournal).
type Journal interface {
	// Size is the journal's length in bytes: where the next Append writes.
	Size() int64
	// Append writes p at Size() as one write and returns when p is
	// durable; Size grows by len(p). Two writers never interleave: a
	// journal that changed since it was opened (another writer, a
	// repair) is an error, not an append at another offset. After an
	// error the journal may end in a torn tail (a prefix of p); it is
	// found and cut by the next reader and repair, never duplicated.
	Append(ctx context.Context, p []byte) error
	// Close releases the journal; it stays as it is.
	Close() error
}

// JournalReader reads a journal's bytes (Backend.ReadJournal).
type JournalReader interface {
	io.ReaderAt
	io.Closer
	// Size is the journal's length when it was opened for reading, or
	// when Size was first called (a local file asks only then: List
	// needs no size for a journal its first read reached the end of).
	// A journal read without the lock only grows, so either is a
	// consistent prefix.
	Size() int64
}
