package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// Schema is the value of the "schema" key that opens every JSON document
// the CLI writes (`-o json` on stdout, the error object on stderr). It
// changes only when a key is removed or changes meaning; new keys may be
// added under the same schema.
const Schema = "k0rdent/v1"

// schemaKey is the name of that key, the same in every document.
const schemaKey = "schema"

// writeJSON writes v, which must marshal to a JSON object, indented and
// with "schema" as its first key.
func writeJSON(w io.Writer, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeJSONObject(w, raw)
}

// writeJSONObject writes the JSON object raw (compact or indented, as
// another package's WriteJSON wrote it) indented, with "schema" inserted
// as its first key.
func writeJSONObject(w io.Writer, raw []byte) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' {
		return fmt.Errorf("json output: want an object, got %.20q", raw)
	}
	rest := bytes.TrimSpace(raw[1:])
	var doc bytes.Buffer
	fmt.Fprintf(&doc, "{%q:%q", schemaKey, Schema)
	if rest[0] != '}' {
		doc.WriteByte(',')
	}
	doc.Write(rest)
	var out bytes.Buffer
	if err := json.Indent(&out, doc.Bytes(), "", "  "); err != nil {
		return fmt.Errorf("json output: %w", err)
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// wantsJSON reports whether the command line asks for -o json (the last
// -o/--output before "--" wins): then errors are written as a JSON object
// and nothing else goes to stderr. It reads the words, not the parsed
// flags, so that an error found before the flags are parsed (a usage
// error, a bad --state-dir) is JSON too.
func wantsJSON(args []string) bool {
	out := ""
	for i := 1; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !strings.HasPrefix(arg, "-") || (name != "o" && name != flagOutput) {
			continue
		}
		if !hasValue && i+1 < len(args) {
			value = args[i+1]
			i++
		}
		out = strings.ToLower(value)
	}
	return out == "json"
}

// errorJSON is the document written on stderr for a failed command under
// -o json: the exit code, the whole message, the fix when the error says
// one, each config problem with its place, and whatever the command
// would otherwise have written on stderr (warnings, notices, logs).
type errorJSON struct {
	ExitCode int           `json:"exit_code"`
	Message  string        `json:"message"`
	Fix      string        `json:"fix"`
	Problems []problemJSON `json:"problems,omitempty"`
	Notices  []string      `json:"notices,omitempty"`
}

// problemJSON is one config.Problem.
type problemJSON struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// noticesJSON is the document written on stderr under -o json when a
// command that succeeded had something to say there.
type noticesJSON struct {
	Notices []string `json:"notices"`
}

// newErrorJSON describes err (exit code code) as a JSON error document.
func newErrorJSON(err error, code int, notices []string) errorJSON {
	doc := errorJSON{ExitCode: code, Message: err.Error(), Notices: notices}
	for _, ce := range configErrors(err) {
		for _, p := range ce.Problems {
			doc.Problems = append(doc.Problems, problemJSON{File: p.File, Line: p.Line, Field: p.Path, Message: p.Msg, Fix: parenthesised(p.Msg)})
		}
	}
	doc.Fix = errorFix(err)
	if doc.Fix == "" && len(doc.Problems) == 1 {
		doc.Fix = doc.Problems[0].Fix
	}
	if doc.Fix == "" && len(doc.Problems) > 1 {
		doc.Fix = fmt.Sprintf("fix each of the %d problems (each says how)", len(doc.Problems))
	}
	return doc
}

// configErrors are the *config.Error in err's tree (Registry.Build joins
// several), in order.
func configErrors(err error) []*config.Error {
	if ce, ok := err.(*config.Error); ok {
		return []*config.Error{ce}
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		var out []*config.Error
		for _, e := range u.Unwrap() {
			out = append(out, configErrors(e)...)
		}
		return out
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			return configErrors(e)
		}
	}
	return nil
}

// parenthesised is the trailing parenthesised part of a config problem,
// which says how to fix it (config.Problem.Msg); "" when there is none.
func parenthesised(msg string) string {
	msg = strings.TrimSpace(msg)
	if !strings.HasSuffix(msg, ")") {
		return ""
	}
	depth := 0
	for i := len(msg) - 1; i >= 0; i-- {
		switch msg[i] {
		case ')':
			depth++
		case '(':
			depth--
		}
		if depth == 0 {
			if i > 0 && msg[i-1] == ' ' {
				return strings.TrimSpace(msg[i+1 : len(msg)-1])
			}
			return ""
		}
	}
	return ""
}

// fixer is an error that says how to fix it.
type fixer interface{ Fix() string }

// errorFix is how to fix err: what an error in its chain says it is (a
// Fix method, a failed precondition's Fix), else the fix its message
// carries by the CLI's convention (fixOf).
func errorFix(err error) string {
	var f fixer
	if errors.As(err, &f) && f.Fix() != "" {
		return f.Fix()
	}
	var pe *workflow.PreconditionError
	if errors.As(err, &pe) && pe.Fix != "" {
		return pe.Fix
	}
	if len(configErrors(err)) > 0 {
		return "" // per problem
	}
	msg := err.Error()
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	return fixOf(msg)
}

// fixVerbs start the clause of a message that says what to do.
var fixVerbs = []string{"pass", "run", "see", "use", "fix", "resume", "repair", "list", "start", "create", "remove",
	"delete", "wait", "set", "upgrade", "inspect", "point", "pick", "select", "restore", "rename", "move", "add",
	"give", "check", "install", "did you mean", "write", "quote", "drop", "make", "choose", "replace", "name", "keep",
	"change", "omit", "leave", "enable", "turn", "define", "declare", "free", "lower", "raise", "unset", "export", "log in", "login"}

// fixOf is the fix a one-line message carries by the CLI's convention:
// in its trailing parenthesised part ("… (create one with `k0rdent
// init`)") or else in its own clauses, the clauses from the first one that
// starts with a verb saying what to do ("…; pass --yes to confirm");
// "" when it says none.
func fixOf(msg string) string {
	msg = strings.TrimSpace(msg)
	if p := parenthesised(msg); p != "" {
		if fix := fixClauses(p, 0); fix != "" {
			return fix
		}
		msg = strings.TrimSpace(strings.TrimSuffix(msg, "("+p+")"))
	}
	return fixClauses(msg, 1)
}

// fixClauses is s from its first clause (after "; ", ": " or ", or "),
// skipping the first from clauses, that starts with a fix verb.
func fixClauses(s string, from int) string {
	for _, sep := range []string{"; ", ": ", ", or "} {
		clauses := strings.Split(s, sep)
		for i := from; i < len(clauses); i++ {
			c := strings.ToLower(strings.TrimSpace(clauses[i]))
			for _, v := range fixVerbs {
				if c == v || strings.HasPrefix(c, v+" ") {
					return strings.TrimSpace(strings.Join(clauses[i:], sep))
				}
			}
		}
	}
	return ""
}

// lineCollector is stderr under -o json: it keeps every line written, to
// be reported in the one JSON document stderr gets. Writes from several
// goroutines (the logger, a signal handler) are serialised.
type lineCollector struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *lineCollector) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// lines are the non-empty lines written so far.
func (c *lineCollector) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range strings.Split(c.buf.String(), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
