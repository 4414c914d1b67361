package deploy

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/state"
)

// A second run while one is live exits 3 naming the holder whatever its
// flags (today some losers exited 2 "pass --resume" because they judged
// the winner's unfinished run before trying the lock).
func TestRun_LockedWhateverFlags(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.write("fail-c", "")
	first, _ := e.run(RunOptions{}) // an unfinished (failed) current run
	holder := state.NewStore("state")
	h := state.CurrentHolder("k0rdent run (the other one)")
	h.RunID = "20300101-000000-abcd"
	lock, _, err := holder.Lock(h)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	for _, tc := range []struct {
		name string
		o    RunOptions
	}{
		{"NoFlags", RunOptions{}},
		{"Resume", RunOptions{Resume: true}},
		{"Fresh", RunOptions{Fresh: true}},
		{"Yes", RunOptions{Yes: true}},
		{"Selection", RunOptions{Selection: only("a")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.run(tc.o)
			if code(err) != CodeLocked {
				t.Fatalf("exit %d (%v), want %d", code(err), err, CodeLocked)
			}
			for _, w := range []string{h.RunID, "pid", h.Command, h.User, h.Host} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not name %q", err, w)
				}
			}
		})
	}
	if _, err := (&Deployer{Registry: e.reg, Store: state.NewStore("state"), ConfigPath: "k0rdent.yaml"}).Reset(t.Context(), ResetOptions{}); code(err) != CodeLocked {
		t.Errorf("reset while locked: %v", err)
	}
	_ = first
}

// The holder record names the run from the moment the lock is taken: the
// prompt (asked under the lock) already sees the run id it would resume.
func TestRun_HolderNamesRunFromTheStart(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.write("fail-c", "")
	first, _ := e.run(RunOptions{})
	os.Remove("fail-c")
	var seen *state.Holder
	_, err := e.run(RunOptions{Decide: func(string) (bool, error) {
		seen, _ = state.NewStore("state").ReadHolder()
		return true, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if seen == nil || seen.RunID != first.RunID {
		t.Errorf("holder while judging: %+v, want run %s", seen, first.RunID)
	}
	if h, _ := state.NewStore("state").ReadHolder(); h != nil {
		t.Errorf("holder record left after the run: %+v", h)
	}
}

// A lock left by a dead process is taken over and journalled.
func TestRun_TakesOverDeadLock(t *testing.T) {
	e := newEnv(t, commandConfig)
	e.mustRun(RunOptions{})
	dead := "run_id: 20200101-000000-0000\npid: 999999\nhost: gone\nstarted: " + time.Now().UTC().Format(time.RFC3339) + "\n"
	e.write("state/lock", dead)
	var st Started
	res := e.mustRun(RunOptions{Started: func(s Started) { st = s }})
	if st.Takeover == nil || st.Takeover.PID != 999999 {
		t.Errorf("takeover %+v, want pid 999999", st.Takeover)
	}
	rf, _ := state.NewStore("state").Load(res.RunID)
	if len(rf.Takeovers) != 1 {
		t.Errorf("takeovers journalled: %d", len(rf.Takeovers))
	}
}
