package engine

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// Copy scenarios run on one market ETH-USDT with real-world units: 8
// decimals per asset, a lot of 0.01 ETH (BaseScale 1e6) and a price step
// of 0.01 USDT (QuoteScale 1e4), so 2,000 USDT is price 200,000 and 2.5
// ETH is 250 lots. Account 1 is the leader, 2 a market maker, 3.. the
// followers.

const (
	usdt    = 100_000_000 // 1 USDT in asset units
	ethLot  = 1_000_000   // base units per lot
	qscale  = 10_000      // quote units per step per lot
	ethID   = 1
	usdtID  = 2
	leader1 = 1
	maker   = 2
)

func px(usd int64) int64 { return usd * 100 } // price in steps

type copyScenario struct {
	*scenario
}

// newCopyScenario creates the market (fees in bps, min notional in
// steps × lots) and n accounts: the leader with 10,000 USDT, the maker
// with 1,000,000 USDT and 10,000 ETH, and followers with 100,000 USDT.
func newCopyScenario(t *testing.T, feeBps int32, minNotional int64, n int) *copyScenario {
	return newCopyScenarioRules(t, feeBps, book.Rules{TickSize: 1, LotSize: 1, MinNotional: minNotional,
		MaxPrice: 100_000_000, MaxQty: 1_000_000}, n)
}

// newCopyScenarioRules is newCopyScenario with the market's rules.
func newCopyScenarioRules(t *testing.T, feeBps int32, rules book.Rules, n int) *copyScenario {
	sc := &copyScenario{&scenario{t: t, s: NewState()}}
	name := func(s string) Name { v, _ := MakeName(s); return v }
	sc.ok(Command{Kind: CmdCreateAsset, Name: name("ETH")})
	sc.ok(Command{Kind: CmdCreateAsset, Name: name("USDT")})
	sc.ok(Command{Kind: CmdCreateMarket, Name: name("ETH-USDT"), Spec: MarketSpec{Base: ethID, Quote: usdtID,
		BaseScale: ethLot, QuoteScale: qscale, MakerFeeBps: feeBps, TakerFeeBps: feeBps, Rules: rules}})
	for a := 1; a <= n; a++ {
		sc.ok(Command{Kind: CmdCreateAccount, Name: name("a")})
	}
	sc.ok(Command{Kind: CmdDeposit, Account: leader1, Asset: usdtID, Amount: 10_000 * usdt})
	sc.ok(Command{Kind: CmdDeposit, Account: maker, Asset: usdtID, Amount: 1_000_000 * usdt})
	sc.ok(Command{Kind: CmdDeposit, Account: maker, Asset: ethID, Amount: 10_000 * 100 * ethLot})
	for a := 3; a <= n; a++ {
		sc.ok(Command{Kind: CmdDeposit, Account: uint64(a), Asset: usdtID, Amount: 100_000 * usdt})
	}
	sc.ok(Command{Kind: CmdSetLeaderProfile, Account: leader1, Copy: CopySpec{ProfitShareBps: 1000}})
	return sc
}

func (sc *copyScenario) ok(c Command) Outcome {
	sc.t.Helper()
	out := sc.do(c)
	if out.Err != nil {
		sc.t.Fatalf("%v: %v", c.Kind, out.Err)
	}
	return out
}

// follow opens a relation of follower with allocation USDT.
func (sc *copyScenario) follow(follower uint64, allocation int64, sp CopySpec) uint64 {
	sc.t.Helper()
	sp.Leader = leader1
	return sc.ok(Command{Kind: CmdFollow, Account: follower, Asset: usdtID, Amount: allocation, Copy: sp}).ID
}

func (sc *copyScenario) rel(id uint64) *relation { return sc.s.relations.at(id - 1) }

// wallet returns the relation's wallet (quote, base) available balances.
func (sc *copyScenario) wallet(id uint64) (quote, base int64) {
	r := sc.rel(id)
	return sc.s.bal(r.wallet, usdtID).avail, sc.s.bal(r.wallet, ethID).avail
}

func (sc *copyScenario) lim(acct uint64, side book.Side, price, qty int64) Outcome {
	sc.t.Helper()
	return sc.ok(Command{Kind: CmdPlace, Account: acct, Market: 1, Order: book.Order{Side: side, Price: price, Qty: qty}})
}

// events returns the last command's events of kind k.
func (sc *copyScenario) events(k book.EventKind) []Event {
	var out []Event
	for _, ev := range sc.evs {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

func (sc *copyScenario) wantWallet(id uint64, quote, base int64) {
	sc.t.Helper()
	if q, b := sc.wallet(id); q != quote || b != base {
		sc.t.Fatalf("relation %d wallet: quote %d base %d, want %d %d", id, q, b, quote, base)
	}
}

// wantFollowers checks the leader's view: open relations and active ones
// (its followers).
func (sc *copyScenario) wantFollowers(open, active int) {
	sc.t.Helper()
	v, err := sc.s.LeaderView(leader1)
	if err != nil || len(v.Relations) != open || v.Active != active {
		sc.t.Fatalf("leader view %+v, %v: want %d open, %d active relations", v, err, open, active)
	}
}

// The worked example of COPY_TRADING.md: the leader holds 10,000 USDT and
// buys 2.5 ETH at 2,000 (r = 0.5); a proportional relation with 1,000
// USDT spends 500 and buys 0.25 ETH with an IOC limit at 2,020.
func TestCopyProportionalExample(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne, SlippageBps: 100})
	sc.lim(maker, book.Sell, px(2000), 300)
	sc.lim(leader1, book.Buy, px(2000), 250)
	sc.wantWallet(rel, 500*usdt, 25*ethLot)
	var mirror *Event
	for i := range sc.evs {
		if sc.evs[i].Relation == rel && sc.evs[i].Kind == book.EvAccepted {
			mirror = &sc.evs[i]
		}
	}
	if mirror == nil || mirror.Price != px(2020) || mirror.Qty != 25 || mirror.Owner != sc.rel(rel).wallet {
		t.Fatalf("mirrored order %+v, want 25 lots at %d for wallet %d", mirror, px(2020), sc.rel(rel).wallet)
	}
	// The follower's own balance is untouched by mirrors.
	sc.wantBal(3, usdtID, 99_000*usdt, 0)
	sc.wantBal(3, ethID, 0, 0)
}

