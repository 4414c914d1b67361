package state

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode: the run file decoder never panics and puts every input in
// exactly one class: clean, torn (a valid prefix plus a torn tail), or
// refused (*CorruptError or *TransitionError). The valid prefix it reports
// decodes cleanly on its own, to the same records.
//
//	go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 20s ./state
func FuzzDecode(f *testing.F) {
	// Small seeds: the fuzzer minimizes every new input, and yaml.v3
	// under coverage instrumentation is slow, so a big seed (the golden
	// file) stalls a 20 s run in minimization.
	hdr, _ := encodeHeader(Header{RunID: "20261125-100000-0001", Created: t0})
	small := bytes.Clone(hdr)
	for i, body := range []string{
		"kind: transition\nseq: 1\ntime: 2026-11-25T10:00:01Z\nnode: a\nfrom: pending\nto: running\n",
		"kind: transition\nseq: 2\ntime: 2026-11-25T10:00:02Z\nnode: a\nfrom: running\nto: succeeded\noutputs:\n    k: v\n",
		"kind: outcome\nseq: 3\ntime: 2026-11-25T10:00:03Z\noutcome: succeeded\n",
	} {
		small = append(small, frame([]byte(body), uint64(i+1))...)
	}
	f.Add(small)
	f.Add(small[:len(small)-20])
	f.Add(hdr)
	f.Add(append(bytes.Clone(hdr), "---\nkind: transition\nseq: 1\n"...))
	f.Add(append(bytes.Clone(hdr), frame([]byte("kind: transition\nseq: 1\ntime: 2026-11-25T10:00:01Z\nnode: a\nfrom: pending\nto: succeeded\n"), 1)...))
	f.Add(append(bytes.Clone(hdr), frame([]byte("kind: [\n"), 1)...))
	f.Add([]byte(""))
	f.Add([]byte("---\n"))
	f.Add([]byte("---\n# sum crc32c=00000000 seq=0\n"))
	f.Add([]byte("\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rf := decodeBytes(data, "fuzz.yaml")
		var te *TransitionError
		switch {
		case rf.Err != nil:
			if !errors.Is(rf.Err, ErrCorrupt) && !errors.As(rf.Err, &te) {
				t.Fatalf("unclassified error %T: %v", rf.Err, rf.Err)
			}
			if rf.Torn {
				t.Fatal("both torn and refused")
			}
		case rf.Torn:
			if rf.Size >= int64(len(data)) {
				t.Fatalf("torn with Size %d of %d bytes", rf.Size, len(data))
			}
		default:
			if rf.Size != int64(len(data)) {
				t.Fatalf("clean with Size %d of %d bytes", rf.Size, len(data))
			}
		}
		if rf.Size < 0 || rf.Size > int64(len(data)) {
			t.Fatalf("Size %d out of range", rf.Size)
		}
		for i, rec := range rf.Records {
			if rec.Seq != uint64(i+1) {
				t.Fatalf("record %d has seq %d", i, rec.Seq)
			}
		}
		if !rf.hasHeader {
			if rf.Err == nil {
				t.Fatal("no header but no error")
			}
			return
		}
		prefix := decodeBytes(data[:rf.Size], "fuzz.yaml")
		if prefix.Err != nil || prefix.Torn || len(prefix.Records) != len(rf.Records) {
			t.Fatalf("valid prefix of %d bytes decodes to err %v torn %v records %d, want clean with %d", rf.Size, prefix.Err, prefix.Torn, len(prefix.Records), len(rf.Records))
		}
	})
}
