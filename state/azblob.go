package state

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/appendblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"gopkg.in/yaml.v3"
)

// BlobConfig says where a deployment's state lives in Azure Blob Storage:
// blobs named <Prefix>/<name> (the layout of doc.go, as blob names) in
// Container of storage Account.
type BlobConfig struct {
	Account   string
	Container string
	Prefix    string // may be empty; no leading or trailing slash
	// ConnectionString, when set, authenticates with it (and its
	// BlobEndpoint: an emulator such as Azurite) instead of the Azure
	// SDK's default credential chain (azidentity.DefaultAzureCredential:
	// environment, workload identity, managed identity, Azure CLI).
	ConnectionString string
	// LeasePeriod is how long the store lock outlives a holder that
	// stops renewing it (a dead process): 15s to 60s (Azure's bounds);
	// zero means 60s.
	LeasePeriod time.Duration
	// TryTimeout bounds one request (zero: 30s); a request that does not
	// complete in time is retried, and an append whose response is lost is
	// reconciled (see blobJournal.Append).
	TryTimeout time.Duration
}

// StateURLScheme is the scheme of --state-url: azblob://account/container/prefix.
const StateURLScheme = "azblob"

// ParseStateURL parses azblob://<account>/<container>[/<prefix>]. The
// connection string for an emulator comes from the environment
// (AZURE_STORAGE_CONNECTION_STRING), never from the URL.
func ParseStateURL(raw string) (BlobConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return BlobConfig{}, fmt.Errorf("state url %q: %v; want azblob://ACCOUNT/CONTAINER[/PREFIX]", raw, err)
	}
	if u.Scheme != StateURLScheme || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return BlobConfig{}, fmt.Errorf("state url %q: want azblob://ACCOUNT/CONTAINER[/PREFIX]", raw)
	}
	parts := strings.SplitN(strings.Trim(u.Path, "/"), "/", 2)
	cfg := BlobConfig{Account: u.Host, Container: parts[0]}
	if len(parts) == 2 {
		cfg.Prefix = parts[1]
	}
	return cfg, cfg.Validate()
}

// Validate checks the names against Azure's rules, each error naming the
// field and the fix.
func (c BlobConfig) Validate() error {
	var errs []error
	for _, f := range []struct {
		name, value string
		check       func(string) error
	}{{"account", c.Account, CheckBlobAccount}, {"container", c.Container, CheckBlobContainer}, {"prefix", c.Prefix, CheckBlobPrefix}} {
		if err := f.check(f.value); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", f.name, f.value, err))
		}
	}
	if c.LeasePeriod != 0 && (c.LeasePeriod < 15*time.Second || c.LeasePeriod > 60*time.Second) {
		errs = append(errs, fmt.Errorf("lease period %s: Azure leases last 15s to 60s", c.LeasePeriod))
	}
	return errors.Join(errs...)
}

// CheckBlobAccount, CheckBlobContainer and CheckBlobPrefix are Azure's
// rules for the names of a state URL (and the config's state section):
// nil, or what a valid name is.
func CheckBlobAccount(s string) error {
	if !blobValidAccount(s) {
		return errors.New("a storage account name is 3 to 24 lower-case letters and digits")
	}
	return nil
}

func CheckBlobContainer(s string) error {
	if !blobValidContainer(s) {
		return errors.New("a container name is 3 to 63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit")
	}
	return nil
}

// CheckBlobPrefix allows the empty prefix (the container's root).
func CheckBlobPrefix(s string) error {
	if s != "" && (strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || checkRelName(s) != nil) {
		return errors.New("a blob name prefix is a clean relative path without leading or trailing slash (e.g. team/prod)")
	}
	return nil
}

