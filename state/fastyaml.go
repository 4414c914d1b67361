package state

import (
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// A fast decoder for the documents this package writes. yaml.v3 costs
// about 40 µs per document, which makes listing 10,000 runs or loading a
// 100,000-record run slow. The documents are yaml.v3's own block output of
// flat structs, so they use a small subset of YAML: top-level "key: scalar"
// lines and "key:" followed by 4-space-indented "k: scalar" or "- scalar"
// lines, with plain, single-quoted or escape-free double-quoted scalars.
// The fast decoder accepts exactly that subset and reports ok=false for
// anything else (block scalars, flow collections, escapes, comments,
// anchors, tags, unknown or repeated keys, unusual numbers, booleans and
// times), and the caller falls back to yaml.v3. Whenever it accepts a
// body it must produce what yaml.v3 produces: TestFastDecode and
// FuzzFastDecode check that.

// fastLine is one parsed top-level entry.
type fastEntry struct {
	key    string
	val    string // unquoted scalar
	plain  bool   // val was a plain (unquoted) scalar
	null   bool   // no value, or a null plain scalar
	nested bool   // "key:" followed by indented lines
	list   []fastScalar
	m      []fastKV
}

type fastScalar struct {
	val   string
	plain bool
	null  bool
}

type fastKV struct {
	key string
	fastScalar
	sub  bool         // "k:" followed by 8-space-indented "- scalar" lines
	list []fastScalar // the items of sub
}

// fastScalarOf parses a scalar as yaml.v3 writes it.
func fastScalarOf(s string) (fastScalar, bool) {
	if s == "" {
		return fastScalar{null: true, plain: true}, true
	}
	switch s[0] {
	case '\'':
		if len(s) < 2 || s[len(s)-1] != '\'' {
			return fastScalar{}, false
		}
		inner := s[1 : len(s)-1]
		if strings.Count(inner, "'")%2 != 0 || strings.Contains(strings.ReplaceAll(inner, "''", ""), "'") {
			return fastScalar{}, false
		}
		return fastScalar{val: strings.ReplaceAll(inner, "''", "'")}, true
	case '"':
		if len(s) < 2 || s[len(s)-1] != '"' {
			return fastScalar{}, false
		}
		inner := s[1 : len(s)-1]
		if strings.ContainsAny(inner, "\"\\") {
			return fastScalar{}, false
		}
		return fastScalar{val: inner}, true
	case '[', ']', '{', '}', '&', '*', '!', '|', '>', '%', '@', '`', '#', '?', ':', '-', ',', ' ', '\t':
		return fastScalar{}, false
	}
	if strings.Contains(s, ": ") || strings.Contains(s, " #") || strings.HasSuffix(s, ":") ||
		strings.HasSuffix(s, " ") || strings.ContainsAny(s, "\t\r") {
		return fastScalar{}, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return fastScalar{}, false
		}
	}
	switch s {
	case "~", "null", "Null", "NULL":
		return fastScalar{null: true, plain: true}, true
	}
	return fastScalar{val: s, plain: true}, true
}

// fastEntries recycles fastParse's entries between documents: a record
// or header is decoded from them into values of its own, so they are free
// again once fastRecord or fastHeader returns (listing 10,000 runs decoded
// 20,000 documents and allocated 20 MB of entries for them alone).
var fastEntries = sync.Pool{New: func() any { return new([]fastEntry) }}

// parseEntries is fastParse into recycled entries; done gives them back.
func parseEntries(body []byte) (entries []fastEntry, done func(), ok bool) {
	p := fastEntries.Get().(*[]fastEntry)
	entries, ok = fastParse(body, (*p)[:0])
	return entries, func() {
		clear(entries) // no strings or slices kept alive from the pool
		*p = entries[:0]
		fastEntries.Put(p)
	}, ok
}

