// Package outputfile reads the file a command phase writes its outputs to
// ($K0RDENT_OUTPUT): one key=value per line (see Parse).
//
// It is a package of its own, importing only the standard library, so that
// its fuzz target instruments a small binary: in package phases, which
// links Helm, client-go and k0sctl, the same target replayed its corpus
// for most of its budget and then ran about 150 inputs a second.
package outputfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// MaxSize bounds the file. Outputs are journalled references (paths, ids,
// addresses), not data.
const MaxSize = 1 << 20

// Read parses the file at path.
func Read(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("larger than %d bytes; outputs are references: write data to a file and output its path", MaxSize)
	}
	return Parse(data)
}

// Parse parses the key=value protocol of the $K0RDENT_OUTPUT file:
// one output per line; blank lines and lines starting with '#' are ignored;
// the key is everything before the first '=', the value everything after it
// (it may contain '=' but not a newline). A key starts with a letter and
// holds only letters, digits, '_', '-' and '.'; a later line for the same
// key wins. Values must be valid UTF-8 without NUL or other control
// characters except tab. Every malformed line is reported, with its number.
func Parse(data []byte) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxSize+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("line %d: %q is not key=value", n, truncate(line)))
		case !validOutputKey(key):
			errs = append(errs, fmt.Errorf("line %d: key %q is invalid (start with a letter; letters, digits, '_', '-', '.' only)", n, truncate(key)))
		case !utf8.ValidString(value):
			errs = append(errs, fmt.Errorf("line %d: value of %s is not valid UTF-8", n, key))
		case strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }):
			errs = append(errs, fmt.Errorf("line %d: value of %s contains a control character", n, key))
		default:
			out[key] = value
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func validOutputKey(k string) bool {
	if k == "" || len(k) > 128 {
		return false
	}
	for i, ch := range []byte(k) {
		letter := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z'
		if i == 0 && !letter {
			return false
		}
		if !letter && !(ch >= '0' && ch <= '9') && ch != '_' && ch != '-' && ch != '.' {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
