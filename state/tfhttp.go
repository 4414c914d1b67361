package state

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
)

// TerraformStateFile is the name of Terraform's own state: the object a
// TerraformStater keeps (at the top of the store, beside runtime.yaml),
// and the file Terraform's local backend keeps in the terraform work dir
// (TerraformDir) of a store that does not.
const TerraformStateFile = "terraform.tfstate"

// TerraformStater is an optional Backend capability: the store keeps
// Terraform's own state as one object, replaced as a whole under a
// version condition, and ServeTerraformState hands it to Terraform
// through Terraform's http backend, so that Terraform saves its state in
// the store as it works (a crash mid-apply loses nothing Terraform had
// saved). BlobBackend has it. A backend without it (LocalBackend) leaves
// Terraform's state to Terraform's local backend: terraform.tfstate in
// the terraform work dir, which is in the state directory itself.
type TerraformStater interface {
	// ReadTerraformState returns the state's bytes and its version (an
	// opaque tag that changes with every write); ErrNotFound if there is
	// none.
	ReadTerraformState(ctx context.Context) (data []byte, version string, err error)
	// WriteTerraformState replaces the state with data, durably, on
	// condition that its version is still ifVersion ("": that there is
	// none), and returns the new version. Only the holder of the store
	// lock writes (ErrNotLocked otherwise); a state that changed since
	// ifVersion is ErrTerraformStateChanged and nothing is written. A
	// write whose response was lost is found written, not refused.
	WriteTerraformState(ctx context.Context, data []byte, ifVersion string) (version string, err error)
}

// ErrTerraformStateChanged: Terraform's state in the store is not the
// version the writer read (another process wrote it).
var ErrTerraformStateChanged = errors.New("state: Terraform's state changed in the store since this process read it")

var _ TerraformStater = (*BlobBackend)(nil)

// ---- the blob backend's Terraform state ----

// ReadTerraformState downloads the terraform.tfstate blob.
func (b *BlobBackend) ReadTerraformState(ctx context.Context) ([]byte, string, error) {
	data, etag, err := b.download(ctx, b.name(TerraformStateFile))
	if err != nil {
		return nil, "", blobNotFound(err, "read "+b.Location()+"/"+TerraformStateFile)
	}
	return data, string(*etag), nil
}

// WriteTerraformState replaces the terraform.tfstate blob (one Put Blob
// with an MD5 check) under an ETag condition, as the holder of the lease.
func (b *BlobBackend) WriteTerraformState(ctx context.Context, data []byte, ifVersion string) (string, error) {
	b.mu.Lock()
	held := b.held
	b.mu.Unlock()
	if held == nil {
		return "", fmt.Errorf("write %s/%s: %w", b.Location(), TerraformStateFile, ErrNotLocked)
	}
	if err := held.Lost(); err != nil {
		return "", fmt.Errorf("write %s/%s: %w", b.Location(), TerraformStateFile, err)
	}
	name := b.name(TerraformStateFile)
	cond := &blob.ModifiedAccessConditions{}
	if ifVersion == "" {
		cond.IfNoneMatch = to.Ptr(azcore.ETagAny)
	} else {
		cond.IfMatch = to.Ptr(azcore.ETag(ifVersion))
	}
	etag, err := b.upload(ctx, name, data, &blob.AccessConditions{ModifiedAccessConditions: cond}, nil)
	if err == nil {
		return string(*etag), nil
	}
	if !bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.BlobAlreadyExists) {
		return "", fmt.Errorf("write %s/%s: %w", b.Location(), TerraformStateFile, blobErr(err))
	}
	// The SDK retries a request whose response was lost: the retry
	// fails its condition against our own write. What is there is ours
	// if it is byte for byte what we wrote.
	now, etag, rerr := b.download(ctx, name)
	if rerr == nil && bytes.Equal(now, data) {
		return string(*etag), nil
	}
	return "", fmt.Errorf("write %s/%s: %w (does another k0rdent hold the store lock? see `k0rdent status`)", b.Location(), TerraformStateFile, ErrTerraformStateChanged)
}

// ---- the store ----

// KeepsTerraformState reports whether the store keeps Terraform's state
// itself (its backend is a TerraformStater: serve it to Terraform with
// ServeTerraformState); if not, Terraform keeps terraform.tfstate in its
// work dir.
func (s *Store) KeepsTerraformState() bool {
	_, ok := s.b.(TerraformStater)
	return ok
}

