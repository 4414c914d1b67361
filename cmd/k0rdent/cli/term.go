package cli

import (
	"io"
	"os"

	"golang.org/x/term"
)

// isTerminal reports whether stream is an *os.File attached to a terminal.
// A char-device check is not enough: /dev/null is a char device too, and a
// process started by CI or a test has it as stdin.
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalWidth is the width of stream when it is a terminal, else 0.
func terminalWidth(stream io.Writer) int {
	f, ok := stream.(*os.File)
	if !ok {
		return 0
	}
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return w
}
