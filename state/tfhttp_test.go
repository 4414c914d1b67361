package state

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
)

// tfState is a minimal Terraform state document.
func tfState(lineage string, serial int, resources string) []byte {
	return []byte(fmt.Sprintf(`{"version":4,"terraform_version":"1.11.4","serial":%d,"lineage":%q,"outputs":{},"resources":[%s],"check_results":null}`, serial, lineage, resources))
}

// tfRequest makes one request of Terraform's http backend protocol.
type tfRequest struct {
	method, query string
	body          []byte
	md5           string // Content-MD5; "" computes it, "-" sends none
	user, pass    string // "-" sends no auth
}

func (s *TerraformHTTP) do(t *testing.T, r tfRequest) (int, []byte) {
	t.Helper()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, s.Address+r.query, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.user != "-" {
		user, pass := s.Username, s.Password
		if r.user != "" {
			user, pass = r.user, r.pass
		}
		req.SetBasicAuth(user, pass)
	}
	if r.body != nil && r.md5 != "-" {
		sum := md5.Sum(r.body)
		m := base64.StdEncoding.EncodeToString(sum[:])
		if r.md5 != "" {
			m = r.md5
		}
		req.Header.Set("Content-MD5", m)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, got
}

// lockedBlobStore is a store on a fresh Azurite container, locked.
func lockedBlobStore(t *testing.T, cfg BlobConfig) (*Store, *BlobBackend) {
	t.Helper()
	b := newBlobBackend(t, cfg)
	s := OpenStore(b)
	l, _, err := s.Lock(CurrentHolder("test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Unlock() })
	return s, b
}

func storedTFState(t *testing.T, b *BlobBackend) []byte {
	t.Helper()
	data, _, err := b.ReadTerraformState(context.Background())
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The http backend protocol over the blob store, request by request.
func TestTerraformHTTP_Protocol(t *testing.T) {
	az := testenv.SharedAzurite(t)
	cfg := blobTestContainer(t, az, az.Endpoint())
	s, b := lockedBlobStore(t, cfg)
	if !s.KeepsTerraformState() || NewStore(t.TempDir()).KeepsTerraformState() {
		t.Fatal("the blob store keeps Terraform's state, the local one does not")
	}
	srv, err := s.ServeTerraformState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.Address, "http://127.0.0.1:") || len(srv.Password) != 32 || srv.HasState() {
		t.Fatalf("server %s, password of %d characters, has state %v; want loopback, 32 hex digits, none", srv.Address, len(srv.Password), srv.HasState())
	}
	v1 := tfState("L1", 1, "")
	v2 := tfState("L1", 2, `{"mode":"managed","type":"fakevm_vm","name":"vm"}`)
	steps := []struct {
		name   string
		req    tfRequest
		status int
		stored []byte // the blob afterwards (nil: none)
		body   string // in the response
	}{
		{"NoAuth", tfRequest{method: "GET", user: "-"}, 401, nil, ""},
		{"WrongPassword", tfRequest{method: "GET", user: "k0rdent", pass: "guess"}, 403, nil, ""},
		{"WrongPasswordPost", tfRequest{method: "POST", body: v1, user: "k0rdent", pass: "guess"}, 403, nil, ""},
		{"GetNone", tfRequest{method: "GET"}, 404, nil, ""},
		{"Post", tfRequest{method: "POST", body: v1}, 200, v1, ""},
		{"Get", tfRequest{method: "GET"}, 200, v1, string(v1)},
		{"DamagedBody", tfRequest{method: "POST", body: v2, md5: "AAAAAAAAAAAAAAAAAAAAAA=="}, 400, v1, "Content-MD5"},
		{"NotAState", tfRequest{method: "POST", body: []byte(`{"hello":1}`)}, 400, v1, "not a Terraform state"},
		{"LockA", tfRequest{method: "LOCK", body: []byte(`{"ID":"a","Who":"terraform-a"}`)}, 200, v1, ""},
		{"LockAAgain", tfRequest{method: "LOCK", body: []byte(`{"ID":"a","Who":"terraform-a"}`)}, 200, v1, ""},
		{"LockBWhileA", tfRequest{method: "LOCK", body: []byte(`{"ID":"b"}`)}, 423, v1, `"Who":"terraform-a"`},
		{"PostAsB", tfRequest{method: "POST", query: "?ID=b", body: v2}, 409, v1, "locked by a"},
		{"PostAsA", tfRequest{method: "POST", query: "?ID=a", body: v2}, 200, v2, ""},
		{"UnlockB", tfRequest{method: "UNLOCK", body: []byte(`{"ID":"b"}`)}, 409, v2, ""},
		{"UnlockA", tfRequest{method: "UNLOCK", body: []byte(`{"ID":"a"}`)}, 200, v2, ""},
		{"LockB", tfRequest{method: "LOCK", body: []byte(`{"ID":"b"}`)}, 200, v2, ""},
		{"UnlockB2", tfRequest{method: "UNLOCK", body: []byte(`{"ID":"b"}`)}, 200, v2, ""},
		{"Delete", tfRequest{method: "DELETE"}, 405, v2, ""},
	}
	for _, st := range steps {
		code, body := srv.do(t, st.req)
		if code != st.status || !strings.Contains(string(body), st.body) {
			t.Errorf("%s: %d %q, want %d containing %q", st.name, code, body, st.status, st.body)
		}
		if got := storedTFState(t, b); !bytes.Equal(got, st.stored) {
			t.Errorf("%s: the store holds %s, want %s", st.name, got, st.stored)
		}
	}
	if srv.Saves() != 2 || !srv.HasState() {
		t.Errorf("saves %d, has state %v; want 2, true", srv.Saves(), srv.HasState())
	}

	// Another writer changed the state behind the server's back (only
	// possible if this process lost the store lock): refused, not
	// overwritten.
	other := tfState("L1", 9, "")
	if _, err := b.upload(context.Background(), b.name(TerraformStateFile), other, nil, nil); err != nil {
		t.Fatal(err)
	}
	if code, _ := srv.do(t, tfRequest{method: "POST", body: tfState("L1", 3, "")}); code != 409 {
		t.Errorf("POST over another writer's state: %d, want 409", code)
	}
	if !errors.Is(srv.Err(), ErrTerraformStateChanged) {
		t.Errorf("Err() = %v, want ErrTerraformStateChanged", srv.Err())
	}
	if got := storedTFState(t, b); !bytes.Equal(got, other) {
		t.Errorf("the other writer's state was overwritten: %s", got)
	}
	// After a GET the server writes over what it read.
	if code, _ := srv.do(t, tfRequest{method: "GET"}); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	if code, _ := srv.do(t, tfRequest{method: "POST", body: tfState("L1", 10, "")}); code != 200 {
		t.Errorf("POST after GET: %d, want 200", code)
	}
}

// A process that does not hold the store lock (status --check) is served
// the state read-only: GET works, POST is refused and writes nothing.
func TestTerraformHTTP_ReadOnlyWithoutLock(t *testing.T) {
	az := testenv.SharedAzurite(t)
	cfg := blobTestContainer(t, az, az.Endpoint())
	s, b := lockedBlobStore(t, cfg)
	v1 := tfState("L1", 1, "")
	if _, err := b.WriteTerraformState(context.Background(), v1, ""); err != nil {
		t.Fatal(err)
	}
	_ = s
	reader := OpenStore(newBlobBackend(t, cfg))
	srv, err := reader.ServeTerraformState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if code, body := srv.do(t, tfRequest{method: "GET"}); code != 200 || !bytes.Equal(body, v1) {
		t.Errorf("GET: %d %s", code, body)
	}
	if code, _ := srv.do(t, tfRequest{method: "POST", body: tfState("L1", 2, "")}); code != 409 {
		t.Errorf("POST without the store lock: %d, want 409", code)
	}
	if !errors.Is(srv.Err(), ErrNotLocked) {
		t.Errorf("Err() = %v, want ErrNotLocked", srv.Err())
	}
	if got := storedTFState(t, b); !bytes.Equal(got, v1) {
		t.Errorf("store holds %s after a refused POST", got)
	}
}

// Moving in: a pushed work dir's terraform.tfstate becomes the store's
// state once, under the lock; read-only it is served as it is; a copy
// left beside the store's state is removed if older, refused if newer.
func TestTerraformHTTP_MoveIn(t *testing.T) {
	az := testenv.SharedAzurite(t)
	ctx := context.Background()
	cfg := blobTestContainer(t, az, az.Endpoint())
	pushed := tfState("L1", 5, `{"mode":"managed","type":"fakevm_vm","name":"vm"}`)

	// A work dir as `state push` of an older version left it.
	writer := newBlobBackend(t, cfg)
	wd, err := writer.WorkDir(ctx, TerraformDir)
	if err != nil {
		t.Fatal(err)
	}
	for n, data := range map[string][]byte{TerraformStateFile: pushed, TerraformStateFile + ".backup": tfState("L1", 4, ""), "main.tf": []byte("# module\n")} {
		if err := blobWritePrivate(wd, n, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := writer.SaveWorkDir(ctx, TerraformDir); err != nil {
		t.Fatal(err)
	}

	// Read-only (no lock): served from the work dir, nothing moved.
	ro, err := OpenStore(newBlobBackend(t, cfg)).ServeTerraformState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := ro.do(t, tfRequest{method: "GET"}); code != 200 || !bytes.Equal(body, pushed) || !ro.HasState() {
		t.Errorf("read-only GET before the move-in: %d %s", code, body)
	}
	ro.Close()
	if got := storedTFState(t, writer); got != nil {
		t.Fatalf("a read-only server moved the state in: %s", got)
	}

	// Under the lock: moved in, the work dir's copies are gone (also in
	// the store's copy of the work dir), other files stay.
	s, b := lockedBlobStore(t, cfg)
	srv, err := s.ServeTerraformState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := srv.do(t, tfRequest{method: "GET"}); code != 200 || !bytes.Equal(body, pushed) {
		t.Errorf("GET after the move-in: %d %s", code, body)
	}
	srv.Close()
	if got := storedTFState(t, b); !bytes.Equal(got, pushed) {
		t.Errorf("store after the move-in: %s", got)
	}
	files, err := b.list(ctx, "work/"+TerraformDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["main.tf"]; !ok || len(files) != 1 {
		t.Errorf("work dir in the store after the move-in: %v, want main.tf only", files)
	}

	// A second server moves nothing (once) and serves the store's state,
	// which Terraform may have advanced.
	v6 := tfState("L1", 6, "")
	srv2, err := s.ServeTerraformState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := srv2.do(t, tfRequest{method: "POST", body: v6}); code != 200 {
		t.Fatalf("POST: %d", code)
	}
	srv2.Close()

	// A copy left behind by a crash during the move-in: removed when it
	// is older; refused, nothing served, when it is newer.
	lwd, _ := b.WorkDir(ctx, TerraformDir)
	os.WriteFile(filepath.Join(lwd, TerraformStateFile), pushed, 0o600)
	srv3, err := s.ServeTerraformState(ctx)
	if err != nil {
		t.Fatalf("an older copy beside the store's state: %v", err)
	}
	srv3.Close()
	if _, err := os.Stat(filepath.Join(lwd, TerraformStateFile)); !os.IsNotExist(err) {
		t.Errorf("the older copy is still there: %v", err)
	}
	os.WriteFile(filepath.Join(lwd, TerraformStateFile), tfState("L1", 7, ""), 0o600)
	if _, err := s.ServeTerraformState(ctx); err == nil || !strings.Contains(err.Error(), "not older") {
		t.Errorf("a newer copy beside the store's state: %v, want a refusal", err)
	}
	if got := storedTFState(t, b); !bytes.Equal(got, v6) {
		t.Errorf("store after the refusal: %s, want serial 6", got)
	}
}

// state push and pull carry Terraform's state: terraform.tfstate of the
// local work dir becomes the store's own state, and comes back as
// terraform.tfstate; an older or foreign state is refused.
func TestTransfer_TerraformState(t *testing.T) {
	az := testenv.SharedAzurite(t)
	ctx := context.Background()
	opts := TransferOptions{WorkDirs: []string{TerraformDir, "k0s"}, Command: "test"}
	local := lockedStore(t)
	writeRun(t, local, "20261125-100000-0001", happyEvents(), OutcomeSucceeded)
	lb := local.LocalBackend()
	wd, _ := lb.WorkDir(ctx, TerraformDir)
	v3 := tfState("L1", 3, `{"mode":"managed","type":"fakevm_vm","name":"vm"}`)
	os.MkdirAll(wd, 0o700)
	os.WriteFile(filepath.Join(wd, TerraformStateFile), v3, 0o600)
	os.WriteFile(filepath.Join(wd, TerraformStateFile+".backup"), tfState("L1", 2, ""), 0o600)
	os.WriteFile(filepath.Join(wd, "main.tf"), []byte("# module\n"), 0o600)
	unlockTestStore(t, local)

	cfg := blobTestContainer(t, az, az.Endpoint())
	remote := newBlobBackend(t, cfg)
	rep, err := Transfer(ctx, NewLocalBackend(lb.Root()), remote, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.TerraformState || rep.WorkFiles != 1 {
		t.Errorf("push: %+v, want Terraform's state and one work file (main.tf)", rep)
	}
	if got := storedTFState(t, remote); !bytes.Equal(got, v3) {
		t.Errorf("pushed Terraform state: %s", got)
	}
	if files, _ := remote.list(ctx, "work/"+TerraformDir); len(files) != 1 {
		t.Errorf("pushed work dir: %v, want main.tf only (the state is the store's own)", files)
	}
	if rep, err := Transfer(ctx, NewLocalBackend(lb.Root()), remote, opts); err != nil || rep.TerraformState {
		t.Errorf("second push: %+v, %v; want nothing written", rep, err)
	}

	// A remote run moves Terraform's state on (serial 4); pull brings it
	// back as terraform.tfstate.
	s, b := lockedBlobStore(t, cfg)
	srv, err := s.ServeTerraformState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v4 := tfState("L1", 4, `{"mode":"managed","type":"fakevm_vm","name":"vm2"}`)
	if code, _ := srv.do(t, tfRequest{method: "POST", body: v4}); code != 200 {
		t.Fatalf("POST: %d", code)
	}
	srv.Close()
	unlockTestStore(t, s)
	pulled := t.TempDir() + "/state"
	if rep, err := Transfer(ctx, newBlobBackend(t, cfg), NewLocalBackend(pulled), opts); err != nil || !rep.TerraformState {
		t.Fatalf("pull: %+v, %v", rep, err)
	}
	got, err := os.ReadFile(filepath.Join(pulled, TerraformDir, TerraformStateFile))
	if err != nil || !bytes.Equal(got, v4) {
		t.Errorf("pulled terraform.tfstate: %s, %v; want serial 4", got, err)
	}
	if fi, err := os.Stat(filepath.Join(pulled, TerraformDir, TerraformStateFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("pulled terraform.tfstate mode: %v", err)
	}

	// Pushing the old local state (serial 3) over serial 4 is refused.
	if _, err := Transfer(ctx, NewLocalBackend(lb.Root()), newBlobBackend(t, cfg), opts); !errors.Is(err, ErrOtherDeployment) || !strings.Contains(err.Error(), "serial 3 is older than 4") {
		t.Errorf("push of an older Terraform state: %v, want ErrOtherDeployment naming the serials", err)
	}
	if got := storedTFState(t, b); !bytes.Equal(got, v4) {
		t.Errorf("store after the refused push: %s", got)
	}
}
