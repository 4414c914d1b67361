package phases

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Inputs is what determines a phase node's work apart from its
// dependencies' outputs: the config it reads, its behaviour's version and
// the files it reads. A later run reuses the node's last success when the
// digest of these (Digest), combined with its dependencies' outputs, is
// unchanged and its Verify passes (workflow.Inputs: day two).
type Inputs struct {
	// Config lists the config field paths the node reads, in k0rdent.yaml's
	// spelling; a path covers everything under it ("kof" covers
	// kof.version). Only values count, relative to the path that covers
	// them, so that a command phase moved in the phases: list keeps its
	// digest.
	Config []string
	// Version is the version of the node's behaviour: a built-in phase
	// gives the k0rdent version in which it last changed what the same
	// inputs make it do; a plugin its own. Bump it with such a change.
	Version string
	// Files are paths (absolute, or relative to the working directory)
	// whose content is an input: ssh.key_path, a command phase's inputs.
	// They are digested by content, which enters only the combined digest
	// (never written anywhere on its own, so that a secret's digest is not
	// recorded). A missing file digests as missing.
	Files []string
}

// InputsDeclarer is implemented by phase nodes that declare their inputs.
// cfg is the config to read them from (the run's, or the one an earlier
// run used, to explain what changed): a node of a list in the config
// (a command phase, an Azure child cluster) finds its own element in it.
// A node that does not implement it runs on every run.
type InputsDeclarer interface {
	Inputs(cfg *config.Config) Inputs
}

// Digest is the own digest of a node with inputs in from a config's
// fields (config.Flatten): "sha256:" and the hex SHA-256 of the version,
// the config values under each declared path (by the path's position and
// the value's path below it), and each file's content digest.
func Digest(flat config.Flat, in Inputs) (string, error) {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s\n", len(s), s) }
	field("k0rdent-phase-inputs/1")
	field(in.Version)
	for i, p := range in.Config {
		fs := flat.Under(p)
		field(fmt.Sprintf("config %d %d", i, len(fs)))
		for _, k := range slices.Sorted(maps.Keys(fs)) {
			field(strings.TrimPrefix(k, p))
			field(fs[k])
		}
	}
	for _, f := range in.Files {
		sum, err := fileDigest(f)
		if err != nil {
			return "", err
		}
		field("file " + f)
		field(sum)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// fileDigest is the SHA-256 of a file's content, "missing" when it does
// not exist. It never leaves Digest.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "missing", nil
	}
	if err != nil {
		return "", fmt.Errorf("digest input file: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("digest input file %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Digests is the own digest of every node of g that declares its inputs,
// read from cfg (workflow.Inputs.Own).
func Digests(g *workflow.Graph, cfg *config.Config) (map[string]string, error) {
	out := map[string]string{}
	flat := config.Flatten(cfg)
	for _, name := range g.Names() {
		p, _ := g.Phase(name)
		d, ok := p.(InputsDeclarer)
		if !ok {
			continue
		}
		dg, err := Digest(flat, d.Inputs(cfg))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = dg
	}
	return out, nil
}

// Snapshot is a config with its fields (config.Flatten), for Changes.
type Snapshot struct {
	Config *config.Config
	Flat   config.Flat
}

// NewSnapshot flattens cfg once; nil gives nil.
func NewSnapshot(cfg *config.Config) *Snapshot {
	if cfg == nil {
		return nil
	}
	return &Snapshot{Config: cfg, Flat: config.Flatten(cfg)}
}

// Changes says what changed in node p's declared config between old and
// cur, one "path old → new" per field ("kof.version 1.1.0 → 1.2.0"; a
// field only one side has shows "(none)"), sorted by path, values of more
// than 40 bytes shortened. Files and versions are not compared: their
// earlier content is not kept anywhere.
func Changes(p workflow.Phase, old, cur *Snapshot) []string {
	d, ok := p.(InputsDeclarer)
	if !ok || old == nil || cur == nil {
		return nil
	}
	oi, ci := d.Inputs(old.Config), d.Inputs(cur.Config)
	var out []string
	for i, cp := range ci.Config {
		cf := cur.Flat.Under(cp)
		of := map[string]string{}
		if i < len(oi.Config) {
			for k, v := range old.Flat.Under(oi.Config[i]) {
				of[cp+strings.TrimPrefix(k, oi.Config[i])] = v
			}
		}
		for _, k := range slices.Sorted(maps.Keys(cf)) {
			if ov, ok := of[k]; !ok || ov != cf[k] {
				out = append(out, fmt.Sprintf("%s %s → %s", k, shorten(ov, ok), shorten(cf[k], true)))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(of)) {
			if _, ok := cf[k]; !ok {
				out = append(out, fmt.Sprintf("%s %s → (none)", k, shorten(of[k], true)))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func shorten(v string, ok bool) string {
	switch {
	case !ok:
		return "(none)"
	case v == "":
		return `""`
	case len(v) > 40:
		return v[:37] + "..."
	}
	return v
}

// FeedsOn lists, for each config field path in keys, the nodes of g whose
// declared config covers it (for `run --plan --diff`). A key no node
// reads maps to nil.
func FeedsOn(g *workflow.Graph, cfg *config.Config, keys []string) map[string][]string {
	out := make(map[string][]string, len(keys))
	for _, k := range keys {
		out[k] = nil
	}
	for _, name := range g.Names() {
		p, _ := g.Phase(name)
		d, ok := p.(InputsDeclarer)
		if !ok {
			continue
		}
		for _, k := range keys {
			for _, p := range d.Inputs(cfg).Config {
				if covers(p, k) || covers(k, p) {
					out[k] = append(out[k], name)
					break
				}
			}
		}
	}
	return out
}

// covers reports whether path p covers key k (k is p or below it).
func covers(p, k string) bool {
	return k == p || strings.HasPrefix(k, p+".") || strings.HasPrefix(k, p+"[")
}