// A leader order filled in parts: fixed_quote spreads A over the fills by
// quantity, rounding to the lot each time and carrying the remainder.
func TestCopyPartialFillsCarry(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	// 1,000 USDT per leader order at 2,000 buys 50 lots in all. The
	// mirrors fill at 2,005, above the leader's limit, inside theirs.
	rel := sc.follow(3, 10_000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 1000 * usdt})
	sc.lim(maker, book.Sell, px(2005), 1000)
	at := func(lots int64) int64 { return lots * px(2005) * qscale }
	sc.lim(maker, book.Sell, px(2000), 3)
	sc.lim(leader1, book.Buy, px(2000), 10) // fills 3 of 10, rests 7
	// 3/10 of 1,000 = 300 USDT = 15 lots at the leader's price.
	sc.wantWallet(rel, 10_000*usdt-at(15), 15*ethLot)
	// The rest fills as a maker, in the maker's commands: 3 then 4 lots.
	sc.lim(maker, book.Sell, px(2000), 3) // 300 USDT → 15 lots
	sc.wantWallet(rel, 10_000*usdt-at(30), 30*ethLot)
	sc.lim(maker, book.Sell, px(2000), 4) // 400 USDT → 20 lots
	sc.wantWallet(rel, 10_000*usdt-at(50), 50*ethLot)

	// Rounding: A = 1,030 USDT; a fill of 1/3 of the order gives 343.33
	// USDT = 17 lots (340) and carries 3.33 to the next fill.
	sc.ok(Command{Kind: CmdAmendFollow, Account: 3, Copy: CopySpec{Relation: rel, Mode: CopyFixedQuote, Value: 1030 * usdt}})
	_, b0 := sc.wallet(rel)
	o := sc.lim(leader1, book.Buy, px(2000), 3).ID
	sc.lim(maker, book.Sell, px(2000), 1)
	_, b1 := sc.wallet(rel)
	if b1-b0 != 17*ethLot {
		t.Fatalf("first third: bought %d base, want 17 lots", b1-b0)
	}
	if c := sc.rel(rel).carry(o); c != 1030*usdt/3-340*usdt {
		t.Fatalf("carry %d, want %d", c, 1030*usdt/3-340*usdt)
	}
	sc.lim(maker, book.Sell, px(2000), 2) // 686.67 + 3.33 carried = 690 → 34 lots (680), carry 10
	_, b2 := sc.wallet(rel)
	if b2-b1 != 34*ethLot {
		t.Fatalf("last two thirds: bought %d base, want 34 lots", b2-b1)
	}
	// The order is done: its remainder (10 USDT less one unit, both
	// thirds flooring to the unit) is dropped.
	if c := sc.rel(rel).carries; len(c) != 0 {
		t.Fatalf("remainders %v kept after the leader order is done", c)
	}
}

func TestCopyMultiplierAndWalletCap(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 4)
	// ×2 of the leader's quantity, but the wallet holds only 300 USDT:
	// the order shrinks until its reservation at the limit (2,010) fits:
	// 14 lots = 281.40 USDT.
	rel := sc.follow(3, 300*usdt, CopySpec{Mode: CopyMultiplier, Value: 2 * ValueOne})
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(leader1, book.Buy, px(2000), 10)
	sc.wantWallet(rel, 300*usdt-14*px(2000)*qscale, 14*ethLot)
	// Too little left for one lot at the limit: skipped, not retried.
	sc.ok(Command{Kind: CmdAmendFollow, Account: 3, Copy: CopySpec{Relation: rel, Mode: CopyMultiplier, Value: 2 * ValueOne}})
	sc.lim(leader1, book.Buy, px(2000), 1) // 2 lots wanted, 20 USDT left
	sk := sc.events(EvCopySkipped)
	if len(sk) != 1 || sk[0].CopyReason != CopyInsufficientFunds || sk[0].Relation != rel || sk[0].Remaining != 2 {
		t.Fatalf("skips %+v, want one insufficient_funds with the 2 lots wanted", sk)
	}
	// max_order_quote caps a buy: 100 USDT at 2,000 is 5 lots.
	rel2 := sc.follow(4, 10_000*usdt, CopySpec{Mode: CopyMultiplier, Value: 10 * ValueOne, MaxOrderQuote: 100 * usdt})
	sc.lim(leader1, book.Buy, px(2000), 1)
	sc.wantWallet(rel2, 10_000*usdt-5*px(2000)*qscale, 5*ethLot)
}

