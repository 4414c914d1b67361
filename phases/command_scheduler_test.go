package phases

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// memLogs is a LogSink keeping every node attempt's log in memory.
type memLogs struct {
	mu   sync.Mutex
	logs map[string]*strings.Builder
}

type memLog struct {
	l   *memLogs
	key string
}

func (w memLog) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.l.logs[w.key].Write(p)
}

func (memLog) Close() error { return nil }

func (l *memLogs) sink(node string, attempt int) (io.WriteCloser, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := fmt.Sprintf("%s#%d", node, attempt)
	if l.logs == nil {
		l.logs = map[string]*strings.Builder{}
	}
	if l.logs[key] == nil {
		l.logs[key] = &strings.Builder{}
	}
	return memLog{l: l, key: key}, nil
}

func (l *memLogs) get(node string, attempt int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.logs[fmt.Sprintf("%s#%d", node, attempt)]; b != nil {
		return b.String()
	}
	return ""
}

// TestCommand_InScheduler runs command phases through the real workflow
// scheduler: outputs flow to dependents as K0RDENT_INPUT_* variables, exit
// status 75 is retried under the policy, a disabled phase is skipped with
// its reason, a timeout fails the node, and output lands in the node log.
func TestCommand_InScheduler(t *testing.T) {
	dir := t.TempDir()
	counter := filepath.Join(dir, "attempts")
	flags := RunFlags{} // --with-kof not set
	specs := []CommandSpec{
		{Name: "producer", Command: script(t, `echo producing; echo "endpoint=https://10.0.0.1:6443" >> "$K0RDENT_OUTPUT"`)},
		{
			Name:      "flaky",
			DependsOn: []string{"producer"},
			Retries:   2,
			Env:       map[string]string{"COUNTER": counter},
			Command: script(t, `
echo "attempt $K0RDENT_ATTEMPT sees $K0RDENT_INPUT_PRODUCER_ENDPOINT"
echo x >> "$COUNTER"
[ "$(wc -l < "$COUNTER")" -ge 2 ] || exit 75
echo "seen=$K0RDENT_INPUT_PRODUCER_ENDPOINT" >> "$K0RDENT_OUTPUT"`),
		},
		{Name: "kof-only", DependsOn: []string{"flaky"}, When: "with_kof", Command: []string{"/bin/false"}},
		{Name: "slow", Timeout: 500 * time.Millisecond, GracePeriod: 100 * time.Millisecond, Command: []string{"/bin/sh", "-c", "exec sleep 300"}},
	}
	var nodes []workflow.Phase
	for _, s := range specs {
		c, err := NewCommand(s, nil, flags)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, c)
	}
	g, err := workflow.NewGraph(nodes...)
	if err != nil {
		t.Fatal(err)
	}
	var (
		events []workflow.Event
		logs   memLogs
	)
	s := &workflow.Scheduler{
		Graph:    g,
		RunID:    "20261125-120000-beef",
		Recorder: workflow.RecorderFunc(func(ev workflow.Event) error { events = append(events, ev); return nil }),
		LogSink:  logs.sink,
	}
	res, err := s.Run(context.Background(), nil)
	if res == nil {
		t.Fatalf("Run: %v", err)
	}

	var got []string
	for _, ev := range events {
		line := fmt.Sprintf("%s %s->%s #%d", ev.Node, ev.From, ev.To, ev.Attempt)
		if ev.Reason != "" && ev.To == workflow.Skipped {
			line += " (" + ev.Reason + ")"
		}
		got = append(got, line)
	}
	for _, want := range []string{
		"producer running->succeeded #1",
		"flaky running->failed #1",
		"flaky failed->running #2",
		"flaky running->succeeded #2",
		"kof-only pending->skipped #0 (disabled: when with_kof: --with-kof not set and kof.enabled is false)",
		"slow running->failed #1",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no event %q in:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if got := res.Nodes["flaky"].Outputs["seen"]; got != "https://10.0.0.1:6443" {
		t.Errorf("flaky output seen = %q, want the producer's endpoint", got)
	}
	if got := res.Nodes["slow"].Error; !strings.Contains(got, "timed out after 500ms") || !strings.Contains(got, "context deadline exceeded") {
		t.Errorf("slow error = %q, want a timeout", got)
	}
	var pe *workflow.PhaseError
	if !errors.As(err, &pe) || pe.Phase != "slow" {
		t.Errorf("Run error = %v, want the PhaseError of slow", err)
	}
	if got, want := logs.get("flaky", 1), "attempt 1 sees https://10.0.0.1:6443\n"; !strings.Contains(got, want) {
		t.Errorf("log of flaky attempt 1 = %q, want it to contain %q", got, want)
	}
	if got := logs.get("producer", 1); !strings.Contains(got, "producing\n") || !strings.Contains(got, "msg=exec argv=") {
		t.Errorf("log of producer = %q, want the exec line and the command's output", got)
	}
	if data, _ := os.ReadFile(counter); strings.Count(string(data), "x") != 2 {
		t.Errorf("flaky ran %d times, want 2", strings.Count(string(data), "x"))
	}
}
