package phases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/providers/azure"
	"github.com/k0rdent/k0rdent-deploy/providers/kube"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// AzureChildrenName is the credentials node's name and the prefix of the
// child cluster nodes (azure-children/<name>): journal keys.
const AzureChildrenName = "azure-children"

// Outputs of the azure-children credentials node. None is secret: the
// client secret is a 0600 file under secrets/azure and only its path is an
// output.
const (
	AzureOutputSubscription = "subscription_id" // the subscription the service principal works in
	AzureOutputTenant       = "tenant_id"       // its tenant
	AzureOutputClientID     = "client_id"       // the service principal's application (client) id
	AzureOutputScope        = "scope"           // where it holds Contributor
	AzureOutputSecretPath   = "client_secret_path"
	AzureOutputCredential   = "credential" // <namespace>/<name> of the k0rdent Credential
	AzureOutputIdentity     = "identity"   // <namespace>/<name> of the AzureClusterIdentity
	AzureOutputKubeconfig   = "kubeconfig" // the management cluster's admin kubeconfig, for dependents
	AzureOutputClusterID    = "cluster_id" // the deployment's cluster id, for names derived from it

	// AzureOutputLegacyServicePrincipal is the key under which a
	// teardown hands Destroy the bash tool's service principal of a
	// migrated deployment (JSON: name, subscription_id, client_id), and
	// the output Destroy sets once it is gone (deleted, or found absent).
	AzureOutputLegacyServicePrincipal = "legacy_service_principal"
)

// Outputs of an azure-children/<name> node.
const (
	AzureChildOutputClusterDeployment = "cluster_deployment" // <namespace>/<name>
	AzureChildOutputLocation          = "location"
)

// Files under secrets/azure.
const (
	azureSecretsSubdir = "azure"
	azureSecretFile    = "client-secret"          // the service principal's client secret, 0600
	azureRecordFile    = "service-principal.yaml" // its ids (not secret), for reruns and Destroy
)

