package config

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a config: where it is and what to do.
type Problem struct {
	// File is the config file's name as given to Parse.
	File string
	// Line is the 1-based line of the key, or of the nearest enclosing key
	// present in the file; 0 when there is none.
	Line int
	// Path is the field path, e.g. cluster.controllers.count or
	// phases[1].depends_on[0]; empty for the document itself.
	Path string
	// Msg says what is wrong and, in parentheses, how to fix it.
	Msg string
}

// String formats the problem as file:line: path: msg.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(":")
	}
	if p.Line > 0 {
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(":")
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is every problem found in a config, sorted by line then path. The
// warnings found alongside are kept so the caller can show them too.
type Error struct {
	Problems []Problem
	Warnings []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads and parses the config file at path; see Parse.
func Load(path string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Check reads, parses and validates the config file at path for a run with
// the given flags (Parse, then Config.Validate), and reports every problem
// of both at once in one *Error sorted by line, with the warnings. Unlike
// Load it returns the config even when it has problems, as long as the file
// is a readable YAML mapping (a field that failed to decode keeps its
// default), so that the caller can look for problems of its own in it (the
// phase graph a run would build, see phases.Registry.Graph) and report them
// together. Such a config is for finding problems only, never for a run.
// A nil config comes with the error that made the file unreadable.
func Check(path string, run RunFlags) (*Config, []Problem, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, nil, err
	}
	c, perr := parse(data, path)
	if c == nil {
		return nil, nil, perr
	}
	var probs []Problem
	flagged := map[string]bool{} // paths with a problem already
	if perr != nil {
		var e *Error
		if !errors.As(perr, &e) {
			return nil, nil, perr
		}
		probs = e.Problems
		for _, p := range probs {
			flagged[p.Path] = true
		}
	}
	warnings, verr := c.validate(run, true)
	if verr != nil {
		var e *Error
		if !errors.As(verr, &e) {
			return nil, nil, verr
		}
		for _, p := range e.Problems {
			if !flagged[p.Path] {
				probs = append(probs, p)
			}
		}
	}
	if len(probs) > 0 {
		sortProblems(probs)
		return c, warnings, &Error{Problems: probs, Warnings: warnings}
	}
	c.warnings = warnings
	return c, warnings, nil
}

// readFile reads the config file at path after CheckFile: never a FIFO,
// a device or more than MaxFileSize.
func readFile(path string) ([]byte, error) {
	if err := CheckFile(path); err != nil {
		return nil, err
	}
	// O_NONBLOCK: a FIFO swapped in since CheckFile must not block open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	defer f.Close()
	// The file may have been replaced since CheckFile: check what was
	// opened, and never read more than MaxFileSize.
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read config %s: not a regular file (point --config at a YAML file)", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("read config %s: larger than %d MiB (a k0rdent.yaml is a few KiB: point --config at the deployment config)", path, MaxFileSize>>20)
	}
	return data, nil
}

// MaxFileSize is the largest config file Load reads: a k0rdent.yaml is a
// few KiB, and a bigger file is the wrong one.
const MaxFileSize = 4 << 20

// CheckFile refuses a config path before anything reads it: missing, a
// dangling symlink, a directory, a FIFO (reading would block), a device
// (/dev/zero would be read until memory runs out), a socket, or a file
// larger than MaxFileSize. Each error names the file and the fix.
func CheckFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if li, lerr := os.Lstat(path); lerr == nil && li.Mode()&os.ModeSymlink != 0 {
				target, _ := os.Readlink(path)
				return fmt.Errorf("read config %s: a symlink to %s, which does not exist (fix or remove the link, or point --config at an existing file)", path, target)
			}
			initCmd := "k0rdent init"
			if path != "k0rdent.yaml" {
				initCmd += " --config " + path
			}
			return fmt.Errorf("read config %s: %w (create one with `%s`, or point --config at an existing file)", path, err, initCmd)
		}
		return fmt.Errorf("read config %s: %w", path, err)
	}
	switch m := fi.Mode(); {
	case m.IsDir():
		return fmt.Errorf("read config %s: is a directory (point --config at a file, e.g. %s)", path, filepath.Join(path, "k0rdent.yaml"))
	case m&os.ModeNamedPipe != 0:
		return fmt.Errorf("read config %s: is a named pipe (FIFO), not a file (point --config at a YAML file; to generate one, write it to a file first)", path)
	case m&os.ModeDevice != 0:
		return fmt.Errorf("read config %s: is a device, not a file (point --config at a YAML file)", path)
	case m&os.ModeSocket != 0:
		return fmt.Errorf("read config %s: is a socket, not a file (point --config at a YAML file)", path)
	case !m.IsRegular():
		return fmt.Errorf("read config %s: not a regular file (point --config at a YAML file)", path)
	case fi.Size() > MaxFileSize:
		return fmt.Errorf("read config %s: %d bytes, larger than %d MiB (a k0rdent.yaml is a few KiB: point --config at the deployment config)", path, fi.Size(), MaxFileSize>>20)
	}
	return nil
}

