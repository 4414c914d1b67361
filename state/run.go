package state

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Run is a run file open for appending. It implements workflow.Recorder.
// Every append, of one record or of a batch (AppendBatch), is one write
// plus fsync. runtime.yaml (Project(base, run),
// where base is the runtime found when the run was created or opened) is
// replaced when the run is created or resumed, at its outcome, and after a
// Record that finishes a node that Projects, never by Append itself;
// readers fold the run file's tail over it (Store.Current). A Run is safe
// for use by several goroutines.
type Run struct {
	s    *Store
	path string // the journal's name in messages (its path locally)

	// wmu serialises the writes (sync) and Close; it is taken before mu
	// and held across the write and the fsync, mu is not: staging goes on
	// while a batch is being written.
	wmu  sync.Mutex
	mu   sync.Mutex // guards everything below
	f    Journal    // nil after Close
	rf   *RunFile   // the durable records, replayed
	base *Runtime   // runtime before this run (may contain this run's earlier effects)
	err  error      // a failed write poisons the Run
	// The group commit: records checked and encoded but not yet applied
	// to rf, because they are staged (pend) or being written by sync.
	pend     []byte                    // the staged documents, in order
	pendRecs []Record                  // the staged records
	ahead    map[string]workflow.State // node states the unapplied records leave
	aheadN   int                       // unapplied records (staged or being written)
	aheadBy  string                    // an unapplied superseded record names this run
	syncs    int                       // batches written (benchmarks)
	// secrets are the values of the files under secrets/, refused in
	// records (see secretValues).
	secrets *secretValues
	// noRuntime turns off the live runtime.yaml update (benchmarks).
	noRuntime bool
}

// CreateRun creates the run file of a new run, atomically, with h as its
// header, and points runtime.yaml at it. Zero fields are filled in: RunID
// (a new id, greater than every existing one), Created (now), Format. The
// caller must hold the store lock.
func (s *Store) CreateRun(h Header) (*Run, error) {
	if err := s.locked(); err != nil {
		return nil, fmt.Errorf("create run: %w", err)
	}
	now := s.now()
	if h.RunID == "" {
		id, err := s.nextRunID(now)
		if err != nil {
			return nil, err
		}
		h.RunID = id
	}
	if !ValidRunID(h.RunID) {
		return nil, fmt.Errorf("create run: run id %q: want YYYYMMDD-HHMMSS-xxxx", h.RunID)
	}
	if h.ParentRunID != "" && !ValidRunID(h.ParentRunID) {
		return nil, fmt.Errorf("create run %s: parent run id %q: want YYYYMMDD-HHMMSS-xxxx", h.RunID, h.ParentRunID)
	}
	if h.Created.IsZero() {
		h.Created = now
	}
	h.Created = h.Created.UTC()
	h.Format = FormatVersion
	h.Deps = compactDeps(h.Deps)
	base, err := s.readRuntimeBase()
	if err != nil {
		return nil, fmt.Errorf("create run %s: %w", h.RunID, err)
	}
	path := s.journalName(h.RunID)
	data, err := encodeHeader(h)
	if err != nil {
		return nil, err
	}
	f, err := s.b.CreateJournal(s.ctx(), h.RunID, data)
	if err != nil {
		return nil, err
	}
	rf := &RunFile{file: path}
	rf.setHeader(h)
	rf.Size = int64(len(data))
	secretsDir, err := s.SecretsDir()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("create run %s: %w", h.RunID, err)
	}
	r := &Run{s: s, path: path, f: f, rf: rf, base: base, secrets: newSecretValues(secretsDir)}
	if err := r.updateRuntime(); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// OpenRun opens an existing run for appending (resume, supersede). The
