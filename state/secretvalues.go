package state

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Secrets by value: a record whose outputs, reason or error hold the
// content of a file under secrets/ is refused (a *workflow.RefusedError
// wrapping ErrSecret). That catches what no name or shape rule can, such as
// `hub=$(cat "$K0RDENT_SECRETS_DIR/wireguard/hub.key")`.

// minSecretLen is the shortest file content (after trimming white space)
// that counts as a secret value: shorter contents, such as a port number,
// are too likely to occur in ordinary text.
const minSecretLen = 12

// maxSecretFile bounds the files read as secret values; larger files are
// not key material.
const maxSecretFile = 1 << 20

// secretValues is what the files under secrets/ hold, for one Run. The
// files are read once, when the first record with text is checked, and
// again only when a directory of the tree changed (its modification time:
// a file was created, renamed into place or removed, which is how
// Store.WriteSecret and the phases write secrets): a check costs one stat
// per directory. A file rewritten in place, without a rename, is noticed
// at the next change of its directory. Files named *.pub (public keys) are
// not secret. Guarded by the Run's mutex.
type secretValues struct {
	dir    string
	dirs   map[string]time.Time  // every directory of the tree (dir itself too) and its mtime
	files  map[string]secretFile // by slash path relative to dir
	names  []string              // sorted keys of files with a value
	loaded bool
}

type secretFile struct {
	size  int64
	mtime time.Time
	value string // the trimmed content; "" when too short, too large or unreadable
}

func newSecretValues(dir string) *secretValues {
	return &secretValues{dir: dir, dirs: map[string]time.Time{}, files: map[string]secretFile{}}
}

// refresh brings the values up to date with the directory tree.
func (sv *secretValues) refresh() {
	if sv.loaded && !sv.dirsChanged() {
		return
	}
	sv.loaded = true
	clear(sv.dirs)
	if fi, err := os.Stat(sv.dir); err == nil {
		sv.dirs[sv.dir] = fi.ModTime()
	} else {
		sv.dirs[sv.dir] = time.Time{} // missing: its creation is a change
	}
	seen := make(map[string]bool, len(sv.files))
	_ = filepath.WalkDir(sv.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // missing or unreadable: nothing to compare with
		}
		if d.IsDir() {
			if info, err := d.Info(); err == nil {
				sv.dirs[path] = info.ModTime()
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasSuffix(d.Name(), ".pub") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		rel, err := filepath.Rel(sv.dir, path)
		if err != nil {
			return nil
		}
		rel = filepath.ToSlash(rel)
		seen[rel] = true
		if f, ok := sv.files[rel]; ok && f.size == info.Size() && f.mtime.Equal(info.ModTime()) {
			return nil
		}
		f := secretFile{size: info.Size(), mtime: info.ModTime()}
		if info.Size() <= maxSecretFile {
			if data, err := os.ReadFile(path); err == nil {
				if v := strings.TrimSpace(string(data)); len(v) >= minSecretLen {
					f.value = v
				}
			}
		}
		sv.files[rel] = f
		return nil
	})
	for rel := range sv.files {
		if !seen[rel] {
			delete(sv.files, rel)
		}
	}
	sv.names = sv.names[:0]
	for _, rel := range slices.Sorted(maps.Keys(sv.files)) {
		if sv.files[rel].value != "" {
			sv.names = append(sv.names, rel)
		}
	}
}

// dirsChanged reports whether a directory of the tree was modified,
// created or removed since the last refresh.
func (sv *secretValues) dirsChanged() bool {
	for dir, mtime := range sv.dirs {
		fi, err := os.Stat(dir)
		if err != nil {
			if !mtime.IsZero() {
				return true
			}
			continue
		}
		if !fi.ModTime().Equal(mtime) {
			return true
		}
	}
	return false
}

// find returns the name (under secrets/) of a file whose value text
// contains, or "".
func (sv *secretValues) find(text string) string {
	if text == "" {
		return ""
	}
	for _, rel := range sv.names {
		if strings.Contains(text, sv.files[rel].value) {
			return rel
		}
	}
	return ""
}

// check refuses rec when its outputs, reason or error hold a secret value.
// The refusal names the field and the file, never the value.
func (sv *secretValues) check(rec *Record) error {
	if sv == nil || len(rec.Outputs) == 0 && rec.Reason == "" && rec.Error == "" {
		return nil
	}
	sv.refresh()
	if len(sv.names) == 0 {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(rec.Outputs)) {
		if name := sv.find(rec.Outputs[k]); name != "" {
			return &workflow.RefusedError{Field: workflow.RefusedOutputs, Err: fmt.Errorf(
				"%w: output %q holds the content of %s/%s; write secrets to files under the secrets directory ($K0RDENT_SECRETS_DIR) and output their paths",
				ErrSecret, k, SecretsName, name)}
		}
	}
	if name := sv.find(rec.Reason); name != "" {
		return &workflow.RefusedError{Field: workflow.RefusedReason, Err: fmt.Errorf(
			"%w: it holds the content of %s/%s", ErrSecret, SecretsName, name)}
	}
	if name := sv.find(rec.Error); name != "" {
		return &workflow.RefusedError{Field: workflow.RefusedErrorText, Err: fmt.Errorf(
			"%w: it holds the content of %s/%s", ErrSecret, SecretsName, name)}
	}
	return nil
}
