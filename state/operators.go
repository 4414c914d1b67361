package state

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Outputs by which a node (the vpn node) journals the operator whose
// tunnel it brought up: that operator is then a peer of every VM. They are
// the phases' (phases.VPNOutputOperator*), repeated here as the format.
const (
	OutputOperatorName      = "operator.name"       // the operator (user@host, or --operator)
	OutputOperatorAddress   = "operator.address"    // its WireGuard address
	OutputOperatorPublicKey = "operator.public_key" // its public key; never the private key
	OutputOperatorAddedTo   = "operator.added_to"   // the VMs it was added to in this attempt (comma-separated; empty: already a peer of all)
)

// OperatorRemoved is the action of an operator record.
const OperatorRemoved = "removed"

// OperatorRecord is the body of an operator record: an operator peer
// removed from every VM by `k0rdent operators remove`.
type OperatorRecord struct {
	Action    string `yaml:"action"`
	Name      string `yaml:"name"`
	Address   string `yaml:"address,omitempty"`
	PublicKey string `yaml:"public_key,omitempty"`
	// By is the operator who removed it.
	By string `yaml:"by,omitempty"`
}

// Operator is one operator peer of the deployment, as the journals know
// it.
type Operator struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	PublicKey string `json:"public_key"`
	// AddedBy is the run whose vpn node first recorded it (since its last
	// removal); Added that record's time.
	AddedBy string    `json:"added_by,omitempty"`
	Added   time.Time `json:"added"`
	// LastSeenRun is the newest run whose vpn node succeeded for it, and
	// LastHandshake the newest handshake with a VM that node recorded.
	LastSeenRun   string    `json:"last_seen_run,omitempty"`
	LastHandshake time.Time `json:"last_handshake"`
	// Legacy: the deployment's single operator peer (the hub) from before
	// operators were recorded; no run has claimed it yet. The first
	// operator whose vpn node runs becomes it.
	Legacy bool `json:"legacy,omitempty"`
}

// Operators folds every run file, oldest first, into the operator peers
// of the deployment, ordered by address: a node's succeeded record with
// operator outputs adds or refreshes the operator, an operator record
// removes it, and a teardown (the VMs are destroyed with it) forgets them
// all. Without any operator recorded, the hub peer of the last known
// wireguard peers is listed as the Legacy operator. It never locks.
func (s *Store) Operators() ([]Operator, error) {
	ids, err := s.runIDs()
	if err != nil {
		return nil, err
	}
	byName := map[string]*Operator{}
	var hub *Peer
	for _, id := range ids {
		rf, err := s.Load(id)
		if err != nil {
			return nil, err
		}
		if rf.Header.Teardown {
			clear(byName)
			hub = nil
			continue
		}
		for _, rec := range rf.Records {
			switch {
			case rec.Kind == KindOperator && rec.Operator != nil:
				delete(byName, rec.Operator.Name)
			case rec.Kind == KindTransition && rec.To == workflow.Succeeded && rec.Outputs != nil:
				if raw, ok := rec.Outputs[OutputPeers]; ok {
					if peers, err := parsePeers(raw); err == nil {
						for i := range peers {
							if peers[i].Role == "hub" {
								hub = &peers[i]
							}
						}
					}
				}
				name := rec.Outputs[OutputOperatorName]
				if name == "" {
					continue
				}
				o := byName[name]
				pub, addr := rec.Outputs[OutputOperatorPublicKey], rec.Outputs[OutputOperatorAddress]
				if o == nil || o.PublicKey != pub || o.Address != addr {
					o = &Operator{Name: name, Address: addr, PublicKey: pub, AddedBy: id, Added: rec.Time}
					byName[name] = o
				}
				o.LastSeenRun = id
				for k, v := range rec.Outputs {
					if strings.HasPrefix(k, OutputVPNHandshake) {
						if t, err := time.Parse(time.RFC3339, v); err == nil && t.After(o.LastHandshake) {
							o.LastHandshake = t
						}
					}
				}
			}
		}
	}
	var out []Operator
	for _, o := range byName {
		out = append(out, *o)
	}
	if len(out) == 0 && hub != nil {
		out = append(out, Operator{Name: hub.Name, Address: hub.Address, PublicKey: hub.PublicKey, Legacy: true})
	}
	slices.SortFunc(out, func(a, b Operator) int {
		x, _ := netip.ParseAddr(a.Address)
		y, _ := netip.ParseAddr(b.Address)
		return cmp.Or(x.Compare(y), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// RemoveOperator journals that the operator o was removed from every VM:
// an operator record (action removed, by) appended to this run. Nothing
// else changes: the run's nodes and outcome stay as they were.
func (r *Run) RemoveOperator(o Operator, by string) error {
	return r.Append(Record{Kind: KindOperator, Operator: &OperatorRecord{
		Action: OperatorRemoved, Name: o.Name, Address: o.Address, PublicKey: o.PublicKey, By: by}})
}
