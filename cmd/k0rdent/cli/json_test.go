package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
)

// snakeCase is what every key of a JSON document the CLI writes looks like.
var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// dataMaps are the keys whose object values are data keyed by names the
// operator or a phase chose (flags by journal key, Terraform outputs,
// nodes by phase name, which is kebab-case): their keys are not checked.
var dataMaps = map[string]bool{"flags": true, "terraform": true, "nodes": true}

// checkDocument fails unless doc is exactly one JSON object whose first key
// is "schema" with cli.Schema and whose keys are all snake_case.
func checkDocument(t *testing.T, what, doc string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Errorf("%s: not a JSON object (%v):\n%s", what, err, doc)
		return nil
	}
	if tok, err := dec.Token(); err != nil || tok != "schema" {
		t.Errorf("%s: first key is %v, want \"schema\":\n%s", what, tok, doc)
	}
	dec = json.NewDecoder(strings.NewReader(doc))
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Errorf("%s: %v:\n%s", what, err, doc)
		return nil
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Errorf("%s: more than one JSON document (%v):\n%s", what, err, doc)
	}
	if v["schema"] != cli.Schema {
		t.Errorf("%s: schema = %v, want %q", what, v["schema"], cli.Schema)
	}
	var walk func(path string, x any)
	walk = func(path string, x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, val := range x {
				if !snakeCase.MatchString(k) {
					t.Errorf("%s: key %s.%s is not snake_case", what, path, k)
				}
				if _, isObject := val.(map[string]any); isObject && dataMaps[k] {
					continue
				}
				walk(path+"."+k, val)
			}
		case []any:
			for _, e := range x {
				walk(path+"[]", e)
			}
		}
	}
	walk("", v)
	return v
}

