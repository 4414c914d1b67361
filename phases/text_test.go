package phases

import "testing"

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n    int
		noun string
		want string
	}{
		{1, "controller", "1 controller"},
		{0, "worker", "0 workers"},
		{2, "VM peer", "2 VM peers"},
		{3, "retry", "3 retries"},
		{1, "retry", "1 retry"},
		{2, "day", "2 days"},
		{2, "box", "2 boxes"},
	} {
		if got := plural(tc.n, tc.noun); got != tc.want {
			t.Errorf("plural(%d, %q) = %q, want %q", tc.n, tc.noun, got, tc.want)
		}
	}
	if got := orUnset("", "kof.regional.domain"); got != "<kof.regional.domain unset>" {
		t.Errorf("orUnset: %q", got)
	}
}
