package outputfile

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{name: "Empty", in: "", want: map[string]string{}},
		{name: "CRLFAndComments", in: "# c\r\na=1\r\n\r\nb.c-d_e=x y\t z\n", want: map[string]string{"a": "1", "b.c-d_e": "x y\t z"}},
		{name: "EmptyValue", in: "a=\n", want: map[string]string{"a": ""}},
		{name: "EmptyKey", in: "=v\n", wantErr: `line 1: key "" is invalid (start with a letter; letters, digits, '_', '-', '.' only)`},
		{name: "ControlCharacter", in: "a=x\x1b[0m\n", wantErr: "line 1: value of a contains a control character"},
		{name: "InvalidUTF8", in: "a=\xff\n", wantErr: "line 1: value of a is not valid UTF-8"},
		{name: "SpaceInKey", in: "my key=v\n", wantErr: `line 1: key "my key" is invalid (start with a letter; letters, digits, '_', '-', '.' only)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzParseOutputs: Parse never panics, and whatever it accepts
// survives a round trip through the key=value format.
func FuzzParseOutputs(f *testing.F) {
	for _, seed := range []string{"", "a=1\n", "# c\r\nb.c-d_e=x y\t z\n", "=v", "a=\xff", "k=v=w\nk=last\n", "no equals"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Parse(data)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(got)) {
			b.WriteString(k + "=" + got[k] + "\n")
		}
		again, err := Parse([]byte(b.String()))
		if err != nil {
			t.Fatalf("re-parsing %q: %v", b.String(), err)
		}
		if fmt.Sprint(again) != fmt.Sprint(got) {
			t.Fatalf("round trip: got %v, want %v", again, got)
		}
	})
}
