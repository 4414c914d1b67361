package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// LogReader is an optional Backend capability: the whole log of a node
// (TailLog reads only its end). Transfer copies logs only between
// backends that have it; both built-in ones do.
type LogReader interface {
	ReadLog(ctx context.Context, id, node string) ([]byte, error)
}

var (
	_ LogReader = (*LocalBackend)(nil)
	_ LogReader = (*BlobBackend)(nil)
)

// ReadLog reads the whole log of node in run id.
func (b *LocalBackend) ReadLog(_ context.Context, id, node string) ([]byte, error) {
	if err := checkRunID(id); err != nil {
		return nil, fmt.Errorf("node log: %w", err)
	}
	if err := checkRelName(node); err != nil {
		return nil, fmt.Errorf("node log: %w", err)
	}
	data, err := os.ReadFile(b.LogPath(id, node))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%w: log %s", ErrNotFound, b.LogPath(id, node))
	}
	return data, err
}

// ReadLog reads the whole log of node in run id.
func (b *BlobBackend) ReadLog(ctx context.Context, id, node string) ([]byte, error) {
	n, err := b.logName(id, node)
	if err != nil {
		return nil, fmt.Errorf("node log: %w", err)
	}
	data, _, err := b.download(ctx, n)
	if err != nil {
		return nil, blobNotFound(err, "log "+b.LogLocation(id, node))
	}
	return data, nil
}

// TransferOptions are what Transfer copies besides journals, the runtime
// snapshot and secrets: names the backend cannot list.
type TransferOptions struct {
	// RunFiles are the names of the files kept beside each run's logs
	// (the config the run started with).
	RunFiles []string
	// WorkDirs are the phases' work dirs (Terraform's, k0sctl's).
	WorkDirs []string
	// Command is the holder record's command while both locks are held.
	Command string
}

// TransferReport says what Transfer did.
type TransferReport struct {
	Journals  int      // journals in the source
	Copied    int      // journals created in the target
	Extended  int      // journals the target had a prefix of, completed
	Same      int      // journals the target had already, byte for byte
	Torn      []string // source journals with a torn tail: their valid prefix was copied
	Secrets   int
	Logs      int
	RunFiles  int
	WorkFiles int
	// TerraformState: Terraform's state was written to the target.
	TerraformState bool
	Notes          []string
}

// ErrOtherDeployment: the target of a transfer holds another deployment.
var ErrOtherDeployment = errors.New("state: the target holds another deployment")

