package phases

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/internal/testbed"
	"github.com/k0rdent/k0rdent-deploy/providers/azure"
	"github.com/k0rdent/k0rdent-deploy/providers/azure/azuretest"
	"github.com/k0rdent/k0rdent-deploy/providers/kube"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// startKCM plays KCM and CAPZ on the real CRDs (testbed.StartKCM): the
// ClusterTemplates of KCM 1.4.0, valid after a moment, Credentials ready
// after a moment, KCM's admission webhook, and every ClusterDeployment set
// Ready after readyDelay.
func startKCM(t *testing.T, kubeconfig string, readyDelay time.Duration) (*testbed.KCM, *kube.Client) {
	t.Helper()
	k := testbed.StartKCM(t, kubeconfig, testbed.KCMOptions{TemplateDelay: 200 * time.Millisecond, CredentialDelay: 300 * time.Millisecond, ReadyDelay: readyDelay})
	c, err := kube.New(kubeconfig, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return k, c
}

// fastAdmission is the admission wait for tests.
func fastAdmission() admission {
	return admission{
		Timeout: 20 * time.Second,
		Wait:    kube.WaitOptions{Interval: 50 * time.Millisecond, Liveness: time.Second},
		Backoff: wait.Backoff{Duration: 50 * time.Millisecond, Factor: 1.5, Steps: 8},
	}
}

// stub is a dependency node standing in for an upstream phase: it succeeds
// with fixed outputs.
type stub struct {
	name    string
	deps    []string
	outputs map[string]string
}

func (s *stub) Name() string        { return s.name }
func (s *stub) DependsOn() []string { return s.deps }
func (s *stub) Run(ctx context.Context, env *workflow.Env) error {
	for k, v := range s.outputs {
		env.SetOutput(k, v)
	}
	return nil
}

func testConfig(t *testing.T, doc string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte("azure:\n  location: westus2\n"+doc), filepath.Join(t.TempDir(), "k0rdent.yaml"))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, doc)
	}
	return cfg
}

