package engine

import (
	"errors"
	"slices"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// Scenario tests of COPY_TRADING.md rules that had none, from a second
// audit. Commands in, events and balances out; every command is followed
// by State.Check (money conservation and the other invariants).

// proportional with v = 0.5 and a leader order that takes two levels in
// one command: each fill's r is the leader's spend on it over its total
// quote just before it (after the fill before), and the relation spends v
// × r of its quote balance as it is when that fill is mirrored.
func TestCopyProportionalTwoFills(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne / 2})
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(maker, book.Sell, px(2001), 100)
	// Fill 1: 100 lots at 2,000 = 2,000 of 10,000 USDT: r = 0.2; the
	// relation spends 0.5 × 0.2 × 1,000 = 100 USDT: 5 lots at the
	// leader's price, bought at 2,001 (what is left) for 100.05.
	// Fill 2: 50 lots at 2,001 = 1,000.50 of 8,000: r = 0.1250625; 0.5 ×
	// r × 899.95 = 56.2750... USDT: 2 lots at 2,001.
	sc.lim(leader1, book.Buy, px(2001), 150)
	sc.wantWallet(rel, 1000*usdt-7*px(2001)*qscale, 7*ethLot)
	var sizes []int64
	for _, ev := range sc.evs {
		if ev.Kind == book.EvAccepted && ev.Relation == rel {
			sizes = append(sizes, ev.Qty)
		}
	}
	if !slices.Equal(sizes, []int64{5, 2}) {
		t.Fatalf("mirrored sizes %v, want [5 2]", sizes)
	}
}

// A sell fill is mirrored as the same fraction of what the relation
// holds (q ÷ H); rounding remainders carry to the order's next fill, and
// when the leader is flat the relation sells everything. The relation
// holds 2 lots against the leader's 3; the leader's ask of 3 lots fills 1
// lot at a time: 2/3 lot (none: below_lot, 2/3 carried), 2 × 1/2 + 2/3 =
// 1 2/3 (1 lot, 2/3 carried), then flat: the last lot.
func TestCopySellFractionCarryAndFlat(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: 2*ValueOne/3 + 1})
	sc.lim(maker, book.Sell, px(2000), 3)
	sc.lim(maker, book.Sell, px(2005), 10)
	sc.lim(leader1, book.Buy, px(2000), 3) // the relation: 2 lots (2/3 lot dropped with the order)
	sc.wantWallet(rel, 1000*usdt-2*px(2005)*qscale, 2*ethLot)
	sc.lim(maker, book.Buy, px(1995), 100) // for the relation's sales
	o := sc.lim(leader1, book.Sell, px(2000), 3).ID
	third := int64(2 * ethLot / 3)
	sc.lim(maker, book.Buy, px(2000), 1)
	if sk := sc.events(EvCopySkipped); len(sk) != 1 || sk[0].CopyReason != CopyBelowLot || sk[0].Side != book.Sell {
		t.Fatalf("skips %+v, want one below_lot sale", sk)
	}
	if c := sc.rel(rel).carry(o); c != third {
		t.Fatalf("carry %d, want %d", c, third)
	}
	sc.wantWallet(rel, 1000*usdt-2*px(2005)*qscale, 2*ethLot)
	sc.lim(maker, book.Buy, px(2000), 1)
	sc.wantWallet(rel, 1000*usdt-2*px(2005)*qscale+px(1995)*qscale, ethLot)
	if c := sc.rel(rel).carry(o); c != third {
		t.Fatalf("carry %d, want %d", c, third)
	}
	sc.lim(maker, book.Buy, px(2000), 1) // the leader is flat
	sc.wantWallet(rel, 1000*usdt-2*px(2005)*qscale+2*px(1995)*qscale, 0)
	if len(sc.rel(rel).carries) != 0 {
		t.Fatalf("carries %v after the order is done", sc.rel(rel).carries)
	}
}

