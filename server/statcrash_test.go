package server

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestCrashStats kills a server process (TestCrashChild, saving the
// order history and with it the leader statistics every few
// milliseconds) with SIGKILL after copy trading, some of it saved and
// some not yet, in three rounds on the same data directory; after each
// restart the leader's statistics in every window, and its followers and
// their follows (with the NAV and what a closed one returned, which the
// statistics give), are what the killed process showed: the saved
// records, with the log replayed after them.
func TestCrashStats(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	type parties struct{ lid, fid uint64 }
	var p parties
	var lead, fol, maker, buyer string
	var rel uint64 // the open follow
	shows := func(ts *testServer) []any {
		t.Helper()
		follows := ts.must(200, "GET", "/v1/social/follows", fol, "")
		for _, f := range follows["follows"].([]any) {
			delete(f.(map[string]any), "sequence") // the engine's, newer after a restart
		}
		return []any{
			ts.must(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", p.lid), "", "")["stats"],
			ts.must(200, "GET", "/v1/social/followers?status=all", lead, ""),
			follows,
		}
	}
	for round := range 3 {
		addr := freeAddr(t)
		cmd, ts := startChild(t, dir, addr, "IST_CRASH_HISTORY=1")
		defer cmd.Process.Kill() // if the test fails before the kill
		if round == 0 {
			ts.must(201, "POST", "/v1/admin/markets", adminTok,
				`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)
			p.lid, lead = ts.signup("lea")
			p.fid, fol = ts.signup("fred")
			mid, mo := ts.signup("mo")
			xid, xav := ts.signup("xav")
			maker, buyer = mo, xav
			for i, d := range []struct {
				id          uint64
				asset, amnt string
			}{{p.lid, "USDT", "1000"}, {p.fid, "USDT", "10000"}, {mid, "BTC", "100"}, {xid, "USDT", "100000"}} {
				ts.must(201, "POST", "/v1/admin/deposits", adminTok,
					fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"d-%d"}`, d.id, d.asset, d.amnt, i))
			}
			ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":1000}`)
		}
		// The leader buys at price, or sells (its copies follow), and
		// others trade at 90 + round.
		trade := func(side string, price int) {
			other := map[string]string{"buy": "sell", "sell": "buy"}[side]
			counter := map[string]string{"buy": maker, "sell": buyer}[side]
			ts.must(201, "POST", "/v1/orders", counter, fmt.Sprintf(`{"market":"BTC-USDT","side":%q,"price":"%d","quantity":"2"}`, other, price))
			ts.must(201, "POST", "/v1/orders", lead, fmt.Sprintf(`{"market":"BTC-USDT","side":%q,"price":"%d","quantity":"0.5"}`, side, price))
			ts.must(201, "POST", "/v1/orders", buyer, fmt.Sprintf(`{"market":"BTC-USDT","side":"buy","price":"%d","quantity":"0.1"}`, 90+round))
			ts.must(201, "POST", "/v1/orders", maker, fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":"%d","quantity":"0.1"}`, 90+round))
		}
		// Saved: a follow (from the round before after the first) and
		// trades, then time for saves.
		follow := func(alloc string) uint64 {
			return uint64(ts.must(201, "POST", "/v1/social/follows", fol, `{"leader_id":`+fmt.Sprint(p.lid)+`,"allocation":"`+alloc+`"}`)["id"].(float64))
		}
		if round == 0 {
			rel = follow("300")
		}
		trade("buy", 100+round)
		time.Sleep(100 * time.Millisecond)
		// Not saved, or partly: more trades, a close, a new follow.
		trade("buy", 95+round)
		trade("sell", 105+round)
		ts.must(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d?close=market", rel), fol, "")
		rel = follow("200")
		trade("buy", 98+round)
		want := shows(ts)
		killChild(t, cmd, ts)

		ts2 := start(t, dir, nil)
		if ts2.s.statsSaved.Load() == 0 {
			t.Fatalf("round %d: no statistics saved before the kill", round)
		}
		if got := shows(ts2); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: after the kill\n%v\nwant\n%v", round, got, want)
		}
		ts2.stop()
	}
}