func TestCopyMinNotionalAndLotSkips(t *testing.T) {
	// Minimum notional 100 USDT: price steps × lots ≥ 100 USDT / 1e4.
	sc := newCopyScenario(t, 0, 100*usdt/qscale, 4)
	small := sc.follow(3, 500*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne})
	tiny := sc.follow(4, 5*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne})
	sc.lim(maker, book.Sell, px(2000), 100)
	// The leader spends 1,000 of 10,000 USDT: r = 0.1. small: 50 USDT =
	// 2 lots, 40.2 USDT at the limit: below 100 USDT. tiny: 0.5 USDT, no
	// lot.
	sc.lim(leader1, book.Buy, px(2000), 50)
	got := map[uint64]CopyReason{}
	for _, ev := range sc.events(EvCopySkipped) {
		got[ev.Relation] = ev.CopyReason
		if ev.OrderID == 0 || ev.Price != px(2000) || ev.Qty != 50 || ev.Market != 1 {
			t.Fatalf("skip without its inputs: %+v", ev)
		}
	}
	if got[small] != CopyBelowMinNotional || got[tiny] != CopyBelowLot {
		t.Fatalf("skip reasons %v, want %d below_min_notional, %d below_lot", got, small, tiny)
	}
	sc.wantWallet(small, 500*usdt, 0)
}

func TestCopyPauseThenLeaderSells(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne})
	sc.lim(maker, book.Sell, px(2000), 300)
	sc.lim(leader1, book.Buy, px(2000), 250) // wallet: 25 lots
	sc.wantWallet(rel, 500*usdt, 25*ethLot)
	sc.wantFollowers(1, 1)
	sc.ok(Command{Kind: CmdPauseFollow, Account: 3, Copy: CopySpec{Relation: rel}})
	// Open, but not a follower while paused.
	sc.wantFollowers(1, 0)
	sc.lim(leader1, book.Buy, px(2000), 25) // not mirrored
	if sk := sc.events(EvCopySkipped); len(sk) != 1 || sk[0].CopyReason != CopyPaused {
		t.Fatalf("paused buy: skips %+v", sk)
	}
	sc.wantWallet(rel, 500*usdt, 25*ethLot)
	// The leader sells 110 of 275 lots (40%): the relation sells 40% of
	// its 25 lots = 10, at 1,990 or better; it gets 2,000.
	sc.lim(maker, book.Buy, px(2000), 1000)
	sc.lim(leader1, book.Sell, px(1995), 110)
	sc.wantWallet(rel, 500*usdt+10*px(2000)*qscale, 15*ethLot)
	// The leader goes flat: the relation sells all it has.
	sc.lim(leader1, book.Sell, px(1995), 165)
	sc.wantWallet(rel, 500*usdt+25*px(2000)*qscale, 0)
	// Resume: buys are mirrored again.
	sc.ok(Command{Kind: CmdResumeFollow, Account: 3, Copy: CopySpec{Relation: rel}})
	sc.wantFollowers(1, 1)
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(leader1, book.Buy, px(2000), 10)
	if _, b := sc.wallet(rel); b == 0 {
		t.Fatal("resumed relation did not mirror a buy")
	}
}

// A copy wallet's account view names its relation; a user's names none.
func TestCopyWalletAccountView(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne})
	w, err := sc.s.AccountView(sc.rel(rel).wallet)
	if err != nil || w.Relation != rel {
		t.Fatalf("wallet view %+v, %v: want relation %d", w, err, rel)
	}
	if u, err := sc.s.AccountView(3); err != nil || u.Relation != 0 {
		t.Fatalf("user view %+v, %v: want relation 0", u, err)
	}
}

func TestCopyUnfollow(t *testing.T) {
	for _, close := range []ClosePolicy{CloseKeep, CloseMarket} {
		sc := newCopyScenario(t, 0, 0, 3)
		rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne})
		sc.lim(maker, book.Sell, px(2000), 300)
		sc.lim(leader1, book.Buy, px(2000), 250)
		sc.lim(maker, book.Buy, px(1999), 1000) // a bid for the market close
		sc.ok(Command{Kind: CmdUnfollow, Account: 3, Copy: CopySpec{Relation: rel, Close: close}})
		if sc.rel(rel).status != RelationClosed || sc.s.accounts.at(3).follows != 0 {
			t.Fatalf("%v: relation not closed", close)
		}
		sc.wantWallet(rel, 0, 0)
		cl := sc.events(EvCopyClosed)
		if len(cl) != 1 || cl[0].CopyReason != CopyUnfollowed {
			t.Fatalf("close events %+v", cl)
		}
		if close == CloseKeep {
			// 500 USDT and 25 lots come back as they are.
			sc.wantBal(3, usdtID, 99_500*usdt, 0)
			sc.wantBal(3, ethID, 25*ethLot, 0)
		} else {
			// Sold 25 lots at 1,999 (floor 1,990), all back in quote.
			sc.wantBal(3, usdtID, 99_500*usdt+25*px(1999)*qscale, 0)
			sc.wantBal(3, ethID, 0, 0)
		}
		// A closed relation cannot be paused or unfollowed again.
		if out := sc.do(Command{Kind: CmdPauseFollow, Account: 3, Copy: CopySpec{Relation: rel}}); !errors.Is(out.Err, ErrRelationClosed) {
			t.Fatalf("pause after unfollow: %v", out.Err)
		}
		// Leader fills are no longer mirrored.
		sc.lim(leader1, book.Buy, px(2000), 10)
		if sk := sc.events(EvCopySkipped); len(sk) != 0 {
			t.Fatalf("closed relation still mirrored: %+v", sc.evs)
		}
	}
}

// trade makes the maker trade with itself at price: the last trade price
// moves there.
func (sc *copyScenario) trade(price int64) {
	sc.t.Helper()
	sc.lim(maker, book.Buy, price, 1)
	sc.lim(maker, book.Sell, price, 1)
	if sc.s.markets[0].book.LastPrice() != price {
		sc.t.Fatalf("last price %d, want %d", sc.s.markets[0].book.LastPrice(), price)
	}
}