// caller must hold the store lock. A torn last document is repaired: the
// file is copied to <file>.broken (or .broken.N) and truncated to its valid
// prefix. Corruption before the end (a *CorruptError, errors.Is
// ErrCorrupt) and inconsistent transitions (*TransitionError) are refused.
// A superseded run cannot be opened.
func (s *Store) OpenRun(id string) (*Run, error) {
	if err := s.locked(); err != nil {
		return nil, fmt.Errorf("open run %s: %w", id, err)
	}
	rf, err := s.Load(id)
	if err != nil {
		return nil, err
	}
	if rf.Err != nil {
		return nil, rf.Err
	}
	if rf.Outcome == OutcomeSuperseded {
		return nil, fmt.Errorf("open run %s: it was superseded by run %s and cannot be resumed", id, rf.SupersededBy)
	}
	path := s.journalName(id)
	if rf.Torn {
		if _, err := s.b.RepairJournal(s.ctx(), id, rf.Size); err != nil {
			return nil, err
		}
		rf.Torn = false
	}
	base, err := s.readRuntimeBase()
	if err != nil {
		return nil, fmt.Errorf("open run %s: %w", id, err)
	}
	secretsDir, err := s.SecretsDir()
	if err != nil {
		return nil, fmt.Errorf("open run %s: %w", id, err)
	}
	f, err := s.b.OpenJournal(s.ctx(), id)
	if err != nil {
		return nil, err
	}
	if f.Size() != rf.Size {
		f.Close()
		return nil, fmt.Errorf("open run %s: it is %d bytes, not the %d just read: another writer? (the store lock should prevent this)", id, f.Size(), rf.Size)
	}
	return &Run{s: s, path: path, f: f, rf: rf, base: base, secrets: newSecretValues(secretsDir)}, nil
}

// StartFresh creates a new run. If runtime.yaml names a current run that
// is unfinished or did not succeed, that run is archived first: it gains a
// superseded record naming the new run, and the new header's ParentRunID
// names it. It returns the new run and the superseded run id ("" if none).
// The caller must hold the store lock.
func (s *Store) StartFresh(h Header) (*Run, string, error) {
	if err := s.locked(); err != nil {
		return nil, "", fmt.Errorf("start fresh run: %w", err)
	}
	rt, err := s.ReadRuntime()
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, "", fmt.Errorf("start fresh run: %w", err)
	}
	var old *Run
	if rt != nil && rt.CurrentRunID != "" && rt.CurrentOutcome != OutcomeSucceeded {
		rf, err := s.Load(rt.CurrentRunID)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return nil, "", fmt.Errorf("start fresh run: %w", err)
		case rf.Outcome != OutcomeSucceeded && rf.Outcome != OutcomeSuperseded:
			if rf.Err != nil {
				// A corrupt run cannot get a record appended; it stays as
				// it is and the new run still names it as parent.
				h.ParentRunID = rt.CurrentRunID
				break
			}
			if old, err = s.OpenRun(rt.CurrentRunID); err != nil {
				return nil, "", fmt.Errorf("start fresh run: archive run %s: %w", rt.CurrentRunID, err)
			}
			defer old.Close()
			h.ParentRunID = old.ID()
		}
	}
	if h.RunID == "" {
		if h.RunID, err = s.nextRunID(s.now()); err != nil {
			return nil, "", err
		}
	}
	if old != nil {
		if err := old.Supersede(h.RunID); err != nil {
			return nil, "", fmt.Errorf("start fresh run: %w", err)
		}
	}
	r, err := s.CreateRun(h)
	if err != nil {
		return nil, "", err
	}
	return r, h.ParentRunID, nil
}

// ID is the run id.
func (r *Run) ID() string { return r.rf.Header.RunID }

// Path is the run file.
func (r *Run) Path() string { return r.path }

// Header is the run's header.
func (r *Run) Header() Header { return r.rf.Header }

// Nodes returns a copy of the replayed node states: what the engine
// resumes from.
func (r *Run) Nodes() map[string]workflow.NodeStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]workflow.NodeStatus, len(r.rf.Nodes))
	for k, v := range r.rf.Nodes {
		v.Outputs = maps.Clone(v.Outputs)
		out[k] = v
	}
	return out
}

// Flags returns the run's effective flags.
func (r *Run) Flags() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.rf.Flags)
}

