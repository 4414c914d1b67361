package workflow

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestState_CanTransition(t *testing.T) {
	// Every legal transition, "from>to"; everything else must be refused.
	legal := strings.Fields(`
		pending>running pending>skipped pending>blocked pending>cancelled
		running>succeeded running>failed running>cancelled running>running
		succeeded>succeeded succeeded>running succeeded>skipped succeeded>blocked succeeded>cancelled
		failed>running failed>skipped failed>blocked failed>cancelled
		skipped>running skipped>skipped skipped>blocked skipped>cancelled
		blocked>running blocked>skipped blocked>blocked blocked>cancelled
		cancelled>running cancelled>skipped cancelled>blocked cancelled>cancelled`)
	want := map[string]bool{}
	for _, l := range legal {
		want[l] = true
	}
	for _, from := range append(States, "bogus") {
		for _, to := range States {
			key := fmt.Sprintf("%s>%s", from, to)
			if got := from.CanTransition(to); got != want[key] {
				t.Errorf("%s.CanTransition(%s) = %v, want %v", from, to, got, want[key])
			}
		}
	}
}

func TestState_Predicates(t *testing.T) {
	tests := []struct {
		s                  State
		valid, done, final bool
	}{
		{Pending, true, false, false},
		{Running, true, false, false},
		{Succeeded, true, true, true},
		{Skipped, true, true, true},
		{Failed, true, false, true},
		{Blocked, true, false, true},
		{Cancelled, true, false, true},
		{"bogus", false, false, true},
	}
	for _, tt := range tests {
		if got := [3]bool{tt.s.Valid(), tt.s.Done(), tt.s.Final()}; got != [3]bool{tt.valid, tt.done, tt.final} {
			t.Errorf("%s: valid, done, final = %v, want %v", tt.s, got, [3]bool{tt.valid, tt.done, tt.final})
		}
	}
}

func TestErrors(t *testing.T) {
	base := errors.New("503")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"Illegal", &IllegalTransitionError{Node: "k0s", From: Pending, To: Succeeded}, "node k0s: illegal transition pending -> succeeded"},
		{"Transient", Transient(base), "503"},
		{"PreconditionNoFix", &PreconditionError{Phase: "vpn", Check: "reachable", Err: base}, `vpn: precondition "reachable" failed: 503`},
		{"Phase", &PhaseError{Phase: "k0s", Attempt: 2, Err: base}, "phase k0s (attempt 2): 503"},
		{"Selection", &SelectionError{Field: "from", Name: "x", Known: []string{"a"}}, `unknown phase "x" in from (known: a)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if Transient(nil) != nil || !IsTransient(fmt.Errorf("wrapped: %w", Transient(base))) || IsTransient(base) {
		t.Errorf("Transient/IsTransient")
	}
	if !errors.Is(Transient(base), base) || !errors.Is(&PhaseError{Err: base}, base) {
		t.Errorf("Unwrap does not reach the cause")
	}
}

func TestSelection_Empty(t *testing.T) {
	if !(Selection{}).Empty() || (Selection{Skip: []string{"a"}}).Empty() {
		t.Errorf("Empty")
	}
}
