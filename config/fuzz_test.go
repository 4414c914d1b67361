package config

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that it either returns a config
// or an *Error with at least one problem, and that an accepted config's
// canonical form parses back to the same digest.
func FuzzParse(f *testing.F) {
	for _, t := range TemplateList() {
		f.Add(t.Data)
	}
	for _, s := range []string{
		"", "- 1", "a: [", "azure: {location: westus2}\n---\nb: 1",
		"azure:\n  location: westus2\nx-a: &a {size: Standard_B2s}\nvm_sizing: {worker: *a, controller: {<<: *a}}",
		"azure:\n  location: westus2\nphases: [{name: a, command: [x], env: {A: 1}, timeout: 1h}]",
		"azure:\n  location: westus2\ncluster: {controllers: {count: 99999999999999999999}}",
		"*a", "&a [*a]", "azure: !!binary aGVsbG8=",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 {
				t.Fatalf("error %T %v: want *Error with problems", err, err)
			}
			_ = e.Error()
			return
		}
		canon, err := c.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := Parse(canon, "canonical.yaml")
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, canon)
		}
		if c.Digest() != c2.Digest() {
			t.Fatalf("canonical round trip changed keys %v", DiffKeys(c, c2))
		}
	})
}