// Resource types the azure-children nodes apply.
var (
	gvrSecret               = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	gvrConfigMap            = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	gvrNamespace            = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	gvrAzureClusterIdentity = schema.GroupVersionResource{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta1", Resource: "azureclusteridentities"}
	gvrCredential           = schema.GroupVersionResource{Group: "k0rdent.mirantis.com", Version: "v1beta1", Resource: "credentials"}
	gvrClusterDeployment    = schema.GroupVersionResource{Group: "k0rdent.mirantis.com", Version: "v1beta1", Resource: "clusterdeployments"}
)

// defaultChildReadyTimeout bounds the wait for a child ClusterDeployment to
// be Ready: CAPZ creates VMs, a load balancer and bootstraps k0s.
const defaultChildReadyTimeout = 30 * time.Minute

// AzureAPI is what the azure-children and kof nodes need from Azure;
// *azure.Client implements it.
type AzureAPI interface {
	Subscription(ctx context.Context, id string) (azure.Subscription, error)
	EnsureServicePrincipal(ctx context.Context, spec azure.ServicePrincipalSpec) (azure.ServicePrincipal, string, error)
	DeleteServicePrincipal(ctx context.Context, subscriptionID string, sp azure.ServicePrincipal) error
	FindServicePrincipal(ctx context.Context, subscriptionID, displayName, appID string) (*azure.Application, error)
}

var _ AzureAPI = (*azure.Client)(nil)

// newAzureClient is the real AzureAPI: the SDK's default credential chain
// (environment, managed identity, the Azure CLI's login).
func newAzureClient(env *workflow.Env) (AzureAPI, error) {
	cred, err := azure.DefaultCredential()
	if err != nil {
		return nil, err
	}
	return azure.New(cred, azure.Options{Log: env.Log})
}

func azureChildrenPlugin() Plugin {
	return Plugin{
		Name:        AzureChildrenName,
		Description: "an Azure service principal and the k0rdent Credential objects, then one ClusterDeployment per azure_children.clusters entry (azure-children/<name>), waited until Ready",
		DependsOn:   []string{K0rdentName, TerraformName},
		EnabledBy:   AzureChildrenComponent.EnabledBy(),
		Factory: func(bc BuildContext) ([]workflow.Phase, error) {
			creds := NewAzureChildren(bc)
			nodes := []workflow.Phase{creds}
			for _, cc := range bc.Config.AzureChildren.Clusters {
				nodes = append(nodes, NewAzureChild(bc, cc))
			}
			return nodes, nil
		},
	}
}

// azureChildrenEnabled is the enablement of every azure-children node:
// --with-azure-children or --with-azure-children=false when given, else
// azure_children.enabled; the reason says which decided.
func azureChildrenEnabled(cfg *config.Config, flags RunFlags) (bool, string) {
	if d := AzureChildrenComponent.Decide(cfg, flags); !d.On {
		return false, d.Reason
	}
	return true, ""
}

// AzureChildren is the azure-children credentials node: the Azure service
// principal CAPZ creates child clusters with, and the objects k0rdent needs
// to use it.
//
// Inputs: the k0rdent node's kubeconfig; the terraform node's cluster_id
// (the service principal is <cluster id>-cluster-deployment-sp, as the
// bash tool named it), resource_group (for azure_children.scope
// resource_group) and subscription_id (the run's one subscription,
// resolved by the terraform node: azure.subscription_id, else
// ARM_SUBSCRIPTION_ID, else `az account show`). Run looks that
// subscription up for its tenant; makes the service
// principal exist with Contributor at the scope, through the Azure SDK,
// retrying the directory's propagation delays (providers/azure); writes a
// new client secret 0600 to secrets/azure/client-secret, and reuses the
// one there while Azure still knows it (a rerun adds no secret); then
// applies, idempotently (server-side apply), in azure_children.namespace:
// the identity Secret, the AzureClusterIdentity, the k0rdent Credential and
// the ConfigMap resource template that gives each child cluster its
// azure-cloud-provider Secret and default StorageClass.
//
// Preconditions: the kubeconfig is present, the API server answers, and
// the CAPZ and k0rdent CRDs are served (KCM installed its providers).
// Verify checks the objects still exist. Destroy deletes them and the
// service principal (its role assignment, then its application); handed
// the bash tool's service principal of a migrated deployment
// (AzureOutputLegacyServicePrincipal), it finds that one by its client id
// and deletes it too when its display name is the deployment's, and says
// so in that output.
type AzureChildren struct {
	cfg      *config.Config
	dirs     Dirs
	flags    RunFlags
	newAzure func(env *workflow.Env) (AzureAPI, error)
}

var (
	_ workflow.Phase          = (*AzureChildren)(nil)
	_ workflow.Enabler        = (*AzureChildren)(nil)
	_ workflow.Describer      = (*AzureChildren)(nil)
	_ workflow.Preconditioner = (*AzureChildren)(nil)
	_ workflow.Verifier       = (*AzureChildren)(nil)
	_ workflow.Policer        = (*AzureChildren)(nil)
	_ workflow.Destroyer      = (*AzureChildren)(nil)
)

// NewAzureChildren returns the credentials node for bc.
func NewAzureChildren(bc BuildContext) *AzureChildren {
	return &AzureChildren{cfg: bc.Config, dirs: bc.Dirs, flags: bc.Flags, newAzure: newAzureClient}
}

// WithAzure makes the node talk to Azure through newAzure instead of the
// SDK's default credential chain: for tests, with a fake (azuretest).
func (p *AzureChildren) WithAzure(newAzure func(env *workflow.Env) (AzureAPI, error)) *AzureChildren {
	p.newAzure = newAzure
	return p
}

// Name implements workflow.Phase.
func (p *AzureChildren) Name() string { return AzureChildrenName }

// DependsOn implements workflow.Phase.
func (p *AzureChildren) DependsOn() []string { return []string{K0rdentName, TerraformName} }

// Enabled implements workflow.Enabler.
func (p *AzureChildren) Enabled() (bool, string) { return azureChildrenEnabled(p.cfg, p.flags) }

// Policy implements workflow.Policer: the propagation retries take minutes
// at worst; the API calls are few.
func (p *AzureChildren) Policy() workflow.Policy { return workflow.Policy{Timeout: 15 * time.Minute} }

func (p *AzureChildren) scope() string {
	if p.cfg.AzureChildren.Scope == "" {
		return config.ScopeSubscription
	}
	return p.cfg.AzureChildren.Scope
}

// Describe implements workflow.Describer.
func (p *AzureChildren) Describe(env *workflow.Env) []string {
	ac := p.cfg.AzureChildren
	sub := "the subscription azure.subscription_id"
	if p.cfg.Azure.SubscriptionID == "" {
		sub = "the Azure login's subscription"
	}
	return []string{
		fmt.Sprintf("service principal <cluster id>-cluster-deployment-sp with Contributor on %s (azure_children.scope %s), through the Azure SDK; its secret 0600 in %s",
			sub, p.scope(), p.secretPath(env)),
		fmt.Sprintf("apply in namespace %s: Secret %s-secret, AzureClusterIdentity %s, Credential %s, ConfigMap %s-resource-template",
			ac.Namespace, ac.Identity, ac.Identity, ac.Credential, ac.Identity),
	}
}

func (p *AzureChildren) secretsDir(env *workflow.Env) string {
	dir := p.dirs.Secrets
	if dir == "" && env != nil {
		dir = env.SecretsDir
	}
	return absPath(filepath.Join(dir, azureSecretsSubdir))
}

func (p *AzureChildren) secretPath(env *workflow.Env) string {
	return filepath.Join(p.secretsDir(env), azureSecretFile)
}

func (p *AzureChildren) recordPath(env *workflow.Env) string {
	return filepath.Join(p.secretsDir(env), azureRecordFile)
}

// spRecord is secrets/azure/service-principal.yaml: what a rerun and
// Destroy need to find the service principal again.
type spRecord struct {
	DisplayName    string `yaml:"display_name"`
	SubscriptionID string `yaml:"subscription_id"`
	TenantID       string `yaml:"tenant_id"`
	Scope          string `yaml:"scope"`

	azure.ServicePrincipal `yaml:",inline"`
}

func (p *AzureChildren) readRecord(env *workflow.Env) (*spRecord, error) {
	data, err := os.ReadFile(p.recordPath(env))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r spRecord
	if err := yaml.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", p.recordPath(env), err)
	}
	return &r, nil
}

