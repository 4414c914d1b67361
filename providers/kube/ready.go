package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

// ObjectRef names one object of any resource type.
type ObjectRef struct {
	// Group, Version and Resource (plural, lower-case) select the type,
	// e.g. k0rdent.mirantis.com, v1beta1, managements.
	Group    string
	Version  string
	Resource string
	// Namespace is empty for a cluster-scoped object.
	Namespace string
	Name      string
}

// Management is KCM's Management object: cluster-scoped, named kcm, in
// k0rdent.mirantis.com/v1beta1 (KCM 1.x; 0.x used v1alpha1). Its Ready
// condition is True once every provider and component KCM manages is
// installed.
var Management = ObjectRef{Group: "k0rdent.mirantis.com", Version: "v1beta1", Resource: "managements", Name: "kcm"}

// GVR is the object's resource type.
func (r ObjectRef) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Resource}
}

// String is resource.group/name, or resource.group/namespace/name, as
// kubectl accepts: managements.k0rdent.mirantis.com/kcm.
func (r ObjectRef) String() string {
	t := r.Resource
	if r.Group != "" {
		t += "." + r.Group
	}
	if r.Namespace != "" {
		return t + "/" + r.Namespace + "/" + r.Name
	}
	return t + "/" + r.Name
}

// Condition is one entry of an object's status.conditions.
type Condition struct {
	Type    string
	Status  string // True, False, Unknown
	Reason  string
	Message string
}

func (c Condition) String() string {
	s := c.Type + "=" + c.Status
	switch {
	case c.Reason != "" && c.Message != "":
		s += " (" + c.Reason + ": " + c.Message + ")"
	case c.Reason != "":
		s += " (" + c.Reason + ")"
	case c.Message != "":
		s += " (" + c.Message + ")"
	}
	return s
}

// ObjectStatus is what one look at an object saw.
type ObjectStatus struct {
	// Found is false when the object, or its resource type, does not exist.
	Found bool
	// TypeServed is false when the API server does not serve the
	// resource type (the CRD is not installed).
	TypeServed bool
	// Conditions are the object's status.conditions, in order.
	Conditions []Condition
}

// Ready returns the Ready condition, if the object has one.
func (s ObjectStatus) Ready() (Condition, bool) {
	for _, c := range s.Conditions {
		if c.Type == "Ready" {
			return c, true
		}
	}
	return Condition{}, false
}

// IsReady reports whether the object has Ready=True.
func (s ObjectStatus) IsReady() bool {
	c, ok := s.Ready()
	return ok && c.Status == string(metav1.ConditionTrue)
}

// String says what was seen, for progress lines and errors.
func (s ObjectStatus) String() string {
	switch {
	case !s.TypeServed:
		return "its resource type is not served (CRD not installed)"
	case !s.Found:
		return "not found"
	}
	c, ok := s.Ready()
	if !ok {
		if len(s.Conditions) == 0 {
			return "no status conditions yet"
		}
		return "no Ready condition; " + joinConditions(s.Conditions)
	}
	return c.String()
}

func joinConditions(cs []Condition) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, "; ")
}

// Status looks at the object once. A missing object or resource type is
// not an error (ObjectStatus says so); a failed request is.
func (c *Client) Status(ctx context.Context, ref ObjectRef) (ObjectStatus, error) {
	d, err := c.dynamic()
	if err != nil {
		return ObjectStatus{}, err
	}
	var u *unstructured.Unstructured
	if ref.Namespace == "" {
		u, err = d.Resource(ref.GVR()).Get(ctx, ref.Name, metav1.GetOptions{})
	} else {
		u, err = d.Resource(ref.GVR()).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		// A 404 for the object carries its kind in the details; one for
		// an unserved resource type does not name the object.
		served := true
		var se *apierrors.StatusError
		if errors.As(err, &se) && (se.ErrStatus.Details == nil || se.ErrStatus.Details.Name == "") {
			served = false
		}
		return ObjectStatus{TypeServed: served}, nil
	}
	if err != nil {
		return ObjectStatus{}, fmt.Errorf("get %s from %s: %w", ref, c.rest.Host, err)
	}
	st := ObjectStatus{Found: true, TypeServed: true}
	raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		st.Conditions = append(st.Conditions, Condition{Type: str("type"), Status: str("status"), Reason: str("reason"), Message: str("message")})
	}
	return st, nil
}