func TestCopyStopLoss(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	// Stop-loss 20%: NAV below 800 USDT closes the relation at market.
	rel := sc.follow(3, 1100*usdt, CopySpec{Mode: CopyFixedQuote, Value: 1000 * usdt, StopLossBps: 2000})
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(leader1, book.Buy, px(2000), 10) // the wallet buys 50 lots for 1,000
	sc.wantWallet(rel, 100*usdt, 50*ethLot)
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.trade(px(1700)) // NAV 950, stop at 880: kept
	sc.ok(Command{Kind: CmdSettle})
	if sc.rel(rel).status != RelationActive {
		t.Fatal("closed above the stop")
	}
	sc.trade(px(1500)) // NAV 850
	sc.lim(maker, book.Buy, px(1500), 1000)
	sc.ok(Command{Kind: CmdSettle})
	cl := sc.events(EvCopyClosed)
	if len(cl) != 1 || cl[0].CopyReason != CopyStopLoss || sc.rel(rel).status != RelationClosed {
		t.Fatalf("stop-loss: events %+v", sc.evs)
	}
	// Sold at 1,500: 100 + 750 USDT back in the follower's main balance.
	sc.wantBal(3, usdtID, 99_750*usdt, 0)
	sc.wantBal(3, ethID, 0, 0)
}

// The stop-loss is also checked right after a mirrored fill: with a 10%
// fee, a 4% stop closes the relation on its first buy (NAV 950).
func TestCopyStopLossAfterMirroredFill(t *testing.T) {
	sc := newCopyScenario(t, 1000, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 500 * usdt, StopLossBps: 400})
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(maker, book.Buy, px(1990), 100)
	sc.lim(leader1, book.Buy, px(2000), 10)
	if cl := sc.events(EvCopyClosed); len(cl) != 1 || cl[0].CopyReason != CopyStopLoss {
		t.Fatalf("no stop-loss after the mirrored fill: %+v", sc.evs)
	}
	sc.wantWallet(rel, 0, 0)
}

func TestCopyProfitShare(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	// 1,000 allocated, 500 spent on 25 lots at 2,000.
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 500 * usdt})
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(leader1, book.Buy, px(2000), 10)
	sc.wantWallet(rel, 500*usdt, 25*ethLot)
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	leaderQuote, _ := sc.bal(leader1, usdtID)
	settle := func(price, wantFee, wantHWM int64) {
		t.Helper()
		sc.trade(price)
		sc.ok(Command{Kind: CmdSettle})
		var fee int64
		for _, ev := range sc.events(EvProfitShare) {
			if ev.Relation != rel || ev.MakerOwner != leader1 || ev.Owner != 3 {
				t.Fatalf("profit share event %+v", ev)
			}
			fee += ev.Amount
		}
		if fee != wantFee || sc.rel(rel).hwm != wantHWM {
			t.Fatalf("at %d: fee %d hwm %d, want %d %d", price, fee, sc.rel(rel).hwm, wantFee, wantHWM)
		}
		q, _ := sc.bal(leader1, usdtID)
		if q-leaderQuote != sc.rel(rel).paid {
			t.Fatalf("leader got %d, relation paid %d", q-leaderQuote, sc.rel(rel).paid)
		}
	}
	settle(px(1900), 0, 1000*usdt)       // NAV 975: below the mark
	settle(px(2400), 10*usdt, 1090*usdt) // NAV 1,100: 10% of 100
	settle(px(2400), 0, 1090*usdt)       // unchanged
	settle(px(2200), 0, 1090*usdt)       // NAV 1,040: below the mark
	settle(px(2600), 5*usdt, 1135*usdt)  // NAV 1,140: 10% of 50
	settle(px(2600), 0, 1135*usdt)       // paid once
	// A top-up raises the mark by the same amount: no fee on it.
	sc.ok(Command{Kind: CmdAmendFollow, Account: 3, Amount: 100 * usdt, Copy: CopySpec{Relation: rel, Mode: CopyFixedQuote, Value: 500 * usdt}})
	settle(px(2600), 0, 1235*usdt)
	// Unfollow settles profit share too.
	sc.trade(px(3000))
	sc.ok(Command{Kind: CmdUnfollow, Account: 3, Copy: CopySpec{Relation: rel, Close: CloseKeep}})
	if ps := sc.events(EvProfitShare); len(ps) != 1 || ps[0].Amount != 10*usdt { // NAV 1,335: 10% of 100
		t.Fatalf("unfollow profit share %+v", ps)
	}
}

