package server

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// The leaderboard's sorts and windows as API.md and COPY_TRADING.md
// define them, over HTTP: three leaders, one winning (la: two active
// followers and a paused one), one losing (lb: one follower with a large
// allocation), one idle (lc). sort=roi and sort=pnl rank la, lc, lb;
// sort=followers counts active relations only (la 2, lb 1, lc 0);
// sort=aum ranks by the active relations' NAV (lb's one big wallet
// first). After eight days and a price move, the 7d window measures
// only the move, and all everything.
func TestCopyReviewLeaderboardSortsAndWindows(t *testing.T) {
	var off atomic.Int64
	was := wallClock
	wallClock = func() int64 { return was() + off.Load() }
	t.Cleanup(func() { wallClock = was }) // after the server stops: cleanups run last first
	ts := start(t, t.TempDir(), nil)
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":0,"taker_fee_bps":0}`)
	n := 0
	account := func(name string, amounts ...string) (uint64, string) {
		id, tok := ts.signup(name)
		for i := 0; i < len(amounts); i += 2 {
			n++
			ts.must(201, "POST", "/v1/admin/deposits", adminTok,
				fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"d-%d"}`, id, amounts[i], amounts[i+1], n))
		}
		return id, tok
	}
	laID, la := account("la", "USDT", "10000")
	lbID, lb := account("lb", "USDT", "10000")
	lcID, lc := account("lc", "USDT", "10000")
	_, mo := account("mo", "USDT", "1000000", "BTC", "100")
	_, tk := account("tk", "USDT", "100000")
	for _, tok := range []string{la, lb, lc} {
		ts.must(200, "PUT", "/v1/social/leader", tok, `{"profit_share_bps":0}`)
	}
	follow := func(name string, leader uint64, alloc string) uint64 {
		_, tok := account(name, "USDT", "10000")
		f := ts.must(201, "POST", "/v1/social/follows", tok,
			fmt.Sprintf(`{"leader_id":%d,"allocation":%q,"mode":"multiplier","value":"1"}`, leader, alloc))
		if name == "f3" {
			ts.must(200, "POST", fmt.Sprintf("/v1/social/follows/%d/pause", uint64(f["id"].(float64))), tok, "")
		}
		return uint64(f["id"].(float64))
	}
	follow("f1", laID, "1000")
	follow("f2", laID, "1000")
	follow("f3", laID, "1000")
	follow("f4", lbID, "5000")
	order := func(tok, side, price, qty string) {
		ts.must(201, "POST", "/v1/orders", tok,
			fmt.Sprintf(`{"market":"BTC-USDT","side":%q,"price":%q,"quantity":%q}`, side, price, qty))
	}
	lastPrice := func(p string) { // tk takes mo's ask at p
		ts.must(200, "DELETE", "/v1/orders?market=BTC-USDT", mo, "")
		order(mo, "sell", p, "0.01")
		order(tk, "buy", p, "0.01")
	}
	order(mo, "sell", "100", "10")
	order(la, "buy", "100", "1") // f1 and f2 buy 1 BTC each at 100
	ts.must(200, "DELETE", "/v1/orders?market=BTC-USDT", mo, "")
	order(mo, "sell", "110", "10")
	order(lb, "buy", "110", "1") // f4 buys 1 BTC at 110
	lastPrice("105")
	// la: 10,000 − 100 + 105 = 10,005; lb 9,995; lc 10,000. Wallets:
	// f1, f2 1,005 each (f3, paused, 1,000 of quote), f4 4,995.

	type row struct {
		id            uint64
		roi, pnl, aum float64
		activeFollow  float64
	}
	board := func(sort, window string) []row {
		t.Helper()
		out := ts.must(200, "GET", "/v1/social/leaders?sort="+sort+"&window="+window, "", "")
		var rows []row
		for _, r := range out["leaders"].([]any) {
			r := r.(map[string]any)
			num := func(k string) float64 {
				v, err := strconv.ParseFloat(r[k].(string), 64)
				if err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				return v
			}
			rows = append(rows, row{id: uint64(r["account_id"].(float64)), roi: num("roi"), pnl: num("pnl"), aum: num("aum"),
				activeFollow: r["active_followers"].(float64)})
		}
		return rows
	}
	ids := func(rows []row) []uint64 {
		var out []uint64
		for _, r := range rows {
			out = append(out, r.id)
		}
		return out
	}
	near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-6*max(1, math.Abs(want)) }
	for _, w := range []string{"7d", "30d", "all"} {
		for _, tc := range []struct {
			sort string
			want []uint64
		}{
			{"roi", []uint64{laID, lcID, lbID}},
			{"pnl", []uint64{laID, lcID, lbID}},
			{"followers", []uint64{laID, lbID, lcID}},
			{"aum", []uint64{lbID, laID, lcID}},
		} {
			rows := board(tc.sort, w)
			if got := ids(rows); !slices.Equal(got, tc.want) {
				t.Errorf("sort=%s window=%s: leaders %v, want %v (%+v)", tc.sort, w, got, tc.want, rows)
			}
		}
		rows := board("roi", w)
		want := []row{{id: laID, roi: 5.0 / 10000, pnl: 5, aum: 2010, activeFollow: 2},
			{id: lcID}, {id: lbID, roi: -5.0 / 10000, pnl: -5, aum: 4995, activeFollow: 1}}
		for i, r := range rows {
			x := want[i]
			if !near(r.roi, x.roi) || !near(r.pnl, x.pnl) || !near(r.aum, x.aum) || r.activeFollow != x.activeFollow {
				t.Errorf("window %s: row %+v, want %+v", w, r, x)
			}
		}
	}

	// Eight days later, the first command since the move to 105 (the
	// statistics sample every series at the last result of each minute
	// with results, so the 7d window, which starts in the quiet spell,
	// starts from 105; TestLeaderStatsWindowAfterQuietSpell), the price
	// moves to 110: la's NAV 10,010 (7d roi
	// 10,010/10,005 − 1, pnl 5; all 0.001, pnl 10), lb 10,000 (7d
	// 10,000/9,995 − 1, pnl 5; all 0, pnl 0).
	off.Store(int64(8 * 24 * time.Hour))
	lastPrice("110")
	for _, tc := range []struct {
		window   string
		la, lb   row
		wantSort []uint64
	}{
		{"7d", row{roi: 10010.0/10005 - 1, pnl: 5}, row{roi: 10000.0/9995 - 1, pnl: 5}, []uint64{lbID, laID, lcID}},
		{"30d", row{roi: 0.001, pnl: 10}, row{roi: 0, pnl: 0}, []uint64{laID, lbID, lcID}},
		{"all", row{roi: 0.001, pnl: 10}, row{roi: 0, pnl: 0}, []uint64{laID, lbID, lcID}},
	} {
		rows := board("roi", tc.window)
		if got := ids(rows); !slices.Equal(got, tc.wantSort) {
			t.Errorf("after 8 days, window %s: leaders by roi %v, want %v (%+v)", tc.window, got, tc.wantSort, rows)
		}
		for _, r := range rows {
			x := map[uint64]row{laID: tc.la, lbID: tc.lb}[r.id]
			if !near(r.roi, x.roi) || !near(r.pnl, x.pnl) {
				t.Errorf("after 8 days, window %s: leader %d roi %v pnl %v, want %v %v", tc.window, r.id, r.roi, r.pnl, x.roi, x.pnl)
			}
		}
	}
}
