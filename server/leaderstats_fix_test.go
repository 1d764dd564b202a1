package server

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// Regression tests of the leader statistics' ledger (statledger.go,
// leaderstats.go, statseries.go, statpersist.go).

// profitShareEv is relation rel (of follower) paying amt to leader.
func profitShareEv(rel, follower, leader uint64, amt int64) engine.Event {
	return engine.Event{Event: book.Event{Kind: engine.EvProfitShare, Owner: follower, MakerOwner: leader},
		Relation: rel, Amount: amt}
}

// A leader with no units left (it withdrew everything) gets units again
// for what comes in: profit share and a deposit then leave its ROI as it
// was.
func TestLeaderStatUnitsZeroIncomeThenDeposit(t *testing.T) {
	f := newStatFeed(t)
	f.deposit(1, usdt, 1000)
	f.lead(1)
	f.deposit(4, usdt, 1000)
	f.do(engine.Command{Kind: engine.CmdFollow, Account: 4, Asset: usdt, Amount: 100, Copy: engine.CopySpec{Leader: 1}}, 1)
	mirror := tradeEv(101, book.Buy, 10, 1, 0)
	mirror.Relation = 1
	f.do(engine.Command{Kind: engine.CmdPlace, Account: 1}, 0, tradeEv(1, book.Buy, 10, 10, 0), mirror)
	f.price(20)
	f.trade(1, book.Sell, 20, 10, 0)
	f.withdraw(1, usdt, 1100)
	if before := f.row(1, windowAll).ROI; !near(before, 0.1) {
		t.Fatalf("ROI %v before, want 0.1", before)
	}
	f.do(engine.Command{Kind: engine.CmdSettle}, 1, profitShareEv(1, 4, 1, 1))
	if mid := f.row(1, windowAll).ROI; !near(mid, 0.1) {
		t.Errorf("ROI %v after profit share, want 0.1", mid)
	}
	f.deposit(1, usdt, 1)
	if after := f.row(1, windowAll); !near(after.ROI, 0.1) || after.ProfitShare != 1 {
		t.Errorf("ROI %v, profit share %d after a deposit, want 0.1 and 1", after.ROI, after.ProfitShare)
	}
	// The units it has again make returns.
	f.deposit(1, usdt, 99)
	f.trade(1, book.Buy, 20, 5, 0)
	f.price(30) // NAV 101 → 151
	if r := f.row(1, windowAll); !near(r.ROI, 1.1*151/101-1) {
		t.Errorf("ROI %v, want %v", r.ROI, 1.1*151/101-1)
	}
}

// A leader that withdrew down to dust cannot raise its ROI with profit
// share: income issues units.
func TestLeaderStatDustLeaderProfitShareROI(t *testing.T) {
	const e8 = 100_000_000
	f := newStatFeed(t)
	f.deposit(1, usdt, 1000*e8)
	f.lead(1)
	f.deposit(4, usdt, 100*e8)
	f.do(engine.Command{Kind: engine.CmdFollow, Account: 4, Asset: usdt, Amount: 100 * e8, Copy: engine.CopySpec{Leader: 1}}, 1)
	buy := tradeEv(101, book.Buy, 10*e8, 1, 0)
	buy.Relation = 1
	f.do(engine.Command{Kind: engine.CmdPlace, Account: 1}, 0, tradeEv(1, book.Buy, 10*e8, 10, 0), buy)
	sell := tradeEv(101, book.Sell, 20*e8, 1, 0)
	sell.Relation = 1
	f.do(engine.Command{Kind: engine.CmdPlace, Account: 1}, 0, tradeEv(1, book.Sell, 20*e8, 10, 0), sell)
	f.withdraw(1, usdt, 1100*e8-1)
	if r := f.row(1, windowAll); !near(r.ROI, 0.1) {
		t.Errorf("leader ROI %v after withdrawing down to dust, want 0.1", r.ROI)
	}
	f.do(engine.Command{Kind: engine.CmdSettle}, 1, profitShareEv(1, 4, 1, 1*e8))
	if r := f.row(1, windowAll); !near(r.ROI, 0.1) || r.ProfitShare != 1*e8 {
		t.Errorf("leader ROI %v (from 0.1), profit share %d after 1 USDT of profit share", r.ROI, r.ProfitShare)
	}
}

