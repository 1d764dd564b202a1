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
