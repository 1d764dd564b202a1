package main

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

func TestParseFixed(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  error
	}{
		{"0", 0, nil},
		{"1", fixedOne, nil},
		{"101.25", 10_125_000_000, nil},
		{"0.00000001", 1, nil},
		{"-0.5", -50_000_000, nil},
		{"-0", 0, nil},
		{"007.10", 710_000_000, nil},
		{"92233720368.54775807", math.MaxInt64, nil},
		{"-92233720368.54775808", math.MinInt64, nil},
		{"92233720368.54775808", 0, errDecimalRange},
		{"99999999999999999999", 0, errDecimalRange},
		{"0.000000001", 0, errDecimalPlaces},
		{"1.000000000", 0, errDecimalPlaces}, // zeros count too, as in istd
		{"", 0, errDecimalSyntax},
		{"-", 0, errDecimalSyntax},
		{".5", 0, errDecimalSyntax},
		{"1.", 0, errDecimalSyntax},
		{"+1", 0, errDecimalSyntax},
		{"1e3", 0, errDecimalSyntax},
		{" 1", 0, errDecimalSyntax},
		{"1.2.3", 0, errDecimalSyntax},
		{"--1", 0, errDecimalSyntax},
		{"NaN", 0, errDecimalSyntax},
	} {
		got, err := parseFixed(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("parseFixed(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestFormatFixed(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{fixedOne, "1"},
		{10_125_000_000, "101.25"},
		{1, "0.00000001"},
		{-50_000_000, "-0.5"},
		{10_010_000_000, "100.1"},
		{100_000_000_000, "1000"},
		{math.MaxInt64, "92233720368.54775807"},
		{math.MinInt64, "-92233720368.54775808"},
	} {
		if got := formatFixed(tc.in); got != tc.want {
			t.Errorf("formatFixed(%d) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// testSeed returns the seed of a randomised test: MM_SEED if set, else
// a new one, logged so that a failure can be replayed.
func testSeed(t *testing.T) uint64 {
	seed := rand.Uint64()
	if s := os.Getenv("MM_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("MM_SEED: %v", err)
		}
	}
	t.Logf("seed %d (set MM_SEED to replay)", seed)
	return seed
}

func TestFixedRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 0))
	for range 10_000 {
		v := int64(r.Uint64()) >> r.IntN(64) // every magnitude
		s := formatFixed(v)
		got, err := parseFixed(s)
		if err != nil || got != v {
			t.Fatalf("parseFixed(formatFixed(%d) = %q) = %d, %v", v, s, got, err)
		}
	}
}

func TestMulDiv(t *testing.T) {
	for _, tc := range []struct {
		r       rounding
		den     int64
		factors []int64
		want    int64
		ok      bool
	}{
		{roundDown, 3, []int64{10}, 3, true},
		{roundUp, 3, []int64{10}, 4, true},
		{roundNearest, 3, []int64{10}, 3, true},
		{roundNearest, 4, []int64{10}, 3, true}, // 2.5: halves up
		{roundDown, 3, []int64{-10}, -4, true},  // towards −∞
		{roundUp, 3, []int64{-10}, -3, true},
		{roundNearest, 4, []int64{-10}, -2, true}, // −2.5: halves towards +∞
		{roundUp, 4, []int64{12}, 3, true},        // exact: no rounding
		{roundDown, 1, []int64{math.MaxInt64, 2}, 0, false},
		{roundDown, 4, []int64{math.MaxInt64, 2, 2}, math.MaxInt64, true}, // the intermediate product does not fit; the result does
		{roundDown, 7, nil, 0, true},                                      // the empty product is 1
	} {
		got, ok := mulDiv(tc.r, tc.den, tc.factors...)
		if got != tc.want || ok != tc.ok {
			t.Errorf("mulDiv(%d, %d, %v) = %d, %v; want %d, %v", tc.r, tc.den, tc.factors, got, ok, tc.want, tc.ok)
		}
	}
}

// Rounding flags and the server's decimals to the market's grid.
func TestRoundTo(t *testing.T) {
	const tick, lot = 1_000_000, 100_000 // 0.01 and 0.001
	for _, tc := range []struct {
		in   string
		step int64
		r    rounding
		want int64
	}{
		{"100", tick, roundNearest, 10_000},
		{"100.004", tick, roundNearest, 10_000},
		{"100.005", tick, roundNearest, 10_001},
		{"100.019", tick, roundDown, 10_001},
		{"100.011", tick, roundUp, 10_002},
		{"1", lot, roundDown, 1000},
		{"0.0009", lot, roundDown, 0}, // below one lot
		{"0.12345678", lot, roundDown, 123},
	} {
		v, err := parseFixed(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := roundTo(v, tc.step, tc.r); got != tc.want {
			t.Errorf("roundTo(%s, %d, %d) = %d; want %d", tc.in, tc.step, tc.r, got, tc.want)
		}
	}
}

func TestMarketGrid(t *testing.T) {
	m := testMarket()
	for _, tc := range []struct {
		price string
		ticks int64
		ok    bool
	}{{"100.1", 10_010, true}, {"100.10", 10_010, true}, {"0.01", 1, true}, {"100.001", 0, false}, {"x", 0, false}} {
		got, err := m.ticks(tc.price)
		if got != tc.ticks || (err == nil) != tc.ok {
			t.Errorf("ticks(%q) = %d, %v; want %d, ok %v", tc.price, got, err, tc.ticks, tc.ok)
		}
	}
	if got := m.price(10_010); got != "100.1" {
		t.Errorf("price(10010) = %q", got)
	}
	if got := m.qty(1500); got != "1.5" {
		t.Errorf("qty(1500) = %q", got)
	}
	if n, ok := m.notional(10_010, 1500); !ok || n != 15_015_000_000 { // 100.1 × 1.5 = 150.15
		t.Errorf("notional = %d, %v", n, ok)
	}
}

// testMarket is MM-USDT as the maker creates it: tick 0.01, lot 0.001,
// min notional 1.
func testMarket() *market {
	m, err := newMarket(&apiMarket{Symbol: "MM-USDT", Base: "MM", Quote: "USDT", TickSize: "0.01", LotSize: "0.001",
		MinNotional: "1", MaxPrice: "1000000", MaxQuantity: "1000000"})
	if err != nil {
		panic(err)
	}
	return &m
}
