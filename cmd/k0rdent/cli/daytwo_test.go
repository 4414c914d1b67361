package cli_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func dayTwoConfig(value string) string {
	return baseConfig + `phases:
  - name: a
    command: [sh, -c, "echo out=$V > $K0RDENT_OUTPUT"]
    env: {V: "` + value + `"}
  - name: b
    command: [sh, -c, "true"]
    depends_on: [a]
`
}

// TestRun_PlanDayTwo: after a success, the plan of a run with one
// command's env changed says why per node, as text with a summary line,
// as JSON with the changed keys, and with --diff the changed keys and the
// phases each feeds.
func TestRun_PlanDayTwo(t *testing.T) {
	e := newEnv(t, dayTwoConfig("1"))
	e.mustRun(0, "run")
	first := e.current().Header.RunID

	text := e.mustRun(0, "run", "--plan")
	for _, want := range []string{"unchanged since run " + first, "2 phases in 2 waves: 2 reuse"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("plan with nothing changed lacks %q:\n%s", want, text.stdout)
		}
	}

	e.write("k0rdent.yaml", dayTwoConfig("2"))
	text = e.mustRun(0, "run", "--plan", "--diff")
	for _, want := range []string{
		"changed: phases[0].env.V 1 → 2",
		"reuse if the outputs of a are unchanged after it runs, else run",
		"2 phases in 2 waves: 1 run, 1 decided at run time",
		"Changed since run " + first + ":\n  phases[0].env.V → a\n",
	} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("plan --diff lacks %q:\n%s", want, text.stdout)
		}
	}

	js := e.mustRun(0, "run", "--plan", "-o", "json")
	type node struct {
		Name    string   `json:"name"`
		Action  string   `json:"action"`
		Changed []string `json:"changed"`
	}
	var plan struct {
		Nodes []node `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(js.stdout), &plan); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, js.stdout)
	}
	i := slices.IndexFunc(plan.Nodes, func(n node) bool { return n.Name == "a" })
	if i < 0 || plan.Nodes[i].Action != "run" || !slices.Equal(plan.Nodes[i].Changed, []string{"phases[0].env.V 1 → 2"}) {
		t.Errorf("plan -o json: node a %+v, want run with changed [phases[0].env.V 1 → 2]", plan.Nodes)
	}

	if r := e.mustRun(2, "run", "--diff"); !strings.Contains(r.stderr, "--diff and --verify need --plan") {
		t.Errorf("run --diff without --plan:\n%s", r)
	}
}
