package engine

import (
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// A market order the band stops expires price_band only if what lay
// beyond the bound is liquidity it could have taken: not its owner's own
// orders, which self-trade prevention would have cancelled it at
// (cancel_taker, cancel_both) or cancelled (cancel_maker) rather than
// traded with.
func TestBandReviewSelfTradeBeyond(t *testing.T) {
	for _, c := range []struct {
		stp  book.STPMode
		asks []struct {
			acct  uint64
			price int64
		} // beyond the bound of 110, in arrival order
		want book.Reason
	}{
		// Self-trade allowed: its own ask is liquidity it takes.
		{book.STPNone, []struct {
			acct  uint64
			price int64
		}{{1, 115}}, book.ReasonPriceBand},
		// Its own ask first beyond: stopped there by self-trade prevention.
		{book.STPCancelTaker, []struct {
			acct  uint64
			price int64
		}{{1, 115}, {2, 115}}, book.ReasonUnfilled},
		{book.STPCancelBoth, []struct {
			acct  uint64
			price int64
		}{{1, 115}, {2, 120}}, book.ReasonUnfilled},
		// Another's ask first: it would have traded.
		{book.STPCancelTaker, []struct {
			acct  uint64
			price int64
		}{{2, 115}, {1, 115}}, book.ReasonPriceBand},
		// Cancel maker: its own asks are cancelled, the next other's taken.
		{book.STPCancelMaker, []struct {
			acct  uint64
			price int64
		}{{1, 115}}, book.ReasonUnfilled},
		{book.STPCancelMaker, []struct {
			acct  uint64
			price int64
		}{{1, 115}, {1, 116}, {2, 120}}, book.ReasonPriceBand},
	} {
		sc := bandScenario(t, 1000) // [90, 110]
		sc.place(2, book.Order{Side: book.Sell, Price: 105, Qty: 1})
		for _, a := range c.asks {
			if out := sc.place(a.acct, book.Order{Side: book.Sell, Price: a.price, Qty: 5}); out.Err != nil {
				t.Fatal(out.Err)
			}
		}
		o := sc.place(1, book.Order{Side: book.Buy, Type: book.Market, Qty: 5, STP: c.stp})
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if ev := sc.expiryOf(o.ID); ev.Reason != c.want || ev.Qty != 4 {
			t.Errorf("stp %v, asks beyond %v: expiry %v of %d, want %v", c.stp, c.asks, ev.Reason, ev.Qty, c.want)
		}
	}
}