// azureFakes returns an AzureAPI factory: the real providers/azure client
// against the SDK's fake role assignment server and the fake Graph.
func azureFakes(g *azuretest.Graph, r *azuretest.Roles) func(env *workflow.Env) (AzureAPI, error) {
	return func(env *workflow.Env) (AzureAPI, error) {
		opts := azuretest.Options(g, r)
		opts.Log = env.Log
		opts.Retry = azure.RetryPolicy{Attempts: 5, Delay: 20 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
		return azure.New(azuretest.Credential(), opts)
	}
}

// runGraph runs nodes through the real scheduler with a real state journal
// and returns the run file as read back from disk.
func runGraph(t *testing.T, store *state.Store, parallelism int, nodes ...workflow.Phase) (*state.RunFile, *workflow.Result, error) {
	t.Helper()
	g, err := workflow.NewGraph(nodes...)
	if err != nil {
		t.Fatal(err)
	}
	lock, _, err := store.Lock(state.Holder{Command: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	run, err := store.CreateRun(state.Header{})
	if err != nil {
		t.Fatal(err)
	}
	s := &workflow.Scheduler{Graph: g, RunID: run.ID(), SecretsDir: store.LocalBackend().SecretsPath(), Parallelism: parallelism, Recorder: run, LogSink: run.LogSink()}
	res, runErr := s.Run(context.Background(), nil)
	outcome := state.OutcomeSucceeded
	if runErr != nil {
		outcome = state.OutcomeFailed
	}
	if err := run.Finish(outcome, ""); err != nil {
		t.Fatal(err)
	}
	if err := run.Close(); err != nil {
		t.Fatal(err)
	}
	rf, err := store.Load(run.ID())
	if err != nil {
		t.Fatal(err)
	}
	return rf, res, runErr
}

// TestAzureChildren_Scheduler runs the azure-children plugin's nodes through
// the real scheduler and state journal against a real kube-apiserver (CRDs
// installed, the test playing KCM/CAPZ by setting ClusterDeployments Ready
// after a second) and the Azure SDK's fakes (with a propagation delay on
// both the service principal and the role assignment). It shows the three
// child nodes running concurrently in the journal, the objects applied,
// the secret only in a 0600 file under secrets/, a rerun adding no secret,
// and Destroy removing the clusters and the service principal.
func TestAzureChildren_Scheduler(t *testing.T) {
	kapi := testbed.StartLocalKube(t)
	kcm, kc := startKCM(t, kapi.Kubeconfig, time.Second)

	cfg := testConfig(t, `azure_children:
  enabled: true
  clusters:
    - name: dev-1
    - name: dev-2
      location: westeurope
      worker_count: 2
      labels: {team: platform}
    - name: dev-3
`)
	stateDir := t.TempDir()
	store := state.NewStore(stateDir)
	bc := BuildContext{Config: cfg, Flags: RunFlags{}, Dirs: Dirs{Secrets: store.LocalBackend().SecretsPath()}}
	nodes, err := azureChildrenPlugin().Factory(bc)
	if err != nil {
		t.Fatal(err)
	}
	g, roles := azuretest.NewGraph(), &azuretest.Roles{NotYet: 2}
	g.SPNotYet = 1
	// The login sees a second subscription: the node works in the one the
	// terraform node resolved and journalled, not whichever it would list.
	g.Subscriptions = append(g.Subscriptions, azure.Subscription{ID: "00000000-0000-0000-0000-0000000000ff", TenantID: "other-tenant", Name: "prod", State: "Enabled"})
	creds := nodes[0].(*AzureChildren)
	creds.newAzure = azureFakes(g, roles)
	for _, n := range nodes[1:] {
		n.(*AzureChild).wait = kube.WaitOptions{Interval: 100 * time.Millisecond, Liveness: time.Second}
		n.(*AzureChild).admission = fastAdmission()
	}
	upstream := []workflow.Phase{
		&stub{name: TerraformName, outputs: map[string]string{TerraformOutputClusterID: "k0rdent-ab12cd34", "resource_group": "k0rdent-ab12cd34-rg", TerraformOutputSubscription: azuretest.Subscription}},
		&stub{name: K0rdentName, deps: []string{TerraformName}, outputs: map[string]string{K0rdentOutputKubeconfig: kapi.Kubeconfig}},
	}
	all := append(upstream, nodes...)

	rf, _, err := runGraph(t, store, 4, all...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}

	// The three children ran at the same time: every pair of running
	// intervals overlaps.
	tl := map[string]state.NodeTimeline{}
	for _, n := range rf.Timeline() {
		tl[n.Node] = n
	}
	children := []string{"azure-children/dev-1", "azure-children/dev-2", "azure-children/dev-3"}
	for _, name := range append([]string{AzureChildrenName}, children...) {
		if tl[name].State != workflow.Succeeded {
			t.Fatalf("%s is %s (%s), want succeeded", name, tl[name].State, tl[name].Error)
		}
	}
	for i, a := range children {
		for _, b := range children[i+1:] {
			ta, tb := tl[a], tl[b]
			if !(ta.Started.Before(tb.Finished) && tb.Started.Before(ta.Finished)) {
				t.Errorf("%s [%s, %s] and %s [%s, %s] did not overlap", a, ta.Started.Format(time.StampMilli), ta.Finished.Format(time.StampMilli),
					b, tb.Started.Format(time.StampMilli), tb.Finished.Format(time.StampMilli))
			}
		}
		if tl[a].Started.Before(tl[AzureChildrenName].Finished) {
			t.Errorf("%s started before the credentials node finished", a)
		}
	}

	// The secret: one 0600 file under secrets/azure, nowhere else.
	if len(g.Secrets) != 1 {
		t.Fatalf("%d secrets created, want 1", len(g.Secrets))
	}
	secret := g.Secrets[0]
	secretPath := filepath.Join(store.LocalBackend().SecretsPath(), "azure", "client-secret")
	fi, err := os.Stat(secretPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %s: %v, mode %v; want 0600", secretPath, err, fi)
	}
	if data, _ := os.ReadFile(secretPath); string(data) != secret {
		t.Errorf("secret file holds %q, want the service principal's secret", data)
	}
	filepath.WalkDir(stateDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(p, store.LocalBackend().SecretsPath()) {
			return nil
		}
		if data, _ := os.ReadFile(p); strings.Contains(string(data), secret) {
			t.Errorf("%s holds the client secret", p)
		}
		return nil
	})

	// The objects k0rdent needs.
	ctx := context.Background()
	ns := cfg.AzureChildren.Namespace
	for _, o := range creds.objects(azure.Subscription{}, "", "") {
		u, err := kc.Get(ctx, o.ref())
		if err != nil || u == nil {
			t.Errorf("%s: %v, %v; want it applied", o.ref(), u, err)
		}
	}
	id, _ := kc.Get(ctx, kube.ObjectRef{Group: gvrAzureClusterIdentity.Group, Version: "v1beta1", Resource: gvrAzureClusterIdentity.Resource, Namespace: ns, Name: "azure-cluster-identity"})
	if got, _, _ := unstructured.NestedString(id.Object, "spec", "tenantID"); got != azuretest.Tenant {
		t.Errorf("AzureClusterIdentity tenantID = %q, want %q", got, azuretest.Tenant)
	}
	cd, _ := kc.Get(ctx, kube.ObjectRef{Group: gvrClusterDeployment.Group, Version: "v1beta1", Resource: gvrClusterDeployment.Resource, Namespace: ns, Name: "dev-2"})
	loc, _, _ := unstructured.NestedString(cd.Object, "spec", "config", "location")
	workers, _, _ := unstructured.NestedInt64(cd.Object, "spec", "config", "workersNumber")
	sub, _, _ := unstructured.NestedString(cd.Object, "spec", "config", "subscriptionID")
	if loc != "westeurope" || workers != 2 || sub != azuretest.Subscription || cd.GetLabels()["team"] != "platform" {
		t.Errorf("dev-2 ClusterDeployment: location %s, workers %d, subscription %s, labels %v", loc, workers, sub, cd.GetLabels())
	}
	if g.SPCreates != 2 || roles.Creates != 3 {
		t.Errorf("SP creates %d, role assignment creates %d: want the propagation delays retried (2 and 3)", g.SPCreates, roles.Creates)
	}
	if !strings.Contains(readLog(t, store, rf, AzureChildrenName), "not propagated yet") {
		t.Error("the credentials node log does not show the propagation retries")
	}
	for _, w := range []string{`msg="step done" step="service principal" took=`, `msg="step done" step="kubernetes objects" took=`} {
		if !strings.Contains(readLog(t, store, rf, AzureChildrenName), w) {
			t.Errorf("credentials node log lacks %q", w)
		}
	}

	// A second run: the secret is reused, no new one is added.
	rf2, _, err := runGraph(t, store, 4, all...)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if g.PasswordAdds != 1 || len(g.Apps) != 1 {
		t.Errorf("second run: %d secrets added, %d applications; want 1 and 1", g.PasswordAdds, len(g.Apps))
	}
	_ = rf2

	// Destroy: children first, then the credentials.
	for _, n := range append(nodes[1:], nodes[0]) {
		env := &workflow.Env{Node: n.Name(), Log: slog.New(slog.DiscardHandler), SecretsDir: store.LocalBackend().SecretsPath(),
			Inputs: map[string]map[string]string{K0rdentName: {K0rdentOutputKubeconfig: kapi.Kubeconfig}, AzureChildrenName: {AzureOutputKubeconfig: kapi.Kubeconfig}}}
		if err := n.(workflow.Destroyer).Destroy(ctx, env); err != nil {
			t.Fatalf("Destroy %s: %v", n.Name(), err)
		}
	}
	if l, _ := kc.List(ctx, gvrClusterDeployment, ns, ""); len(l) != 0 {
		t.Errorf("%d ClusterDeployments left after Destroy", len(l))
	}
	if len(g.Apps) != 0 || len(roles.Assigned) != 0 {
		t.Errorf("after Destroy: %d applications, %d role assignments; want none", len(g.Apps), len(roles.Assigned))
	}
	if _, err := os.Stat(secretPath); !os.IsNotExist(err) {
		t.Errorf("secret file after Destroy: %v, want it removed", err)
	}
	if got := kcm.Ready(); len(got) != 3 {
		t.Errorf("the controller set %v Ready, want the 3 children", got)
	}
	// Every ClusterDeployment passed KCM's admission the first time (the
	// nodes waited for the template and the Credential) and its
	// spec.config matched the real values schema.
	if r := kcm.Refusals(); len(r) != 0 {
		t.Errorf("KCM refused ClusterDeployments: %q", r)
	}
	if kcm.Checked() < 3 {
		t.Errorf("%d spec.configs checked against the values schema, want at least 3", kcm.Checked())
	}
	for _, c := range children {
		out := rf.Nodes[c].Outputs
		if !strings.Contains(out[OutputAdmission], "template azure-standalone-cp-1-0-15 valid, credential azure-cluster-credential ready after") {
			t.Errorf("%s: journalled admission output %q", c, out[OutputAdmission])
		}
		for _, w := range []string{`step="wait for clustertemplates.k0rdent.mirantis.com/kcm-system/azure-standalone-cp-1-0-15 status.valid" took=`,
			`step="wait for credentials.k0rdent.mirantis.com/kcm-system/azure-cluster-credential status.ready" took=`} {
			if !strings.Contains(readLog(t, store, rf, c), w) {
				t.Errorf("%s log lacks %q", c, w)
			}
		}
	}
}

func readLog(t *testing.T, store *state.Store, rf *state.RunFile, node string) string {
	t.Helper()
	data, err := os.ReadFile(store.LocalBackend().LogPath(rf.Header.RunID, node))
	if err != nil {
		t.Fatalf("log of %s: %v", node, err)
	}
	return string(data)
}

// TestAzureChildren_PermanentFailure: a 403 on the role assignment fails
// the credentials node at once, with what to fix; the children are blocked;
// the secret created before the failure is kept 0600 and nowhere else.
func TestAzureChildren_PermanentFailure(t *testing.T) {
	kapi := testbed.StartLocalKube(t)
	startKCM(t, kapi.Kubeconfig, time.Second)
	cfg := testConfig(t, "azure_children:\n  enabled: true\n  scope: resource_group\n  clusters:\n    - name: dev-1\n")
	stateDir := t.TempDir()
	store := state.NewStore(stateDir)
	nodes, _ := azureChildrenPlugin().Factory(BuildContext{Config: cfg, Flags: RunFlags{}, Dirs: Dirs{Secrets: store.LocalBackend().SecretsPath()}})
	g, roles := azuretest.NewGraph(), &azuretest.Roles{Forbid: true}
	nodes[0].(*AzureChildren).newAzure = azureFakes(g, roles)
	all := append([]workflow.Phase{
		&stub{name: TerraformName, outputs: map[string]string{TerraformOutputClusterID: "k0rdent-x", "resource_group": "k0rdent-x-rg", TerraformOutputSubscription: azuretest.Subscription}},
		&stub{name: K0rdentName, outputs: map[string]string{K0rdentOutputKubeconfig: kapi.Kubeconfig}},
	}, nodes...)
	rf, _, err := runGraph(t, store, 4, all...)
	if err == nil {
		t.Fatal("run succeeded with a 403 from ARM")
	}
	tl := map[string]state.NodeTimeline{}
	for _, n := range rf.Timeline() {
		tl[n.Node] = n
	}
	if c := tl[AzureChildrenName]; c.State != workflow.Failed || c.Attempts != 1 ||
		!strings.Contains(c.Error, "403 AuthorizationFailed") || !strings.Contains(c.Error, "needs Owner or User Access Administrator at /subscriptions/"+azuretest.Subscription+"/resourceGroups/k0rdent-x-rg") {
		t.Errorf("credentials node = %+v, want failed once with the 403 and what to fix", c)
	}
	if c := tl["azure-children/dev-1"]; c.State != workflow.Blocked {
		t.Errorf("child node is %s, want blocked", c.State)
	}
	if roles.Creates != 1 {
		t.Errorf("role assignment tried %d times, want 1 (a 403 is not retried)", roles.Creates)
	}
	data, err := os.ReadFile(filepath.Join(store.LocalBackend().SecretsPath(), "azure", "client-secret"))
	if err != nil || string(data) != g.Secrets[0] {
		t.Errorf("the secret created before the failure was not kept: %v", err)
	}
	raw, _ := os.ReadFile(store.LocalBackend().RunPath(rf.Header.RunID))
	if strings.Contains(string(raw), g.Secrets[0]) || strings.Contains(readLog(t, store, rf, AzureChildrenName), g.Secrets[0]) {
		t.Error("the journal or the node log holds the secret")
	}
}

// TestAzureChildren_Plan: the plugin's nodes, dependencies, enablement and
// plan lines, without a cluster.
func TestAzureChildren_Plan(t *testing.T) {
	cfg := testConfig(t, "azure_children:\n  clusters:\n    - name: a\n    - name: b\n")
	off, _ := azureChildrenPlugin().Factory(BuildContext{Config: cfg, Flags: RunFlags{}})
	on, _ := azureChildrenPlugin().Factory(BuildContext{Config: cfg, Flags: RunFlags{config.FlagWithAzureChildren: true}})
	var names []string
	for i, n := range off {
		names = append(names, n.Name()+fmt.Sprint(n.DependsOn()))
		if ok, why := n.(workflow.Enabler).Enabled(); ok || why != "--with-azure-children not set and azure_children.enabled is false" {
			t.Errorf("%s without the flag: Enabled = %v, %q", n.Name(), ok, why)
		}
		if ok, why := on[i].(workflow.Enabler).Enabled(); !ok || why != "" {
			t.Errorf("%s with the flag: Enabled = %v, %q", n.Name(), ok, why)
		}
	}
	if want := "[azure-children[k0rdent terraform] azure-children/a[azure-children] azure-children/b[azure-children]]"; fmt.Sprint(names) != want {
		t.Errorf("nodes = %v, want %s", names, want)
	}
	d := strings.Join(on[1].(workflow.Describer).Describe(nil), "\n")
	if !strings.Contains(d, "apply ClusterDeployment kcm-system/a: template azure-standalone-cp-1-0-15, credential azure-cluster-credential, westus2") {
		t.Errorf("Describe(child) = %s", d)
	}
}

// A child cluster's ready_timeout bounds its wait (the node's policy adds
// the bounded admission wait, 5 minutes and about a minute of retries, and
// one more minute, so that the phase reports running out of either);
// without one the wait is 30 minutes.
func TestAzureChild_ReadyTimeout(t *testing.T) {
	adm := defaultAdmission().total()
	if adm < 6*time.Minute || adm > 6*time.Minute+10*time.Second {
		t.Errorf("admission bound %s, want 5m of waiting and about 68s of retries", adm)
	}
	for _, tt := range []struct {
		set  config.Duration
		want time.Duration
	}{{0, 31 * time.Minute}, {config.Duration(45 * time.Minute), 46 * time.Minute}} {
		p := NewAzureChild(BuildContext{Config: config.Default()}, config.ChildCluster{Name: "dev", ReadyTimeout: tt.set})
		if got := p.Policy().Timeout - adm; got != tt.want {
			t.Errorf("ready_timeout %s: policy timeout %s, want %s plus the admission bound %s", tt.set, p.Policy().Timeout, tt.want, adm)
		}
	}
}

// credentialObj is the Credential the azure-children node applies.
func credentialObj(name string) *unstructured.Unstructured {
	return obj("k0rdent.mirantis.com/v1beta1", "Credential", "kcm-system", name, map[string]any{
		"spec": map[string]any{"identityRef": map[string]any{"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "AzureClusterIdentity", "name": "azure-cluster-identity", "namespace": "kcm-system"}},
	})
}

// TestAzureChild_Admission plays KCM's admission rules against the child
// node: a template KCM does not ship fails the precondition with the
// templates that exist; a template not yet valid or a Credential not yet
// ready is waited for (bounded: running out is transient and says what to
// look at); a refusal naming them is retried with backoff until KCM takes
// the object; any other refusal is permanent with KCM's message.
func TestAzureChild_Admission(t *testing.T) {
	kapi := testbed.StartLocalKube(t)
	kcm := testbed.StartKCM(t, kapi.Kubeconfig, testbed.KCMOptions{TemplateDelay: 0, CredentialDelay: 1500 * time.Millisecond, ReadyDelay: time.Hour})
	kc, err := kube.New(kapi.Kubeconfig, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	env := func(log *syncBuf) *workflow.Env {
		return &workflow.Env{Node: "azure-children/x", Log: slog.New(slog.NewTextHandler(log, nil)),
			Inputs: map[string]map[string]string{AzureChildrenName: {AzureOutputKubeconfig: kapi.Kubeconfig, AzureOutputSubscription: "sub-1", AzureOutputCredential: "kcm-system/azure-cluster-credential"}}}
	}

	t.Run("TemplateMissing", func(t *testing.T) {
		cfg := testConfig(t, "azure_children:\n  enabled: true\n  clusters:\n    - name: old\n      template: azure-standalone-cp-1-0-8\n")
		p := NewAzureChild(BuildContext{Config: cfg}, cfg.AzureChildren.Clusters[0])
		var got error
		for _, c := range p.Preconditions() {
			if c.Name == "cluster template exists" {
				got = c.Check(ctx, env(&syncBuf{}))
			}
		}
		for _, w := range []string{"ClusterTemplate kcm-system/azure-standalone-cp-1-0-8 (azure_children.clusters[0].template) does not exist in KCM 1.4.0",
			"the ClusterTemplates in kcm-system: azure-standalone-cp-1-0-15"} {
			if got == nil || !strings.Contains(got.Error(), w) {
				t.Errorf("precondition = %v, want it to say %q", got, w)
			}
		}
	})

	t.Run("CredentialNeverReady", func(t *testing.T) {
		if err := kc.Apply(ctx, gvrCredential, credentialObj("never-ready")); err != nil {
			t.Fatal(err)
		}
		a := fastAdmission()
		a.Timeout = 300 * time.Millisecond
		// The stand-in makes it ready after 1.5s: the wait runs out first.
		log := &syncBuf{}
		err := waitAdmissible(ctx, env(log), kc, a, "kcm-system", "azure-standalone-cp-1-0-15", "never-ready")
		if err == nil || !workflow.IsTransient(err) || !strings.Contains(err.Error(), "Credential kcm-system/never-ready is not ready within 300ms") ||
			!strings.Contains(err.Error(), "status.ready not set yet") {
			t.Errorf("wait = %v (transient %v), want a transient error naming the Credential and what was seen", err, workflow.IsTransient(err))
		}
		if !strings.Contains(log.String(), `msg="step failed" step="wait for credentials.k0rdent.mirantis.com/kcm-system/never-ready status.ready"`) {
			t.Errorf("node log lacks the failed wait step:\n%s", log)
		}
	})

	t.Run("TransientRefusalRetried", func(t *testing.T) {
		if err := kc.Apply(ctx, gvrCredential, credentialObj("slow")); err != nil {
			t.Fatal(err)
		}
		cd := clusterDeployment("kcm-system", "eager", "azure-standalone-cp-1-0-15", "slow", "azure-cluster-identity", "sub-1", "westus2", 1, "Standard_A4_v2", 1, "Standard_A4_v2", 32, nil, nil)
		ref := kube.ObjectRef{Group: gvrClusterDeployment.Group, Version: "v1beta1", Resource: "clusterdeployments", Namespace: "kcm-system", Name: "eager"}
		log := &syncBuf{}
		// Straight to the apply, without the wait: KCM refuses until the
		// Credential is ready, and the backoff outlasts that.
		a := fastAdmission()
		a.Backoff = wait.Backoff{Duration: 200 * time.Millisecond, Factor: 1.2, Steps: 20}
		if err := applyAdmitted(ctx, env(log), kc, a, cd, ref); err != nil {
			t.Fatalf("applyAdmitted: %v", err)
		}
		refused := 0
		for _, r := range kcm.Refusals() {
			if strings.Contains(r, "the ClusterDeployment is invalid: the Credential kcm-system/slow is not Ready") {
				refused++
			}
		}
		if refused == 0 || strings.Count(log.String(), "KCM refused the ClusterDeployment for now; retrying") != refused {
			t.Errorf("%d refusals by KCM, log:\n%s\nwant at least one, each logged as a retry", refused, log)
		}
		if u, _ := kc.Get(ctx, ref); u == nil {
			t.Error("the ClusterDeployment was not created after the retries")
		}
	})

	t.Run("PermanentRefusal", func(t *testing.T) {
		// A Credential whose identity kind the Azure provider does not take.
		bad := credentialObj("wrong-kind")
		unstructured.SetNestedField(bad.Object, "Secret", "spec", "identityRef", "kind")
		if err := kc.Apply(ctx, gvrCredential, bad); err != nil {
			t.Fatal(err)
		}
		if err := kc.WaitFor(ctx, credentialRef("kcm-system", "wrong-kind"), "ready", credentialReady, kube.WaitOptions{Timeout: 10 * time.Second, Interval: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		before := len(kcm.Refusals())
		cd := clusterDeployment("kcm-system", "wrong", "azure-standalone-cp-1-0-15", "wrong-kind", "azure-cluster-identity", "sub-1", "westus2", 1, "Standard_A4_v2", 1, "Standard_A4_v2", 32, nil, nil)
		ref := kube.ObjectRef{Group: gvrClusterDeployment.Group, Version: "v1beta1", Resource: "clusterdeployments", Namespace: "kcm-system", Name: "wrong"}
		err := applyAdmitted(ctx, env(&syncBuf{}), kc, fastAdmission(), cd, ref)
		if err == nil || workflow.IsTransient(err) ||
			!strings.Contains(err.Error(), "KCM refused clusterdeployments.k0rdent.mirantis.com/kcm-system/wrong: the ClusterDeployment is invalid: provider infrastructure-azure does not support ClusterIdentity Kind Secret") {
			t.Errorf("applyAdmitted = %v (transient %v), want a permanent error with KCM's message", err, workflow.IsTransient(err))
		}
		if n := len(kcm.Refusals()) - before; n != 1 {
			t.Errorf("%d attempts, want 1 (a permanent refusal is not retried)", n)
		}
	})
}
