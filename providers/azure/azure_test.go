package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	authfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2/fake"
)

const (
	testSub    = "00000000-0000-0000-0000-000000000001"
	testTenant = "00000000-0000-0000-0000-0000000000aa"
)

// fakeGraph plays Microsoft Graph (applications, servicePrincipals,
// addPassword) and ARM's subscriptions API as an http transport. It is a
// fake because no Graph SDK with fake servers is served by the module proxy
// we build from, and armsubscriptions would be a dependency for one GET;
// the role assignments go to the SDK's own fake server
// (armauthorization/v2/fake) instead.
type fakeGraph struct {
	mu            sync.Mutex
	apps          map[string]*graphApp // by object id
	sps           map[string]*graphSP  // by appId
	secrets       []string             // every secretText handed out
	spNotYet      int                  // answer this many SP creations with the propagation error
	spCreates     int
	passwordAdds  int
	deletes       int
	subscriptions []Subscription
	n             int
}

func newFakeGraph() *fakeGraph {
	return &fakeGraph{apps: map[string]*graphApp{}, sps: map[string]*graphSP{},
		subscriptions: []Subscription{{ID: testSub, TenantID: testTenant, Name: "dev", State: "Enabled"}}}
}

func jsonResp(req *http.Request, status int, v any) *http.Response {
	b, _ := json.Marshal(v)
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(b)), Request: req}
}