// fastParse splits a body into top-level entries, appended to out.
func fastParse(body []byte, out []fastEntry) ([]fastEntry, bool) {
	if !yamlPrintable(body) {
		return out, false
	}
	// One string for the whole body: the lines, keys and values are
	// slices of it (one allocation per document, not one per line).
	doc := string(body)
	for len(doc) > 0 {
		nl := strings.IndexByte(doc, '\n')
		if nl < 0 {
			return out, false
		}
		line := doc[:nl]
		doc = doc[nl+1:]
		if rest, ok := strings.CutPrefix(line, "    "); ok {
			if len(out) == 0 || !out[len(out)-1].nested {
				return out, false
			}
			e := &out[len(out)-1]
			if item, ok := strings.CutPrefix(rest, "    - "); ok {
				if len(e.m) == 0 || !e.m[len(e.m)-1].sub {
					return out, false
				}
				sc, ok := fastScalarOf(item)
				if !ok || sc.val == "" && sc.null {
					return out, false
				}
				kv := &e.m[len(e.m)-1]
				kv.list = append(kv.list, sc)
				continue
			}
			if item, ok := strings.CutPrefix(rest, "- "); ok {
				if len(e.m) > 0 {
					return out, false
				}
				sc, ok := fastScalarOf(item)
				if !ok || sc.val == "" && sc.null {
					return out, false
				}
				e.list = append(e.list, sc)
				continue
			}
			k, v, ok := strings.Cut(rest, ":")
			if !ok || len(e.list) > 0 || !fastKey(k) || v != "" && v[0] != ' ' {
				return out, false
			}
			for _, kv := range e.m {
				if kv.key == k {
					return out, false
				}
			}
			if v == "" {
				e.m = append(e.m, fastKV{key: k, fastScalar: fastScalar{null: true, plain: true}, sub: true})
				continue
			}
			sc, ok := fastScalarOf(v[1:])
			if !ok {
				return out, false
			}
			e.m = append(e.m, fastKV{key: k, fastScalar: sc})
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || !fastKey(k) {
			return out, false
		}
		for i := range out {
			if out[i].key == k {
				return out, false
			}
		}
		if v == "" {
			out = append(out, fastEntry{key: k, nested: true, null: true})
			continue
		}
		if v[0] != ' ' {
			return out, false
		}
		sc, ok := fastScalarOf(v[1:])
		if !ok {
			return out, false
		}
		out = append(out, fastEntry{key: k, val: sc.val, plain: sc.plain, null: sc.null})
	}
	return out, true
}

// yamlPrintable reports whether body is valid UTF-8 made only of the
// characters YAML allows unescaped (tab and CR excluded, no BOM).
func yamlPrintable(body []byte) bool {
	for i := 0; i < len(body); {
		c := body[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError || !(r == 0x85 || r >= 0xa0 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd && r != 0xfeff || r >= 0x10000 && r <= 0x10ffff) {
			return false
		}
		i += size
	}
	return true
}

// fastKey accepts the keys yaml.v3 writes unquoted for our fields and
// plain map keys: lower-case letters, digits, _, -, . and /.
func fastKey(k string) bool {
	if k == "" || k[0] == '-' || k[0] == '.' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '/') {
			return false
		}
	}
	switch k {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return false // yaml.v3 quotes or resolves these specially
	}
	return true
}

// Conversions of a plain scalar; ok=false means "let yaml.v3 decide".

func fastString(e fastEntry) (string, bool) {
	if e.nested && (len(e.list) > 0 || len(e.m) > 0) {
		return "", false
	}
	if e.null {
		return "", true
	}
	return e.val, true
}

