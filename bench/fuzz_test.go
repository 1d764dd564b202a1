package bench

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseLOB checks that ParseLOB never panics, that its errors name a
// line, and that whatever it accepts survives a WriteTo/ParseLOB round
// trip unchanged.
func FuzzParseLOB(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("#replay\r\nL 1 B 2 3\r\nM 2 S 9\r\nC 1\r\n#end a=-1\n"))
	f.Add([]byte("#seed\nL 1 B 1 9223372036854775807\n#end x=1 x=2\n"))
	f.Add([]byte("# comment\n#seed\n\tC 5\n#replay\n#end\n"))
	f.Add([]byte("#seed\nL 1 X 1 1\n"))
	var buf bytes.Buffer
	GenerateBook(5, 20, 50).WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		lf, err := ParseLOB(bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "bench: line ") {
				t.Fatalf("error without line: %v", err)
			}
			return
		}
		var out bytes.Buffer
		if _, err := lf.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		again, err := ParseLOB(bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out.Bytes())
		}
		if !lobEqual(lf, again) {
			t.Fatalf("round trip differs:\n%s", out.Bytes())
		}
	})
}
