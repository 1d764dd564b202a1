package engine

import (
	"slices"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// Tests of COPY_TRADING.md rules that an audit found untested or broken.
// Each names, in its comment, the change to the engine it catches.

// twoLeaders is a copy scenario with a second leader: account 1 (A) is
// followed by 3 (×1), account 4 (B, 10,000 USDT) by 5 (×5, with the
// given stop-loss), each relation with 1,000 USDT. Account 6 follows no
// one yet.
func twoLeaders(t *testing.T, stopLossBps int32) (sc *copyScenario, relA, relB uint64) {
	sc = newCopyScenario(t, 0, 0, 6)
	sc.ok(Command{Kind: CmdDeposit, Account: 4, Asset: usdtID, Amount: 10_000 * usdt})
	sc.ok(Command{Kind: CmdSetLeaderProfile, Account: 4})
	relA = sc.follow(3, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne})
	relB = sc.ok(Command{Kind: CmdFollow, Account: 5, Asset: usdtID, Amount: 1000 * usdt,
		Copy: CopySpec{Leader: 4, Mode: CopyMultiplier, Value: 5 * ValueOne, StopLossBps: stopLossBps}}).ID
	return sc, relA, relB
}

// mirrorOrders returns the prices of the mirrored orders relation rel
// placed in the last command, in order.
func (sc *copyScenario) mirrorOrders(rel uint64) []int64 {
	var prices []int64
	for _, ev := range sc.evs {
		if ev.Kind == book.EvAccepted && ev.Relation == rel {
			prices = append(prices, ev.Price)
		}
	}
	return prices
}

// Every fill of a leader's order is mirrored, whatever it traded with:
// here leader A's resting order is filled by an order of a relation of
// leader B: the mirror of B's buy, the market sale of an unfollow, the
// market sale of a stop-loss. A's follower copies each fill. (Caught:
// trade noting leader fills only when neither side is a mirrored order.)
func TestCopyLeaderFillAgainstMirroredOrder(t *testing.T) {
	t.Run("mirror", func(t *testing.T) {
		sc, relA, relB := twoLeaders(t, 0)
		sc.lim(maker, book.Sell, px(2000), 20)
		sc.lim(leader1, book.Buy, px(2000), 10) // A and its follower buy 10 lots
		sc.lim(maker, book.Buy, px(1999), 100)  // for the follower's sale
		sc.lim(leader1, book.Sell, px(2005), 5) // A's ask
		sc.lim(maker, book.Sell, px(2000), 1)
		// B buys 1 lot; its follower's mirror, 5 lots at up to 2,010,
		// takes A's ask: A sold 5 of its 10 lots, and its follower sells 5
		// of its 10 at 1,994 or better (the bid at 1,999).
		sc.lim(4, book.Buy, px(2000), 1)
		sc.wantWallet(relB, 1000*usdt-5*px(2005)*qscale, 5*ethLot)
		sc.wantWallet(relA, 1000*usdt-10*px(2000)*qscale+5*px(1999)*qscale, 5*ethLot)
		if sk := sc.events(EvCopySkipped); len(sk) != 0 {
			t.Fatalf("skips %+v", sk)
		}
	})
	t.Run("unfollow", func(t *testing.T) {
		sc, relA, relB := twoLeaders(t, 0)
		sc.lim(maker, book.Sell, px(2000), 100)
		sc.lim(4, book.Buy, px(2000), 2) // B's follower buys 10 lots
		sc.wantWallet(relB, 1000*usdt-10*px(2000)*qscale, 10*ethLot)
		sc.lim(leader1, book.Buy, px(1995), 10) // A's bid, under the asks
		// The sale, 10 lots at 1,990 or better, fills A's bid: A's
		// follower buys 10 lots (at up to 2,005: the asks at 2,000).
		sc.ok(Command{Kind: CmdUnfollow, Account: 5, Copy: CopySpec{Relation: relB, Close: CloseMarket}})
		sc.wantBal(5, ethID, 0, 0)
		sc.wantWallet(relA, 1000*usdt-10*px(2000)*qscale, 10*ethLot)
	})
	t.Run("stop_loss", func(t *testing.T) {
		sc, relA, relB := twoLeaders(t, 500)
		sc.lim(maker, book.Sell, px(2000), 100)
		sc.lim(4, book.Buy, px(2000), 2) // B's follower buys 10 lots
		sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
		sc.trade(px(1000))                      // its NAV: 900 USDT, under the stop at 950
		sc.lim(leader1, book.Buy, px(1000), 10) // A's bid
		sc.lim(maker, book.Sell, px(1005), 100) // for A's follower
		// The stop-loss sale, 10 lots at 995 or better, fills A's bid.
		sc.ok(Command{Kind: CmdSettle})
		if sc.rel(relB).status != RelationClosed {
			t.Fatalf("relation %d not stopped: %+v", relB, sc.evs)
		}
		sc.wantWallet(relA, 1000*usdt-10*px(1005)*qscale, 10*ethLot)
	})
}