func fastUint(e fastEntry) (uint64, bool) {
	if e.nested || !e.plain || e.null || e.val == "" || len(e.val) > 1 && e.val[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(e.val); i++ {
		if e.val[i] < '0' || e.val[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(e.val, 10, 63)
	return n, err == nil
}

func fastBoolOf(val string, plain, null bool) (bool, bool) {
	if !plain || null {
		return false, false
	}
	switch val {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

func fastTime(e fastEntry) (time.Time, bool) {
	if e.nested || !e.plain || e.null || !strings.HasSuffix(e.val, "Z") || len(e.val) < 20 || e.val[10] != 'T' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, e.val)
	if err != nil || t.Year() < 1 {
		return time.Time{}, false
	}
	return t, true
}

func fastStringMap(e fastEntry) (map[string]string, bool) {
	if !e.nested || len(e.list) > 0 {
		return nil, false
	}
	if len(e.m) == 0 {
		return nil, true
	}
	m := make(map[string]string, len(e.m))
	for _, kv := range e.m {
		if kv.null {
			return nil, false
		}
		m[kv.key] = kv.val
	}
	return m, true
}

func fastBoolMap(e fastEntry) (map[string]bool, bool) {
	if !e.nested || len(e.list) > 0 {
		return nil, false
	}
	if len(e.m) == 0 {
		return nil, true
	}
	m := make(map[string]bool, len(e.m))
	for _, kv := range e.m {
		b, ok := fastBoolOf(kv.val, kv.plain, kv.null)
		if !ok {
			return nil, false
		}
		m[kv.key] = b
	}
	return m, true
}

func fastList(e fastEntry) ([]string, bool) {
	if !e.nested || len(e.m) > 0 {
		return nil, false
	}
	if len(e.list) == 0 {
		return nil, true
	}
	l := make([]string, len(e.list))
	for i, sc := range e.list {
		if sc.null {
			return nil, false
		}
		l[i] = sc.val
	}
	return l, true
}

// fastListMap decodes a map of non-empty string lists (Header.Deps).
func fastListMap(e fastEntry) (map[string][]string, bool) {
	if !e.nested || len(e.list) > 0 {
		return nil, false
	}
	if len(e.m) == 0 {
		return nil, true
	}
	m := make(map[string][]string, len(e.m))
	for _, kv := range e.m {
		if !kv.sub || len(kv.list) == 0 {
			return nil, false
		}
		l := make([]string, len(kv.list))
		for i, sc := range kv.list {
			if sc.null {
				return nil, false
			}
			l[i] = sc.val
		}
		m[kv.key] = l
	}
	return m, true
}

// fastRecord decodes a record body, or reports ok=false.
func fastRecord(body []byte) (rec Record, ok bool) {
	entries, done, ok := parseEntries(body)
	defer done()
	if !ok {
		return rec, false
	}
	for _, e := range entries {
		var s string
		switch e.key {
		case "kind", "node", "from", "to", "reason", "error", "outcome", "by", "digest", "own_digest", "built_in":
			if s, ok = fastString(e); !ok {
				return rec, false
			}
		}
		switch e.key {
		case "kind":
			rec.Kind = Kind(s)
		case "node":
			rec.Node = s
		case "from":
			rec.From = workflow.State(s)
		case "to":
			rec.To = workflow.State(s)
		case "reason":
			rec.Reason = s
		case "error":
			rec.Error = s
		case "outcome":
			rec.Outcome = Outcome(s)
		case "by":
			rec.By = s
		case "digest":
			rec.Digest = s
		case "own_digest":
			rec.OwnDigest = s
		case "built_in":
			rec.BuiltIn = s
		case "seq":
			rec.Seq, ok = fastUint(e)
		case "attempt":
			var n uint64
			n, ok = fastUint(e)
			rec.Attempt = int(n)
		case "time":
			rec.Time, ok = fastTime(e)
		case "duration":
			if ok = !e.nested && e.plain && !e.null; ok {
				var err error
				rec.Duration, err = time.ParseDuration(e.val)
				ok = err == nil && e.val[0] != '+' && e.val[0] != '-' && e.val[0] != '.'
			}
		case "outputs":
			rec.Outputs, ok = fastStringMap(e)
		case "flags":
			rec.Flags, ok = fastBoolMap(e)
		case "failed_nodes":
			rec.FailedNodes, ok = fastList(e)
		case "only":
			rec.Only, ok = fastList(e)
		case "select_from":
			rec.SelectFrom, ok = fastList(e)
		case "skip":
			rec.Skip, ok = fastList(e)
		default: // previous, unknown keys
			return rec, false
		}
		if !ok {
			return rec, false
		}
	}
	return rec, true
}

// fastHeader decodes a header body, or reports ok=false.
func fastHeader(body []byte) (h headerDoc, ok bool) {
	entries, done, ok := parseEntries(body)
	defer done()
	if !ok {
		return h, false
	}
	for _, e := range entries {
		var s string
		switch e.key {
		case "kind", "run_id", "parent_run_id", "operator", "host", "tool_version", "config_path", "config_digest", "cluster_id":
			if s, ok = fastString(e); !ok {
				return h, false
			}
		}
		switch e.key {
		case "kind":
			h.Kind = Kind(s)
		case "run_id":
			h.RunID = s
		case "parent_run_id":
			h.ParentRunID = s
		case "operator":
			h.Operator = s
		case "host":
			h.Host = s
		case "tool_version":
			h.ToolVersion = s
		case "config_path":
			h.ConfigPath = s
		case "config_digest":
			h.ConfigDigest = s
		case "cluster_id":
			h.ClusterID = s
		case "format":
			var n uint64
			n, ok = fastUint(e)
			h.Format = int(n)
		case "created":
			h.Created, ok = fastTime(e)
		case "flags":
			h.Flags, ok = fastBoolMap(e)
		case "nodes":
			h.Nodes, ok = fastList(e)
		case "deps":
			h.Deps, ok = fastListMap(e)
		case "projects":
			h.Projects, ok = fastListMap(e)
		case "only":
			h.Only, ok = fastList(e)
		case "from":
			h.From, ok = fastList(e)
		case "skip":
			h.Skip, ok = fastList(e)
		case "migrated":
			if ok = !e.nested; ok {
				h.Migrated, ok = fastBoolOf(e.val, e.plain, e.null)
			}
		default:
			return h, false
		}
		if !ok {
			return h, false
		}
	}
	return h, true
}

// decodeRecordBody and decodeHeaderBody try the fast decoder, then yaml.v3.
func decodeRecordBody(body []byte, rec *Record) error {
	if r, ok := fastRecord(body); ok {
		*rec = r
		return nil
	}
	return unmarshal(body, rec)
}

// headerOf and recordOf are decodeHeaderBody and decodeRecordBody
// returning values: the document stays on the caller's stack whenever the
// fast decoder accepts it (List decodes two documents per run).
func headerOf(body []byte) (headerDoc, error) {
	if h, ok := fastHeader(body); ok {
		h.Teardown = h.Kind == KindTeardown
		return h, nil
	}
	h := new(headerDoc)
	err := decodeHeaderBody(body, h)
	return *h, err
}

func recordOf(body []byte) (Record, error) {
	if rec, ok := fastRecord(body); ok {
		return rec, nil
	}
	rec := new(Record)
	err := unmarshal(body, rec)
	return *rec, err
}

func decodeHeaderBody(body []byte, h *headerDoc) error {
	if hd, ok := fastHeader(body); ok {
		*h = hd
	} else if err := unmarshal(body, h); err != nil {
		return err
	}
	h.Teardown = h.Kind == KindTeardown
	return nil
}
