package config

import "testing"

// BenchmarkParse parses the production template: decode, defaults, validation.
func BenchmarkParse(b *testing.B) {
	data := Templates()["production"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, "production.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDigest hashes the canonical form of the production template.
func BenchmarkDigest(b *testing.B) {
	c, err := Parse(Templates()["production"], "production.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Digest()
	}
}