func TestCopyNoCascades(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 5)
	sc.follow(3, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne})
	// A follower cannot lead; a leader cannot follow.
	if out := sc.do(Command{Kind: CmdSetLeaderProfile, Account: 3}); !errors.Is(out.Err, ErrFollowerCannotLead) {
		t.Fatalf("follower leads: %v", out.Err)
	}
	sc.ok(Command{Kind: CmdSetLeaderProfile, Account: 4})
	if out := sc.do(Command{Kind: CmdFollow, Account: 4, Asset: usdtID, Amount: usdt,
		Copy: CopySpec{Leader: leader1, Mode: CopyProportional, Value: ValueOne}}); !errors.Is(out.Err, ErrLeaderCannotFollow) {
		t.Fatalf("leader follows: %v", out.Err)
	}
	for _, c := range []struct {
		cmd  Command
		want error
	}{
		{Command{Kind: CmdFollow, Account: 5, Asset: usdtID, Amount: usdt, Copy: CopySpec{Leader: 5, Mode: CopyProportional, Value: 1}}, ErrSelfFollow},
		{Command{Kind: CmdFollow, Account: 5, Asset: usdtID, Amount: usdt, Copy: CopySpec{Leader: maker, Mode: CopyProportional, Value: 1}}, ErrNotLeader},
		{Command{Kind: CmdFollow, Account: 5, Asset: usdtID, Amount: 0, Copy: CopySpec{Leader: leader1, Mode: CopyProportional, Value: 1}}, ErrInvalidAmount},
		{Command{Kind: CmdFollow, Account: 5, Asset: usdtID, Amount: 1 << 60, Copy: CopySpec{Leader: leader1, Mode: CopyProportional, Value: 1}}, ErrInsufficientFunds},
		{Command{Kind: CmdFollow, Account: 5, Asset: usdtID, Amount: usdt, Copy: CopySpec{Leader: leader1, Mode: 9, Value: 1}}, ErrInvalidCopySpec},
		{Command{Kind: CmdFollow, Account: 5, Asset: usdtID, Amount: usdt, Copy: CopySpec{Leader: leader1, Mode: CopyProportional, Value: 1, SlippageBps: 301}}, ErrInvalidCopySpec},
		{Command{Kind: CmdFollow, Account: 3, Asset: usdtID, Amount: usdt, Copy: CopySpec{Leader: leader1, Mode: CopyProportional, Value: 1}}, ErrAlreadyFollowing},
		{Command{Kind: CmdPauseFollow, Account: 5, Copy: CopySpec{Relation: 1}}, ErrUnknownRelation}, // not its relation
		{Command{Kind: CmdUnfollow, Account: 5, Copy: CopySpec{Relation: 1}}, ErrUnknownRelation},
		{Command{Kind: CmdDeposit, Account: 6, Asset: usdtID, Amount: 1}, ErrUnknownAccount}, // the wallet
		{Command{Kind: CmdPlace, Account: 6, Market: 1, Order: book.Order{Side: book.Buy, Price: 1, Qty: 1}}, ErrUnknownAccount},
		{Command{Kind: CmdSetLeaderProfile, Account: 5, Copy: CopySpec{ProfitShareBps: 5001}}, ErrInvalidCopySpec},
	} {
		before, seq := sc.s.Hash(), sc.s.seq
		if out := sc.do(c.cmd); !errors.Is(out.Err, c.want) {
			t.Fatalf("%v %+v: %v, want %v", c.cmd.Kind, c.cmd.Copy, out.Err, c.want)
		}
		sc.s.seq = seq // the only change a rejected command makes
		if sc.s.Hash() != before {
			t.Fatalf("%v: rejected command changed the state", c.cmd.Kind)
		}
	}
	if sc.rel(1).wallet != 6 {
		t.Fatalf("wallet of relation 1 is %d, the test assumes 6", sc.rel(1).wallet)
	}
}

// A mirrored buy that would meet the leader's own resting sell expires
// there (self-trade prevention by copy group).
func TestCopySelfTradePrevention(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne, SlippageBps: 100})
	sc.lim(maker, book.Sell, px(2000), 10)
	sc.ok(Command{Kind: CmdDeposit, Account: leader1, Asset: ethID, Amount: 100 * ethLot})
	sc.lim(leader1, book.Sell, px(2010), 5) // the leader's own ask, inside the mirror's limit
	sc.lim(maker, book.Sell, px(2015), 10)
	sc.lim(leader1, book.Buy, px(2000), 10) // takes the maker's 10 at 2,000
	var cancelled bool
	for _, ev := range sc.evs {
		if ev.Relation == rel && ev.Kind == book.EvCancelled && ev.Reason == book.ReasonSelfTrade {
			cancelled = true
		}
		if ev.Relation == rel && ev.Kind == book.EvTrade && ev.MakerOwner == leader1 {
			t.Fatalf("mirror traded with its leader: %+v", ev)
		}
	}
	if !cancelled {
		t.Fatalf("mirror not expired at the leader's order: %+v", sc.evs)
	}
	sc.wantWallet(rel, 1000*usdt, 0)
}

// Followers take turns being first: with liquidity for one mirror only,
// each fill goes to the next relation.
func TestCopyRotation(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 5)
	rels := []uint64{
		sc.follow(3, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne}),
		sc.follow(4, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne}),
		sc.follow(5, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne}),
	}
	var firsts []uint64
	for range 3 {
		sc.lim(maker, book.Sell, px(2000), 2) // 1 for the leader, 1 for one follower
		sc.lim(leader1, book.Buy, px(2000), 1)
		for _, ev := range sc.evs {
			if ev.Kind == book.EvTrade && ev.Relation != 0 {
				firsts = append(firsts, ev.Relation)
			}
		}
	}
	if len(firsts) != 3 || firsts[0] != rels[0] || firsts[1] != rels[1] || firsts[2] != rels[2] {
		t.Fatalf("mirrored fills went to %v, want %v", firsts, rels)
	}
}

func TestCopySnapshotRoundTrip(t *testing.T) {
	sc := newCopyScenario(t, 10, 0, 5)
	a := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne, StopLossBps: 3000})
	sc.follow(4, 1000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 333 * usdt})
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(leader1, book.Buy, px(2001), 7)
	sc.ok(Command{Kind: CmdUnfollow, Account: 3, Copy: CopySpec{Relation: a}})
	sc.lim(leader1, book.Buy, px(1990), 3) // rests: carry state and sizes in the snapshot
	data := sc.s.AppendSnapshot(nil)
	if hint := sc.s.snapshotSizeHint(); len(data) > hint {
		t.Fatalf("snapshot of %d bytes, size hint %d", len(data), hint)
	}
	s2, err := DecodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Hash() != sc.s.Hash() {
		t.Fatal("restored state hashes differently")
	}
	// Both go on identically.
	for _, st := range []*State{sc.s, s2} {
		c := Command{Kind: CmdPlace, Seq: 1000, Account: maker, Market: 1, Order: book.Order{Side: book.Sell, Price: px(1990), Qty: 3}}
		st.Apply(&c, nil)
	}
	if s2.Hash() != sc.s.Hash() {
		t.Fatal("restored state diverges after a mirrored fill")
	}
}