// A mirrored sale below the minimum notional is skipped with its inputs
// and not retried; the relation keeps its base, and sells it all when the
// leader goes flat.
func TestCopySellBelowMinNotional(t *testing.T) {
	// Minimum notional 100 USDT.
	sc := newCopyScenario(t, 0, 100*usdt/qscale, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne / 5})
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(leader1, book.Buy, px(2000), 50) // 1,000 USDT; the relation 10 lots, 200
	sc.wantWallet(rel, 800*usdt, 10*ethLot)
	sc.lim(maker, book.Buy, px(2000), 100)
	// The leader sells 5 of 50 lots (100 USDT); the relation 1 of 10 at
	// 1,990: 19.90 USDT, below the minimum.
	sc.lim(leader1, book.Sell, px(2000), 5)
	sk := sc.events(EvCopySkipped)
	if len(sk) != 1 || sk[0].CopyReason != CopyBelowMinNotional || sk[0].Remaining != 1 ||
		sk[0].Side != book.Sell || sk[0].Qty != 5 || sk[0].Price != px(2000) {
		t.Fatalf("skips %+v, want one below_min_notional sale of 1 lot", sk)
	}
	sc.wantWallet(rel, 800*usdt, 10*ethLot)
	// The leader sells the rest and is flat: the relation sells its 10.
	sc.lim(leader1, book.Sell, px(2000), 45)
	sc.wantWallet(rel, 1000*usdt, 0)
}

// A paused relation is still stopped out by a Settle: the stop-loss
// protects it whether it copies buys or not.
func TestCopyPausedStopLoss(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 1000 * usdt, StopLossBps: 1000})
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(leader1, book.Buy, px(2000), 10) // the wallet: 49 lots
	sc.ok(Command{Kind: CmdPauseFollow, Account: 3, Copy: CopySpec{Relation: rel}})
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.trade(px(1700)) // NAV 20 + 833 USDT, under the stop at 900
	sc.lim(maker, book.Buy, px(1700), 1000)
	sc.ok(Command{Kind: CmdSettle})
	if cl := sc.events(EvCopyClosed); len(cl) != 1 || cl[0].CopyReason != CopyStopLoss || cl[0].Amount != 20*usdt+49*px(1700)*qscale {
		t.Fatalf("paused relation not stopped: %+v", sc.evs)
	}
	sc.wantBal(3, ethID, 0, 0)
}

// Unfollow{close=market} cannot sell in a halted market: the base comes
// back as it is, with the quote, and the relation closes.
func TestCopyUnfollowMarketHalted(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne})
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(leader1, book.Buy, px(2000), 10)
	sc.lim(maker, book.Buy, px(1999), 100)
	sc.ok(Command{Kind: CmdHaltMarket, Market: 1})
	sc.ok(Command{Kind: CmdUnfollow, Account: 3, Copy: CopySpec{Relation: rel, Close: CloseMarket}})
	if n := len(sc.events(book.EvTrade)); n != 0 {
		t.Fatalf("%d trades in a halted market", n)
	}
	sc.wantBal(3, usdtID, 100_000*usdt-10*px(2000)*qscale, 0)
	sc.wantBal(3, ethID, 10*ethLot, 0)
	if sc.rel(rel).status != RelationClosed {
		t.Fatal("relation not closed")
	}
}

// Settle for one leader settles only its relations; mirrored orders pay
// the taker fee to the fee account like any order.
func TestCopySettleOneLeaderAndFees(t *testing.T) {
	sc, relA, relB := twoLeaders(t, 0) // A's relation pays 10%, B's 0%
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(leader1, book.Buy, px(2000), 10)
	sc.lim(4, book.Buy, px(2000), 2)
	sc.wantWallet(relA, 1000*usdt-10*px(2000)*qscale, 10*ethLot)
	sc.wantWallet(relB, 1000*usdt-10*px(2000)*qscale, 10*ethLot)
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.trade(px(3000)) // both NAVs 1,100
	sc.ok(Command{Kind: CmdSettle, Account: 4})
	if ps := sc.events(EvProfitShare); len(ps) != 0 || sc.rel(relB).hwm != 1100*usdt || sc.rel(relA).hwm != 1000*usdt {
		t.Fatalf("settle of leader 4: %+v, marks %d %d", ps, sc.rel(relA).hwm, sc.rel(relB).hwm)
	}
	sc.ok(Command{Kind: CmdSettle})
	if ps := sc.events(EvProfitShare); len(ps) != 1 || ps[0].Relation != relA || ps[0].Amount != 10*usdt {
		t.Fatalf("settle of all after leader 4's: %+v", ps)
	}
	if out := sc.do(Command{Kind: CmdSettle, Account: maker}); !errors.Is(out.Err, ErrNotLeader) {
		t.Fatalf("settle of a non-leader: %v", out.Err)
	}

	// Fees: 1% taker. A mirrored buy of 10 lots at 2,000 pays 2 USDT.
	sc = newCopyScenario(t, 100, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne})
	sc.lim(maker, book.Sell, px(2000), 100) // pays 1% as maker on each fill
	f0, _ := sc.bal(FeeAccount, usdtID)
	sc.lim(leader1, book.Buy, px(2000), 10)
	f1, _ := sc.bal(FeeAccount, usdtID)
	if f1-f0 != 4*2*usdt { // leader and maker, relation and maker
		t.Fatalf("fees %d, want %d", f1-f0, 8*usdt)
	}
	sc.wantWallet(rel, 1000*usdt-10*px(2000)*qscale-2*usdt, 10*ethLot)
}

