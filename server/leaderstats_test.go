package server

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/rs/zerolog"
)

// statFeed feeds synthetic results to a leaderStats. Assets: 1 USDT,
// 2 BTC; market 1 trades BTC for USDT with both scales 1 (a price is
// quote units per base unit).
type statFeed struct {
	t   *testing.T
	ls  *leaderStats
	seq uint64
	now int64
}

const (
	usdt, btc = 1, 2
	maker     = 90 // counterparty of every trade
	other     = 91 // a third trader who moves the price
)

func newStatFeed(t *testing.T) *statFeed {
	f := &statFeed{t: t, ls: newLeaderStats(), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()}
	f.do(engine.Command{Kind: engine.CmdCreateAsset, Name: mustName("USDT")}, usdt)
	f.do(engine.Command{Kind: engine.CmdCreateAsset, Name: mustName("BTC")}, btc)
	f.do(engine.Command{Kind: engine.CmdCreateMarket, Spec: engine.MarketSpec{Base: btc, Quote: usdt, BaseScale: 1, QuoteScale: 1}}, 1)
	return f
}

// do applies one result of cmd, with outcome id and events evs.
func (f *statFeed) do(cmd engine.Command, id uint64, evs ...engine.Event) {
	f.seq++
	cmd.Seq, cmd.Time = f.seq, f.now
	res := engine.Result{Seq: f.seq, Time: f.now, Kind: cmd.Kind, Outcome: engine.Outcome{ID: id}, Events: evs}
	f.ls.apply(&cmd, &res)
}

func (f *statFeed) advance(d time.Duration) { f.now += int64(d) }

func (f *statFeed) deposit(acct uint64, asset uint32, amt int64) {
	f.do(engine.Command{Kind: engine.CmdDeposit, Account: acct, Asset: asset, Amount: amt}, 0)
}

func (f *statFeed) withdraw(acct uint64, asset uint32, amt int64) {
	f.do(engine.Command{Kind: engine.CmdWithdraw, Account: acct, Asset: asset, Amount: amt}, 0)
}

func (f *statFeed) lead(acct uint64) {
	f.do(engine.Command{Kind: engine.CmdSetLeaderProfile, Account: acct}, acct)
}

// tradeEv is a fill of taker against maker (its side opposite), fee on
// the taker.
func tradeEv(taker uint64, side book.Side, price, qty, fee int64) engine.Event {
	return engine.Event{Event: book.Event{Kind: book.EvTrade, Owner: taker, MakerOwner: maker, Side: side,
		Price: price, Qty: qty}, Market: 1, TakerFee: fee}
}

func (f *statFeed) trade(taker uint64, side book.Side, price, qty, fee int64) {
	f.do(engine.Command{Kind: engine.CmdPlace}, 0, tradeEv(taker, side, price, qty, fee))
}

// price moves the last price with a trade of others, a minute later.
func (f *statFeed) price(p int64) {
	f.advance(time.Minute)
	f.trade(other, book.Buy, p, 1, 0)
}

func (f *statFeed) row(leader uint64, w statWindow) leaderRow { return f.ls.row(leader, w) }

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestLeaderStatROIDepositNeutral(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flow    func(f *statFeed)
		wantROI float64 // after the price moves from 20 to 30
	}{
		{"none", func(*statFeed) {}, 0.2},                                    // 1200 / 1000
		{"deposit", func(f *statFeed) { f.deposit(1, usdt, 1100) }, 0.15},    // 2300 / 2000 units
		{"withdraw", func(f *statFeed) { f.withdraw(1, usdt, 550) }, 0.3},    // 650 / 500 units
		{"deposit base", func(f *statFeed) { f.deposit(1, btc, 55) }, 0.425}, // 2850 / 2000 units
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newStatFeed(t)
			f.deposit(1, usdt, 1000)
			f.lead(1)
			f.trade(1, book.Buy, 10, 10, 0) // 900 USDT + 10 BTC
			f.price(20)                     // NAV 1100
			before := f.row(1, windowAll).ROI
			if !near(before, 0.1) {
				t.Fatalf("ROI %v, want 0.1", before)
			}
			tc.flow(f)
			if got := f.row(1, windowAll).ROI; !near(got, before) {
				t.Fatalf("ROI after the flow %v, want %v", got, before)
			}
			f.price(30)
			if got := f.row(1, windowAll).ROI; !near(got, tc.wantROI) {
				t.Fatalf("ROI %v, want %v", got, tc.wantROI)
			}
		})
	}
}

