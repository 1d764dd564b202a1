package engine

import (
	"errors"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// A cancel-all with a cause (the dead man's switch's or a disconnect's)
// reports it as the reason of each of its cancels, pending stops
// included; without one they are cancelled on request; any other cause
// is refused and changes nothing.
func TestCancelAllCause(t *testing.T) {
	for _, cause := range []book.Reason{book.ReasonNone, book.ReasonCancelAllAfter, book.ReasonDisconnect} {
		sc := newScenario(t)
		sc.place(2, book.Order{Side: book.Sell, Price: 110, Qty: 10})
		sc.place(2, book.Order{Side: book.Buy, Price: 90, Qty: 5})
		sc.place(2, book.Order{Side: book.Sell, Type: book.StopMarket, StopPrice: 80, Qty: 1})
		sc.place(3, book.Order{Side: book.Buy, Price: 95, Qty: 5}) // another account's stays
		want := cause
		if want == book.ReasonNone {
			want = book.ReasonCancelled
		}
		out := sc.do(Command{Kind: CmdCancelAll, Account: 2, Market: 1, Cause: cause})
		n := 0
		for _, ev := range sc.evs {
			if ev.Kind == book.EvCancelled {
				n++
				if ev.Reason != want || ev.Owner != 2 {
					t.Errorf("cause %v: cancel %+v, want reason %v", cause, ev, want)
				}
			}
		}
		if out.Err != nil || out.ID != 3 || n != 3 {
			t.Fatalf("cause %v: %+v, %d cancels", cause, out, n)
		}
	}
	sc := newScenario(t)
	sc.place(2, book.Order{Side: book.Sell, Price: 110, Qty: 10})
	h := hashNoSeq(sc.s)
	for _, bad := range []book.Reason{book.ReasonSelfTrade, book.ReasonAccountFrozen, book.ReasonExpired, book.ReasonCancelled, 200} {
		if out := sc.do(Command{Kind: CmdCancelAll, Account: 2, Market: 1, Cause: bad}); !errors.Is(out.Err, ErrInvalidCommand) || len(sc.evs) != 0 {
			t.Errorf("cause %v: %+v %v, want ErrInvalidCommand", bad, out, sc.evs)
		}
		if hashNoSeq(sc.s) != h {
			t.Fatalf("cause %v changed the state", bad)
		}
	}
}