// ServeTerraformState serves the store's Terraform state to Terraform's
// http backend on 127.0.0.1 (a random port) until Close; see
// TerraformHTTP. The store must keep Terraform's state
// (KeepsTerraformState). Writes are accepted only while this process
// holds the store lock; without it (status --check) the state is served
// read-only.
//
// Moving in: when the store has no Terraform state yet and the terraform
// work dir holds a terraform.tfstate (a local state pushed before the
// store kept Terraform's state), it becomes the store's state first, once
// (under the lock; read-only, it is served as it is), and the work dir's
// copies (terraform.tfstate and .backup) are removed, so Terraform never
// starts empty and never sees two states. A work dir copy left by a crash
// after that is removed again if it is not newer than the store's, and
// refused (nothing served) if it is.
//
// Under the lock it first puts back the secrets and the terraform work
// dir (SaveSecrets, SaveWorkDir): the resources Terraform is about to
// create are named after the cluster id kept in the work dir and hold
// the SSH key kept in secrets, which the terraform node may have just
// made; a crash mid-apply must not lose them while Terraform's state,
// which refers to them, survives.
func (s *Store) ServeTerraformState(ctx context.Context) (*TerraformHTTP, error) {
	ts, ok := s.b.(TerraformStater)
	if !ok {
		return nil, fmt.Errorf("state %s keeps no Terraform state (Terraform keeps terraform.tfstate in its work dir)", s.Location())
	}
	s.mu.Lock()
	locked := s.lock != nil
	s.mu.Unlock()
	if locked {
		// Durable before acting: what Terraform is about to create is
		// named after the cluster id (the work dir) and holds the SSH
		// key (secrets) that this run may have just made.
		if err := s.b.SaveSecrets(ctx); err != nil {
			return nil, fmt.Errorf("terraform state: save the secrets first: %w", err)
		}
		if err := s.b.SaveWorkDir(ctx, TerraformDir); err != nil {
			return nil, fmt.Errorf("terraform state: save the work dir first: %w", err)
		}
	}
	srv := &TerraformHTTP{ts: ts, loc: s.Location() + "/" + TerraformStateFile}
	if err := srv.load(ctx, s.b); err != nil {
		return nil, err
	}
	if err := srv.listen(); err != nil {
		return nil, err
	}
	return srv, nil
}

// tfStateMeta reads a Terraform state's lineage and serial.
func tfStateMeta(data []byte) (lineage string, serial int64, err error) {
	var m struct {
		Version *int   `json:"version"`
		Lineage string `json:"lineage"`
		Serial  int64  `json:"serial"`
	}
	if err := json.Unmarshal(data, &m); err != nil || m.Version == nil {
		if err == nil {
			err = errors.New("no version field")
		}
		return "", 0, fmt.Errorf("not a Terraform state: %v", err)
	}
	return m.Lineage, m.Serial, nil
}

// tfStateNotOlder says whether state a may replace state b: b is absent,
// or both have the same lineage and a's serial is not lower (Terraform's
// own rule for `terraform state push`).
func tfStateNotOlder(a, b []byte) error {
	if b == nil {
		return nil
	}
	la, sa, err := tfStateMeta(a)
	if err != nil {
		return err
	}
	lb, sb, err := tfStateMeta(b)
	if err != nil {
		return err
	}
	if la != lb {
		return fmt.Errorf("lineage %s differs from %s: another deployment's Terraform state", la, lb)
	}
	if sa < sb {
		return fmt.Errorf("serial %d is older than %d", sa, sb)
	}
	return nil
}

// ---- the http backend ----

// TerraformHTTP serves one store's Terraform state to Terraform's http
// backend (https://developer.hashicorp.com/terraform/language/backend/http)
// on 127.0.0.1:
//
//   - GET returns the state (404 when there is none); POST replaces it,
//     and answers 200 only once the store has it durably (the blob's Put
//     completed, its MD5 checked), under the version this server last
//     read or wrote (an ETag condition): so what Terraform saved is never
//     lost, and a process that lost the store lock cannot overwrite the
//     next holder's state. A refused POST is 409 (Err says why); a body
//     whose Content-MD5 does not match, or that is not a Terraform state,
//     is 400; nothing is written then. DELETE is refused (405).
//   - LOCK and UNLOCK (Terraform's defaults, on Address too) are an
//     in-memory lock of this server: a second locker gets 423 with the
//     holder's lock info. That is safe because the store lock stands
//     behind it: only the process that holds the store lock (a lease on
//     the lock blob) writes, every write is conditional on the version
//     it last saw, and the server lives no longer than its process. A
//     Terraform lock never outlives a dead k0rdent, so no
//     `terraform force-unlock` is ever needed, while two terraform
//     processes of one run still exclude each other.
//   - Every request needs HTTP basic auth: Username and Password, random
//     per server. Hand the password to terraform in TF_HTTP_PASSWORD
//     only: never on a command line (other users see it in ps) or in a
//     file that is kept (-backend-config values are saved in
//     .terraform/).
type TerraformHTTP struct {
	// Address is the state's URL; Terraform's address, lock_address and
	// unlock_address.
	Address string
	// Username is the basic auth user ("k0rdent").
	Username string
	// Password is the basic auth password: 32 random hex digits.
	Password string

	ts  TerraformStater
	loc string // for messages
	ln  net.Listener
	srv *http.Server

	mu       sync.Mutex // guards everything below; held for a whole request
	version  string     // of the store's state as last read or written; "" none
	readOnly []byte     // a work dir state served read-only (not moved in: no lock)
	lockInfo []byte     // the Terraform lock holder's info (JSON), nil if free
	lockID   string
	err      error // the last refusal
	saves    int
}

