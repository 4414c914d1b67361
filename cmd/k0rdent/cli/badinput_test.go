package cli_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// priorRunID is the id of the successful run that makes the state
// directory of the cases with a prior state.
const priorRunID = "20260102-120000-0001"

// badInputCase is one bad input: the project it runs in, the command
// line, and what it must answer.
type badInputCase struct {
	name string
	// config is k0rdent.yaml; noConfig leaves it out.
	config   string
	noConfig bool
	// files are more files of the project, by path.
	files map[string]string
	// prior makes ./state by a successful run of commandConfig before the
	// case's config is written.
	prior bool
	// damage changes the prior state before the command runs (it is part
	// of the snapshot the command must not change).
	damage func(t *testing.T)
	// setup makes what files cannot: FIFOs, symlinks (after files).
	setup func(t *testing.T)
	// registry replaces the empty registry of the test env.
	registry func() *phases.Registry
	args     []string
	code     int
	// want are substrings of stderr: the file, line or field, and the fix.
	want []string
	// stateDir is the state directory the command uses; default "state".
	stateDir string
	// showsPrefix: the command shows the valid prefix of a corrupt run
	// file on stdout before it fails; any other refusal prints nothing
	// there.
	showsPrefix bool
}

var reByteOffset = regexp.MustCompile(`at byte \d+`)

