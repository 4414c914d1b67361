// Package azure is the adapter to Azure that the azure-children phase
// consumes: a service principal for Cluster API Provider Azure (CAPZ),
// created once, with a role assignment at a scope, and deleted on reset.
//
// Three APIs are involved, each through the Azure SDK's azcore pipeline
// (bearer tokens, the SDK's own retries of 429 and 5xx, its logging with
// the Authorization header redacted):
//
//   - Microsoft Graph (applications, servicePrincipals, addPassword): no
//     Graph SDK is served by the module proxy we build from, so Client
//     speaks the few Graph v1.0 calls it needs with a runtime.Pipeline
//     scoped to https://graph.microsoft.com/.default.
//   - ARM role assignments, with armauthorization/v2's RoleAssignmentsClient.
//   - ARM GET /subscriptions[/{id}], raw through arm.Client's pipeline: the
//     subscription's tenant (for the AzureClusterIdentity) and, when the
//     config names no subscription, the only one the identity sees.
//
// ResolveSubscription picks a run's one subscription: azure.subscription_id,
// else ARM_SUBSCRIPTION_ID, else the Azure CLI's default (AzAccountShow runs
// `az account show --query id --output tsv`), the order Terraform's azurerm
// provider uses, so that Terraform and the SDK are handed the same id.
//
// Directory changes take time to reach ARM: a service principal created a
// second ago is not yet known to the role assignment API (PrincipalNotFound)
// and sometimes not even to Graph itself. Client retries exactly those
// errors with a bounded exponential backoff (RetryPolicy) and gives up with
// an error wrapping ErrPropagation; every other error (403 for a missing
// permission, 400 for a bad request) is returned at once as an *APIError.
//
// EnsureServicePrincipal is idempotent: the application is found by its
// display name, the service principal by its appId, the role assignment has
// a name derived from scope, principal and role (so a second create
// answers 409 RoleAssignmentExists, which is success; ARM allows one
// assignment per scope, principal and role, so the 409 may also mean one
// made earlier under another name: the assignment is then looked up and
// its real id recorded, so that DeleteServicePrincipal removes it), and a
// client secret
// is added only when the caller has none that the application still knows
// (KeyID). The secret is returned to the caller and never logged; where it
// is kept is the caller's business (the phase writes it 0600 under
// state/secrets/).
//
// Tests run against the SDK's fake servers (armauthorization/v2/fake) and a
// fake http transport playing Graph and the subscriptions API, in-process
// with no network.
package azure