// Attempt is the run attempt: 1, plus one per resume.
func (r *Run) Attempt() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rf.Attempt
}

// Record journals a node transition (workflow.Recorder): Stage, then
// Sync. It assigns Seq and, if ev.Time is zero, the time; it refuses a
// transition the node's state does not allow (*TransitionError), and
// outputs that look like secrets or texts that hold the content of a file
// under secrets/ (a *workflow.RefusedError wrapping ErrSecret; nothing is
// written). It returns once the record is durable.
func (r *Run) Record(ev workflow.Event) error {
	if err := r.Stage(ev); err != nil {
		return err
	}
	return r.Sync()
}

// Stage checks a node transition as Record does, refusing it the same way
// (nothing is staged then), and queues it behind the records staged
// before it without writing anything (workflow.GroupRecorder): the next
// Sync, or any append, writes it. It does not wait for a write in
// progress.
func (r *Run) Stage(ev workflow.Event) error {
	if err := r.saveSecrets(ev); err != nil {
		return err
	}
	_, err := r.stage([]Record{transition(ev)})
	return err
}

// StageProcessGroup stages a process record (workflow.ProcessStager), as
// Stage stages a transition; RecordProcessGroup is it plus Sync.
func (r *Run) StageProcessGroup(pg workflow.ProcessGroup) error {
	_, err := r.stage([]Record{processRecord(pg)})
	return err
}

// Sync makes every record staged before it durable, with one write and
// one fsync for all of them (the group commit), and returns once they
// are. When one of them finishes a node that Projects (succeeded, skipped,
// failed), it then rewrites runtime.yaml: the only rewrites between a
// run's start and its outcome. After a failed write or fsync the Run is
// poisoned.
func (r *Run) Sync() error {
	recs, err := r.sync()
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if rec.Kind == KindTransition && (rec.To.Done() || rec.To == workflow.Failed) && r.Projects(rec.Node) {
			return r.WriteRuntime()
		}
	}
	return nil
}

func transition(ev workflow.Event) Record {
	return Record{
		Kind: KindTransition, Time: ev.Time, Node: ev.Node, From: ev.From, To: ev.To,
		Attempt: ev.Attempt, Reason: ev.Reason, Error: ev.Error, Duration: ev.Duration,
		Outputs: maps.Clone(ev.Outputs), Digest: ev.Digest, OwnDigest: ev.OwnDigest, BuiltIn: ev.Built,
	}
}

func processRecord(pg workflow.ProcessGroup) Record {
	return Record{Kind: KindProcess, Node: pg.Node, Attempt: pg.Attempt,
		Process: &ProcessRecord{PGID: pg.PGID, LeaderStart: pg.LeaderStart, BootID: pg.BootID}}
}

// saveSecrets makes the secrets a node wrote durable in the store
// (Backend.SaveSecrets: nothing to do locally) before its success is
// journalled, so that a success record never names a secret the store
// does not keep.
func (r *Run) saveSecrets(evs ...workflow.Event) error {
	for _, ev := range evs {
		if ev.To != workflow.Succeeded {
			continue
		}
		if err := r.s.SaveSecrets(); err != nil {
			return fmt.Errorf("run %s: node %s: keep its secrets: %w", r.ID(), ev.Node, err)
		}
		return nil
	}
	return nil
}

// RecordProcessGroup journals that the running attempt of pg.Node started
// process group pg (workflow.ProcessRecorder): a process record. It
// returns once the record is durable.
func (r *Run) RecordProcessGroup(pg workflow.ProcessGroup) error {
	return r.Append(processRecord(pg))
}

// Resumed journals that the run is resumed: its attempt and its flags from
// now on. It also makes the run unfinished again, and rewrites
// runtime.yaml.
func (r *Run) Resumed(flags map[string]bool, attempt int) error {
	return r.ResumedWith(flags, attempt, Selection{})
}

