package cli

import (
	"bytes"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/deploy"
	"github.com/k0rdent/k0rdent-deploy/state"
)

// TestWriteReset_Legacy: the reset plan says what of the bash tool's
// deployment a node is handed, and after the teardown what is still there
// with the commands that remove it.
func TestWriteReset_Legacy(t *testing.T) {
	var b bytes.Buffer
	writeResetPlan(&b, &deploy.ResetPlanResult{Nodes: []deploy.ResetNode{
		{Node: "kof", Action: deploy.ResetDestroy, Legacy: "the legacy tool's KOF: mothership 1.1.0 in namespace kof"},
		{Node: "azure-children", Action: deploy.ResetDestroy, RunID: "20250714-153005-ec15", State: "succeeded", Legacy: "the legacy tool's Azure service principal sp"},
	}})
	writeLegacyLeft(&b, []state.Leftover{{Fact: state.FactLegacyServicePrincipal, What: "the legacy tool's Azure service principal sp (client id cid)", Fix: "az ad app delete --id cid"}})
	want := `reset would destroy 2 node(s), in this order:
NODE            ACTION   BUILT BY
kof             destroy  and the bash tool: the legacy tool's KOF: mothership 1.1.0 in namespace kof
azure-children  destroy  run 20250714-153005-ec15; and the bash tool: the legacy tool's Azure service principal sp
still there, created by the bash tool (runtime.yaml lists it); remove it by hand:
  the legacy tool's Azure service principal sp (client id cid)
    az ad app delete --id cid
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