// Parse decodes a k0rdent.yaml strictly, applies the defaults and validates
// it as far as it can without the run flags. Every problem is reported at
// once in an *Error, sorted by line; warnings are available from
// Config.Warnings (and in Error.Warnings on failure). On error the returned
// Config is nil.
//
// The CLI validates again with the run's flags (Config.Validate): the kof
// and azure_children sections are checked only there, since --with-kof and
// --with-azure-children take precedence over their enabled keys in both
// directions (a section that is off for the run is not checked), and
// --with-azure-children satisfies KOF's need for Azure credentials: a file
// with kof.enabled: true parses without azure_children enabled, and
// Validate decides.
func Parse(data []byte, filename string) (*Config, error) {
	c, err := parse(data, filename)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// parse is Parse, except that on problems it returns the config decoded so
// far beside the error, unless the file is not a readable YAML mapping
// (see Check).
func parse(data []byte, filename string) (*Config, error) {
	c := preset()
	c.file = filename
	c.lines = map[string]int{}
	d := &decoder{file: filename, lines: c.lines, data: data}
	if !utf8.Valid(data) {
		// yaml.v3 reports invalid UTF-8 without a line.
		line, col := invalidUTF8At(data)
		d.add(line, "", "invalid UTF-8 at column %d (save the file as UTF-8)", col)
		return nil, &Error{Problems: d.probs}
	}
	d.document(data, reflect.ValueOf(c).Elem())
	if d.unreadable {
		return nil, &Error{Problems: d.probs}
	}
	c.SetDefaults()
	// Validate even when decoding found problems, so that one pass reports
	// everything; a field that failed to decode kept its default and is
	// reported once, by the decoder.
	warnings, err := c.validate(RunFlags{}, false)
	var verr *Error
	if err != nil && !errors.As(err, &verr) {
		return nil, err
	}
	if len(d.probs) > 0 || verr != nil {
		probs := d.probs
		bad := map[string]bool{}
		for _, p := range d.probs {
			bad[p.Path] = true
		}
		if verr != nil {
			for _, p := range verr.Problems {
				if !bad[p.Path] {
					probs = append(probs, p)
				}
			}
		}
		sortProblems(probs)
		return c, &Error{Problems: probs, Warnings: warnings}
	}
	c.warnings = warnings
	return c, nil
}

var yamlErrLine = lazyRE(`^yaml: line (\d+): (.*)$`)

type decoder struct {
	file  string
	data  []byte // the file, for hints on YAML syntax errors
	probs []Problem
	lines map[string]int
	// unreadable is set when the file is not YAML or not a mapping, so
	// validating the defaults would only add noise.
	unreadable bool
}

func (d *decoder) add(line int, path, format string, args ...any) {
	d.probs = append(d.probs, Problem{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) document(data []byte, v reflect.Value) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return // empty file: all defaults
		}
		d.yamlError(err)
		d.unreadable = true
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.add(extra.Line, "", "a second YAML document (keep one document per file)")
	} else if !errors.Is(err, io.EOF) {
		d.yamlError(err)
	}
	if len(doc.Content) == 0 {
		return
	}
	if root := doc.Content[0]; root.Kind != yaml.MappingNode && !(root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
		d.add(root.Line, "", "want a mapping of keys (azure:, cluster:, ...), got %s", describe(root))
		d.unreadable = true
		return
	}
	d.value(doc.Content[0], v, "")
}

func (d *decoder) yamlError(err error) {
	msg := err.Error()
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.add(line, "", "invalid YAML: %s (%s)", m[2], d.syntaxFix(line))
		return
	}
	d.add(0, "", "invalid YAML: %s (fix the YAML syntax)", strings.TrimPrefix(msg, "yaml: "))
}

// syntaxFix is the fix of a YAML syntax error reported at line: a tab in
// the indentation there or next to it (yaml.v3 reports some errors a line
// off) is the usual cause; else the syntax around the line.
func (d *decoder) syntaxFix(line int) string {
	lines := strings.Split(string(d.data), "\n")
	for _, l := range []int{line, line - 1, line + 1} {
		if l < 1 || l > len(lines) {
			continue
		}
		text := lines[l-1]
		indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
		if strings.Contains(indent, "\t") {
			return fmt.Sprintf("line %d is indented with a tab; indent with spaces", l)
		}
	}
	return "fix the YAML syntax near this line: check brackets, quotes and indentation"
}