// Follow: slippage_bps 0 is the default 50, 1 to 300 are taken as
// given, above is refused; stop_loss_bps must be below 10,000.
func TestCopySlippageDefaultAndRange(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 6)
	for i, c := range []struct {
		slip, stop int32
		want       error
		limit      int64
	}{
		{0, 0, nil, px(2010)},
		{1, 0, nil, 200_020},
		{300, 9999, nil, px(2060)},
		{-1, 0, ErrInvalidCopySpec, 0},
		{0, 10000, ErrInvalidCopySpec, 0},
		{0, -1, ErrInvalidCopySpec, 0},
	} {
		acct := uint64(3 + i)
		if acct > 6 {
			acct = 6
		}
		out := sc.do(Command{Kind: CmdFollow, Account: acct, Asset: usdtID, Amount: 1000 * usdt,
			Copy: CopySpec{Leader: leader1, Mode: CopyMultiplier, Value: ValueOne, SlippageBps: c.slip, StopLossBps: c.stop}})
		if !errors.Is(out.Err, c.want) {
			t.Fatalf("slippage %d stop %d: %v, want %v", c.slip, c.stop, out.Err, c.want)
		}
		if c.want != nil {
			continue
		}
		sc.lim(maker, book.Sell, px(2000), 2)
		sc.lim(leader1, book.Buy, px(2000), 1)
		if got := sc.mirrorOrders(out.ID); !slices.Equal(got, []int64{c.limit}) {
			t.Fatalf("slippage %d: mirrored limit %v, want %d", c.slip, got, c.limit)
		}
		sc.ok(Command{Kind: CmdUnfollow, Account: acct, Copy: CopySpec{Relation: out.ID}})
		sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	}
}

// A skipped mirror is not retried: money added to the wallet after an
// insufficient_funds skip buys nothing of the fill skipped, only the
// next fill's share.
func TestCopySkipNotRetried(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 10*usdt, CopySpec{Mode: CopyFixedQuote, Value: 100 * usdt})
	sc.lim(maker, book.Sell, px(2005), 1000)
	o := sc.lim(leader1, book.Buy, px(2000), 4).ID
	sc.lim(maker, book.Sell, px(2000), 2) // half the order: 50 USDT = 2 lots, 10 USDT held
	if sk := sc.events(EvCopySkipped); len(sk) != 1 || sk[0].CopyReason != CopyInsufficientFunds || sk[0].Remaining != 2 {
		t.Fatalf("skips %+v, want insufficient_funds with the 2 lots wanted", sk)
	}
	if c := sc.rel(rel).carry(o); c != 10*usdt {
		t.Fatalf("carry %d, want the 10 USDT under a lot", c)
	}
	sc.ok(Command{Kind: CmdAmendFollow, Account: 3, Amount: 1000 * usdt,
		Copy: CopySpec{Relation: rel, Mode: CopyFixedQuote, Value: 100 * usdt}})
	sc.lim(maker, book.Sell, px(2000), 2) // the other half: 50 USDT = 2 lots, not 4
	sc.wantWallet(rel, 1010*usdt-2*px(2005)*qscale, 2*ethLot)
}

// The stop-loss closes a relation whose NAV is below allocation × (1 −
// stop_loss_bps/10000), exactly: with 999.99999999 USDT allocated and a
// 20% stop, the stop is at 799.999999992 USDT, and a NAV of 799.99999999
// is below it. (Caught: the stop rounded down to the unit, 799.99999999,
// which the NAV is not below.)
func TestCopyStopLossExactBoundary(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	const alloc int64 = 1000*usdt - 1
	rel := sc.follow(3, alloc, CopySpec{Mode: CopyFixedQuote, Value: 500 * usdt, StopLossBps: 2000})
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(leader1, book.Buy, px(2000), 10) // the wallet buys 25 lots for 500
	sc.wantWallet(rel, alloc-500*usdt, 25*ethLot)
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.trade(px(1201)) // NAV alloc − 199.75 USDT: above the stop
	sc.ok(Command{Kind: CmdSettle})
	if sc.rel(rel).status != RelationActive {
		t.Fatalf("closed above the stop: %+v", sc.evs)
	}
	sc.trade(px(1200)) // NAV alloc − 200 USDT = 799.99999999 USDT
	if nav := sc.s.nav(sc.rel(rel)); nav != alloc-200*usdt {
		t.Fatalf("NAV %d, want %d", nav, alloc-200*usdt)
	}
	sc.lim(maker, book.Buy, px(1200), 1000)
	sc.ok(Command{Kind: CmdSettle})
	if cl := sc.events(EvCopyClosed); len(cl) != 1 || cl[0].CopyReason != CopyStopLoss {
		t.Fatalf("NAV %d below the stop %d.2: events %+v", alloc-200*usdt, alloc*8/10, sc.evs)
	}
	sc.wantBal(3, usdtID, 100_000*usdt-200*usdt, 0)
}