// Fills of mirrored orders never trigger further mirrors: one leader fill
// gives each relation one mirrored order, and the mirrored orders' own
// fills (against the maker, and against another leader's order) give
// none. (Caught: noteFill taking a mirrored order for its leader's, the
// owner the book knows it by.)
func TestCopyMirroredFillsNotMirrored(t *testing.T) {
	sc, relA, relB := twoLeaders(t, 0)
	second := sc.follow(6, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne})
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(leader1, book.Buy, px(2000), 10) // A's followers 3 and 6 buy 10 lots each
	for _, rel := range []uint64{relA, second} {
		if got := sc.mirrorOrders(rel); len(got) != 1 {
			t.Fatalf("relation %d placed %d mirrored orders for one leader fill", rel, len(got))
		}
	}
	if got := len(sc.events(book.EvTrade)); got != 3 {
		t.Fatalf("%d trades, want the leader's and two mirrored", got)
	}
	sc.wantWallet(relA, 1000*usdt-10*px(2000)*qscale, 10*ethLot)
	sc.wantWallet(second, 1000*usdt-10*px(2000)*qscale, 10*ethLot)
	// B's follower's mirror fills against A's ask: A's fill is mirrored
	// (a sale of 5 of 10 lots for each of A's relations), the mirrored
	// orders' fills are not.
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.lim(maker, book.Buy, px(1999), 100)
	sc.lim(leader1, book.Sell, px(2005), 5)
	sc.lim(maker, book.Sell, px(2000), 1)
	sc.lim(4, book.Buy, px(2000), 1)
	for rel, want := range map[uint64]int{relB: 1, relA: 1, second: 1} {
		if got := sc.mirrorOrders(rel); len(got) != want {
			t.Fatalf("relation %d placed %d mirrored orders, want %d: %+v", rel, len(got), want, sc.evs)
		}
	}
	if got := len(sc.events(book.EvTrade)); got != 4 {
		t.Fatalf("%d trades, want B's, its follower's, and A's two followers' sales", got)
	}
	sc.wantWallet(relB, 1000*usdt-5*px(2005)*qscale, 5*ethLot)
	sc.wantWallet(relA, 1000*usdt-10*px(2000)*qscale+5*px(1999)*qscale, 5*ethLot)
	sc.wantWallet(second, 1000*usdt-10*px(2000)*qscale+5*px(1999)*qscale, 5*ethLot)
}

// Rounding remainders of a leader order carry to its next fill, though
// fills of the leader's other orders come in between, and are dropped
// when the order is done (filled or cancelled). ×1.5: order 1 of 2 lots
// fills 1 (1 lot, 0.5 carried), order 2 fills 1 lot (1 lot, its 0.5
// dropped with it), order 1 fills its last (1.5 + 0.5 = 2 lots): order 1
// is copied as 3 lots. (Caught: one remainder per relation, reset by a
// fill of another order.)
func TestCopyCarryPerLeaderOrder(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 10_000*usdt, CopySpec{Mode: CopyMultiplier, Value: 3 * ValueOne / 2})
	sc.lim(maker, book.Sell, px(2005), 100) // for the mirrors
	wantCarries := func(want ...orderCarry) {
		t.Helper()
		if got := sc.rel(rel).carries; !slices.Equal(got, want) {
			t.Fatalf("remainders %v, want %v", got, want)
		}
	}
	o1 := sc.lim(leader1, book.Buy, px(2000), 2).ID
	sc.lim(maker, book.Sell, px(2000), 1)
	sc.wantWallet(rel, 10_000*usdt-1*px(2005)*qscale, 1*ethLot)
	wantCarries(orderCarry{o1, ValueOne / 2})
	sc.lim(leader1, book.Buy, px(2005), 1) // order 2: 1 lot
	sc.wantWallet(rel, 10_000*usdt-2*px(2005)*qscale, 2*ethLot)
	wantCarries(orderCarry{o1, ValueOne / 2})
	sc.lim(maker, book.Sell, px(2000), 1) // order 1's last lot
	sc.wantWallet(rel, 10_000*usdt-4*px(2005)*qscale, 4*ethLot)
	wantCarries()
	// Two live orders carry at once; a cancel drops its order's.
	o3 := sc.lim(leader1, book.Buy, px(1999), 3).ID
	sc.lim(maker, book.Sell, px(1999), 1)
	o4 := sc.lim(leader1, book.Buy, px(2000), 3).ID
	sc.lim(maker, book.Sell, px(2000), 1)
	wantCarries(orderCarry{o3, ValueOne / 2}, orderCarry{o4, ValueOne / 2})
	sc.ok(Command{Kind: CmdCancel, Account: leader1, OrderID: o4})
	wantCarries(orderCarry{o3, ValueOne / 2})
	sc.lim(maker, book.Sell, px(1999), 2) // order 3's last 2 lots: 3 + 0.5
	sc.wantWallet(rel, 10_000*usdt-(4+1+1+3)*px(2005)*qscale, 9*ethLot)
	wantCarries()
	// A change of parameters drops them too (their units may change).
	o5 := sc.lim(leader1, book.Buy, px(2000), 2).ID
	sc.lim(maker, book.Sell, px(2000), 1)
	wantCarries(orderCarry{o5, ValueOne / 2})
	sc.ok(Command{Kind: CmdAmendFollow, Account: 3, Copy: CopySpec{Relation: rel, Mode: CopyMultiplier, Value: 3 * ValueOne / 2}})
	wantCarries()
}

