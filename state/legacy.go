package state

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Names of the legacy files migration looks for.
const (
	legacyStateFile  = "deployment-state.yaml"
	legacyEventsFile = "deployment-events.yaml"
	legacyAzureFile  = "azure-state.yaml"
	legacyKOFFile    = "kof-state.yaml"
	legacyClusterID  = ".clusterid"
	legacySuffixFile = ".project-suffix"
	legacyArchiveDir = "old_deployments"
	legacyRootSubdir = "root"
	legacyMarkerFile = "MIGRATED"
	legacyKeyDir     = "wireguard" // <project>/wireguard/<peer>_privkey
)

// legacyStateDirNames are the fixed names looked for in the state directory
// (0.1.0 and later). Read only.
var legacyStateDirNames = [...]string{
	legacyStateFile, legacyEventsFile,
	legacyAzureFile, "azure-events.yaml",
	legacyKOFFile, "kof-events.yaml",
}

// legacyStateDirGlobs are per-child-cluster side files (0.1.0 and later).
var legacyStateDirGlobs = [...]string{"cluster-*-events.yaml", "cluster-*-state.yaml"}

// legacyRootNames are looked for in the project root (≤0.0.8 state files,
// the cluster id files of every era, and the archive directory).
var legacyRootNames = [...]string{
	legacyStateFile, legacyEventsFile, legacyClusterID, legacySuffixFile, legacyArchiveDir,
}

// LegacySet is what DetectLegacy found: the files of the legacy bash tool,
// each either still at its original place or already moved into
// state/legacy/ by an earlier (possibly interrupted) migration.
type LegacySet struct {
	ProjectRoot string
	StateDir    string
	// Files are sorted by Name.
	Files []LegacyFile
	// Migrated is true when state/legacy/MIGRATED exists: an earlier
	// migration finished.
	Migrated bool
}

// LegacyFile is one legacy file or directory (old_deployments/).
type LegacyFile struct {
	// Name is the path under state/legacy/: a file from the state directory
	// keeps its name ("deployment-state.yaml"); a file from the project root
	// goes under "root/" ("root/.clusterid", "root/deployment-state.yaml",
	// "root/old_deployments"), so the two places never collide.
	Name string
	// Origin is where the legacy tool left it; Dest is where migration puts
	// it.
	Origin, Dest string
	// Mode is the file's mode (kept by the move).
	Mode fs.FileMode
	Dir  bool
	// Moved is true when the file is only at Dest: an earlier migration
	// moved it. A file found at both places with identical bytes (a
	// cross-device move interrupted after the copy) is not Moved: its move
	// is done again, which changes nothing at Dest.
	Moved bool
}

// Path is where the file is now.
func (f LegacyFile) Path() string {
	if f.Moved {
		return f.Dest
	}
	return f.Origin
}

// Pending lists the files still at their original place.
func (s *LegacySet) Pending() []LegacyFile {
	if s == nil {
		return nil
	}
	var out []LegacyFile
	for _, f := range s.Files {
		if !f.Moved {
			out = append(out, f)
		}
	}
	return out
}

// Lookup returns the file with the given legacy name.
func (s *LegacySet) Lookup(name string) (LegacyFile, bool) {
	if s != nil {
		for _, f := range s.Files {
			if f.Name == name {
				return f, true
			}
		}
	}
	return LegacyFile{}, false
}

// LegacyConflictError reports a legacy file that exists both at its origin
// and, with different contents, under state/legacy/.
type LegacyConflictError struct {
	Origin, Dest string
}

func (e *LegacyConflictError) Error() string {
	return fmt.Sprintf("legacy file %s differs from the already migrated %s; "+
		"compare them and move one of them aside, then run `k0rdent migrate` again", e.Origin, e.Dest)
}

