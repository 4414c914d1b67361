package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/providers/terraform/tftest"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// dayTwoConfig is the cluster end-to-end test's config (one controller
// VM) with a KOF section (regional cluster off, local charts) that is on
// or off by kof.enabled alone: enabling KOF changes one config key.
func dayTwoConfig(kof bool, standin, chart, charts, iface, tfSection string) string {
	return fmt.Sprintf(`azure:
  location: westus2
cluster:
  controllers: {count: 1}
  workers: {count: 0}
software:
  k0s:
    binary_path: %s
  k0rdent:
    chart: %s
kof:
  enabled: %v
  version: 1.1.0
  charts_dir: %s
  regional:
    enabled: false
vpn:
  interface: %s
  mode: userspace
timeouts:
  vpn_connect: 90s
  k0s_install: 5m
  k0rdent_install: 3m
%s`, standin, chart, kof, charts, iface, tfSection)
}

// planNode is a node of `run --plan -o json`.
type planNode struct {
	Name    string   `json:"name"`
	Action  string   `json:"action"`
	Reason  string   `json:"reason"`
	Changed []string `json:"changed"`
}

// TestDayTwo_BuiltInChain is issue 16's day two on the real built-in
// chain, on one test bed used by the scenarios in sequence: real terraform
// with the fake VM provider standing in for Azure ARM (each VM a file in
// the fake cloud), a namespace VM with a real sshd and wireguard-go, the
// k0s stand-in, and a real kube-apiserver on the VM with the real KCM CRDs
// (the test plays KCM's controller and, for KOF, installs the stand-in
// Sveltos ClusterProfile CRD and a default StorageClass as KCM and the
// cluster would).
//
//  1. A deployment succeeds (wireguard, terraform and vpn first, then the
//     cluster: the second run reuses wireguard and terraform after their
//     Verify).
//  2. Enabling KOF (kof.enabled false → true): `run --plan --verify` says
//     wireguard, terraform, k0s and k0rdent are reused, unchanged since
//     the run that built them, verified; the run reuses them and runs only
//     vpn (volatile) and kof.
//  3. The VM is deleted in the fake cloud, behind Terraform's back:
//     `run --plan --verify` says terraform runs (drift: its Verify
//     failed); the run re-creates the VM; terraform's outputs are the same
//     as before, so k0s, k0rdent and kof are reused.
//  4. The VM's private address changes in the fake cloud (its NIC
//     replaced): terraform runs (drift), its private_ips and vm_details
//     outputs change, so k0s runs (its input from terraform changed); k0s's
//     own outputs are unchanged, so k0rdent and kof are reused.
//  5. Nothing changed: only the volatile vpn runs.
//
// Every assertion on what ran is made on the run file (each node's records
// and the run its success comes from), not only on the text.
func TestDayTwo_BuiltInChain(t *testing.T) {
	requireClusterBed(t)
	t.Parallel() // its own testbed; terraform's settings go to the child's environment only
	tfSection, cloud, tfEnv := tftest.TestModuleEnv(t)
	abs := func(rel ...string) string {
		p, err := filepath.Abs(filepath.Join(append([]string{"..", ".."}, rel...)...))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	standin := abs("providers", "k0sctl", "testdata", "k0s-standin")
	chart := abs("providers", "kube", "testdata", "chart")
	charts := abs("phases", "testdata", "kofcharts")
	clusterProfileCRD, err := os.ReadFile(abs("internal", "testbed", "crds", "standin-sveltos-clusterprofiles.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const vm = "k0s-controller-1"
	vms := []string{vm}
	tb, keyDir := clusterBed(t, vm)
	iface := tb.OperatorInterface()
	config := func(kof bool) string { return dayTwoConfig(kof, standin, chart, charts, iface, tfSection) }
	p := newProject(t, config(false))
	seedClusterKey(t, p, tb, iface, keyDir)

	home := t.TempDir()
	var outputs []result
	k0rdent := operatorCLI(tb, p, append(tfEnv, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"))...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	mustRun := func(what string, args ...string) result {
		t.Helper()
		r := run(t, k0rdent(ctx, append([]string{"--no-color"}, args...)...))
		outputs = append(outputs, r)
		if r.code != 0 {
			t.Fatalf("%s (k0rdent %s): want exit 0\n%s", what, strings.Join(args, " "), r)
		}
		return r
	}
	plan := func(what string) map[string]planNode {
		t.Helper()
		r := mustRun(what, "run", "--plan", "--verify", "-o", "json")
		var doc struct {
			Nodes []planNode `json:"nodes"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("%s: run --plan --verify -o json: %v\n%s", what, err, r)
		}
		out := map[string]planNode{}
		for _, n := range doc.Nodes {
			out[n.Name] = n
		}
		return out
	}
	// ran: the nodes with a running record in the run file.
	ran := func(rf *state.RunFile) []string {
		var out []string
		for _, rec := range rf.Records {
			if rec.To == workflow.Running && !slices.Contains(out, rec.Node) {
				out = append(out, rec.Node)
			}
		}
		slices.Sort(out)
		return out
	}
	// reused: node succeeded in rf without running, after its Verify
	// passed, with the outputs it had in prev, the run before; the reason
	// and the node's RunID name the run it last ran in (prev, or the run
	// prev reused it from).
	reused := func(what string, rf, prev *state.RunFile, node string) {
		t.Helper()
		st, want := rf.Nodes[node], "unchanged since run "+prev.Nodes[node].RunID+", verified"
		switch {
		case st.RunID != prev.Nodes[node].RunID:
			t.Errorf("%s: %s reused naming run %s, want %s, the run it last ran in", what, node, st.RunID, prev.Nodes[node].RunID)
		case slices.Contains(ran(rf), node):
			t.Errorf("%s: %s ran, want it reused (%s)", what, node, want)
		case st.State != workflow.Succeeded || st.Reason != want:
			t.Errorf("%s: %s %s %q, want succeeded without running: %s", what, node, st.State, st.Reason, want)
		case !maps.Equal(st.Outputs, prev.Nodes[node].Outputs) || st.Digest != prev.Nodes[node].Digest:
			t.Errorf("%s: %s reused with outputs %v digest %s, want run %s's %v %s", what, node, st.Outputs, st.Digest, prev.Header.RunID, prev.Nodes[node].Outputs, prev.Nodes[node].Digest)
		}
	}
	// planned: the plan of every node in names is reuse after its Verify
	// passed, unchanged since the run it last ran in (as prev records it).
	planned := func(what string, pl map[string]planNode, prev *state.RunFile, names ...string) {
		t.Helper()
		for _, node := range names {
			if got, want := pl[node].Action+" ("+pl[node].Reason+")", "reuse (unchanged since run "+prev.Nodes[node].RunID+", verified)"; got != want {
				t.Errorf("%s: %s %q, want %q", what, node, got, want)
			}
		}
	}
	// built: node ran and succeeded in rf.
	built := func(what string, rf *state.RunFile, node string) {
		t.Helper()
		if st := rf.Nodes[node]; st.State != workflow.Succeeded || st.RunID != rf.Header.RunID {
			t.Errorf("%s: %s %s in run %q, want succeeded in this run %s", what, node, st.State, st.RunID, rf.Header.RunID)
		}
	}

	// 1. The infrastructure first (k0s and k0rdent skipped), so that the
	// VM's API server is up before k0s installs on it; then the whole
	// deployment.
	first := k0rdent(ctx, "--no-color", "run", "--skip=k0s,k0rdent")
	out1, err1, done := startBootingVMs(t, p, tb, first, vms)
	werr := <-done
	r1 := result{stdout: out1.String(), stderr: err1.String()}
	if werr != nil {
		r1.code = exitCode(t, werr)
	}
	outputs = append(outputs, r1)
	if r1.code != 0 {
		t.Fatalf("infrastructure run: want exit 0\n%s", r1)
	}
	infra := p.currentRun()
	if infra.Outcome != state.OutcomePartial {
		t.Errorf("infrastructure run: outcome %s, want partial (--skip left k0s and k0rdent unrun)", infra.Outcome)
	}

	kube, err := tb.StartKube(vm)
	if err != nil {
		t.Fatalf("API server on %s: %v", vm, err)
	}
	token := standinKubeconfig(t, tb, vm, kube.Kubeconfig)
	kcmDone := playKCM(ctx, t, tb, vm, kube.Kubeconfig)

	mustRun("the whole deployment", "run", "--fresh")
	if err := <-kcmDone; err != nil {
		t.Fatalf("the KCM stand-in: %v", err)
	}
	deployed := p.currentRun()
	rf := deployed
	if rf.Header.RunID == infra.Header.RunID || rf.Outcome != state.OutcomeSucceeded {
		t.Fatalf("the whole deployment: run %s %s, want a new run, succeeded", rf.Header.RunID, rf.Outcome)
	}
	if got := ran(rf); !slices.Equal(got, []string{"k0rdent", "k0s", "vpn"}) {
		t.Errorf("the whole deployment ran %v, want k0rdent, k0s and vpn (wireguard and terraform reused)", got)
	}
	for _, n := range []string{"wireguard", "terraform"} {
		reused("the whole deployment", rf, infra, n)
	}
	if st := rf.Nodes["kof"]; st.State != workflow.Skipped {
		t.Errorf("the whole deployment: kof %s, want skipped (kof.enabled is false)", st.State)
	}
	terraformOutputs := rf.Nodes["terraform"].Outputs
	k0sOutputs := rf.Nodes["k0s"].Outputs

	// 2. Enable KOF. What KCM and the cluster would provide: Sveltos's
	// ClusterProfile CRD and a default StorageClass.
	kubectl := func(stdin string, args ...string) {
		t.Helper()
		c := tb.VMExec(ctx, vm, "kubectl", append([]string{"--kubeconfig=" + kube.Kubeconfig}, args...)...)
		c.Stdin = strings.NewReader(stdin)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	kubectl(string(clusterProfileCRD), "apply", "-f", "-")
	kubectl(`{"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"local","annotations":{"storageclass.kubernetes.io/is-default-class":"true"}},"provisioner":"kubernetes.io/no-provisioner"}`, "apply", "-f", "-")
	kubectl("", "wait", "--for=condition=Established", "crd/clusterprofiles.config.projectsveltos.io", "--timeout=60s")
	if err := os.WriteFile(p.path("k0rdent.yaml"), []byte(config(true)), 0o644); err != nil {
		t.Fatal(err)
	}
	pl := plan("plan with KOF enabled")
	planned("plan with KOF enabled", pl, deployed, "wireguard", "terraform", "k0s", "k0rdent")
	if n := pl["kof"]; n.Action != "run" || !strings.HasPrefix(n.Reason, "enabled: was skipped") {
		t.Errorf("plan with KOF enabled: kof %+v, want run (enabled: was skipped …)", n)
	}
	if n := pl["vpn"]; n.Action != "run" {
		t.Errorf("plan with KOF enabled: vpn %+v, want run (volatile)", n)
	}
	text := mustRun("plan text with KOF enabled", "run", "--plan", "--verify", "--diff")
	for _, want := range []string{"reuse", "unchanged since run " + deployed.Header.RunID + ", verified", "2 run, 4 reuse, 1 skip", "kof.enabled → kof"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("plan text with KOF enabled lacks %q:\n%s", want, text.stdout)
		}
	}

	mustRun("the run with KOF enabled", "run")
	withKOF := p.currentRun()
	rf = withKOF
	if rf.Outcome != state.OutcomeSucceeded {
		t.Fatalf("the run with KOF enabled: %s", rf.Outcome)
	}
	if got := ran(rf); !slices.Equal(got, []string{"kof", "vpn"}) {
		t.Errorf("the run with KOF enabled ran %v, want only kof and vpn", got)
	}
	for _, node := range []string{"wireguard", "terraform", "k0s", "k0rdent"} {
		reused("the run with KOF enabled", rf, deployed, node)
	}
	built("the run with KOF enabled", rf, "kof")
	if got := rf.Nodes["kof"].Outputs; got["mothership"] != "kof/kof-mothership" || got["storage_class"] != "local" {
		t.Errorf("kof outputs %v, want mothership kof/kof-mothership on StorageClass local", got)
	}

	// 3. The VM is deleted in the (fake) cloud, behind Terraform's back.
	vmFile := filepath.Join(cloud, vm+".json")
	if _, err := os.Stat(vmFile); err != nil {
		t.Fatalf("the fake cloud's VM: %v", err)
	}
	if err := os.Remove(vmFile); err != nil {
		t.Fatal(err)
	}
	pl = plan("plan after the VM was deleted")
	deleted := fmt.Sprintf(`fakevm_vm.vm[%q] deleted`, vm)
	if n := pl["terraform"]; n.Action != "run" || !strings.HasPrefix(n.Reason, "drift: verify failed: infrastructure drifted: "+deleted) {
		t.Errorf("plan after the VM was deleted: terraform %+v, want run (drift: verify failed: infrastructure drifted: %s …)", n, deleted)
	}
	planned("plan after the VM was deleted", pl, withKOF, "wireguard") // it does not depend on terraform
	for _, node := range []string{"k0s", "k0rdent", "kof"} {
		if got, want := pl[node].Action+" ("+pl[node].Reason+")", "decided at run time (reuse if the outputs of terraform are unchanged after it runs, else run)"; got != want {
			t.Errorf("plan after the VM was deleted: %s %q, want %q", node, got, want)
		}
	}
	mustRun("the run after the VM was deleted", "run")
	recreated := p.currentRun()
	rf = recreated
	if got := ran(rf); !slices.Equal(got, []string{"terraform", "vpn"}) {
		t.Errorf("the run after the VM was deleted ran %v, want terraform (drift) and vpn; terraform's outputs are unchanged, so k0s, k0rdent and kof are reused", got)
	}
	built("the run after the VM was deleted", rf, "terraform")
	if why := runningReason(rf, "terraform"); !strings.HasPrefix(why, "drift: verify failed: infrastructure drifted: "+deleted) {
		t.Errorf("terraform ran because %q, want drift: %s", why, deleted)
	}
	if _, err := os.Stat(vmFile); err != nil {
		t.Errorf("terraform did not re-create the VM: %v", err)
	}
	if got := rf.Nodes["terraform"].Outputs; !maps.Equal(got, terraformOutputs) {
		t.Errorf("terraform outputs after re-creating the VM %v, want the same as before %v", got, terraformOutputs)
	}
	for _, node := range []string{"wireguard", "k0s", "k0rdent", "kof"} {
		reused("the run after the VM was deleted", rf, withKOF, node)
	}

	// 4. The VM's NIC is replaced in the cloud: its private address
	// changes, and so do terraform's outputs.
	record, err := os.ReadFile(vmFile)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(record, &rec); err != nil {
		t.Fatalf("the fake cloud's VM record: %v\n%s", err, record)
	}
	if rec["private_ip"] != terraformPrivateIP(t, terraformOutputs, vm) {
		t.Fatalf("the fake cloud's VM record %s: private_ip is not the recorded one", record)
	}
	rec["private_ip"] = "10.0.1.99"
	if record, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vmFile, record, 0o600); err != nil {
		t.Fatal(err)
	}
	pl = plan("plan after the VM's address changed")
	if n := pl["terraform"]; n.Action != "run" || !strings.Contains(n.Reason, "output private_ips: "+vm+" changed") {
		t.Errorf("plan after the VM's address changed: terraform %+v, want run (drift: … output private_ips: %s changed …)", n, vm)
	}
	mustRun("the run after the VM's address changed", "run")
	rf = p.currentRun()
	if got := ran(rf); !slices.Equal(got, []string{"k0s", "terraform", "vpn"}) {
		t.Errorf("the run after the VM's address changed ran %v, want terraform (drift), k0s (its input changed) and vpn; k0s's outputs are unchanged, so k0rdent and kof are reused", got)
	}
	for _, node := range []string{"terraform", "k0s"} {
		built("the run after the VM's address changed", rf, node)
	}
	if why, want := runningReason(rf, "k0s"), "input from terraform changed: private_ips, vm_details"; why != want {
		t.Errorf("k0s ran because %q, want %q", why, want)
	}
	if got := terraformPrivateIP(t, rf.Nodes["terraform"].Outputs, vm); got != "10.0.1.99" {
		t.Errorf("terraform private_ips[%s] = %q after the refresh, want 10.0.1.99", vm, got)
	}
	if got := rf.Nodes["k0s"].Outputs; !maps.Equal(got, k0sOutputs) {
		t.Errorf("k0s outputs %v, want unchanged %v", got, k0sOutputs)
	}
	for _, node := range []string{"wireguard", "k0rdent", "kof"} {
		reused("the run after the VM's address changed", rf, recreated, node)
	}

	// 5. Nothing changed: only the volatile vpn runs.
	readdressed := p.currentRun()
	pl = plan("plan with nothing changed")
	planned("plan with nothing changed", pl, readdressed, "wireguard", "terraform", "k0s", "k0rdent", "kof")
	if n := pl["vpn"]; n.Action != "run" {
		t.Errorf("plan with nothing changed: vpn %+v, want run (volatile)", n)
	}
	mustRun("the run with nothing changed", "run")
	rf = p.currentRun()
	if got := ran(rf); !slices.Equal(got, []string{"vpn"}) {
		t.Errorf("the run with nothing changed ran %v, want only vpn", got)
	}
	for _, node := range []string{"wireguard", "terraform", "k0s", "k0rdent", "kof"} {
		reused("the run with nothing changed", rf, readdressed, node)
	}

	scanForSecrets(t, p.path("state"), outputs, len(vms), [2]string{"the API server's token", token})
}

// runningReason is the reason of node's last running record in rf.
func runningReason(rf *state.RunFile, node string) string {
	why := "(did not run)"
	for _, rec := range rf.Records {
		if rec.Node == node && rec.To == workflow.Running {
			why = rec.Reason
		}
	}
	return why
}

// terraformPrivateIP is vm's address in terraform's private_ips output.
func terraformPrivateIP(t *testing.T, outputs map[string]string, vm string) string {
	t.Helper()
	var ips map[string]string
	if err := json.Unmarshal([]byte(outputs["private_ips"]), &ips); err != nil {
		t.Fatalf("terraform private_ips %q: %v", outputs["private_ips"], err)
	}
	return ips[vm]
}