// A mirrored order's limit is p × (1 + slippage) for a buy and p × (1 −
// slippage) for a sell, rounded to the tick against the follower: up for
// a buy, down for a sell. With a tick of 7 and 50 bps at p = 200,207:
// 201,208.035 is 201,215 (not 201,208: the tick below), 199,205.965 is
// 199,199 (not 199,206: the tick above). (Caught: a sell at p; a buy
// limit rounded down, at the unit or at the tick; a sell limit rounded
// up, at the unit or at the tick.)
func TestCopyMirrorTickRounding(t *testing.T) {
	const p = 7 * 28601 // 200,207
	sc := newCopyScenarioRules(t, 0, book.Rules{TickSize: 7, LotSize: 1, MaxPrice: 7 * 14_285_714, MaxQty: 1_000_000}, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne, SlippageBps: 50})
	sc.lim(maker, book.Sell, p, 10)
	sc.lim(leader1, book.Buy, p, 2)
	if got := sc.mirrorOrders(rel); !slices.Equal(got, []int64{201_215}) {
		t.Fatalf("mirrored buy limits %v, want [201215]", got)
	}
	sc.wantWallet(rel, 1000*usdt-2*p*qscale, 2*ethLot)
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.lim(maker, book.Buy, p, 10)
	sc.lim(leader1, book.Sell, p, 1)
	if got := sc.mirrorOrders(rel); !slices.Equal(got, []int64{199_199}) {
		t.Fatalf("mirrored sell limits %v, want [199199]", got)
	}
	sc.wantWallet(rel, 1000*usdt-p*qscale, 1*ethLot)
}

// Unfollow{close=market} sells at the slippage floor under the last trade
// price, rounded down to the tick, and no lower: with the last price at
// 200,207 and 50 bps, 3 lots sell to the bid at the floor, 199,199, none
// to the bid a tick under it, and the 2 lots left come back as they are.
// (Caught: a sale at any price, limit 1; a floor rounded up to the tick.)
func TestCopyUnfollowMarketFloor(t *testing.T) {
	const p, floor = 7 * 28601, 199_199
	sc := newCopyScenarioRules(t, 0, book.Rules{TickSize: 7, LotSize: 1, MaxPrice: 7 * 14_285_714, MaxQty: 1_000_000}, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne})
	sc.lim(maker, book.Sell, p, 10)
	sc.lim(leader1, book.Buy, p, 5) // the follower buys 5 lots at p
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.lim(maker, book.Buy, floor, 3)
	sc.lim(maker, book.Buy, floor-7, 100)
	sc.ok(Command{Kind: CmdUnfollow, Account: 3, Copy: CopySpec{Relation: rel, Close: CloseMarket}})
	if got := sc.mirrorOrders(rel); !slices.Equal(got, []int64{floor}) {
		t.Fatalf("closing sale limits %v, want [%d]", got, floor)
	}
	sc.wantBal(3, usdtID, 100_000*usdt-5*p*qscale+3*floor*qscale, 0)
	sc.wantBal(3, ethID, 2*ethLot, 0)
}

