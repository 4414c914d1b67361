package state

import "github.com/k0rdent/k0rdent-deploy/workflow"

// LeftoverProcessGroups lists the process groups that may outlive a dead
// k0rdent: those journalled in run rf (the run about to be resumed or
// superseded; nil for none) and in the run the previous lock holder prev
// was writing (a takeover; nil for none), oldest first. The caller holds
// the store lock, so no live k0rdent owns them any more; it ends what is
// left of them (phases.EndProcessGroups recognises each group by its
// leader's start time and its members' environment, never by pid alone)
// before it starts their nodes again. A run file that cannot be read
// contributes nothing.
func (s *Store) LeftoverProcessGroups(rf *RunFile, prev *Holder) []workflow.ProcessGroup {
	var out []workflow.ProcessGroup
	seen := ""
	if rf != nil {
		out = append(out, rf.ProcessGroups...)
		seen = rf.Header.RunID
	}
	if prev != nil && prev.RunID != "" && prev.RunID != seen && ValidRunID(prev.RunID) {
		if prf, err := s.Load(prev.RunID); err == nil {
			out = append(out, prf.ProcessGroups...)
		}
	}
	return out
}