func graphErr(req *http.Request, status int, code, msg string) *http.Response {
	return jsonResp(req, status, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func (g *fakeGraph) id(prefix string) string {
	g.n++
	return fmt.Sprintf("%s-%04d", prefix, g.n)
}

func (g *fakeGraph) Do(req *http.Request) (*http.Response, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") {
		return graphErr(req, 401, "InvalidAuthenticationToken", "no token"), nil
	}
	var body map[string]any
	if req.Body != nil {
		_ = json.NewDecoder(req.Body).Decode(&body)
	}
	p := req.URL.Path
	filter := req.URL.Query().Get("$filter")
	quoted := func() string { _, v, _ := strings.Cut(filter, "'"); return strings.TrimSuffix(v, "'") }
	switch {
	case req.Method == http.MethodGet && p == "/subscriptions":
		return jsonResp(req, 200, map[string]any{"value": g.subscriptions}), nil
	case req.Method == http.MethodGet && strings.HasPrefix(p, "/subscriptions/"):
		for _, s := range g.subscriptions {
			if "/subscriptions/"+s.ID == p {
				return jsonResp(req, 200, s), nil
			}
		}
		return graphErr(req, 404, "SubscriptionNotFound", "The subscription '"+strings.TrimPrefix(p, "/subscriptions/")+"' could not be found."), nil
	case req.Method == http.MethodGet && p == "/v1.0/applications":
		var out []graphApp
		for _, a := range g.apps {
			if "displayName eq '"+a.DisplayName+"'" == filter {
				out = append(out, *a)
			}
		}
		return jsonResp(req, 200, map[string]any{"value": out}), nil
	case req.Method == http.MethodPost && p == "/v1.0/applications":
		a := &graphApp{ID: g.id("appobj"), AppID: g.id("appid"), DisplayName: body["displayName"].(string)}
		g.apps[a.ID] = a
		return jsonResp(req, 201, a), nil
	case req.Method == http.MethodPost && strings.HasSuffix(p, "/addPassword"):
		a := g.apps[strings.TrimSuffix(strings.TrimPrefix(p, "/v1.0/applications/"), "/addPassword")]
		if a == nil {
			return graphErr(req, 404, "Request_ResourceNotFound", "no such application"), nil
		}
		g.passwordAdds++
		pw := graphPassword{KeyID: g.id("key"), SecretText: fmt.Sprintf("s3cr3t~%d~never-log-me", g.n)}
		g.secrets = append(g.secrets, pw.SecretText)
		a.PasswordCredentials = append(a.PasswordCredentials, struct {
			KeyID string `json:"keyId"`
		}{pw.KeyID})
		return jsonResp(req, 200, pw), nil
	case req.Method == http.MethodDelete && strings.HasPrefix(p, "/v1.0/applications/"):
		a := g.apps[strings.TrimPrefix(p, "/v1.0/applications/")]
		if a == nil {
			return graphErr(req, 404, "Request_ResourceNotFound", "Resource does not exist"), nil
		}
		g.deletes++
		delete(g.apps, a.ID)
		delete(g.sps, a.AppID)
		return &http.Response{StatusCode: 204, Body: http.NoBody, Request: req, Header: http.Header{}}, nil
	case req.Method == http.MethodGet && p == "/v1.0/servicePrincipals":
		var out []graphSP
		if sp := g.sps[quoted()]; sp != nil {
			out = append(out, *sp)
		}
		return jsonResp(req, 200, map[string]any{"value": out}), nil
	case req.Method == http.MethodPost && p == "/v1.0/servicePrincipals":
		g.spCreates++
		appID := body["appId"].(string)
		if g.spNotYet > 0 {
			g.spNotYet--
			return graphErr(req, 400, "Request_BadRequest", "The appId '"+appID+"' of the service principal does not reference a valid application object."), nil
		}
		sp := &graphSP{ID: g.id("spobj"), AppID: appID}
		g.sps[appID] = sp
		return jsonResp(req, 201, sp), nil
	}
	return graphErr(req, 400, "UnexpectedRequest", req.Method+" "+req.URL.String()), nil
}

// fakeRoles is the SDK's fake RoleAssignmentsServer with a scripted Create.
type fakeRoles struct {
	mu       sync.Mutex
	notYet   int  // answer this many creates with PrincipalNotFound
	forbid   bool // answer every create with 403 AuthorizationFailed
	never    bool // PrincipalNotFound forever
	creates  int
	assigned map[string]string // name -> principal
	deleted  []string
}

func (f *fakeRoles) server() *authfake.RoleAssignmentsServer {
	return &authfake.RoleAssignmentsServer{
		Create: func(ctx context.Context, scope, name string, params armauthorization.RoleAssignmentCreateParameters, _ *armauthorization.RoleAssignmentsClientCreateOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientCreateResponse], errResp azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.creates++
			switch {
			case f.forbid:
				errResp.SetResponseError(http.StatusForbidden, "AuthorizationFailed")
				return
			case f.never || f.notYet > 0:
				f.notYet--
				errResp.SetResponseError(http.StatusBadRequest, "PrincipalNotFound")
				return
			case f.assigned[name] != "":
				errResp.SetResponseError(http.StatusConflict, "RoleAssignmentExists")
				return
			}
			if f.assigned == nil {
				f.assigned = map[string]string{}
			}
			f.assigned[name] = *params.Properties.PrincipalID
			id := scope + "/providers/Microsoft.Authorization/roleAssignments/" + name
			resp.SetResponse(http.StatusCreated, armauthorization.RoleAssignmentsClientCreateResponse{RoleAssignment: armauthorization.RoleAssignment{ID: &id, Name: &name}}, nil)
			return
		},
		DeleteByID: func(ctx context.Context, id string, _ *armauthorization.RoleAssignmentsClientDeleteByIDOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientDeleteByIDResponse], errResp azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			name := id[strings.LastIndex(id, "/")+1:]
			if f.assigned[name] == "" {
				errResp.SetResponseError(http.StatusNotFound, "RoleAssignmentNotFound")
				return
			}
			delete(f.assigned, name)
			f.deleted = append(f.deleted, id)
			resp.SetResponse(http.StatusOK, armauthorization.RoleAssignmentsClientDeleteByIDResponse{}, nil)
			return
		},
	}
}

// armMux sends role assignment calls to the SDK's fake server and the rest
// (subscriptions) to the fake Graph.
type armMux struct {
	roles policy.Transporter
	other policy.Transporter
}