func blobValidAccount(s string) bool {
	if len(s) < 3 || len(s) > 24 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func blobValidContainer(s string) bool {
	if len(s) < 3 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// URL is the store's azblob:// URL (Location).
func (c BlobConfig) URL() string {
	u := StateURLScheme + "://" + c.Account + "/" + c.Container
	if c.Prefix != "" {
		u += "/" + c.Prefix
	}
	return u
}

// BlobBackend keeps a deployment's state in an Azure Blob Storage
// container (see doc.go, "Azure Blob Storage"). It implements Backend.
type BlobBackend struct {
	cfg   BlobConfig
	cc    *container.Client
	lease time.Duration

	mu          sync.Mutex // guards everything below
	runtimeETag *azcore.ETag
	held        *blobLease
	secretsDir  string            // materialised secrets, "" if none
	secretsSeen map[string][]byte // name -> value as materialised
	workDirs    map[string]string // name -> local dir
	workSeen    map[string]map[string][]byte
}

var _ Backend = (*BlobBackend)(nil)

// NewBlobBackend connects to the container of cfg and checks that the
// container exists (it does not create it: see README, "Working as a
// team").
func NewBlobBackend(ctx context.Context, cfg BlobConfig) (*BlobBackend, error) {
	b, err := OpenBlobBackend(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := b.cc.GetProperties(ctx, nil); err != nil {
		return nil, fmt.Errorf("state %s: %w", cfg.URL(), b.containerErr(err))
	}
	return b, nil
}

// containerErr words a missing container with its fix.
func (b *BlobBackend) containerErr(err error) error {
	if bloberror.HasCode(err, bloberror.ContainerNotFound) {
		return fmt.Errorf("container %q not found in account %q: create it (az storage container create --account-name %s --name %s --auth-mode login)",
			b.cfg.Container, b.cfg.Account, b.cfg.Account, b.cfg.Container)
	}
	return blobErr(err)
}

// OpenBlobBackend is NewBlobBackend without the round trip: a missing
// container or a refused credential shows at the first operation.
func OpenBlobBackend(cfg BlobConfig) (*BlobBackend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("state %s: %w", cfg.URL(), err)
	}
	try := cfg.TryTimeout
	if try == 0 {
		try = 30 * time.Second
	}
	opts := &container.ClientOptions{ClientOptions: policy.ClientOptions{
		Retry: policy.RetryOptions{MaxRetries: 3, TryTimeout: try, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 2 * time.Second},
	}}
	var (
		cc  *container.Client
		err error
	)
	if cfg.ConnectionString != "" {
		cc, err = container.NewClientFromConnectionString(cfg.ConnectionString, cfg.Container, opts)
	} else {
		var cred azcore.TokenCredential
		cred, err = azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			cred = failedCredential{fmt.Errorf("azure credentials (az login, or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET): %w", err)}
		}
		cc, err = container.NewClient("https://"+cfg.Account+".blob.core.windows.net/"+cfg.Container, cred, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", cfg.URL(), err)
	}
	lp := cfg.LeasePeriod
	if lp == 0 {
		lp = 60 * time.Second
	}
	return &BlobBackend{cfg: cfg, cc: cc, lease: lp}, nil
}

// blobErr shortens an SDK error to its status and code: the SDK's
// message spans many lines (request, headers).
func blobErr(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.ErrorCode == string(bloberror.ContainerNotFound) {
		return fmt.Errorf("%s: container not found: create it (az storage container create), or fix --state-url / state.container", re.RawResponse.Request.URL.Host+re.RawResponse.Request.URL.Path)
	}
	if errors.As(err, &re) {
		return fmt.Errorf("%s %s: %d %s", re.RawResponse.Request.Method, re.RawResponse.Request.URL.Path, re.StatusCode, re.ErrorCode)
	}
	return err
}

// name is the blob name of rel inside the prefix.
func (b *BlobBackend) name(rel string) string {
	if b.cfg.Prefix == "" {
		return rel
	}
	return b.cfg.Prefix + "/" + rel
}

// Location is the azblob:// URL.
func (b *BlobBackend) Location() string { return b.cfg.URL() }

// Config is the backend's configuration.
func (b *BlobBackend) Config() BlobConfig { return b.cfg }

// notFound maps a missing blob to ErrNotFound.
func blobNotFound(err error, what string) error {
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, blobErr(err))
}

// download reads a whole blob, with its ETag.
func (b *BlobBackend) download(ctx context.Context, name string) ([]byte, *azcore.ETag, error) {
	resp, err := b.cc.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	return data, resp.ETag, nil
}

// upload replaces a block blob atomically (one Put Blob), under cond.
func (b *BlobBackend) upload(ctx context.Context, name string, data []byte, cond *blob.AccessConditions, meta map[string]*string) (*azcore.ETag, error) {
	resp, err := b.cc.NewBlockBlobClient(name).Upload(ctx, blobBody(data), &blockblob.UploadOptions{
		AccessConditions: cond, Metadata: meta,
		TransactionalValidation: blob.TransferValidationTypeMD5(blobMD5(data)),
	})
	if err != nil {
		return nil, err
	}
	return resp.ETag, nil
}

// rsc wraps bytes for the SDK (which rewinds bodies to retry).
func blobBody(p []byte) io.ReadSeekCloser { return blobBodyReader{bytes.NewReader(p)} }

type blobBodyReader struct{ *bytes.Reader }

func (blobBodyReader) Close() error { return nil }

// list returns the names under dir/ (relative to it), sorted, and their
// sizes.
func (b *BlobBackend) list(ctx context.Context, dir string) (map[string]int64, error) {
	pfx := b.name(dir) + "/"
	out := map[string]int64{}
	pager := b.cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &pfx})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", pfx, blobErr(err))
		}
		for _, it := range page.Segment.BlobItems {
			if it.Name == nil {
				continue
			}
			var size int64
			if it.Properties != nil && it.Properties.ContentLength != nil {
				size = *it.Properties.ContentLength
			}
			out[strings.TrimPrefix(*it.Name, pfx)] = size
		}
	}
	return out, nil
}

// ---- runtime snapshot ----

// ReadRuntime downloads runtime.yaml and remembers its ETag for the next
// WriteRuntime.
func (b *BlobBackend) ReadRuntime(ctx context.Context) ([]byte, error) {
	data, etag, err := b.download(ctx, b.name(RuntimeFile))
	if err != nil {
		return nil, blobNotFound(err, "read "+b.Location()+"/"+RuntimeFile)
	}
	b.mu.Lock()
	b.runtimeETag = etag
	b.mu.Unlock()
	return data, nil
}