var durationType = reflect.TypeFor[Duration]()

// value decodes n into v, recording the line of every path it visits.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // key present with no value: keep the default
	}
	if v.Type() == durationType {
		if n.Kind != yaml.ScalarNode {
			d.add(n.Line, path, "want a duration like 30s or 10m, got a %s", kindName(n))
			return
		}
		dur, err := parseDuration(n.Value)
		if err != nil {
			d.add(n.Line, path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(dur))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.add(n.Line, path, "want a list, got a %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.lines[p] = item.Line
			d.value(item, s.Index(i), p)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.add(n.Line, path, "want a mapping of names to values, got a %s", kindName(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := path + "." + k.Value
			if k.Kind != yaml.ScalarNode {
				d.add(k.Line, path, "a key must be a plain name, got a %s", kindName(k))
				continue
			}
			if first, dup := seen[k.Value]; dup {
				d.add(k.Line, p, "duplicate key (first on line %d; keep one)", first)
				continue
			}
			seen[k.Value] = k.Line
			d.lines[p] = k.Line
			e := reflect.New(v.Type().Elem()).Elem()
			d.value(val, e, p)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.add(n.Line, path, "want a string, got a %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		if n.Kind != yaml.ScalarNode {
			d.add(n.Line, path, "want an integer, got a %s", kindName(n))
			return
		}
		if n.Tag == "!!float" {
			// yaml.v3 truncates 1.5 to 1 and reads 1e1 as 10.
			d.add(n.Line, path, "want an integer, got %q (write a whole number without a fraction or exponent, e.g. 3)", n.Value)
			return
		}
		var i int
		if err := n.Decode(&i); err != nil || n.Tag != "!!int" {
			d.add(n.Line, path, "want an integer, got %q", n.Value)
			return
		}
		v.SetInt(int64(i))
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.add(n.Line, path, "want true or false, got %s", describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.add(n.Line, path, "want true or false, got %q", n.Value)
			return
		}
		v.SetBool(b)
	default:
		panic(fmt.Sprintf("config: field %s has unsupported type %s", path, v.Type()))
	}
}

// mapping decodes a YAML mapping into struct v, strictly.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.add(n.Line, path, "want a mapping, got %s", describe(n))
		return
	}
	fields := structFields(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
			d.merge(val, v, path)
			continue
		}
		if path == "" && strings.HasPrefix(k.Value, "x-") {
			continue // extension key, a place for anchors
		}
		p := join(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			d.add(k.Line, path, "a key must be a plain name, got a %s", kindName(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.add(k.Line, p, "duplicate key (first on line %d; keep one)", first)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			if hint, ok := legacyKeys[p]; ok {
				d.add(k.Line, p, "unknown key: %s", hint)
				continue
			}
			d.add(k.Line, p, "unknown key%s", suggest(k.Value, slices.Sorted(maps.Keys(fields))))
			continue
		}
		d.lines[p] = k.Line
		d.value(val, v.Field(idx), p)
	}
}

// merge applies a YAML merge key (<<: *anchor) to struct v.
func (d *decoder) merge(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		d.mapping(n, v, path)
	case yaml.SequenceNode:
		for _, item := range n.Content {
			d.merge(item, v, path)
		}
	default:
		d.add(n.Line, path, "a merge key (<<) needs a mapping or an alias to one")
	}
}

// structFields maps yaml key names to field indexes.
func structFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	return m
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	default:
		return "scalar"
	}
}

func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return strconv.Quote(n.Value)
	}
	return "a " + kindName(n)
}

// suggest returns " (did you mean "x"?)" for the nearest known key, or the
// list of known keys when none is near.
func suggest(key string, known []string) string {
	best, bestDist := "", -1
	for _, k := range known {
		dist := levenshtein(strings.ToLower(key), k)
		if bestDist < 0 || dist < bestDist {
			best, bestDist = k, dist
		}
	}
	limit := max(2, len(key)/3)
	if len(key) <= 3 {
		limit = 1
	}
	if best != "" && (bestDist <= limit || strings.Contains(best, strings.ToLower(key)) && len(key) >= 3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return fmt.Sprintf(" (known keys: %s)", strings.Join(known, ", "))
}

// levenshtein is the edit distance between a and b, by bytes.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return strings.Compare(a.Path, b.Path)
	})
}

// invalidUTF8At is the line and column (1-based, in bytes) of the first
// byte of data that is not valid UTF-8.
func invalidUTF8At(data []byte) (line, col int) {
	line, start := 1, 0
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return line, i - start + 1
		}
		if r == '\n' {
			line, start = line+1, i+1
		}
		i += size
	}
	return line, len(data) - start + 1
}