// badInputCases covers ARCHITECTURE §8's "usage or config error" (exit 2):
// every one names what is wrong and how to fix it and writes nothing to
// the state directory.
func badInputCases() []badInputCase {
	cfg := func(s string) string { return baseConfig + s }
	phase := func(s string) string { return baseConfig + "phases:\n" + s }
	return []badInputCase{
		// Config file: syntax and decoding.
		{name: "yaml_syntax", config: cfg("cluster:\n  controllers: {count: 1\n  workers:\n    count: 2\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:3:", "invalid YAML", "check brackets, quotes and indentation"}},
		{name: "tab_indentation", config: "azure:\n\tlocation: westus2\n",
			args: []string{"run"}, want: []string{"k0rdent.yaml:2:", "indented with a tab", "indent with spaces"}},
		{name: "second_document", config: cfg("---\nazure:\n  location: eastus\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:3:", "second YAML document", "keep one document"}},
		{name: "not_a_mapping", config: "- azure\n- cluster\n",
			args: []string{"run"}, want: []string{"k0rdent.yaml:1:", "want a mapping of keys"}},
		{name: "unknown_top_level_key", config: cfg("clusters:\n  workers:\n    count: 2\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:3:", "clusters: unknown key", `did you mean "cluster"`}},
		{name: "unknown_nested_key", config: "azure:\n  location: westus2\n  vm_prority: Spot\n",
			args: []string{"run"}, want: []string{"k0rdent.yaml:3:", "azure.vm_prority: unknown key", `did you mean "vm_priority"`}},
		{name: "duplicate_key", config: cfg("azure:\n  location: eastus\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:3:", "azure: duplicate key", "first on line 1; keep one"}},
		{name: "wrong_type_string_for_int", config: cfg("cluster:\n  workers:\n    count: three\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:5:", "cluster.workers.count", "want an integer", `"three"`}},
		{name: "wrong_type_list_for_string", config: "azure:\n  location: [westus2]\n",
			args: []string{"run"}, want: []string{"k0rdent.yaml:2:", "azure.location", "want a string, got a list"}},
		{name: "wrong_type_bool", config: cfg("kof:\n  enabled: maybe\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:4:", "kof.enabled", "want true or false"}},
		{name: "empty_file", config: "",
			args: []string{"run"}, want: []string{"k0rdent.yaml", "azure.location", "is required", "set azure.location to an Azure region"}},

		// Config file: values.
		{name: "invalid_enum_vm_priority", config: "azure:\n  location: westus2\n  vm_priority: Cheap\n",
			args: []string{"run"}, want: []string{"k0rdent.yaml:3:", "azure.vm_priority", `"Cheap"`, "write Regular or Spot"}},
		{name: "invalid_cidr", config: cfg("network:\n  vnet_prefix: 10.0.0.0/33\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:4:", "network.vnet_prefix", "not an IPv4 CIDR", "write e.g. 10.0.0.0/16"}},
		{name: "cidr_host_bits", config: cfg("network:\n  subnet_prefix: 10.0.1.7/24\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:4:", "network.subnet_prefix", "host bits", "write 10.0.1.0/24"}},
		{name: "wireguard_network_too_small", config: cfg("network:\n  wireguard_network: 192.168.100.0/30\ncluster:\n  workers:\n    count: 3\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:4:", "network.wireguard_network", "hub and 4 hosts need 5", "use a /29 or larger"}},
		{name: "duration_without_unit", config: cfg("timeouts:\n  vm_creation: 10\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:4:", "timeouts.vm_creation", "no unit", "10s or 10m"}},
		{name: "invalid_duration", config: cfg("timeouts:\n  vpn_connect: soon\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:4:", "timeouts.vpn_connect", "want a duration like 30s or 10m"}},
		{name: "kof_needs_azure_children", config: cfg("kof:\n  regional:\n    domain: kof.acme.io\n    admin_email: ops@acme.io\n"),
			args: []string{"run", "--with-kof"}, want: []string{"k0rdent.yaml:4:", "kof.regional", "--with-azure-children", "kof.regional.enabled: false"}},

		// Config file: where it is.
		{name: "missing_config_default", noConfig: true,
			args: []string{"run"}, want: []string{"k0rdent.yaml", "no such file", "k0rdent init"}},
		{name: "missing_config_flag", noConfig: true,
			args: []string{"run", "--config", "prod.yaml"}, want: []string{"prod.yaml", "no such file", "k0rdent init --config prod.yaml", "point --config at an existing file"}},
		{name: "config_is_directory", files: map[string]string{"conf.d/x": ""},
			args: []string{"--config", "conf.d", "run"}, want: []string{"read config conf.d: is a directory", "point --config at a file, e.g. conf.d/k0rdent.yaml"}},

		// Command phases.
		{name: "phase_cycle", config: phase("  - name: a\n    command: [true]\n    depends_on: [c]\n  - name: b\n    command: [true]\n    depends_on: [a]\n  - name: c\n    command: [true]\n    depends_on: [b]\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:6:", "phases[0].depends_on[0]", "cycle: a -> c -> b -> a", "each phase depends on the next", "remove one of these dependencies"}},
		{name: "phase_unknown_dependency", config: phase("  - name: a\n    command: [true]\n    depends_on: [setup]\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:6:", "phases[0].depends_on[0]", `unknown phase "setup"`, "known: a", "fix the name or remove it"}},
		{name: "phase_self_dependency", config: phase("  - name: a\n    command: [true]\n    depends_on: [a]\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:6:", "phases[0].depends_on[0]", `remove "a"`}},
		{name: "phase_duplicate_name", config: phase("  - name: a\n    command: [true]\n  - name: a\n    command: [false]\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:6:", "phases[1].name", "also the name of phases[0]", "names must be unique"}},
		{name: "phase_bad_name", config: phase("  - name: Smoke_Test\n    command: [true]\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:4:", "phases[0].name", "kebab-case"}},
		{name: "phase_clashes_with_plugin", config: phase("  - name: vpn\n    command: [true]\n"),
			registry: vpnRegistry,
			args:     []string{"run"}, want: []string{"k0rdent.yaml:4:", "phases[0].name", `clashes with the registered phase "vpn"`, `rename the command phase, e.g. "my-vpn"`}},
		{name: "phase_empty_command", config: phase("  - name: a\n    command: []\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:5:", "phases[0].command", "is required", "command: [kubectl, get, nodes]"}},
		{name: "phase_empty_program", config: phase("  - name: a\n    command: [\"\", x]\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:5:", "phases[0].command[0]", "name an executable"}},
		{name: "phase_invalid_when", config: phase("  - name: a\n    command: [true]\n    when: with-kof\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:6:", "phases[0].when", `"with-kof" is not a condition`, "write always, never, with_kof"}},
		{name: "phase_negative_retries", config: phase("  - name: a\n    command: [true]\n    retries: -1\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:6:", "phases[0].retries", "-1 is out of range", "write 0 to 10"}},
		{name: "phase_negative_timeout", config: phase("  - name: a\n    command: [true]\n    timeout: -5m\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:6:", "phases[0].timeout", "positive duration", "write e.g. 30s or 10m"}},
		{name: "phase_reserved_env", config: phase("  - name: a\n    command: [true]\n    env:\n      K0RDENT_OUTPUT: x\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:7:", "phases[0].env.K0RDENT_OUTPUT", "rename K0RDENT_OUTPUT"}},

		// run flags.
		{name: "only_unknown_phase", config: commandConfig,
			args: []string{"run", "--only", "a,nope"}, want: []string{"--only", `unknown phase "nope"`, "known: a, b, c, d, k"}},
		{name: "from_unknown_phase", config: commandConfig,
			args: []string{"run", "--from", "z"}, want: []string{"--from", `unknown phase "z"`, "known: a, b, c, d, k"}},
		{name: "skip_unknown_phase", config: commandConfig, prior: true,
			args: []string{"run", "--plan", "--skip", "kof"}, want: []string{"--skip", `unknown phase "kof"`, "known: a, b, c, d, k"}},
		{name: "resume_and_fresh", config: commandConfig,
			args: []string{"run", "--resume", "--fresh"}, want: []string{"--resume and --fresh", "pick one"}},
		{name: "parallelism_zero", config: commandConfig,
			args: []string{"run", "--parallelism", "0"}, want: []string{"--parallelism 0", "want 1 or more"}},
		{name: "parallelism_negative", config: commandConfig,
			args: []string{"run", "-p", "-1"}, want: []string{"--parallelism -1", "want 1 or more"}},
		{name: "parallelism_not_a_number", config: commandConfig,
			args: []string{"run", "--parallelism", "four"}, want: []string{"parallelism", "four", "k0rdent run --help"}},
		{name: "plan_output_yaml", config: commandConfig,
			args: []string{"run", "--plan", "-o", "yaml"}, want: []string{"-o yaml", "want one of text, json, dot, mermaid"}},
		{name: "run_output_json_without_plan", config: commandConfig,
			args: []string{"run", "-o", "json"}, want: []string{"-o json needs --plan"}},
		{name: "resume_nothing_to_resume", config: commandConfig,
			args: []string{"run", "--resume"}, want: []string{"nothing to resume", "k0rdent run"}},
		{name: "resume_after_success", config: commandConfig, prior: true,
			args: []string{"run", "--resume"}, want: []string{"nothing to resume: run " + priorRunID + " succeeded", "k0rdent run"}},

		// Global flags and commands.
		{name: "log_level_bogus", config: commandConfig,
			args: []string{"--log-level", "bogus", "run"}, want: []string{`--log-level "bogus"`, "want debug, info, warn or error"}},
		{name: "unknown_command", config: commandConfig,
			args: []string{"deploy"}, want: []string{`unknown command "deploy"`, "k0rdent --help"}},
		{name: "unknown_flag", config: commandConfig,
			args: []string{"run", "--with-kfo"}, want: []string{"with-kfo", "did you mean --with-kof?", "k0rdent run --help"}},
		{name: "init_unknown_template", noConfig: true,
			args: []string{"init", "--template", "huge"}, want: []string{`--template "huge"`, "want one of development, minimal, production"}},
		{name: "init_existing_config", config: commandConfig,
			args: []string{"init"}, want: []string{"k0rdent.yaml already exists", "--force"}},

		// Reading the state.
		{name: "status_output_yaml", config: commandConfig, prior: true,
			args: []string{"status", "-o", "yaml"}, want: []string{"-o yaml", "want one of text, json"}},
		{name: "runs_limit_negative", config: commandConfig, prior: true,
			args: []string{"runs", "--limit", "-1"}, want: []string{"--limit -1", "want 0 (all) or more"}},
		{name: "runs_unexpected_argument", config: commandConfig, prior: true,
			args: []string{"runs", priorRunID}, want: []string{"unexpected argument", "k0rdent runs show " + priorRunID}},
		{name: "runs_show_without_id", config: commandConfig, prior: true,
			args: []string{"runs", "show"}, want: []string{"want one run id (or latest)", "k0rdent runs"}},
		{name: "runs_show_unknown_id", config: commandConfig, prior: true,
			args: []string{"runs", "show", "20250101-000000-beef"}, want: []string{"no run 20250101-000000-beef in state", "list them with k0rdent runs"}},
		{name: "runs_show_malformed_id", config: commandConfig, prior: true,
			args: []string{"runs", "show", "last"}, want: []string{`run id "last"`, "YYYYMMDD-HHMMSS-xxxx or latest", "k0rdent runs"}},
		{name: "runs_show_latest_without_runs", config: commandConfig,
			args: []string{"runs", "show", "latest"}, want: []string{"no runs in state yet", "start one with: k0rdent run", "--state-dir"}},

		// A run file damaged in the middle: readers and run refuse it,
		// name the file and the record, and repair nothing.
		{name: "corrupt_run_status", config: commandConfig, prior: true, damage: corruptRunFile,
			args: []string{"status"}, want: corruptWant(), showsPrefix: true},
		{name: "corrupt_run_runs_show", config: commandConfig, prior: true, damage: corruptRunFile,
			args: []string{"runs", "show", priorRunID}, want: corruptWant(), showsPrefix: true},
		{name: "corrupt_run_run", config: commandConfig, prior: true, damage: corruptRunFile,
			args: []string{"run"}, want: corruptWant()},
		{name: "corrupt_run_resume", config: commandConfig, prior: true, damage: corruptRunFile,
			args: []string{"run", "--resume"}, want: corruptWant()},

		// Config file: what it is, before anything reads it.
		{name: "config_is_fifo", noConfig: true, setup: mkfifo("k0rdent.yaml"),
			args: []string{"run"}, want: []string{"read config k0rdent.yaml", "named pipe", "point --config at a YAML file"}},
		{name: "config_is_device", noConfig: true,
			args: []string{"--config", "/dev/zero", "run"}, want: []string{"read config /dev/zero", "is a device", "point --config at a YAML file"}},
		{name: "config_dangling_symlink", noConfig: true, setup: symlink("gone.yaml", "k0rdent.yaml"),
			args: []string{"run"}, want: []string{"read config k0rdent.yaml", "a symlink to gone.yaml, which does not exist", "fix or remove the link"}},
		{name: "config_too_large", config: baseConfig + "# " + strings.Repeat("x", 4<<20) + "\n",
			args: []string{"run"}, want: []string{"read config k0rdent.yaml", "larger than 4 MiB", "point --config at the deployment config"}},
		{name: "int_is_float", config: cfg("cluster:\n  workers:\n    count: 1.5\n"),
			args: []string{"run", "--plan"}, want: []string{"k0rdent.yaml:5:", "cluster.workers.count", `"1.5"`, "whole number"}},
		{name: "int_is_exponent", config: cfg("cluster:\n  workers:\n    count: 1e1\n"),
			args: []string{"run", "--plan"}, want: []string{"k0rdent.yaml:5:", "cluster.workers.count", `"1e1"`, "without a fraction or exponent"}},
		{name: "invalid_utf8", config: cfg("metadata:\n  name: caf\xe9\n"),
			args: []string{"run"}, want: []string{"k0rdent.yaml:4:", "invalid UTF-8 at column 12", "save the file as UTF-8"}},

		// State directory: what it is, before anything reads or locks it.
		{name: "state_dir_is_file", config: commandConfig, files: map[string]string{"state": "not a directory\n"},
			args: []string{"run"}, want: []string{"state directory state", "is a regular file, not a directory", "point --state-dir at a directory"}},
		{name: "state_dir_dangling_symlink", config: commandConfig, setup: symlink("gone", "state"),
			args: []string{"status"}, want: []string{"state directory state", "a symlink to gone, which does not exist", "create gone"}},
		{name: "state_runs_is_file", config: commandConfig, files: map[string]string{"state/runs": "garbage\n"},
			args: []string{"run"}, want: []string{"state/runs is a regular file", "move it away"}},
		{name: "state_lock_is_directory", config: commandConfig, files: map[string]string{"state/lock/x": ""},
			args: []string{"run"}, want: []string{"state/lock is a directory", "remove it"}},
		{name: "state_lock_garbage", config: commandConfig, prior: true, damage: writeFile("state/lock", "\x00\x01: [garbage\n"),
			args: []string{"run"}, want: []string{"state/lock holds no lock holder record", "if no k0rdent is running here, remove it"}},
		{name: "runtime_newer_format", config: commandConfig, prior: true, damage: newerRuntime,
			args: []string{"status"}, want: []string{"state/runtime.yaml", "written by a newer k0rdent", "upgrade"}},
		{name: "run_file_newer_format", config: commandConfig, prior: true, damage: newerRunFile,
			args: []string{"run", "--resume"}, want: []string{"state/runs/" + priorRunID + ".yaml", "upgrade k0rdent"}},

		// A state directory that cannot be created: its parent is a
		// regular file, which stops root too.
		{name: "state_dir_parent_is_file", config: commandConfig, files: map[string]string{"blocker": "not a directory\n"},
			args: []string{"run", "--state-dir", "blocker/state"}, stateDir: "blocker/state",
			want: []string{"--state-dir blocker/state", "not a directory", "writable directory"}},
	}
}

