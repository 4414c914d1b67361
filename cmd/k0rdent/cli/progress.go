package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// progress shows node transitions while a run goes on. Event is called from
// the scheduler's coordinator goroutine, after the event is durable.
type progress interface {
	Event(ev workflow.Event)
	// Close stops any redraw and leaves the terminal clean.
	Close()
}

// newProgress picks the live view on a terminal and plain lines otherwise.
func newProgress(w io.Writer, live bool, color bool, now func() time.Time) progress {
	if live {
		return newLiveView(w, color, now, 250*time.Millisecond)
	}
	return &plainProgress{w: w}
}

// transitionLine is the one-line form of an event:
//
//	12:00:01 k0s running (attempt 1)
//	12:00:09 k0s failed after 8s (attempt 1): exit status 1
func transitionLine(ev workflow.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", ev.Time.Local().Format("15:04:05"), ev.Node, ev.To)
	if ev.Duration > 0 && (ev.To == workflow.Succeeded || ev.To == workflow.Failed || ev.To == workflow.Cancelled) {
		fmt.Fprintf(&b, " after %s", roundDuration(ev.Duration))
	}
	if ev.Attempt > 0 && (ev.To == workflow.Running || ev.To == workflow.Failed) {
		fmt.Fprintf(&b, " (attempt %d)", ev.Attempt)
	}
	switch {
	case ev.Error != "":
		fmt.Fprintf(&b, ": %s", firstLine(ev.Error))
	case ev.Reason != "":
		fmt.Fprintf(&b, ": %s", ev.Reason)
	}
	return b.String()
}

// plainProgress prints one line per transition, for logs and pipes.
type plainProgress struct {
	w io.Writer
}

func (p *plainProgress) Event(ev workflow.Event) { fmt.Fprintln(p.w, transitionLine(ev)) }
func (p *plainProgress) Close()                  {}

// liveView keeps one line per running node, with its elapsed time, at the
// bottom of the terminal and redraws it a few times a second with ANSI
// escapes. Finished transitions scroll above it as plain lines.
type liveView struct {
	w     io.Writer
	color bool
	now   func() time.Time
	// width is the terminal's width, 0 if unknown. Live lines are cut to
	// fit: a wrapped line would break the count of lines to redraw.
	width int

	mu      sync.Mutex // guards the fields below and every write to w
	running map[string]runningNode
	drawn   int // lines of the live area currently on screen
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

type runningNode struct {
	since   time.Time
	attempt int
}

func newLiveView(w io.Writer, color bool, now func() time.Time, every time.Duration) *liveView {
	v := &liveView{w: w, color: color, now: now, width: terminalWidth(w), running: map[string]runningNode{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go v.loop(every)
	return v
}

func (v *liveView) loop(every time.Duration) {
	defer close(v.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
			v.mu.Lock()
			v.redraw()
			v.mu.Unlock()
		}
	}
}

// ANSI escapes: move to column 1 and up one line; clear the line.
const (
	ansiUp        = "\x1b[1A"
	ansiClearLine = "\r\x1b[2K"
)

func (v *liveView) clear() {
	for i := 0; i < v.drawn; i++ {
		io.WriteString(v.w, ansiUp+ansiClearLine)
	}
	v.drawn = 0
}

func (v *liveView) redraw() {
	if v.closed {
		return
	}
	v.clear()
	now := v.now()
	for _, n := range slices.Sorted(maps.Keys(v.running)) {
		r := v.running[n]
		line := fmt.Sprintf("  %s %-24s running %s", spinner(now), n, roundDuration(now.Sub(r.since)))
		if r.attempt > 1 {
			line += fmt.Sprintf(" (attempt %d)", r.attempt)
		}
		if v.width > 1 && len(line) >= v.width {
			line = line[:v.width-1]
		}
		fmt.Fprintln(v.w, v.paint(line, ansiCyan))
		v.drawn++
	}
}

func (v *liveView) Event(ev workflow.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ev.To == workflow.Running {
		v.running[ev.Node] = runningNode{since: ev.Time, attempt: ev.Attempt}
	} else {
		delete(v.running, ev.Node)
	}
	v.clear()
	if ev.To != workflow.Running {
		fmt.Fprintln(v.w, v.paint(transitionLine(ev), stateColor(ev.To)))
	}
	v.redraw()
}

func (v *liveView) Close() {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.clear()
	v.closed = true
	v.mu.Unlock()
	close(v.stop)
	<-v.done
}

const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiDim    = "\x1b[2m"
)

func (v *liveView) paint(s, color string) string {
	if !v.color || color == "" {
		return s
	}
	return color + s + ansiReset
}

func stateColor(s workflow.State) string {
	switch s {
	case workflow.Succeeded:
		return ansiGreen
	case workflow.Failed:
		return ansiRed
	case workflow.Blocked, workflow.Cancelled:
		return ansiYellow
	case workflow.Skipped:
		return ansiDim
	}
	return ""
}

func spinner(t time.Time) string {
	frames := []string{"|", "/", "-", `\`}
	return frames[(t.UnixMilli()/250)%int64(len(frames))]
}

// roundDuration prints durations the way people read them: 850ms, 12s, 3m4s.
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
