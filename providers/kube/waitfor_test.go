package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// WaitFor waits for what its function recognises (here a Ready condition
// set after a while), logs what it sees change, and times out with a
// *TimeoutError naming what it last saw.
func TestClient_WaitFor(t *testing.T) {
	c, log := newClient(t)
	withCRD(t, c)
	ref := mgmt(fmt.Sprintf("wait-for-%d", time.Now().UnixNano()))
	readyTrue := func(u *unstructured.Unstructured) (bool, string) {
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, x := range conds {
			if m, _ := x.(map[string]any); m["type"] == "Ready" {
				return m["status"] == "True", "Ready " + m["status"].(string)
			}
		}
		return false, "no Ready condition"
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(300 * time.Millisecond)
		management(t, c, ref, "False", "Installing", "")
		time.Sleep(300 * time.Millisecond)
		management(t, c, ref, "True", "Succeeded", "")
	}()
	defer func() { <-done }()
	o := WaitOptions{Timeout: 20 * time.Second, Interval: 50 * time.Millisecond, Liveness: time.Second}
	if err := c.WaitFor(context.Background(), ref, "Ready True", readyTrue, o); err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
	for _, w := range []string{`seen="not found"`, `seen="Ready False"`, `msg="done waiting"`} {
		if !strings.Contains(log.String(), w) {
			t.Errorf("log lacks %s:\n%s", w, log)
		}
	}

	o.Timeout = 300 * time.Millisecond
	err := c.WaitFor(context.Background(), ref, "never", func(*unstructured.Unstructured) (bool, string) { return false, "still no" }, o)
	var te *TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "waiting for "+ref.String()+" never; last seen: still no") {
		t.Errorf("WaitFor that never holds = %v, want a *TimeoutError with what was last seen", err)
	}
}
