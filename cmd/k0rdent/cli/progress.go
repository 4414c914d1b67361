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
	// Note prints one line among the transitions (what an interrupt
	// does, say).
	Note(line string)
	// Running is how many nodes are running now.
	Running() int
	// Close stops any redraw and leaves the terminal clean.
	Close()
}

// DefaultHeartbeat is how often, at most, a running node goes without a
// line in the plain progress (piped, as in CI, or with NO_COLOR): a log
// that stays silent for minutes looks like a hang.
const DefaultHeartbeat = 30 * time.Second

// progressOptions choose and tune a progress display.
type progressOptions struct {
	live      bool // redraw running nodes in place (a terminal)
	color     bool
	now       func() time.Time
	heartbeat time.Duration // plain: a line per running node at least this often
}

// progressOptions are the display options of this app; live on a
// terminal without --no-color/NO_COLOR.
func (a *app) progressOptions(live bool) progressOptions {
	hb := a.Heartbeat
	if hb <= 0 {
		hb = DefaultHeartbeat
	}
	return progressOptions{live: live, color: live, now: a.Now, heartbeat: hb}
}

// newProgress picks the live view on a terminal and plain lines otherwise.
func newProgress(w io.Writer, o progressOptions) progress {
	if o.live {
		return newLiveView(w, o.color, o.now, 250*time.Millisecond)
	}
	return newPlainProgress(w, o.now, o.heartbeat)
}

// transitionLine is the one-line form of an event:
//
//	12:00:01 k0s running (attempt 1)
//	12:00:05 k0s retry 1/3 in 4s: connection refused
//	12:00:09 k0s running (attempt 2)
//	12:00:17 k0s failed after 8s (attempt 2): exit status 1
//
// A failed attempt the scheduler retries is a retry, not a failure.
func transitionLine(ev workflow.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s ", ev.Time.Local().Format("15:04:05"), ev.Node)
	if try, of, wait, ok := workflow.Retry(ev); ok {
		fmt.Fprintf(&b, "retry %d/%d in %s", try, of, roundDuration(wait))
		if ev.Error != "" {
			fmt.Fprintf(&b, ": %s", firstLine(ev.Error))
		}
		return b.String()
	}
	b.WriteString(string(ev.To))
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

// eventColor is the colour of a transition line: a retry is yellow.
func eventColor(ev workflow.Event) string {
	if _, _, _, ok := workflow.Retry(ev); ok {
		return ansiYellow
	}
	return stateColor(ev.To)
}

// plainProgress prints one line per transition, for logs and pipes, and
// a heartbeat line for each running node that has had none for the
// heartbeat interval (`12:05:30 k0s running 5m30s`), as Terraform's
// "Still creating... [10s elapsed]".
type plainProgress struct {
	w         io.Writer
	now       func() time.Time
	heartbeat time.Duration

	mu      sync.Mutex // guards the fields below and every write to w
	running map[string]*beat
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

// beat is a running node: since when (monotonic clock, whatever Options.Now
// says), which attempt, and when its last line was printed.
type beat struct {
	since, last time.Time
	attempt     int
}

func newPlainProgress(w io.Writer, now func() time.Time, heartbeat time.Duration) *plainProgress {
	p := &plainProgress{w: w, now: now, heartbeat: heartbeat, running: map[string]*beat{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

func (p *plainProgress) loop() {
	defer close(p.done)
	// Check often enough that no node waits much longer than the
	// interval, whenever it started.
	t := time.NewTicker(max(p.heartbeat/5, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.beats()
		}
	}
}

// beats prints the heartbeat of each running node that is due.
func (p *plainProgress) beats() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	now := time.Now()
	for _, n := range slices.Sorted(maps.Keys(p.running)) {
		b := p.running[n]
		if now.Sub(b.last) < p.heartbeat {
			continue
		}
		line := fmt.Sprintf("%s %s running %s", p.now().Local().Format("15:04:05"), n, elapsed(now.Sub(b.since)))
		if b.attempt > 1 {
			line += fmt.Sprintf(" (attempt %d)", b.attempt)
		}
		fmt.Fprintln(p.w, line)
		b.last = now
	}
}

func (p *plainProgress) Event(ev workflow.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.To == workflow.Running {
		now := time.Now()
		p.running[ev.Node] = &beat{since: now, last: now, attempt: ev.Attempt}
	} else {
		delete(p.running, ev.Node)
	}
	fmt.Fprintln(p.w, transitionLine(ev))
}

func (p *plainProgress) Note(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, line)
}

func (p *plainProgress) Running() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.running)
}

func (p *plainProgress) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	<-p.done
}

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
		fmt.Fprintln(v.w, v.paint(transitionLine(ev), eventColor(ev)))
	}
	v.redraw()
}

func (v *liveView) Note(line string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.clear()
	fmt.Fprintln(v.w, line)
	v.redraw()
}

func (v *liveView) Running() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.running)
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

// elapsed is a heartbeat's running time: whole seconds (5m30s), or
// milliseconds under a second.
func elapsed(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
