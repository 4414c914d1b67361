package testbed

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"embed"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

// The CRDs of crds/: the real ones of KCM v1.4.0 (ClusterDeployment,
// ClusterTemplate, Credential, Management) and CAPZ v1.21.0
// (AzureClusterIdentity), copied unchanged from
// ../shared/fixtures/real-crds (sources in crds/README.md), and the
// values schema of KCM v1.4.0's azure-standalone-cp template. Sveltos's
// ClusterProfile is a stand-in (standin-*.yaml): no real copy of it is
// available here.
//
//go:embed crds
var crdFS embed.FS

// ValuesSchemaFile is the real values schema of an Azure standalone
// ClusterDeployment's spec.config (KCM v1.4.0, azure-standalone-cp).
const ValuesSchemaFile = "kcm-v1.4.0-azure-standalone-cp-values.schema.json"

// Resources the KCM stand-in reads and writes.
var (
	GVRCRD               = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	GVRClusterDeployment = schema.GroupVersionResource{Group: "k0rdent.mirantis.com", Version: "v1beta1", Resource: "clusterdeployments"}
	GVRClusterTemplate   = schema.GroupVersionResource{Group: "k0rdent.mirantis.com", Version: "v1beta1", Resource: "clustertemplates"}
	GVRCredential        = schema.GroupVersionResource{Group: "k0rdent.mirantis.com", Version: "v1beta1", Resource: "credentials"}
	gvrNamespace         = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	gvrWebhookConfig     = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}
)

// CRDs returns the CRD documents of crds/ by file name.
func CRDs() (map[string][]byte, error) {
	entries, err := crdFS.ReadDir("crds")
	if err != nil {
		return nil, err
	}
	m := map[string][]byte{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		data, err := crdFS.ReadFile(path.Join("crds", e.Name()))
		if err != nil {
			return nil, err
		}
		m[e.Name()] = data
	}
	return m, nil
}

func dynamicFor(kubeconfig string) (dynamic.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	return dynamic.NewForConfig(rc)
}

