package server

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/instant-social-trading/ist/engine"
)

// feeBalances returns asset → "available/locked" of the fee account.
func (ts *testServer) feeBalances() map[string]string {
	ts.t.Helper()
	m := map[string]string{}
	for _, b := range ts.must(200, "GET", "/v1/admin/fees", adminTok, "")["balances"].([]any) {
		b := b.(map[string]any)
		m[b["asset"].(string)] = b["available"].(string) + "/" + b["locked"].(string)
	}
	return m
}

// money returns, per asset, the sum of every balance (available and
// locked) of every account GET /v1/admin/accounts lists and of the fee
// account, in units of 10^-8.
func (ts *testServer) money() map[string]int64 {
	ts.t.Helper()
	sum := map[string]int64{}
	add := func(bals []any) {
		for _, b := range bals {
			b := b.(map[string]any)
			for _, k := range []string{"available", "locked"} {
				v, err := ParseDecimal([]byte(b[k].(string)), Scale, false)
				if err != nil {
					ts.t.Fatalf("%v: %v", b, err)
				}
				sum[b["asset"].(string)] += v
			}
		}
	}
	add(ts.must(200, "GET", "/v1/admin/fees", adminTok, "")["balances"].([]any))
	after := 0.0
	for {
		accts := ts.must(200, "GET", fmt.Sprintf("/v1/admin/accounts?limit=2&after=%d", int64(after)), adminTok, "")["accounts"].([]any)
		if len(accts) == 0 {
			return sum
		}
		for _, a := range accts {
			add(a.(map[string]any)["balances"].([]any))
			after = a.(map[string]any)["id"].(float64)
		}
	}
}

