package phases

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/providers/azure"
	"github.com/k0rdent/k0rdent-deploy/providers/azure/azuretest"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TestAzureChildren_DestroyLegacy: handed the bash tool's service
// principal (no record of its own, no management cluster), Destroy finds
// it by client id in the fake Graph and deletes it with its Contributor
// assignment, and says so; gone already is fine and said; a denied
// delete, or an application of another name under that client id, is an
// error naming the command, with nothing said and nothing else deleted.
func TestAzureChildren_DestroyLegacy(t *testing.T) {
	const name, clientID = "k0rdent-5d4jf4jp-cluster-deployment-sp", "0c1d2e3f-4a5b-4c6d-8e7f-29837a756a73"
	handed := `{"name":"` + name + `","subscription_id":"` + azuretest.Subscription + `","client_id":"` + clientID + `"}`
	for _, tt := range []struct {
		name       string
		appName    string // "" : no such application
		deny       bool
		wantOutput string // prefix; "" : none
		wantErr    string
		wantGone   bool
	}{
		{name: "Deleted", appName: name, wantOutput: "deleted application " + clientID, wantGone: true},
		{name: "AlreadyGone", wantOutput: "absent: no application " + clientID, wantGone: true},
		{name: "DeleteDenied", appName: name, deny: true, wantErr: "az ad app delete --id " + clientID},
		{name: "NotOurs", appName: "someone-elses-app", wantErr: "not deleting an application this deployment does not own"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, roles := azuretest.NewGraph(), &azuretest.Roles{}
			g.DenyDeletes = tt.deny
			if tt.appName != "" {
				principal := g.AddApp(tt.appName, clientID)
				scope := "/subscriptions/" + azuretest.Subscription
				roles.Preassign("legacy-assignment", azuretest.Assignment{Scope: scope, Principal: principal,
					RoleDefinitionID: scope + "/providers/Microsoft.Authorization/roleDefinitions/" + azure.ContributorRoleID})
			}
			p := NewAzureChildren(BuildContext{Config: config.Default(), Dirs: Dirs{Secrets: t.TempDir()}})
			p.newAzure = azureFakes(g, roles)
			env := &workflow.Env{Node: AzureChildrenName, Log: slog.New(slog.DiscardHandler),
				Recorded: map[string]string{AzureOutputLegacyServicePrincipal: handed}}
			err := p.Destroy(context.Background(), env)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Destroy: %v, want error containing %q", err, tt.wantErr)
			}
			got := env.Outputs()[AzureOutputLegacyServicePrincipal]
			if tt.wantOutput == "" && got != "" || !strings.HasPrefix(got, tt.wantOutput) {
				t.Errorf("output %q, want %q", got, tt.wantOutput)
			}
			if gone := !g.HasApp(clientID); gone != tt.wantGone {
				t.Errorf("application gone: %v, want %v", gone, tt.wantGone)
			}
			// The role assignment goes first (DeleteServicePrincipal),
			// so a denied application delete has removed it already.
			if left := len(roles.Assignments()); tt.wantGone && left != 0 || tt.name == "NotOurs" && left != 1 {
				t.Errorf("%d role assignments left", left)
			}
		})
	}
}