// WriteRuntime replaces runtime.yaml on condition that it is still the
// version this backend last read or wrote (its ETag), or absent if it
// has seen none: a writer that lost the lock to another process cannot
// overwrite what the new holder wrote.
func (b *BlobBackend) WriteRuntime(ctx context.Context, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	name := b.name(RuntimeFile)
	if b.runtimeETag == nil {
		// Never seen: take the current version as the base (the caller
		// holds the lock, so it is the previous holder's).
		props, err := b.cc.NewBlobClient(name).GetProperties(ctx, nil)
		switch {
		case err == nil:
			b.runtimeETag = props.ETag
		case bloberror.HasCode(err, bloberror.BlobNotFound):
		default:
			return fmt.Errorf("write %s/%s: %w", b.Location(), RuntimeFile, blobErr(err))
		}
	}
	cond := &blob.ModifiedAccessConditions{}
	if b.runtimeETag == nil {
		cond.IfNoneMatch = to.Ptr(azcore.ETagAny)
	} else {
		cond.IfMatch = b.runtimeETag
	}
	etag, err := b.upload(ctx, name, data, &blob.AccessConditions{ModifiedAccessConditions: cond}, nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.BlobAlreadyExists) {
			return fmt.Errorf("write %s/%s: another process replaced it since this one read it (ETag condition): has the lock been taken over?", b.Location(), RuntimeFile)
		}
		return fmt.Errorf("write %s/%s: %w", b.Location(), RuntimeFile, blobErr(err))
	}
	b.runtimeETag = etag
	return nil
}

// ---- run files (beside the logs) ----

func (b *BlobBackend) runFileName(id, name string) (string, error) {
	if !ValidRunID(id) {
		return "", fmt.Errorf("run id %q: want YYYYMMDD-HHMMSS-xxxx", id)
	}
	if err := checkRelName(name); err != nil {
		return "", err
	}
	return b.name(RunsDirName + "/" + id + "/" + name), nil
}

// WriteRunFile stores a file beside the run's logs (one Put Blob).
func (b *BlobBackend) WriteRunFile(ctx context.Context, id, name string, data []byte) error {
	n, err := b.runFileName(id, name)
	if err != nil {
		return fmt.Errorf("write run file: %w", err)
	}
	if _, err := b.upload(ctx, n, data, nil, nil); err != nil {
		return fmt.Errorf("write %s: %w", n, blobErr(err))
	}
	return nil
}

// ReadRunFile reads it back.
func (b *BlobBackend) ReadRunFile(ctx context.Context, id, name string) ([]byte, error) {
	n, err := b.runFileName(id, name)
	if err != nil {
		return nil, fmt.Errorf("read run file: %w", err)
	}
	data, _, err := b.download(ctx, n)
	if err != nil {
		return nil, blobNotFound(err, "read "+n)
	}
	return data, nil
}

// ---- secrets ----

func (b *BlobBackend) secretName(name string) (string, error) {
	if err := checkRelName(name); err != nil {
		return "", fmt.Errorf("secret %q: %w", name, err)
	}
	return b.name(SecretsName + "/" + name), nil
}

// PutSecret stores a secret as its own blob under secrets/, apart from
// journals and logs.
func (b *BlobBackend) PutSecret(ctx context.Context, name string, data []byte) error {
	n, err := b.secretName(name)
	if err != nil {
		return err
	}
	if _, err := b.upload(ctx, n, data, nil, nil); err != nil {
		return fmt.Errorf("put secret %s: %w", name, blobErr(err))
	}
	return nil
}

// GetSecret returns a secret's value.
func (b *BlobBackend) GetSecret(ctx context.Context, name string) ([]byte, error) {
	n, err := b.secretName(name)
	if err != nil {
		return nil, err
	}
	data, _, err := b.download(ctx, n)
	if err != nil {
		return nil, blobNotFound(err, "secret "+name)
	}
	return data, nil
}

// DeleteSecret removes a secret.
func (b *BlobBackend) DeleteSecret(ctx context.Context, name string) error {
	n, err := b.secretName(name)
	if err != nil {
		return err
	}
	if _, err := b.cc.NewBlobClient(n).Delete(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("delete secret %s: %w", name, blobErr(err))
	}
	return nil
}

// ListSecrets returns the secret names, sorted.
func (b *BlobBackend) ListSecrets(ctx context.Context) ([]string, error) {
	m, err := b.list(ctx, SecretsName)
	if err != nil {
		return nil, err
	}
	return blobSortedKeys(m), nil
}

func blobSortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// SecretsDir materialises every secret into a fresh private temporary
// directory (0700, files 0600), removed by Close.
func (b *BlobBackend) SecretsDir(ctx context.Context) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.secretsDir != "" {
		return b.secretsDir, nil
	}
	names, err := b.ListSecrets(ctx)
	if err != nil {
		return "", err
	}
	dir, err := localCopyDir("secrets")
	if err != nil {
		return "", err
	}
	seen := map[string][]byte{}
	for _, n := range names {
		data, err := b.GetSecret(ctx, n)
		if err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		if err := blobWritePrivate(dir, n, data); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		seen[n] = data
	}
	b.secretsDir, b.secretsSeen = dir, seen
	return dir, nil
}

// SaveSecrets puts back what changed in the materialised directory.
func (b *BlobBackend) SaveSecrets(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.secretsDir == "" {
		return nil
	}
	now, err := blobReadTree(b.secretsDir, nil)
	if err != nil {
		return err
	}
	for _, n := range blobSortedKeys(now) {
		if old, ok := b.secretsSeen[n]; ok && bytes.Equal(old, now[n]) {
			continue
		}
		if err := b.PutSecret(ctx, n, now[n]); err != nil {
			return err
		}
		b.secretsSeen[n] = now[n]
	}
	for _, n := range blobSortedKeys(b.secretsSeen) {
		if _, ok := now[n]; !ok {
			if err := b.DeleteSecret(ctx, n); err != nil {
				return err
			}
			delete(b.secretsSeen, n)
		}
	}
	return nil
}

