package testbed

import (
	"strings"
	"testing"
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