// NotReadyError is an object that exists and reports Ready other than True.
type NotReadyError struct {
	Object ObjectRef
	// Waited is how long WaitReady waited; 0 for a single check.
	Waited time.Duration
	// Conditions are the object's conditions as last seen.
	Conditions []Condition
}

func (e *NotReadyError) Error() string {
	st := ObjectStatus{Found: true, TypeServed: true, Conditions: e.Conditions}
	msg := e.Object.String() + " not ready"
	if e.Waited > 0 {
		msg += " after " + e.Waited.Round(time.Second).String()
	}
	msg += ": " + st.String()
	var others []Condition
	for _, c := range e.Conditions {
		if c.Type != "Ready" && c.Status != string(metav1.ConditionTrue) {
			others = append(others, c)
		}
	}
	if _, ok := st.Ready(); ok && len(others) > 0 {
		msg += "; " + joinConditions(others)
	}
	return msg
}

// NotFoundError is an object (or its resource type) that does not exist.
type NotFoundError struct {
	Object ObjectRef
	Status ObjectStatus
}

func (e *NotFoundError) Error() string { return e.Object.String() + ": " + e.Status.String() }

// TimeoutError is a wait that ran out of time before the object reported
// any Ready condition: it never appeared, its type was never served, or
// it had no Ready condition.
type TimeoutError struct {
	Object   ObjectRef
	Waited   time.Duration
	LastSeen string
	// For is what was awaited (WaitFor's what); empty means Ready.
	For string
}

func (e *TimeoutError) Error() string {
	if e.For != "" {
		return fmt.Sprintf("timed out after %s waiting for %s %s; last seen: %s", e.Waited.Round(time.Second), e.Object, e.For, e.LastSeen)
	}
	return fmt.Sprintf("timed out after %s waiting for %s to be Ready; last seen: %s", e.Waited.Round(time.Second), e.Object, e.LastSeen)
}

// CheckReady looks once: nil when the object reports Ready=True, a
// *NotFoundError when it (or its type) is missing, a *NotReadyError
// otherwise.
func (c *Client) CheckReady(ctx context.Context, ref ObjectRef) error {
	st, err := c.Status(ctx, ref)
	if err != nil {
		return err
	}
	switch {
	case !st.Found:
		return &NotFoundError{Object: ref, Status: st}
	case !st.IsReady():
		return &NotReadyError{Object: ref, Conditions: st.Conditions}
	}
	return nil
}

// WaitOptions tune WaitReady. Zero values take the defaults.
type WaitOptions struct {
	// Timeout bounds the wait; 0 means only ctx bounds it.
	Timeout time.Duration
	// Interval is the pause between looks; default 2s.
	Interval time.Duration
	// Liveness is how often a "still waiting" line is logged while
	// nothing changes; default 30s. A change is logged when it is seen.
	Liveness time.Duration
}

