package phases

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/internal/testbed"
	"github.com/k0rdent/k0rdent-deploy/providers/kube"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TestKOF_DestroyLegacy: on a real kube-apiserver with the KCM stand-in,
// KOF is installed as the bash tool installed it (KOF 1.1.0: kof-istio in
// istio-system, kof-operators and kof-mothership in kof, the regional
// cluster kcm-system/kof-regional-<suffix>-<location>); a kof node of
// today's config (KOF off, its defaults) handed the bash tool's KOF
// deletes the regional cluster and uninstalls those releases, and says
// so. A regional cluster whose name the migration lost, or no admin
// kubeconfig, removes nothing and says nothing, so that runtime.yaml keeps
// listing it.
func TestKOF_DestroyLegacy(t *testing.T) {
	t.Parallel() // its own API server
	kapi := testbed.StartLocalKube(t)
	_, kc := startKCM(t, kapi.Kubeconfig, 200*time.Millisecond)
	ctx := context.Background()
	if err := kc.Apply(ctx, gvrCredential, obj("k0rdent.mirantis.com/v1beta1", "Credential", "kcm-system", "azure-cluster-credential", map[string]any{
		"spec": map[string]any{"identityRef": map[string]any{"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "AzureClusterIdentity", "name": "azure-cluster-identity", "namespace": "kcm-system"}},
	})); err != nil {
		t.Fatal(err)
	}
	const regional = "kof-regional-5d4jf4jp-southeastasia"
	charts, _ := filepath.Abs(filepath.Join("testdata", "kofcharts"))
	legacyCfg := testConfig(t, `azure_children:
  enabled: true
kof:
  enabled: true
  version: 1.1.0
  charts_dir: `+charts+`
  regional:
    cluster_name: `+regional+`
    domain: regional.example.com
    admin_email: ops@example.com
    location: southeastasia
    ready_timeout: 30s
`)
	bash := NewKOF(BuildContext{Config: legacyCfg, Dirs: Dirs{Secrets: t.TempDir()}})
	bash.wait = kube.WaitOptions{Interval: 100 * time.Millisecond, Liveness: time.Second}
	bash.admission = fastAdmission()
	secret := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secret, []byte("sp-secret-value"), 0o600); err != nil {
		t.Fatal(err)
	}
	azureOut := map[string]string{AzureOutputSubscription: "sub-1", AzureOutputTenant: "tenant-1", AzureOutputClientID: "client-1",
		AzureOutputSecretPath: secret, AzureOutputCredential: "kcm-system/azure-cluster-credential", AzureOutputClusterID: "k0rdent-5d4jf4jp"}
	if err := runPhase(ctx, bash, kofEnv(kapi.Kubeconfig, azureOut, &syncBuf{})); err != nil {
		t.Fatalf("installing KOF as the bash tool did: %v", err)
	}
	releases := [][2]string{{"kof", kofMothershipRelease}, {"kof", kofOperatorsRelease}, {"istio-system", kofIstioRelease}}
	for _, r := range releases {
		if _, err := kc.Release(ctx, r[0], r[1]); err != nil {
			t.Fatalf("release %s/%s not installed: %v", r[0], r[1], err)
		}
	}
	regionalRef := kube.ObjectRef{Group: gvrClusterDeployment.Group, Version: gvrClusterDeployment.Version, Resource: gvrClusterDeployment.Resource,
		Namespace: "kcm-system", Name: regional}

	handed := func(regional string) *workflow.Env {
		env := kofEnv(kapi.Kubeconfig, nil, &syncBuf{})
		env.Recorded = map[string]string{KOFOutputLegacy: `{"mothership":true,"mothership_version":"1.1.0","namespace":"kof","azure_csi":true,"regional_cluster":"` + regional + `"}`}
		return env
	}
	today := NewKOF(BuildContext{Config: testConfig(t, ""), Dirs: Dirs{Secrets: t.TempDir()}})

	// The name lost: nothing claimed (the releases go, the cluster is not found by name).
	env := handed(legacyUnknownRegional)
	if err := today.Destroy(ctx, env); err == nil || !strings.Contains(err.Error(), "-l k0rdent.mirantis.com/kof-cluster-role=regional") {
		t.Errorf("Destroy with the regional name lost = %v, want the command that finds it", err)
	}
	if out := env.Outputs()[KOFOutputLegacy]; out != "" {
		t.Errorf("output %q with the regional cluster left, want none", out)
	}

	// No admin kubeconfig: nothing removed, nothing said.
	env = &workflow.Env{Node: KOFName, Log: slog.New(slog.DiscardHandler), Recorded: handed(regional).Recorded}
	if err := today.Destroy(ctx, env); err != nil || env.Outputs()[KOFOutputLegacy] != "" {
		t.Errorf("Destroy without a kubeconfig = %v, output %q; want nil and none", err, env.Outputs()[KOFOutputLegacy])
	}
	if u, _ := kc.Get(ctx, regionalRef); u == nil {
		t.Fatal("the regional cluster is gone although nothing could delete it")
	}

	env = handed(regional)
	if err := today.Destroy(ctx, env); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if u, _ := kc.Get(ctx, regionalRef); u != nil {
		t.Error("the bash tool's regional ClusterDeployment is still there")
	}
	for _, r := range releases {
		if _, err := kc.Release(ctx, r[0], r[1]); !errors.Is(err, kube.ErrNoRelease) {
			t.Errorf("release %s/%s after Destroy: %v, want kube.ErrNoRelease", r[0], r[1], err)
		}
	}
	if out := env.Outputs()[KOFOutputLegacy]; !strings.HasPrefix(out, "removed regional cluster kcm-system/"+regional+", kof/kof-mothership, kof/kof-operators, istio-system/kof-istio") {
		t.Errorf("output %q, want what it removed", out)
	}
}
