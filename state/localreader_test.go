package state

import (
	"errors"
	"io"
	"os"
	"testing"
)

// TestLocalReader: ReadAt reads like os.File's (all of p and no error, or
// what there is and io.EOF), Size is the length, and a closed reader
// refuses.
func TestLocalReader(t *testing.T) {
	s := lockedStore(t)
	const id = "20261125-100000-0001"
	if err := os.MkdirAll(s.LocalBackend().RunsDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	data := []byte("0123456789abcdef")
	if err := os.WriteFile(s.LocalBackend().RunPath(id), data, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := s.LocalBackend().ReadJournal(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		len     int
		off     int64
		want    string
		wantEOF bool
	}{
		{name: "Inside", len: 4, off: 2, want: "2345"},
		{name: "ToTheEnd", len: 6, off: 10, want: "abcdef"},
		{name: "PastTheEnd", len: 10, off: 10, want: "abcdef", wantEOF: true},
		{name: "WholeInALargerBuffer", len: 4096, off: 0, want: string(data), wantEOF: true},
		{name: "AtTheEnd", len: 4, off: 16, want: "", wantEOF: true},
		{name: "Beyond", len: 4, off: 100, want: "", wantEOF: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := make([]byte, tt.len)
			n, err := r.ReadAt(p, tt.off)
			if string(p[:n]) != tt.want || errors.Is(err, io.EOF) != tt.wantEOF || err != nil && !errors.Is(err, io.EOF) {
				t.Errorf("ReadAt(%d bytes at %d) = %q, %v; want %q, EOF %v", tt.len, tt.off, p[:n], err, tt.want, tt.wantEOF)
			}
		})
	}
	if got := r.Size(); got != int64(len(data)) {
		t.Errorf("Size = %d, want %d", got, len(data))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(make([]byte, 4), 0); err == nil {
		t.Error("ReadAt after Close: no error")
	}
	if err := r.Close(); err == nil {
		t.Error("a second Close: no error")
	}
}
