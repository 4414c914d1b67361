package azure_test

import (
	"context"
	"testing"

	. "github.com/k0rdent/k0rdent-deploy/providers/azure"
	"github.com/k0rdent/k0rdent-deploy/providers/azure/azuretest"
)

// TestClient_FindServicePrincipal finds an application made outside
// k0rdent (the bash tool's) by its client id or its display name, with its
// service principal and its Contributor assignment at the subscription,
// and DeleteServicePrincipal then removes both; an unknown id is nil.
func TestClient_FindServicePrincipal(t *testing.T) {
	ctx := context.Background()
	const name, appID = "k0rdent-5d4jf4jp-cluster-deployment-sp", "0c1d2e3f-4a5b-4c6d-8e7f-29837a756a73"
	for _, tt := range []struct {
		name         string
		byName, byID string
	}{
		{name: "ByClientID", byID: appID},
		{name: "ByDisplayName", byName: name},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, r := azuretest.NewGraph(), &azuretest.Roles{}
			g.AddApp("someone-else", "11111111-0000-0000-0000-000000000000")
			principal := g.AddApp(name, appID)
			scope := "/subscriptions/" + testSub
			r.Preassign("a0b1c2d3-0000-0000-0000-000000000001", azuretest.Assignment{Scope: scope, Principal: principal,
				RoleDefinitionID: scope + "/providers/Microsoft.Authorization/roleDefinitions/" + ContributorRoleID})
			c, _ := newTestClient(t, g, r, fastRetry)

			a, err := c.FindServicePrincipal(ctx, testSub, tt.byName, tt.byID)
			if err != nil || a == nil {
				t.Fatalf("FindServicePrincipal = %+v, %v", a, err)
			}
			if a.DisplayName != name || a.AppID != appID || a.ObjectID != principal || a.AppObjectID == "" {
				t.Errorf("found %+v, want %s %s with principal %s", a, name, appID, principal)
			}
			if a.RoleAssignmentID == "" {
				t.Error("no role assignment found, want the Contributor one at the subscription")
			}
			if err := c.DeleteServicePrincipal(ctx, testSub, a.ServicePrincipal); err != nil {
				t.Fatal(err)
			}
			if g.HasApp(appID) || len(r.Assignments()) != 0 {
				t.Errorf("after delete: app exists %v, assignments %v", g.HasApp(appID), r.Assignments())
			}
			if !g.HasApp("11111111-0000-0000-0000-000000000000") {
				t.Error("another application was deleted")
			}
			if a, err := c.FindServicePrincipal(ctx, testSub, "", appID); err != nil || a != nil {
				t.Errorf("after delete FindServicePrincipal = %+v, %v; want nil, nil", a, err)
			}
		})
	}
}