// InstallCRDs creates the CRDs of crds/ (the real KCM and CAPZ ones, and the
// Sveltos stand-in) in the API server of kubeconfig and waits until every
// served version is served, at most 30 seconds.
func InstallCRDs(ctx context.Context, kubeconfig string) error {
	dyn, err := dynamicFor(kubeconfig)
	if err != nil {
		return err
	}
	files, err := CRDs()
	if err != nil {
		return err
	}
	var names []string
	for _, name := range sortedKeys(files) {
		dec := yaml.NewDecoder(bytes.NewReader(files[name]))
		for {
			var m map[string]any
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if m == nil {
				continue
			}
			u := &unstructured.Unstructured{Object: m}
			if _, err := dyn.Resource(GVRCRD).Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create CRD %s (%s): %w", u.GetName(), name, err)
			}
			names = append(names, u.GetName())
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range names {
		for {
			u, err := dyn.Resource(GVRCRD).Get(ctx, n, metav1.GetOptions{})
			if err == nil && established(u) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established after 30s: %v", n, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func established(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// ValuesSchema is the compiled real values schema of ValuesSchemaFile.
type ValuesSchema struct {
	s   *jsonschema.Schema
	raw map[string]any // the schema document, for the unknown-key check
}

// LoadValuesSchema compiles ValuesSchemaFile.
func LoadValuesSchema() (*ValuesSchema, error) {
	data, err := crdFS.ReadFile(path.Join("crds", ValuesSchemaFile))
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ValuesSchemaFile, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(ValuesSchemaFile, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(ValuesSchemaFile)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", ValuesSchemaFile, err)
	}
	raw, _ := doc.(map[string]any)
	return &ValuesSchema{s: s, raw: raw}, nil
}

// unknownKeys lists the keys of v that schema, an object schema that
// names its properties, does not name: the real schema allows them (it
// sets no additionalProperties), but Helm would ignore them, so a key
// there is a typo in what a phase builds.
func unknownKeys(at string, schema map[string]any, v any) []string {
	obj, ok := v.(map[string]any)
	props, named := schema["properties"].(map[string]any)
	if !ok || !named {
		return nil
	}
	var bad []string
	for _, k := range sortedKeys(obj) {
		sub, ok := props[k].(map[string]any)
		if !ok {
			bad = append(bad, at+k)
			continue
		}
		bad = append(bad, unknownKeys(at+k+".", sub, obj[k])...)
	}
	return bad
}

// Validate checks a ClusterDeployment's spec.config. The value goes through
// JSON first, as the API server stores it.
func (v *ValuesSchema) Validate(config any) error {
	raw, err := json.Marshal(config)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if err := v.s.Validate(inst); err != nil {
		return err
	}
	if bad := unknownKeys("", v.raw, inst); len(bad) > 0 {
		return fmt.Errorf("keys the values schema does not name: %s", strings.Join(bad, ", "))
	}
	return nil
}

// KCMOptions configure StartKCM.
type KCMOptions struct {
	// Version is the KCM version whose templates are created
	// (KCMTemplates). Default "1.4.0".
	Version string
	// Namespace holds the templates. Default "kcm-system".
	Namespace string
	// TemplateDelay is how long after its creation a ClusterTemplate
	// becomes valid; CredentialDelay how long a Credential waits for
	// status.ready; ReadyDelay how long a ClusterDeployment waits for
	// Ready. KCM sets all three asynchronously.
	TemplateDelay, CredentialDelay, ReadyDelay time.Duration
	// NoTemplates leaves the ClusterTemplates out (a KCM whose templates
	// were not installed).
	NoTemplates bool
}

// KCM plays the parts of KCM and CAPZ the k0rdent phases meet, against a
// kube-apiserver from LaunchKube: its ClusterTemplates (those of
// KCMTemplates(Version), set valid after TemplateDelay, with the providers
// KCM reports), the Credential controller (status.ready and the
// CredentialReady condition after CredentialDelay), CAPZ building a
// cluster (a ClusterDeployment's Ready condition after ReadyDelay), and
// KCM's ClusterDeployment admission webhook (internal/webhook and
// internal/utils/validation/cd.go of k0rdent/kcm v1.4.0): creating or
// updating a ClusterDeployment is refused, with KCM's messages, unless its
// ClusterTemplate exists in its namespace with status.valid true and its
// Credential has status.ready true. The webhook also validates spec.config
// against the real values schema (ValuesSchemaFile) and refuses what does
// not match: KCM would only fail later, in its Helm release, which nothing
// here runs. The webhook is a real ValidatingWebhookConfiguration calling
// an HTTPS server of the test process on 127.0.0.1, so it works only with
// an API server in the test's own network namespace.
type KCM struct {
	opts   KCMOptions
	dyn    dynamic.Interface
	schema *ValuesSchema

	mu       sync.Mutex
	seen     map[string]time.Time // kind/ns/name → first seen
	ready    map[string]time.Time // ClusterDeployments set Ready
	refusals []string             // admission refusals, in order
	checked  int                  // spec.configs validated against the schema
}

// StartKCM installs the CRDs, the templates and the admission webhook into
// the API server of kubeconfig and runs the controller until t ends.
func StartKCM(t testing.TB, kubeconfig string, opts KCMOptions) *KCM {
	t.Helper()
	if opts.Version == "" {
		opts.Version = "1.4.0"
	}
	if opts.Namespace == "" {
		opts.Namespace = "kcm-system"
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := InstallCRDs(ctx, kubeconfig); err != nil {
		cancel()
		t.Fatalf("testbed KCM: %v", err)
	}
	dyn, err := dynamicFor(kubeconfig)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	vs, err := LoadValuesSchema()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	k := &KCM{opts: opts, dyn: dyn, schema: vs, seen: map[string]time.Time{}, ready: map[string]time.Time{}}
	stopHook, err := k.startWebhook(ctx)
	if err != nil {
		cancel()
		t.Fatalf("testbed KCM webhook: %v", err)
	}
	if !opts.NoTemplates {
		if err := k.createTemplates(ctx); err != nil {
			cancel()
			stopHook()
			t.Fatalf("testbed KCM templates: %v", err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			k.tick(ctx)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-done; stopHook() })
	return k
}

// Refusals returns the admission refusals so far.
func (k *KCM) Refusals() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.refusals...)
}

// Checked returns how many ClusterDeployment configs the webhook validated
// against the values schema.
func (k *KCM) Checked() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.checked
}

// Ready returns the ClusterDeployments (namespace/name) set Ready so far.
func (k *KCM) Ready() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return sortedKeys(k.ready)
}

func (k *KCM) createTemplates(ctx context.Context) error {
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": k.opts.Namespace}}}
	if _, err := k.dyn.Resource(gvrNamespace).Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	for _, name := range KCMTemplates(k.opts.Version) {
		chart, version, _ := strings.Cut(name, "-cp-")
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterTemplate",
			"metadata": map[string]any{"name": name, "namespace": k.opts.Namespace},
			"spec": map[string]any{"helm": map[string]any{"chartSpec": map[string]any{
				"chart": chart + "-cp", "version": strings.ReplaceAll(version, "-", "."), "interval": "10m",
				"sourceRef": map[string]any{"kind": "HelmRepository", "name": "kcm-templates"},
			}}},
		}}
		if _, err := k.dyn.Resource(GVRClusterTemplate).Namespace(k.opts.Namespace).Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("ClusterTemplate %s: %w", name, err)
		}
	}
	return nil
}