// Deposits and withdrawals of any size, down to dust, leave the NAV per
// unit where it was.
func TestLeaderStatFlowsKeepNPU(t *testing.T) {
	f := newStatFeed(t)
	f.deposit(1, usdt, 1e11)
	f.lead(1)
	f.trade(1, book.Buy, 10, 5e9, 0)
	f.price(12) // NAV 5e10 + 6e10: ROI 0.1
	check := func(what string) {
		t.Helper()
		if r := f.row(1, windowAll); !near(r.ROI, 0.1) {
			t.Fatalf("ROI %.15f after %s, want 0.1", r.ROI, what)
		}
	}
	check("the price move")
	for _, fl := range []int64{-(5e10 - 7), 3, 1e15, -(1e15 + 3), -7, 1} {
		if fl > 0 {
			f.deposit(1, usdt, fl)
		} else {
			f.withdraw(1, usdt, -fl)
		}
		check(fmt.Sprint("a flow of ", fl))
	}
	f.trade(1, book.Sell, 12, 5e9, 0) // all in USDT: 6e10 + 1
	f.withdraw(1, usdt, 6e10)
	check("a withdrawal down to dust")
}

// Each leader's NAV is valued in an asset that values all it holds,
// given in its rows; PnL sorts in a common asset.
func TestLeaderStatValuationInBaseAsset(t *testing.T) {
	f := newStatFeed(t)
	const eth = 3
	f.do(engine.Command{Kind: engine.CmdCreateAsset, Name: mustName("ETH")}, eth)
	f.do(engine.Command{Kind: engine.CmdCreateMarket, Spec: engine.MarketSpec{Base: eth, Quote: btc, BaseScale: 1, QuoteScale: 1}}, 2)
	f.price(100)
	f.deposit(1, usdt, 1000)
	f.deposit(1, btc, 10)
	ethBuy := tradeEv(1, book.Buy, 1, 1, 0)
	ethBuy.Market = 2
	f.do(engine.Command{Kind: engine.CmdPlace, Account: 1}, 0, ethBuy) // its last trade is quoted in BTC
	f.lead(1)
	f.trade(1, book.Buy, 100, 5, 0)
	if r := f.row(1, windowAll); !near(r.ROI, 0) || r.Valuation != usdt {
		t.Errorf("ROI %v in asset %d, want 0 in USDT", r.ROI, r.Valuation) // 0.5
	}
	f.deposit(2, usdt, 1000)
	f.lead(2)
	f.trade(2, book.Buy, 100, 1, 0)
	f.trade(1, book.Buy, 100, 1, 0)
	f.price(150)
	if rows := f.ls.board("pnl", windowAll, 0); rows[0].Leader != 1 || rows[0].PnL != 300 || rows[1].PnL != 50 {
		t.Errorf("by pnl: %+v", rows)
	}
}