// fixed_quote spends A per leader order, also on an order sized by a
// quote budget: a leader market buy with a budget of 1,100 USDT and a
// 10% fee buys 1,000 USDT's worth, all its budget can; the follower
// spends A = 1,000 USDT on it, 50 lots at 2,000. (Caught: A × notional ÷
// budget, the fee left in the budget: 909.09 USDT, 45 lots.)
func TestCopyFixedQuoteBudgetOrder(t *testing.T) {
	sc := newCopyScenario(t, 1000, 0, 3)
	rel := sc.follow(3, 10_000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 1000 * usdt})
	sc.lim(maker, book.Sell, px(2000), 1000)
	budgetBuy := Command{Kind: CmdPlace, Account: leader1, Market: 1,
		Order: book.Order{Side: book.Buy, Type: book.Market, QuoteBudget: 1100 * usdt}}
	sc.ok(budgetBuy)
	sc.wantBal(leader1, ethID, 50*ethLot, 0)
	// 50 lots at 2,000 and the 10% taker fee.
	sc.wantWallet(rel, 10_000*usdt-1100*usdt, 50*ethLot)
	// Two fills: 20 lots at 2,000 (400 USDT) and 29 at 2,005 (581.45;
	// 18.55 is left, less than a lot). The relation spends 400 (20 lots
	// at the leader's 2,000) and 581.45 (29 lots at 2,005), all at 2,005
	// (the level at 2,000 is gone when the mirrors come).
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.lim(maker, book.Sell, px(2000), 20)
	sc.lim(maker, book.Sell, px(2005), 1000)
	q0, b0 := sc.wallet(rel)
	sc.ok(budgetBuy)
	sc.wantBal(leader1, ethID, (50+20+29)*ethLot, 0)
	q1, b1 := sc.wallet(rel)
	if want := 49 * px(2005) * qscale * 11 / 10; b1-b0 != 49*ethLot || q0-q1 != want {
		t.Fatalf("bought %d base for %d quote, want 49 lots for %d", b1-b0, q0-q1, want)
	}
}

// A leader's fill is mirrored whichever command makes it: an amend of
// its resting order to a crossing price (in the amend), and its stop
// triggered by others' trade (in their command). Cancels and amends that
// fill nothing mirror nothing: mirrored orders never rest.
func TestCopyFillsOfAmendAndStop(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne})
	sc.lim(maker, book.Sell, px(2000), 100)
	id := sc.lim(leader1, book.Buy, px(1990), 10).ID
	sc.ok(Command{Kind: CmdAmend, Account: leader1, OrderID: id, Order: book.Order{Price: px(1990), Qty: 5}})
	if len(sc.evs) != 1 {
		t.Fatalf("amend down: events %+v", sc.evs)
	}
	sc.wantWallet(rel, 1000*usdt, 0)
	sc.ok(Command{Kind: CmdAmend, Account: leader1, OrderID: id, Order: book.Order{Price: px(2000), Qty: 5}})
	sc.wantWallet(rel, 1000*usdt-5*px(2000)*qscale, 5*ethLot)

	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.lim(maker, book.Sell, px(2005), 100)
	sc.ok(Command{Kind: CmdPlace, Account: leader1, Market: 1, Order: book.Order{Side: book.Buy, Type: book.StopLimit,
		StopPrice: px(2002), Price: px(2005), Qty: 10}})
	sc.wantWallet(rel, 1000*usdt-5*px(2000)*qscale, 5*ethLot)
	sc.lim(maker, book.Buy, px(2002), 1)
	sc.lim(maker, book.Sell, px(2002), 1) // the maker's trade triggers the leader's stop
	sc.wantBal(leader1, ethID, 15*ethLot, 0)
	sc.wantWallet(rel, 1000*usdt-5*px(2000)*qscale-10*px(2005)*qscale, 15*ethLot)
	if got := sc.mirrorOrders(rel); len(got) != 1 {
		t.Fatalf("mirrored orders in the maker's command: %v", got)
	}
}
