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