// WaitReady polls the object until it reports Ready=True. Progress goes to
// the client's log: each change of what is seen, and a liveness line every
// Liveness. When Timeout runs out it returns a *NotReadyError if the object
// last reported a Ready condition other than True (with its conditions),
// else a *TimeoutError naming what was last seen. Failed requests (the API
// server restarting) are logged and retried until then. When ctx ends
// first, its error is returned.
func (c *Client) WaitReady(ctx context.Context, ref ObjectRef, o WaitOptions) error {
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Liveness <= 0 {
		o.Liveness = 30 * time.Second
	}
	start := time.Now()
	var deadline <-chan time.Time
	if o.Timeout > 0 {
		t := time.NewTimer(o.Timeout)
		defer t.Stop()
		deadline = t.C
	}
	c.log.Info("waiting for Ready", "object", ref.String(), "timeout", o.Timeout.String())
	var (
		last     ObjectStatus
		lastSeen = "nothing yet"
		lastLog  = start
	)
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for {
		st, err := c.Status(ctx, ref)
		seen := ""
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("wait for %s: %w", ref, context.Cause(ctx))
			}
			seen = "error: " + err.Error()
		} else {
			last = st
			seen = st.String()
			if st.IsReady() {
				c.log.Info("ready", "object", ref.String(), "waited", since(start))
				return nil
			}
		}
		if seen != lastSeen {
			c.log.Info("not ready yet", "object", ref.String(), "seen", seen, "waited", since(start))
			lastSeen, lastLog = seen, time.Now()
		} else if time.Since(lastLog) >= o.Liveness {
			c.log.Info("still waiting", "object", ref.String(), "seen", seen, "waited", since(start))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s (last seen: %s): %w", ref, lastSeen, context.Cause(ctx))
		case <-deadline:
			waited := time.Since(start)
			if _, ok := last.Ready(); ok && last.Found {
				return &NotReadyError{Object: ref, Waited: waited, Conditions: last.Conditions}
			}
			return &TimeoutError{Object: ref, Waited: waited, LastSeen: lastSeen}
		case <-tick.C:
		}
	}
}

// WaitFor polls the object (k8s.io/apimachinery's wait, every Interval)
// until done reports true for it, within Timeout. what names the awaited
// state in the log and errors ("status.valid true"). done also returns
// what it sees ("status.valid false: chart not found"); each change of it is
// logged, and a "still waiting" line every Liveness. A missing object is
// seen as "not found" and waited for. When Timeout runs out the result is a
// *TimeoutError naming what was last seen; when ctx ends, its error.
func (c *Client) WaitFor(ctx context.Context, ref ObjectRef, what string, done func(u *unstructured.Unstructured) (bool, string), o WaitOptions) error {
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Liveness <= 0 {
		o.Liveness = 30 * time.Second
	}
	start := time.Now()
	c.log.Info("waiting", "object", ref.String(), "for", what, "timeout", o.Timeout.String())
	lastSeen, lastLog := "nothing yet", start
	pctx, cancel := ctx, context.CancelFunc(func() {})
	if o.Timeout > 0 {
		pctx, cancel = context.WithTimeout(ctx, o.Timeout)
	}
	defer cancel()
	err := wait.PollUntilContextCancel(pctx, o.Interval, true, func(context.Context) (bool, error) {
		// The request gets ctx, not the bounded one, so that running out
		// of the bound never becomes what was seen.
		u, err := c.Get(ctx, ref)
		var seen string
		ok := false
		switch {
		case err != nil:
			seen = "error: " + err.Error()
		case u == nil:
			seen = "not found"
		default:
			ok, seen = done(u)
		}
		if ok {
			c.log.Info("done waiting", "object", ref.String(), "for", what, "seen", seen, "waited", since(start))
			return true, nil
		}
		if seen != lastSeen {
			c.log.Info("not yet", "object", ref.String(), "for", what, "seen", seen, "waited", since(start))
			lastSeen, lastLog = seen, time.Now()
		} else if time.Since(lastLog) >= o.Liveness {
			c.log.Info("still waiting", "object", ref.String(), "for", what, "seen", seen, "waited", since(start))
			lastLog = time.Now()
		}
		return false, nil
	})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("wait for %s %s (last seen: %s): %w", ref, what, lastSeen, context.Cause(ctx))
	}
	return &TimeoutError{Object: ref, Waited: time.Since(start), LastSeen: lastSeen, For: what}
}