// metric returns the value of the metric name (without labels) on
// /metrics.
func (ts *testServer) metric(name string) float64 {
	ts.t.Helper()
	resp, err := ts.c.Get(ts.base + "/metrics")
	if err != nil {
		ts.t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		ts.t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				ts.t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	ts.t.Fatalf("no %s on /metrics", name)
	return 0
}

// ledger is what the tests moved into and out of the exchange, per asset,
// in units of 10^-8: deposits − withdrawals.
type ledger map[string]int64

func (l ledger) move(asset, amount string, sign int64) {
	v, err := ParseDecimal([]byte(amount), Scale, false)
	if err != nil {
		panic(err)
	}
	l[asset] += sign * v
}

// wantMoney fails the test unless the balances of all accounts, the fee
// account included, sum per asset to deposits − withdrawals.
func (ts *testServer) wantMoney(l ledger) {
	ts.t.Helper()
	got := ts.money()
	for asset, v := range l {
		if got[asset] != v {
			ts.t.Fatalf("%s: balances sum to %d, deposits − withdrawals = %d (all: %v, want %v)", asset, got[asset], v, got, l)
		}
	}
}

// feeTrade trades 0.1 BTC at 65000 between alice (maker) and bob
// (taker): 19.5 USDT of fees (10 and 20 bps of 6500).
func (ts *testServer) feeTrade(alice, bob string) {
	ts.t.Helper()
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.1"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.1"}`)
}

// The admin withdraws fee revenue from the fee account: the fees of a
// trade, part of them taken out, the rest shown by GET /v1/admin/fees;
// an identical resend is 200 "duplicate":true and moves nothing, a reuse
// of the ref 409 ref_conflict, more than the fees 400 insufficient_funds
// (keeping no ref); a user token is 403, none or a made-up one 401; the
// fee account's refs are its own; every asset stays conserved.
func TestFeeWithdrawals(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	l := ledger{}
	l.move("BTC", "2", 1)
	l.move("USDT", "100000", 1)
	cid, carol := ts.signup("carol")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"50","ref":"d-c"}`, cid))
	l.move("USDT", "50", 1)
	ts.must(201, "POST", "/v1/withdrawals", carol, `{"asset":"USDT","amount":"1","ref":"w-1"}`)
	l.move("USDT", "1", -1)
	ts.feeTrade(alice, bob)
	if got := ts.feeBalances(); fmt.Sprint(got) != "map[USDT:19.5/0]" {
		t.Fatalf("fees after the trade: %v", got)
	}
	ts.wantMoney(l)

	const path = "/v1/admin/fees/withdrawals"
	out := ts.must(201, "POST", path, adminTok, `{"asset":"USDT","amount":"5","ref":"fw-1"}`)
	l.move("USDT", "5", -1)
	if got := fmt.Sprint(out); got != "map[account_id:0 amount:5 asset:USDT duplicate:false ref:fw-1]" {
		t.Fatalf("fee withdrawal answered %s", got)
	}
	if got := ts.feeBalances()["USDT"]; got != "14.5/0" {
		t.Fatalf("fees after withdrawing 5: %s, want 14.5/0", got)
	}
	ts.wantMoney(l)
	// The statistics' ledger keeps no entry for the fee account (it held
	// the withdrawal as a negative balance).
	ts.s.waitStats(ts.s.eng.DurableSeq())
	ts.s.stats.mu.RLock()
	fee, ok := ts.s.stats.st.Accounts[engine.FeeAccount]
	ts.s.stats.mu.RUnlock()
	if ok {
		t.Fatalf("statistics ledger has an entry for the fee account: %+v", fee)
	}

	// A resend moves nothing; a reuse of its ref is a conflict.
	if out := ts.must(200, "POST", path, adminTok, `{"asset":"USDT","amount":"5","ref":"fw-1"}`); out["duplicate"] != true {
		t.Fatalf("identical resend: %v, want duplicate true", out)
	}
	for _, c := range []struct {
		what, token, body string
		code              int
		errCode           string
	}{
		{"fw-1, another amount", adminTok, `{"asset":"USDT","amount":"6","ref":"fw-1"}`, 409, "ref_conflict"},
		{"fw-1, another asset", adminTok, `{"asset":"BTC","amount":"5","ref":"fw-1"}`, 409, "ref_conflict"},
		{"more than the fees", adminTok, `{"asset":"USDT","amount":"14.50000001","ref":"fw-2"}`, 400, "insufficient_funds"},
		{"an asset without fees", adminTok, `{"asset":"BTC","amount":"0.1","ref":"fw-3"}`, 400, "insufficient_funds"},
		{"an unknown asset", adminTok, `{"asset":"DOGE","amount":"1","ref":"fw-3"}`, 404, "not_found"},
		{"no ref", adminTok, `{"asset":"USDT","amount":"1"}`, 400, "invalid_argument"},
		{"a ref of 37 bytes", adminTok, `{"asset":"USDT","amount":"1","ref":"` + strings.Repeat("r", 37) + `"}`, 400, "invalid_argument"},
		{"an account_id", adminTok, `{"account_id":1,"asset":"USDT","amount":"1","ref":"fw-3"}`, 400, "invalid_argument"},
		{"nothing", adminTok, `{"asset":"USDT","amount":"0","ref":"fw-3"}`, 400, "invalid_argument"},
		{"a user token", bob, `{"asset":"USDT","amount":"1","ref":"fw-3"}`, 403, "forbidden"},
		{"no token", "", `{"asset":"USDT","amount":"1","ref":"fw-3"}`, 401, "unauthenticated"},
		{"a made-up token", "made-up", `{"asset":"USDT","amount":"1","ref":"fw-3"}`, 401, "unauthenticated"},
		// Deposits to the fee account stay refused: fees come from trades.
		{"a deposit to the fee account", adminTok, `{"account_id":0,"asset":"USDT","amount":"1","ref":"d-0"}`, 404, "not_found"},
	} {
		p := path
		if strings.HasPrefix(c.what, "a deposit") {
			p = "/v1/admin/deposits"
		}
		if code, ec := ts.errCode("POST", p, c.token, c.body); code != c.code || ec != c.errCode {
			t.Errorf("%s: %d %s, want %d %s", c.what, code, ec, c.code, c.errCode)
		}
	}
	if got := ts.feeBalances()["USDT"]; got != "14.5/0" {
		t.Fatalf("fees after refused withdrawals: %s, want 14.5/0", got)
	}
	ts.wantMoney(l)
	// The refused fw-2 kept no ref; within the fees it is taken.
	ts.must(201, "POST", path, adminTok, `{"asset":"USDT","amount":"4.5","ref":"fw-2"}`)
	l.move("USDT", "4.5", -1)
	// The fee account's refs are its own: carol's fw-1 is a new
	// withdrawal of hers, and the fee account's fw-1 is still a resend.
	ts.must(201, "POST", "/v1/withdrawals", carol, `{"asset":"USDT","amount":"1","ref":"fw-1"}`)
	l.move("USDT", "1", -1)
	ts.must(200, "POST", path, adminTok, `{"asset":"USDT","amount":"5","ref":"fw-1"}`)
	if got := ts.feeBalances()["USDT"]; got != "10/0" {
		t.Fatalf("fees: %s, want 10/0", got)
	}
	if got := ts.balances(carol)["USDT"]; got != "48/0" {
		t.Fatalf("carol USDT %s, want 48/0", got)
	}
	ts.wantMoney(l)

	// Metrics and logs label the route as its path.
	resp, err := ts.c.Get(ts.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, code := range []string{"201", "200", "409", "400", "403", "401"} {
		if want := `http_requests_total{code="` + code + `",handler="` + path + `"}`; !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A fee withdrawal is durable once answered: after a crash (the log
// replayed) and after a clean restart (from the snapshot Shutdown
// writes, which keeps the fee account's window of refs), the fee account
// holds what is left, a resend of the ref is still a duplicate and a
// reuse a conflict, and every asset is conserved.
func TestFeeWithdrawalsRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd, ts := startChild(t, dir, freeAddr(t))
	defer cmd.Process.Kill()
	alice, bob := ts.setup()
	l := ledger{}
	l.move("BTC", "2", 1)
	l.move("USDT", "100000", 1)
	ts.feeTrade(alice, bob)
	const path = "/v1/admin/fees/withdrawals"
	ts.must(201, "POST", path, adminTok, `{"asset":"USDT","amount":"5","ref":"fw-1"}`)
	l.move("USDT", "5", -1)
	killChild(t, cmd, ts)

	check := func(ts *testServer, when, fees string) {
		t.Helper()
		if got := ts.feeBalances()["USDT"]; got != fees {
			t.Fatalf("%s: fees %s, want %s", when, got, fees)
		}
		if out := ts.must(200, "POST", path, adminTok, `{"asset":"USDT","amount":"5","ref":"fw-1"}`); out["duplicate"] != true {
			t.Fatalf("%s: resend of fw-1: %v", when, out)
		}
		if code, ec := ts.errCode("POST", path, adminTok, `{"asset":"USDT","amount":"4","ref":"fw-1"}`); code != 409 || ec != "ref_conflict" {
			t.Fatalf("%s: reuse of fw-1: %d %s", when, code, ec)
		}
		ts.wantMoney(l)
	}
	ts2 := start(t, dir, nil)
	check(ts2, "after a crash", "14.5/0")
	ts2.must(201, "POST", path, adminTok, `{"asset":"USDT","amount":"4.5","ref":"fw-2"}`)
	l.move("USDT", "4.5", -1)
	last := ts2.metric("wal_durable_sequence") // fw-2's or later
	ts2.stop()

	ts3 := start(t, dir, nil)
	// Recovered from the snapshot Shutdown wrote, which holds fw-2 (a
	// snapshot it could not read would be skipped for the log).
	if snap := ts3.metric("engine_snapshot_sequence"); snap < last {
		t.Fatalf("after a clean restart: recovered from snapshot %v, before fw-2 (%v)", snap, last)
	}
	check(ts3, "after a clean restart", "10/0")
	ts3.must(200, "POST", path, adminTok, `{"asset":"USDT","amount":"4.5","ref":"fw-2"}`)
}
