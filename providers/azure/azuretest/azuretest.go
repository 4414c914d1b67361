// Package azuretest holds fakes of the Azure APIs providers/azure calls,
// for tests of this module: the Azure SDK's own fake server for role
// assignments (armauthorization/v2/fake) and Graph plus the subscriptions
// API as an http transport. Graph is faked at the transport because no
// Graph SDK with fake servers is served by the module proxy we build from;
// the subscriptions API because armsubscriptions would be a dependency for
// one GET. Everything runs in-process with no network.
package azuretest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	authfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2/fake"

	"github.com/k0rdent/k0rdent-deploy/providers/azure"
)

// The subscription and tenant the fake knows.
const (
	Subscription = "00000000-0000-0000-0000-000000000001"
	Tenant       = "00000000-0000-0000-0000-0000000000aa"
)

type app struct {
	ID                  string `json:"id"`
	AppID               string `json:"appId"`
	DisplayName         string `json:"displayName"`
	PasswordCredentials []struct {
		KeyID string `json:"keyId"`
	} `json:"passwordCredentials"`
}

type sp struct {
	ID    string `json:"id"`
	AppID string `json:"appId"`
}

type password struct {
	KeyID      string `json:"keyId"`
	SecretText string `json:"secretText"`
}

// Options returns client options that send Graph to g and ARM to r (role
// assignments) and g (subscriptions), with the SDK's own retries off.
func Options(g *Graph, r *Roles) azure.Options {
	noRetry := policy.RetryOptions{MaxRetries: -1}
	return azure.Options{
		ARM:   arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: ARMMux{Roles: authfake.NewRoleAssignmentsServerTransport(r.Server()), Other: g}, Retry: noRetry}},
		Graph: policy.ClientOptions{Transport: g, Retry: noRetry},
	}
}

// Credential is the SDK's fake token credential.
func Credential() *azfake.TokenCredential { return &azfake.TokenCredential{} }

// Graph plays Microsoft Graph (applications, servicePrincipals,
// addPassword) and ARM's subscriptions API as an http transport. It is a
// fake because no Graph SDK with fake servers is served by the module proxy
// we build from, and armsubscriptions would be a dependency for one GET;
// the role assignments go to the SDK's own fake server
// (armauthorization/v2/fake) instead.
type Graph struct {
	mu           sync.Mutex
	Apps         map[string]*app // by object id
	SPs          map[string]*sp  // by appId
	Secrets      []string        // every secretText handed out
	SPNotYet     int             // answer this many SP creations with the propagation error
	SPCreates    int
	PasswordAdds int
	Deletes      int
	// DenyDeletes answers every application delete with 403
	// Authorization_RequestDenied (an identity without the right).
	DenyDeletes   bool
	Subscriptions []azure.Subscription
	n             int
}

func NewGraph() *Graph {
	return &Graph{Apps: map[string]*app{}, SPs: map[string]*sp{},
		Subscriptions: []azure.Subscription{{ID: Subscription, TenantID: Tenant, Name: "dev", State: "Enabled"}}}
}

// AddApp records an application and its service principal made outside
// k0rdent (the bash tool's az ad sp create-for-rbac), and returns the
// service principal's object id.
func (g *Graph) AddApp(displayName, appID string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := &app{ID: g.id("appobj"), AppID: appID, DisplayName: displayName}
	g.Apps[a.ID] = a
	s := &sp{ID: g.id("spobj"), AppID: appID}
	g.SPs[appID] = s
	return s.ID
}

// HasApp reports whether an application with appID exists.
func (g *Graph) HasApp(appID string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, a := range g.Apps {
		if a.AppID == appID {
			return true
		}
	}
	return false
}

func jsonResp(req *http.Request, status int, v any) *http.Response {
	b, _ := json.Marshal(v)
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(b)), Request: req}
}

