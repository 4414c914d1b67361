package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

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

// askAttempts is how many unrecognised answers a prompt takes before it
// gives up with a usage error.
const askAttempts = 3

// ask prints question and reads answers from stdin until one is a key of
// choices (trimmed, lower-cased; "" is Enter), asking again after an
// unrecognised one, and returns the choice it maps to. End of input or
// askAttempts unrecognised answers is a usage error naming want.
func (a *app) ask(question, want string, choices map[string]string) (string, error) {
	r := bufio.NewReader(a.Stdin)
	for i := range askAttempts {
		fmt.Fprint(a.Stdout, question)
		line, err := r.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read answer: %w", err)
		}
		if line == "" && err != nil && i > 0 {
			return "", usageErrorf("no answer: want %s", want)
		}
		answer := strings.ToLower(strings.TrimSpace(line))
		if c, ok := choices[answer]; ok {
			return c, nil
		}
		if errors.Is(err, io.EOF) {
			return "", usageErrorf("answer %q: want %s", answer, want)
		}
		fmt.Fprintf(a.Stdout, "%q is not an answer: want %s.\n", answer, want)
	}
	return "", usageErrorf("no recognised answer after %d tries: want %s", askAttempts, want)
}
