package state

import (
	"reflect"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TestProject_TeardownLegacy: a teardown clears a legacy fact of
// runtime.yaml only when the succeeded Destroy of the node declaring it
// says it removed it (sets the declared key); a Destroy that failed, that
// set nothing (it did not find or know the thing), or a teardown whose
// header declares no legacy fact (written before they existed) keeps it.
func TestProject_TeardownLegacy(t *testing.T) {
	sp := &LegacyServicePrincipal{Name: "k0rdent-ab12-cluster-deployment-sp", ClientID: "0c1d2e3f-4a5b-4c6d-8e7f-29837a756a73", SubscriptionID: "sub"}
	kof := &LegacyKOFInstall{Mothership: true, MothershipVersion: "1.1.0", Namespace: "kof", RegionalCluster: "kof-regional-ab12-southeastasia"}
	prev := &Runtime{Format: FormatVersion, ClusterID: "k0rdent-ab12", Legacy: &LegacyResources{SSHKey: "/s/secrets/ssh/legacy-admin-key", ServicePrincipal: sp, KOF: kof}}
	declared := map[string][]string{
		"azure-children": {FactLegacyServicePrincipal + "=legacy_service_principal"},
		"kof":            {FactLegacyKOF + "=legacy_kof"},
		"terraform":      {FactTerraform + "=*"},
	}
	destroyed := func(node string, to workflow.State, outputs map[string]string) []workflow.Event {
		end := workflow.Event{Time: at(11), Node: node, From: workflow.Running, To: to, Attempt: 2, Duration: time.Second, Outputs: outputs}
		if to == workflow.Failed {
			end.Error = "delete application: 403 Authorization_RequestDenied"
		}
		return []workflow.Event{{Time: at(10), Node: node, From: workflow.Succeeded, To: workflow.Running, Attempt: 2, Reason: "destroy"}, end}
	}
	for _, tt := range []struct {
		name     string
		decl     map[string][]string
		events   []workflow.Event
		wantSP   bool
		wantKOF  bool
		wantNone bool
	}{
		{name: "RemovedSPKeptKOF", decl: declared,
			events: append(destroyed("kof", workflow.Succeeded, nil),
				destroyed("azure-children", workflow.Succeeded, map[string]string{"legacy_service_principal": "deleted application " + sp.ClientID})...),
			wantKOF: true},
		{name: "FailedDestroyKeeps", decl: declared,
			events: destroyed("azure-children", workflow.Failed, nil), wantSP: true, wantKOF: true},
		{name: "SucceededWithoutSayingKeeps", decl: declared,
			events: destroyed("azure-children", workflow.Succeeded, map[string]string{"other": "x"}), wantSP: true, wantKOF: true},
		{name: "OldTeardownHeaderKeeps", decl: map[string][]string{"terraform": {FactTerraform + "=*"}},
			events: append(destroyed("azure-children", workflow.Succeeded, map[string]string{"legacy_service_principal": "deleted"}),
				destroyed("kof", workflow.Succeeded, map[string]string{"legacy_kof": "uninstalled"})...),
			wantSP: true, wantKOF: true},
		{name: "AllRemoved", decl: declared,
			events: append(append(destroyed("kof", workflow.Succeeded, map[string]string{"legacy_kof": "uninstalled"}),
				destroyed("azure-children", workflow.Succeeded, map[string]string{"legacy_service_principal": "absent"})...),
				destroyed("terraform", workflow.Succeeded, nil)...),
			wantNone: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := lockedStore(t)
			h := testHeader("20261125-110000-0001")
			h.Teardown, h.Projects = true, tt.decl
			h.Nodes = []string{"terraform", "azure-children", "kof"}
			r, err := s.CreateRun(h)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range tt.events {
				if err := r.Record(e); err != nil {
					t.Fatalf("Record %s %s->%s: %v", e.Node, e.From, e.To, err)
				}
			}
			r.Close()
			rf, err := s.Load(h.RunID)
			if err != nil {
				t.Fatal(err)
			}
			got := Project(prev, rf)
			if tt.wantNone {
				if got.Legacy != nil {
					t.Errorf("legacy after the teardown %+v, want none", got.Legacy)
				}
				return
			}
			if got.Legacy == nil {
				t.Fatal("legacy section gone")
			}
			if has := got.Legacy.ServicePrincipal != nil; has != tt.wantSP {
				t.Errorf("service principal listed: %v, want %v", has, tt.wantSP)
			} else if has && !reflect.DeepEqual(got.Legacy.ServicePrincipal, sp) {
				t.Errorf("service principal %+v, want %+v", got.Legacy.ServicePrincipal, sp)
			}
			if has := got.Legacy.KOF != nil; has != tt.wantKOF {
				t.Errorf("kof listed: %v, want %v", has, tt.wantKOF)
			}
			var left []string
			for _, l := range got.Legacy.Leftovers() {
				left = append(left, l.Fact)
			}
			var want []string
			if tt.wantSP {
				want = append(want, FactLegacyServicePrincipal)
			}
			if tt.wantKOF {
				want = append(want, FactLegacyKOF)
			}
			if !reflect.DeepEqual(left, want) {
				t.Errorf("Leftovers %v, want %v", left, want)
			}
		})
	}
}

// TestLegacyResources_HandoverAndLeftovers: what a teardown hands the
// node (JSON of the legacy thing) and the hand commands for what is left.
func TestLegacyResources_HandoverAndLeftovers(t *testing.T) {
	l := &LegacyResources{ServicePrincipal: &LegacyServicePrincipal{Name: "k0rdent-ab12-cluster-deployment-sp", ClientID: "cid", SubscriptionID: "sub"},
		KOF: &LegacyKOFInstall{Mothership: true, MothershipVersion: "1.1.0", Namespace: "kof", RegionalCluster: "kof-regional-ab12-x"}}
	if got, ok := l.Handover(FactLegacyServicePrincipal); !ok || got != `{"name":"k0rdent-ab12-cluster-deployment-sp","subscription_id":"sub","client_id":"cid"}` {
		t.Errorf("Handover(sp) = %q, %v", got, ok)
	}
	if got, ok := l.Handover(FactLegacyKOF); !ok || got != `{"mothership":true,"mothership_version":"1.1.0","namespace":"kof","regional_cluster":"kof-regional-ab12-x"}` {
		t.Errorf("Handover(kof) = %q, %v", got, ok)
	}
	if _, ok := (&LegacyResources{SSHKey: "k"}).Handover(FactLegacyKOF); ok {
		t.Error("Handover of an absent KOF: ok")
	}
	left := l.Leftovers()
	if len(left) != 2 || left[0].Fix != "az ad app delete --id cid" ||
		left[1].Fix != "kubectl -n kcm-system delete clusterdeployment kof-regional-ab12-x (once the management cluster is gone: az group delete --name kof-regional-ab12-x); helm uninstall -n kof kof-mothership kof-operators; helm uninstall -n istio-system kof-istio" {
		t.Errorf("Leftovers = %+v", left)
	}
}