// due reports whether the object key has been seen for at least d.
func (k *KCM) due(key string, d time.Duration) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	first, ok := k.seen[key]
	if !ok {
		first = time.Now()
		k.seen[key] = first
	}
	return time.Since(first) >= d
}

func (k *KCM) tick(ctx context.Context) {
	now := time.Now().UTC().Format(time.RFC3339)
	if l, err := k.dyn.Resource(GVRClusterTemplate).List(ctx, metav1.ListOptions{}); err == nil {
		for _, u := range l.Items {
			if v, _, _ := unstructured.NestedBool(u.Object, "status", "valid"); v || !k.due("ct/"+u.GetNamespace()+"/"+u.GetName(), k.opts.TemplateDelay) {
				continue
			}
			_ = unstructured.SetNestedField(u.Object, true, "status", "valid")
			_ = unstructured.SetNestedStringSlice(u.Object, []string{"bootstrap-k0sproject-k0smotron", "control-plane-k0sproject-k0smotron", "infrastructure-azure"}, "status", "providers")
			_, _ = k.dyn.Resource(GVRClusterTemplate).Namespace(u.GetNamespace()).UpdateStatus(ctx, &u, metav1.UpdateOptions{})
		}
	}
	if l, err := k.dyn.Resource(GVRCredential).List(ctx, metav1.ListOptions{}); err == nil {
		for _, u := range l.Items {
			if v, _, _ := unstructured.NestedBool(u.Object, "status", "ready"); v || !k.due("cred/"+u.GetNamespace()+"/"+u.GetName(), k.opts.CredentialDelay) {
				continue
			}
			_ = unstructured.SetNestedField(u.Object, true, "status", "ready")
			_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"type": "CredentialReady", "status": "True", "reason": "Succeeded", "message": "Credential is ready", "lastTransitionTime": now}}, "status", "conditions")
			_, _ = k.dyn.Resource(GVRCredential).Namespace(u.GetNamespace()).UpdateStatus(ctx, &u, metav1.UpdateOptions{})
		}
	}
	if l, err := k.dyn.Resource(GVRClusterDeployment).List(ctx, metav1.ListOptions{}); err == nil {
		for _, u := range l.Items {
			key := u.GetNamespace() + "/" + u.GetName()
			k.mu.Lock()
			_, done := k.ready[key]
			k.mu.Unlock()
			if done || u.GetDeletionTimestamp() != nil || !k.due("cd/"+key, k.opts.ReadyDelay) {
				continue
			}
			_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "", "lastTransitionTime": now}}, "status", "conditions")
			if _, err := k.dyn.Resource(GVRClusterDeployment).Namespace(u.GetNamespace()).UpdateStatus(ctx, &u, metav1.UpdateOptions{}); err == nil {
				k.mu.Lock()
				k.ready[key] = time.Now()
				k.mu.Unlock()
			}
		}
	}
}

