package phases

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// The terraform node resolves the run's subscription once and journals it;
// the azure-children node takes that one.
func TestTerraformSubscription(t *testing.T) {
	ctx := context.Background()
	noAz := t.TempDir()
	az := t.TempDir()
	os.WriteFile(filepath.Join(az, "az"), []byte("#!/bin/sh\necho 00000000-0000-0000-0000-0000000000cc\n"), 0o755)
	for _, tt := range []struct {
		name, doc, env, path string
		wantID, wantSource   string
		wantErr              string
	}{
		{"Config", "azure:\n  location: westus2\n  subscription_id: 00000000-0000-0000-0000-0000000000aa\n", "00000000-0000-0000-0000-0000000000bb", az,
			"00000000-0000-0000-0000-0000000000aa", "azure.subscription_id", ""},
		{"Env", "azure:\n  location: westus2\n", "00000000-0000-0000-0000-0000000000bb", az, "00000000-0000-0000-0000-0000000000bb", "ARM_SUBSCRIPTION_ID", ""},
		{"CLI", "azure:\n  location: westus2\n", "", az, "00000000-0000-0000-0000-0000000000cc", "az account show", ""},
		{"NoneEmbeddedModule", "azure:\n  location: westus2\n", "", noAz, "", "", "the Azure CLI is not installed"},
		{"NoneOwnModule", "azure:\n  location: westus2\nterraform:\n  module: infra\n", "", noAz, "", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ARM_SUBSCRIPTION_ID", tt.env)
			t.Setenv("PATH", tt.path)
			cfg := testConfig(t, strings.TrimPrefix(tt.doc, "azure:\n  location: westus2\n"))
			env := &workflow.Env{Log: slog.New(slog.DiscardHandler)}
			id, err := terraformSubscription(ctx, env, cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || id != tt.wantID {
				t.Fatalf("= %q, %v; want %q", id, err, tt.wantID)
			}
			out := env.Outputs()
			if out[TerraformOutputSubscription] != tt.wantID || out[TerraformOutputSubscriptionSource] != tt.wantSource {
				t.Errorf("outputs %v, want %s from %s", out, tt.wantID, tt.wantSource)
			}
			// azure-children takes the journalled one, whatever the
			// environment says now.
			t.Setenv("ARM_SUBSCRIPTION_ID", "00000000-0000-0000-0000-0000000000dd")
			child := &workflow.Env{Log: slog.New(slog.DiscardHandler), Inputs: map[string]map[string]string{TerraformName: out}}
			if got, err := runSubscription(ctx, child, cfg); tt.wantID != "" && (err != nil || got != tt.wantID) {
				t.Errorf("azure-children subscription = %q, %v; want %q", got, err, tt.wantID)
			}
		})
	}
}
