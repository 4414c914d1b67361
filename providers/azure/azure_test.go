package azure_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/k0rdent/k0rdent-deploy/providers/azure"
	"github.com/k0rdent/k0rdent-deploy/providers/azure/azuretest"
)

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

func newTestClient(t *testing.T, g *azuretest.Graph, r *azuretest.Roles, retry RetryPolicy) (*Client, *syncBuf) {
	t.Helper()
	log := &syncBuf{}
	opts := azuretest.Options(g, r)
	opts.Log = slog.New(slog.NewTextHandler(log, nil))
	opts.Retry = retry
	c, err := New(azuretest.Credential(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, log
}

const (
	testSub    = azuretest.Subscription
	testTenant = azuretest.Tenant
)

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
	g, r := azuretest.NewGraph(), &azuretest.Roles{NotYet: 2}
	g.SPNotYet = 2
	c, log := newTestClient(t, g, r, fastRetry)

	start := time.Now()
	sp, secret, err := c.EnsureServicePrincipal(context.Background(), spec())
	if err != nil {
		t.Fatalf("EnsureServicePrincipal: %v\nlog:\n%s", err, log)
	}
	took := time.Since(start)
	if secret == "" || secret != g.Secrets[0] {
		t.Errorf("secret = %q, want the one Graph handed out", secret)
	}
	if sp.AppID == "" || sp.ObjectID == "" || sp.AppObjectID == "" || sp.KeyID == "" {
		t.Errorf("service principal = %+v, want every id", sp)
	}
	if want := spec().Scope + "/providers/Microsoft.Authorization/roleAssignments/"; !strings.HasPrefix(sp.RoleAssignmentID, want) {
		t.Errorf("RoleAssignmentID = %q, want under %q", sp.RoleAssignmentID, want)
	}
	if g.SPCreates != 3 || r.Creates != 3 {
		t.Errorf("service principal creates = %d, role assignment creates = %d; want 3 each (two propagation errors, then success)", g.SPCreates, r.Creates)
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
	if secret2 != "" || g.PasswordAdds != 1 || len(g.Apps) != 1 || len(g.SPs) != 1 || len(r.Assigned) != 1 {
		t.Errorf("second call: secret %q, %d secrets added, %d apps, %d SPs, %d assignments; want nothing new", secret2, g.PasswordAdds, len(g.Apps), len(g.SPs), len(r.Assigned))
	}
	if sp2 != sp {
		t.Errorf("second call = %+v, want %+v", sp2, sp)
	}

	// A lost secret (no key id): a new secret on the same application.
	_, secret3, err := c.EnsureServicePrincipal(context.Background(), spec())
	if err != nil || secret3 == "" || secret3 == secret || len(g.Apps) != 1 {
		t.Errorf("call without key id: secret %q, err %v, %d apps; want a new secret on the one application", secret3, err, len(g.Apps))
	}

	// Destroy, twice.
	if err := c.DeleteServicePrincipal(context.Background(), testSub, sp); err != nil {
		t.Fatalf("DeleteServicePrincipal: %v", err)
	}
	if len(g.Apps) != 0 || len(g.SPs) != 0 || len(r.Assigned) != 0 || len(r.Deleted) != 1 {
		t.Errorf("after delete: %d apps, %d SPs, %d assignments left; want none", len(g.Apps), len(g.SPs), len(r.Assigned))
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
		roles   *azuretest.Roles
		creates int
		isProp  bool
		want    []string
	}{
		{
			name: "Forbidden", roles: &azuretest.Roles{Forbid: true}, creates: 1,
			want: []string{"403 AuthorizationFailed", "needs Owner or User Access Administrator at /subscriptions/" + testSub + "/resourceGroups/k0rdent-abc-rg"},
		},
		{
			name: "NeverPropagates", roles: &azuretest.Roles{Never: true}, creates: 5, isProp: true,
			want: []string{"still failing after 5 attempts", "PrincipalNotFound"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := azuretest.NewGraph()
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
			if tt.roles.Creates != tt.creates {
				t.Errorf("role assignment creates = %d, want %d", tt.roles.Creates, tt.creates)
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
	g := azuretest.NewGraph()
	c, _ := newTestClient(t, g, &azuretest.Roles{}, fastRetry)
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
	g.Subscriptions = append(g.Subscriptions, Subscription{ID: "sub-2", Name: "prod", State: "Enabled"})
	if _, err := c.Subscription(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "sees 2 subscriptions") || !strings.Contains(err.Error(), "set azure.subscription_id") {
		t.Errorf("Subscription(\"\") with two = %v, want an error naming azure.subscription_id", err)
	}
}
