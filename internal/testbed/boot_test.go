package testbed

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TestTestbed_BootsFromWireGuardPhase: the real wireguard phase writes the
// cloud-init documents, the testbed boots its VMs from them as they appear,
// and the operator reaches every VM's sshd through a tunnel set up from
// the phase's outputs alone.
func TestTestbed_BootsFromWireGuardPhase(t *testing.T) {
	Require(t, true)
	cfg, err := config.Parse([]byte("azure:\n  location: westus2\nnetwork:\n  wireguard_network: 10.77.0.0/28\n"), "k0rdent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(t.TempDir(), "secrets")
	nodes, err := phases.Builtin().Build(cfg, phases.RunFlags{}, phases.Dirs{K0s: filepath.Join(filepath.Dir(secrets), phases.K0sWorkDir), Secrets: secrets, Terraform: filepath.Join(filepath.Dir(secrets), "terraform")})
	if err != nil {
		t.Fatal(err)
	}
	var wg workflow.Phase
	for _, n := range nodes {
		if n.Name() == "wireguard" {
			wg = n
		}
	}
	if wg == nil {
		t.Fatal("no wireguard node in the built-in graph")
	}

	f := newFixture(t) // only for its SSH key
	var vms []VM
	for _, h := range cfg.Hosts() {
		vms = append(vms, VM{Name: h.Name})
	}
	tb := New(t, Options{VMs: vms, AuthorizedKey: f.authorizedKey(t)})
	tb.BootFromSecrets(secrets)

	env := &workflow.Env{RunID: "20261125-120000-beef", Node: "wireguard", Attempt: 1, SecretsDir: secrets, Log: slog.New(slog.DiscardHandler)}
	if err := wg.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	out := env.Outputs()
	var peers []struct {
		Name      string `json:"name"`
		Address   string `json:"address"`
		PublicKey string `json:"public_key"`
		Role      string `json:"role"`
	}
	if err := json.Unmarshal([]byte(out["peers"]), &peers); err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(out["port"])

	// The operator's side, from the outputs and the hub's key file only.
	ks := wireguard.NewKeyStore(secrets)
	op := fixture{keys: ks, port: port}
	op.plan.Hub = wireguard.Peer{Name: peers[0].Name}
	op.plan.Hub.Address = mustAddr(t, peers[0].Address)
	for _, p := range peers[1:] {
		op.plan.Hosts = append(op.plan.Hosts, wireguard.Peer{Name: p.Name, Role: p.Role, Address: mustAddr(t, p.Address)})
	}
	operatorUp(t, tb, op)
	for _, p := range peers[1:] {
		eventually(t, tb, net.JoinHostPort(p.Address, "22"))
	}
	if len(peers) != 3 || peers[1].Address != "10.77.0.2" {
		t.Errorf("peers %+v", peers)
	}
}