// ResumedWith is Resumed with the selection the resume changes to (empty:
// the run's stays).
func (r *Run) ResumedWith(flags map[string]bool, attempt int, sel Selection) error {
	sel = sel.clone()
	if err := r.Append(Record{Kind: KindResumed, Attempt: attempt, Flags: maps.Clone(flags), Only: sel.Only, SelectFrom: sel.From, Skip: sel.Skip}); err != nil {
		return err
	}
	return r.WriteRuntime()
}

// LockTakeover journals that the store lock was taken over from prev, a
// process that died holding it.
func (r *Run) LockTakeover(prev Holder) error {
	return r.Append(Record{Kind: KindLockTakeover, Previous: &prev})
}

// Finish journals the run outcome (succeeded, failed or cancelled) with
// the failed nodes and the flags. Records may follow (a resume).
func (r *Run) Finish(outcome Outcome, reason string) error {
	r.mu.Lock()
	failed, flags := r.rf.FailedNodes(), maps.Clone(r.rf.Flags)
	r.mu.Unlock()
	err := r.Append(Record{Kind: KindOutcome, Outcome: outcome, Reason: reason, FailedNodes: failed, Flags: flags})
	var re *workflow.RefusedError
	if errors.As(err, &re) { // the reason holds a secret: journal the refusal instead
		err = r.Append(Record{Kind: KindOutcome, Outcome: outcome, Reason: re.Error(), FailedNodes: failed, Flags: flags})
	}
	if err != nil {
		return err
	}
	return r.WriteRuntime()
}

// Supersede journals that the run is archived in favour of run newID. It
// does not touch runtime.yaml: the new run does.
func (r *Run) Supersede(newID string) error {
	r.mu.Lock()
	flags := maps.Clone(r.rf.Flags)
	r.mu.Unlock()
	return r.Append(Record{Kind: KindSuperseded, By: newID, Flags: flags})
}

// Append journals any record: it assigns Seq, sets Time to now if zero,
// validates the record against the replayed run, writes it with one write
// and fsyncs. The convenience methods above all come here; migration uses
// it directly to write records with their historical times.
func (r *Run) Append(rec Record) error { return r.AppendBatch([]Record{rec}) }

// RecordBatch journals several node transitions as one batch
// (workflow.BatchRecorder): one write and one fsync for all of them, then
// runtime.yaml as Sync rewrites it. It returns once they are all durable;
// see AppendBatch for what an error leaves.
func (r *Run) RecordBatch(evs []workflow.Event) error {
	if err := r.saveSecrets(evs...); err != nil {
		return err
	}
	recs := make([]Record, len(evs))
	for i, ev := range evs {
		recs[i] = transition(ev)
	}
	n, refused := r.stage(recs)
	if n == 0 {
		return refused
	}
	if err := r.Sync(); err != nil {
		return err
	}
	return refused
}

// AppendBatch journals records as one batch, the group commit: each gets
// its Seq and is validated as Append does, against the run as the records
// before it (durable, staged or earlier in the batch) leave it; the
// documents are then written, together with any staged before them, with
// one write and one fsync. The file format is unchanged: a batch is
// several documents, each with its own checksum, and a batch torn by a
// crash is repaired like a torn record (the torn document is cut; the
// whole documents before it stay). When a record is refused, the records
// before it are still written and the error names the refused one; after a
// failed write or fsync the Run is poisoned.
func (r *Run) AppendBatch(recs []Record) error {
	n, refused := r.stage(recs)
	if n == 0 {
		return refused
	}
	if _, err := r.sync(); err != nil {
		return err
	}
	return refused
}