// writePrivate writes data to path 0600, atomically, in a 0700 directory.
func writePrivate(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// kubeconfigFrom is the kubeconfig output key of dependency node; without
// it (Destroy may run without inputs) the path the k0s node writes.
func kubeconfigFrom(env *workflow.Env, dirs Dirs, node, key string, fallback bool) (string, error) {
	path, ok := env.Input(node, key)
	if !ok || path == "" {
		if fallback {
			dir := dirs.Secrets
			if dir == "" && env != nil {
				dir = env.SecretsDir
			}
			path = absPath(filepath.Join(dir, k0sSecretsSubdir, kubeconfigFile))
			if _, err := os.Stat(path); err == nil {
				return path, nil
			}
		}
		return "", fmt.Errorf("the %s node recorded no %q output", node, key)
	}
	path = secretPath(env, path)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("admin kubeconfig: %w", err)
	}
	return path, nil
}

func kubeClient(env *workflow.Env, kubeconfig string) (*kube.Client, error) {
	return kube.New(kubeconfig, kube.Options{Log: env.Log, Output: env.Output})
}

// kubeChecks are the preconditions of a node talking to the management
// cluster through the kubeconfig output key of node, plus the resource
// types it needs served.
func kubeChecks(dirs Dirs, node, key, fix string, served []schema.GroupVersionResource, servedFix string) []workflow.Check {
	checks := []workflow.Check{
		{
			Name: "kubeconfig present",
			Fix:  fix,
			Check: func(ctx context.Context, env *workflow.Env) error {
				_, err := kubeconfigFrom(env, dirs, node, key, false)
				return err
			},
		},
		{
			Name: "kubernetes api answers",
			Fix:  fix,
			Check: func(ctx context.Context, env *workflow.Env) error {
				path, err := kubeconfigFrom(env, dirs, node, key, false)
				if err != nil {
					return nil // reported by the check above
				}
				c, err := kubeClient(env, path)
				if err != nil {
					return err
				}
				vctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				defer cancel()
				_, err = c.ServerVersion(vctx)
				return err
			},
		},
	}
	if len(served) > 0 {
		checks = append(checks, workflow.Check{
			Name: "resource types served",
			Fix:  servedFix,
			Check: func(ctx context.Context, env *workflow.Env) error {
				path, err := kubeconfigFrom(env, dirs, node, key, false)
				if err != nil {
					return nil
				}
				c, err := kubeClient(env, path)
				if err != nil {
					return nil
				}
				var missing []string
				for _, gvr := range served {
					ok, err := c.Served(ctx, gvr)
					if err != nil {
						return err
					}
					if !ok {
						missing = append(missing, gvr.Resource+"."+gvr.Group+"/"+gvr.Version)
					}
				}
				if len(missing) > 0 {
					return fmt.Errorf("not served: %s", strings.Join(missing, ", "))
				}
				return nil
			},
		})
	}
	return checks
}

// Preconditions implements workflow.Preconditioner.
func (p *AzureChildren) Preconditions() []workflow.Check {
	return kubeChecks(p.dirs, K0rdentName, K0rdentOutputKubeconfig, "k0rdent run --from k0rdent",
		[]schema.GroupVersionResource{gvrAzureClusterIdentity, gvrCredential},
		"KCM installs Cluster API Provider Azure and the Credential CRD: wait until its Management is Ready, then k0rdent run --resume")
}

func (p *AzureChildren) clusterID(env *workflow.Env) string {
	if id, ok := env.Input(TerraformName, TerraformOutputClusterID); ok && id != "" {
		return id
	}
	return p.cfg.Metadata.Name
}

