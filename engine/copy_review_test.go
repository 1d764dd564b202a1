package engine

import (
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// Tests from the copy-trading review: COPY_TRADING.md, sentence by
// sentence, where no test showed the rule.

// "If the leader is now flat in that asset, the relation sells all of it
// (no dust left behind)": a leader holding less than a lot of the base
// beside its position (here half a lot, deposited) is flat once it sold
// the position, as it can sell no more. The follower sells everything.
func TestCopyReviewFlatWithDust(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 5000*usdt, CopySpec{Mode: CopyMultiplier, Value: 10 * ValueOne})
	sc.ok(Command{Kind: CmdDeposit, Account: leader1, Asset: ethID, Amount: ethLot / 2})
	sc.lim(maker, book.Sell, px(2000), 200)
	sc.lim(leader1, book.Buy, px(2000), 10) // the follower buys 100 lots
	sc.wantWallet(rel, 5000*usdt-100*px(2000)*qscale, 100*ethLot)
	sc.lim(maker, book.Buy, px(2000), 200)
	sc.lim(leader1, book.Sell, px(2000), 10) // the leader keeps half a lot: flat
	sc.wantBal(leader1, ethID, ethLot/2, 0)
	sc.wantWallet(rel, 5000*usdt, 0)
}

// Unfollow{close=market} while the leader has the best bid: "sell the
// relation's base with an IOC at the slippage floor". The sale sells to
// the leader's bid (self-trade prevention by copy group is for mirrored
// orders), and the leader's fill is mirrored to its other relation.
// (Caught: the sale, placed in the leader's copy group, expired at the
// leader's bid with the maker's bid under it untouched, and the base came
// back unsold: a leader's bid could stop its followers' stop-losses.)
func TestCopyReviewCloseAgainstLeaderBid(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 4)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne})
	other := sc.follow(4, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne})
	sc.lim(maker, book.Sell, px(2000), 15)
	sc.lim(leader1, book.Buy, px(2000), 5)
	sc.wantWallet(rel, 1000*usdt-5*px(2000)*qscale, 5*ethLot)
	sc.wantWallet(other, 1000*usdt-5*px(2000)*qscale, 5*ethLot)
	sc.ok(Command{Kind: CmdCancelAll, Account: maker, Market: 1})
	sc.lim(leader1, book.Buy, px(1999), 5)
	sc.lim(maker, book.Buy, px(1998), 100)
	sc.lim(maker, book.Sell, px(2001), 100) // for the other relation's mirror
	sc.ok(Command{Kind: CmdUnfollow, Account: 3, Copy: CopySpec{Relation: rel, Close: CloseMarket}})
	sc.wantBal(3, ethID, 0, 0)
	sc.wantBal(3, usdtID, 100_000*usdt-5*px(2000)*qscale+5*px(1999)*qscale, 0)
	sc.wantBal(leader1, ethID, 10*ethLot, 0)
	// The leader bought 5 lots at 1,999: so does the other relation, at 2,001.
	sc.wantWallet(other, 1000*usdt-5*px(2000)*qscale-5*px(2001)*qscale, 10*ethLot)
}

// A follower running out of funds in the middle of a leader's sweep: the
// leader's buy takes three levels in one command; the multiplier
// relation's first mirror spends nearly all its wallet, the next ones
// shrink to what fits and then are skipped for insufficient_funds (with
// the size wanted), never retried, and the wallet never goes below zero
// (State.Check after every command). The leader's later sale is still
// mirrored: the relation sells its holdings, all of them as the leader
// goes flat.
func TestCopyReviewOutOfFundsMidSweep(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	// 300 USDT: 14 lots at 2,010 (281.40 reserved), then 9.40 USDT left,
	// less than a lot at any of the limits.
	rel := sc.follow(3, 300*usdt, CopySpec{Mode: CopyMultiplier, Value: 2 * ValueOne})
	sc.lim(maker, book.Sell, px(2000), 10)
	sc.lim(maker, book.Sell, px(2001), 10)
	sc.lim(maker, book.Sell, px(2002), 10)
	sc.lim(maker, book.Sell, px(2003), 100) // for the mirrors
	sc.lim(leader1, book.Buy, px(2002), 30)
	var sizes []int64
	var skips []Event
	for _, ev := range sc.evs {
		if ev.Relation == rel && ev.Kind == book.EvAccepted {
			sizes = append(sizes, ev.Qty)
		}
		if ev.Kind == EvCopySkipped {
			skips = append(skips, ev)
		}
	}
	if len(sizes) != 1 || sizes[0] != 14 {
		t.Fatalf("mirrored sizes %v, want [14]", sizes)
	}
	if len(skips) != 2 {
		t.Fatalf("skips %+v, want 2", skips)
	}
	for i, sk := range skips {
		// Remaining: the 20 lots wanted (×2), not the 0 that fit.
		if sk.CopyReason != CopyInsufficientFunds || sk.Relation != rel || sk.Qty != 10 || sk.Price != px(2001+int64(i)) || sk.Remaining != 20 {
			t.Fatalf("skip %d: %+v, want insufficient_funds for 10 lots at %d, 20 wanted", i, sk, px(2001+int64(i)))
		}
	}
	q, b := sc.wallet(rel)
	if b != 14*ethLot || q != 300*usdt-14*px(2003)*qscale {
		t.Fatalf("wallet %d quote %d base, want %d, 14 lots", q, b, 300*usdt-14*px(2003)*qscale)
	}
	// The leader sells 10 of its 30 lots, then the rest: the relation
	// sells a third (4 lots, 2/3 carried), then all it has left.
	sc.lim(maker, book.Buy, px(1990), 1000)
	sc.lim(leader1, book.Sell, px(1990), 10)
	sc.wantWallet(rel, q+4*px(1990)*qscale, 10*ethLot)
	sc.lim(leader1, book.Sell, px(1990), 20)
	sc.wantWallet(rel, q+14*px(1990)*qscale, 0)
}

