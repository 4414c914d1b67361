package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Canonical returns the config as YAML with every default filled in, in
// schema order, without comments. It is what Digest hashes and what the
// golden test of the defaulted minimal config pins.
func (c *Config) Canonical() ([]byte, error) {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return []byte(b.String()), nil
}

// Digest is "sha256:" and the hex SHA-256 of the canonical form. Comments,
// key order, formatting and keys that only restate a default do not change
// it; any effective value does. A run records it, and a resume with a
// changed digest is refused (see DiffKeys).
func (c *Config) Digest() string {
	data, err := c.Canonical()
	if err != nil {
		// Encoding plain structs of strings, ints and lists cannot fail.
		panic(err)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// DiffKeys lists, sorted, the field paths whose effective values differ
// between a and b: cluster.workers.count, phases[1].command, phases[2] (a
// phase only one side has). Lists of plain values count as one field.
func DiffKeys(a, b *Config) []string {
	fa, fb := flatten(a), flatten(b)
	var diff []string
	for k, va := range fa {
		if vb, ok := fb[k]; !ok || vb != va {
			diff = append(diff, k)
		}
	}
	for k := range fb {
		if _, ok := fa[k]; !ok {
			diff = append(diff, k)
		}
	}
	return collapse(diff)
}

// collapse sorts paths and drops those under a listed ancestor, so that a
// phase present on one side only is reported once, as phases[2].
func collapse(paths []string) []string {
	slices.Sort(paths)
	set := map[string]bool{}
	for _, p := range paths {
		set[p] = true
	}
	var out []string
	for _, p := range paths {
		under := false
		for q := p; ; {
			i := strings.LastIndexAny(q, ".[")
			if i <= 0 {
				break
			}
			q = q[:i]
			if set[q] && strings.HasSuffix(q, "]") {
				under = true
				break
			}
		}
		if !under {
			out = append(out, p)
		}
	}
	return out
}

// flatten maps each leaf field path of c's canonical form to its value.
// A list element of mappings is also recorded under its own path, so that
// an added or removed element shows up as one key.
func flatten(c *Config) map[string]string {
	var n yaml.Node
	if c != nil {
		if err := n.Encode(c); err != nil {
			panic(err)
		}
	}
	m := map[string]string{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], join(path, n.Content[i].Value))
			}
		case yaml.SequenceNode:
			if len(n.Content) == 0 {
				return // an empty list is the same as no list
			}
			if slices.ContainsFunc(n.Content, func(e *yaml.Node) bool { return e.Kind == yaml.MappingNode }) {
				for i, e := range n.Content {
					p := fmt.Sprintf("%s[%d]", path, i)
					m[p] = "element"
					walk(e, p)
				}
				return
			}
			vals := make([]string, len(n.Content))
			for i, e := range n.Content {
				vals[i] = e.Value
			}
			m[path] = fmt.Sprintf("%q", vals)
		default:
			m[path] = n.Value
		}
	}
	walk(&n, "")
	return m
}

// Flat is a config's canonical form as leaf field paths and values (see
// DiffKeys). Make it once with Flatten and select from it with Under:
// flattening encodes the whole config.
type Flat map[string]string

// Flatten returns c's leaf field paths and values; a nil c has none.
func Flatten(c *Config) Flat {
	if c == nil {
		return Flat{}
	}
	return Flat(flatten(c))
}

// Under returns the fields under one of paths (a path covers itself and
// everything below it: "kof" covers kof.version and
// kof.mothership.namespace; "phases[2]" covers phases[2].command). Lists
// of plain values are one field, as in DiffKeys.
func (f Flat) Under(paths ...string) map[string]string {
	out := map[string]string{}
	for _, p := range paths {
		if v, ok := f[p]; ok {
			out[p] = v
		}
	}
	for k, v := range f {
		for _, p := range paths {
			if strings.HasPrefix(k, p) && len(k) > len(p) && (k[len(p)] == '.' || k[len(p)] == '[') {
				out[k] = v
				break
			}
		}
	}
	return out
}
