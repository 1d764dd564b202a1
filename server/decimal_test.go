package server

import (
	"errors"
	"math"
	"strconv"
	"testing"
)

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in     string
		scale  int
		signed bool
		want   int64
		err    error
	}{
		{"0", 8, false, 0, nil},
		{"1", 8, false, 100_000_000, nil},
		{"101.25", 2, false, 10125, nil},
		{"101.2", 2, false, 10120, nil},
		{"0.00000001", 8, false, 1, nil},
		{"00012.5", 1, false, 125, nil},
		{"-1.5", 8, true, -150_000_000, nil},
		{"-1.5", 8, false, 0, ErrDecimalNegative},
		{"9223372036854775807", 0, false, math.MaxInt64, nil},
		{"9223372036854775808", 0, false, 0, ErrDecimalOverflow},
		{"-9223372036854775808", 0, true, math.MinInt64, nil},
		{"92233720368.54775807", 8, false, math.MaxInt64, nil},
		{"92233720368.54775808", 8, false, 0, ErrDecimalOverflow},
		{"92233720369", 8, false, 0, ErrDecimalOverflow},
		{"99999999999999999999999", 0, false, 0, ErrDecimalOverflow},
		{"1.000000001", 8, false, 0, ErrDecimalPlaces},
		{"1.000000000", 8, false, 0, ErrDecimalPlaces},
		{"", 8, false, 0, ErrDecimalSyntax},
		{"-", 8, true, 0, ErrDecimalSyntax},
		{".5", 8, false, 0, ErrDecimalSyntax},
		{"1.", 8, false, 0, ErrDecimalSyntax},
		{"1e5", 8, false, 0, ErrDecimalSyntax},
		{"+1", 8, false, 0, ErrDecimalSyntax},
		{" 1", 8, false, 0, ErrDecimalSyntax},
		{"1 ", 8, false, 0, ErrDecimalSyntax},
		{"1,5", 8, false, 0, ErrDecimalSyntax},
		{"1.2.3", 8, false, 0, ErrDecimalSyntax},
		{"NaN", 8, false, 0, ErrDecimalSyntax},
		{"0x10", 8, false, 0, ErrDecimalSyntax},
		{"1_000", 8, false, 0, ErrDecimalSyntax},
		{"--1", 8, true, 0, ErrDecimalSyntax},
	} {
		got, err := ParseDecimal([]byte(tc.in), tc.scale, tc.signed)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("ParseDecimal(%q, %d, %v) = %d, %v; want %d, %v", tc.in, tc.scale, tc.signed, got, err, tc.want, tc.err)
		}
	}
}

func TestAppendDecimal(t *testing.T) {
	for _, tc := range []struct {
		v     int64
		scale int
		want  string
	}{
		{0, 8, "0"}, {1, 8, "0.00000001"}, {150_000_000, 8, "1.5"}, {10125, 2, "101.25"},
		{-5, 1, "-0.5"}, {math.MinInt64, 0, "-9223372036854775808"}, {math.MaxInt64, 8, "92233720368.54775807"},
		{100, 2, "1"},
	} {
		if got := string(AppendDecimal(nil, tc.v, tc.scale)); got != tc.want {
			t.Errorf("AppendDecimal(%d, %d) = %q; want %q", tc.v, tc.scale, got, tc.want)
		}
	}
}

func TestDecimalAllocs(t *testing.T) {
	in := []byte("12345.6789")
	buf := make([]byte, 0, 32)
	n := testing.AllocsPerRun(100, func() {
		v, _ := ParseDecimal(in, 8, false)
		buf = AppendDecimal(buf[:0], v, 8)
	})
	if n != 0 {
		t.Fatalf("%v allocations per parse+format; want 0", n)
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "1.5", "-2.25", "92233720368.54775807", "1e5", ".5", "1.", "00.10", "-"} {
		f.Add(s, uint8(8), true)
	}
	f.Fuzz(func(t *testing.T, s string, scale uint8, signed bool) {
		sc := int(scale % 19)
		v, err := ParseDecimal([]byte(s), sc, signed)
		if err != nil {
			return
		}
		if v < 0 && !signed {
			t.Fatalf("%q: negative %d without signed", s, v)
		}
		// Round trip through the formatter.
		out := AppendDecimal(nil, v, sc)
		w, err := ParseDecimal(out, sc, true)
		if err != nil || w != v {
			t.Fatalf("%q → %d → %q → %d, %v", s, v, out, w, err)
		}
		// Cross-check against strconv on the digits alone.
		digits := make([]byte, 0, len(s)+sc)
		frac := -1
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == '.':
				frac = 0
			case c >= '0' && c <= '9':
				digits = append(digits, c)
				if frac >= 0 {
					frac++
				}
			case c == '-':
				digits = append(digits, c)
			default:
				t.Fatalf("%q accepted with byte %q", s, c)
			}
		}
		if frac < 0 {
			frac = 0
		}
		for ; frac < sc; frac++ {
			digits = append(digits, '0')
		}
		want, err := strconv.ParseInt(string(digits), 10, 64)
		if err != nil || want != v {
			t.Fatalf("%q: got %d, strconv %d, %v", s, v, want, err)
		}
	})
}