// randomCopyCommand returns a random copy-trading command among accounts
// 1..accounts (1 and 2 lead from the start), some of them invalid.
func randomCopyCommand(r *rand.Rand, s *State, accounts int) Command {
	acct := uint64(1 + r.IntN(accounts))
	rel := uint64(1 + r.IntN(s.relations.len()+1))
	if rel <= uint64(s.relations.len()) && r.IntN(8) > 0 {
		acct = s.relations.at(rel - 1).follower
	}
	sp := CopySpec{Relation: rel, Leader: uint64(1 + r.IntN(3)), Mode: CopyMode(1 + r.IntN(3)),
		SlippageBps: int32(r.IntN(310)), StopLossBps: int32(r.IntN(4)) * 1500,
		Close: ClosePolicy(r.IntN(2)), ProfitShareBps: int32(r.IntN(3000))}
	switch sp.Mode {
	case CopyProportional:
		sp.Value = int64(1 + r.IntN(2*ValueOne))
	case CopyFixedQuote:
		sp.Value = int64(r.IntN(200_000))
	case CopyMultiplier:
		sp.Value = int64(r.IntN(3 * ValueOne))
	}
	if r.IntN(4) == 0 {
		sp.MaxOrderQuote = int64(r.IntN(100_000))
	}
	c := Command{Account: acct, Asset: 2, Copy: sp}
	switch k := r.IntN(100); {
	case k < 30:
		c.Kind, c.Amount = CmdFollow, int64(r.IntN(1_000_000))
		if r.IntN(20) == 0 {
			c.Asset = 1 // a wallet in BTC: mirrors only on ETH-BTC
		}
	case k < 40:
		c.Kind, c.Amount = CmdAmendFollow, int64(r.IntN(100_000))
	case k < 55:
		c.Kind = CmdPauseFollow
	case k < 70:
		c.Kind = CmdResumeFollow
	case k < 82:
		c.Kind = CmdUnfollow
	case k < 92:
		c.Kind, c.Account = CmdSettle, 0
		if r.IntN(3) == 0 {
			c.Account = uint64(1 + r.IntN(3))
		}
	default:
		c.Kind = CmdSetLeaderProfile
	}
	return c
}

// copyRun applies genesis, two leader profiles and n random commands
// (trading and copy-trading), checking invariants after each if check is
// set. It returns the commands, all events and the final hash.
func copyRun(t *testing.T, seed uint64, n int, check bool) ([]Command, []Event, [32]byte) {
	r := rand.New(rand.NewPCG(seed, 1))
	s := NewState()
	var cmds []Command
	var all, evs []Event
	apply := func(c Command) Outcome {
		c.Seq, c.Time = uint64(len(cmds)+1), int64(len(cmds)+1)*1000
		cmds = append(cmds, c)
		var out Outcome
		out, evs = s.Apply(&c, evs[:0])
		all = append(all, evs...)
		if check {
			if err := s.Check(); err != nil {
				t.Fatalf("after command %d %+v -> %+v: %v", c.Seq, c, out, err)
			}
		}
		return out
	}
	const accounts = 8
	for _, c := range genesis(accounts) {
		apply(c)
	}
	apply(Command{Kind: CmdSetLeaderProfile, Account: 1, Copy: CopySpec{ProfitShareBps: 1000}})
	apply(Command{Kind: CmdSetLeaderProfile, Account: 2})
	for range n {
		if r.IntN(100) < 12 {
			apply(randomCopyCommand(r, s, accounts))
		} else {
			apply(randomCommand(r, s, accounts))
		}
	}
	return cmds, all, s.Hash()
}

// Random streams with leaders and followers: invariants (money conserved
// per asset with the relation wallets, no negative balance, relation
// bookkeeping) after every command, and enough of every copy outcome.
func TestCopyRandomStreams(t *testing.T) {
	n := 60_000
	if shortRun() {
		n = 15_000
	}
	seed := testSeed(t, 3)
	cmds, evs, _ := copyRun(t, seed, n, true)
	kinds := map[string]int{}
	for _, ev := range evs {
		switch {
		case ev.Kind == book.EvTrade && ev.Relation != 0:
			kinds["mirrored trade"]++
		case ev.Kind == EvCopySkipped:
			kinds["skip "+ev.CopyReason.String()]++
		case ev.Kind == EvCopyClosed:
			kinds["closed "+ev.CopyReason.String()]++
		case ev.Kind == EvProfitShare:
			kinds["profit share"]++
		}
	}
	t.Logf("%d commands; %v", len(cmds), kinds)
	for _, k := range []string{"mirrored trade", "skip paused", "skip below_lot", "skip no_position",
		"closed unfollow", "profit share"} {
		if kinds[k] == 0 {
			t.Errorf("no %q in the stream: the generator does not reach it", k)
		}
	}
}

// Mirrors are derived, never journaled: replaying the same commands into
// a fresh state, or into a state restored from a snapshot taken midway,
// reproduces every mirrored event and the same state hash.
func TestCopyReplay(t *testing.T) {
	seed := testSeed(t, 11)
	cmds, evs, hash := copyRun(t, seed, 30_000, false)
	half := len(cmds) / 2
	s := NewState()
	var got, buf []Event
	var snap []byte
	for i := range cmds {
		_, buf = s.Apply(&cmds[i], buf[:0])
		got = append(got, buf...)
		if i == half {
			snap = s.AppendSnapshot(nil)
		}
	}
	if s.Hash() != hash {
		t.Fatal("replay reached a different state hash")
	}
	if len(got) != len(evs) {
		t.Fatalf("replay made %d events, the run %d", len(got), len(evs))
	}
	for i := range evs {
		if got[i] != evs[i] {
			t.Fatalf("event %d differs on replay: %+v vs %+v", i, got[i], evs[i])
		}
	}
	s2, err := DecodeState(snap)
	if err != nil {
		t.Fatal(err)
	}
	for i := half + 1; i < len(cmds); i++ {
		_, buf = s2.Apply(&cmds[i], buf[:0])
	}
	if s2.Hash() != hash {
		t.Fatal("snapshot + replay reached a different state hash")
	}
}

