package server

import (
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// A window whose start falls in a quiet spell starts from the NAV per
// unit in force then: the leader's value after the last result before
// the spell, even when that result moved a price the leader holds
// without a trade of the leader (others' trade after the leader's own
// in the same minute). Over HTTP: la buys 1 BTC at 100 (NAV 10,000),
// the price falls to 95 in the same minute (NAV 9,995); nine days pass
// without a command, then the price rises to 96 (NAV 9,996). The 7d
// window holds the rise alone: ROI 9,996 / 9,995 − 1, PnL 1, no
// drawdown. Before, the statistics sampled la when its minute began
// (its own trade) and again only at the next minute with a result, nine
// days on, after the rise: the 7d window started from 10,000, from
// before a fall that happened outside it (ROI −0.0004, PnL −4,
// drawdown 0.0004).
func TestLeaderStatsWindowAfterQuietSpell(t *testing.T) {
	var off atomic.Int64
	was := wallClock
	wallClock = func() int64 { return was() + off.Load() }
	t.Cleanup(func() { wallClock = was })
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
	_, mo := account("mo", "USDT", "1000000", "BTC", "100")
	_, tk := account("tk", "USDT", "100000")
	ts.must(200, "PUT", "/v1/social/leader", la, `{"profit_share_bps":0}`)
	order := func(tok, side, price, qty string) {
		ts.must(201, "POST", "/v1/orders", tok,
			fmt.Sprintf(`{"market":"BTC-USDT","side":%q,"price":%q,"quantity":%q}`, side, price, qty))
	}
	lastPrice := func(p string) { // tk takes mo's ask at p
		ts.must(200, "DELETE", "/v1/orders?market=BTC-USDT", mo, "")
		order(mo, "sell", p, "0.02")
		order(tk, "buy", p, "0.02")
	}
	// Within one minute of engine time (the clock does not move).
	order(mo, "sell", "100", "10")
	order(la, "buy", "100", "1")
	lastPrice("95")

	off.Store(int64(9 * 24 * time.Hour))
	lastPrice("96")

	type stats struct{ roi, pnl, dd float64 }
	got := map[string]stats{}
	out := ts.must(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", laID), "", "")
	for w, v := range out["stats"].(map[string]any) {
		m := v.(map[string]any)
		num := func(k string) float64 {
			x, err := strconv.ParseFloat(m[k].(string), 64)
			if err != nil {
				t.Fatalf("%s %s: %v", w, k, err)
			}
			return x
		}
		got[w] = stats{num("roi"), num("pnl"), num("max_drawdown")}
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-6 }
	for _, tc := range []struct {
		window string
		want   stats
	}{
		{"7d", stats{roi: 9996.0/9995 - 1, pnl: 1, dd: 0}},
		{"30d", stats{roi: -0.0004, pnl: -4, dd: 0.0005}},
		{"all", stats{roi: -0.0004, pnl: -4, dd: 0.0005}},
	} {
		g := got[tc.window]
		if !near(g.roi, tc.want.roi) || !near(g.pnl, tc.want.pnl) || !near(g.dd, tc.want.dd) {
			t.Errorf("window %s after a quiet spell: roi %v pnl %v max_drawdown %v, want %v %v %v",
				tc.window, g.roi, g.pnl, g.dd, tc.want.roi, tc.want.pnl, tc.want.dd)
		}
	}
}

// The same through the statistics alone, for a relation as for a
// leader, and for a window reading a compacted series: a leader and a
// relation hold BTC, others' trade moves its price after their sample
// of the minute, nothing happens for 40 days, then a deposit of another
// account. Every window that starts in the spell measures nothing.
func TestLeaderStatsQuietSpellStart(t *testing.T) {
	f := newStatFeed(t)
	f.deposit(1, usdt, 1000)
	f.lead(1)
	f.deposit(4, usdt, 100)
	f.do(engine.Command{Kind: engine.CmdFollow, Account: 4, Asset: usdt, Amount: 100, Copy: engine.CopySpec{Leader: 1}}, 1)
	f.advance(time.Hour)
	mirror := tradeEv(101, book.Buy, 10, 5, 0)
	mirror.Relation = 1
	f.do(engine.Command{Kind: engine.CmdPlace, Account: 1}, 0, tradeEv(1, book.Buy, 10, 10, 0), mirror)
	f.trade(other, book.Buy, 12, 1, 0) // the same minute: leader NAV 1,020, relation 110, not their trade
	f.advance(40 * 24 * time.Hour)
	f.deposit(3, usdt, 1)
	for _, w := range []statWindow{window7d, window30d} {
		r := f.row(1, w)
		if r.ROI != 0 || r.PnL != 0 || r.MaxDrawdown != 0 || r.CopierPnL != 0 || r.CopyGap != 0 {
			t.Errorf("window %v starting in a quiet spell: %+v, want no return, PnL nor drawdown", w, r)
		}
	}
	if r := f.row(1, windowAll); !near(r.ROI, 0.02) || r.PnL != 20 || r.CopierPnL != 10 || !near(r.CopyGap, 0.02-0.1) {
		t.Errorf("window all: %+v, want ROI 0.02, PnL 20, copier PnL 10, copy gap −0.08", r)
	}
}

// The sweep of a minute is neither lost nor made twice by a save and a
// restore before it (istd's restart: the statistics load their last
// save, and the log replays what came after it): a leader and a relation
// hold BTC, others move its price after their own samples of the
// minute, and the statistics are saved and loaded after each result of
// the minute, of the spell's end, and of the minute after. Every time,
// they end exactly as those never restored.
func TestLeaderStatsSweepAcrossRestore(t *testing.T) {
	run := func(restoreAt int) *leaderStats {
		f := newStatFeed(t)
		step := 0
		do := func(fn func()) {
			fn()
			if step++; step == restoreAt {
				f.ls = reloadStats(t, f.ls, memStore(t))
			}
		}
		do(func() { f.deposit(1, usdt, 1000) })
		do(func() { f.lead(1) })
		do(func() { f.deposit(4, usdt, 100) })
		do(func() {
			f.do(engine.Command{Kind: engine.CmdFollow, Account: 4, Asset: usdt, Amount: 100, Copy: engine.CopySpec{Leader: 1}}, 1)
		})
		do(func() {
			f.advance(time.Minute)
			mirror := tradeEv(101, book.Buy, 10, 5, 0)
			mirror.Relation = 1
			f.do(engine.Command{Kind: engine.CmdPlace, Account: 1}, 0, tradeEv(1, book.Buy, 10, 10, 0), mirror)
		})
		do(func() { f.advance(10 * time.Second); f.trade(other, book.Buy, 8, 1, 0) })
		do(func() { f.advance(9 * 24 * time.Hour); f.trade(other, book.Buy, 12, 1, 0) })
		do(func() { f.advance(time.Minute); f.trade(other, book.Buy, 11, 1, 0) })
		do(func() { f.advance(time.Minute); f.deposit(3, usdt, 1) })
		return f.ls
	}
	want := run(0)
	// The 7d window starts in the spell, from NAV 900 + 10 × 8.
	if r := want.row(1, window7d); !near(r.ROI, 1010.0/980-1) || r.PnL != 30 {
		t.Fatalf("7d window: %+v, want ROI 1,010/980 − 1 and PnL 30", r)
	}
	for at := 1; at <= 9; at++ {
		sameState(t, fmt.Sprintf("restored after result %d", at), persisted(run(at)), persisted(want))
	}
}