// Transfer copies one deployment's state from src to dst (`k0rdent state
// push` and `state pull`): every run journal, the runtime snapshot,
// secrets, run files, node logs and work dirs. It holds both stores'
// locks while it works (a live holder of either is a *LockedError) and
// never writes to src.
//
// It refuses (ErrOtherDeployment) a target that holds another
// deployment: a journal the source does not have, a journal that is not
// a prefix of the source's, or, with no journals, a runtime snapshot
// that differs. It is idempotent: what the target has already is not
// written again, and a transfer interrupted half-way is completed by the
// next one. Every journal of the target is read back at the end and
// checked (framing, checksums, sequence, transitions: Decode) and
// compared byte for byte with the source; the report is returned only
// when all of it verified.
func Transfer(ctx context.Context, src, dst Backend, o TransferOptions) (*TransferReport, error) {
	if o.Command == "" {
		o.Command = "k0rdent state transfer"
	}
	h := CurrentHolder(o.Command)
	sl, _, err := src.Lock(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Location(), err)
	}
	defer sl.Unlock(context.WithoutCancel(ctx))
	dl, _, err := dst.Lock(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", dst.Location(), err)
	}
	defer dl.Unlock(context.WithoutCancel(ctx))

	rep := &TransferReport{}
	srcIDs, err := src.ListJournals(ctx)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Location(), err)
	}
	dstIDs, err := dst.ListJournals(ctx)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", dst.Location(), err)
	}
	rep.Journals = len(srcIDs)

	// Read the source whole first: what is copied and what is verified.
	journals := map[string][]byte{}
	for _, id := range srcIDs {
		data, err := readAllJournal(ctx, src, id)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", src.Location(), err)
		}
		rf := decodeBytes(data, src.Location()+" run "+id)
		if rf.Err != nil {
			return nil, fmt.Errorf("source %s: run %s: %w (the source must load cleanly before it is copied)", src.Location(), id, rf.Err)
		}
		if rf.Torn {
			rep.Torn = append(rep.Torn, id)
			data = data[:rf.Size]
		}
		journals[id] = data
	}
	srcRuntime, err := src.ReadRuntime(ctx)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("source %s: %w", src.Location(), err)
	}

	// The target: empty, or a prefix of this deployment.
	have := map[string][]byte{}
	for _, id := range dstIDs {
		data, err := readAllJournal(ctx, dst, id)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", dst.Location(), err)
		}
		want, ok := journals[id]
		if !ok {
			return nil, fmt.Errorf("%w: %s has run %s, which %s does not; push to another container or prefix", ErrOtherDeployment, dst.Location(), id, src.Location())
		}
		if !bytes.HasPrefix(want, data) {
			return nil, fmt.Errorf("%w: run %s in %s differs from the one in %s; push to another container or prefix", ErrOtherDeployment, id, dst.Location(), src.Location())
		}
		have[id] = data
	}
	if len(dstIDs) == 0 {
		dstRuntime, err := dst.ReadRuntime(ctx)
		if err == nil && !bytes.Equal(dstRuntime, srcRuntime) {
			return nil, fmt.Errorf("%w: %s has a runtime snapshot but no runs; push to another container or prefix", ErrOtherDeployment, dst.Location())
		}
	}

	// Journals: created whole, or completed at document boundaries.
	for _, id := range srcIDs {
		want, got := journals[id], have[id]
		switch {
		case got == nil:
			hdr := firstDocEnd(want)
			j, err := dst.CreateJournal(ctx, id, want[:hdr])
			if err != nil {
				return nil, fmt.Errorf("target %s: %w", dst.Location(), err)
			}
			err = appendDocs(ctx, j, want[hdr:])
			j.Close()
			if err != nil {
				return nil, fmt.Errorf("target %s: run %s: %w", dst.Location(), id, err)
			}
			rep.Copied++
		case len(got) < len(want):
			j, err := dst.OpenJournal(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("target %s: %w", dst.Location(), err)
			}
			err = appendDocs(ctx, j, want[len(got):])
			j.Close()
			if err != nil {
				return nil, fmt.Errorf("target %s: run %s: %w", dst.Location(), id, err)
			}
			rep.Extended++
		default:
			rep.Same++
		}
	}

	// Secrets.
	names, err := src.ListSecrets(ctx)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Location(), err)
	}
	for _, n := range names {
		v, err := src.GetSecret(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", src.Location(), err)
		}
		if old, err := dst.GetSecret(ctx, n); err == nil && bytes.Equal(old, v) {
			continue
		}
		if err := dst.PutSecret(ctx, n, v); err != nil {
			return nil, fmt.Errorf("target %s: %w", dst.Location(), err)
		}
		rep.Secrets++
	}

	// Run files and logs.
	sl2, sok := src.(LogReader)
	dl2, dok := dst.(LogReader)
	if !sok || !dok {
		rep.Notes = append(rep.Notes, "node logs not copied: a backend cannot read whole logs")
	}
	for _, id := range srcIDs {
		for _, name := range o.RunFiles {
			v, err := src.ReadRunFile(ctx, id, name)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("source %s: %w", src.Location(), err)
			}
			if old, err := dst.ReadRunFile(ctx, id, name); err == nil && bytes.Equal(old, v) {
				continue
			}
			if err := dst.WriteRunFile(ctx, id, name, v); err != nil {
				return nil, fmt.Errorf("target %s: %w", dst.Location(), err)
			}
			rep.RunFiles++
		}
		if !sok || !dok {
			continue
		}
		rf := decodeBytes(journals[id], "")
		for _, node := range journalNodes(rf) {
			v, err := sl2.ReadLog(ctx, id, node)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("source %s: %w", src.Location(), err)
			}
			old, err := dl2.ReadLog(ctx, id, node)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, fmt.Errorf("target %s: %w", dst.Location(), err)
			}
			if !bytes.HasPrefix(v, old) {
				rep.Notes = append(rep.Notes, fmt.Sprintf("log of %s in run %s differs in the target: left as it is", node, id))
				continue
			}
			if len(old) == len(v) {
				continue
			}
			w, err := dst.OpenLog(ctx, id, node)
			if err != nil {
				return nil, fmt.Errorf("target %s: %w", dst.Location(), err)
			}
			_, werr := w.Write(v[len(old):])
			if cerr := w.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				return nil, fmt.Errorf("target %s: log %s of run %s: %w", dst.Location(), node, id, werr)
			}
			rep.Logs++
		}
	}

	// Work dirs.
	for _, name := range o.WorkDirs {
		sd, err := src.WorkDir(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", src.Location(), err)
		}
		dd, err := dst.WorkDir(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", dst.Location(), err)
		}
		files, err := blobReadTree(sd, blobWorkSkip)
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("source %s: work dir %s: %w", src.Location(), name, err)
		}
		for _, f := range blobSortedKeys(files) {
			if name == TerraformDir && isTerraformStateFile(f) {
				continue // Terraform's state: below
			}
			if old, err := os.ReadFile(filepath.Join(dd, filepath.FromSlash(f))); err == nil && bytes.Equal(old, files[f]) {
				continue
			}
			if err := blobWritePrivate(dd, f, files[f]); err != nil {
				return nil, fmt.Errorf("target %s: work dir %s: %w", dst.Location(), name, err)
			}
			rep.WorkFiles++
		}
		if err := dst.SaveWorkDir(ctx, name); err != nil {
			return nil, fmt.Errorf("target %s: %w", dst.Location(), err)
		}
	}

	// Terraform's state: the store's own where a backend keeps it, else
	// terraform.tfstate in the terraform work dir.
	if len(o.WorkDirs) > 0 || isTerraformStater(src) || isTerraformStater(dst) {
		copied, err := transferTerraformState(ctx, src, dst)
		if err != nil {
			return nil, err
		}
		rep.TerraformState = copied
	}

	// Verify the journals, then write the runtime snapshot last: a
	// target whose snapshot is there was verified.
	for _, id := range srcIDs {
		data, err := readAllJournal(ctx, dst, id)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", dst.Location(), err)
		}
		rf := decodeBytes(data, dst.Location()+" run "+id)
		if rf.Err != nil || rf.Torn {
			return nil, fmt.Errorf("verify %s: run %s does not load cleanly after the copy (torn %v): %v", dst.Location(), id, rf.Torn, rf.Err)
		}
		if !bytes.Equal(data, journals[id]) {
			return nil, fmt.Errorf("verify %s: run %s differs from the source after the copy", dst.Location(), id)
		}
	}
	if srcRuntime != nil {
		if old, err := dst.ReadRuntime(ctx); err != nil || !bytes.Equal(old, srcRuntime) {
			if err := dst.WriteRuntime(ctx, srcRuntime); err != nil {
				return nil, fmt.Errorf("target %s: %w", dst.Location(), err)
			}
		}
	}
	return rep, nil
}