// The leader trades against its follower's own (main account) order: the
// fill is the leader's like any other and is mirrored to the follower's
// relation, whose wallet trades with the market, not with the follower's
// main balance, which only its own order moved. Copy-group self-trade
// prevention is about the wallet meeting the leader, not the follower's
// own orders.
func TestCopyReviewLeaderTradesWithFollowerMain(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 3)
	rel := sc.follow(3, 1000*usdt, CopySpec{Mode: CopyMultiplier, Value: ValueOne})
	sc.ok(Command{Kind: CmdDeposit, Account: 3, Asset: ethID, Amount: 10 * ethLot})
	sc.lim(3, book.Sell, px(2000), 10)      // the follower's own ask, first in the book
	sc.lim(maker, book.Sell, px(2001), 100) // the mirror's liquidity
	sc.lim(leader1, book.Buy, px(2000), 10)
	sc.wantBal(3, ethID, 0, 0)
	sc.wantBal(3, usdtID, 99_000*usdt+10*px(2000)*qscale, 0)
	sc.wantWallet(rel, 1000*usdt-10*px(2001)*qscale, 10*ethLot)
}

// A leader order filled in parts while its follower pauses, resumes and
// another follower unfollows: fills while paused are skipped (buys) and
// not made up later; after the resume the next fill is mirrored at its
// share; a relation closed while the leader's order is live gets nothing
// more, and its carries go with it. With fixed_quote 1,000 per order of
// 10 lots, the paused relation buys 3/10 and 4/10 of 1,000.
func TestCopyReviewPauseResumeCloseWithLiveOrder(t *testing.T) {
	sc := newCopyScenario(t, 0, 0, 4)
	relP := sc.follow(3, 5000*usdt, CopySpec{Mode: CopyFixedQuote, Value: 1000 * usdt})
	relC := sc.follow(4, 5000*usdt, CopySpec{Mode: CopyMultiplier, Value: 3 * ValueOne / 2})
	sc.lim(maker, book.Sell, px(2005), 1000) // for the mirrors
	o := sc.lim(leader1, book.Buy, px(2000), 10).ID
	sc.lim(maker, book.Sell, px(2000), 3)
	lots := func(usd int64) int64 { return usd * usdt / (px(2000) * qscale) }
	at := func(l int64) int64 { return l * px(2005) * qscale }
	sc.wantWallet(relP, 5000*usdt-at(lots(300)), lots(300)*ethLot)
	sc.wantWallet(relC, 5000*usdt-at(4), 4*ethLot) // 4.5 lots: 0.5 carried
	if c := sc.rel(relC).carry(o); c != ValueOne/2 {
		t.Fatalf("carry %d, want half a lot", c)
	}
	sc.ok(Command{Kind: CmdPauseFollow, Account: 3, Copy: CopySpec{Relation: relP}})
	sc.ok(Command{Kind: CmdUnfollow, Account: 4, Copy: CopySpec{Relation: relC, Close: CloseKeep}})
	if sc.rel(relC).carries != nil {
		t.Fatalf("closed relation keeps carries %v", sc.rel(relC).carries)
	}
	sc.lim(maker, book.Sell, px(2000), 3)
	if sk := sc.events(EvCopySkipped); len(sk) != 1 || sk[0].Relation != relP || sk[0].CopyReason != CopyPaused {
		t.Fatalf("skips %+v, want relP paused", sk)
	}
	sc.wantWallet(relP, 5000*usdt-at(lots(300)), lots(300)*ethLot)
	sc.ok(Command{Kind: CmdResumeFollow, Account: 3, Copy: CopySpec{Relation: relP}})
	sc.lim(maker, book.Sell, px(2000), 4)
	sc.wantWallet(relP, 5000*usdt-at(lots(700)), lots(700)*ethLot)
	sc.wantBal(4, ethID, 4*ethLot, 0)
	sc.wantBal(4, usdtID, 100_000*usdt-at(4), 0)
}
