package deploy

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/providers/azure"
	"github.com/k0rdent/k0rdent-deploy/providers/azure/azuretest"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// The bash tool's service principal in the real fixture v0.1.0
// kof-then-plain (config/azure-credentials.yaml, state/azure-state.yaml).
const (
	legacySPName     = "k0rdent-5d4jf4jp-cluster-deployment-sp"
	legacySPClientID = "0c1d2e3f-4a5b-4c6d-8e7f-29837a756a73"
	legacySPSub      = "3f2b8c1e-5a4d-4e7f-9b21-6c0d8e4a7f10"
)

// legacyResetEnv is the real bash tool's project after `deploy
// --with-azure-children --with-kof` then a plain `deploy` (its service
// principal and KOF still exist; the latest legacy run skipped both), not
// migrated yet, with a registry of the built-in azure-children (against
// the fake Graph and the SDK's fake role assignment server: Azure cannot
// run here) and kof nodes, plain stand-ins for the others, and Azure
// holding the bash tool's application with its Contributor assignment.
func legacyResetEnv(t *testing.T) (*env, *azuretest.Graph, *azuretest.Roles) {
	t.Helper()
	e := legacyProject(t, "v0.1.0-kof-then-plain")

	g, roles := azuretest.NewGraph(), &azuretest.Roles{}
	principal := g.AddApp(legacySPName, legacySPClientID)
	g.AddApp("another-teams-sp", "99999999-0000-0000-0000-000000000000")
	scope := "/subscriptions/" + legacySPSub
	roles.Preassign("5b0b2b5e-0000-0000-0000-00000000beef", azuretest.Assignment{Scope: scope, Principal: principal,
		RoleDefinitionID: scope + "/providers/Microsoft.Authorization/roleDefinitions/" + azure.ContributorRoleID})
	fakeAzure := func(env *workflow.Env) (phases.AzureAPI, error) {
		opts := azuretest.Options(g, roles)
		opts.Log = env.Log
		if opts.Log == nil {
			opts.Log = slog.New(slog.DiscardHandler)
		}
		return azure.New(azuretest.Credential(), opts)
	}
	builtin := phases.Builtin().Projections()
	for _, n := range []struct{ name, dep string }{{"wireguard", ""}, {"terraform", "wireguard"}, {"vpn", "terraform"}, {"k0s", "vpn"}, {"k0rdent", "k0s"}} {
		var deps []string
		if n.dep != "" {
			deps = []string{n.dep}
		}
		e.register(&goPhase{name: n.name, deps: deps, run: func(context.Context, *workflow.Env) error { return nil }})
	}
	e.reg.RegisterPlugin(phases.Plugin{Name: phases.AzureChildrenName, Projects: builtin[phases.AzureChildrenName],
		Factory: func(bc phases.BuildContext) ([]workflow.Phase, error) {
			return []workflow.Phase{phases.NewAzureChildren(bc).WithAzure(fakeAzure)}, nil
		}})
	e.reg.RegisterPlugin(phases.Plugin{Name: phases.KOFName, Projects: builtin[phases.KOFName],
		Factory: func(bc phases.BuildContext) ([]workflow.Phase, error) {
			return []workflow.Phase{phases.NewKOF(bc)}, nil
		}})
	return e, g, roles
}

// migrateForReset migrates the legacy files and removes the management
// cluster's kubeconfig: it is gone (nothing here runs k0s), so Destroy
// has only Azure to clean.
func migrateForReset(t *testing.T, e *env) {
	t.Helper()
	d := e.deployer()
	lock, _, err := d.Store.Lock(state.CurrentHolder("test"))
	if err != nil {
		t.Fatal(err)
	}
	err = d.migrate()
	lock.Unlock()
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	rt, err := d.Store.Current()
	if err != nil || rt.Legacy == nil || rt.Legacy.ServicePrincipal == nil || rt.Legacy.KOF == nil {
		t.Fatalf("migrated runtime %+v (%v): want the legacy service principal and KOF", rt, err)
	}
	if sp := rt.Legacy.ServicePrincipal; sp.ClientID != legacySPClientID || sp.Name != legacySPName {
		t.Fatalf("migrated service principal %+v", sp)
	}
	if err := os.Remove(filepath.Join(d.Store.LocalBackend().SecretsPath(), "k0s", "kubeconfig")); err != nil {
		t.Fatal(err)
	}
}

