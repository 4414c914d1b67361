package cli_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// benchHistory writes n finished runs of commandConfig's five nodes into
// dir/state through the state package.
func benchHistory(b *testing.B, dir string, n int) {
	b.Helper()
	store := state.NewStore(filepath.Join(dir, "state"))
	lock, _, err := store.Lock(state.Holder{PID: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer lock.Unlock()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		created := t0.Add(time.Duration(i) * time.Minute)
		r, err := store.CreateRun(state.Header{RunID: fmt.Sprintf("%s-%04x", created.Format("20060102-150405"), i),
			Created: created, Nodes: []string{"a", "k", "b", "c", "d"}})
		if err != nil {
			b.Fatal(err)
		}
		at := created
		for _, node := range []string{"a", "b", "c", "d"} {
			at = at.Add(time.Second)
			for _, to := range []workflow.State{workflow.Running, workflow.Succeeded} {
				from := workflow.Pending
				if to == workflow.Succeeded {
					from = workflow.Running
				}
				if err := r.Append(state.Record{Kind: state.KindTransition, Time: at, Node: node, From: from, To: to,
					Attempt: 1, Duration: time.Second}); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := r.Append(state.Record{Kind: state.KindOutcome, Time: at, Outcome: state.OutcomeSucceeded}); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

// BenchmarkCommands_LongHistory measures runs, status and run --plan (which
// reads the durations of the last 20 runs) with 1,000 runs in the state
// directory.
func BenchmarkCommands_LongHistory(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k0rdent.yaml"), []byte(commandConfig), 0o644); err != nil {
		b.Fatal(err)
	}
	benchHistory(b, dir, 1000)
	for _, args := range [][]string{{"runs"}, {"runs", "--limit", "10"}, {"status"}, {"run", "--plan"}} {
		b.Run(fmt.Sprint(args), func(b *testing.B) {
			full := append([]string{"k0rdent", "--config", filepath.Join(dir, "k0rdent.yaml"), "--state-dir", filepath.Join(dir, "state")}, args...)
			for b.Loop() {
				app := cli.NewApp(cli.Options{Registry: phases.NewRegistry(), Stdout: io.Discard, Stderr: io.Discard})
				if code := cli.Execute(app, full); code != 0 {
					b.Fatalf("%v: exit %d", args, code)
				}
			}
		})
	}
}