func graphErr(req *http.Request, status int, code, msg string) *http.Response {
	return jsonResp(req, status, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func (g *Graph) id(prefix string) string {
	g.n++
	return fmt.Sprintf("%s-%04d", prefix, g.n)
}

func (g *Graph) Do(req *http.Request) (*http.Response, error) {
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
		return jsonResp(req, 200, map[string]any{"value": g.Subscriptions}), nil
	case req.Method == http.MethodGet && strings.HasPrefix(p, "/subscriptions/"):
		for _, s := range g.Subscriptions {
			if "/subscriptions/"+s.ID == p {
				return jsonResp(req, 200, s), nil
			}
		}
		return graphErr(req, 404, "SubscriptionNotFound", "The subscription '"+strings.TrimPrefix(p, "/subscriptions/")+"' could not be found."), nil
	case req.Method == http.MethodGet && p == "/v1.0/applications":
		var out []app
		for _, a := range g.Apps {
			if "displayName eq '"+a.DisplayName+"'" == filter || "appId eq '"+a.AppID+"'" == filter {
				out = append(out, *a)
			}
		}
		return jsonResp(req, 200, map[string]any{"value": out}), nil
	case req.Method == http.MethodPost && p == "/v1.0/applications":
		a := &app{ID: g.id("appobj"), AppID: g.id("appid"), DisplayName: body["displayName"].(string)}
		g.Apps[a.ID] = a
		return jsonResp(req, 201, a), nil
	case req.Method == http.MethodPost && strings.HasSuffix(p, "/addPassword"):
		a := g.Apps[strings.TrimSuffix(strings.TrimPrefix(p, "/v1.0/applications/"), "/addPassword")]
		if a == nil {
			return graphErr(req, 404, "Request_ResourceNotFound", "no such application"), nil
		}
		g.PasswordAdds++
		pw := password{KeyID: g.id("key"), SecretText: fmt.Sprintf("s3cr3t~%d~never-log-me", g.n)}
		g.Secrets = append(g.Secrets, pw.SecretText)
		a.PasswordCredentials = append(a.PasswordCredentials, struct {
			KeyID string `json:"keyId"`
		}{pw.KeyID})
		return jsonResp(req, 200, pw), nil
	case req.Method == http.MethodDelete && strings.HasPrefix(p, "/v1.0/applications/"):
		a := g.Apps[strings.TrimPrefix(p, "/v1.0/applications/")]
		if a == nil {
			return graphErr(req, 404, "Request_ResourceNotFound", "Resource does not exist"), nil
		}
		if g.DenyDeletes {
			return graphErr(req, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."), nil
		}
		g.Deletes++
		delete(g.Apps, a.ID)
		delete(g.SPs, a.AppID)
		return &http.Response{StatusCode: 204, Body: http.NoBody, Request: req, Header: http.Header{}}, nil
	case req.Method == http.MethodGet && p == "/v1.0/servicePrincipals":
		var out []sp
		if sp := g.SPs[quoted()]; sp != nil {
			out = append(out, *sp)
		}
		return jsonResp(req, 200, map[string]any{"value": out}), nil
	case req.Method == http.MethodPost && p == "/v1.0/servicePrincipals":
		g.SPCreates++
		appID := body["appId"].(string)
		if g.SPNotYet > 0 {
			g.SPNotYet--
			return graphErr(req, 400, "Request_BadRequest", "The appId '"+appID+"' of the service principal does not reference a valid application object."), nil
		}
		sp := &sp{ID: g.id("spobj"), AppID: appID}
		g.SPs[appID] = sp
		return jsonResp(req, 201, sp), nil
	}
	return graphErr(req, 400, "UnexpectedRequest", req.Method+" "+req.URL.String()), nil
}

// Roles is the SDK's fake RoleAssignmentsServer with a scripted Create.
// Like ARM, it allows one assignment per scope, principal and role: a
// second one under any name is 409 RoleAssignmentExists.
type Roles struct {
	mu       sync.Mutex
	NotYet   int  // answer this many creates with PrincipalNotFound
	Forbid   bool // answer every create with 403 AuthorizationFailed
	Never    bool // PrincipalNotFound forever
	Creates  int
	Assigned map[string]string // name -> principal
	Deleted  []string

	what map[string]Assignment // name -> what it assigns
}

// Assignment is what a role assignment assigns.
type Assignment struct {
	Scope, Principal, RoleDefinitionID string
}

// Preassign records an assignment made outside k0rdent (an earlier tool,
// by hand) under name.
func (f *Roles) Preassign(name string, a Assignment) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Assigned == nil {
		f.Assigned = map[string]string{}
	}
	if f.what == nil {
		f.what = map[string]Assignment{}
	}
	f.Assigned[name] = a.Principal
	f.what[name] = a
}

// Assignments returns a copy of the assignments by name.
func (f *Roles) Assignments() map[string]Assignment {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]Assignment{}
	for k, v := range f.what {
		m[k] = v
	}
	return m
}

// Rename gives an assignment another name, as if another tool had made
// it: ARM then answers a create of the same assignment under k0rdent's
// name with 409 RoleAssignmentExists.
func (f *Roles) Rename(old, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Assigned[name], f.what[name] = f.Assigned[old], f.what[old]
	delete(f.Assigned, old)
	delete(f.what, old)
}