func TestLeaderStatMaxDrawdown(t *testing.T) {
	f := newStatFeed(t)
	f.deposit(1, usdt, 100)
	f.lead(1)
	f.trade(1, book.Buy, 10, 10, 0) // all in: NAV per unit = price / 10
	for _, p := range []int64{20, 15, 30, 12} {
		f.price(p)
	}
	r := f.row(1, windowAll)
	if !near(r.MaxDrawdown, 0.6) || !near(r.ROI, 0.2) {
		t.Fatalf("drawdown %v ROI %v, want 0.6 and 0.2", r.MaxDrawdown, r.ROI)
	}
	f.price(40) // a new peak does not undo the drawdown
	if r := f.row(1, windowAll); !near(r.MaxDrawdown, 0.6) || !near(r.ROI, 3) {
		t.Fatalf("drawdown %v ROI %v, want 0.6 and 3", r.MaxDrawdown, r.ROI)
	}
}

func TestLeaderStatWinRate(t *testing.T) {
	f := newStatFeed(t)
	f.deposit(1, usdt, 1000)
	f.lead(1)
	for _, sells := range [][]int64{{12}, {9}, {11, 11}} {
		f.trade(1, book.Buy, 10, 10, 1) // cost 101
		for _, p := range sells {
			f.trade(1, book.Sell, p, 10/int64(len(sells)), 1)
		}
	}
	r := f.row(1, windowAll)
	// Round trips: 119 − 101 = 18, 89 − 101 = −12, 108 − 101 = 7.
	if r.RoundTrips != 3 || !near(r.WinRate, 2.0/3) || r.PnL != 13 {
		t.Fatalf("round trips %d win rate %v PnL %d, want 3, 2/3, 13", r.RoundTrips, r.WinRate, r.PnL)
	}
	f.trade(1, book.Buy, 10, 10, 0) // open: unrealized counts, no round trip
	f.price(15)
	if r := f.row(1, windowAll); r.RoundTrips != 3 || r.PnL != 63 {
		t.Fatalf("round trips %d PnL %d, want 3 and 63", r.RoundTrips, r.PnL)
	}
}

func TestLeaderStatWindows(t *testing.T) {
	f := newStatFeed(t)
	f.deposit(1, usdt, 100)
	f.lead(1)
	f.trade(1, book.Buy, 10, 10, 0)
	f.price(20)                    // t0+1m: NAV per unit 2
	f.advance(10 * 24 * time.Hour) //
	f.price(40)                    // t0+10d: 4
	f.advance(15 * 24 * time.Hour) //
	f.price(50)                    // t0+25d: 5
	for _, tc := range []struct {
		w   statWindow
		roi float64
		pnl int64
	}{{window7d, 0.25, 100}, {window30d, 4, 400}, {windowAll, 4, 400}} {
		if r := f.row(1, tc.w); !near(r.ROI, tc.roi) || r.PnL != tc.pnl {
			t.Errorf("window %d at 25 days: ROI %v PnL %d, want %v and %d", tc.w, r.ROI, r.PnL, tc.roi, tc.pnl)
		}
	}
	f.advance(10 * 24 * time.Hour)
	f.price(50) // t0+35d: the 30-day window starts after the first move
	for _, tc := range []struct {
		w   statWindow
		roi float64
	}{{window7d, 0}, {window30d, 1.5}, {windowAll, 4}} {
		if r := f.row(1, tc.w); !near(r.ROI, tc.roi) {
			t.Errorf("window %d at 35 days: ROI %v, want %v", tc.w, r.ROI, tc.roi)
		}
	}
}

