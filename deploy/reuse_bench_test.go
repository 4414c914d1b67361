package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
)

// BenchmarkRun_DayTwo compares a first run of the 200-node command DAG
// (bench/gendag.py: 20 layers of 10 /bin/true phases, two dependencies
// each) with a second run of the same config with nothing changed, in
// which every node is reused (command phases have no Verify) and nothing
// is started. Each iteration starts from a copy of the state directory as
// the first run left it. Report the ratio of the two ns/op:
//
//	go test ./deploy -run '^$' -bench 'Run_DayTwo' -benchtime 5x
func BenchmarkRun_DayTwo(b *testing.B) {
	py, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("python3 not found: bench/gendag.py makes the DAG")
	}
	gen, err := filepath.Abs("../bench/gendag.py")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if out, err := exec.Command(py, gen, dir, "20", "10").CombinedOutput(); err != nil {
		b.Fatalf("gendag.py: %v\n%s", err, out)
	}
	b.Chdir(dir)
	run := func(stateDir string) *RunResult {
		d := &Deployer{Registry: phases.NewRegistry(), Store: state.NewStore(stateDir), ConfigPath: "k0rdent.yaml", Version: "bench", Command: "deploy.test"}
		res, err := d.Run(context.Background(), RunOptions{Parallelism: 4})
		if err != nil || res.Outcome != state.OutcomeSucceeded {
			b.Fatalf("run: %v", err)
		}
		return res
	}
	b.Run("First", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			run(filepath.Join(dir, "first", strconv.Itoa(i)))
		}
	})
	template := filepath.Join(dir, "template")
	run(template)
	if err := os.MkdirAll(filepath.Join(dir, "second"), 0o755); err != nil {
		b.Fatal(err)
	}
	b.Run("SecondNothingChanged", func(b *testing.B) {
		i := 0
		for b.Loop() {
			b.StopTimer()
			sd := filepath.Join(dir, "second", filepath.Base(b.TempDir()))
			if out, err := exec.Command("cp", "-a", template, sd).CombinedOutput(); err != nil {
				b.Fatalf("cp: %v\n%s", err, out)
			}
			i++
			b.StartTimer()
			res := run(sd)
			if i == 1 {
				for name, st := range res.Result.Nodes {
					if st.RunID == res.RunID && st.Reason == "" {
						b.Fatalf("%s ran in the second run; want every node reused", name)
					}
				}
			}
		}
	})
	_ = os.RemoveAll(filepath.Join(dir, "second"))
}