// localCopyDir makes a private temporary directory (0700) for this
// process's local copies of kind ("secrets", "work"), named after its pid:
// k0rdent-<kind>-<pid>-<random>. Close removes it; a process killed before
// that leaves it, so the copies that dead processes of this user left are
// removed first (a live process's, and other users', are left alone).
func localCopyDir(kind string) (string, error) {
	prefix := "k0rdent-" + kind + "-"
	stale, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*-*"))
	for _, d := range stale {
		pidText, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), prefix), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == os.Getuid() {
				os.RemoveAll(d)
			}
		}
	}
	return os.MkdirTemp("", prefix+strconv.Itoa(os.Getpid())+"-")
}

// blobWritePrivate writes dir/name with mode 0600 and its directories 0700.
func blobWritePrivate(dir, name string, data []byte) error {
	p := dir + "/" + name
	if err := os.MkdirAll(path.Dir(p), 0o700); err != nil {
		return err
	}
	return WriteFileAtomic(p, data, 0o600)
}

// blobReadTree reads every regular file under dir (slash names), skipping
// directories named in skip.
func blobReadTree(dir string, skip map[string]bool) (map[string][]byte, error) {
	out := map[string][]byte{}
	var walk func(rel string) error
	walk = func(rel string) error {
		ents, err := os.ReadDir(path.Join(dir, rel))
		if err != nil {
			return err
		}
		for _, e := range ents {
			r := path.Join(rel, e.Name())
			switch {
			case e.IsDir():
				if skip[e.Name()] {
					continue
				}
				if err := walk(r); err != nil {
					return err
				}
			case e.Type().IsRegular():
				if strings.Contains(e.Name(), ".tmp") {
					continue // a WriteFileAtomic in progress
				}
				data, err := os.ReadFile(path.Join(dir, r))
				if err != nil {
					return err
				}
				out[r] = data
			}
		}
		return nil
	}
	return out, walk("")
}

// ---- work dirs ----

// blobWorkSkip are the directories of a work dir that are not kept: the
// providers `terraform init` downloads again.
var blobWorkSkip = map[string]bool{".terraform": true}

// WorkDir restores work dir name from the store into a private temporary
// directory.
func (b *BlobBackend) WorkDir(ctx context.Context, name string) (string, error) {
	if err := checkWorkDir(name); err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if d, ok := b.workDirs[name]; ok {
		return d, nil
	}
	files, err := b.list(ctx, "work/"+name)
	if err != nil {
		return "", err
	}
	dir, err := localCopyDir("work")
	if err != nil {
		return "", err
	}
	seen := map[string][]byte{}
	for _, f := range blobSortedKeys(files) {
		data, _, err := b.download(ctx, b.name("work/"+name+"/"+f))
		if err != nil {
			os.RemoveAll(dir)
			return "", blobNotFound(err, "work dir "+name+": "+f)
		}
		if err := blobWritePrivate(dir, f, data); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		seen[f] = data
	}
	if b.workDirs == nil {
		b.workDirs, b.workSeen = map[string]string{}, map[string]map[string][]byte{}
	}
	b.workDirs[name], b.workSeen[name] = dir, seen
	return dir, nil
}

// SaveWorkDir uploads what changed in work dir name and deletes what was
// removed (not .terraform/).
func (b *BlobBackend) SaveWorkDir(ctx context.Context, name string) error {
	if err := checkWorkDir(name); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	dir, ok := b.workDirs[name]
	if !ok {
		return nil
	}
	now, err := blobReadTree(dir, blobWorkSkip)
	if err != nil {
		return err
	}
	seen := b.workSeen[name]
	for _, f := range blobSortedKeys(now) {
		if old, ok := seen[f]; ok && bytes.Equal(old, now[f]) {
			continue
		}
		if _, err := b.upload(ctx, b.name("work/"+name+"/"+f), now[f], nil, nil); err != nil {
			return fmt.Errorf("save work dir %s: %s: %w", name, f, blobErr(err))
		}
		seen[f] = now[f]
	}
	for _, f := range blobSortedKeys(seen) {
		if _, ok := now[f]; !ok {
			if _, err := b.cc.NewBlobClient(b.name("work/"+name+"/"+f)).Delete(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
				return fmt.Errorf("save work dir %s: delete %s: %w", name, f, blobErr(err))
			}
			delete(seen, f)
		}
	}
	return nil
}

// Close removes the materialised secrets and work dirs (save them first).
func (b *BlobBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	if b.secretsDir != "" {
		errs = append(errs, os.RemoveAll(b.secretsDir))
		b.secretsDir, b.secretsSeen = "", nil
	}
	for n, d := range b.workDirs {
		errs = append(errs, os.RemoveAll(d))
		delete(b.workDirs, n)
	}
	return errors.Join(errs...)
}

// ---- lock: a lease on the lock blob ----

