package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: genruns DIR N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 1 {
		fmt.Fprintf(os.Stderr, "genruns: N %q: want a number from 1\n", os.Args[2])
		os.Exit(2)
	}
	if err := gen(os.Args[1], n); err != nil {
		fmt.Fprintln(os.Stderr, "genruns:", err)
		os.Exit(1)
	}
}

func gen(dir string, n int) error {
	s := state.NewStore(dir)
	lock, _, err := s.Lock(state.CurrentHolder("genruns"))
	if err != nil {
		return err
	}
	defer lock.Unlock()
	nodes := []string{"wireguard", "terraform", "vpn", "k0s", "k0rdent"}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		t := start.Add(time.Duration(i) * time.Minute)
		r, err := s.CreateRun(state.Header{RunID: state.NewRunID(t), Created: t, Nodes: nodes})
		if err != nil {
			return err
		}
		var evs []workflow.Event
		for j, node := range nodes {
			at := t.Add(time.Duration(j) * time.Second)
			evs = append(evs,
				workflow.Event{Time: at, Node: node, From: workflow.Pending, To: workflow.Running, Attempt: 1},
				workflow.Event{Time: at.Add(time.Second), Node: node, From: workflow.Running, To: workflow.Succeeded, Attempt: 1, Duration: time.Second})
		}
		if err := r.RecordBatch(evs); err != nil {
			return err
		}
		if err := r.Append(state.Record{Kind: state.KindOutcome, Time: t.Add(11 * time.Second), Outcome: state.OutcomeSucceeded}); err != nil {
			return err
		}
		if err := r.Close(); err != nil {
			return err
		}
	}
	return nil
}