// copyFeed is a leader (1) with three followers (4, 5, 6: relations 1, 2,
// 3, wallets 101..103) that bought at 10, 11 and 12 what the leader
// bought at 10; the price is then 20.
func copyFeed(t *testing.T) *statFeed {
	f := newStatFeed(t)
	f.deposit(1, usdt, 1000)
	f.lead(1)
	for i := range uint64(3) {
		f.deposit(4+i, usdt, 1000)
		f.do(engine.Command{Kind: engine.CmdFollow, Account: 4 + i, Asset: usdt, Amount: 100,
			Copy: engine.CopySpec{Leader: 1}}, 1+i)
	}
	evs := []engine.Event{tradeEv(1, book.Buy, 10, 10, 0)}
	for i := range uint64(3) {
		ev := tradeEv(101+i, book.Buy, 10+int64(i), 5, 0)
		ev.Relation = 1 + i
		evs = append(evs, ev)
	}
	f.do(engine.Command{Kind: engine.CmdPlace, Account: 1}, 0, evs...)
	f.price(20)
	return f
}

func TestLeaderStatCopyGap(t *testing.T) {
	f := copyFeed(t)
	// Leader 1100/1000; relations 150, 145 and 140 out of 100.
	r := f.row(1, windowAll)
	if !near(r.ROI, 0.1) || !near(r.CopyGap, 0.1-0.45) || r.Followers != 3 || r.AUM != 435 || r.CopierPnL != 135 {
		t.Fatalf("row %+v", r)
	}
	// Profit share is the leader's income and the follower's expense.
	f.do(engine.Command{Kind: engine.CmdSettle}, 1, engine.Event{Event: book.Event{Kind: engine.EvProfitShare,
		Owner: 4, MakerOwner: 1}, Relation: 1, Amount: 10})
	// Relation 3 closes, keeping its coins: 140 returned.
	f.do(engine.Command{Kind: engine.CmdUnfollow}, 3, engine.Event{Event: book.Event{Kind: engine.EvCopyClosed,
		Owner: 6, MakerOwner: 1}, Relation: 3, Amount: 40})
	r = f.row(1, windowAll)
	// Relations 0.4, 0.45, 0.4 (closed in the window): median 0.4. The
	// leader's income issues units: its ROI does not move.
	if !near(r.ROI, 0.1) || !near(r.CopyGap, 0.1-0.4) || r.Followers != 2 || r.AUM != 285 || r.CopierPnL != 125 ||
		r.ProfitShare != 10 {
		t.Fatalf("after profit share and close: row %+v", r)
	}
	if got := f.ls.st.Accounts[6].Bal; got[usdt-1] != 900+40 || got[btc-1] != 5 {
		t.Fatalf("follower 6 holds %v after the close", got)
	}
	f.advance(8 * 24 * time.Hour)
	f.price(20)
	if r := f.row(1, window7d); r.Followers != 2 || !near(r.CopyGap, 0) || r.CopierPnL != 0 {
		t.Fatalf("7 days later: row %+v", r)
	}
}

func TestLeaderStatBoard(t *testing.T) {
	f := copyFeed(t)
	f.deposit(2, usdt, 1000)
	f.lead(2) // flat: ROI 0
	f.deposit(3, usdt, 1000)
	f.lead(3)
	rows := f.ls.board("roi", windowAll, 10)
	if len(rows) != 3 || rows[0].Leader != 1 || rows[1].Leader != 2 || rows[2].Leader != 3 {
		t.Fatalf("by roi: %+v", rows)
	}
	if rows := f.ls.board("followers", windowAll, 2); len(rows) != 2 || rows[0].Leader != 1 || rows[1].Leader != 2 {
		t.Fatalf("by followers: %+v", rows)
	}
}

func TestLeaderStatPersistence(t *testing.T) {
	f := copyFeed(t)
	data, seq, err := f.ls.encode()
	if err != nil || seq != f.seq {
		t.Fatalf("encode: seq %d, %v", seq, err)
	}
	g := &statFeed{t: t, ls: newLeaderStats(), seq: f.seq, now: f.now}
	if err := g.ls.decode(data); err != nil {
		t.Fatal(err)
	}
	same := func(when string) {
		for _, w := range []statWindow{window7d, window30d, windowAll} {
			if a, b := f.ls.board("roi", w, 0), g.ls.board("roi", w, 0); !reflect.DeepEqual(a, b) {
				t.Fatalf("%s, window %d: %+v, restored %+v", when, w, a, b)
			}
		}
	}
	same("restored")
	for _, x := range []*statFeed{f, g} {
		x.price(30)
		x.trade(1, book.Sell, 30, 10, 3)
		x.advance(40 * 24 * time.Hour)
		x.price(25)
	}
	same("after more results")
}

