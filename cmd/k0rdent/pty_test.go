//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
)

// openPTY opens a pseudo-terminal pair: the controlling side the test
// reads and writes, and the terminal side k0rdent gets as its streams.
func openPTY(t *testing.T) (ptmx, pts *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		testenv.Missing(t, "no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pts: %v", err)
	}
	t.Cleanup(func() { ptmx.Close(); pts.Close() })
	return ptmx, pts
}

// screen collects what k0rdent writes to the terminal.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *screen) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(s.String(), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("terminal never showed %q:\n%q", want, s.String())
}

// TestRun_OnARealTerminal runs k0rdent on a pseudo-terminal: it asks
// whether to resume an unfinished run, reads the answer from the
// terminal, and shows the live view.
func TestRun_OnARealTerminal(t *testing.T) {
	t.Parallel() // its own project and processes
	p := newProject(t, baseConfig+"phases:\n  - name: nap\n    command: [sh, -c, 'test ! -e broken && sleep 0.7']\n")
	if err := os.WriteFile(p.path("broken"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := p.run("run"); r.code != 1 {
		t.Fatalf("first run should fail:\n%s", r)
	}
	first := p.currentRun().Header.RunID
	os.Remove(p.path("broken"))

	ptmx, pts := openPTY(t)
	c := p.cmd("run")
	c.Stdin, c.Stdout, c.Stderr = pts, pts, pts
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close() // the child has its own copies
	scr := &screen{}
	go func() { _, _ = io.Copy(scr, ptmx) }() // ends with EIO once k0rdent closed the terminal
	scr.waitFor(t, "[R/f]")
	if _, err := ptmx.Write([]byte("f\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err != nil {
		t.Fatalf("run on a terminal: %v\n%q", err, scr.String())
	}
	scr.waitFor(t, "succeeded in")
	out := scr.String()
	if !strings.Contains(out, "\x1b[1A\r\x1b[2K") {
		t.Errorf("no live redraw on the terminal:\n%q", out)
	}
	if !strings.Contains(out, "nap") || !strings.Contains(out, "running") {
		t.Errorf("no running line in the live view:\n%q", out)
	}
	rf := p.currentRun()
	if rf.Header.ParentRunID != first {
		t.Errorf("answer f: want a fresh run with parent %s, got run %s parent %q", first, rf.Header.RunID, rf.Header.ParentRunID)
	}
}
