package kube

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// FieldManager is the server-side apply field manager of every object
// k0rdent applies.
const FieldManager = "k0rdent"

// refOf names u with the resource type r.
func refOf(gvr schema.GroupVersionResource, u *unstructured.Unstructured) ObjectRef {
	return ObjectRef{Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource, Namespace: u.GetNamespace(), Name: u.GetName()}
}

func (c *Client) resource(d dynamic.Interface, ref ObjectRef) dynamic.ResourceInterface {
	if ref.Namespace == "" {
		return d.Resource(ref.GVR())
	}
	return d.Resource(ref.GVR()).Namespace(ref.Namespace)
}

// Apply makes obj, of resource type gvr, exist with obj's fields, as
// `kubectl apply --server-side --force-conflicts` does: idempotent, and
// only the fields k0rdent sets are owned by k0rdent (a controller's status
// is left alone). The object's data is never logged, so a Secret may be
// applied.
func (c *Client) Apply(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) error {
	ref := refOf(gvr, obj)
	d, err := c.dynamic()
	if err != nil {
		return err
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return fmt.Errorf("apply %s: %w", ref, err)
	}
	force := true
	_, err = c.resource(d, ref).Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("apply %s on %s: %w (is its CRD installed?)", ref, c.rest.Host, err)
		}
		return fmt.Errorf("apply %s on %s: %w", ref, c.rest.Host, err)
	}
	c.log.Info("applied", "object", ref.String())
	return nil
}

// Get returns the object, or nil when it (or its resource type) does not
// exist.
func (c *Client) Get(ctx context.Context, ref ObjectRef) (*unstructured.Unstructured, error) {
	d, err := c.dynamic()
	if err != nil {
		return nil, err
	}
	u, err := c.resource(d, ref).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s from %s: %w", ref, c.rest.Host, err)
	}
	return u, nil
}

// List returns the objects of a resource type in namespace ("" for all or
// for a cluster-scoped type) matching the label selector (may be empty).
func (c *Client) List(ctx context.Context, gvr schema.GroupVersionResource, namespace, selector string) ([]unstructured.Unstructured, error) {
	d, err := c.dynamic()
	if err != nil {
		return nil, err
	}
	ref := ObjectRef{Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource, Namespace: namespace}
	l, err := c.resource(d, ref).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("list %s on %s: %w", ref.GVR().GroupResource(), c.rest.Host, err)
	}
	return l.Items, nil
}

// Delete deletes the object; one that is already gone (or whose type is not
// served) is not an error. It returns whether there was something to
// delete. It does not wait for finalizers: Status says when it is gone.
func (c *Client) Delete(ctx context.Context, ref ObjectRef) (bool, error) {
	d, err := c.dynamic()
	if err != nil {
		return false, err
	}
	err = c.resource(d, ref).Delete(ctx, ref.Name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete %s on %s: %w", ref, c.rest.Host, err)
	}
	c.log.Info("deleted", "object", ref.String())
	return true, nil
}

// Served reports whether the API server serves the resource type, e.g.
// whether a CRD is installed and established.
func (c *Client) Served(ctx context.Context, gvr schema.GroupVersionResource) (bool, error) {
	d, err := c.dynamic()
	if err != nil {
		return false, err
	}
	_, err = d.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("list %s on %s: %w", gvr.GroupResource(), c.rest.Host, err)
	}
	return true, nil
}

// StorageClasses is storage.k8s.io/v1 storageclasses.
var StorageClasses = schema.GroupVersionResource{Group: "storage.k8s.io", Version: "v1", Resource: "storageclasses"}

// DefaultStorageClassAnnotation marks the cluster's default StorageClass.
const DefaultStorageClassAnnotation = "storageclass.kubernetes.io/is-default-class"

// DefaultStorageClass returns the name of the StorageClass annotated as the
// default, or "" when there is none.
func (c *Client) DefaultStorageClass(ctx context.Context) (string, error) {
	scs, err := c.List(ctx, StorageClasses, "", "")
	if err != nil {
		return "", err
	}
	for _, sc := range scs {
		if sc.GetAnnotations()[DefaultStorageClassAnnotation] == "true" {
			return sc.GetName(), nil
		}
	}
	return "", nil
}