// One leader with 10,000 followers: every fill is mirrored to each, the
// books and wallets stay consistent.
func TestCopyTenThousandFollowers(t *testing.T) {
	n := 10_000
	if testing.Short() {
		n = 2_000
	}
	sc := newCopyScenario(t, 10, 0, 2)
	name, _ := MakeName("f")
	sc.noCheck = true
	for range n {
		a := sc.ok(Command{Kind: CmdCreateAccount, Name: name}).ID
		sc.ok(Command{Kind: CmdDeposit, Account: a, Asset: usdtID, Amount: 1000 * usdt})
		sc.follow(a, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne / 2})
	}
	sc.noCheck = false
	sc.lim(maker, book.Sell, px(2000), 100_000)
	sc.lim(leader1, book.Buy, px(2000), 100) // 2,000 of 10,000 USDT: each follower spends 100 → 5 lots
	mirrored := 0
	for _, ev := range sc.evs {
		if ev.Kind == book.EvTrade && ev.Relation != 0 {
			mirrored++
			if ev.Qty != 5 {
				t.Fatalf("mirrored fill of %d lots, want 5", ev.Qty)
			}
		}
	}
	if mirrored != n {
		t.Fatalf("%d mirrored fills, want %d", mirrored, n)
	}
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.lim(maker, book.Buy, px(2000), 60_000)
	sc.lim(leader1, book.Sell, px(1990), 100) // flat: every follower sells all
	for id := range sc.s.relations.len() {
		if _, b := sc.wallet(uint64(id + 1)); b != 0 {
			for _, ev := range sc.evs {
				if ev.Relation == uint64(id+1) {
					t.Logf("%+v", ev)
				}
			}
			t.Fatalf("relation %d still holds %d base after the leader went flat", id+1, b)
		}
	}
}