// readAllJournal reads a whole journal.
func readAllJournal(ctx context.Context, b Backend, id string) ([]byte, error) {
	jr, err := b.ReadJournal(ctx, id)
	if err != nil {
		return nil, err
	}
	defer jr.Close()
	data, err := io.ReadAll(io.NewSectionReader(jr, 0, jr.Size()))
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", id, err)
	}
	return data, nil
}

// firstDocEnd is the end of the first document (the header) of a valid
// journal.
func firstDocEnd(data []byte) int {
	if d, ok := parseDoc(data, 0); ok {
		return d.end
	}
	return len(data)
}

// appendDocs appends whole documents in batches of at most
// maxAppendBlock bytes, each batch ending at a document boundary.
func appendDocs(ctx context.Context, j Journal, data []byte) error {
	for len(data) > 0 {
		end := 0
		for off := 0; off < len(data); {
			d, ok := parseDoc(data, off)
			if !ok {
				return errors.New("journal bytes to copy are not whole documents")
			}
			if d.end > maxAppendBlock && end > 0 {
				break
			}
			end, off = d.end, d.end
		}
		if err := j.Append(ctx, data[:end]); err != nil {
			return err
		}
		data = data[end:]
	}
	return nil
}

// journalNodes are the nodes a run planned or recorded (whose logs may
// exist), sorted.
func journalNodes(rf *RunFile) []string {
	set := map[string]bool{}
	for _, n := range rf.Header.Nodes {
		set[n] = true
	}
	for _, r := range rf.Records {
		if r.Node != "" {
			set[r.Node] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		if checkRelName(n) == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// WriteText prints the report for people.
func (r *TransferReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d run journal(s): %d copied, %d completed, %d already there; every one verified (checksums, sequence, bytes)\n",
		r.Journals, r.Copied, r.Extended, r.Same)
	fmt.Fprintf(&b, "%d secret(s), %d run file(s), %d log(s), %d work file(s) written\n", r.Secrets, r.RunFiles, r.Logs, r.WorkFiles)
	if r.TerraformState {
		fmt.Fprintln(&b, "Terraform's state written")
	}
	for _, id := range r.Torn {
		fmt.Fprintf(&b, "run %s had a torn tail in the source: its valid prefix was copied\n", id)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(&b, "note:", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// isTerraformStateFile: the files of Terraform's local backend in its
// work dir, which Transfer copies as Terraform's state, not as work
// files.
func isTerraformStateFile(name string) bool {
	return name == TerraformStateFile || name == TerraformStateFile+".backup"
}

func isTerraformStater(b Backend) bool {
	_, ok := b.(TerraformStater)
	return ok
}

// readTerraformState reads b's Terraform state: the store's own if it
// keeps one, else (a local store, or a remote one no run has moved it
// into yet) the work dir's terraform.tfstate; nil if none. version is
// the store's version ("" if none).
func readTerraformState(ctx context.Context, b Backend) (data []byte, version string, err error) {
	if ts, ok := b.(TerraformStater); ok {
		data, version, err = ts.ReadTerraformState(ctx)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return data, version, err
		}
	}
	dir, err := b.WorkDir(ctx, TerraformDir)
	if err != nil {
		return nil, "", err
	}
	data, err = os.ReadFile(filepath.Join(dir, TerraformStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil
	}
	return data, "", err
}

// transferTerraformState copies Terraform's state from src to dst (each
// as readTerraformState finds it; written to dst's own store if it keeps
// one, else as terraform.tfstate in its work dir). A target whose state
// has another lineage or a higher serial is another deployment, or has
// moved on: refused, as `terraform state push` refuses it.
func transferTerraformState(ctx context.Context, src, dst Backend) (bool, error) {
	data, _, err := readTerraformState(ctx, src)
	if err != nil {
		return false, fmt.Errorf("source %s: terraform state: %w", src.Location(), err)
	}
	if data == nil {
		return false, nil
	}
	old, version, err := readTerraformState(ctx, dst)
	if err != nil {
		return false, fmt.Errorf("target %s: terraform state: %w", dst.Location(), err)
	}
	if bytes.Equal(old, data) && (version != "" || !isTerraformStater(dst)) {
		return false, nil
	}
	if err := tfStateNotOlder(data, old); err != nil {
		return false, fmt.Errorf("%w: Terraform's state in %s is not the source's or newer (%v); push to another container or prefix", ErrOtherDeployment, dst.Location(), err)
	}
	dir, err := dst.WorkDir(ctx, TerraformDir)
	if err != nil {
		return false, fmt.Errorf("target %s: %w", dst.Location(), err)
	}
	if ts, ok := dst.(TerraformStater); ok {
		if _, err := ts.WriteTerraformState(ctx, data, version); err != nil {
			return false, fmt.Errorf("target %s: %w", dst.Location(), err)
		}
		// A copy of a local backend's state left in the target's work
		// dir (pushed before the store kept Terraform's state) goes.
		for _, n := range []string{TerraformStateFile, TerraformStateFile + ".backup"} {
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return false, fmt.Errorf("target %s: %w", dst.Location(), err)
			}
		}
	} else if err := blobWritePrivate(dir, TerraformStateFile, data); err != nil {
		return false, fmt.Errorf("target %s: terraform state: %w", dst.Location(), err)
	}
	if err := dst.SaveWorkDir(ctx, TerraformDir); err != nil {
		return false, fmt.Errorf("target %s: %w", dst.Location(), err)
	}
	return true, nil
}