// TestJSON_EveryDocument runs every command that has -o json, in states
// that fill every section (runs of every outcome, a legacy directory
// before and after migration with its WireGuard network and legacy
// resources, a teardown), and checks each document: one object, "schema"
// first, snake_case keys, nothing on stderr.
func TestJSON_EveryDocument(t *testing.T) {
	type step struct {
		args []string
		code int
	}
	docs := 0
	check := func(e *env, steps []step) {
		t.Helper()
		for _, s := range steps {
			r := e.mustRun(s.code, s.args...)
			what := "k0rdent " + strings.Join(s.args, " ")
			checkDocument(t, what, r.stdout)
			if r.stderr != "" {
				t.Errorf("%s: stderr is not empty:\n%s", what, r.stderr)
			}
			docs++
		}
	}

	t.Run("Runs", func(t *testing.T) {
		e := newEnv(t, commandConfig)
		fixtureRuns(t)
		check(e, []step{
			{[]string{"version", "-o", "json"}, 0},
			{[]string{"validate", "-o", "json"}, 0},
			{[]string{"phases", "-o", "json"}, 0},
			{[]string{"runs", "-o", "json"}, 0},
			{[]string{"runs", "show", "latest", "-o", "json"}, 0},
			{[]string{"runs", "show", runFailed, "-o", "json"}, 0},
			{[]string{"status", "-o", "json"}, 0},
			{[]string{"run", "--plan", "--resume", "-o", "json"}, 0},
			{[]string{"reset", "--plan", "-o", "json"}, 0},
			{[]string{"migrate", "--dry-run", "-o", "json"}, 0},
		})
	})

	t.Run("LegacyAndTeardown", func(t *testing.T) {
		src := realLegacyProject(t, "v0.4.0-interrupted")
		e := newEnv(t, baseConfig)
		copyTree(t, src, ".")
		check(e, []step{
			{[]string{"status", "-o", "json"}, 0}, // legacy_found, with its wireguard
			{[]string{"migrate", "--dry-run", "-o", "json"}, 0},
			{[]string{"migrate", "-o", "json"}, 0},
			{[]string{"status", "-o", "json"}, 0}, // wireguard, vpn, legacy
			{[]string{"runs", "-o", "json"}, 0},
			{[]string{"runs", "show", "latest", "-o", "json"}, 0},
			{[]string{"reset", "--plan", "-o", "json"}, 0},
		})
		r := e.mustRun(0, "status", "-o", "json")
		var st struct {
			WireGuard map[string]any `json:"wireguard"`
			Legacy    map[string]any `json:"legacy"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.WireGuard["port"] == nil || st.Legacy["ssh_key"] == nil {
			t.Errorf("status -o json lacks wireguard.port or legacy.ssh_key (%v):\n%s", err, r.stdout)
		}
	})

	t.Run("Teardown", func(t *testing.T) {
		e := newEnv(t, commandConfig)
		e.mustRun(0, "run")
		check(e, []step{
			{[]string{"reset", "--yes", "-o", "json"}, 0},
			{[]string{"status", "-o", "json"}, 0},
		})
	})
	if docs < 15 {
		t.Errorf("checked %d documents, want every one", docs)
	}
}

// Under -o json an error is one JSON object on stderr (exit code,
// message, fix) and stderr holds nothing else; stdout has no document.
func TestJSON_ErrorsOnStderr(t *testing.T) {
	badConfig := "azure:\n  location: westus2\ncluster:\n  controllers:\n    count: 1.5\n"
	for _, tc := range []struct {
		name    string
		config  string
		args    []string
		code    int
		message string
		fix     string
	}{
		{name: "RunNeedsPlan", config: commandConfig, args: []string{"run", "-o", "json"}, code: 2,
			message: "-o json needs --plan", fix: "add --plan"},
		{name: "UnknownRunID", config: commandConfig, args: []string{"runs", "show", "nope", "-o", "json"}, code: 2,
			message: `run id "nope"`, fix: "list them with k0rdent runs"},
		{name: "ResetDoesNotAsk", config: commandConfig, args: []string{"reset", "-o", "json"}, code: 2,
			message: "reset -o json does not ask", fix: "pass --yes to destroy, or --plan"},
		{name: "UnknownFlag", config: commandConfig, args: []string{"status", "--bogus", "-o", "json"}, code: 2,
			message: "flag provided but not defined: -bogus", fix: "see k0rdent status --help"},
		{name: "MissingConfig", args: []string{"run", "--plan", "--output=json"}, code: 2,
			message: "read config k0rdent.yaml", fix: "create one with `k0rdent init`"},
		{name: "ConfigProblem", config: badConfig, args: []string{"run", "--plan", "-o", "json"}, code: 2,
			message: "cluster.controllers.count", fix: "write a whole number"},
		{name: "ValidateConfigProblem", config: badConfig, args: []string{"validate", "-o", "json"}, code: 2,
			message: "cluster.controllers.count", fix: "write a whole number"},
		{name: "StateDirIsAFile", config: commandConfig, args: []string{"status", "-o", "json", "--state-dir", "k0rdent.yaml"}, code: 2,
			message: "k0rdent.yaml", fix: "--state-dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.config)
			r := e.mustRun(tc.code, tc.args...)
			if r.stdout != "" {
				t.Errorf("stdout is not empty:\n%s", r.stdout)
			}
			doc := checkDocument(t, "stderr", r.stderr)
			if doc == nil {
				return
			}
			var got struct {
				ExitCode int    `json:"exit_code"`
				Message  string `json:"message"`
				Fix      string `json:"fix"`
				Problems []struct {
					File  string `json:"file"`
					Line  int    `json:"line"`
					Field string `json:"field"`
				} `json:"problems"`
			}
			if err := json.Unmarshal([]byte(r.stderr), &got); err != nil {
				t.Fatal(err)
			}
			if got.ExitCode != tc.code || !strings.Contains(got.Message, tc.message) || !strings.Contains(got.Fix, tc.fix) {
				t.Errorf("got exit_code %d, message %q, fix %q; want %d, a message with %q, a fix with %q",
					got.ExitCode, got.Message, got.Fix, tc.code, tc.message, tc.fix)
			}
			if strings.HasSuffix(tc.name, "ConfigProblem") && (len(got.Problems) != 1 || got.Problems[0].File != "k0rdent.yaml" ||
				got.Problems[0].Line != 5 || got.Problems[0].Field != "cluster.controllers.count") {
				t.Errorf("problems = %+v, want one at k0rdent.yaml:5 cluster.controllers.count", got.Problems)
			}
			if _, err := os.Stat("state"); err == nil {
				t.Errorf("a refused command created the state directory")
			}
		})
	}
}

// Without -o json an error is the usual text.
func TestJSON_TextErrorsStayText(t *testing.T) {
	e := newEnv(t, commandConfig)
	r := e.mustRun(2, "runs", "show", "nope")
	if !strings.HasPrefix(r.stderr, "Error: run id \"nope\"") {
		t.Errorf("stderr = %q, want the text error", r.stderr)
	}
	// -o json given to another command word is not this command's.
	r = e.mustRun(2, "runs", "show", "nope", "--", "-o", "json")
	if !strings.HasPrefix(r.stderr, "Error: ") {
		t.Errorf("stderr = %q, want the text error", r.stderr)
	}
}

// reset -o json never prompts: without --yes or --plan it refuses, even on
// a terminal, before it reads or writes anything; with --yes it prints the
// teardown as one document and no progress lines.
func TestReset_JSON(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.mustRun(0, "run")
	before := runFiles(t)
	e.terminal, e.stdin = true, "yes\n"
	e.mustRun(cli.ExitUsage, "reset", "-o", "json")
	if after := runFiles(t); !slicesEqual(before, after) {
		t.Fatalf("a refused reset -o json wrote run files: %v -> %v", before, after)
	}

	r := e.mustRun(0, "reset", "--plan", "-o", "json")
	var plan struct {
		Destroys []string `json:"destroys"`
		Nodes    []struct {
			Node   string `json:"node"`
			Action string `json:"action"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil || len(plan.Destroys) != 0 || len(plan.Nodes) != 5 ||
		plan.Nodes[4].Node != "a" || plan.Nodes[4].Action != "no teardown" {
		// command phases have no teardown: reset records that, in teardown order
		t.Errorf("reset --plan -o json = %+v (%v), want 5 nodes, a last with no teardown:\n%s", plan, err, r.stdout)
	}

	r = e.mustRun(0, "reset", "--yes", "-o", "json")
	var res struct {
		RunID   string `json:"run_id"`
		Outcome string `json:"outcome"`
		Nodes   []struct {
			Node  string `json:"node"`
			State string `json:"state"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("reset --yes -o json: %v:\n%s", err, r.stdout)
	}
	if res.Outcome != "succeeded" || res.RunID == "" || len(res.Nodes) != 5 {
		t.Errorf("reset --yes -o json = %+v, want a succeeded teardown of 5 nodes", res)
	}
	for _, n := range res.Nodes {
		if want := map[string]string{"k": "pending"}[n.Node]; want != "" && n.State != want || want == "" && n.State != "succeeded" {
			t.Errorf("node %s: %s", n.Node, n.State)
		}
	}
}

// runFiles lists the files under state/runs with their sizes.
func runFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir("state/runs", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if fi, err := d.Info(); err == nil && !d.IsDir() {
			out = append(out, fmt.Sprintf("%s:%d", p, fi.Size()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }
