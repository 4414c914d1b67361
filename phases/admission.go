package phases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/providers/kube"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// What KCM's ClusterDeployment admission (k0rdent/kcm v1.4.0,
// internal/webhook/clusterdeployment_webhook.go and
// internal/utils/validation/cd.go) requires, and how the azure-children
// and kof nodes meet it: the ClusterTemplate exists in the
// ClusterDeployment's namespace with status.valid true, and the
// Credential has status.ready true. KCM sets both asynchronously (the
// template after its chart is fetched and validated, the Credential after
// its first reconcile), so the nodes wait for both, bounded, before they
// create a ClusterDeployment, and a refusal that names one of them is
// retried with backoff; any other refusal is permanent, with KCM's
// message.

var gvrClusterTemplate = schema.GroupVersionResource{Group: "k0rdent.mirantis.com", Version: "v1beta1", Resource: "clustertemplates"}

// admission bounds the wait for KCM's admission preconditions and the
// retries of a refusal that names them.
type admission struct {
	// Timeout bounds the wait for the template and the Credential.
	Timeout time.Duration
	// Wait tunes the polling of that wait.
	Wait kube.WaitOptions
	// Backoff spaces the retries of a transient refusal.
	Backoff wait.Backoff
}

// defaultAdmission: KCM validates a template within seconds of fetching
// its chart and reconciles a Credential at once; five minutes covers a
// slow registry.
func defaultAdmission() admission {
	return admission{
		Timeout: 5 * time.Minute,
		Wait:    kube.WaitOptions{Interval: 2 * time.Second, Liveness: 30 * time.Second},
		// 2s, 4s, 8s, 16s between six attempts. No Cap: apimachinery's
		// Backoff stops stepping once it reaches the cap.
		Backoff: wait.Backoff{Duration: 2 * time.Second, Factor: 2, Jitter: 0.1, Steps: 5},
	}
}

// total is the longest the admission steps can take: the wait and every
// backoff step (with its jitter).
func (a admission) total() time.Duration {
	d, b := a.Timeout, a.Backoff
	step := b.Duration
	for i := 0; i < b.Steps; i++ {
		d += step + time.Duration(float64(step)*b.Jitter)
		step = time.Duration(float64(step) * b.Factor)
	}
	return d
}

func templateRef(namespace, name string) kube.ObjectRef {
	return kube.ObjectRef{Group: gvrClusterTemplate.Group, Version: gvrClusterTemplate.Version, Resource: gvrClusterTemplate.Resource, Namespace: namespace, Name: name}
}

func credentialRef(namespace, name string) kube.ObjectRef {
	return kube.ObjectRef{Group: gvrCredential.Group, Version: gvrCredential.Version, Resource: gvrCredential.Resource, Namespace: namespace, Name: name}
}

// clusterTemplateCheck is the precondition "cluster template exists": the
// ClusterTemplate named at key (azure_children.clusters[i].template,
// kof.regional.template) exists in namespace and KCM has not found it
// invalid. A template KCM has not judged yet passes: Run waits for it.
func clusterTemplateCheck(cfg *config.Config, dirs Dirs, node, kubeconfigKey, key, namespace, template string) workflow.Check {
	return workflow.Check{
		Name: "cluster template exists",
		Fix:  "set " + key + " to a ClusterTemplate this KCM ships (kubectl -n " + namespace + " get clustertemplates), then k0rdent run --resume",
		Check: func(ctx context.Context, env *workflow.Env) error {
			path, err := kubeconfigFrom(env, dirs, node, kubeconfigKey, false)
			if err != nil {
				return nil // reported by the kubeconfig check
			}
			c, err := kubeClient(env, path)
			if err != nil {
				return nil
			}
			u, err := c.Get(ctx, templateRef(namespace, template))
			if err != nil {
				return err
			}
			if u == nil {
				l, err := c.List(ctx, gvrClusterTemplate, namespace, "")
				if err != nil {
					return err
				}
				var names []string
				for _, t := range l {
					names = append(names, t.GetName())
				}
				slices.Sort(names)
				have := "none"
				if len(names) > 0 {
					have = strings.Join(names, ", ")
				}
				return fmt.Errorf("ClusterTemplate %s/%s (%s) does not exist in KCM %s (software.k0rdent.version); the ClusterTemplates in %s: %s",
					namespace, template, key, cfg.Software.K0rdent.Version, namespace, have)
			}
			valid, found, _ := unstructured.NestedBool(u.Object, "status", "valid")
			verr, _, _ := unstructured.NestedString(u.Object, "status", "validationError")
			if found && !valid && verr != "" {
				return fmt.Errorf("ClusterTemplate %s/%s (%s) is invalid in KCM %s: %s", namespace, template, key, cfg.Software.K0rdent.Version, verr)
			}
			return nil
		},
	}
}