func TestLeaderStatHistoryBounded(t *testing.T) {
	f := newStatFeed(t)
	f.deposit(1, usdt, 100)
	f.lead(1)
	f.trade(1, book.Buy, 10, 10, 0)
	for i := range 60 * 24 * 60 { // a trade a minute for 60 days
		f.price(10 + int64(i%7))
	}
	h := &f.ls.st.Leaders[1].Hist
	// Compaction runs at most once an hour: up to an hour of points past
	// 7 days may keep their minute (48 more than at 5 minutes), and past
	// 30 days their 5 minutes (11 more than at an hour).
	bound := 7*24*60 + 23*24*12 + 30*24 + 3 + 48 + 11
	if len(h.Points) > bound {
		t.Fatalf("%d points, bound %d", len(h.Points), bound)
	}
	for i := 1; i < len(h.Points); i++ {
		if h.Points[i].T <= h.Points[i-1].T {
			t.Fatalf("points out of order at %d", i)
		}
	}
	if h.Origin.NPU != 1 {
		t.Fatalf("origin %+v", h.Origin)
	}
	// Recent points keep their minute resolution.
	last := h.Points[len(h.Points)-60:]
	if last[59].T-last[0].T != int64(59*time.Minute) {
		t.Fatalf("last hour spans %v", time.Duration(last[59].T-last[0].T))
	}
}