// Through the pipeline: relation and leader views are published, and a
// leader's Result carries its followers' mirrors.
func TestEngineCopyViews(t *testing.T) {
	e, err := Open(&Options{Journal: &MemJournal{}, RingSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, c := range genesis(3) {
		if res := mustDo(t, e, c); res.Err != nil {
			t.Fatalf("%v: %v", c.Kind, res.Err)
		}
	}
	mustDo(t, e, Command{Kind: CmdSetLeaderProfile, Account: 1, Copy: CopySpec{ProfitShareBps: 500}})
	fol := mustDo(t, e, Command{Kind: CmdFollow, Account: 3, Asset: 2, Amount: 1_000_000,
		Copy: CopySpec{Leader: 1, Mode: CopyMultiplier, Value: ValueOne}})
	if fol.Err != nil {
		t.Fatal(fol.Err)
	}
	mustDo(t, e, Command{Kind: CmdPlace, Account: 2, Market: 1, Order: book.Order{Side: book.Sell, Price: 100, Qty: 20}})
	buy := mustDo(t, e, Command{Kind: CmdPlace, Account: 1, Market: 1, Order: book.Order{Side: book.Buy, Price: 100, Qty: 5}})
	mirrored := 0
	for _, ev := range buy.Events {
		if ev.Kind == book.EvTrade && ev.Relation == fol.ID {
			mirrored++
		}
	}
	if mirrored != 1 {
		t.Fatalf("leader's result: %+v", buy.Events)
	}
	if err := e.WaitViews(context.Background(), buy.Seq); err != nil {
		t.Fatal(err)
	}
	rv, ok := e.Relation(fol.ID)
	if !ok || rv.Follower != 3 || rv.Leader != 1 || rv.Status != RelationActive || rv.Allocation != 1_000_000 {
		t.Fatalf("relation view %+v", rv)
	}
	wv, ok := e.Account(rv.Wallet)
	if !ok || len(wv.Balances) != 2 {
		t.Fatalf("wallet view %+v", wv)
	}
	lv, ok := e.Leader(1)
	if !ok || lv.ProfitShareBps != 500 || len(lv.Relations) != 1 {
		t.Fatalf("leader view %+v", lv)
	}
	un := mustDo(t, e, Command{Kind: CmdUnfollow, Account: 3, Copy: CopySpec{Relation: fol.ID}})
	if un.Err != nil {
		t.Fatal(un.Err)
	}
	if err := e.WaitViews(context.Background(), un.Seq); err != nil {
		t.Fatal(err)
	}
	if rv, _ := e.Relation(fol.ID); rv.Status != RelationClosed {
		t.Fatalf("after unfollow: %+v", rv)
	}
	if lv, _ := e.Leader(1); len(lv.Relations) != 0 {
		t.Fatalf("leader view after unfollow: %+v", lv)
	}
	e.Close()
	if err := e.State().Check(); err != nil {
		t.Fatal(err)
	}
}

// FuzzCopyStream drives a state with leaders and followers from fuzz
// bytes, with extreme values (sizes, prices, factors, fees), checking the
// invariants after every command and that a replay reproduces the hash.
func FuzzCopyStream(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("follow then trade then settle then unfollow, with extremes \xff\xff\xff\xff"))
	f.Fuzz(copyStream)
}

func copyStream(t *testing.T, data []byte) {
	if len(data) > 4096 {
		return
	}
	pos := 0
	next := func() byte {
		if pos >= len(data) {
			return 0
		}
		pos++
		return data[pos-1]
	}
	extreme := []int64{0, 1, 2, 3, 99, 10_000, ValueOne, 1 << 31, 1 << 40, math.MaxInt64 / 2, math.MaxInt64, -1}
	val := func() int64 {
		b := next()
		if b < 128 {
			return extreme[int(b)%len(extreme)]
		}
		return int64(b) * int64(next()+1) * int64(next()+1)
	}
	s := NewState()
	var cmds []Command
	var evs []Event
	apply := func(c Command) {
		c.Seq = uint64(len(cmds) + 1)
		cmds = append(cmds, c)
		_, evs = s.Apply(&c, evs[:0])
		if err := s.Check(); err != nil {
			t.Fatalf("after %d %v %+v: %v", c.Seq, c.Kind, c, err)
		}
	}
	for _, c := range genesis(6) {
		apply(c)
	}
	apply(Command{Kind: CmdSetLeaderProfile, Account: 1, Copy: CopySpec{ProfitShareBps: 5000}})
	for pos < len(data) {
		acct := uint64(next() % 8)
		c := Command{Account: acct, Market: uint32(1 + next()%2), Asset: uint32(1 + next()%3)}
		switch k := next() % 10; k {
		case 0:
			c.Kind, c.Amount = CmdFollow, val()
			c.Copy = CopySpec{Leader: uint64(next() % 4), Mode: CopyMode(next() % 4), Value: val(),
				MaxOrderQuote: val(), SlippageBps: int32(next()) * 2, StopLossBps: int32(next()) * 40}
		case 1:
			c.Kind, c.Amount = CmdAmendFollow, val()
			c.Copy = CopySpec{Relation: uint64(next() % 6), Mode: CopyMode(next() % 4), Value: val(),
				MaxOrderQuote: val(), SlippageBps: int32(next()), StopLossBps: int32(next()) * 40}
		case 2:
			c.Kind, c.Copy.Relation = CmdPauseFollow+CommandKind(next()%2), uint64(next()%6)
		case 3:
			c.Kind, c.Copy.Relation, c.Copy.Close = CmdUnfollow, uint64(next()%6), ClosePolicy(next()%3)
		case 4:
			c.Kind = CmdSettle
			if next()%2 == 0 {
				c.Account = 0
			}
		case 5:
			c.Kind, c.Copy.ProfitShareBps = CmdSetLeaderProfile, int32(next())*30
		case 6:
			c.Kind, c.Amount = CmdDeposit, val()
		default:
			c.Kind = CmdPlace
			c.Order = book.Order{Side: book.Side(next() % 2), Price: val(), Qty: val()}
			if next()%4 == 0 {
				c.Order.Type, c.Order.TIF = book.Market, book.IOC
			}
		}
		apply(c)
	}
	hash := s.Hash()
	r := NewState()
	for i := range cmds {
		r.Apply(&cmds[i], nil)
	}
	if r.Hash() != hash {
		t.Fatal("replay reached a different state hash")
	}
}

// fixed_quote spends A per leader order: an amend of the leader's order
// (here from 1 lot up to 4, or from 4 down to 2 after a fill of 1) scales
// what its later fills spend, so that the whole order still spends about
// A, not a multiple of it (before, fills after an amend up to 4 lots
// spent 4 × A). The mirrors buy at 2,005 against the leader's 2,000.
func TestCopyFixedQuoteAfterAmend(t *testing.T) {
	for _, tc := range []struct {
		name      string
		first     int64 // lots placed
		fillFirst int64 // lots filled before the amend
		amendTo   int64 // open lots after the amend
	}{{"up", 1, 0, 4}, {"down after a fill", 4, 1, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newCopyScenario(t, 0, 0, 3)
			rel := sc.follow(3, 50_000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 1000 * usdt})
			sc.lim(maker, book.Sell, px(2005), 10_000) // liquidity for the mirrors
			q0, _ := sc.wallet(rel)
			id := sc.lim(leader1, book.Buy, px(2000), tc.first).ID
			if tc.fillFirst > 0 {
				sc.lim(maker, book.Sell, px(2000), tc.fillFirst)
			}
			sc.ok(Command{Kind: CmdAmend, Account: leader1, OrderID: id, Order: book.Order{Price: px(2000), Qty: tc.amendTo}})
			sc.lim(maker, book.Sell, px(2000), tc.amendTo) // fills the rest of the leader's order
			q1, _ := sc.wallet(rel)
			spent := q0 - q1
			if hi := int64(1000 * usdt * 2005 / 2000); spent > hi || spent < 990*usdt {
				t.Fatalf("the follower spent %d USDT on one leader order; want about 1,000 (at most %d)", spent/usdt, hi/usdt)
			}
		})
	}
}

// A settlement can raise a relation's high-water mark with no fee, and so
// no event: the views must still be rebuilt for every relation it looked
// at (before, the relation's published HWM stayed behind the state's
// until something else touched it).
func TestSettleTouchesRelations(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 4)
	sc.ok(Command{Kind: CmdSetLeaderProfile, Account: leader1, Copy: CopySpec{ProfitShareBps: 0}})
	rel := sc.follow(3, 10_000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne})
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(leader1, book.Buy, px(2000), 10) // the wallet buys too
	for _, c := range []Command{{Kind: CmdSettle}, {Kind: CmdSettle, Account: leader1}} {
		tr := newTouched(sc.s)
		out := sc.ok(c)
		tr.command(&c, resultOf(out), sc.evs)
		if len(sc.evs) != 0 || len(tr.relations) != 1 || tr.relations[0] != rel {
			t.Fatalf("%+v: %d events, touched relations %v, want [%d]", c, len(sc.evs), tr.relations, rel)
		}
	}
}
