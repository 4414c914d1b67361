package azure

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveSubscription(t *testing.T) {
	const (
		cfgID = "00000000-0000-0000-0000-000000000001"
		envID = "00000000-0000-0000-0000-000000000002"
		cliID = "00000000-0000-0000-0000-000000000003"
	)
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "ARM_SUBSCRIPTION_ID" {
				return v
			}
			return ""
		}
	}
	cli := func(id string, err error) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { return id, err }
	}
	for _, tt := range []struct {
		name    string
		src     SubscriptionSources
		want    ResolvedSubscription
		wantErr string
	}{
		{"ConfigFirst", SubscriptionSources{Configured: cfgID, Getenv: env(envID), CLI: cli(cliID, nil)}, ResolvedSubscription{cfgID, SourceConfig}, ""},
		{"EnvSecond", SubscriptionSources{Getenv: env(envID), CLI: cli(cliID, nil)}, ResolvedSubscription{envID, SourceEnv}, ""},
		{"CLILast", SubscriptionSources{Getenv: env(""), CLI: cli(cliID, nil)}, ResolvedSubscription{cliID, SourceCLI}, ""},
		{"BadEnv", SubscriptionSources{Getenv: env("prod"), CLI: cli(cliID, nil)}, ResolvedSubscription{}, `ARM_SUBSCRIPTION_ID "prod" is not a subscription id`},
		{"CLIFails", SubscriptionSources{Getenv: env(""), CLI: cli("", errors.New("Please run 'az login'"))}, ResolvedSubscription{}, "`az account show` failed: Please run 'az login' (set azure.subscription_id, or az login)"},
		{"CLIGarbage", SubscriptionSources{CLI: cli("hello", nil)}, ResolvedSubscription{}, `it printed "hello"`},
		{"Nothing", SubscriptionSources{}, ResolvedSubscription{}, "azure.subscription_id and ARM_SUBSCRIPTION_ID are empty (set azure.subscription_id, or az login)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveSubscription(context.Background(), tt.src)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// AzAccountShow runs the real argv against a stand-in az on PATH.
func TestAzAccountShow(t *testing.T) {
	if got := fmt.Sprint(azAccountShowArgs("az")); got != "[az account show --query id --output tsv]" {
		t.Errorf("argv = %s", got)
	}
	dir := t.TempDir()
	script := "#!/bin/sh\n[ \"$*\" = \"account show --query id --output tsv\" ] || { echo \"unexpected args: $*\" >&2; exit 2; }\necho 00000000-0000-0000-0000-0000000000aa\n"
	if err := os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	id, err := AzAccountShow(context.Background())
	if err != nil || id != "00000000-0000-0000-0000-0000000000aa" {
		t.Errorf("AzAccountShow = %q, %v", id, err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := AzAccountShow(context.Background()); err == nil || !strings.Contains(err.Error(), "the Azure CLI is not installed") {
		t.Errorf("without az: %v", err)
	}
}
