package bench

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/instant-social-trading/ist/book"
)

const sample = `#seed
L 1 B 99990 10
L 2 S 100010 5
#replay
L 3 S 99990 4
M 4 B 7
C 1

# a comment
C 2
#end traded_qty=11 trades=2 resting_orders=0
#end bid_levels=0 bid_qty=0 best_bid=0
#end ask_levels=0 ask_qty=0 best_ask=0
`

func TestParseLOB(t *testing.T) {
	f, err := ParseLOB(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	wantSeed := []Op{
		{Kind: OpLimit, Side: book.Buy, ID: 1, Price: 99990, Qty: 10},
		{Kind: OpLimit, Side: book.Sell, ID: 2, Price: 100010, Qty: 5},
	}
	wantReplay := []Op{
		{Kind: OpLimit, Side: book.Sell, ID: 3, Price: 99990, Qty: 4},
		{Kind: OpMarket, Side: book.Buy, ID: 4, Qty: 7},
		{Kind: OpCancel, ID: 1},
		{Kind: OpCancel, ID: 2},
	}
	if !slices.Equal(f.Seed, wantSeed) {
		t.Errorf("seed = %+v, want %+v", f.Seed, wantSeed)
	}
	if !slices.Equal(f.Replay, wantReplay) {
		t.Errorf("replay = %+v, want %+v", f.Replay, wantReplay)
	}
	wantEnd := End{"traded_qty": 11, "trades": 2, "resting_orders": 0,
		"bid_levels": 0, "bid_qty": 0, "best_bid": 0,
		"ask_levels": 0, "ask_qty": 0, "best_ask": 0}
	if !maps.Equal(f.End, wantEnd) {
		t.Errorf("end = %v, want %v", f.End, wantEnd)
	}
	if got := f.MaxLive(); got != 3 {
		t.Errorf("MaxLive = %d, want 3", got)
	}
}

func TestParseLOBVariants(t *testing.T) {
	// CRLF line ends, tabs, extra spaces, no #seed, extra #end keys,
	// negative #end value, a one-byte reader.
	in := "#replay\r\n  L\t5 S 7 1 \r\n\r\nM 6 S 3\r\n#end x.y=-3\r\n#end\n"
	f, err := ParseLOB(iotest.OneByteReader(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Seed) != 0 || len(f.Replay) != 2 {
		t.Fatalf("seed %d replay %d, want 0 and 2", len(f.Seed), len(f.Replay))
	}
	if f.Replay[0] != (Op{Kind: OpLimit, Side: book.Sell, ID: 5, Price: 7, Qty: 1}) {
		t.Errorf("op 0 = %+v", f.Replay[0])
	}
	if f.End["x.y"] != -3 || len(f.End) != 1 {
		t.Errorf("end = %v", f.End)
	}
	// #end lines take any number of pairs.
	var many strings.Builder
	many.WriteString("  #end")
	for i := range 20 {
		fmt.Fprintf(&many, " k%d=%d", i, i)
	}
	f, err = ParseLOB(strings.NewReader(many.String()))
	if err != nil || len(f.End) != 20 || f.End["k19"] != 19 {
		t.Errorf("20 #end pairs: %v %v", err, f.End)
	}
	f, err = ParseLOB(strings.NewReader(""))
	if err != nil || len(f.Seed)+len(f.Replay)+len(f.End) != 0 {
		t.Errorf("empty input: %v %+v", err, f)
	}
}

func TestParseLOBErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"L 1 B 1 1\n", "bench: line 1: operation before #seed or #replay"},
		{"#seed\nL 1 B 1 1\nX 2\n", "bench: line 3: unknown operation \"X\""},
		{"#seed\nLL 1 B 1 1\n", "bench: line 2: unknown operation \"LL\""},
		{"#seed\n\n\nL 1 B 1\n", "bench: line 4: limit wants 5 fields, got 4"},
		{"#seed\nM 1 B 1 1\n", "bench: line 2: market wants 4 fields, got 5"},
		{"#seed\nC\n", "bench: line 2: cancel wants 2 fields, got 1"},
		{"#seed\nL 0 B 1 1\n", "bench: line 2: bad order id \"0\""},
		{"#seed\nL -1 B 1 1\n", "bench: line 2: bad order id \"-1\""},
		{"#seed\nL 1 X 1 1\n", "bench: line 2: bad side \"X\" (want B or S)"},
		{"#seed\nL 1 b 1 1\n", "bench: line 2: bad side \"b\" (want B or S)"},
		{"#seed\nL 1 B 0 1\n", "bench: line 2: bad price \"0\""},
		{"#seed\nL 1 B 1.5 1\n", "bench: line 2: bad price \"1.5\""},
		{"#seed\nL 1 B +1 1\n", "bench: line 2: bad price \"+1\""},
		{"#seed\nL 1 B 1 9223372036854775808\n", "bench: line 2: bad quantity \"9223372036854775808\""},
		{"#seed\nM 1 S x\n", "bench: line 2: bad quantity \"x\""},
		{"#seed\nC 18446744073709551615\n", "bench: line 2: bad order id \"18446744073709551615\""},
		{"#replay\n#seed\n", "bench: line 2: #seed must be the first section"},
		{"#seed\n#seed\n", "bench: line 2: #seed must be the first section"},
		{"#replay\n#replay\n", "bench: line 2: #replay after #replay or #end"},
		{"#seed x\n", "bench: line 1: unexpected text after #seed"},
		{"#replay\nC 1\n#end a=1\nC 2\n", "bench: line 4: operation after #end"},
		{"#replay\n#end a=1\n#replay\n", "bench: line 3: #replay after #replay or #end"},
		{"#end a\n", "bench: line 1: #end: \"a\" is not key=value"},
		{"#end =1\n", "bench: line 1: #end: bad key \"\""},
		{"#end a=\n", "bench: line 1: #end: bad value for a: \"\""},
		{"#end a=1x\n", "bench: line 1: #end: bad value for a: \"1x\""},
		{"#end a=1 a=2\n", "bench: line 1: #end: duplicate key a"},
		{"#end a=1\n#end a=1\n", "bench: line 2: #end: duplicate key a"},
		{"#ends\n", "bench: line 1: unknown directive \"#ends\""},
		{"#seed\nL 1 B 1 1 1 1 1 1 1 1\n", "bench: line 2: too many fields"},
		{"#seed\n" + strings.Repeat("x", maxLine+1) + "\n", "bench: line 2: line longer than 65536 bytes"},
	} {
		_, err := ParseLOB(strings.NewReader(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("ParseLOB(%.40q) error = %v, want %s", tc.in, err, tc.want)
		}
	}
}