// blobLease is the held store lock: a lease on the blob "lock", renewed
// every third of the lease period while held; the blob's content is the
// holder record.
type blobLease struct {
	b      *BlobBackend
	lc     *lease.BlobClient
	id     string
	holder Holder

	mu      sync.Mutex
	lost    error // why renewal failed, nil while held
	stopped bool  // Unlock was called
	stop    chan struct{}
	done    chan struct{}
}

// Lock takes the lease on the lock blob. A live holder (its lease is
// active) is a *LockedError naming it; a holder record left with no lease
// is a dead holder's (its lease expired): taken over and returned.
func (b *BlobBackend) Lock(ctx context.Context, h Holder) (Lease, *Holder, error) {
	name := b.name(LockFile)
	bc := b.cc.NewBlockBlobClient(name)
	// The lock blob exists from the first Lock on.
	if _, err := b.upload(ctx, name, nil, &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}}, nil); err != nil &&
		!bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet, bloberror.LeaseIDMissing) {
		return nil, nil, fmt.Errorf("lock %s: %w", b.Location(), blobErr(err))
	}
	lc, err := lease.NewBlobClient(bc, nil)
	if err != nil {
		return nil, nil, err
	}
	if _, err := lc.AcquireLease(ctx, int32(b.lease/time.Second), nil); err != nil {
		if bloberror.HasCode(err, bloberror.LeaseAlreadyPresent) {
			return nil, nil, b.lockedError(ctx)
		}
		return nil, nil, fmt.Errorf("lock %s: %w", b.Location(), blobErr(err))
	}
	l := &blobLease{b: b, lc: lc, id: *lc.LeaseID(), holder: h, stop: make(chan struct{}), done: make(chan struct{})}
	prev, err := b.ReadHolder(ctx)
	if prev != nil {
		err = nil // an unreadable record is still a dead holder's: taken over
	}
	if err == nil {
		err = l.write(ctx)
	}
	if err != nil {
		lc.ReleaseLease(context.WithoutCancel(ctx), nil)
		return nil, nil, fmt.Errorf("lock %s: %w", b.Location(), err)
	}
	b.mu.Lock()
	b.held = l
	b.mu.Unlock()
	go l.renew()
	return l, prev, nil
}

// write stores the holder record in the lock blob, under the lease.
func (l *blobLease) write(ctx context.Context) error {
	data, err := blobHolderYAML(l.holder)
	if err != nil {
		return err
	}
	_, err = l.b.upload(ctx, l.b.name(LockFile), data,
		&blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: &l.id}}, nil)
	if err != nil {
		return fmt.Errorf("write holder record: %w", blobErr(err))
	}
	return nil
}

// renew keeps the lease until Unlock; a failed renewal (the store is
// unreachable for longer than the lease, or the lease was broken) marks
// the lease lost: later journal appends are refused.
func (l *blobLease) renew() {
	defer close(l.done)
	every := l.b.lease / 3
	t := time.NewTicker(every)
	defer t.Stop()
	failing := time.Time{}
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		_, err := l.lc.RenewLease(ctx, nil)
		cancel()
		if err == nil {
			failing = time.Time{}
			continue
		}
		if failing.IsZero() {
			failing = time.Now()
		}
		// A lease that is gone, or one we could not renew for longer than
		// it lasts, is lost: another process may hold it by now.
		if bloberror.HasCode(err, bloberror.LeaseIDMismatchWithLeaseOperation, bloberror.LeaseNotPresentWithLeaseOperation, bloberror.LeaseLost) ||
			time.Since(failing) >= l.b.lease-every {
			l.mu.Lock()
			l.lost = fmt.Errorf("the store lock (a lease on %s/%s) was lost: renewing it failed for %s (%v); another process may hold it now",
				l.b.Location(), LockFile, time.Since(failing).Round(time.Second), blobErr(err))
			if !bloberror.HasCode(err, bloberror.LeaseIDMismatchWithLeaseOperation, bloberror.LeaseNotPresentWithLeaseOperation, bloberror.LeaseLost) {
				l.lost = fmt.Errorf("%w (%w)", l.lost, ErrUnreachable)
			}
			l.mu.Unlock()
			return
		}
	}
}

// Lost returns why the lease was lost, or nil while it is held.
func (l *blobLease) Lost() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// Holder is the record the lock is held with.
func (l *blobLease) Holder() Holder { return l.holder }

// SetHolder replaces the holder record.
func (l *blobLease) SetHolder(ctx context.Context, h Holder) error {
	l.holder = h
	return l.write(ctx)
}

// Unlock clears the holder record and releases the lease.
func (l *blobLease) Unlock(ctx context.Context) error {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return nil
	}
	l.stopped = true
	close(l.stop)
	l.mu.Unlock()
	<-l.done
	l.b.mu.Lock()
	if l.b.held == l {
		l.b.held = nil
	}
	l.b.mu.Unlock()
	_, err := l.b.upload(ctx, l.b.name(LockFile), nil,
		&blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: &l.id}}, nil)
	if err != nil {
		err = fmt.Errorf("unlock %s: clear holder record: %w", l.b.Location(), blobErr(err))
	}
	if _, rerr := l.lc.ReleaseLease(ctx, nil); rerr != nil {
		err = errors.Join(err, fmt.Errorf("unlock %s: release lease: %w", l.b.Location(), blobErr(rerr)))
	}
	return err
}