// A leader valued in BTC (all it holds is quoted in BTC) holds USDT too:
// USDT is valued through BTC-USDT the other way round.
func TestLeaderStatValuationReversePair(t *testing.T) {
	f := newStatFeed(t)
	const eth = 3
	f.do(engine.Command{Kind: engine.CmdCreateAsset, Name: mustName("ETH")}, eth)
	f.do(engine.Command{Kind: engine.CmdCreateMarket, Spec: engine.MarketSpec{Base: eth, Quote: btc, BaseScale: 1, QuoteScale: 1}}, 2)
	f.price(100)
	f.deposit(1, btc, 10)
	f.lead(1)
	if r := f.row(1, windowAll); r.Valuation != btc {
		t.Fatalf("valued in %d, want BTC", r.Valuation)
	}
	f.trade(1, book.Sell, 100, 5, 0) // 5 BTC for 500 USDT: no return
	if r := f.row(1, windowAll); !near(r.ROI, 0) {
		t.Errorf("ROI %v after selling BTC for USDT, want 0", r.ROI)
	}
	f.price(50) // 500 USDT is 10 BTC now: NAV 15 BTC
	if r := f.row(1, windowAll); !near(r.ROI, 0.5) {
		t.Errorf("ROI %v, want 0.5", r.ROI)
	}
	// Leader 1 makes 4 BTC trading ETH; leader 2 20 USDT trading BTC,
	// which is less: 4 BTC is 240 USDT.
	ethBuy := tradeEv(1, book.Buy, 1, 2, 0)
	ethBuy.Market = 2
	f.do(engine.Command{Kind: engine.CmdPlace, Account: 1}, 0, ethBuy)
	ethUp := tradeEv(other, book.Buy, 3, 1, 0)
	ethUp.Market = 2
	f.do(engine.Command{Kind: engine.CmdPlace, Account: other}, 0, ethUp)
	f.deposit(2, usdt, 1000)
	f.lead(2)
	f.trade(2, book.Buy, 50, 2, 0)
	f.price(60)
	rows := f.ls.board("pnl", windowAll, 0)
	if rows[0].Leader != 1 || rows[0].PnL != 4 || rows[0].Valuation != btc || rows[1].PnL != 20 || rows[1].Valuation != usdt {
		t.Errorf("by pnl: %+v", rows)
	}
}

// An asset that gets its first price through a market it is the quote
// of makes no return either.
func TestLeaderStatFirstPriceReverse(t *testing.T) {
	f := newStatFeed(t)
	const eth = 3
	f.do(engine.Command{Kind: engine.CmdCreateAsset, Name: mustName("ETH")}, eth)
	f.do(engine.Command{Kind: engine.CmdCreateMarket, Spec: engine.MarketSpec{Base: eth, Quote: btc, BaseScale: 1, QuoteScale: 1}}, 2)
	f.deposit(1, btc, 10)
	f.lead(1) // valued in BTC
	f.deposit(1, usdt, 1000)
	f.price(100) // 1000 USDT is 10 BTC
	if r := f.row(1, windowAll); !near(r.ROI, 0) || r.Valuation != btc {
		t.Errorf("ROI %v in %d after the first price, want 0 in BTC", r.ROI, r.Valuation)
	}
	f.price(50) // 20 BTC: NAV 30 BTC, from 20
	if r := f.row(1, windowAll); !near(r.ROI, 0.5) {
		t.Errorf("ROI %v, want 0.5", r.ROI)
	}
}

// PnL sorts converted into the most common valuation asset; a leader
// valued in an asset without a path to it sorts after the others.
func TestLeaderStatBoardUnconvertible(t *testing.T) {
	f := newStatFeed(t)
	const eth, eur = 3, 4
	f.do(engine.Command{Kind: engine.CmdCreateAsset, Name: mustName("ETH")}, eth)
	f.do(engine.Command{Kind: engine.CmdCreateAsset, Name: mustName("EUR")}, eur)
	f.do(engine.Command{Kind: engine.CmdCreateMarket, Spec: engine.MarketSpec{Base: eth, Quote: eur, BaseScale: 1, QuoteScale: 1}}, 2)
	for i, acct := range []uint64{1, 2} {
		f.deposit(acct, usdt, 1000)
		f.lead(acct)
		f.trade(acct, book.Buy, 10, int64(10*(i+1)), 0)
	}
	f.deposit(3, eur, 1000)
	f.lead(3)
	ev := tradeEv(3, book.Buy, 10, 50, 0)
	ev.Market = 2
	f.do(engine.Command{Kind: engine.CmdPlace, Account: 3}, 0, ev)
	ev = tradeEv(other, book.Buy, 20, 1, 0)
	ev.Market = 2
	f.do(engine.Command{Kind: engine.CmdPlace, Account: other}, 0, ev) // leader 3: PnL 500 EUR
	f.price(9)                                                         // leaders 1 and 2: -10 and -20 USDT
	rows := f.ls.board("pnl", windowAll, 0)
	if rows[0].Leader != 1 || rows[1].Leader != 2 || rows[2].Leader != 3 || rows[2].PnL != 500 || rows[2].Valuation != eur {
		t.Errorf("by pnl: %+v", rows)
	}
}

