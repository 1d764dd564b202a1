package server

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/book"
)

// TestMarketData trades, candles and ticker end to end, across a restart.
func TestMarketData(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, nil)
	alice, bob := ts.setup()
	// No trades yet.
	if out := ts.must(200, "GET", "/v1/markets/BTC-USDT/trades", "", ""); fmt.Sprint(out["trades"]) != "[]" {
		t.Fatalf("trades before any: %v", out)
	}
	if out := ts.must(200, "GET", "/v1/markets/BTC-USDT/candles?interval=1m", "", ""); fmt.Sprint(out["candles"]) != "[]" {
		t.Fatalf("candles before any: %v", out)
	}
	if tk := ts.must(200, "GET", "/v1/markets/BTC-USDT/ticker", "", ""); tk["last"] != nil || tk["open_24h"] != nil || tk["volume_24h"] != "0" {
		t.Fatalf("ticker before any: %v", tk)
	}
	// Four trades at known prices: maker first, then the taker.
	type tr struct{ maker, taker, side, price, qty string }
	want := []tr{
		{alice, bob, "buy", "65000", "0.01"},
		{bob, alice, "sell", "64000", "0.02"},
		{alice, bob, "buy", "66000", "0.03"},
		{bob, alice, "sell", "65500", "0.01"},
	}
	opp := map[string]string{"buy": "sell", "sell": "buy"}
	for _, w := range want {
		ts.must(201, "POST", "/v1/orders", w.maker, fmt.Sprintf(`{"market":"BTC-USDT","side":%q,"price":%q,"quantity":%q}`, opp[w.side], w.price, w.qty))
		out := ts.must(201, "POST", "/v1/orders", w.taker, fmt.Sprintf(`{"market":"BTC-USDT","side":%q,"price":%q,"quantity":%q}`, w.side, w.price, w.qty))
		if o := out["order"].(map[string]any); o["status"] != "filled" {
			t.Fatalf("taker %v", out)
		}
	}
	// Resting orders for the best bid and ask.
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"60000","quantity":"0.05"}`)
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.04"}`)
	ts.book("BTC-USDT", "[[60000 0.05]] [[70000 0.04]]")

	// Trade ids are those of the fills.
	fills := ts.must(200, "GET", "/v1/fills?market=BTC-USDT", bob, "")["fills"].([]any)
	var fillIDs []float64
	for _, f := range fills {
		fillIDs = append(fillIDs, f.(map[string]any)["trade_id"].(float64))
	}
	check := func(ts *testServer) {
		t.Helper()
		trades := ts.must(200, "GET", "/v1/markets/BTC-USDT/trades", "", "")["trades"].([]any)
		if len(trades) != len(want) {
			t.Fatalf("trades %v", trades)
		}
		for i, x := range trades {
			tr := x.(map[string]any)
			w := want[len(want)-1-i] // newest first
			if tr["price"] != w.price || tr["quantity"] != w.qty || tr["side"] != w.side {
				t.Fatalf("trade %d: %v, want %+v", i, tr, w)
			}
			if tr["id"].(float64) != fillIDs[len(want)-1-i] {
				t.Fatalf("trade %d id %v, fills %v", i, tr["id"], fillIDs)
			}
			tm, err := time.Parse(time.RFC3339Nano, tr["time"].(string))
			if err != nil || time.Since(tm) > time.Minute || time.Since(tm) < -time.Minute {
				t.Fatalf("trade %d time %v: %v", i, tr["time"], err)
			}
		}
		if tr := ts.must(200, "GET", "/v1/markets/BTC-USDT/trades?limit=2", "", "")["trades"].([]any); len(tr) != 2 || tr[0].(map[string]any)["price"] != "65500" {
			t.Fatalf("trades limit=2: %v", tr)
		}
		// Candles: the trades may straddle an interval boundary, so check
		// the aggregate of each interval's candles.
		for _, iv := range []string{"1m", "5m", "1h", "1d"} {
			out := ts.must(200, "GET", "/v1/markets/BTC-USDT/candles?interval="+iv, "", "")
			cs := out["candles"].([]any)
			if out["interval"] != iv || len(cs) == 0 || len(cs) > 2 {
				t.Fatalf("%s candles %v", iv, out)
			}
			first, last := cs[0].(map[string]any), cs[len(cs)-1].(map[string]any)
			high, low, vol, qvol, n := "", "", 0.0, 0.0, 0.0
			for _, x := range cs {
				c := x.(map[string]any)
				if high == "" || c["high"].(string) > high {
					high = c["high"].(string)
				}
				if low == "" || c["low"].(string) < low {
					low = c["low"].(string)
				}
				vol += num(t, c["volume"])
				qvol += num(t, c["quote_volume"])
				n += c["trades"].(float64)
				st, err := time.Parse(time.RFC3339Nano, c["start"].(string))
				if err != nil || st.UnixNano()%intervals[ivIndex(iv)].ns != 0 {
					t.Fatalf("%s candle start %v: %v", iv, c["start"], err)
				}
			}
			if first["open"] != "65000" || last["close"] != "65500" || high != "66000" || low != "64000" ||
				fmt.Sprintf("%.4f", vol) != "0.0700" || fmt.Sprintf("%.2f", qvol) != "4565.00" || n != 4 {
				t.Fatalf("%s candles %v", iv, cs)
			}
			if len(cs) == 1 && (first["volume"] != "0.07" || first["quote_volume"] != "4565") {
				t.Fatalf("%s candle %v", iv, first)
			}
		}
		if cs := ts.must(200, "GET", "/v1/markets/BTC-USDT/candles?interval=1d&limit=1", "", "")["candles"].([]any); len(cs) != 1 ||
			cs[0].(map[string]any)["close"] != "65500" {
			t.Fatalf("candles limit=1: %v", cs)
		}
		tk := ts.must(200, "GET", "/v1/markets/BTC-USDT/ticker", "", "")
		for k, v := range map[string]any{"market": "BTC-USDT", "last": "65500", "best_bid": "60000", "best_bid_quantity": "0.05",
			"best_ask": "70000", "best_ask_quantity": "0.04", "open_24h": "65000", "high_24h": "66000", "low_24h": "64000",
			"volume_24h": "0.07", "quote_volume_24h": "4565", "trades_24h": 4.0} {
			if tk[k] != v {
				t.Fatalf("ticker %s = %v, want %v: %v", k, tk[k], v, tk)
			}
		}
	}
	check(ts)
	ts.stop()
	ts2 := start(t, dir, nil)
	ts2.book("BTC-USDT", "[[60000 0.05]] [[70000 0.04]]")
	check(ts2)

	// Errors.
	for _, p := range []string{"/v1/markets/NOPE-USDT/trades", "/v1/markets/NOPE-USDT/candles?interval=1m", "/v1/markets/NOPE-USDT/ticker"} {
		if code, c := ts2.errCode("GET", p, "", ""); code != 404 || c != "not_found" {
			t.Fatalf("GET %s: %d %s", p, code, c)
		}
	}
	for _, p := range []string{"/v1/markets/BTC-USDT/trades?limit=0", "/v1/markets/BTC-USDT/trades?limit=1001",
		"/v1/markets/BTC-USDT/trades?limit=x", "/v1/markets/BTC-USDT/candles", "/v1/markets/BTC-USDT/candles?interval=2m",
		"/v1/markets/BTC-USDT/candles?interval=1m&limit=-1", "/v1/markets/BTC-USDT/candles?interval=1h&limit=5000"} {
		if code, c := ts2.errCode("GET", p, "", ""); code != 400 || c != "invalid_argument" {
			t.Fatalf("GET %s: %d %s", p, code, c)
		}
	}
	if code, _ := ts2.errCode("POST", "/v1/markets/BTC-USDT/ticker", "", ""); code != 405 {
		t.Fatalf("POST ticker: %d", code)
	}
	ts2.must(200, "GET", "/v1/markets/BTC-USDT/trades?limit=1000", "", "")
	// The routes have their own metrics label.
	if code, _ := ts2.req("GET", "/metrics", "", ""); code != 200 {
		t.Fatal("metrics")
	}
}