func (m armMux) Do(req *http.Request) (*http.Response, error) {
	if strings.Contains(req.URL.Path, "/Microsoft.Authorization/roleAssignments") {
		return m.roles.Do(req)
	}
	return m.other.Do(req)
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestClient(t *testing.T, g *fakeGraph, r *fakeRoles, retry RetryPolicy) (*Client, *syncBuf) {
	t.Helper()
	log := &syncBuf{}
	noRetry := policy.RetryOptions{MaxRetries: -1}
	c, err := New(&azfake.TokenCredential{}, Options{
		Log:   slog.New(slog.NewTextHandler(log, nil)),
		Retry: retry,
		ARM:   arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: armMux{roles: authfake.NewRoleAssignmentsServerTransport(r.server()), other: g}, Retry: noRetry}},
		Graph: policy.ClientOptions{Transport: g, Retry: noRetry},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, log
}

var fastRetry = RetryPolicy{Attempts: 5, Delay: 20 * time.Millisecond, MaxDelay: 50 * time.Millisecond}

func spec() ServicePrincipalSpec {
	return ServicePrincipalSpec{DisplayName: "k0rdent-abc-capz", SubscriptionID: testSub, Scope: "/subscriptions/" + testSub + "/resourceGroups/k0rdent-abc-rg"}
}

// TestClient_EnsureServicePrincipal: a first call creates the application,
// the service principal (after Graph twice answers that the application is
// not known yet), a secret and the role assignment (after ARM twice answers
// PrincipalNotFound): the propagation delays are waited out, with a
// backoff; a second call with the secret's key id creates nothing and
// adds no secret; the secret never reaches the log.
func TestClient_EnsureServicePrincipal(t *testing.T) {
	g, r := newFakeGraph(), &fakeRoles{notYet: 2}
	g.spNotYet = 2
	c, log := newTestClient(t, g, r, fastRetry)

	start := time.Now()
	sp, secret, err := c.EnsureServicePrincipal(context.Background(), spec())
	if err != nil {
		t.Fatalf("EnsureServicePrincipal: %v\nlog:\n%s", err, log)
	}
	took := time.Since(start)
	if secret == "" || secret != g.secrets[0] {
		t.Errorf("secret = %q, want the one Graph handed out", secret)
	}
	if sp.AppID == "" || sp.ObjectID == "" || sp.AppObjectID == "" || sp.KeyID == "" {
		t.Errorf("service principal = %+v, want every id", sp)
	}
	if want := spec().Scope + "/providers/Microsoft.Authorization/roleAssignments/"; !strings.HasPrefix(sp.RoleAssignmentID, want) {
		t.Errorf("RoleAssignmentID = %q, want under %q", sp.RoleAssignmentID, want)
	}
	if g.spCreates != 3 || r.creates != 3 {
		t.Errorf("service principal creates = %d, role assignment creates = %d; want 3 each (two propagation errors, then success)", g.spCreates, r.creates)
	}
	// Backoff: 20ms+40ms for each of the two retried calls.
	if took < 120*time.Millisecond {
		t.Errorf("took %s; the retries did not wait (want >= 120ms)", took)
	}
	if n := strings.Count(log.String(), "not propagated yet"); n != 4 {
		t.Errorf("log has %d retry lines, want 4:\n%s", n, log)
	}
	if strings.Contains(log.String(), secret) {
		t.Error("the log holds the client secret")
	}

	// Again, holding the secret: nothing new.
	spec2 := spec()
	spec2.KeyID = sp.KeyID
	sp2, secret2, err := c.EnsureServicePrincipal(context.Background(), spec2)
	if err != nil {
		t.Fatalf("second EnsureServicePrincipal: %v", err)
	}
	if secret2 != "" || g.passwordAdds != 1 || len(g.apps) != 1 || len(g.sps) != 1 || len(r.assigned) != 1 {
		t.Errorf("second call: secret %q, %d secrets added, %d apps, %d SPs, %d assignments; want nothing new", secret2, g.passwordAdds, len(g.apps), len(g.sps), len(r.assigned))
	}
	if sp2 != sp {
		t.Errorf("second call = %+v, want %+v", sp2, sp)
	}

	// A lost secret (no key id): a new secret on the same application.
	_, secret3, err := c.EnsureServicePrincipal(context.Background(), spec())
	if err != nil || secret3 == "" || secret3 == secret || len(g.apps) != 1 {
		t.Errorf("call without key id: secret %q, err %v, %d apps; want a new secret on the one application", secret3, err, len(g.apps))
	}

	// Destroy, twice.
	if err := c.DeleteServicePrincipal(context.Background(), testSub, sp); err != nil {
		t.Fatalf("DeleteServicePrincipal: %v", err)
	}
	if len(g.apps) != 0 || len(g.sps) != 0 || len(r.assigned) != 0 || len(r.deleted) != 1 {
		t.Errorf("after delete: %d apps, %d SPs, %d assignments left; want none", len(g.apps), len(g.sps), len(r.assigned))
	}
	if err := c.DeleteServicePrincipal(context.Background(), testSub, sp); err != nil {
		t.Errorf("second DeleteServicePrincipal = %v, want nil (already gone)", err)
	}
}

// TestClient_EnsureServicePrincipal_Errors: a permanent failure (403) is
// returned after one try with what to fix; a principal that never
// propagates gives up after the policy's attempts with ErrPropagation.
func TestClient_EnsureServicePrincipal_Errors(t *testing.T) {
	tests := []struct {
		name    string
		roles   *fakeRoles
		creates int
		isProp  bool
		want    []string
	}{
		{
			name: "Forbidden", roles: &fakeRoles{forbid: true}, creates: 1,
			want: []string{"403 AuthorizationFailed", "needs Owner or User Access Administrator at /subscriptions/" + testSub + "/resourceGroups/k0rdent-abc-rg"},
		},
		{
			name: "NeverPropagates", roles: &fakeRoles{never: true}, creates: 5, isProp: true,
			want: []string{"still failing after 5 attempts", "PrincipalNotFound"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGraph()
			c, log := newTestClient(t, g, tt.roles, fastRetry)
			_, secret, err := c.EnsureServicePrincipal(context.Background(), spec())
			if err == nil {
				t.Fatal("EnsureServicePrincipal succeeded")
			}
			if got := errors.Is(err, ErrPropagation); got != tt.isProp {
				t.Errorf("errors.Is(err, ErrPropagation) = %v, want %v: %v", got, tt.isProp, err)
			}
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Errorf("err = %v, want an *APIError inside", err)
			}
			if tt.roles.creates != tt.creates {
				t.Errorf("role assignment creates = %d, want %d", tt.roles.creates, tt.creates)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to say %q", err, w)
				}
			}
			// The secret was created before the failure: the caller gets it
			// to keep, and it is in no error or log.
			if secret == "" {
				t.Error("the secret created before the failure was not returned")
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(log.String(), secret) {
				t.Error("the error or the log holds the secret")
			}
		})
	}
}

func TestClient_Subscription(t *testing.T) {
	g := newFakeGraph()
	c, _ := newTestClient(t, g, &fakeRoles{}, fastRetry)
	s, err := c.Subscription(context.Background(), "")
	if err != nil || s.ID != testSub || s.TenantID != testTenant {
		t.Errorf("Subscription(\"\") = %+v, %v; want the only one", s, err)
	}
	s, err = c.Subscription(context.Background(), testSub)
	if err != nil || s.TenantID != testTenant {
		t.Errorf("Subscription(id) = %+v, %v", s, err)
	}
	if _, err := c.Subscription(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "404 SubscriptionNotFound") {
		t.Errorf("Subscription(unknown) = %v, want a 404", err)
	}
	g.subscriptions = append(g.subscriptions, Subscription{ID: "sub-2", Name: "prod", State: "Enabled"})
	if _, err := c.Subscription(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "sees 2 subscriptions") || !strings.Contains(err.Error(), "set azure.subscription_id") {
		t.Errorf("Subscription(\"\") with two = %v, want an error naming azure.subscription_id", err)
	}
}
