package server

import (
	"fmt"
	"strings"
	"testing"
)

// marketBand returns price_band_bps of sym in GET /v1/markets.
func (ts *testServer) marketBand(sym string) string {
	ts.t.Helper()
	for _, m := range ts.must(200, "GET", "/v1/markets", "", "")["markets"].([]any) {
		if m := m.(map[string]any); m["symbol"] == sym {
			return fmt.Sprint(m["price_band_bps"])
		}
	}
	ts.t.Fatalf("no market %s", sym)
	return ""
}

// Price bands over HTTP: a market created with one, POST
// /v1/admin/markets/{symbol}/price-band to change one, limit orders and
// amends beyond the band refused with 400 price_out_of_band, a market
// order stopped by it expiring with cancel_reason price_band, and all of
// it surviving a restart.
func TestPriceBand(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, nil)
	alice, bob := ts.setup()
	m := ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"ETH-USDT","base":"ETH","quote":"USDT","tick_size":"0.01","lot_size":"0.001","price_band_bps":250}`)
	if fmt.Sprint(m["price_band_bps"]) != "250" {
		t.Fatalf("created: %v", m)
	}
	if b := ts.marketBand("BTC-USDT"); b != "0" {
		t.Fatalf("BTC-USDT band %s, want 0 (none)", b)
	}
	m = ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/price-band", adminTok, `{"price_band_bps":1000}`)
	if m["symbol"] != "BTC-USDT" || fmt.Sprint(m["price_band_bps"]) != "1000" || m["maker_fee_bps"] != 10.0 {
		t.Fatalf("answer %v", m)
	}
	// No band before the first trade.
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"60000","quantity":"0.01"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"60000","quantity":"0.01"}`)
	// Last 60000: the band is [54000, 66000].
	refused := []struct{ token, body string }{
		{bob, `{"market":"BTC-USDT","side":"buy","price":"66000.01","quantity":"0.01"}`},
		{bob, `{"market":"BTC-USDT","side":"buy","price":"70000","quantity":"0.01","time_in_force":"ioc"}`},
		{alice, `{"market":"BTC-USDT","side":"sell","price":"53999.99","quantity":"0.01"}`},
		{bob, `{"market":"BTC-USDT","side":"buy","type":"stop_limit","stop_price":"61000","price":"67100.01","quantity":"0.01"}`},
	}
	for _, c := range refused {
		if st, code := ts.errCode("POST", "/v1/orders", c.token, c.body); st != 400 || code != "price_out_of_band" {
			t.Errorf("%s: %d %s, want 400 price_out_of_band", c.body, st, code)
		}
	}
	// The message says what the band is.
	if st, out := ts.req("POST", "/v1/orders", bob, refused[0].body); st != 400 ||
		!strings.Contains(fmt.Sprint(out["error"]), "price_band_bps is 1000: a buy may be priced at most 10.00% above the last trade price") {
		t.Errorf("beyond the band: %d %v", st, out)
	}
	passive := id(ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"1000","quantity":"0.01"}`))
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"99000","quantity":"0.01"}`)
	if st, code := ts.errCode("PATCH", "/v1/orders/"+passive, bob, `{"price":"66000.01"}`); st != 400 || code != "price_out_of_band" {
		t.Errorf("amend beyond the band: %d %s", st, code)
	}
	ts.must(200, "PATCH", "/v1/orders/"+passive, bob, `{"price":"54000"}`)

	// A market buy sweeps up to 66000 only: 0.01 at 65000, the rest
	// expires price_band; the ask at 70000 stays.
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.01"}`)
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.01"}`)
	mo := id(ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","type":"market","quantity":"0.03"}`))
	o := ts.must(200, "GET", "/v1/orders/"+mo, bob, "")
	if o["status"] != "expired" || o["cancel_reason"] != "price_band" || o["filled"] != "0.01" || o["price"] != "66000" {
		t.Fatalf("market order: %v", o)
	}
	ts.book("BTC-USDT", "[[54000 0.01]] [[70000 0.01] [99000 0.01]]")
	bobBal := ts.balances(bob)

	ts.stop()
	ts = start(t, dir, nil)
	if b, e := ts.marketBand("BTC-USDT"), ts.marketBand("ETH-USDT"); b != "1000" || e != "250" {
		t.Fatalf("after a restart: bands %s and %s", b, e)
	}
	if o := ts.must(200, "GET", "/v1/orders/"+mo, bob, ""); o["cancel_reason"] != "price_band" {
		t.Fatalf("after a restart: market order %v", o)
	}
	if b := ts.balances(bob); fmt.Sprint(b) != fmt.Sprint(bobBal) {
		t.Fatalf("after a restart: bob %v, want %v", b, bobBal)
	}
	// Last 65000: [58500, 71500].
	if st, code := ts.errCode("POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"71500.01","quantity":"0.01"}`); st != 400 || code != "price_out_of_band" {
		t.Fatalf("after a restart: %d %s", st, code)
	}
	for _, c := range []struct {
		path, token, body string
		status            int
		code              string
	}{
		{"/v1/admin/markets/NOPE-USDT/price-band", adminTok, `{"price_band_bps":1}`, 404, "not_found"},
		{"/v1/admin/markets/BTC-USDT/price-band", adminTok, `{"price_band_bps":10001}`, 400, "invalid_argument"},
		{"/v1/admin/markets/BTC-USDT/price-band", adminTok, `{"price_band_bps":-1}`, 400, "invalid_argument"},
		{"/v1/admin/markets/BTC-USDT/price-band", adminTok, `{}`, 400, "invalid_argument"},
		{"/v1/admin/markets/BTC-USDT/price-band", bob, `{"price_band_bps":1}`, 403, "forbidden"},
		{"/v1/admin/markets", adminTok, `{"symbol":"SOL-USDT","base":"SOL","quote":"USDT","tick_size":"0.01","lot_size":"0.001","price_band_bps":10001}`, 400, "invalid_argument"},
	} {
		if st, code := ts.errCode("POST", c.path, c.token, c.body); st != c.status || code != c.code {
			t.Errorf("%s %s: %d %s, want %d %s", c.path, c.body, st, code, c.status, code)
		}
	}
	// Without a band, the buy at 99000 trades.
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/price-band", adminTok, `{"price_band_bps":0}`)
	if b := ts.marketBand("BTC-USDT"); b != "0" {
		t.Fatalf("band %s after removing it", b)
	}
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"99000","quantity":"0.02"}`)
	ts.book("BTC-USDT", "[[54000 0.01]] []")
}

// A follow's mirror whose limit (the leader's price plus its slippage)
// lies beyond the market's price band is held to the band: it trades
// within it, not beyond, and is not skipped.
func TestPriceBandCopyMirror(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	aid := ts.accountID(alice)
	did, dave := ts.signup("dave")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"10000","ref":"d-a2"}`, aid))
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"BTC","amount":"1","ref":"d-d"}`, did))
	ts.must(200, "PUT", "/v1/social/leader", alice, `{}`)
	wide := uint64(ts.must(201, "POST", "/v1/social/follows", bob, fmt.Sprintf(`{"leader_id":%d,"allocation":"1000","slippage_bps":300}`, aid))["id"].(float64))
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/price-band", adminTok, `{"price_band_bps":100}`)
	ts.must(201, "POST", "/v1/orders", dave, `{"market":"BTC-USDT","side":"sell","price":"50000","quantity":"0.01"}`)
	ts.must(201, "POST", "/v1/orders", dave, `{"market":"BTC-USDT","side":"sell","price":"51000","quantity":"0.5"}`)
	// The leader's buy sets the last price, 50000: the band is [49500,
	// 50500], the mirror's limit 51500 held to 50500: the ask at 51000
	// is beyond it, so the mirror buys nothing.
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"buy","price":"50000","quantity":"0.01"}`)
	fills := func() int {
		return len(ts.must(200, "GET", fmt.Sprintf("/v1/social/follows/%d/fills", wide), bob, "")["fills"].([]any))
	}
	if n := fills(); n != 0 {
		t.Fatalf("%d mirrored fills beyond the band", n)
	}
	if evs := ts.must(200, "GET", fmt.Sprintf("/v1/social/events?follow_id=%d&type=skipped", wide), bob, "")["events"].([]any); len(evs) != 0 {
		t.Fatalf("skipped mirrors %v, want none", evs)
	}
	// With a band of 5% the ask at 51000 lies within it and the mirror's
	// own limit: it buys there.
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/price-band", adminTok, `{"price_band_bps":500}`)
	ts.must(201, "POST", "/v1/orders", dave, `{"market":"BTC-USDT","side":"sell","price":"50000","quantity":"0.01"}`)
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"buy","price":"50000","quantity":"0.01"}`)
	if n := fills(); n != 1 {
		t.Fatalf("%d mirrored fills, want one", n)
	}
}
