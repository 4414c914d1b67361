package workflow_test

import (
	"context"
	"fmt"
	"os"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Keys makes a key pair once and publishes where it is. It is what a
// phase file looks like: one small struct, the capabilities it implements
// asserted at compile time.
type Keys struct{ Dir string }

var (
	_ workflow.Phase     = (*Keys)(nil)
	_ workflow.Describer = (*Keys)(nil)
)

func (k *Keys) Name() string        { return "keys" }
func (k *Keys) DependsOn() []string { return nil }
func (k *Keys) Run(ctx context.Context, env *workflow.Env) error {
	env.Log.Info("generating keys", "dir", env.SecretsDir)
	env.SetOutput("public-key", env.SecretsDir+"/hub.pub") // a path, never the secret
	return nil
}
func (k *Keys) Describe(env *workflow.Env) []string {
	return []string{"generate the hub key pair in " + env.SecretsDir + " (kept if present)"}
}

// Tunnel uses what Keys published, and is optional.
type Tunnel struct{ Enable bool }

var _ workflow.Enabler = (*Tunnel)(nil)

func (t *Tunnel) Name() string        { return "tunnel" }
func (t *Tunnel) DependsOn() []string { return []string{"keys"} }
func (t *Tunnel) Run(ctx context.Context, env *workflow.Env) error {
	key, _ := env.Input("keys", "public-key")
	fmt.Printf("tunnel: using %s (attempt %d)\n", key, env.Attempt)
	return nil
}
func (t *Tunnel) Enabled() (bool, string) { return t.Enable, "--with-tunnel not set" }

func Example() {
	g, err := workflow.NewGraph(&Keys{}, &Tunnel{Enable: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := workflow.Plan(g, workflow.PlanOptions{SecretsDir: "/state/secrets"}).WriteText(os.Stdout); err != nil {
		fmt.Println(err)
	}
	s := &workflow.Scheduler{
		Graph:      g,
		RunID:      "20260825-101500-3f9c",
		SecretsDir: "/state/secrets",
		Recorder: workflow.RecorderFunc(func(ev workflow.Event) error {
			fmt.Printf("record: %s %s -> %s %v\n", ev.Node, ev.From, ev.To, ev.Outputs)
			return nil
		}),
	}
	res, err := s.Run(context.Background(), nil)
	fmt.Println("outcome:", res.Outcome, "error:", err)
	// Output:
	// Plan
	// 2 phases in 2 waves: 2 run
	// Legend: * on the critical path; EXPECTED is how long the phase took when it last succeeded (? never
	// ran); under each phase, the checks made before it runs and what it will do.
	//
	//   ACTION PHASE  EXPECTED NOTE
	// wave 1
	// * run    keys   ?        not run before
	//          - generate the hub key pair in /state/secrets (kept if present)
	//
	// wave 2
	// * run    tunnel ?        not run before
	//
	// critical path (no history): keys -> tunnel
	// record: keys pending -> running map[]
	// record: keys running -> succeeded map[public-key:/state/secrets/hub.pub]
	// record: tunnel pending -> running map[]
	// tunnel: using /state/secrets/hub.pub (attempt 1)
	// record: tunnel running -> succeeded map[]
	// outcome: succeeded error: <nil>
}

// A graph with problems reports all of them at once.
func ExampleNewGraph() {
	_, err := workflow.NewGraph(&Tunnel{}, &Tunnel{})
	fmt.Println(err)
	// Output:
	// duplicate phase "tunnel" (2 phases have this name; names must be unique)
	// phase "tunnel" depends on unknown phase "keys" (known: tunnel)
}