// DetectLegacy looks for legacy files in projectRoot and stateDir (and in
// stateDir/legacy/ for files an interrupted migration already moved). It
// returns nil when there is nothing at all. A file present at its origin and
// under legacy/ with identical bytes counts as migrated, and its move is
// redone (which changes nothing at Dest); with different bytes it is a
// *LegacyConflictError.
func DetectLegacy(projectRoot, stateDir string) (*LegacySet, error) {
	root, err := filepath.Abs(projectRoot)
	if err != nil {
		return nil, fmt.Errorf("project root %s: %w", projectRoot, err)
	}
	sdir, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", stateDir, err)
	}
	ldir := filepath.Join(sdir, LegacyName)
	set := &LegacySet{ProjectRoot: root, StateDir: sdir}

	type cand struct{ name, origin string }
	var cands []cand
	for _, n := range legacyStateDirNames {
		cands = append(cands, cand{n, filepath.Join(sdir, n)})
	}
	globbed := map[string]bool{}
	for _, g := range legacyStateDirGlobs {
		for _, dir := range []string{sdir, ldir} {
			ms, err := filepath.Glob(filepath.Join(dir, g))
			if err != nil {
				return nil, fmt.Errorf("look for legacy files %s: %w", g, err)
			}
			for _, m := range ms {
				globbed[filepath.Base(m)] = true
			}
		}
	}
	for _, n := range sortedKeys(globbed) {
		cands = append(cands, cand{n, filepath.Join(sdir, n)})
	}
	if root != sdir {
		for _, n := range legacyRootNames {
			cands = append(cands, cand{legacyRootSubdir + "/" + n, filepath.Join(root, n)})
		}
	}

	for _, c := range cands {
		f := LegacyFile{Name: c.name, Origin: c.origin, Dest: filepath.Join(ldir, filepath.FromSlash(c.name))}
		oi, oerr := os.Lstat(f.Origin)
		di, derr := os.Lstat(f.Dest)
		if oerr != nil && !errors.Is(oerr, fs.ErrNotExist) {
			return nil, fmt.Errorf("stat legacy file %s: %w", f.Origin, oerr)
		}
		if derr != nil && !errors.Is(derr, fs.ErrNotExist) {
			return nil, fmt.Errorf("stat migrated file %s: %w", f.Dest, derr)
		}
		switch {
		case oerr == nil && derr == nil:
			same, err := sameContents(f.Origin, oi, f.Dest, di)
			if err != nil {
				return nil, err
			}
			if !same {
				return nil, &LegacyConflictError{Origin: f.Origin, Dest: f.Dest}
			}
			f.Mode, f.Dir = oi.Mode(), oi.IsDir()
		case oerr == nil:
			f.Mode, f.Dir = oi.Mode(), oi.IsDir()
		case derr == nil:
			f.Mode, f.Dir, f.Moved = di.Mode(), di.IsDir(), true
		default:
			continue
		}
		if !f.Mode.IsRegular() && !f.Dir {
			continue // sockets, symlinks and the like are not ours
		}
		set.Files = append(set.Files, f)
	}
	if _, err := os.Stat(filepath.Join(ldir, legacyMarkerFile)); err == nil {
		set.Migrated = true
	}
	if len(set.Files) == 0 && !set.Migrated {
		return nil, nil
	}
	sort.Slice(set.Files, func(i, j int) bool { return set.Files[i].Name < set.Files[j].Name })
	return set, nil
}

// sameContents compares two regular files byte for byte. Directories are
// never the same (a directory is moved with one rename, so both places
// existing means something else wrote there).
func sameContents(a string, ai fs.FileInfo, b string, bi fs.FileInfo) (bool, error) {
	if !ai.Mode().IsRegular() || !bi.Mode().IsRegular() || ai.Size() != bi.Size() {
		return false, nil
	}
	da, err := os.ReadFile(a)
	if err != nil {
		return false, fmt.Errorf("read legacy file %s: %w", a, err)
	}
	db, err := os.ReadFile(b)
	if err != nil {
		return false, fmt.Errorf("read migrated file %s: %w", b, err)
	}
	return bytes.Equal(da, db), nil
}