func num(t *testing.T, v any) float64 {
	t.Helper()
	var f float64
	if err := json.Unmarshal([]byte(v.(string)), &f); err != nil {
		t.Fatalf("not a decimal: %v", v)
	}
	return f
}

func ivIndex(name string) int {
	for i := range intervals {
		if intervals[i].name == name {
			return i
		}
	}
	return -1
}

// TestMarketDataBounds checks candle boundaries and the bounds of the
// trade ring and candle lists, with synthetic times.
func TestMarketDataBounds(t *testing.T) {
	var d marketData
	minute := int64(time.Minute)
	base := time.Date(2026, 1, 2, 3, 2, 0, 0, time.UTC).UnixNano()
	d.addTrade(tradeRec{ID: 1, Price: 10, Qty: 1, Side: book.Buy, Time: base})
	d.addTrade(tradeRec{ID: 2, Price: 12, Qty: 2, Side: book.Sell, Time: base + minute - 1})
	d.addTrade(tradeRec{ID: 3, Price: 8, Qty: 3, Side: book.Buy, Time: base + minute})
	if c := d.Candles[0]; len(c) != 2 || c[0] != (candle{Start: base, Open: 10, High: 12, Low: 10, Close: 12, Volume: volOf(3), QuoteVolume: volOf(34), Trades: 2}) ||
		c[1] != (candle{Start: base + minute, Open: 8, High: 8, Low: 8, Close: 8, Volume: volOf(3), QuoteVolume: volOf(24), Trades: 1}) {
		t.Fatalf("1m candles %+v", c)
	}
	if c := d.Candles[1]; len(c) != 1 || c[0].Start != base-2*minute || c[0].Close != 8 || c[0].High != 12 || c[0].Low != 8 {
		t.Fatalf("5m candles %+v", c)
	}
	if c := d.Candles[3]; len(c) != 1 || c[0].Start != time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).UnixNano() {
		t.Fatalf("1d candles %+v", c)
	}
	// Fill past the bounds: one trade a minute.
	var e marketData
	n := maxTrades + 123
	for i := 1; i <= n; i++ {
		e.addTrade(tradeRec{ID: uint64(i), Price: int64(i), Qty: 1, Time: base + int64(i)*minute})
	}
	if len(e.Trades) != maxTrades || len(e.Candles[0]) != maxCandles {
		t.Fatalf("%d trades, %d candles", len(e.Trades), len(e.Candles[0]))
	}
	r := e.recent(nil, 1000)
	for k, tr := range r {
		if tr.ID != uint64(n-k) {
			t.Fatalf("recent[%d] = %d, want %d", k, tr.ID, n-k)
		}
	}
	if all := e.recent(nil, 2*maxTrades); len(all) != maxTrades || all[len(all)-1].ID != uint64(n-maxTrades+1) {
		t.Fatalf("oldest kept %d", all[len(all)-1].ID)
	}
	if c := e.Candles[0]; c[len(c)-1].Close != int64(n) || c[0].Close != int64(n-maxCandles+1) {
		t.Fatalf("candles %d..%d", c[0].Close, c[len(c)-1].Close)
	}
	// 24 hours of one-minute candles.
	m := newReadModel()
	m.Markets[1] = &e
	st := m.stats(1, base+int64(n)*minute)
	if st.n != 24*60 || st.last.ID != uint64(n) || st.high != int64(n) || st.open != int64(n-24*60+1) {
		t.Fatalf("stats %+v", st)
	}
}