// load reads the store's state (or moves the work dir's in) and its
// version.
func (s *TerraformHTTP) load(ctx context.Context, b Backend) error {
	data, version, err := s.ts.ReadTerraformState(ctx)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	s.version = version
	dir, werr := b.WorkDir(ctx, TerraformDir)
	if werr != nil {
		return werr
	}
	local := filepath.Join(dir, TerraformStateFile)
	old, rerr := os.ReadFile(local)
	if errors.Is(rerr, os.ErrNotExist) {
		return nil
	}
	if rerr != nil {
		return fmt.Errorf("terraform state: %w", rerr)
	}
	if data != nil {
		// A copy the move-in left behind (a crash before it was removed).
		if err := tfStateNotOlder(data, old); err != nil {
			return fmt.Errorf("terraform state: %s holds Terraform's state and the work dir a %s that is not older (%v): "+
				"keep the right one (k0rdent state pull, compare, then remove the other) before running again", s.loc, TerraformStateFile, err)
		}
	} else {
		if _, _, err := tfStateMeta(old); err != nil {
			return fmt.Errorf("terraform state: the work dir's %s: %w", TerraformStateFile, err)
		}
		v, err := s.ts.WriteTerraformState(ctx, old, "")
		if errors.Is(err, ErrNotLocked) {
			s.readOnly = old // status --check on a store not moved in yet
			return nil
		}
		if err != nil {
			return fmt.Errorf("terraform state: move the work dir's %s into %s: %w", TerraformStateFile, s.loc, err)
		}
		s.version = v
	}
	for _, n := range []string{TerraformStateFile, TerraformStateFile + ".backup"} {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("terraform state: %w", err)
		}
	}
	return b.SaveWorkDir(ctx, TerraformDir)
}

func (s *TerraformHTTP) listen() error {
	var p [16]byte
	if _, err := rand.Read(p[:]); err != nil {
		return fmt.Errorf("terraform state server: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("terraform state server: %w", err)
	}
	s.ln, s.Username, s.Password = ln, "k0rdent", hex.EncodeToString(p[:])
	s.Address = "http://" + ln.Addr().String() + "/" + TerraformStateFile
	mux := http.NewServeMux()
	mux.HandleFunc("/"+TerraformStateFile, s.serve)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go s.srv.Serve(ln)
	return nil
}

// Close stops serving (requests in flight finish first).
func (s *TerraformHTTP) Close() error {
	if s == nil || s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// Backend is the state's URL and the basic auth credentials, for
// Terraform's http backend (address, lock_address, unlock_address,
// username; the password in TF_HTTP_PASSWORD).
func (s *TerraformHTTP) Backend() (address, username, password string) {
	return s.Address, s.Username, s.Password
}

// HasState reports whether the store has a Terraform state (from the
// start or saved since).
func (s *TerraformHTTP) HasState() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version != "" || s.readOnly != nil
}

// Saves counts the states Terraform saved through this server.
func (s *TerraformHTTP) Saves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}

// Err is why the server last refused a request Terraform made with the
// right credentials (nil if it never did): Terraform reports only a
// status code.
func (s *TerraformHTTP) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// maxTerraformState bounds a POST body.
const maxTerraformState = 512 << 20