// legacyInputs are the parsed contents of a LegacySet.
type legacyInputs struct {
	State     *legacyState
	Events    []legacyEvent
	Azure     *legacyAzure
	KOF       *legacyKOF
	ClusterID string
	// KeyFiles are private keys found in <project>/wireguard/<peer>_privkey.
	KeyFiles map[string]string
	// Archives counts entries of old_deployments/.
	Archives int
	// SideEvents are the events of azure-events.yaml and kof-events.yaml,
	// in file order; migration merges them into the deployment's
	// timeline by time.
	SideEvents []legacyEvent
	// Copies made into secrets/: the VMs' admin SSH key
	// (azure-resources/<id>-ssh-key and .pub), the management cluster's
	// kubeconfig and the KOF regional cluster's. Origin paths are kept for
	// the report.
	SSHKey, SSHPub           []byte
	SSHKeyOrigin             string
	Kubeconfig               []byte
	KubeconfigOrigin         string
	RegionalKubeconfig       []byte
	RegionalKubeconfigOrigin string
	// WGInterface is the operator's WireGuard device name: the stem of
	// wireguard/wgk0*.conf, or wgk0<suffix> from the cluster id.
	WGInterface string
	// SecretsDir is the store's secrets directory (absolute when the
	// store's root is): outputs point at the copies made there.
	SecretsDir string
	// OutsideSecrets are files of the legacy tool, relative to the project
	// root, that hold secrets and stay where they are (the migration
	// report names them).
	OutsideSecrets []string
}