func mkfifo(name string) func(t *testing.T) {
	return func(t *testing.T) {
		t.Helper()
		if err := syscall.Mkfifo(name, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func symlink(target, name string) func(t *testing.T) {
	return func(t *testing.T) {
		t.Helper()
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(name, data string) func(t *testing.T) {
	return func(t *testing.T) {
		t.Helper()
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// newerRuntime makes runtime.yaml one of a future format version.
func newerRuntime(t *testing.T) {
	t.Helper()
	path := filepath.Join("state", "runtime.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("format: 1\n")) {
		t.Fatalf("%s has no format: 1:\n%s", path, data)
	}
	writeFile(path, string(bytes.Replace(data, []byte("format: 1\n"), []byte("format: 9\n"), 1)))(t)
}

// newerRunFile makes the prior run's header one of a future format
// version, with a valid checksum (so that it is not corruption).
func newerRunFile(t *testing.T) {
	t.Helper()
	path := filepath.Join("state", "runs", priorRunID+".yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const sum = "# sum crc32c="
	end := bytes.Index(data, []byte(sum))
	if !bytes.HasPrefix(data, []byte("---\n")) || end < 0 {
		t.Fatalf("%s: no first document:\n%s", path, data)
	}
	body := bytes.Replace(data[4:end], []byte("format: 1\n"), []byte("format: 9\n"), 1)
	if bytes.Equal(body, data[4:end]) {
		t.Fatalf("%s: header has no format: 1:\n%s", path, data[:end])
	}
	crc := fmt.Sprintf("%08x", crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	out := slices.Concat(data[:4], body, []byte(sum+crc), data[end+len(sum)+8:])
	writeFile(path, string(out))(t)
}

func corruptWant() []string {
	return []string{"state/runs/" + priorRunID + ".yaml", "record 3 at byte", "k0rdent run --fresh"}
}

// corruptRunFile flips bytes in the body of record 3 of the prior run: a
// document in the middle, with valid documents after it.
func corruptRunFile(t *testing.T) {
	t.Helper()
	path := filepath.Join("state", "runs", priorRunID+".yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(" seq=2\n"))
	if i < 0 {
		t.Fatalf("%s has no record 2:\n%s", path, data)
	}
	off := i + len(" seq=2\n") + len("---\n") + 2
	for j := off; j < off+4; j++ {
		data[j] ^= 0x01
	}
	// Keep the mode and write in place, as a disk error would.
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// vpnRegistry registers a plugin named vpn, as phases.Builtin does.
func vpnRegistry() *phases.Registry {
	r := phases.NewRegistry()
	r.RegisterPlugin(phases.Plugin{Name: "vpn", Description: "stand-in",
		Factory: func(phases.BuildContext) ([]workflow.Phase, error) { return nil, nil }})
	return r
}

// fileState is what snapshot records of one file or directory.
type fileState struct {
	mode  fs.FileMode
	size  int64
	mtime time.Time
	sum   string
}

// snapshot records every path under root; nil when root does not exist.
func snapshot(t *testing.T, root string) map[string]fileState {
	t.Helper()
	if _, err := os.Lstat(root); errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	snap := map[string]fileState{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := fileState{mode: info.Mode(), size: info.Size(), mtime: info.ModTime()}
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h := sha256.Sum256(data)
			st.sum = hex.EncodeToString(h[:])
		}
		snap[path] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// diffSnapshots lists what changed between two snapshots.
func diffSnapshots(before, after map[string]fileState) []string {
	var diffs []string
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			diffs = append(diffs, "removed "+p)
		case a != b:
			diffs = append(diffs, fmt.Sprintf("changed %s: %+v -> %+v", p, b, a))
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, "created "+p)
		}
	}
	slices.Sort(diffs)
	return diffs
}

// TestBadInput runs every bad input: each exits 2 with a message naming the
// file, line, field or flag and the fix (testdata/badinput/<case>.golden,
// rewritten with -update), and leaves the state directory as it was: not
// created when there was none, byte for byte and mtime for mtime when
// there was one.
func TestBadInput(t *testing.T) {
	cases := badInputCases()
	if len(cases) < 30 {
		t.Fatalf("%d cases, want at least 30", len(cases))
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("case %s twice", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "")
			e.runID = func(time.Time) string { return priorRunID }
			if tc.prior {
				e.write("k0rdent.yaml", commandConfig)
				e.mustRun(0, "run")
				os.Remove("side")
				e.runID = func(time.Time) string { return "20260102-130000-0002" }
			}
			if tc.damage != nil {
				tc.damage(t)
			}
			if tc.noConfig {
				os.Remove("k0rdent.yaml")
			} else if tc.config != "" || !tc.prior {
				e.write("k0rdent.yaml", tc.config)
			}
			for name, data := range tc.files {
				e.write(name, data)
			}
			if tc.setup != nil {
				tc.setup(t)
			}
			if tc.registry != nil {
				e.registry = tc.registry()
			}
			stateDir := tc.stateDir
			if stateDir == "" {
				stateDir = "state"
			}
			before := snapshot(t, stateDir)
			if tc.prior && before == nil {
				t.Fatal("the prior run left no state directory")
			}
			// mtimes must be able to move between the snapshots.
			time.Sleep(10 * time.Millisecond)

			r := e.run(tc.args...)

			want := tc.code
			if want == 0 {
				want = cli.ExitUsage
			}
			if r.code != want {
				t.Errorf("k0rdent %s: exit %d, want %d:\n%s", strings.Join(tc.args, " "), r.code, want, r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			switch {
			case tc.showsPrefix && !strings.Contains(r.stdout, "record 3 at byte"):
				t.Errorf("the valid prefix shown does not say where the file is corrupt:\n%s", r.stdout)
			case !tc.showsPrefix && r.stdout != "":
				t.Errorf("a refused command printed to stdout:\n%s", r.stdout)
			}
			if _, err := os.Stat("side"); err == nil {
				t.Error("a command phase ran")
			}
			after := snapshot(t, stateDir)
			if before == nil && after != nil {
				t.Errorf("%s was created: %v", stateDir, slices.Sorted(maps.Keys(after)))
			} else if d := diffSnapshots(before, after); len(d) > 0 {
				t.Errorf("%s was written:\n  %s", stateDir, strings.Join(d, "\n  "))
			}
			// Byte offsets depend on the operator and host in the header.
			stderr := reByteOffset.ReplaceAllString(r.stderr, "at byte N")
			golden(t, "badinput/"+tc.name, fmt.Sprintf("$ k0rdent %s\nexit %d\n%s", strings.Join(tc.args, " "), r.code, stderr))
		})
	}
}