// Profit share is skipped if the wallet cannot pay it, and the high-water
// mark then stays where it was: the gain is shared at the next settlement
// the wallet can pay. (Caught: the mark raised to the NAV on a skip.)
func TestCopyProfitShareSkipKeepsMark(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 1000 * usdt})
	sc.lim(maker, book.Sell, px(2000), 100)
	// 1,000 USDT buys 49 lots: the 50th does not fit at the limit, 2,010.
	sc.lim(leader1, book.Buy, px(2000), 10)
	sc.wantWallet(rel, 20*usdt, 49*ethLot)
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.trade(px(2600)) // NAV 20 + 1,274: 10% of the 294 gain is 29.40, more than the 20 held
	sc.ok(Command{Kind: CmdSettle})
	if ps := sc.events(EvProfitShare); len(ps) != 0 || sc.rel(rel).hwm != 1000*usdt || sc.rel(rel).paid != 0 {
		t.Fatalf("unpayable share: events %+v, mark %d, paid %d; want none, 1,000 USDT, 0", ps, sc.rel(rel).hwm, sc.rel(rel).paid)
	}
	// The leader sells out; so does the follower, at 2,600: now it pays.
	sc.lim(maker, book.Buy, px(2600), 100)
	sc.lim(leader1, book.Sell, px(2600), 10)
	sc.wantWallet(rel, 20*usdt+49*px(2600)*qscale, 0)
	sc.ok(Command{Kind: CmdSettle})
	const fee = 2940 * usdt / 100
	if ps := sc.events(EvProfitShare); len(ps) != 1 || ps[0].Amount != fee || sc.rel(rel).hwm != 1294*usdt-fee {
		t.Fatalf("profit share %+v, mark %d; want %d and a mark of %d", ps, sc.rel(rel).hwm, int64(fee), int64(1294*usdt-fee))
	}
}

// A follower may have several relations, to different leaders, each
// isolated: its own wallet, its own mirrors, pause and unfollow. (Caught:
// a follower's second relation refused.)
func TestCopyFollowerSeveralLeaders(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 4)
	sc.ok(Command{Kind: CmdDeposit, Account: 4, Asset: usdtID, Amount: 10_000 * usdt})
	sc.ok(Command{Kind: CmdSetLeaderProfile, Account: 4})
	relA := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne})
	relB := sc.ok(Command{Kind: CmdFollow, Account: 3, Asset: usdtID, Amount: 2000 * usdt,
		Copy: CopySpec{Leader: 4, Mode: CopyMultiplier, Value: 2 * ValueOne}}).ID
	if relA == relB || sc.rel(relA).wallet == sc.rel(relB).wallet || sc.s.accounts.at(3).follows != 2 {
		t.Fatalf("relations %d and %d, wallets %d and %d, follows %d", relA, relB,
			sc.rel(relA).wallet, sc.rel(relB).wallet, sc.s.accounts.at(3).follows)
	}
	cost := func(lots int64) int64 { return lots * px(2000) * qscale }
	sc.lim(maker, book.Sell, px(2000), 100)
	sc.lim(leader1, book.Buy, px(2000), 3)
	sc.wantWallet(relA, 1000*usdt-cost(3), 3*ethLot)
	sc.wantWallet(relB, 2000*usdt, 0)
	sc.lim(4, book.Buy, px(2000), 2)
	sc.wantWallet(relA, 1000*usdt-cost(3), 3*ethLot)
	sc.wantWallet(relB, 2000*usdt-cost(4), 4*ethLot)
	sc.wantBal(3, usdtID, 97_000*usdt, 0) // mirrors trade only the wallets
	sc.wantBal(3, ethID, 0, 0)
	// Pausing one relation leaves the other copying.
	sc.ok(Command{Kind: CmdPauseFollow, Account: 3, Copy: CopySpec{Relation: relA}})
	sc.lim(leader1, book.Buy, px(2000), 1)
	sc.lim(4, book.Buy, px(2000), 1)
	sc.wantWallet(relA, 1000*usdt-cost(3), 3*ethLot)
	sc.wantWallet(relB, 2000*usdt-cost(6), 6*ethLot)
	// Unfollowing one returns its wallet only.
	sc.ok(Command{Kind: CmdUnfollow, Account: 3, Copy: CopySpec{Relation: relB, Close: CloseKeep}})
	sc.wantBal(3, usdtID, 97_000*usdt+2000*usdt-cost(6), 0)
	sc.wantBal(3, ethID, 6*ethLot, 0)
	sc.wantWallet(relA, 1000*usdt-cost(3), 3*ethLot)
	if sc.rel(relA).status != RelationPaused || sc.s.accounts.at(3).follows != 1 {
		t.Fatalf("relation %d %v, follows %d", relA, sc.rel(relA).status, sc.s.accounts.at(3).follows)
	}
}