func TestParseLOBReadError(t *testing.T) {
	r := iotest.TimeoutReader(strings.NewReader("#seed\nL 1 B 1 1\n"))
	_, err := ParseLOB(iotest.DataErrReader(r))
	if err == nil || !strings.HasPrefix(err.Error(), "bench: line ") {
		t.Fatalf("err = %v", err)
	}
}

func TestWriteToRoundTrip(t *testing.T) {
	f, err := ParseLOB(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	f.End["zz_extra"] = -1
	var buf bytes.Buffer
	n, err := f.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v; wrote %d", n, err, buf.Len())
	}
	want := "#seed\nL 1 B 99990 10\nL 2 S 100010 5\n#replay\nL 3 S 99990 4\nM 4 B 7\nC 1\nC 2\n" +
		"#end traded_qty=11 trades=2 resting_orders=0\n" +
		"#end bid_levels=0 bid_qty=0 best_bid=0\n" +
		"#end ask_levels=0 ask_qty=0 best_ask=0\n" +
		"#end zz_extra=-1\n"
	if buf.String() != want {
		t.Errorf("WriteTo:\n%s\nwant:\n%s", buf.String(), want)
	}
	g, err := ParseLOB(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !lobEqual(f, g) {
		t.Errorf("round trip differs")
	}
}

func lobEqual(a, b *LOBFile) bool {
	return slices.Equal(a.Seed, b.Seed) && slices.Equal(a.Replay, b.Replay) && maps.Equal(a.End, b.End)
}

func TestEndCompareString(t *testing.T) {
	want := End{"trades": 3, "best_bid": 10, "x": 1}
	got := End{"trades": 3, "best_bid": 11}
	msgs := want.Compare(got)
	wantMsgs := []string{"best_bid: want 10, got 11", "x: want 1, not measured"}
	if !slices.Equal(msgs, wantMsgs) {
		t.Errorf("Compare = %q, want %q", msgs, wantMsgs)
	}
	if s := want.String(); s != "trades=3 best_bid=10 x=1" {
		t.Errorf("String = %q", s)
	}
}

func TestOrder(t *testing.T) {
	l := Op{Kind: OpLimit, Side: book.Sell, ID: 9, Price: 5, Qty: 2}
	if o := l.Order(); o != (book.Order{ID: 9, Owner: 9, Side: book.Sell, Type: book.Limit, TIF: book.GTC, Price: 5, Qty: 2}) {
		t.Errorf("limit order = %+v", o)
	}
	m := Op{Kind: OpMarket, Side: book.Buy, ID: 10, Qty: 3}
	if o := m.Order(); o != (book.Order{ID: 10, Owner: 10, Side: book.Buy, Type: book.Market, Qty: 3}) {
		t.Errorf("market order = %+v", o)
	}
	b, err := book.New(book.Rules{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(b, nil, &Op{}); err == nil {
		t.Error("Apply of a zero Op: no error")
	}
}

func BenchmarkParseLOB(b *testing.B) {
	var buf bytes.Buffer
	GenerateBook(1, 10_000, 100_000).WriteTo(&buf)
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseLOB(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
