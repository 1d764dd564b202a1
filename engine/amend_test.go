package engine

import (
	"errors"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// amended returns the EvAmended event of the last command.
func (sc *scenario) amended() book.Event {
	sc.t.Helper()
	for _, ev := range sc.evs {
		if ev.Kind == book.EvAmended {
			return ev.Event
		}
	}
	sc.t.Fatalf("no amended event in %+v", sc.evs)
	return book.Event{}
}

// open returns the open quantity and price of live order id.
func (sc *scenario) open(id uint64) (qty, price int64) {
	sc.t.Helper()
	o, ok := sc.s.bookOrder(sc.s.markets[0], id)
	if !ok {
		sc.t.Fatalf("order %d not live", id)
	}
	return o.Open, o.Price
}

// CmdAmendTotal takes the order's new total quantity: the open quantity
// becomes the total minus what the order has filled when the engine
// applies it, and a total not above the filled quantity is refused.
// CmdAmend keeps its meaning (the new open quantity), as logs hold it.
// Every step runs Check: balances conserved, reservations exact.
func TestScenarioAmendTotal(t *testing.T) {
	sc := newScenario(t)
	amend := func(kind CommandKind, id uint64, price, qty int64) Outcome {
		return sc.do(Command{Kind: kind, Account: 1, OrderID: id, Order: book.Order{Price: price, Qty: qty}})
	}
	a := sc.place(1, book.Order{Side: book.Sell, Price: 100, Qty: 10})
	sc.place(2, book.Order{Side: book.Buy, Price: 100, Qty: 4}) // fills 4 of a
	if got := sc.s.orders.get(a.ID).filled; got != 4 {
		t.Fatalf("filled %d, want 4", got)
	}
	// Lowering the total from 10 to 8 leaves 4 open, keeping priority.
	if out := amend(CmdAmendTotal, a.ID, 0, 8); out.Err != nil {
		t.Fatal(out.Err)
	}
	if ev := sc.amended(); ev.Qty != 4 || ev.Price != 100 || !ev.KeptPriority {
		t.Fatalf("amend to total 8: %+v", ev)
	}
	sc.wantBal(1, 1, funded-800, 400) // 400 sold, 400 locked
	// A total at or below the filled quantity is refused; nothing changes.
	for _, total := range []int64{4, 3} {
		if out := amend(CmdAmendTotal, a.ID, 0, total); !errors.Is(out.Err, ErrAmendBelowFilled) || len(sc.evs) != 0 {
			t.Fatalf("amend to total %d: %+v %+v", total, out, sc.evs)
		}
	}
	if q, _ := sc.open(a.ID); q != 4 {
		t.Fatalf("open %d after refused amends", q)
	}
	// Raising it loses priority.
	amend(CmdAmendTotal, a.ID, 0, 12)
	if ev := sc.amended(); ev.Qty != 8 || ev.KeptPriority {
		t.Fatalf("amend to total 12: %+v", ev)
	}
	// Price only (quantity 0) keeps the open quantity; quantity only
	// (price 0) keeps the price.
	amend(CmdAmendTotal, a.ID, 101, 0)
	if q, p := sc.open(a.ID); q != 8 || p != 101 {
		t.Fatalf("price-only amend: open %d at %d", q, p)
	}
	amend(CmdAmendTotal, a.ID, 0, 10)
	if q, p := sc.open(a.ID); q != 6 || p != 101 {
		t.Fatalf("quantity-only amend: open %d at %d", q, p)
	}
	// A fill between the caller's read and the amend: the engine's filled
	// quantity counts, not the caller's.
	sc.place(3, book.Order{Side: book.Buy, Price: 101, Qty: 2}) // filled 6
	amend(CmdAmendTotal, a.ID, 0, 9)
	if q, _ := sc.open(a.ID); q != 3 {
		t.Fatalf("amend to total 9 after 6 filled: open %d", q)
	}
	// CmdAmend still sets the open quantity.
	amend(CmdAmend, a.ID, 101, 8)
	if q, _ := sc.open(a.ID); q != 8 {
		t.Fatalf("CmdAmend to 8: open %d", q)
	}
	sc.wantBal(1, 1, funded-1400, 800)

	// A buy: the reservation follows the new open quantity; by client
	// order id too.
	ref := mustRef("b-1")
	b := sc.do(Command{Kind: CmdPlace, Account: 2, Market: 1, Ref: ref, Order: book.Order{Side: book.Buy, Price: 90, Qty: 10}})
	sc.do(Command{Kind: CmdPlace, Account: 3, Market: 1, Order: book.Order{Side: book.Sell, Price: 90, Qty: 3}})
	if out := sc.do(Command{Kind: CmdAmendTotal, Account: 2, Ref: ref, Order: book.Order{Qty: 5}}); out.Err != nil || out.ID != b.ID {
		t.Fatalf("amend by client order id: %+v", out)
	}
	if q, _ := sc.open(b.ID); q != 2 {
		t.Fatalf("buy amended to total 5 after 3 filled: open %d", q)
	}
	if got, want := sc.s.orders.get(b.ID).locked, mustCost(t, sc, 90, 2); got != want {
		t.Fatalf("buy reserves %d, want %d", got, want)
	}
	// Another account's order, an unknown one and a halted market.
	if out := sc.do(Command{Kind: CmdAmendTotal, Account: 1, OrderID: b.ID, Order: book.Order{Qty: 9}}); !errors.Is(out.Err, ErrUnknownOrder) {
		t.Fatalf("amend of another account's order: %v", out.Err)
	}
	sc.do(Command{Kind: CmdHaltMarket, Market: 1})
	if out := amend(CmdAmendTotal, a.ID, 0, 12); !errors.Is(out.Err, ErrMarketHalted) {
		t.Fatalf("amend on a halted market: %v", out.Err)
	}
}

func mustCost(t *testing.T, sc *scenario, price, qty int64) int64 {
	t.Helper()
	c, err := buyCost(sc.s.markets[0], price, qty)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The filled quantity survives a snapshot: a restored state amends by
// total the same way.
func TestAmendTotalAfterSnapshot(t *testing.T) {
	sc := newScenario(t)
	a := sc.place(1, book.Order{Side: book.Sell, Price: 100, Qty: 10})
	sc.place(2, book.Order{Side: book.Buy, Price: 100, Qty: 4})
	restored, err := DecodeState(sc.s.AppendSnapshot(nil))
	if err != nil {
		t.Fatal(err)
	}
	if restored.Hash() != sc.s.Hash() {
		t.Fatal("restored hash differs")
	}
	c := Command{Kind: CmdAmendTotal, Seq: sc.seq + 1, Account: 1, OrderID: a.ID, Order: book.Order{Qty: 5}}
	out1, e1 := sc.s.Apply(&c, nil)
	out2, e2 := restored.Apply(&c, nil)
	if out1 != out2 || len(e1) != 1 || len(e2) != 1 || e1[0] != e2[0] || e1[0].Qty != 1 {
		t.Fatalf("original %+v %+v, restored %+v %+v", out1, e1, out2, e2)
	}
}