func (s *TerraformHTTP) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="k0rdent"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	if subtle.ConstantTimeCompare([]byte(user), []byte(s.Username)) != 1 || subtle.ConstantTimeCompare([]byte(pass), []byte(s.Password)) != 1 {
		http.Error(w, "invalid credentials", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A request that reached us completes its write even if terraform
	// goes away meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Minute)
	defer cancel()
	switch r.Method {
	case http.MethodGet:
		s.get(ctx, w)
	case http.MethodPost:
		s.post(ctx, w, r)
	case "LOCK":
		s.lock(w, r)
	case "UNLOCK":
		s.unlock(w, r)
	default:
		s.refuse(w, http.StatusMethodNotAllowed, fmt.Errorf("%s of Terraform's state: not supported by k0rdent", r.Method))
	}
}

// refuse answers code and keeps the reason for Err.
func (s *TerraformHTTP) refuse(w http.ResponseWriter, code int, err error) {
	s.err = err
	http.Error(w, err.Error(), code)
}

func (s *TerraformHTTP) get(ctx context.Context, w http.ResponseWriter) {
	if s.readOnly != nil {
		writeState(w, s.readOnly)
		return
	}
	data, version, err := s.ts.ReadTerraformState(ctx)
	if errors.Is(err, ErrNotFound) {
		s.version = ""
		http.Error(w, "no state", http.StatusNotFound)
		return
	}
	if err != nil {
		s.refuse(w, http.StatusInternalServerError, err)
		return
	}
	s.version = version
	writeState(w, data)
}

func writeState(w http.ResponseWriter, data []byte) {
	sum := md5.Sum(data)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	w.Write(data)
}

func (s *TerraformHTTP) post(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	if id := r.URL.Query().Get("ID"); s.lockInfo != nil && id != s.lockID {
		s.refuse(w, http.StatusConflict, fmt.Errorf("save of Terraform's state with lock id %q: the state is locked by %s", id, s.lockID))
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxTerraformState+1))
	if err != nil {
		s.refuse(w, http.StatusBadRequest, fmt.Errorf("save of Terraform's state: %w", err))
		return
	}
	if len(data) > maxTerraformState {
		s.refuse(w, http.StatusRequestEntityTooLarge, fmt.Errorf("save of Terraform's state: larger than %d bytes", maxTerraformState))
		return
	}
	if want := r.Header.Get("Content-MD5"); want != "" {
		sum := md5.Sum(data)
		if got := base64.StdEncoding.EncodeToString(sum[:]); got != want {
			s.refuse(w, http.StatusBadRequest, fmt.Errorf("save of Terraform's state: Content-MD5 %s, body has %s (a damaged request): nothing written", want, got))
			return
		}
	}
	if _, _, err := tfStateMeta(data); err != nil {
		s.refuse(w, http.StatusBadRequest, fmt.Errorf("save of Terraform's state: %w: nothing written", err))
		return
	}
	if s.readOnly != nil {
		s.refuse(w, http.StatusConflict, fmt.Errorf("save of Terraform's state to %s: %w", s.loc, ErrNotLocked))
		return
	}
	v, err := s.ts.WriteTerraformState(ctx, data, s.version)
	if err != nil {
		s.refuse(w, http.StatusConflict, err)
		return
	}
	s.version = v
	s.saves++
	w.WriteHeader(http.StatusOK)
}

// lockRequest reads a LOCK or UNLOCK body: Terraform's lock info.
func lockRequest(r *http.Request) ([]byte, string, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, "", err
	}
	var info struct{ ID string }
	if err := json.Unmarshal(body, &info); err != nil || info.ID == "" {
		return nil, "", fmt.Errorf("lock info without an ID: %v", err)
	}
	return body, info.ID, nil
}

func (s *TerraformHTTP) lock(w http.ResponseWriter, r *http.Request) {
	body, id, err := lockRequest(r)
	if err != nil {
		s.refuse(w, http.StatusBadRequest, fmt.Errorf("lock of Terraform's state: %w", err))
		return
	}
	if s.lockInfo != nil && s.lockID != id {
		s.err = fmt.Errorf("lock of Terraform's state: held by %s", s.lockID)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusLocked)
		w.Write(s.lockInfo)
		return
	}
	s.lockInfo, s.lockID = body, id
	w.WriteHeader(http.StatusOK)
}

func (s *TerraformHTTP) unlock(w http.ResponseWriter, r *http.Request) {
	_, id, err := lockRequest(r)
	if err != nil {
		s.refuse(w, http.StatusBadRequest, fmt.Errorf("unlock of Terraform's state: %w", err))
		return
	}
	if s.lockInfo != nil && s.lockID != id {
		s.refuse(w, http.StatusConflict, fmt.Errorf("unlock of Terraform's state with id %s: held by %s", id, s.lockID))
		return
	}
	s.lockInfo, s.lockID = nil, ""
	w.WriteHeader(http.StatusOK)
}