// templateValid and credentialReady are what KCM's admission reads.
func templateValid(u *unstructured.Unstructured) (bool, string) {
	valid, found, _ := unstructured.NestedBool(u.Object, "status", "valid")
	if !found {
		return false, "status.valid not set yet"
	}
	if !valid {
		verr, _, _ := unstructured.NestedString(u.Object, "status", "validationError")
		return false, "status.valid false: " + verr
	}
	return true, "status.valid true"
}

func credentialReady(u *unstructured.Unstructured) (bool, string) {
	ready, found, _ := unstructured.NestedBool(u.Object, "status", "ready")
	switch {
	case !found:
		return false, "status.ready not set yet"
	case !ready:
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if m, _ := c.(map[string]any); m["type"] == "CredentialReady" {
				return false, fmt.Sprintf("status.ready false (CredentialReady %v: %v)", m["status"], m["message"])
			}
		}
		return false, "status.ready false"
	}
	return true, "status.ready true"
}

// waitAdmissible waits, bounded by a.Timeout, until the ClusterTemplate is
// valid and the Credential ready; each wait is a step in the node log and
// the outcome an output (admission).
func waitAdmissible(ctx context.Context, env *workflow.Env, c *kube.Client, a admission, namespace, template, credential string) error {
	step := stepper(env)
	start := time.Now()
	wo := a.Wait
	wo.Timeout = a.Timeout
	tref, cref := templateRef(namespace, template), credentialRef(namespace, credential)
	if err := step("wait for "+tref.String()+" status.valid", func() error {
		return c.WaitFor(ctx, tref, "status.valid true", templateValid, wo)
	}); err != nil {
		return admissionWaitError(err, "ClusterTemplate "+namespace+"/"+template+" is not valid", a.Timeout, c, tref)
	}
	if err := step("wait for "+cref.String()+" status.ready", func() error {
		wo.Timeout = max(a.Timeout-time.Since(start), time.Second)
		return c.WaitFor(ctx, cref, "status.ready true", credentialReady, wo)
	}); err != nil {
		return admissionWaitError(err, "Credential "+namespace+"/"+credential+" is not ready", a.Timeout, c, cref)
	}
	env.SetOutput(OutputAdmission, fmt.Sprintf("template %s valid, credential %s ready after %s", template, credential, time.Since(start).Round(time.Millisecond)))
	return nil
}

// OutputAdmission is the output of a node that creates a ClusterDeployment:
// when KCM's admission preconditions held.
const OutputAdmission = "admission"

func admissionWaitError(err error, what string, timeout time.Duration, c *kube.Client, ref kube.ObjectRef) error {
	var te *kube.TimeoutError
	if errors.As(err, &te) {
		return workflow.Transient(fmt.Errorf("%s within %s: %w (KUBECONFIG=%s kubectl -n %s get %s %s -o yaml shows why; k0rdent run --resume waits again)",
			what, config.Duration(timeout), err, c.Kubeconfig(), ref.Namespace, ref.Resource, ref.Name))
	}
	return err
}

// admissionRefusal tells a refusal by KCM's admission webhook apart: it
// returns KCM's message and whether it names a precondition that KCM
// fulfils by itself in time (a template not yet valid, a Credential not
// yet ready), which is worth retrying.
func admissionRefusal(err error) (msg string, refused, transient bool) {
	if err == nil {
		return "", false, false
	}
	s := err.Error()
	_, after, ok := strings.Cut(s, "denied the request: ")
	if !ok {
		return "", false, false
	}
	transient = (strings.Contains(after, "the Credential ") && strings.Contains(after, " is not Ready")) ||
		(strings.Contains(after, "the ClusterTemplate ") && strings.Contains(after, " is invalid with the error"))
	return after, true, transient
}

// applyAdmitted applies a ClusterDeployment, retrying with a.Backoff while
// KCM refuses it for a transient reason. A refusal for any other reason is
// permanent and carries KCM's message; one still transient after the
// backoff is a transient error (k0rdent run --resume tries again).
func applyAdmitted(ctx context.Context, env *workflow.Env, c *kube.Client, a admission, cd *unstructured.Unstructured, ref kube.ObjectRef) error {
	var last error
	attempts := 0
	err := wait.ExponentialBackoffWithContext(ctx, a.Backoff, func(ctx context.Context) (bool, error) {
		attempts++
		err := c.Apply(ctx, gvrClusterDeployment, cd)
		if err == nil {
			return true, nil
		}
		msg, refused, transient := admissionRefusal(err)
		switch {
		case refused && transient:
			last = err
			env.Log.Warn("KCM refused the ClusterDeployment for now; retrying", "object", ref.String(), "attempt", attempts, "reason", msg)
			return false, nil
		case refused:
			return false, fmt.Errorf("KCM refused %s: %s (fix the cause, then k0rdent run --resume)", ref, msg)
		}
		return false, err
	})
	if err != nil && wait.Interrupted(err) && last != nil {
		return workflow.Transient(fmt.Errorf("KCM still refuses %s after %d attempts: %w (k0rdent run --resume tries again)", ref, attempts, last))
	}
	return err
}
