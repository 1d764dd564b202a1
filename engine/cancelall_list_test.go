package engine

import (
	"slices"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// A cancel-all cancels exactly the account's live orders in the market,
// pending stops and icebergs included, oldest first, from the account's
// list of live orders; its orders elsewhere and other accounts' stay,
// and the lists stay exact (Check after each command, sc.do).
func TestCancelAllFromAccountList(t *testing.T) {
	sc := newScenario(t)
	var mine []uint64
	place := func(acct uint64, market uint32, o book.Order) uint64 {
		t.Helper()
		out := sc.do(Command{Kind: CmdPlace, Account: acct, Market: market, Order: o})
		if out.Err != nil {
			t.Fatalf("place %+v: %v", o, out.Err)
		}
		return out.ID
	}
	mine = append(mine, place(1, 1, book.Order{Side: book.Buy, Price: 90, Qty: 1}))
	other := place(2, 1, book.Order{Side: book.Sell, Price: 110, Qty: 1})
	elsewhere := place(1, 2, book.Order{Side: book.Buy, Price: 100, Qty: 3})
	mine = append(mine, place(1, 1, book.Order{Side: book.Sell, Price: 120, Qty: 2, DisplayQty: 1}))
	mine = append(mine, place(1, 1, book.Order{Side: book.Sell, Type: book.StopMarket, StopPrice: 80, Qty: 1}))
	mine = append(mine, place(1, 1, book.Order{Side: book.Buy, Price: 99, Qty: 1}))
	// An IOC and a taker that fills are never in the list.
	place(1, 1, book.Order{Side: book.Buy, Price: 110, Qty: 1, TIF: book.IOC}) // fills account 2's ask
	if sc.s.orders.get(other) != nil {
		t.Fatal("account 2's ask not filled")
	}
	other = place(2, 1, book.Order{Side: book.Buy, Price: 94, Qty: 1})
	out := sc.do(Command{Kind: CmdCancelAll, Account: 1, Market: 1})
	if out.Err != nil || out.ID != uint64(len(mine)) {
		t.Fatalf("cancel-all: %+v", out)
	}
	var got []uint64
	for _, ev := range sc.evs {
		if ev.Kind == book.EvCancelled {
			got = append(got, ev.OrderID)
		}
	}
	if !slices.Equal(got, mine) {
		t.Fatalf("cancelled %v, want %v (oldest first)", got, mine)
	}
	if sc.s.orders.get(other) == nil || sc.s.orders.get(elsewhere) == nil {
		t.Fatal("another account's order, or one in another market, cancelled")
	}
	if ids := sc.s.liveOrdersOf(1); !slices.Equal(ids, []uint64{elsewhere}) {
		t.Fatalf("account 1's list %v, want [%d]", ids, elsewhere)
	}
	// Nothing left: 0 cancelled, no event.
	if out := sc.do(Command{Kind: CmdCancelAll, Account: 1, Market: 1}); out.Err != nil || out.ID != 0 || len(sc.evs) != 0 {
		t.Fatalf("second cancel-all: %+v, %d events", out, len(sc.evs))
	}
}