// loadLegacy reads every file of set from where it is now. A file that
// exists but cannot be parsed is an error naming it: migration must not
// silently drop history.
func loadLegacy(set *LegacySet) (*legacyInputs, error) {
	in := &legacyInputs{KeyFiles: map[string]string{}, SecretsDir: filepath.Join(set.StateDir, SecretsName)}
	read := func(name string) ([]byte, string, bool, error) {
		f, ok := set.Lookup(name)
		if !ok || f.Dir {
			return nil, "", false, nil
		}
		data, err := os.ReadFile(f.Path())
		if err != nil {
			return nil, f.Path(), false, fmt.Errorf("read legacy file %s: %w", f.Path(), err)
		}
		return data, f.Path(), true, nil
	}
	// The state directory wins over the project root (≤0.0.8 layout).
	for _, name := range []string{legacyStateFile, legacyRootSubdir + "/" + legacyStateFile} {
		data, path, ok, err := read(name)
		if err != nil {
			return nil, err
		}
		if ok && in.State == nil {
			st, err := parseLegacyState(data)
			if err != nil {
				return nil, fmt.Errorf("parse legacy state %s: %w; fix or move the file aside", path, err)
			}
			in.State = st
		}
	}
	for _, name := range []string{legacyEventsFile, legacyRootSubdir + "/" + legacyEventsFile} {
		data, path, ok, err := read(name)
		if err != nil {
			return nil, err
		}
		if ok && in.Events == nil {
			evs, err := parseLegacyEvents(data)
			if err != nil {
				return nil, fmt.Errorf("parse legacy events %s: %w; fix or move the file aside", path, err)
			}
			in.Events = evs
		}
	}
	if data, path, ok, err := read(legacyAzureFile); err != nil {
		return nil, err
	} else if ok {
		if in.Azure, err = parseLegacyAzure(data); err != nil {
			return nil, fmt.Errorf("parse legacy azure state %s: %w; fix or move the file aside", path, err)
		}
	}
	if data, path, ok, err := read(legacyKOFFile); err != nil {
		return nil, err
	} else if ok {
		if in.KOF, err = parseLegacyKOF(data); err != nil {
			return nil, fmt.Errorf("parse legacy kof state %s: %w; fix or move the file aside", path, err)
		}
	}
	if in.State != nil {
		in.ClusterID = in.State.DeploymentID
	}
	for _, c := range []struct {
		name   string
		suffix bool
	}{{legacyRootSubdir + "/" + legacyClusterID, false}, {legacyRootSubdir + "/" + legacySuffixFile, true}} {
		data, _, ok, err := read(c.name)
		if err != nil {
			return nil, err
		}
		if ok && in.ClusterID == "" {
			in.ClusterID = parseClusterIDFile(data, c.suffix)
		}
	}
	for _, name := range []string{"azure-events.yaml", "kof-events.yaml"} {
		data, path, ok, err := read(name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		evs, err := parseLegacyEvents(data)
		if err != nil {
			return nil, fmt.Errorf("parse legacy events %s: %w; fix or move the file aside", path, err)
		}
		for i := range evs {
			evs[i].Source = name
		}
		in.SideEvents = append(in.SideEvents, evs...)
	}
	if err := loadLegacyArtifacts(set.ProjectRoot, in); err != nil {
		return nil, err
	}
	if f, ok := set.Lookup(legacyRootSubdir + "/" + legacyArchiveDir); ok && f.Dir {
		ents, err := os.ReadDir(f.Path())
		if err != nil {
			return nil, fmt.Errorf("read legacy archives %s: %w", f.Path(), err)
		}
		for _, e := range ents {
			if e.Name() != "deployment-history.yaml" {
				in.Archives++
			}
		}
	}
	// Laptop and VM private key copies the legacy tool kept beside the state.
	kdir := filepath.Join(set.ProjectRoot, legacyKeyDir)
	ents, err := os.ReadDir(kdir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read legacy key directory %s: %w", kdir, err)
	}
	for _, e := range ents {
		peer, ok := strings.CutSuffix(e.Name(), "_privkey")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(kdir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read legacy key %s: %w", filepath.Join(kdir, e.Name()), err)
		}
		if k := strings.TrimSpace(string(data)); k != "" {
			in.KeyFiles[legacyHostName(peer)] = k
		}
	}
	return in, nil
}

// legacySecretGlobs are the legacy tool's files, relative to the project
// root, that hold secrets and that migration leaves where they are.
// Read only.
var legacySecretGlobs = [...]string{
	"config/azure-credentials.yaml",
	"wireguard/*_privkey",
	"wireguard/*.conf",
	"cloud-init-yaml/*-cloud-init.yaml",
	"azure-resources/*-ssh-key",
	"k0sctl-config/*kubeconfig",
}

// loadLegacyArtifacts reads the SSH key and kubeconfigs the legacy tool
// kept in the project (to be copied into secrets/) and lists the files
// holding secrets that stay outside the state directory.
func loadLegacyArtifacts(root string, in *legacyInputs) error {
	readOpt := func(rel string) ([]byte, error) {
		if rel == "" {
			return nil, nil
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read legacy file %s: %w", filepath.Join(root, rel), err)
		}
		return data, nil
	}
	var err error
	if id := in.ClusterID; id != "" && !strings.ContainsAny(id, "/\\\x00") {
		key := "azure-resources/" + id + "-ssh-key"
		if in.State != nil && in.State.Artifacts["azure_ssh_private_key"] != "" {
			key = strings.TrimPrefix(in.State.Artifacts["azure_ssh_private_key"], "./")
		}
		if in.SSHKey, err = readOpt(key); err != nil {
			return err
		}
		if in.SSHKey != nil {
			in.SSHKeyOrigin = key
			if in.SSHPub, err = readOpt(key + ".pub"); err != nil {
				return err
			}
		}
		kc := "k0sctl-config/" + id + "-kubeconfig"
		if in.State != nil && in.State.Artifacts["kubeconfig_file"] != "" {
			kc = strings.TrimPrefix(in.State.Artifacts["kubeconfig_file"], "./")
		}
		if in.Kubeconfig, err = readOpt(kc); err != nil {
			return err
		}
		if in.Kubeconfig != nil {
			in.KubeconfigOrigin = kc
		}
	}
	if in.State != nil && in.State.KOFRegionalName != "" && !strings.ContainsAny(in.State.KOFRegionalName, "/\\\x00") {
		rk := "k0sctl-config/kof-regional-" + in.State.KOFRegionalName + "-kubeconfig"
		if in.RegionalKubeconfig, err = readOpt(rk); err != nil {
			return err
		}
		if in.RegionalKubeconfig != nil {
			in.RegionalKubeconfigOrigin = rk
		}
	}
	if confs, _ := filepath.Glob(filepath.Join(root, "wireguard", "wgk0*.conf")); len(confs) == 1 {
		in.WGInterface = strings.TrimSuffix(filepath.Base(confs[0]), ".conf")
	} else if suffix, ok := strings.CutPrefix(in.ClusterID, "k0rdent-"); ok && suffix != "" {
		in.WGInterface = "wgk0" + suffix
	}
	if len(in.WGInterface) > 15 {
		in.WGInterface = "" // not a Linux interface name: the configured one is used
	}
	for _, g := range legacySecretGlobs {
		ms, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(g)))
		if err != nil {
			return fmt.Errorf("look for legacy secrets %s: %w", g, err)
		}
		for _, m := range ms {
			if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
				rel, _ := filepath.Rel(root, m)
				in.OutsideSecrets = append(in.OutsideSecrets, filepath.ToSlash(rel))
			}
		}
	}
	sort.Strings(in.OutsideSecrets)
	return nil
}
