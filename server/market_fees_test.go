package server

import (
	"fmt"
	"testing"
)

// marketFees returns maker_fee_bps/taker_fee_bps of sym in GET /v1/markets.
func (ts *testServer) marketFees(sym string) string {
	ts.t.Helper()
	for _, m := range ts.must(200, "GET", "/v1/markets", "", "")["markets"].([]any) {
		if m := m.(map[string]any); m["symbol"] == sym {
			return fmt.Sprint(m["maker_fee_bps"], "/", m["taker_fee_bps"])
		}
	}
	ts.t.Fatalf("no market %s", sym)
	return ""
}

// fillFees returns the fee and liquidity of each of the token's fills, in
// the order GET /v1/fills lists them.
func (ts *testServer) fillFees(token string) []any {
	ts.t.Helper()
	var fees []any
	for _, f := range ts.must(200, "GET", "/v1/fills?market=BTC-USDT", token, "")["fills"].([]any) {
		f := f.(map[string]any)
		fees = append(fees, fmt.Sprint(f["fee"], " ", f["liquidity"]))
	}
	return fees
}

// PATCH /v1/admin/markets/{symbol} changes the fees: GET /v1/markets
// shows them, a raise takes the difference from the available balance of
// each open buy's owner or cancels the buy of one who cannot pay it,
// trades pay the new rates, and all of it survives a restart.
func TestMarketFees(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, nil)
	alice, bob := ts.setup()
	cid, carol := ts.signup("carol")
	// Carol has what a buy of 0.1 at 60000 locks at 20 bps: 6000 + 12.
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"6012","ref":"d-c"}`, cid))
	co := id(ts.must(201, "POST", "/v1/orders", carol, `{"market":"BTC-USDT","side":"buy","price":"60000","quantity":"0.1"}`))
	bo := id(ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"59000","quantity":"0.1"}`))
	if b := ts.balances(bob)["USDT"]; b != "94088.2/5911.8" {
		t.Fatalf("bob before: %s", b)
	}

	m := ts.must(200, "PATCH", "/v1/admin/markets/BTC-USDT", adminTok, `{"maker_fee_bps":15,"taker_fee_bps":40}`)
	if m["symbol"] != "BTC-USDT" || m["maker_fee_bps"] != 15.0 || m["taker_fee_bps"] != 40.0 || m["tick_size"] != "0.01" || m["halted"] != false {
		t.Fatalf("answer %v", m)
	}
	if f := ts.marketFees("BTC-USDT"); f != "15/40" {
		t.Fatalf("GET /v1/markets: fees %s", f)
	}
	// Bob pays the raise: 5900 + 23.6. Carol cannot (6000 + 24): her
	// buy is cancelled and her lock released.
	if b := ts.balances(bob)["USDT"]; b != "94076.4/5923.6" {
		t.Fatalf("bob after the raise: %s", b)
	}
	if st := ts.must(200, "GET", "/v1/orders/"+co, carol, "")["status"]; st != "cancelled" {
		t.Fatalf("carol's order: %v", st)
	}
	if b := ts.balances(carol)["USDT"]; b != "6012/0" {
		t.Fatalf("carol after the raise: %s", b)
	}
	if o := ts.must(200, "GET", "/v1/orders?status=open", carol, "")["orders"].([]any); len(o) != 0 {
		t.Fatalf("carol's open orders: %v", o)
	}

	// Alice sells into bob's buy: taker 40 bps of 5900, maker 15 bps.
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"59000","quantity":"0.1"}`)
	if f := fmt.Sprint(ts.fillFees(alice)); f != "[23.6 taker]" {
		t.Fatalf("alice's fill fees %s", f)
	}
	if f := fmt.Sprint(ts.fillFees(bob)); f != "[8.85 maker]" {
		t.Fatalf("bob's fill fees %s", f)
	}
	if st := ts.must(200, "GET", "/v1/orders/"+bo, bob, "")["status"]; st != "filled" {
		t.Fatalf("bob's order: %v", st)
	}

	// One fee alone: the other keeps its value.
	if m := ts.must(200, "PATCH", "/v1/admin/markets/BTC-USDT", adminTok, `{"taker_fee_bps":30}`); m["maker_fee_bps"] != 15.0 || m["taker_fee_bps"] != 30.0 {
		t.Fatalf("answer %v", m)
	}
	for _, c := range []struct {
		method, path, token, body string
		status                    int
		code                      string
	}{
		{"PATCH", "/v1/admin/markets/NOPE-USDT", adminTok, `{"maker_fee_bps":1}`, 404, "not_found"},
		{"PATCH", "/v1/admin/markets/BTC-USDT", adminTok, `{"maker_fee_bps":1001}`, 400, "invalid_argument"},
		{"PATCH", "/v1/admin/markets/BTC-USDT", adminTok, `{"taker_fee_bps":-1}`, 400, "invalid_argument"},
		{"PATCH", "/v1/admin/markets/BTC-USDT", adminTok, `{"taker_fee_bps":"5"}`, 400, "invalid_argument"},
		{"PATCH", "/v1/admin/markets/BTC-USDT", adminTok, `{}`, 400, "invalid_argument"},
		{"PATCH", "/v1/admin/markets/BTC-USDT", adminTok, `{"maker_fee_bps":1,"fee":2}`, 400, "invalid_argument"},
		{"PATCH", "/v1/admin/markets/BTC-USDT", bob, `{"maker_fee_bps":1}`, 403, "forbidden"},
		{"PATCH", "/v1/admin/markets/BTC-USDT", "", `{"maker_fee_bps":1}`, 401, "unauthenticated"},
		{"GET", "/v1/admin/markets/BTC-USDT", adminTok, ``, 405, "method_not_allowed"},
	} {
		if st, code := ts.errCode(c.method, c.path, c.token, c.body); st != c.status || code != c.code {
			t.Errorf("%s %s %s: %d %s, want %d %s", c.method, c.path, c.body, st, code, c.status, c.code)
		}
	}
	if f := ts.marketFees("BTC-USDT"); f != "15/30" {
		t.Fatalf("after refused changes: fees %s", f)
	}
	// On a halted market too.
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/halt", adminTok, "")
	ts.must(200, "PATCH", "/v1/admin/markets/BTC-USDT", adminTok, `{"maker_fee_bps":5}`)
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/resume", adminTok, "")
	bobBal := ts.balances(bob)

	ts.stop()
	ts = start(t, dir, nil)
	if f := ts.marketFees("BTC-USDT"); f != "5/30" {
		t.Fatalf("after a restart: fees %s", f)
	}
	if st := ts.must(200, "GET", "/v1/orders/"+co, carol, "")["status"]; st != "cancelled" {
		t.Fatalf("carol's order after a restart: %v", st)
	}
	if b := ts.balances(bob); fmt.Sprint(b) != fmt.Sprint(bobBal) {
		t.Fatalf("bob after a restart: %v, before %v", b, bobBal)
	}
	// A taker now pays 30 bps: 0.01 at 61000 is 610, fee 1.83.
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"61000","quantity":"0.01"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"61000","quantity":"0.01"}`)
	if f := fmt.Sprint(ts.fillFees(bob)); f != "[8.85 maker 1.83 taker]" {
		t.Fatalf("bob's fill fees after a restart %s", f)
	}
}

// A fee change acknowledged before a crash (SIGKILL, the order history
// never saved) is replayed from the log: the fees, the cancelled order
// and the balances are there after the restart.
func TestCrashMarketFees(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd, ts := startChild(t, dir, freeAddr(t))
	defer cmd.Process.Kill()
	_, bob := ts.setup()
	o := id(ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"50000","quantity":"1.996"}`))
	// 99800 + 199.6 of bob's 100000: a raise to 100 bps (998) is more
	// than the 0.4 he has left.
	ts.must(200, "PATCH", "/v1/admin/markets/BTC-USDT", adminTok, `{"taker_fee_bps":100}`)
	want := ts.balances(bob)
	if want["USDT"] != "100000/0" {
		t.Fatalf("bob after the raise: %v", want)
	}
	killChild(t, cmd, ts)

	ts2 := start(t, dir, nil)
	if f := ts2.marketFees("BTC-USDT"); f != "10/100" {
		t.Fatalf("after the crash: fees %s", f)
	}
	if got := ts2.balances(bob); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the crash %v, want %v", got, want)
	}
	if st := ts2.must(200, "GET", "/v1/orders/"+o, bob, "")["status"]; st != "cancelled" {
		t.Fatalf("bob's order after the crash: %v", st)
	}
}
