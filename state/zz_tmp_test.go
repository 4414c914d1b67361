package state

import (
	"os"
	"testing"
)

func BenchmarkTmpListDir(b *testing.B) {
	dir := os.Getenv("LISTDIR")
	if dir == "" {
		b.Skip()
	}
	s := NewStore(dir)
	for b.Loop() {
		infos, err := s.List()
		if err != nil || len(infos) != 10000 {
			b.Fatal(err)
		}
	}
}