// admit is KCM's ClusterDeployment validation (v1.4.0
// internal/webhook/clusterdeployment_webhook.go ValidateCreate and
// internal/utils/validation/cd.go ClusterDeployCredential), in its order
// and with its messages, plus the values schema check.
func (k *KCM) admit(ctx context.Context, cd *unstructured.Unstructured) error {
	const invalid = "the ClusterDeployment is invalid"
	ns := cd.GetNamespace()
	tmplName, _, _ := unstructured.NestedString(cd.Object, "spec", "template")
	tmpl, err := k.dyn.Resource(GVRClusterTemplate).Namespace(ns).Get(ctx, tmplName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%s: %w", invalid, err)
	}
	if v, _, _ := unstructured.NestedBool(tmpl.Object, "status", "valid"); !v {
		verr, _, _ := unstructured.NestedString(tmpl.Object, "status", "validationError")
		return fmt.Errorf("%s: the ClusterTemplate %s/%s is invalid with the error: %s", invalid, ns, tmplName, verr)
	}
	providers, _, _ := unstructured.NestedStringSlice(tmpl.Object, "status", "providers")
	if len(providers) == 0 {
		return fmt.Errorf("%s: no providers have been found in the ClusterTemplate %s/%s", invalid, ns, tmplName)
	}
	credName, _, _ := unstructured.NestedString(cd.Object, "spec", "credential")
	cred, err := k.dyn.Resource(GVRCredential).Namespace(ns).Get(ctx, credName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%s: failed to get Credential %s/%s referred in the ClusterDeployment %s/%s: %w", invalid, ns, credName, ns, cd.GetName(), err)
	}
	if r, _, _ := unstructured.NestedBool(cred.Object, "status", "ready"); !r {
		return fmt.Errorf("%s: the Credential %s/%s is not Ready", invalid, ns, credName)
	}
	if kind, _, _ := unstructured.NestedString(cred.Object, "spec", "identityRef", "kind"); kind != "AzureClusterIdentity" {
		return fmt.Errorf("%s: provider infrastructure-azure does not support ClusterIdentity Kind %s from the Credential %s/%s", invalid, kind, ns, credName)
	}
	config, ok := cd.Object["spec"].(map[string]any)["config"]
	if !ok {
		return fmt.Errorf("testbed: ClusterDeployment %s/%s has no spec.config", ns, cd.GetName())
	}
	k.mu.Lock()
	k.checked++
	k.mu.Unlock()
	if err := k.schema.Validate(config); err != nil {
		return fmt.Errorf("testbed: spec.config of ClusterDeployment %s/%s does not match the values schema %s: %v", ns, cd.GetName(), ValuesSchemaFile, err)
	}
	return nil
}

// admissionReview is the part of admission.k8s.io/v1 AdmissionReview the
// webhook reads and writes.
type admissionReview struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Request    *admissionRequest  `json:"request,omitempty"`
	Response   *admissionResponse `json:"response,omitempty"`
}

type admissionRequest struct {
	UID       string          `json:"uid"`
	Operation string          `json:"operation"`
	Object    json.RawMessage `json:"object"`
}

type admissionResponse struct {
	UID     string         `json:"uid"`
	Allowed bool           `json:"allowed"`
	Status  *metav1.Status `json:"status,omitempty"`
}

func (k *KCM) serveAdmission(w http.ResponseWriter, r *http.Request) {
	var rev admissionReview
	if err := json.NewDecoder(r.Body).Decode(&rev); err != nil || rev.Request == nil {
		http.Error(w, "bad AdmissionReview", http.StatusBadRequest)
		return
	}
	resp := &admissionResponse{UID: rev.Request.UID, Allowed: true}
	var m map[string]any
	if err := json.Unmarshal(rev.Request.Object, &m); err == nil && (rev.Request.Operation == "CREATE" || rev.Request.Operation == "UPDATE") {
		if err := k.admit(r.Context(), &unstructured.Unstructured{Object: m}); err != nil {
			resp.Allowed = false
			resp.Status = &metav1.Status{Status: metav1.StatusFailure, Message: err.Error(), Reason: metav1.StatusReasonForbidden, Code: http.StatusForbidden}
			k.mu.Lock()
			k.refusals = append(k.refusals, err.Error())
			k.mu.Unlock()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(admissionReview{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview", Response: resp})
}

// startWebhook serves the admission webhook on 127.0.0.1 with a fresh
// self-signed certificate and registers it for ClusterDeployments.
func (k *KCM) startWebhook(ctx context.Context) (stop func(), err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kcm-webhook testbed"},
		NotBefore: now, NotAfter: now.Add(48 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(k.serveAdmission),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
	}
	go srv.ServeTLS(ln, "", "")
	caPEM := pemCert(der)
	fail, none := "Fail", "None"
	cfg := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
		"metadata": map[string]any{"name": "kcm-testbed-validating-webhook-configuration"},
		"webhooks": []any{map[string]any{
			"name":                    "validation.clusterdeployment.k0rdent.mirantis.com",
			"admissionReviewVersions": []any{"v1"},
			"sideEffects":             none,
			"failurePolicy":           fail,
			"timeoutSeconds":          int64(10),
			"clientConfig":            map[string]any{"url": "https://" + ln.Addr().String() + "/validate", "caBundle": caPEM},
			"rules": []any{map[string]any{
				"apiGroups": []any{"k0rdent.mirantis.com"}, "apiVersions": []any{"v1beta1"},
				"operations": []any{"CREATE", "UPDATE"}, "resources": []any{"clusterdeployments"},
			}},
		}},
	}}
	if _, err := k.dyn.Resource(gvrWebhookConfig).Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		srv.Close()
		return nil, err
	}
	return func() { srv.Close() }, nil
}

// pemCert is a certificate as the base64 of its PEM, as a caBundle is
// written in JSON.
func pemCert(der []byte) string {
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
