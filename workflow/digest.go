package workflow

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Inputs turns on reuse by inputs digest (day two): a run that is not a
// resume reuses a node that succeeded before when what determines its
// work is unchanged and its Verify passes, instead of running it again.
//
// A node's inputs digest is the SHA-256 of its own digest (Own: what the
// phase declares it reads, digested by the caller: config values, its
// version, the files it names) and of its dependencies' outputs, in name
// order (a skipped dependency counts as skipped; a volatile dependency
// counts by name only, since its outputs describe the operator's current
// session, not something built). The scheduler journals it, with the own
// digest, in every succeeded record (Event.Digest, Event.OwnDigest).
//
// On a new run a selected, enabled node that succeeded before (Prior) is:
//   - run when forced (--only/--from, --replace), volatile, without an own
//     digest, without a recorded digest (a success journalled before
//     digests), or when its own digest changed ("changed: …", Explain);
//   - run when its dependencies' outputs differ from those it was built
//     with ("input from x changed: key");
//   - otherwise reused after Verify ("unchanged since run X").
//
// When a dependency runs (or may, after its Verify), the node is decided
// at dispatch time, once the dependency's outputs are known: a dependent
// whose inputs digest is unchanged after its dependency ran again with the
// same outputs is reused.
type Inputs struct {
	// Own holds each node's own digest; a node without one is never reused
	// on a new run.
	Own map[string]string
	// Explain, optional, says what changed in a node's own inputs since
	// last (its last success): "kof.version 1.1.0 → 1.2.0". Nil or empty:
	// the reason says only that the inputs changed.
	Explain func(node string, last NodeStatus) []string
}

// digestPart is one dependency's contribution to an inputs digest.
type digestPart struct {
	name     string
	state    State
	volatile bool
	outputs  map[string]string
}

// inputsDigest combines own with the dependencies' parts; "" when own is
// "". The encoding is length-prefixed, so no two inputs collide by
// concatenation.
func inputsDigest(own string, parts []digestPart) string {
	if own == "" {
		return ""
	}
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s\n", len(s), s) }
	field("k0rdent-inputs/1")
	field(own)
	slices.SortFunc(parts, func(a, b digestPart) int { return strings.Compare(a.name, b.name) })
	for _, p := range parts {
		field(p.name)
		field(string(p.state))
		if p.volatile || p.state != Succeeded {
			continue
		}
		keys := slices.Sorted(maps.Keys(p.outputs))
		field(fmt.Sprint(len(keys)))
		for _, k := range keys {
			field(k)
			field(p.outputs[k])
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// changedKeys lists, sorted, the keys whose values differ between a and b.
func changedKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// explain is the reason of a node whose own inputs changed since last.
func (in *Inputs) explain(node string, last NodeStatus) (string, []string) {
	var items []string
	if in.Explain != nil {
		items = in.Explain(node, last)
	}
	if len(items) == 0 {
		return "changed since run " + last.RunID + ": its declared inputs (version, files or config)", nil
	}
	return "changed: " + strings.Join(items, ", "), items
}