// ReadHolder reads the holder record from the lock blob.
func (b *BlobBackend) ReadHolder(ctx context.Context) (*Holder, error) {
	data, _, err := b.download(ctx, b.name(LockFile))
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lock holder %s: %w", b.Location(), blobErr(err))
	}
	return blobParseHolder(data, b.Location()+"/"+LockFile)
}

// Probe reports a live holder (an active lease) without taking the lock.
func (b *BlobBackend) Probe(ctx context.Context) error {
	props, err := b.cc.NewBlobClient(b.name(LockFile)).GetProperties(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("probe lock %s: %w", b.Location(), blobErr(err))
	}
	if props.LeaseState == nil || *props.LeaseState != lease.StateTypeLeased {
		return nil
	}
	return b.lockedError(ctx)
}

// lockedError names the live holder. A holder writes its record right
// after it takes the lease: an empty record is read again for a moment.
func (b *BlobBackend) lockedError(ctx context.Context) *LockedError {
	le := &LockedError{Path: b.Location()}
	for try := 0; try < 20; try++ {
		if h, _ := b.ReadHolder(ctx); h != nil {
			le.Holder = *h
			if h.PID != 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return le
		case <-time.After(100 * time.Millisecond):
		}
	}
	return le
}

// leaseLost is the reason writes are refused: the lease this backend held
// was lost.
func (b *BlobBackend) leaseLost() error {
	b.mu.Lock()
	l := b.held
	b.mu.Unlock()
	if l == nil {
		return nil
	}
	return l.Lost()
}

// ---- journals: append blobs ----

func (b *BlobBackend) journalName(id string) (string, error) {
	if !ValidRunID(id) {
		return "", fmt.Errorf("run id %q: want YYYYMMDD-HHMMSS-xxxx", id)
	}
	return b.name(RunsDirName + "/" + id + ".yaml"), nil
}

// ListJournals lists the run journals, oldest first. An empty journal
// blob (a CreateJournal interrupted before its header) does not count.
func (b *BlobBackend) ListJournals(ctx context.Context) ([]string, error) {
	m, err := b.list(ctx, RunsDirName)
	if err != nil {
		return nil, err
	}
	var ids []string
	for n, size := range m {
		if id, ok := strings.CutSuffix(n, ".yaml"); ok && ValidRunID(id) && size > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// CreateJournal creates the append blob of run id and appends header at
// position 0. A crash between the two leaves an empty blob, which counts
// as no journal (ListJournals, ReadJournal, OpenJournal) and is reused
// here: the journal exists whole or not at all.
func (b *BlobBackend) CreateJournal(ctx context.Context, id string, header []byte) (Journal, error) {
	if err := b.leaseLost(); err != nil {
		return nil, fmt.Errorf("create run %s: %w", id, err)
	}
	n, err := b.journalName(id)
	if err != nil {
		return nil, fmt.Errorf("create run: %w", err)
	}
	ab := b.cc.NewAppendBlobClient(n)
	_, err = ab.Create(ctx, &appendblob.CreateOptions{AccessConditions: &blob.AccessConditions{
		ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}}})
	if err != nil {
		if !bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) {
			return nil, fmt.Errorf("create run %s: %w", n, blobErr(err))
		}
		props, perr := ab.GetProperties(ctx, nil)
		if perr != nil {
			return nil, fmt.Errorf("create run %s: %w", n, blobErr(perr))
		}
		if props.ContentLength == nil || *props.ContentLength != 0 {
			return nil, fmt.Errorf("create run: %s already exists; run ids are never reused", b.Location()+"/"+RunsDirName+"/"+id+".yaml")
		}
	}
	j := &blobJournal{b: b, ab: ab, name: n}
	if err := j.Append(ctx, header); err != nil {
		return nil, fmt.Errorf("create run %s: %w", id, err)
	}
	return j, nil
}

// OpenJournal opens a journal for appending at its end.
func (b *BlobBackend) OpenJournal(ctx context.Context, id string) (Journal, error) {
	n, err := b.journalName(id)
	if err != nil {
		return nil, fmt.Errorf("open run: %w", err)
	}
	ab := b.cc.NewAppendBlobClient(n)
	props, err := ab.GetProperties(ctx, nil)
	if err != nil {
		return nil, blobNotFound(err, "open run "+id)
	}
	if props.ContentLength == nil || *props.ContentLength == 0 {
		return nil, fmt.Errorf("open run %s: %w", id, ErrNotFound)
	}
	return &blobJournal{b: b, ab: ab, name: n, size: *props.ContentLength}, nil
}

// ReadJournal downloads a journal (one consistent GET).
func (b *BlobBackend) ReadJournal(ctx context.Context, id string) (JournalReader, error) {
	n, err := b.journalName(id)
	if err != nil {
		return nil, fmt.Errorf("read run: %w", err)
	}
	data, _, err := b.download(ctx, n)
	if err != nil {
		return nil, blobNotFound(err, "read run "+id)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("read run %s: %w", id, ErrNotFound)
	}
	return blobJournalBytes{bytes.NewReader(data)}, nil
}

type blobJournalBytes struct{ *bytes.Reader }

func (blobJournalBytes) Close() error { return nil }

