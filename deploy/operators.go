package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
	"github.com/k0rdent/k0rdent-deploy/state"
)

// operator is the phases' view of the operator on this machine: its name,
// its own directory (wireguard.OperatorDir of the deployment's
// metadata.name) and the operators the journals record.
func (d *Deployer) operator(cfg *config.Config) (phases.Operator, error) {
	if d.Operator == "" {
		return phases.Operator{}, nil
	}
	if !wireguard.ValidOperatorName(d.Operator) {
		return phases.Operator{}, usagef("--operator %q: not a valid operator name (letters, digits, '.', '_', '@', '-'; at most 64)", d.Operator)
	}
	dir, err := wireguard.OperatorDir(cfg.Metadata.Name)
	if err != nil {
		return phases.Operator{}, withCode(CodeUsage, err)
	}
	known, err := d.knownOperators()
	if err != nil {
		return phases.Operator{}, err
	}
	return phases.Operator{Name: d.Operator, Dir: dir, Known: known}, nil
}

// knownOperators are the recorded operators (the legacy one left out:
// the first operator to run claims it).
func (d *Deployer) knownOperators() ([]wireguard.Operator, error) {
	ops, err := d.Store.Operators()
	if err != nil {
		return nil, fmt.Errorf("operators: %w", err)
	}
	var out []wireguard.Operator
	for _, o := range ops {
		if o.Legacy {
			continue
		}
		a, err1 := netip.ParseAddr(o.Address)
		k, err2 := wgtypes.ParseKey(o.PublicKey)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("operator %s in the journal: %w", o.Name, err)
		}
		out = append(out, wireguard.Operator{Name: o.Name, Address: a, PublicKey: k})
	}
	return out, nil
}

// Operators lists the deployment's operator peers (state.Store.Operators);
// it takes no lock.
func (d *Deployer) Operators() ([]state.Operator, error) { return d.Store.Operators() }

// RemoveOperatorResult is what RemoveOperator did.
type RemoveOperatorResult struct {
	Operator state.Operator
	// VMs are the VMs whose peer it removed (a VM without it is left
	// alone).
	VMs []string
	// RunID is the run file the operator record was appended to.
	RunID string
}

// RemoveOperator is `k0rdent operators remove NAME`: under the lock, it
// takes the operator's peer off every VM (over SSH to their public
// addresses with the deployment's SSH key, device and wg-quick file) and,
// once every VM is done, journals an operator record in the current run.
// It refuses, with CodeUsage and without --force, the last operator and
// the operator on this machine. A VM it cannot reach fails it (CodePhaseFailed)
// and nothing is journalled: running it again finishes the job.
func (d *Deployer) RemoveOperator(ctx context.Context, name string, force bool) (*RemoveOperatorResult, error) {
	cfg, err := config.Load(d.ConfigPath)
	if err != nil {
		return nil, withCode(CodeUsage, ConfigError(err))
	}
	cur, err := d.Store.Current()
	if err != nil || cur == nil || cur.CurrentRunID == "" {
		return nil, usagef("no run in %s: nothing to remove an operator from", d.Store.Location())
	}
	lock, prev, err := d.lock(cur.CurrentRunID)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	ops, err := d.Store.Operators()
	if err != nil {
		return nil, err
	}
	var target *state.Operator
	var names []string
	for i, o := range ops {
		names = append(names, o.Name)
		if o.Name == name {
			target = &ops[i]
		}
	}
	switch {
	case target == nil && len(names) == 0:
		return nil, usagef("no operator %q: %s records no operator yet (the vpn node of a run records its operator)", name, d.Store.Location())
	case target == nil:
		return nil, usagef("no operator %q (operators: %s)", name, strings.Join(names, ", "))
	case target.Legacy:
		return nil, usagef("operator %q is the hub of a deployment from before operators were recorded: run %s run --resume (or any run) from its machine first", name, d.name())
	case len(ops) == 1 && !force:
		return nil, usagef("%s is the last operator: without it nobody reaches the VMs (--force removes it anyway)", name)
	case name == d.Operator && !force:
		return nil, usagef("%s is you (this machine's operator): your tunnel would stop (--force removes it anyway)", name)
	}
	addr, err1 := netip.ParseAddr(target.Address)
	key, err2 := wgtypes.ParseKey(target.PublicKey)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("operator %s in the journal: %w", name, err)
	}
	last, err := d.Store.LastKnown()
	if err != nil {
		return nil, err
	}
	outputs := map[string]map[string]string{}
	for n, st := range last {
		outputs[n] = st.Outputs
	}
	me, err := d.operator(cfg)
	if err != nil {
		return nil, err
	}
	if me.Dir == "" {
		if me.Dir, err = wireguard.OperatorDir(cfg.Metadata.Name); err != nil {
			return nil, withCode(CodeUsage, err)
		}
	}
	vms, err := phases.RemoveOperatorPeer(ctx, outputs, cfg.VPN.SSHPort, cfg.Timeouts.SSHConnect.D(), me,
		wireguard.Operator{Name: name, Address: addr, PublicKey: key}, d.logger())
	if err != nil {
		return nil, withCode(CodePhaseFailed, fmt.Errorf("remove operator %s from the VMs (nothing journalled; run it again): %w", name, err))
	}
	run, err := d.Store.OpenRun(cur.CurrentRunID)
	if err != nil {
		return nil, err
	}
	defer run.Close()
	if prev != nil {
		if err := run.LockTakeover(*prev); err != nil {
			return nil, err
		}
	}
	by := d.Operator
	if by == "" {
		by = wireguard.DefaultOperatorName()
	}
	if err := run.RemoveOperator(*target, by); err != nil {
		return nil, err
	}
	return &RemoveOperatorResult{Operator: *target, VMs: vms, RunID: cur.CurrentRunID}, nil
}