// Falls within one sampling step count in the drawdown. The leader
// trades at the bottom, so that it is sampled there: a series gets a
// sample after each result that changes it and at the last result of
// each minute (leaderStats, "Sampling"), so a dip that others' trades
// make and undo within a minute is not seen in the series of those who
// did not trade in it.
func TestLeaderStatDrawdownWithinStep(t *testing.T) {
	f := newStatFeed(t)
	f.deposit(1, usdt, 100)
	f.lead(1)
	f.trade(1, book.Buy, 10, 10, 0)
	f.advance(time.Minute)
	f.trade(1, book.Sell, 5, 1, 0) // NAV 5 + 9 × 5 = 50
	if r := f.row(1, windowAll); !near(r.MaxDrawdown, 0.5) {
		t.Fatalf("drawdown %v at 5", r.MaxDrawdown)
	}
	f.trade(other, book.Buy, 10, 1, 0)
	f.trade(1, book.Sell, 10, 1, 0) // NAV 15 + 8 × 10 = 95
	if r := f.row(1, windowAll); r.MaxDrawdown < 0.5-1e-9 {
		t.Errorf("max drawdown %v, want 0.5", r.MaxDrawdown) // 0
	}
	// Compaction (an hour on, then steps of 5 minutes after 7 days)
	// keeps it.
	for range 3 {
		f.advance(3 * 24 * time.Hour)
		f.price(12)
	}
	if r := f.row(1, windowAll); !near(r.MaxDrawdown, 0.5) {
		t.Errorf("max drawdown %v after compaction, want 0.5", r.MaxDrawdown)
	}
}

// The drawdown of merged steps is that of their points: a rise then a
// fall within one step counts; a fall then a rise within one step from a
// peak before it counts.
func TestSeriesDrawdownMerge(t *testing.T) {
	const t0 = int64(1) << 40
	for _, tc := range []struct {
		npus []float64 // one per second: all in the first minute
		want float64
	}{
		{[]float64{1, 2, 1}, 0.5},
		{[]float64{2, 1, 2}, 0.5},
		{[]float64{1, 0.5, 3, 2.4, 3}, 0.5},
		{[]float64{1, 1.5, 2}, 0},
	} {
		var s series
		for i, v := range tc.npus {
			s.record(statPoint{T: t0 + int64(i)*int64(time.Second), NPU: v}, leaderTiers)
		}
		last := tc.npus[len(tc.npus)-1]
		if got := s.drawdown(t0-1, t0+hour, last); !near(got, tc.want) || len(s.Points) != 1 {
			t.Errorf("%v: drawdown %v over %d points, want %v", tc.npus, got, len(s.Points), tc.want)
		}
		// The same points over three steps, merged by compaction a
		// year later.
		var c series
		for i, v := range tc.npus {
			c.record(statPoint{T: t0 + int64(i)*hour, NPU: v}, leaderTiers)
		}
		c.compact(t0+400*day, leaderTiers)
		if got := c.drawdown(t0-1, t0+400*day, last); !near(got, tc.want) {
			t.Errorf("%v compacted into %d points: drawdown %v, want %v", tc.npus, len(c.Points), got, tc.want)
		}
	}
}

