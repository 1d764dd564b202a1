package server

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The ticker answers from one point: right after a trade that took the
// whole ask, a ticker that counts the trade does not show that ask.
// (Before, the statistics came from the read model, current when the
// order was answered, and the best bid and ask from the book view, about
// a millisecond behind.)
func TestTickerConsistentWithBook(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	seller, buyer := twoTraders(ts, "X-Y", "X", "Y", "1", "1")
	bad := 0
	for i := range 20 {
		p := 100 + i
		ts.must(201, "POST", "/v1/orders", seller, fmt.Sprintf(`{"market":"X-Y","side":"sell","price":"%d","quantity":"1"}`, p))
		ts.must(201, "POST", "/v1/orders", buyer, fmt.Sprintf(`{"market":"X-Y","side":"buy","price":"%d","quantity":"1"}`, p))
		tk := ts.must(200, "GET", "/v1/markets/X-Y/ticker", "", "")
		if tk["trades_24h"].(float64) != float64(i+1) || tk["best_ask"] != nil || tk["last"] != fmt.Sprint(p) {
			bad++
			t.Logf("trade %d at %d: ticker %v", i+1, p, tk)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of 20 tickers right after a trade that took the whole ask do not show it", bad)
	}
}

// The book read after an order was acknowledged shows it (read after
// write). (Before, it showed the latest published view, which could
// still lack it.)
func TestBookShowsAcknowledgedOrders(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	seller, _ := twoTraders(ts, "X-Y", "X", "Y", "1", "1")
	bad := 0
	for i := range 20 {
		ts.must(201, "POST", "/v1/orders", seller, fmt.Sprintf(`{"market":"X-Y","side":"sell","price":"%d","quantity":"1"}`, 200-i))
		bk := ts.must(200, "GET", "/v1/markets/X-Y/book", "", "")
		asks := bk["asks"].([]any)
		if len(asks) != i+1 || fmt.Sprint(asks[0]) != fmt.Sprintf("[%d 1]", 200-i) {
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of 20 books read right after an order was acknowledged lack it", bad)
	}
}

// Volumes sum without saturating: 50 trades of 2×10^9 lots of 1 show
// 10^11, not 92233720368.54775807 (math.MaxInt64 × 10^-8); in the ticker,
// the candles and after a restart.
func TestVolumesDoNotSaturate(t *testing.T) {
	m := newReadModel()
	u, err := newUnits(1, 100_000_000)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 50 {
		tradeResult(m, uint64(i+1), now, 1000, 2_000_000_000)
	}
	st := m.stats(1, now.UnixNano())
	if vol := string(appendScaledVol(nil, st.volume, u.lot8)); vol != "100000000000" {
		t.Fatalf("volume_24h %s, want 100000000000", vol)
	}
	// 1000 steps of 10^-8 × 10^11 lots of 1: 10^14 × 10^-8.
	if q := string(appendScaledVol(nil, st.quoteVolume, u.qs)); q != "1000000" {
		t.Fatalf("quote_volume_24h %s, want 1000000", q)
	}

	dir := t.TempDir()
	ts := start(t, dir, nil)
	// A cheap coin, C, traded by the unit: 5×10^10 C at 10^-8 Y, one way
	// and back, is a volume of 10^11 C for 1000 Y.
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"C-Y","base":"C","quote":"Y","tick_size":"0.00000001","lot_size":"1","min_notional":"0","max_price":"0.1","maker_fee_bps":0,"taker_fee_bps":0}`)
	aid, a := ts.signup("a")
	bid, b := ts.signup("b")
	ts.deposit(aid, "C", "50000000000")
	ts.deposit(bid, "Y", "500")
	for _, p := range [][2]string{{a, b}, {b, a}} {
		ts.must(201, "POST", "/v1/orders", p[0], `{"market":"C-Y","side":"sell","price":"0.00000001","quantity":"50000000000"}`)
		ts.must(201, "POST", "/v1/orders", p[1], `{"market":"C-Y","side":"buy","price":"0.00000001","quantity":"50000000000"}`)
	}
	check := func(ts *testServer) {
		t.Helper()
		tk := ts.must(200, "GET", "/v1/markets/C-Y/ticker", "", "")
		if tk["volume_24h"] != "100000000000" || tk["quote_volume_24h"] != "1000" {
			t.Fatalf("ticker %v", tk)
		}
		for _, iv := range []string{"1m", "1d"} {
			cs := ts.must(200, "GET", "/v1/markets/C-Y/candles?interval="+iv, "", "")["candles"].([]any)
			var sum string
			for _, c := range cs { // the trades may straddle a minute
				sum += fmt.Sprint(c.(map[string]any)["volume"], " ")
			}
			if c := cs[len(cs)-1].(map[string]any); iv == "1d" && (c["volume"] != "100000000000" || c["quote_volume"] != "1000") {
				t.Fatalf("%s candle %v", iv, c)
			}
			if sum != "100000000000 " && len(cs) == 1 {
				t.Fatalf("%s candles: volumes %s", iv, sum)
			}
		}
	}
	check(ts)
	ts.stop()
	check(start(t, dir, nil))
}

// appendScaled and appendScaledVol format products beyond an int64
// exactly.
func TestAppendScaledExact(t *testing.T) {
	for _, c := range []struct {
		v    vol
		m    int64
		want string
	}{
		{volOf(0), 1, "0"},
		{volOf(12345), 1, "0.00012345"},
		{volOf(math.MaxInt64), 1, "92233720368.54775807"},
		{volOf(math.MaxInt64), 10, "922337203685.4775807"},
		{volOf(1 << 62), 100_000_000, "4611686018427387904"},
		{volOf(math.MaxInt64), 100_000_000, "9223372036854775807"},
		{vol{1, 0}, 1, "184467440737.09551616"},                                                         // 2^64
		{vol{1 << 63, 0}, math.MaxInt64, "15692754338466701907888061723414473722939015574001.24522496"}, // 2^127 × (2^63−1)
		{vol{math.MaxUint64, math.MaxUint64}, 100_000_000, "340282366920938463463374607431768211455"},
	} {
		if got := string(appendScaledVol([]byte("x"), c.v, c.m)); got != "x"+c.want {
			t.Errorf("%v × %d: %s, want %s", c.v, c.m, got, c.want)
		}
		if lo, ok := c.v.int64(); ok {
			if got := string(appendScaled(nil, lo, c.m)); got != c.want {
				t.Errorf("appendScaled(%d, %d): %s, want %s", lo, c.m, got, c.want)
			}
		}
	}
	if got := mulVol(math.MaxInt64, math.MaxInt64).add(volOf(1)); got != (vol{1<<62 - 1, 2}) {
		t.Errorf("(2^63−1)² + 1 = %v", got)
	}
}

// goldenHistory is a small deterministic history: orders done and trimmed,
// fills and their trims, trades and candles.
func goldenHistory() *readModel {
	m := newReadModel()
	m.keepOrders, m.keepFills = 3, 4
	var seq uint64
	for k := range 8 {
		tradePair(m, &seq, k, 3)
	}
	return m
}

// goldenSegment encodes the change log of m as one segment and returns its
// parts, concatenated.
func goldenSegment(t *testing.T, m *readModel) []byte {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, _ := m.takeChanges()
	b := db.NewBatch()
	defer b.Close()
	w := &segWriter{}
	w.reset(b, prefixSeg, 1)
	if err := w.changes(c); err != nil {
		t.Fatal(err)
	}
	var out []byte
	r := b.Reader()
	for {
		_, _, v, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, v...)
	}
}

// The history's segment format is what the release before 128-bit
// volumes wrote (testdata/history-seg-v1.bin, written by that release):
// candles whose volumes fit an int64 keep version 1, byte for byte, and
// the golden reads back as the history it was written from.
func TestHistorySegmentGoldenV1(t *testing.T) {
	golden, err := os.ReadFile("testdata/history-seg-v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	if got := goldenSegment(t, goldenHistory()); !bytes.Equal(got, golden) {
		t.Fatalf("segment encoding changed:\n%x\nwant\n%x", got, golden)
	}
	m := newReadModel()
	if err := m.applyPart(golden); err != nil {
		t.Fatal(err)
	}
	m.keepOrders, m.keepFills = 3, 4
	m.index(false)
	sameHistory(t, m, goldenHistory(), false)
}

// A candle whose volumes pass an int64 is written as version 2 and read
// back exactly; version 1 records still read.
func TestCandleWideVolumes(t *testing.T) {
	for _, c := range []candle{
		{Start: 60, Open: 1, High: 3, Low: 1, Close: 2, Volume: volOf(math.MaxInt64), QuoteVolume: volOf(5), Trades: 2},
		{Start: 60, Open: 1, High: 3, Low: 1, Close: 2, Volume: vol{0, 1 << 63}, QuoteVolume: volOf(5), Trades: 2},
		{Start: 60, Open: 1, High: 3, Low: 1, Close: 2, Volume: volOf(7), QuoteVolume: vol{3, 9}, Trades: 2},
	} {
		b := appendCandle(nil, &c)
		_, fits := c.Volume.int64()
		_, fitsQ := c.QuoteVolume.int64()
		if want := byte(historyVersion); !(fits && fitsQ) && b[0] != candleVersionWide || fits && fitsQ && b[0] != want {
			t.Errorf("%+v written as version %d", c, b[0])
		}
		if got, err := decodeCandleRec(60, b); err != nil || got != c {
			t.Errorf("%+v read back as %+v, %v", c, got, err)
		}
	}
	// Version 1 as every earlier release wrote it: open 1, high 3, low 1,
	// close 2, volume 9, quote volume 18, trades 4 (zigzag varints).
	got, err := decodeCandleRec(60, []byte{1, 2, 6, 2, 4, 18, 36, 8})
	if want := (candle{Start: 60, Open: 1, High: 3, Low: 1, Close: 2, Volume: volOf(9), QuoteVolume: volOf(18), Trades: 4}); err != nil || got != want {
		t.Fatalf("version 1 candle read as %+v, %v", got, err)
	}
	if _, err := decodeCandleRec(60, []byte{3, 2, 6, 2, 4, 18, 36, 8}); err == nil {
		t.Fatal("version 3 candle accepted")
	}
}