// Run implements workflow.Phase.
func (p *AzureChildren) Run(ctx context.Context, env *workflow.Env) error {
	ac := p.cfg.AzureChildren
	kc, err := kubeconfigFrom(env, p.dirs, K0rdentName, K0rdentOutputKubeconfig, false)
	if err != nil {
		return fmt.Errorf("%w (k0rdent run --from k0rdent)", err)
	}
	kcl, err := kubeClient(env, kc)
	if err != nil {
		return err
	}
	az, err := p.newAzure(env)
	if err != nil {
		return err
	}

	step := stepper(env)
	var sub azure.Subscription
	if err := step("azure subscription", func() error {
		id, err := runSubscription(ctx, env, p.cfg)
		if err != nil {
			return err
		}
		sub, err = az.Subscription(ctx, id)
		return err
	}); err != nil {
		return fmt.Errorf("%w (log in with az login, or check azure.subscription_id)", err)
	}
	scope := "/subscriptions/" + sub.ID
	if p.scope() == config.ScopeResourceGroup {
		rg, ok := env.Input(TerraformName, "resource_group")
		if !ok || rg == "" {
			return errors.New("azure_children.scope is resource_group but the terraform node recorded no resource_group output (k0rdent run --from terraform)")
		}
		scope += "/resourceGroups/" + rg
	}

	rec, err := p.readRecord(env)
	if err != nil {
		return err
	}
	spec := azure.ServicePrincipalSpec{DisplayName: p.clusterID(env) + "-cluster-deployment-sp", SubscriptionID: sub.ID, Scope: scope}
	secretPath := p.secretPath(env)
	if rec != nil && rec.DisplayName == spec.DisplayName {
		if _, err := os.Stat(secretPath); err == nil {
			spec.KeyID = rec.KeyID
		}
	}
	var sp azure.ServicePrincipal
	if err := step("service principal", func() error {
		var secret string
		sp, secret, err = az.EnsureServicePrincipal(ctx, spec)
		if secret != "" {
			// Keep a new secret even when a later step failed: the
			// application holds it now.
			if werr := writePrivate(secretPath, []byte(secret)); werr != nil {
				return errors.Join(err, fmt.Errorf("save the client secret: %w", werr))
			}
			env.Log.Info("client secret saved", "path", secretPath)
		}
		if sp.AppID != "" {
			r := spRecord{DisplayName: spec.DisplayName, SubscriptionID: sub.ID, TenantID: sub.TenantID, Scope: scope, ServicePrincipal: sp}
			data, _ := yaml.Marshal(r)
			if werr := writePrivate(p.recordPath(env), data); werr != nil {
				return errors.Join(err, werr)
			}
		}
		return err
	}); err != nil {
		if errors.Is(err, azure.ErrPropagation) {
			return workflow.Transient(fmt.Errorf("%w (Entra ID is slow to propagate; k0rdent run --resume tries again)", err))
		}
		return err
	}
	secret, err := os.ReadFile(secretPath)
	if err != nil {
		return fmt.Errorf("client secret: %w (delete %s and k0rdent run --resume to get a new one)", err, p.recordPath(env))
	}

	objs := p.objects(sub, sp.AppID, string(secret))
	if err := step("kubernetes objects", func() error {
		if err := kcl.Apply(ctx, gvrNamespace, obj("v1", "Namespace", "", ac.Namespace, nil)); err != nil {
			return err
		}
		for _, o := range objs {
			if err := kcl.Apply(ctx, o.gvr, o.obj); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}

	env.SetOutput(AzureOutputSubscription, sub.ID)
	env.SetOutput(AzureOutputTenant, sub.TenantID)
	env.SetOutput(AzureOutputClientID, sp.AppID)
	env.SetOutput(AzureOutputScope, scope)
	env.SetOutput(AzureOutputSecretPath, secretPath)
	env.SetOutput(AzureOutputCredential, ac.Namespace+"/"+ac.Credential)
	env.SetOutput(AzureOutputIdentity, ac.Namespace+"/"+ac.Identity)
	env.SetOutput(AzureOutputKubeconfig, kc)
	env.SetOutput(AzureOutputClusterID, p.clusterID(env))
	return nil
}

// stepper returns a function that runs one named step and records it in
// the node log with its duration.
func stepper(env *workflow.Env) func(name string, f func() error) error {
	return func(name string, f func() error) error {
		start := time.Now()
		env.Log.Info("step started", "step", name)
		err := f()
		took := time.Since(start).Round(time.Millisecond).String()
		if err != nil {
			env.Log.Info("step failed", "step", name, "took", took)
			return err
		}
		env.Log.Info("step done", "step", name, "took", took)
		return nil
	}
}

type applied struct {
	gvr schema.GroupVersionResource
	obj *unstructured.Unstructured
}

func (a applied) ref() kube.ObjectRef {
	return kube.ObjectRef{Group: a.gvr.Group, Version: a.gvr.Version, Resource: a.gvr.Resource, Namespace: a.obj.GetNamespace(), Name: a.obj.GetName()}
}

func obj(apiVersion, kind, namespace, name string, fields map[string]any) *unstructured.Unstructured {
	md := map[string]any{"name": name}
	if namespace != "" {
		md["namespace"] = namespace
	}
	m := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": md}
	for k, v := range fields {
		if k == "labels" || k == "annotations" {
			md[k] = v
			continue
		}
		m[k] = v
	}
	return &unstructured.Unstructured{Object: m}
}

// azureResourceTemplate is the Sveltos template KCM renders for each child
// cluster: the azure-cloud-provider Secret the cloud provider and the disk
// CSI driver read, and a default StorageClass (the bash tool's).
const azureResourceTemplate = `{{- $cluster := .InfrastructureProvider -}}
{{- $identity := (getResource "InfrastructureProviderIdentity") -}}
{{- $secret := (getResource "InfrastructureProviderIdentitySecret") -}}
{{- $subnetName := "" -}}
{{- $securityGroupName := "" -}}
{{- $routeTableName := "" -}}
{{- range $cluster.spec.networkSpec.subnets -}}
  {{- if eq .role "node" -}}
    {{- $subnetName = .name -}}
    {{- $securityGroupName = .securityGroup.name -}}
    {{- $routeTableName = .routeTable.name -}}
  {{- end -}}
{{- end -}}
{{- $cloudConfig := dict
  "aadClientId" $identity.spec.clientID
  "aadClientSecret" (index $secret.data "clientSecret" | b64dec)
  "cloud" $cluster.spec.azureEnvironment
  "loadBalancerName" ""
  "loadBalancerSku" "Standard"
  "location" $cluster.spec.location
  "maximumLoadBalancerRuleCount" 250
  "resourceGroup" $cluster.spec.resourceGroup
  "routeTableName" $routeTableName
  "securityGroupName" $securityGroupName
  "securityGroupResourceGroup" $cluster.spec.networkSpec.vnet.resourceGroup
  "subnetName" $subnetName
  "subscriptionId" $cluster.spec.subscriptionID
  "tenantId" $identity.spec.tenantID
  "useInstanceMetadata" true
  "useManagedIdentityExtension" false
  "vmType" "vmss"
  "vnetName" $cluster.spec.networkSpec.vnet.name
  "vnetResourceGroup" $cluster.spec.networkSpec.vnet.resourceGroup
-}}
---
apiVersion: v1
kind: Secret
metadata:
  name: azure-cloud-provider
  namespace: kube-system
type: Opaque
data:
  cloud-config: {{ $cloudConfig | toJson | b64enc }}
  azure.json: {{ $cloudConfig | toJson | b64enc }}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: managed-csi
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: disk.csi.azure.com
parameters:
  skuName: StandardSSD_LRS
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
allowVolumeExpansion: true
`

// objects are what Run applies, in order.
func (p *AzureChildren) objects(sub azure.Subscription, clientID, secret string) []applied {
	ac := p.cfg.AzureChildren
	secretName := ac.Identity + "-secret"
	kcmLabel := map[string]any{"k0rdent.mirantis.com/component": "kcm"}
	return []applied{
		{gvrSecret, obj("v1", "Secret", ac.Namespace, secretName, map[string]any{
			"labels":     kcmLabel,
			"type":       "Opaque",
			"stringData": map[string]any{"clientSecret": secret},
		})},
		{gvrAzureClusterIdentity, obj("infrastructure.cluster.x-k8s.io/v1beta1", "AzureClusterIdentity", ac.Namespace, ac.Identity, map[string]any{
			"labels": map[string]any{"clusterctl.cluster.x-k8s.io/move-hierarchy": "true", "k0rdent.mirantis.com/component": "kcm"},
			"spec": map[string]any{
				"allowedNamespaces": map[string]any{},
				"clientID":          clientID,
				"clientSecret":      map[string]any{"name": secretName, "namespace": ac.Namespace},
				"tenantID":          sub.TenantID,
				"type":              "ServicePrincipal",
			},
		})},
		{gvrCredential, obj("k0rdent.mirantis.com/v1beta1", "Credential", ac.Namespace, ac.Credential, map[string]any{
			"spec": map[string]any{
				"description": "Azure credentials of " + clientID + " (k0rdent azure-children)",
				"identityRef": map[string]any{
					"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
					"kind":       "AzureClusterIdentity",
					"name":       ac.Identity,
					"namespace":  ac.Namespace,
				},
			},
		})},
		{gvrConfigMap, obj("v1", "ConfigMap", ac.Namespace, ac.Identity+"-resource-template", map[string]any{
			"labels":      kcmLabel,
			"annotations": map[string]any{"projectsveltos.io/template": "true"},
			"data":        map[string]any{"configmap.yaml": azureResourceTemplate},
		})},
	}
}

// Verify implements workflow.Verifier: the objects still exist and the
// secret file is there.
func (p *AzureChildren) Verify(ctx context.Context, env *workflow.Env) error {
	if _, err := os.Stat(p.secretPath(env)); err != nil {
		return fmt.Errorf("client secret: %w", err)
	}
	kc, err := kubeconfigFrom(env, p.dirs, K0rdentName, K0rdentOutputKubeconfig, true)
	if err != nil {
		return err
	}
	c, err := kubeClient(env, kc)
	if err != nil {
		return err
	}
	for _, o := range p.objects(azure.Subscription{}, "", "") {
		u, err := c.Get(ctx, o.ref())
		if err != nil {
			return err
		}
		if u == nil {
			return fmt.Errorf("%s is gone", o.ref())
		}
	}
	return nil
}

// Destroy implements workflow.Destroyer: the Kubernetes objects, then the
// service principal, then the files under secrets/azure.
func (p *AzureChildren) Destroy(ctx context.Context, env *workflow.Env) error {
	var errs []error
	if kc, err := kubeconfigFrom(env, p.dirs, K0rdentName, K0rdentOutputKubeconfig, true); err == nil {
		c, err := kubeClient(env, kc)
		if err != nil {
			return err
		}
		objs := p.objects(azure.Subscription{}, "", "")
		for i := len(objs) - 1; i >= 0; i-- {
			if _, err := c.Delete(ctx, objs[i].ref()); err != nil {
				errs = append(errs, err)
			}
		}
	} else {
		env.Log.Info("no admin kubeconfig: no Kubernetes objects to delete")
	}
	rec, err := p.readRecord(env)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	legacy, err := legacyServicePrincipal(env)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if rec == nil && legacy == nil {
		env.Log.Info("no service principal recorded: nothing to delete in Azure", "path", p.recordPath(env))
		return errors.Join(errs...)
	}
	az, err := p.newAzure(env)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if rec != nil {
		if err := az.DeleteServicePrincipal(ctx, rec.SubscriptionID, rec.ServicePrincipal); err != nil {
			errs = append(errs, fmt.Errorf("%w (delete it by hand: az ad app delete --id %s)", err, rec.AppID))
		} else {
			for _, f := range []string{p.secretPath(env), p.recordPath(env)} {
				if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
					errs = append(errs, err)
				}
			}
			if legacy != nil && legacy.ClientID != "" && strings.EqualFold(legacy.ClientID, rec.AppID) {
				// A run after the migration took the bash tool's
				// application over (same display name): it is gone now.
				env.SetOutput(AzureOutputLegacyServicePrincipal, "deleted application "+rec.AppID+" (taken over by a run)")
				legacy = nil
			}
		}
	}
	if legacy != nil {
		if err := p.destroyLegacy(ctx, env, az, legacy); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// legacySP is the bash tool's service principal as a teardown hands it
// over (state.LegacyServicePrincipal's JSON names).
type legacySP struct {
	Name           string `json:"name"`
	SubscriptionID string `json:"subscription_id"`
	ClientID       string `json:"client_id"`
}

// legacyServicePrincipal is the bash tool's service principal handed to
// Destroy, or nil.
func legacyServicePrincipal(env *workflow.Env) (*legacySP, error) {
	v := env.Recorded[AzureOutputLegacyServicePrincipal]
	if v == "" {
		return nil, nil
	}
	var l legacySP
	if err := json.Unmarshal([]byte(v), &l); err != nil {
		return nil, fmt.Errorf("the legacy service principal handed to the teardown: %w", err)
	}
	if l.Name == "" && l.ClientID == "" {
		return nil, errors.New("the legacy service principal handed to the teardown has neither a name nor a client id")
	}
	return &l, nil
}

// destroyLegacy deletes the bash tool's service principal of a migrated
// deployment: found by its client id (or, without one, its display
// name), and deleted only when its display name is the one the bash tool
// gave this deployment's (<cluster id>-cluster-deployment-sp), never
// another application. Gone already is fine. The output says what
// happened; a failure names the command that deletes it by hand.
func (p *AzureChildren) destroyLegacy(ctx context.Context, env *workflow.Env, az AzureAPI, l *legacySP) error {
	byHand := "az ad app delete --id " + l.ClientID
	if l.ClientID == "" {
		byHand = "az ad app list --display-name " + l.Name + ", then az ad app delete --id <its appId>"
	}
	app, err := az.FindServicePrincipal(ctx, l.SubscriptionID, l.Name, l.ClientID)
	if err != nil {
		return fmt.Errorf("find the legacy tool's service principal %s: %w (delete it by hand: %s)", l.Name, err, byHand)
	}
	if app == nil {
		env.Log.Info("the legacy tool's service principal is already gone", "name", l.Name, "client_id", l.ClientID)
		env.SetOutput(AzureOutputLegacyServicePrincipal, "absent: no application "+orWord(l.ClientID, l.Name))
		return nil
	}
	if l.Name != "" && app.DisplayName != l.Name {
		return fmt.Errorf("the legacy tool's service principal: application %s is named %q, not %q: not deleting an application this deployment does not own (check it: az ad app show --id %s)",
			app.AppID, app.DisplayName, l.Name, app.AppID)
	}
	if err := az.DeleteServicePrincipal(ctx, l.SubscriptionID, app.ServicePrincipal); err != nil {
		return fmt.Errorf("delete the legacy tool's service principal %s: %w (delete it by hand: az ad app delete --id %s)", app.DisplayName, err, app.AppID)
	}
	env.Log.Info("the legacy tool's service principal deleted", "name", app.DisplayName, "client_id", app.AppID)
	env.SetOutput(AzureOutputLegacyServicePrincipal, "deleted application "+app.AppID)
	return nil
}

func orWord(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// AzureChild is the node azure-children/<name>: one child cluster, a k0rdent
// ClusterDeployment from its template with the credential, location, counts
// and sizes of its azure_children.clusters entry, waited until Ready (KCM
// and CAPZ build it; the wait is bounded by the cluster's ready_timeout, 30m by default). The nodes of
// several children run in parallel within the run's parallelism.
//
// Inputs: the credentials node's kubeconfig, subscription_id and
// credential. Verify checks the ClusterDeployment is Ready. Destroy deletes
// it and waits until it is gone (KCM's finalizer deletes the Azure
// resources first).
type AzureChild struct {
	cfg     *config.Config
	dirs    Dirs
	flags   RunFlags
	cluster config.ChildCluster

	readyTimeout time.Duration
	wait         kube.WaitOptions
	admission    admission
}

var (
	_ workflow.Phase          = (*AzureChild)(nil)
	_ workflow.Enabler        = (*AzureChild)(nil)
	_ workflow.Describer      = (*AzureChild)(nil)
	_ workflow.Preconditioner = (*AzureChild)(nil)
	_ workflow.Verifier       = (*AzureChild)(nil)
	_ workflow.Policer        = (*AzureChild)(nil)
	_ workflow.Destroyer      = (*AzureChild)(nil)
)

// NewAzureChild returns the node of child cluster cc.
func NewAzureChild(bc BuildContext, cc config.ChildCluster) *AzureChild {
	timeout := defaultChildReadyTimeout
	if cc.ReadyTimeout > 0 {
		timeout = cc.ReadyTimeout.D()
	}
	return &AzureChild{
		cfg: bc.Config, dirs: bc.Dirs, flags: bc.Flags, cluster: cc,
		readyTimeout: timeout,
		wait:         kube.WaitOptions{Interval: 10 * time.Second, Liveness: time.Minute},
		admission:    defaultAdmission(),
	}
}

// Name implements workflow.Phase.
func (p *AzureChild) Name() string { return AzureChildrenName + "/" + p.cluster.Name }

// DependsOn implements workflow.Phase.
func (p *AzureChild) DependsOn() []string { return []string{AzureChildrenName} }

// Enabled implements workflow.Enabler.
func (p *AzureChild) Enabled() (bool, string) { return azureChildrenEnabled(p.cfg, p.flags) }

// Policy implements workflow.Policer: the waits get a minute more than
// their own bounds (admission, then Ready) so that running out of one is
// reported by the phase.
func (p *AzureChild) Policy() workflow.Policy {
	return workflow.Policy{Timeout: p.admission.total() + p.readyTimeout + time.Minute}
}

// templateKey is the config key naming this child's ClusterTemplate.
func (p *AzureChild) templateKey() string {
	for i, cc := range p.cfg.AzureChildren.Clusters {
		if cc.Name == p.cluster.Name {
			return fmt.Sprintf("azure_children.clusters[%d].template", i)
		}
	}
	return "azure_children.clusters[].template"
}

func (p *AzureChild) ref() kube.ObjectRef {
	return kube.ObjectRef{Group: gvrClusterDeployment.Group, Version: gvrClusterDeployment.Version, Resource: gvrClusterDeployment.Resource,
		Namespace: p.cfg.AzureChildren.Namespace, Name: p.cluster.Name}
}

// Describe implements workflow.Describer.
func (p *AzureChild) Describe(env *workflow.Env) []string {
	cc := p.cluster
	return []string{
		fmt.Sprintf("apply ClusterDeployment %s/%s: template %s, credential %s, %s, %d×%s control plane, %d×%s workers, %d GB root volumes",
			p.cfg.AzureChildren.Namespace, cc.Name, cc.Template, p.cfg.AzureChildren.Credential, cc.Location,
			cc.ControlPlaneCount, cc.ControlPlaneSize, cc.WorkerCount, cc.WorkerSize, cc.RootVolumeSizeGB),
		fmt.Sprintf("first wait until ClusterTemplate %s is valid and Credential %s ready (KCM's admission), within %s",
			cc.Template, p.cfg.AzureChildren.Credential, config.Duration(p.admission.Timeout)),
		fmt.Sprintf("wait until it reports Ready, within %s", config.Duration(p.readyTimeout)),
	}
}

// Preconditions implements workflow.Preconditioner.
func (p *AzureChild) Preconditions() []workflow.Check {
	return append(kubeChecks(p.dirs, AzureChildrenName, AzureOutputKubeconfig, "k0rdent run --from azure-children",
		[]schema.GroupVersionResource{gvrClusterDeployment}, "KCM serves ClusterDeployments once installed: k0rdent run --from k0rdent"),
		workflow.Check{
			Name: "azure credentials recorded",
			Fix:  "k0rdent run --from azure-children",
			Check: func(ctx context.Context, env *workflow.Env) error {
				for _, k := range []string{AzureOutputSubscription, AzureOutputCredential} {
					if v, ok := env.Input(AzureChildrenName, k); !ok || v == "" {
						return fmt.Errorf("the azure-children node recorded no %q output", k)
					}
				}
				return nil
			},
		},
		clusterTemplateCheck(p.cfg, p.dirs, AzureChildrenName, AzureOutputKubeconfig, p.templateKey(), p.cfg.AzureChildren.Namespace, p.cluster.Template))
}

// clusterDeployment is the object for a child cluster. clusterAnnotations
// go into spec.config.clusterAnnotations: the template puts them on the
// cluster, where operators such as KOF's read them.
func clusterDeployment(namespace, name, template, credential, identity, subscription, location string,
	cpCount int, cpSize string, workerCount int, workerSize string, rootGB int, labels, clusterAnnotations map[string]string) *unstructured.Unstructured {
	cfg := map[string]any{
		"clusterIdentity":    map[string]any{"name": identity, "namespace": namespace},
		"location":           location,
		"subscriptionID":     subscription,
		"controlPlaneNumber": int64(cpCount),
		"workersNumber":      int64(workerCount),
		"controlPlane":       map[string]any{"vmSize": cpSize, "rootVolumeSize": int64(rootGB)},
		"worker":             map[string]any{"vmSize": workerSize, "rootVolumeSize": int64(rootGB)},
	}
	if len(clusterAnnotations) > 0 {
		a := map[string]any{}
		for k, v := range clusterAnnotations {
			a[k] = v
		}
		cfg["clusterAnnotations"] = a
	}
	fields := map[string]any{
		"spec": map[string]any{
			"template":   template,
			"credential": credential,
			"config":     cfg,
		},
	}
	if len(labels) > 0 {
		l := map[string]any{}
		for k, v := range labels {
			l[k] = v
		}
		fields["labels"] = l
	}
	return obj("k0rdent.mirantis.com/v1beta1", "ClusterDeployment", namespace, name, fields)
}

// Run implements workflow.Phase.
func (p *AzureChild) Run(ctx context.Context, env *workflow.Env) error {
	kc, err := kubeconfigFrom(env, p.dirs, AzureChildrenName, AzureOutputKubeconfig, false)
	if err != nil {
		return fmt.Errorf("%w (k0rdent run --from azure-children)", err)
	}
	c, err := kubeClient(env, kc)
	if err != nil {
		return err
	}
	sub, _ := env.Input(AzureChildrenName, AzureOutputSubscription)
	ac, cc := p.cfg.AzureChildren, p.cluster
	cd := clusterDeployment(ac.Namespace, cc.Name, cc.Template, ac.Credential, ac.Identity, sub, cc.Location,
		cc.ControlPlaneCount, cc.ControlPlaneSize, cc.WorkerCount, cc.WorkerSize, cc.RootVolumeSizeGB, cc.Labels, nil)
	if err := waitAdmissible(ctx, env, c, p.admission, ac.Namespace, cc.Template, ac.Credential); err != nil {
		return err
	}
	return applyAndWait(ctx, env, c, p.admission, cd, p.ref(), p.readyTimeout, p.wait, kc, AzureChildOutputClusterDeployment, cc.Location)
}

// applyAndWait applies a ClusterDeployment (retrying KCM's transient
// admission refusals) and waits for it to be Ready, with errors that say
// where to look.
func applyAndWait(ctx context.Context, env *workflow.Env, c *kube.Client, a admission, cd *unstructured.Unstructured, ref kube.ObjectRef,
	timeout time.Duration, wo kube.WaitOptions, kubeconfig, outputKey, location string) error {
	step := stepper(env)
	if err := step("apply "+ref.String(), func() error { return applyAdmitted(ctx, env, c, a, cd, ref) }); err != nil {
		return err
	}
	env.SetOutput(outputKey, ref.Namespace+"/"+ref.Name)
	env.SetOutput(AzureChildOutputLocation, location)
	wo.Timeout = timeout
	err := step("wait for "+ref.String(), func() error { return c.WaitReady(ctx, ref, wo) })
	var te *kube.TimeoutError
	var nr *kube.NotReadyError
	switch {
	case errors.As(err, &te):
		return fmt.Errorf("%w; not Ready within %s: KUBECONFIG=%s kubectl -n %s describe clusterdeployment %s, then k0rdent run --resume",
			err, config.Duration(timeout), kubeconfig, ref.Namespace, ref.Name)
	case errors.As(err, &nr):
		return fmt.Errorf("%w (KUBECONFIG=%s kubectl -n %s get clusterdeployment %s -o yaml shows why; k0rdent run --resume waits again)",
			err, kubeconfig, ref.Namespace, ref.Name)
	}
	return err
}

// Verify implements workflow.Verifier.
func (p *AzureChild) Verify(ctx context.Context, env *workflow.Env) error {
	kc, err := kubeconfigFrom(env, p.dirs, AzureChildrenName, AzureOutputKubeconfig, true)
	if err != nil {
		return err
	}
	c, err := kubeClient(env, kc)
	if err != nil {
		return err
	}
	return c.CheckReady(ctx, p.ref())
}

// Destroy implements workflow.Destroyer.
func (p *AzureChild) Destroy(ctx context.Context, env *workflow.Env) error {
	kc, err := kubeconfigFrom(env, p.dirs, AzureChildrenName, AzureOutputKubeconfig, true)
	if err != nil {
		env.Log.Info("no admin kubeconfig: no child cluster to delete")
		return nil
	}
	c, err := kubeClient(env, kc)
	if err != nil {
		return err
	}
	return deleteAndWait(ctx, env, c, p.ref(), p.readyTimeout)
}

// deleteAndWait deletes the object and waits until it is gone.
func deleteAndWait(ctx context.Context, env *workflow.Env, c *kube.Client, ref kube.ObjectRef, timeout time.Duration) error {
	existed, err := c.Delete(ctx, ref)
	if err != nil || !existed {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		u, err := c.Get(ctx, ref)
		if err != nil {
			return err
		}
		if u == nil {
			env.Log.Info("gone", "object", ref.String())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still exists %s after its deletion (its finalizers wait for Azure): look at KCM's logs", ref, config.Duration(timeout))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