// TestReset_MigratedLegacyServicePrincipal: reset of a deployment migrated
// from the bash tool deletes the bash tool's service principal in Azure
// (the azure-children node is destroyed for it although the latest
// legacy run skipped it), and runtime.yaml no longer lists it; the KOF,
// which nothing could remove without the management cluster, is still
// listed and the reset says how to remove it by hand. When Azure refuses
// the delete, the teardown fails saying so and runtime.yaml keeps listing
// the service principal.
func TestReset_MigratedLegacyServicePrincipal(t *testing.T) {
	t.Run("Deleted", func(t *testing.T) {
		e, g, roles := legacyResetEnv(t)
		migrateForReset(t, e)
		plan, err := e.deployer().ResetPlan(phases.RunFlags{})
		if err != nil {
			t.Fatal(err)
		}
		var planned *ResetNode
		for i := range plan.Nodes {
			if plan.Nodes[i].Node == phases.AzureChildrenName {
				planned = &plan.Nodes[i]
			}
		}
		if planned == nil || planned.Action != ResetDestroy || !strings.Contains(planned.Legacy, legacySPName) {
			t.Errorf("reset plan of azure-children %+v, want destroy for the legacy service principal", planned)
		}

		res, err := e.deployer().Reset(context.Background(), ResetOptions{})
		if err != nil || res.Outcome != state.OutcomeSucceeded {
			t.Fatalf("reset: %v %+v", err, res)
		}
		if g.HasApp(legacySPClientID) || len(roles.Assignments()) != 0 {
			t.Errorf("after reset the fake Azure still has the application: %v, assignments %v", g.HasApp(legacySPClientID), roles.Assignments())
		}
		if !g.HasApp("99999999-0000-0000-0000-000000000000") {
			t.Error("reset deleted an application the deployment does not own")
		}
		store := state.NewStore("state")
		rt, err := store.Current()
		if err != nil {
			t.Fatal(err)
		}
		if rt.Legacy == nil || rt.Legacy.ServicePrincipal != nil || rt.Legacy.KOF == nil {
			t.Errorf("runtime legacy after reset %+v: want the service principal gone and KOF kept", rt.Legacy)
		}
		if len(res.LegacyLeft) != 1 || res.LegacyLeft[0].Fact != state.FactLegacyKOF ||
			!strings.Contains(res.LegacyLeft[0].Fix, "helm uninstall -n kof kof-mothership kof-operators") ||
			!strings.Contains(res.LegacyLeft[0].Fix, "delete clusterdeployment kof-regional-5d4jf4jp-southeastasia") {
			t.Errorf("reset says left %+v, want KOF with the hand commands", res.LegacyLeft)
		}
		rf, err := store.Load(res.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if got := rf.Nodes[phases.AzureChildrenName].Outputs[phases.AzureOutputLegacyServicePrincipal]; got != "deleted application "+legacySPClientID {
			t.Errorf("teardown record of azure-children says %q", got)
		}
		os.Remove(store.LocalBackend().RuntimePath())
		rebuilt, err := store.RebuildRuntime()
		if err != nil || !reflect.DeepEqual(rebuilt.Legacy, rt.Legacy) {
			t.Errorf("rebuilt legacy %+v (%v), want %+v", rebuilt.Legacy, err, rt.Legacy)
		}
	})
	t.Run("DeleteDenied", func(t *testing.T) {
		e, g, _ := legacyResetEnv(t)
		g.DenyDeletes = true
		migrateForReset(t, e)
		res, err := e.deployer().Reset(context.Background(), ResetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != state.OutcomeFailed || res.Err == nil || !strings.Contains(res.Err.Error(), "az ad app delete --id "+legacySPClientID) {
			t.Errorf("reset outcome %s, err %v: want failed naming az ad app delete --id %s", res.Outcome, res.Err, legacySPClientID)
		}
		if !g.HasApp(legacySPClientID) {
			t.Fatal("the fake deleted the application although it denies deletes")
		}
		rt, err := state.NewStore("state").Current()
		if err != nil {
			t.Fatal(err)
		}
		if rt.Legacy == nil || rt.Legacy.ServicePrincipal == nil || rt.Legacy.ServicePrincipal.ClientID != legacySPClientID {
			t.Errorf("runtime legacy after the failed reset %+v: want the service principal still listed", rt.Legacy)
		}
		var facts []string
		for _, l := range res.LegacyLeft {
			facts = append(facts, l.Fact)
			if l.Fact == state.FactLegacyServicePrincipal && !strings.HasPrefix(l.Fix, "az ad app delete --id "+legacySPClientID) {
				t.Errorf("hand command for the service principal %q", l.Fix)
			}
		}
		if !reflect.DeepEqual(facts, []string{state.FactLegacyServicePrincipal, state.FactLegacyKOF}) {
			t.Errorf("reset says left %v, want the service principal and KOF", facts)
		}
	})
}
