package azure_test

import (
	"context"
	"github.com/k0rdent/k0rdent-deploy/providers/azure/azuretest"
	"strings"
	"testing"
)

// A role assignment that already exists under another name (ARM allows one
// per scope, principal and role, and answers 409 to a second) is recorded
// with its real id, and DeleteServicePrincipal removes it.
func TestClient_PreexistingRoleAssignment(t *testing.T) {
	g, r := azuretest.NewGraph(), &azuretest.Roles{}
	c, log := newTestClient(t, g, r, fastRetry)
	ctx := context.Background()
	sp, _, err := c.EnsureServicePrincipal(ctx, spec())
	if err != nil {
		t.Fatal(err)
	}
	ours := sp.RoleAssignmentID[strings.LastIndex(sp.RoleAssignmentID, "/")+1:]
	const theirs = "0f8fad5b-d9cb-469f-a165-70867728950e"
	r.Rename(ours, theirs)

	sp2, _, err := c.EnsureServicePrincipal(ctx, spec())
	if err != nil {
		t.Fatalf("EnsureServicePrincipal over an existing assignment: %v\n%s", err, log)
	}
	want := spec().Scope + "/providers/Microsoft.Authorization/roleAssignments/" + theirs
	if sp2.RoleAssignmentID != want {
		t.Errorf("RoleAssignmentID = %q, want the existing one %q", sp2.RoleAssignmentID, want)
	}
	if len(r.Assignments()) != 1 {
		t.Errorf("%d assignments, want the one that existed", len(r.Assignments()))
	}
	if err := c.DeleteServicePrincipal(ctx, testSub, sp2); err != nil {
		t.Fatal(err)
	}
	if a := r.Assignments(); len(a) != 0 {
		t.Errorf("after DeleteServicePrincipal: %v left, want the existing assignment removed", a)
	}
}