// stage checks and encodes recs in order and queues them for the next
// sync, stopping at the first one refused: it returns how many it staged
// and the refusal. Seq and the transition checks count the records staged
// or being written before them.
func (r *Run) stage(recs []Record) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, fmt.Errorf("append to run %s: closed", r.ID())
	}
	if r.err != nil {
		return 0, fmt.Errorf("append to run %s: an earlier write failed (%w); open the run again to repair it", r.ID(), r.err)
	}
	var refused error
	n := 0
	for n < len(recs) {
		rec := &recs[n]
		if by := cmp.Or(r.aheadBy, r.rf.SupersededBy); r.rf.Outcome == OutcomeSuperseded || r.aheadBy != "" {
			refused = fmt.Errorf("append to run %s: superseded by run %s", r.ID(), by)
			break
		}
		rec.Seq = r.rf.nextSeq() + uint64(r.aheadN)
		if rec.Time.IsZero() {
			rec.Time = r.s.now()
		}
		rec.Time = rec.Time.UTC()
		if err := r.rf.checkWith(rec, r.ahead); err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				err = fmt.Errorf("run %s: refusing record %d: %s", r.ID(), rec.Seq, ce.Reason)
			}
			refused = err
			break
		}
		if err := checkSecrets(rec, r.rf.projections()); err != nil {
			refused = fmt.Errorf("run %s: record %d: node %s: %w", r.ID(), rec.Seq, rec.Node, err)
			break
		}
		if err := r.secrets.check(rec); err != nil {
			refused = fmt.Errorf("run %s: record %d: node %s: %w", r.ID(), rec.Seq, rec.Node, err)
			break
		}
		doc, err := encodeRecord(*rec)
		if err != nil {
			refused = err
			break
		}
		r.pend = append(r.pend, doc...)
		r.pendRecs = append(r.pendRecs, *rec)
		r.aheadN++
		switch rec.Kind {
		case KindTransition:
			if r.ahead == nil {
				r.ahead = map[string]workflow.State{}
			}
			r.ahead[rec.Node] = rec.To
		case KindSuperseded:
			r.aheadBy = rec.By
		}
		n++
	}
	return n, refused
}

// sync writes what is staged with one write and one fsync and applies it
// to the replayed run; it returns the records it wrote. Staging goes on
// while it writes (mu is not held across the write).
func (r *Run) sync() ([]Record, error) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.mu.Lock()
	if r.f == nil {
		r.mu.Unlock()
		return nil, fmt.Errorf("append to run %s: closed", r.ID())
	}
	if r.err != nil {
		r.mu.Unlock()
		return nil, fmt.Errorf("append to run %s: an earlier write failed (%w); open the run again to repair it", r.ID(), r.err)
	}
	f, data, recs := r.f, r.pend, r.pendRecs
	r.pend, r.pendRecs = nil, nil
	r.mu.Unlock()
	if len(recs) == 0 {
		return nil, nil
	}
	err := f.Append(r.s.ctx(), data)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.err = err
		return nil, err
	}
	for _, rec := range recs {
		r.rf.apply(rec)
	}
	r.rf.Size += int64(len(data))
	r.syncs++
	if r.aheadN -= len(recs); r.aheadN == 0 {
		r.ahead, r.aheadBy = nil, ""
	}
	return recs, nil
}

// WriteRuntime replaces runtime.yaml with the projection of the run so
// far. The recorder calls it after a record of a node that Projects.
func (r *Run) WriteRuntime() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.updateRuntime()
}

// updateRuntime replaces runtime.yaml with the projection; r.mu held.
func (r *Run) updateRuntime() error {
	if r.noRuntime {
		return nil
	}
	if err := r.s.WriteRuntime(Project(r.base, r.rf)); err != nil {
		return fmt.Errorf("run %s: update runtime: %w", r.ID(), err)
	}
	return nil
}

// Close closes the run file. The run stays as it is: unfinished unless
// Finish was called.
func (r *Run) Close() error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// LogSink returns the sink for node logs: runs/<id>/<node>.log (a node
// name with slashes gets subdirectories), mode 0600, appended across
// attempts, each attempt starting with a separator line.
func (r *Run) LogSink() workflow.LogSink { return r.s.LogSink(r.ID()) }

