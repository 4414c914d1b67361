package testbed

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The real values schema accepts what the phases build and refuses wrong
// types and unknown keys.
func TestValuesSchema_Validate(t *testing.T) {
	vs, err := LoadValuesSchema()
	if err != nil {
		t.Fatal(err)
	}
	good := func() map[string]any {
		return map[string]any{
			"clusterIdentity":    map[string]any{"name": "azure-cluster-identity", "namespace": "kcm-system"},
			"location":           "westus2",
			"subscriptionID":     "00000000-0000-0000-0000-000000000000",
			"controlPlaneNumber": 1,
			"workersNumber":      2,
			"controlPlane":       map[string]any{"vmSize": "Standard_A4_v2", "rootVolumeSize": 32},
			"worker":             map[string]any{"vmSize": "Standard_A4_v2", "rootVolumeSize": 32},
			"clusterAnnotations": map[string]any{"k0rdent.mirantis.com/kof-regional-domain": "kof.example.net"},
		}
	}
	if err := vs.Validate(good()); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	for _, tt := range []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"StringCount", func(m map[string]any) { m["workersNumber"] = "2" }, "workersNumber"},
		{"StringVolume", func(m map[string]any) { m["worker"].(map[string]any)["rootVolumeSize"] = "32" }, "rootVolumeSize"},
		{"UnknownKey", func(m map[string]any) { m["workerNumber"] = 2 }, "workerNumber"},
		{"UnknownNestedKey", func(m map[string]any) { m["controlPlane"].(map[string]any)["size"] = "x" }, "controlPlane.size"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := good()
			tt.edit(m)
			err := vs.Validate(m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// The KCM stand-in's admission webhook, through a real kube-apiserver:
// KCM's refusals in KCM's words until the Credential is ready, and a
// spec.config that does not match the real values schema refused.
func TestKCM_Admission(t *testing.T) {
	t.Parallel() // its own namespaces or API server: it runs beside the other slow tests
	k := StartLocalKube(t)
	kcm := StartKCM(t, k.Kubeconfig, KCMOptions{CredentialDelay: time.Second})
	dyn, err := dynamicFor(k.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cred := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "Credential",
		"metadata": map[string]any{"name": "azure-cred", "namespace": "kcm-system"},
		"spec":     map[string]any{"identityRef": map[string]any{"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "AzureClusterIdentity", "name": "id", "namespace": "kcm-system"}},
	}}
	if _, err := dyn.Resource(GVRCredential).Namespace("kcm-system").Create(ctx, cred, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cd := func(name, template string, config map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterDeployment",
			"metadata": map[string]any{"name": name, "namespace": "kcm-system"},
			"spec":     map[string]any{"template": template, "credential": "azure-cred", "config": config},
		}}
	}
	create := func(u *unstructured.Unstructured) error {
		_, err := dyn.Resource(GVRClusterDeployment).Namespace("kcm-system").Create(ctx, u, metav1.CreateOptions{})
		return err
	}
	good := map[string]any{"location": "westus2", "workersNumber": int64(1)}
	if err := create(cd("early", "azure-standalone-cp-1-0-15", good)); err == nil || !strings.Contains(err.Error(), "the ClusterDeployment is invalid: the Credential kcm-system/azure-cred is not Ready") {
		t.Errorf("before the Credential is ready: %v, want KCM's refusal", err)
	}
	if err := create(cd("old", "azure-standalone-cp-1-0-8", good)); err == nil || !strings.Contains(err.Error(), `the ClusterDeployment is invalid: clustertemplates.k0rdent.mirantis.com "azure-standalone-cp-1-0-8" not found`) {
		t.Errorf("with a template KCM 1.4.0 does not ship: %v, want KCM's refusal", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := create(cd("ok", "azure-standalone-cp-1-0-15", good))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never admitted: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := create(cd("typo", "azure-standalone-cp-1-0-15", map[string]any{"location": "westus2", "workerNumber": int64(1)})); err == nil || !strings.Contains(err.Error(), "does not match the values schema") || !strings.Contains(err.Error(), "workerNumber") {
		t.Errorf("config with an unknown key: %v, want a schema refusal naming it", err)
	}
	if len(kcm.Refusals()) < 3 {
		t.Errorf("refusals %q, want at least 3", kcm.Refusals())
	}
}
