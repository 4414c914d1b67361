package phases

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/providers/azure"
	tf "github.com/k0rdent/k0rdent-deploy/providers/terraform"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Outputs of the terraform node naming the run's Azure subscription: it is
// resolved once, by the first node that works in Azure, and every later
// node (azure-children, for the Azure SDK) takes it from the journal, so
// Terraform and the SDK work in the same subscription even when the login
// sees several.
const (
	TerraformOutputSubscription       = "subscription_id"
	TerraformOutputSubscriptionSource = "subscription_source" // azure.subscription_id, ARM_SUBSCRIPTION_ID or az account show
)

// resolveSubscription is azure.ResolveSubscription over the config, the
// process environment and the Azure CLI.
func resolveSubscription(ctx context.Context, cfg *config.Config) (azure.ResolvedSubscription, error) {
	return azure.ResolveSubscription(ctx, azure.SubscriptionSources{
		Configured: cfg.Azure.SubscriptionID,
		Getenv:     os.Getenv,
		CLI:        azure.AzAccountShow,
	})
}

// terraformSubscription resolves the subscription for the terraform node
// and records it as its outputs. With a module of the operator's own
// (terraform.module), which may not work in Azure at all, an unresolved
// subscription is logged and left empty, as before; with the embedded
// Azure module it is an error.
func terraformSubscription(ctx context.Context, env *workflow.Env, cfg *config.Config) (string, error) {
	sub, err := resolveSubscription(ctx, cfg)
	if err != nil {
		if cfg.Terraform.Module != "" {
			env.Log.Info("no Azure subscription resolved; the module gets none", "module", cfg.Terraform.Module, "why", err.Error())
			return "", nil
		}
		return "", err
	}
	env.Log.Info("azure subscription", "id", sub.ID, "from", sub.Source)
	env.SetOutput(TerraformOutputSubscription, sub.ID)
	env.SetOutput(TerraformOutputSubscriptionSource, sub.Source)
	return sub.ID, nil
}

// runSubscription is the subscription the azure-children node works in:
// the one the terraform node resolved and journalled, or (a deployment
// whose terraform node ran before it recorded one) resolved the same way.
func runSubscription(ctx context.Context, env *workflow.Env, cfg *config.Config) (string, error) {
	if id, ok := env.Input(TerraformName, TerraformOutputSubscription); ok && id != "" {
		return id, nil
	}
	sub, err := resolveSubscription(ctx, cfg)
	if err != nil {
		return "", err
	}
	env.Log.Info("azure subscription (the terraform node recorded none)", "id", sub.ID, "from", sub.Source)
	return sub.ID, nil
}

// azurermPlanLine says which azurerm version a run of the embedded module
// uses: the one locked in the Terraform directory's lock file, or, before
// the first init, the newest matching the module's constraint, which that
// init then locks.
func azurermPlanLine(dir string) string {
	lock := filepath.Join(dir, tf.LockFile)
	locked, err := tf.LockedProviders(dir)
	switch {
	case err != nil:
		return fmt.Sprintf("azurerm provider: %v", err)
	case locked[tf.AzurermSource].Version != "":
		return fmt.Sprintf("azurerm provider %s, locked in %s (terraform init -upgrade there moves on)", locked[tf.AzurermSource].Version, lock)
	}
	return fmt.Sprintf("azurerm provider: the newest release matching %s at the first terraform init, then locked in %s", tf.AzurermConstraint, lock)
}