// Statistics persisted in version 1 (testdata/leaderstats-v1.bin: series
// points without their step's range, written by the code before version
// 2 from copyFeed, then leader 2 trading, price moves over 8 days, profit
// share, withdrawals and a closed relation) load with the rows they had,
// and go on.
func TestLeaderStatLoadVersion1(t *testing.T) {
	data, err := os.ReadFile("testdata/leaderstats-v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	if data[0] != 1 {
		t.Fatalf("version %d", data[0])
	}
	f := &statFeed{t: t, ls: newLeaderStats(), seq: 24, now: 1767924300000000000}
	if err := f.ls.decode(data); err != nil {
		t.Fatal(err)
	}
	// The rows the code of version 1 gave.
	want := map[statWindow][]leaderRow{
		window7d: {
			{Leader: 1, ROI: -0.008278145695364225, PnL: -10, MaxDrawdown: 0.020695364238410563, AUM: 365, Followers: 2,
				CopierPnL: -20, CopyGap: 0.04367866941934556},
			{Leader: 2, ROI: -0.022234533428022285, PnL: -20, MaxDrawdown: 0.08347245409015036}},
		windowAll: {
			{Leader: 1, ROI: 0.198, PnL: 188, MaxDrawdown: 0.020695364238410563, AUM: 365, Followers: 2, CopierPnL: 255,
				CopyGap: -0.652},
			{Leader: 2, ROI: 0.1713630289532293, PnL: 79, MaxDrawdown: 0.102}},
	}
	for w, rows := range want {
		got := f.ls.board("roi", w, 0)
		if len(got) != len(rows) {
			t.Fatalf("window %d: %+v", w, got)
		}
		for i, r := range rows {
			g := got[i]
			if g.Leader != r.Leader || !near(g.ROI, r.ROI) || g.PnL != r.PnL || !near(g.MaxDrawdown, r.MaxDrawdown) ||
				g.AUM != r.AUM || g.Followers != r.Followers || g.CopierPnL != r.CopierPnL || !near(g.CopyGap, r.CopyGap) ||
				g.Valuation != usdt {
				t.Errorf("window %d: %+v\nwant %+v", w, g, r)
			}
		}
	}
	// It goes on, and saves in the current format.
	f.price(14) // leader 2 holds 10 BTC bought at 20
	before := f.row(2, windowAll)
	if before.MaxDrawdown < 0.3 || before.MaxDrawdown > 0.31 { // from the peak at 1.2 before (0.102 so far)
		t.Errorf("leader 2 after a fall to 14: %+v", before)
	}
	g := reloadStats(t, f.ls, memStore(t)) // as records
	if got := g.row(2, windowAll); got != before {
		t.Errorf("saved and restored: %+v, want %+v", got, before)
	}
}

// naivePaths is conversionPaths by scanning every market at each step:
// the reference.
func naivePaths(markets []statMarket) map[[2]uint32][]statHop {
	paths := map[[2]uint32][]statHop{}
	done := map[uint32]bool{}
	for _, t := range markets {
		val := t.Quote
		if t.Base == 0 || done[val] {
			continue
		}
		done[val] = true
		for reached := []uint32{val}; len(reached) > 0; {
			var next []uint32
			for _, rev := range []bool{false, true} {
				for _, to := range reached {
					for i, m := range markets {
						from, via := m.Base, m.Quote
						if rev {
							from, via = m.Quote, m.Base
						}
						if m.Base == 0 || via != to || from == val {
							continue
						}
						if _, ok := paths[[2]uint32{from, val}]; ok {
							continue
						}
						paths[[2]uint32{from, val}] = append([]statHop{{uint32(i + 1), rev}}, paths[[2]uint32{to, val}]...)
						next = append(next, from)
					}
				}
			}
			reached = next
		}
	}
	return paths
}