// RepairJournal keeps the whole journal as <id>.yaml.broken[.N] (a block
// blob) and replaces the journal by an append blob holding its first size
// bytes: written under a temporary name, then copied over the journal in
// one server-side copy (atomic: readers see the old journal or the cut
// one), and the temporary blob deleted.
func (b *BlobBackend) RepairJournal(ctx context.Context, id string, size int64) (string, error) {
	if err := b.leaseLost(); err != nil {
		return "", fmt.Errorf("repair run %s: %w", id, err)
	}
	n, err := b.journalName(id)
	if err != nil {
		return "", fmt.Errorf("repair run: %w", err)
	}
	data, etag, err := b.download(ctx, n)
	if err != nil {
		return "", blobNotFound(err, "repair run "+id)
	}
	if size > int64(len(data)) {
		return "", fmt.Errorf("repair run %s: cut at %d, but it has %d bytes", id, size, len(data))
	}
	kept := ""
	for i := 1; ; i++ {
		k := n + ".broken"
		if i > 1 {
			k += fmt.Sprintf(".%d", i)
		}
		_, err := b.upload(ctx, k, data, &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}}, nil)
		if err == nil {
			kept = k
			break
		}
		if !bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) || i > 1000 {
			return "", fmt.Errorf("repair run %s: keep a copy: %w", id, blobErr(err))
		}
	}
	tmp := b.cc.NewAppendBlobClient(n + ".repair")
	if _, err := tmp.Create(ctx, nil); err != nil {
		return "", fmt.Errorf("repair run %s: %w", id, blobErr(err))
	}
	defer tmp.Delete(context.WithoutCancel(ctx), nil)
	tj := &blobJournal{b: b, ab: tmp, name: n + ".repair"}
	for off := int64(0); off < size; off += maxAppendBlock {
		if err := tj.Append(ctx, data[off:min(size, off+maxAppendBlock)]); err != nil {
			return "", fmt.Errorf("repair run %s: %w", id, err)
		}
	}
	if size == 0 {
		return "", fmt.Errorf("repair run %s: nothing valid to keep", id)
	}
	// Copy over the journal only if nobody appended since we read it.
	resp, err := b.cc.NewBlobClient(n).StartCopyFromURL(ctx, tmp.URL(), &blob.StartCopyFromURLOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: etag}}})
	if err != nil {
		return "", fmt.Errorf("repair run %s: replace: %w", id, blobErr(err))
	}
	for st := resp.CopyStatus; st == nil || *st == blob.CopyStatusTypePending; {
		time.Sleep(100 * time.Millisecond)
		props, err := b.cc.NewBlobClient(n).GetProperties(ctx, nil)
		if err != nil {
			return "", fmt.Errorf("repair run %s: replace: %w", id, blobErr(err))
		}
		st = props.CopyStatus
		if st != nil && *st != blob.CopyStatusTypePending && *st != blob.CopyStatusTypeSuccess {
			return "", fmt.Errorf("repair run %s: replace: copy %s", id, *st)
		}
	}
	return strings.TrimPrefix(strings.TrimPrefix(kept, b.cfg.Prefix), "/"), nil
}

// maxAppendBlock is the largest append this backend sends in one request
// (Azure accepts up to 100 MiB on current API versions, 4 MiB on older
// ones and some emulators).
const maxAppendBlock = 4 << 20

// blobJournal is a journal append blob open for appending.
type blobJournal struct {
	b    *BlobBackend
	ab   *appendblob.Client
	name string
	size int64
}

// Size is where the next append writes.
func (j *blobJournal) Size() int64 { return j.size }

// Close does nothing: nothing is held.
func (j *blobJournal) Close() error { return nil }

// Append appends p with one Append Block under the condition that the
// blob is exactly Size() bytes long (append position): an append by
// anyone else in between fails the condition instead of interleaving. A
// block is committed whole or not at all, so a request cut mid-way leaves
// no torn tail. When the outcome is unknown (a timeout, a lost response,
// a retry that met its own earlier append), the blob is read again: if
// it is Size()+len(p) long and ends with p, the append happened (it is
// not sent twice); if it is Size() long, it did not (the error is
// returned; the caller may retry); anything else is another writer.
func (j *blobJournal) Append(ctx context.Context, p []byte) error {
	if err := j.b.leaseLost(); err != nil {
		return fmt.Errorf("append to %s: %w", j.b.Location()+"/"+strings.TrimPrefix(strings.TrimPrefix(j.name, j.b.cfg.Prefix), "/"), err)
	}
	if len(p) == 0 {
		return nil
	}
	if len(p) > maxAppendBlock {
		return fmt.Errorf("append to %s: %d bytes in one record batch, more than %d", j.name, len(p), maxAppendBlock)
	}
	pos := j.size
	_, err := j.ab.AppendBlock(ctx, blobBody(p), &appendblob.AppendBlockOptions{
		AppendPositionAccessConditions: &appendblob.AppendPositionAccessConditions{AppendPosition: &pos},
		TransactionalValidation:        blob.TransferValidationTypeMD5(blobMD5(p)),
	})
	if err == nil {
		j.size += int64(len(p))
		return nil
	}
	return j.reconcile(ctx, p, err)
}

