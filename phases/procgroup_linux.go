package phases

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// procInfo is what /proc/<pid>/stat says of a process.
type procInfo struct {
	pid   int
	state byte
	pgrp  int
	start uint64 // clock ticks since boot
}

// readProc reads /proc/<pid>/stat.
func readProc(pid int) (procInfo, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	p, ok := parseStatStart(data)
	p.pid = pid
	return p, ok
}

// parseStatStart parses state, pgrp and starttime (fields 3, 5 and 22) of
// a /proc/<pid>/stat line; comm (field 2) may hold spaces and ')'.
func parseStatStart(data []byte) (procInfo, bool) {
	state, pgrp, ok := parseStat(data)
	if !ok {
		return procInfo{}, false
	}
	fields := bytes.Fields(data[bytes.LastIndexByte(data, ')')+1:])
	if len(fields) < 20 {
		return procInfo{}, false
	}
	start, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return procInfo{}, false
	}
	return procInfo{state: state, pgrp: pgrp, start: start}, true
}

// bootID is the kernel's boot id, "" if unknown.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// processGroupOf identifies the process group whose leader is pid (the
// child Command just started).
func processGroupOf(pid int) (workflow.ProcessGroup, bool) {
	p, ok := readProc(pid)
	if !ok {
		return workflow.ProcessGroup{}, false
	}
	return workflow.ProcessGroup{PGID: pid, LeaderStart: p.start, BootID: bootID()}, true
}

// EndProcessGroups ends what is left of process groups that a k0rdent
// which is no longer running started (state.Store.LeftoverProcessGroups),
// so that a node never runs twice side by side: every recognised group
// gets SIGTERM, then SIGKILL once grace has passed, and EndProcessGroups
// returns when they are gone (or stuck in the kernel), with the groups it
// found. The caller holds the store lock.
//
// A group is recognised only if this is still the boot it was recorded in
// and its leader, if it still exists (a zombie too), has the recorded start
// time: a pid that was reused is never signalled. When the leader is gone
// (it died with k0rdent through Pdeathsig, or exited), every live member
// must have started no earlier than the leader and carry the group's
// K0RDENT_RUN_ID, K0RDENT_NODE and K0RDENT_ATTEMPT in its environment.
func EndProcessGroups(groups []workflow.ProcessGroup, grace time.Duration) []workflow.ProcessGroup {
	if len(groups) == 0 {
		return nil
	}
	boot := bootID()
	members := groupMembers()
	var found []workflow.ProcessGroup
	for _, g := range groups {
		if g.PGID <= 1 || g.BootID != "" && boot != "" && g.BootID != boot {
			continue
		}
		if recognised(g, members[g.PGID]) {
			found = append(found, g)
		}
	}
	for _, g := range found {
		_ = syscall.Kill(-g.PGID, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for _, g := range found {
		stopGroup(g.PGID, deadline)
	}
	return found
}

// groupMembers maps each process group to its live (not zombie) members.
func groupMembers() map[int][]procInfo {
	out := map[int][]procInfo{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok && p.state != 'Z' && p.state != 'X' {
			out[p.pgrp] = append(out[p.pgrp], p)
		}
	}
	return out
}

// recognised reports whether the live members of group g.PGID are the
// group g describes (see EndProcessGroups).
func recognised(g workflow.ProcessGroup, members []procInfo) bool {
	if len(members) == 0 {
		return false
	}
	if leader, ok := readProc(g.PGID); ok {
		return leader.start == g.LeaderStart && leader.pgrp == g.PGID
	}
	want := []string{
		EnvRunID + "=" + g.RunID,
		EnvNode + "=" + g.Node,
		EnvAttempt + "=" + strconv.Itoa(g.Attempt),
	}
	// Members come and go while this runs (a shell's short-lived children,
	// exiting or waiting to be reaped): one that is no longer the live
	// process the scan saw tells nothing, either way.
	verified := false
	for _, m := range members {
		if m.start < g.LeaderStart {
			return false
		}
		if hasEnv(m.pid, want) {
			verified = true
			continue
		}
		if now, ok := readProc(m.pid); ok && now.start == m.start && now.state != 'Z' && now.state != 'X' {
			return false // alive, and not of this group's attempt
		}
	}
	return verified
}

// hasEnv reports whether the environment of pid holds every entry of want.
func hasEnv(pid int, want []string) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	have := map[string]bool{}
	for _, kv := range bytes.Split(data, []byte{0}) {
		have[string(kv)] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}