func TestConversionPaths(t *testing.T) {
	// 1 USDT, 2 BTC, 3 ETH, 4 SOL: BTC-USDT, ETH-BTC, SOL-ETH, ETH-USDT.
	ms := []statMarket{{Base: 2, Quote: 1}, {Base: 3, Quote: 2}, {Base: 4, Quote: 3}, {Base: 3, Quote: 1}}
	p := conversionPaths(ms)
	for _, tc := range []struct {
		from, to uint32
		want     []statHop
	}{
		{2, 1, []statHop{{1, false}}},
		{1, 2, []statHop{{1, true}}},
		{3, 1, []statHop{{4, false}}},             // direct, not through BTC
		{4, 1, []statHop{{3, false}, {4, false}}}, // SOL → ETH → USDT
		{1, 3, []statHop{{4, true}}},
		{4, 2, []statHop{{3, false}, {2, false}}},
	} {
		if got := p[[2]uint32{tc.from, tc.to}]; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%d → %d: %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
	if _, ok := p[[2]uint32{1, 4}]; ok {
		t.Errorf("a path into SOL, which quotes no market")
	}
	// Against the reference on random markets.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := 1 + rng.IntN(30)
		ms := make([]statMarket, n)
		for i := range ms {
			ms[i] = statMarket{Base: uint32(1 + rng.IntN(12)), Quote: uint32(1 + rng.IntN(4))}
			if rng.IntN(10) == 0 {
				ms[i] = statMarket{} // a gap
			}
		}
		if got, want := conversionPaths(ms), naivePaths(ms); !reflect.DeepEqual(got, want) {
			t.Fatalf("markets %v:\n%v\nwant\n%v", ms, got, want)
		}
	}
}

// TestLeaderStatPositionWithinHoldings: base a leader withdraws leaves
// its position, so that its PnL no longer moves with the price of what
// it does not hold, and a later sale can close the round trip. Found by
// TestLeaderStatsDifferential: a leader that bought 10 BTC and withdrew
// them kept a position of 10 BTC, its PnL gaining 100 on a price move
// from 10 to 20, and never closed a round trip again. What leaves is
// realized at the last price, as a sale without a fee: a position
// emptied so closes its round trip, counted.
func TestLeaderStatPositionWithinHoldings(t *testing.T) {
	f := newStatFeed(t)
	f.deposit(1, usdt, 1000)
	f.lead(1)
	f.trade(1, book.Buy, 10, 10, 0) // 10 BTC at a cost of 100
	f.withdraw(1, btc, 10)          // at 10: nothing gained, a round trip
	f.price(20)
	if r := f.row(1, windowAll); r.PnL != 0 || r.RoundTrips != 1 || r.WinRate != 0 {
		t.Fatalf("PnL %d, round trips %d, win rate %v after the base was withdrawn, want 0, 1, 0", r.PnL, r.RoundTrips, r.WinRate)
	}
	f.deposit(1, btc, 5)             // no cost basis
	f.trade(1, book.Buy, 20, 5, 0)   // 5 BTC at a cost of 100
	f.trade(1, book.Sell, 20, 10, 0) // covers the 5 bought: flat
	if r := f.row(1, windowAll); r.RoundTrips != 2 || r.PnL != 0 {
		t.Fatalf("round trips %d PnL %d, want 2 and 0", r.RoundTrips, r.PnL)
	}
	f.trade(1, book.Buy, 20, 4, 0)
	f.withdraw(1, btc, 1)           // at 20, as bought: 3 left, of cost 60
	f.trade(1, book.Sell, 30, 3, 0) // realizes 90 − 60
	if r := f.row(1, windowAll); r.RoundTrips != 3 || r.WinRate != 1.0/3 || r.PnL != 30 {
		t.Fatalf("round trips %d win rate %v PnL %d, want 3, 1/3 and 30", r.RoundTrips, r.WinRate, r.PnL)
	}
}

// A leader that withdraws the coins of a losing position keeps the loss
// in its PnL and its win rate, as if it had sold them at the last price:
// withdrawing them does not hide it.
func TestLeaderStatWithdrawnLossCounts(t *testing.T) {
	f := newStatFeed(t)
	f.deposit(1, usdt, 1000)
	f.lead(1)
	f.trade(1, book.Buy, 10, 10, 0) // 10 BTC at a cost of 100
	f.price(5)                      // worth 50
	before := f.row(1, windowAll).PnL
	f.withdraw(1, btc, 10)
	f.price(1)
	r := f.row(1, windowAll)
	if before != -50 || r.PnL != -50 || r.RoundTrips != 1 || r.WinRate != 0 {
		t.Fatalf("PnL %d before the withdrawal, then %d, round trips %d, win rate %v; want -50, -50, 1, 0", before, r.PnL, r.RoundTrips, r.WinRate)
	}
}
