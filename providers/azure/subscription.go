package azure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
)

// Where a resolved subscription came from, in the order ResolveSubscription
// tries them.
const (
	SourceConfig = "azure.subscription_id"
	SourceEnv    = "ARM_SUBSCRIPTION_ID"
	SourceCLI    = "az account show"
)

// ResolvedSubscription is the one subscription a run works in.
type ResolvedSubscription struct {
	ID string
	// Source is SourceConfig, SourceEnv or SourceCLI.
	Source string
}

// SubscriptionSources are what ResolveSubscription reads: the configured
// id, the environment, and the Azure CLI. Nil functions are skipped.
type SubscriptionSources struct {
	// Configured is azure.subscription_id.
	Configured string
	// Getenv reads the environment (os.Getenv).
	Getenv func(string) string
	// CLI returns the Azure CLI's default subscription id (AzAccountShow).
	CLI func(ctx context.Context) (string, error)
}

// Compiled on first use, not at every process's start-up.
var reSubscriptionID = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
})

// ErrNoSubscription is returned (wrapped) when no source names a
// subscription.
var ErrNoSubscription = errors.New("azure: no subscription")

// ResolveSubscription picks the subscription of a run, once: the
// configured one, else ARM_SUBSCRIPTION_ID (what Terraform's azurerm
// provider reads), else the Azure CLI's default (`az account show`, what
// azurerm falls back to). Terraform and the Azure SDK are then both given
// this id, so they cannot work in different subscriptions when the login
// sees several.
func ResolveSubscription(ctx context.Context, src SubscriptionSources) (ResolvedSubscription, error) {
	if src.Configured != "" {
		return ResolvedSubscription{ID: src.Configured, Source: SourceConfig}, nil
	}
	if src.Getenv != nil {
		if id := strings.TrimSpace(src.Getenv("ARM_SUBSCRIPTION_ID")); id != "" {
			if !reSubscriptionID().MatchString(id) {
				return ResolvedSubscription{}, fmt.Errorf("ARM_SUBSCRIPTION_ID %q is not a subscription id (a UUID; see `az account show`)", id)
			}
			return ResolvedSubscription{ID: id, Source: SourceEnv}, nil
		}
	}
	var cliErr error
	if src.CLI != nil {
		id, err := src.CLI(ctx)
		if err == nil && reSubscriptionID().MatchString(id) {
			return ResolvedSubscription{ID: id, Source: SourceCLI}, nil
		}
		if err == nil {
			err = fmt.Errorf("it printed %q, not a subscription id", id)
		}
		cliErr = err
	}
	if cliErr != nil {
		return ResolvedSubscription{}, fmt.Errorf("%w: azure.subscription_id and ARM_SUBSCRIPTION_ID are empty and `az account show` failed: %v (set azure.subscription_id, or az login)", ErrNoSubscription, cliErr)
	}
	return ResolvedSubscription{}, fmt.Errorf("%w: azure.subscription_id and ARM_SUBSCRIPTION_ID are empty (set azure.subscription_id, or az login)", ErrNoSubscription)
}

// azAccountShowArgs is the argv AzAccountShow runs.
func azAccountShowArgs(az string) []string {
	return []string{az, "account", "show", "--query", "id", "--output", "tsv"}
}

// AzAccountShow returns the Azure CLI's default subscription id: `az
// account show --query id --output tsv`, with az from PATH.
func AzAccountShow(ctx context.Context) (string, error) {
	az, err := exec.LookPath("az")
	if err != nil {
		return "", fmt.Errorf("the Azure CLI is not installed: %w", err)
	}
	argv := azAccountShowArgs(az)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w: %s", strings.Join(argv[1:], " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(out.String()), nil
}