// TestLeaderStatRestartAndCrash checks that the statistics are the same
// after a clean restart (restored from the metadata store) and after a
// crash before they were ever saved (rebuilt from the log).
func TestLeaderStatRestartAndCrash(t *testing.T) {
	dir := t.TempDir()
	nop := zerolog.Nop()
	opts := &Options{DataDir: dir, AdminToken: adminTok, Logger: &nop, HistoryInterval: -1, SnapshotInterval: time.Hour}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	do := func(cmd engine.Command) uint64 {
		t.Helper()
		res, err := s.do(&cmd, nil)
		if err != nil {
			t.Fatalf("%v: %v", cmd.Kind, err)
		}
		return res.ID
	}
	usdtID := do(engine.Command{Kind: engine.CmdCreateAsset, Name: mustName("USDT")})
	btcID := do(engine.Command{Kind: engine.CmdCreateAsset, Name: mustName("BTC")})
	u, err := newUnits(1_000_000, 1_000_000) // tick 0.01, lot 0.01
	if err != nil {
		t.Fatal(err)
	}
	mkt := uint32(do(engine.Command{Kind: engine.CmdCreateMarket, Name: mustName("BTC-USDT"),
		Spec: u.spec(uint32(btcID), uint32(usdtID), 0, 10, 20, 0, 0)}))
	var accts [4]uint64
	for i := range accts {
		accts[i] = do(engine.Command{Kind: engine.CmdCreateAccount, Name: mustName(string(rune('a' + i)))})
		do(engine.Command{Kind: engine.CmdDeposit, Account: accts[i], Asset: uint32(usdtID), Amount: 1_000_000 * unit})
		do(engine.Command{Kind: engine.CmdDeposit, Account: accts[i], Asset: uint32(btcID), Amount: 10 * unit})
	}
	lead, mk, f1, f2 := accts[0], accts[1], accts[2], accts[3]
	do(engine.Command{Kind: engine.CmdSetLeaderProfile, Account: lead, Copy: engine.CopySpec{ProfitShareBps: 1000}})
	for _, f := range []uint64{f1, f2} {
		do(engine.Command{Kind: engine.CmdFollow, Account: f, Asset: uint32(usdtID), Amount: 100_000 * unit,
			Copy: engine.CopySpec{Leader: lead, Mode: engine.CopyMultiplier, Value: engine.ValueOne / 2}})
	}
	place := func(acct uint64, side book.Side, price, qty int64) {
		do(engine.Command{Kind: engine.CmdPlace, Account: acct, Market: mkt,
			Order: book.Order{Side: side, Type: book.Limit, Price: price, Qty: qty}})
	}
	for i, p := range []int64{6_000_000, 6_100_000, 5_900_000, 6_300_000} {
		place(mk, book.Sell, p, 400)
		place(lead, book.Buy, p, 100)
		place(mk, book.Buy, p+10_000*int64(i%2), 300)
		place(lead, book.Sell, p+10_000*int64(i%2), 50)
		do(engine.Command{Kind: engine.CmdDeposit, Account: lead, Asset: uint32(usdtID), Amount: unit})
	}
	place(mk, book.Buy, 6_200_000, 200)
	place(lead, book.Sell, 6_200_000, 200) // flat: a round trip
	do(engine.Command{Kind: engine.CmdSettle})
	rows := func(s *Server) [3][]leaderRow {
		var out [3][]leaderRow
		for w := range out {
			out[w] = s.leaderBoard("roi", statWindow(w), 0)
		}
		return out
	}
	want := rows(s)
	if r := want[windowAll]; len(r) != 1 || r[0].Followers != 2 || r[0].RoundTrips == 0 || r[0].ROI == 0 {
		t.Fatalf("rows %+v", r)
	}
	if err := s.eng.WaitViews(context.Background(), s.stats.seq()); err != nil {
		t.Fatal(err)
	}
	s.eng.Relations(func(v *engine.RelationView) bool { // the ledger agrees with the engine
		if got := s.stats.relNAV(s.stats.st.Relations[v.ID]); got != v.NAV {
			t.Errorf("relation %d: NAV %d, engine %d", v.ID, got, v.NAV)
		}
		return true
	})

	// Crash: nothing saved, no snapshot.
	s.eng.Close()
	close(s.stopSaver)
	<-s.saverDone
	s.wal.Close()
	s.store.close()

	s, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := rows(s); !reflect.DeepEqual(got, want) {
		t.Fatalf("rebuilt from the log:\n%+v\nwant\n%+v", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if s.stats.seq() != s.eng.DurableSeq() {
		t.Fatalf("restored at %d, engine at %d", s.stats.seq(), s.eng.DurableSeq())
	}
	if got := rows(s); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored:\n%+v\nwant\n%+v", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Statistics lost, and nothing to replay (the log is covered by the
	// final snapshot): the ledger is reconciled with the engine.
	st, err := openStore(dir, &nop)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.db.DeleteRange(prefixStats, prefixStatsEnd, nil); err != nil { // as a release before the records finds them
		t.Fatal(err)
	}
	st.close()
	s, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := s.leaderRow(lead, windowAll)
	if got.Followers != 2 || got.AUM != want[windowAll][0].AUM || got.ROI != 0 {
		t.Fatalf("reconciled: %+v, want AUM %d", got, want[windowAll][0].AUM)
	}
	do(engine.Command{Kind: engine.CmdDeposit, Account: lead, Asset: uint32(usdtID), Amount: 1000 * unit})
	if got := s.leaderRow(lead, windowAll); got.ROI != 0 {
		t.Fatalf("reconciled, then a deposit: %+v", got)
	}
	if a, b := s.stats.leaderNAV(s.stats.st.Leaders[lead]), s.stats.st.Accounts[lead].Bal; a <= 0 || len(b) != 2 {
		t.Fatalf("reconciled leader: NAV %d holdings %v", a, b)
	}
}

func TestLeaderStatFirstPrice(t *testing.T) {
	f := newStatFeed(t)
	f.deposit(1, usdt, 1000)
	f.deposit(1, btc, 10) // no price yet: worth 0
	f.lead(1)
	f.price(20) // worth 200 now: units, not a return
	if r := f.row(1, windowAll); !near(r.ROI, 0) {
		t.Fatalf("ROI %v after the first price", r.ROI)
	}
	f.price(30) // 1300 / 1200
	if r := f.row(1, windowAll); !near(r.ROI, 100.0/1200) {
		t.Fatalf("ROI %v, want %v", r.ROI, 100.0/1200)
	}
}