func (f *Roles) existing(a Assignment) string {
	for name, w := range f.what {
		if strings.EqualFold(w.Scope, a.Scope) && w.Principal == a.Principal && strings.EqualFold(w.RoleDefinitionID, a.RoleDefinitionID) {
			return name
		}
	}
	return ""
}

func (f *Roles) Server() *authfake.RoleAssignmentsServer {
	return &authfake.RoleAssignmentsServer{
		Create: func(ctx context.Context, scope, name string, params armauthorization.RoleAssignmentCreateParameters, _ *armauthorization.RoleAssignmentsClientCreateOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientCreateResponse], errResp azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.Creates++
			switch {
			case f.Forbid:
				errResp.SetResponseError(http.StatusForbidden, "AuthorizationFailed")
				return
			case f.Never || f.NotYet > 0:
				f.NotYet--
				errResp.SetResponseError(http.StatusBadRequest, "PrincipalNotFound")
				return
			}
			a := Assignment{Scope: "/" + strings.TrimPrefix(scope, "/"), Principal: *params.Properties.PrincipalID, RoleDefinitionID: *params.Properties.RoleDefinitionID}
			if f.Assigned[name] != "" || f.existing(a) != "" {
				errResp.SetResponseError(http.StatusConflict, "RoleAssignmentExists")
				return
			}
			if f.Assigned == nil {
				f.Assigned = map[string]string{}
			}
			if f.what == nil {
				f.what = map[string]Assignment{}
			}
			f.Assigned[name] = a.Principal
			f.what[name] = a
			id := scope + "/providers/Microsoft.Authorization/roleAssignments/" + name
			resp.SetResponse(http.StatusCreated, armauthorization.RoleAssignmentsClientCreateResponse{RoleAssignment: armauthorization.RoleAssignment{ID: &id, Name: &name}}, nil)
			return
		},
		DeleteByID: func(ctx context.Context, id string, _ *armauthorization.RoleAssignmentsClientDeleteByIDOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientDeleteByIDResponse], errResp azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			name := id[strings.LastIndex(id, "/")+1:]
			if f.Assigned[name] == "" {
				errResp.SetResponseError(http.StatusNotFound, "RoleAssignmentNotFound")
				return
			}
			delete(f.Assigned, name)
			delete(f.what, name)
			f.Deleted = append(f.Deleted, id)
			resp.SetResponse(http.StatusOK, armauthorization.RoleAssignmentsClientDeleteByIDResponse{}, nil)
			return
		},
		// ListForScope answers atScope() and principalId eq '<id>'
		// filters, or none, with the assignments at exactly scope.
		NewListForScopePager: func(scope string, opts *armauthorization.RoleAssignmentsClientListForScopeOptions) (resp azfake.PagerResponder[armauthorization.RoleAssignmentsClientListForScopeResponse]) {
			f.mu.Lock()
			defer f.mu.Unlock()
			principal := ""
			if opts != nil && opts.Filter != nil {
				if _, after, ok := strings.Cut(*opts.Filter, "principalId eq '"); ok {
					principal, _, _ = strings.Cut(after, "'")
				}
			}
			var page armauthorization.RoleAssignmentListResult
			for name, w := range f.what {
				if !strings.EqualFold(w.Scope, "/"+strings.TrimPrefix(scope, "/")) || principal != "" && w.Principal != principal {
					continue
				}
				id := w.Scope + "/providers/Microsoft.Authorization/roleAssignments/" + name
				page.Value = append(page.Value, &armauthorization.RoleAssignment{ID: to.Ptr(id), Name: to.Ptr(name),
					Properties: &armauthorization.RoleAssignmentProperties{Scope: to.Ptr(w.Scope), PrincipalID: to.Ptr(w.Principal), RoleDefinitionID: to.Ptr(w.RoleDefinitionID)}})
			}
			resp.AddPage(http.StatusOK, armauthorization.RoleAssignmentsClientListForScopeResponse{RoleAssignmentListResult: page}, nil)
			return
		},
	}
}

// ARMMux sends role assignment calls to the SDK's fake server and the rest
// (subscriptions) to the fake Graph.
type ARMMux struct {
	Roles policy.Transporter
	Other policy.Transporter
}

func (m ARMMux) Do(req *http.Request) (*http.Response, error) {
	if strings.Contains(req.URL.Path, "/Microsoft.Authorization/roleAssignments") {
		return m.Roles.Do(req)
	}
	return m.Other.Do(req)
}