// reconcile decides what a failed append did (see Append).
func (j *blobJournal) reconcile(ctx context.Context, p []byte, appendErr error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	props, err := j.ab.GetProperties(rctx, nil)
	if err != nil {
		return fmt.Errorf("append to %s: %v; and reading its length back failed (%v): %w: every record appended before it is kept; run again when the store is back",
			j.name, blobErr(appendErr), blobErr(err), ErrUnreachable)
	}
	length := int64(0)
	if props.ContentLength != nil {
		length = *props.ContentLength
	}
	want := j.size + int64(len(p))
	switch length {
	case j.size:
		return fmt.Errorf("append to %s: %w (nothing was written)", j.name, blobErr(appendErr))
	case want:
		resp, err := j.ab.DownloadStream(rctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: j.size, Count: int64(len(p))}})
		if err == nil {
			var got []byte
			got, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && bytes.Equal(got, p) {
				j.size = want // the response was lost, the append happened
				return nil
			}
		}
		if err != nil {
			return fmt.Errorf("append to %s: %v; and reading it back failed: %v", j.name, blobErr(appendErr), blobErr(err))
		}
	}
	return fmt.Errorf("append to %s: it is %d bytes long, this writer expected %d: another process appended to it (has the lock been taken over?)", j.name, length, j.size)
}

// ---- logs ----

func (b *BlobBackend) logName(id, node string) (string, error) {
	if !ValidRunID(id) {
		return "", fmt.Errorf("run id %q: want YYYYMMDD-HHMMSS-xxxx", id)
	}
	if err := checkRelName(node); err != nil {
		return "", fmt.Errorf("node %q: %w", node, err)
	}
	return b.name(RunsDirName + "/" + id + "/" + node + ".log"), nil
}

// LogLocation is the URL of a node's log (node "": the run's log folder).
func (b *BlobBackend) LogLocation(id, node string) string {
	if node == "" {
		return b.Location() + "/" + RunsDirName + "/" + id + "/"
	}
	return b.Location() + "/" + RunsDirName + "/" + id + "/" + node + ".log"
}

// OpenLog opens a node's log append blob (created if missing). Writes are
// buffered and sent at most every second, or at 1 MiB, and on Close.
func (b *BlobBackend) OpenLog(ctx context.Context, id, node string) (io.WriteCloser, error) {
	n, err := b.logName(id, node)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	ab := b.cc.NewAppendBlobClient(n)
	_, err = ab.Create(ctx, &appendblob.CreateOptions{AccessConditions: &blob.AccessConditions{
		ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}}})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) {
		return nil, fmt.Errorf("open log %s: %w", n, blobErr(err))
	}
	return &blobLog{ab: ab, name: n, ctx: context.WithoutCancel(ctx)}, nil
}

// blobLog buffers log writes into append blocks.
type blobLog struct {
	ab   *appendblob.Client
	name string
	ctx  context.Context

	mu    sync.Mutex
	buf   []byte
	timer *time.Timer
	err   error
}

func (l *blobLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	l.buf = append(l.buf, p...)
	if len(l.buf) >= 1<<20 {
		return len(p), l.flushLocked()
	}
	if l.timer == nil {
		l.timer = time.AfterFunc(time.Second, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.timer = nil
			l.flushLocked()
		})
	}
	return len(p), nil
}

func (l *blobLog) flushLocked() error {
	for len(l.buf) > 0 && l.err == nil {
		chunk := l.buf[:min(len(l.buf), maxAppendBlock)]
		if _, err := l.ab.AppendBlock(l.ctx, blobBody(chunk), nil); err != nil {
			l.err = fmt.Errorf("append to log %s: %w", l.name, blobErr(err))
			return l.err
		}
		l.buf = l.buf[len(chunk):]
	}
	return l.err
}

func (l *blobLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	return l.flushLocked()
}

// TailLog returns the last n lines of a node's log.
func (b *BlobBackend) TailLog(ctx context.Context, id, node string, n int) ([]string, error) {
	name, err := b.logName(id, node)
	if err != nil {
		return nil, fmt.Errorf("tail log: %w", err)
	}
	bc := b.cc.NewBlobClient(name)
	props, err := bc.GetProperties(ctx, nil)
	if err != nil {
		return nil, blobNotFound(err, "log "+b.LogLocation(id, node))
	}
	size := *props.ContentLength
	for want := int64(64 << 10); ; want *= 4 {
		off := max(0, size-want)
		resp, err := bc.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: off, Count: size - off}})
		if err != nil {
			return nil, blobNotFound(err, "log "+b.LogLocation(id, node))
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(data) == 0 {
			lines = nil
		}
		if off > 0 {
			if len(lines) <= n {
				continue // the first line may be cut: read more
			}
		}
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		return lines, nil
	}
}

// blobMD5 is the Content-MD5 of a request body: the service rejects a
// body that arrives changed.
func blobMD5(p []byte) []byte {
	s := md5.Sum(p)
	return s[:]
}

// blobHolderYAML encodes a holder record.
func blobHolderYAML(h Holder) ([]byte, error) {
	data, err := yaml.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode holder: %w", err)
	}
	return data, nil
}

// blobParseHolder decodes a holder record; nil if empty.
func blobParseHolder(data []byte, where string) (*Holder, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var h Holder
	if err := yaml.Unmarshal(data, &h); err != nil {
		return &Holder{Command: "unreadable holder record"}, fmt.Errorf("read lock holder %s: %w", where, err)
	}
	return &h, nil
}

// failedCredential reports, at the first request, why the default
// credential chain could not be built.
type failedCredential struct{ err error }

func (c failedCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, c.err
}
