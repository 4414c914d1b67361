package testenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Binary builds the main package pkg (a directory, relative to the caller's
// working directory, as `go build` takes it) into a cache shared by every
// test binary of one `go test ./...` and by later invocations, and returns
// the binary's path. The cache key is a hash of the module's Go sources,
// go.mod and go.sum, the package and the toolchain, so an edit rebuilds and
// an unchanged tree does not; concurrent test processes wait on a file lock
// for the one that builds. The cache lives under the Go build cache
// (go env GOCACHE)/k0rdent-testbin; a build unused for six hours is
// removed, and `go clean -cache` removes them all. The binary is built as
// `make build` builds it, without symbol table and DWARF (-ldflags '-s
// -w'): linking the debug information of a binary this size took a third
// of its link time, for every edit.
func Binary(pkg string) (string, error) {
	abs, err := filepath.Abs(pkg)
	if err != nil {
		return "", err
	}
	root, err := moduleRoot(abs)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return "", err
	}
	gobin, err := goBinary()
	if err != nil {
		return "", err
	}
	key, err := sourceHash(root, rel)
	if err != nil {
		return "", err
	}
	cacheRoot, err := goEnv(gobin, "GOCACHE")
	if err != nil || cacheRoot == "" || cacheRoot == "off" {
		cacheRoot = filepath.Join(os.TempDir(), "k0rdent-go-cache")
	}
	dir := filepath.Join(cacheRoot, "k0rdent-testbin", key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, filepath.Base(abs))
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	// The directory's mtime is its last use: prune what no test used for
	// a while, so that edits do not pile up binaries in the cache.
	now := time.Now()
	os.Chtimes(dir, now, now)
	prune(filepath.Dir(dir), now.Add(-pruneAfter))
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	tmp := bin + ".tmp"
	cmd := exec.Command(gobin, "build", buildFlags, "-o", tmp, "./"+filepath.ToSlash(rel))
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build ./%s: %v\n%s", rel, err, out.String())
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// buildFlags is the flag of every build (part of the cache key).
const buildFlags = "-ldflags=-s -w"

// pruneAfter is how long a cached build is kept unused.
const pruneAfter = 6 * time.Hour

// prune removes the cached builds under root last used before cutoff.
// Removing a binary a test still runs is harmless: the process keeps it.
func prune(root string, cutoff time.Time) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && e.IsDir() && fi.ModTime().Before(cutoff) {
			os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}

func goBinary() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		return "", errors.New("go is not on PATH")
	}
	return p, nil
}

func goEnv(gobin, name string) (string, error) {
	out, err := exec.Command(gobin, "env", name).Output()
	return strings.TrimSpace(string(out)), err
}

func moduleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

// sourceHash hashes what a build of the module depends on: every .go file
// (tests excluded), embedded templates and modules, go.mod, go.sum, the
// package and the toolchain version.
func sourceHash(root, pkg string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s/%s\x00%s\x00%s\x00%s\x00", runtime.Version(), pkg, runtime.GOOS, runtime.GOARCH, os.Getenv("GOFLAGS"), os.Getenv("CGO_ENABLED"), buildFlags)
	goFiles, _ := filepath.Glob(filepath.Join(root, "*.go"))
	rootPackage := len(goFiles) > 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			// A directory named state is a deployment's state (skipped),
			// except the state package itself.
			stateDir := name == "state" && p != filepath.Join(root, "state")
			if p != root && (strings.HasPrefix(name, ".") || name == "bin" || name == "demo" || stateDir) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, "_test.go") || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		// Go sources, and what they may embed (templates, Terraform modules).
		if !strings.HasSuffix(name, ".go") && name != "go.mod" && name != "go.sum" && !embedded(rel, rootPackage) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(data))
		h.Write(data)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

// embedded reports whether a non-Go file may be compiled into a binary by
// go:embed: anything outside testdata directories, except a file at the
// module root when no package lives there (the Makefile, the README: an
// edit of those builds nothing anew).
func embedded(rel string, rootPackage bool) bool {
	if !rootPackage && !strings.Contains(filepath.ToSlash(rel), "/") {
		return false
	}
	for _, part := range strings.Split(filepath.ToSlash(rel), "/") {
		if part == "testdata" {
			return false
		}
	}
	return !strings.HasSuffix(rel, ".md")
}