// checkSecrets refuses records whose outputs look like secret material,
// and malformed outputs of the nodes runtime.yaml projects, as a
// *workflow.RefusedError of the outputs (the scheduler fails the node). It
// is a cheap guard, not a scanner; see secretLike and the package
// documentation (Secrets).
func checkSecrets(rec *Record, provides map[string]provider) error {
	refuse := func(err error) error {
		return &workflow.RefusedError{Field: workflow.RefusedOutputs, Err: err}
	}
	for _, k := range slices.Sorted(maps.Keys(rec.Outputs)) {
		if why := secretLike(k, rec.Outputs[k]); why != "" {
			return refuse(fmt.Errorf("%w: output %q %s; write it to a file under the secrets directory ($K0RDENT_SECRETS_DIR) and output its path", ErrSecret, k, why))
		}
	}
	if rec.Kind != KindTransition || rec.To != workflow.Succeeded {
		return nil
	}
	// The facts runtime.yaml projects must parse: checked on the node and
	// output key the run declares for them.
	output := func(fact string) (string, string, bool) {
		p, ok := provides[fact]
		if !ok || p.node != rec.Node {
			return "", "", false
		}
		v, ok := rec.Outputs[p.key]
		return p.key, v, ok
	}
	if k, v, ok := output(FactWireGuardPeers); ok {
		if _, err := parsePeers(v); err != nil {
			return refuse(fmt.Errorf("output %q: %w", k, err))
		}
	}
	if k, v, ok := output(FactVPNStatus); ok && !validVPNStatus(v) {
		return refuse(fmt.Errorf("output %q: %q, want connected, disconnected or unverified", k, v))
	}
	return nil
}

// secretLike says why output key=value looks like a secret, or "". Values
// are matched by shape where a secret has one (a PEM private key block, a
// kubeconfig client key, a private_key field); a WireGuard private key
// looks exactly like a public key, so other secrets are matched by name:
// see secretName. A value that is a path, or a key naming a path, passes.
func secretLike(key, value string) string {
	switch {
	case strings.Contains(value, "PRIVATE KEY-----"):
		return "holds a PEM private key"
	case strings.Contains(value, "client-key-data:"), strings.Contains(value, "client-key-data\""):
		return "holds a kubeconfig client key"
	case strings.Contains(value, "\"private_key\"") || strings.Contains(value, "PrivateKey"):
		return "holds a private key field"
	}
	if value == "" || strings.HasPrefix(value, "/") || !secretName(key) {
		return ""
	}
	words := splitKey(key)
	switch words[len(words)-1] {
	case "path", "file", "dir":
		return ""
	}
	return "is named like a secret and is not a path"
}

// secretName reports whether an output name names secret material: it
// contains private_key (privatekey, private-key, privateKey),
// client_key_data, password or passwd, or its last word is secret or
// token (client_secret, sas_token). Names that merely contain "private"
// (private_ips) or "secret" elsewhere (secret_name) are not secret names.
func secretName(key string) bool {
	words := splitKey(key)
	joined := strings.Join(words, "")
	for _, s := range []string{"privatekey", "clientkeydata", "password", "passwd"} {
		if strings.Contains(joined, s) {
			return true
		}
	}
	last := words[len(words)-1]
	return last == "secret" || last == "token"
}

// splitKey splits an output name into lower-case words at _, -, . and
// lower-to-upper case changes; it never returns an empty slice.
func splitKey(key string) []string {
	var words []string
	start := 0
	for i := 0; i <= len(key); i++ {
		boundary := i == len(key) || key[i] == '_' || key[i] == '-' || key[i] == '.'
		camel := i > 0 && i < len(key) && key[i] >= 'A' && key[i] <= 'Z' && key[i-1] >= 'a' && key[i-1] <= 'z'
		if boundary || camel {
			if i > start {
				words = append(words, strings.ToLower(key[start:i]))
			}
			start = i
			if boundary {
				start = i + 1
			}
		}
	}
	if len(words) == 0 {
		return []string{""}
	}
	return words
}

// parsePeers decodes the wireguard peers output, refusing unknown fields
// (such as private_key).
func parsePeers(v string) ([]Peer, error) {
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	var peers []Peer
	if err := dec.Decode(&peers); err != nil {
		return nil, fmt.Errorf("want a JSON array of {name,address,public_key,role,endpoint}: %w", err)
	}
	return peers, nil
}
