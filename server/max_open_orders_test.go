package server

import (
	"fmt"
	"strings"
	"testing"
)

// marketField returns field of sym in GET /v1/markets.
func (ts *testServer) marketField(sym, field string) string {
	ts.t.Helper()
	for _, m := range ts.must(200, "GET", "/v1/markets", "", "")["markets"].([]any) {
		if m := m.(map[string]any); m["symbol"] == sym {
			return fmt.Sprint(m[field])
		}
	}
	ts.t.Fatalf("no market %s", sym)
	return ""
}

// Limits on open orders over HTTP: a market created with one, POST
// /v1/admin/markets/{symbol}/max-open-orders to change one, orders that
// could rest refused over it with 400 too_many_open_orders (singly and
// in a batch) while ioc and market orders pass, a cancel freeing room,
// and all of it surviving a restart.
func TestMaxOpenOrders(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, nil)
	alice, bob := ts.setup()
	m := ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"ETH-USDT","base":"ETH","quote":"USDT","tick_size":"0.01","lot_size":"0.001","max_open_orders":3}`)
	if fmt.Sprint(m["max_open_orders"]) != "3" {
		t.Fatalf("created: %v", m)
	}
	if n := ts.marketField("BTC-USDT", "max_open_orders"); n != "0" {
		t.Fatalf("BTC-USDT limit %s, want 0 (none)", n)
	}
	m = ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/max-open-orders", adminTok, `{"max_open_orders":2}`)
	if m["symbol"] != "BTC-USDT" || fmt.Sprint(m["max_open_orders"]) != "2" || m["maker_fee_bps"] != 10.0 {
		t.Fatalf("answer %v", m)
	}
	first := id(ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"50000","quantity":"0.01"}`))
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","type":"stop_market","stop_price":"70000","price":"71000","quantity":"0.01"}`)
	refused := []string{
		`{"market":"BTC-USDT","side":"buy","price":"50000","quantity":"0.01"}`,
		`{"market":"BTC-USDT","side":"buy","price":"50000","quantity":"0.01","time_in_force":"gtd","expire_at":"2099-01-01T00:00:00Z"}`,
		`{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.01","post_only":true}`,
		`{"market":"BTC-USDT","side":"sell","type":"stop_limit","stop_price":"40000","price":"40000","quantity":"0.01"}`,
	}
	for _, body := range refused {
		if st, code := ts.errCode("POST", "/v1/orders", bob, body); st != 400 || code != "too_many_open_orders" {
			t.Errorf("%s: %d %s, want 400 too_many_open_orders", body, st, code)
		}
	}
	// The message says what the limit is.
	if st, out := ts.req("POST", "/v1/orders", bob, refused[0]); st != 400 ||
		!strings.Contains(fmt.Sprint(out["error"]), "max_open_orders is 2") {
		t.Errorf("over the limit: %d %v", st, out)
	}
	// Orders that cannot rest pass; other accounts and markets are not
	// held to bob's orders.
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"60000","quantity":"0.05"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"60000","quantity":"0.01","time_in_force":"ioc"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","type":"market","quantity":"0.01"}`)
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"61000","quantity":"0.01"}`)
	// In a batch: the first fits after a cancel, the second is refused
	// in its place, the ioc passes.
	ts.must(200, "DELETE", "/v1/orders/"+first, bob, "")
	out := ts.must(200, "POST", "/v1/orders/batch", bob, `{"orders":[`+refused[0]+`,`+refused[0]+`,`+
		`{"market":"BTC-USDT","side":"buy","price":"60000","quantity":"0.01","time_in_force":"ioc"}]}`)
	res := out["results"].([]any)
	if _, ok := res[0].(map[string]any)["order"]; !ok {
		t.Fatalf("batch: first %v", res[0])
	}
	if e := fmt.Sprint(res[1].(map[string]any)["error"]); !strings.Contains(e, "too_many_open_orders") {
		t.Fatalf("batch: second %v", res[1])
	}
	if _, ok := res[2].(map[string]any)["order"]; !ok {
		t.Fatalf("batch: third %v", res[2])
	}
	bobBal := ts.balances(bob)

	ts.stop()
	ts = start(t, dir, nil)
	if b, e := ts.marketField("BTC-USDT", "max_open_orders"), ts.marketField("ETH-USDT", "max_open_orders"); b != "2" || e != "3" {
		t.Fatalf("after a restart: limits %s and %s", b, e)
	}
	if b := ts.balances(bob); fmt.Sprint(b) != fmt.Sprint(bobBal) {
		t.Fatalf("after a restart: bob %v, want %v", b, bobBal)
	}
	if st, code := ts.errCode("POST", "/v1/orders", bob, refused[0]); st != 400 || code != "too_many_open_orders" {
		t.Fatalf("after a restart: %d %s", st, code)
	}
	for _, c := range []struct {
		path, token, body string
		status            int
		code              string
	}{
		{"/v1/admin/markets/NOPE-USDT/max-open-orders", adminTok, `{"max_open_orders":1}`, 404, "not_found"},
		{"/v1/admin/markets/BTC-USDT/max-open-orders", adminTok, `{"max_open_orders":1000001}`, 400, "invalid_argument"},
		{"/v1/admin/markets/BTC-USDT/max-open-orders", adminTok, `{"max_open_orders":-1}`, 400, "invalid_argument"},
		{"/v1/admin/markets/BTC-USDT/max-open-orders", adminTok, `{}`, 400, "invalid_argument"},
		{"/v1/admin/markets/BTC-USDT/max-open-orders", bob, `{"max_open_orders":1}`, 403, "forbidden"},
		{"/v1/admin/markets", adminTok, `{"symbol":"SOL-USDT","base":"SOL","quote":"USDT","tick_size":"0.01","lot_size":"0.001","max_open_orders":1000001}`, 400, "invalid_argument"},
	} {
		if st, code := ts.errCode("POST", c.path, c.token, c.body); st != c.status || code != c.code {
			t.Errorf("%s %s: %d %s, want %d %s", c.path, c.body, st, code, c.status, c.code)
		}
	}
	// A lower limit cancels nothing; removing it lets bob place again.
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/max-open-orders", adminTok, `{"max_open_orders":1}`)
	if o := ts.must(200, "GET", "/v1/orders?market=BTC-USDT&status=open", bob, ""); len(o["orders"].([]any)) != 2 {
		t.Fatalf("bob's open orders after a lower limit: %v", o)
	}
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/max-open-orders", adminTok, `{"max_open_orders":0}`)
	ts.must(201, "POST", "/v1/orders", bob, refused[0])
}
