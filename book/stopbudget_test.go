package book

import (
	"errors"
	"testing"
)

// TestSetStopBudget: a pending stop buy by budget takes a new budget and
// keeps its place among the stops; released, it spends the new budget.
// Everything else is refused and changes nothing.
func TestSetStopBudget(t *testing.T) {
	b, err := New(Rules{TickSize: 1, LotSize: 1, MinNotional: 100, MaxPrice: 1 << 20, MaxQty: 1 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	place := func(o Order) {
		t.Helper()
		if evs, err = b.Place(evs[:0], &o); err != nil {
			t.Fatalf("place %+v: %v", o, err)
		}
	}
	place(Order{ID: 1, Owner: 1, Side: Sell, Price: 100, Qty: 1})
	place(Order{ID: 2, Owner: 1, Side: Sell, Price: 110, Qty: 10})
	place(Order{ID: 3, Owner: 2, Side: Buy, Type: StopMarket, StopPrice: 100, QuoteBudget: 250})
	place(Order{ID: 4, Owner: 3, Side: Buy, Type: StopMarket, StopPrice: 100, QuoteBudget: 120})
	place(Order{ID: 5, Owner: 3, Side: Buy, Type: StopLimit, StopPrice: 100, Price: 90, Qty: 2})
	place(Order{ID: 6, Owner: 3, Side: Buy, Type: StopMarket, StopPrice: 100, Qty: 2, QuoteBudget: 300, Price: 120})
	place(Order{ID: 7, Owner: 3, Side: Buy, Price: 50, Qty: 3})

	before := func() []OrderInfo {
		var all []OrderInfo
		for o := range b.All() {
			all = append(all, o)
		}
		return all
	}
	was := before()
	for _, c := range []struct {
		id     uint64
		budget int64
		want   error
	}{
		{99, 500, ErrUnknownOrder},
		{1, 500, ErrInvalidBudget}, // resting
		{7, 500, ErrInvalidBudget}, // resting buy
		{5, 500, ErrInvalidBudget}, // a stop without a budget
		{3, 0, ErrInvalidBudget},
		{3, -5, ErrInvalidBudget},
		{3, 99, ErrBelowMinNotional}, // sized by its budget alone
	} {
		if err := b.SetStopBudget(c.id, c.budget); !errors.Is(err, c.want) {
			t.Errorf("SetStopBudget(%d, %d): %v, want %v", c.id, c.budget, err, c.want)
		}
	}
	now := before()
	if len(now) != len(was) {
		t.Fatalf("refusals changed the book: %d orders, %d before", len(now), len(was))
	}
	for i := range now {
		if now[i] != was[i] {
			t.Fatalf("refusals changed order %d: %+v, was %+v", now[i].ID, now[i], was[i])
		}
	}

	// With a quantity, the budget only caps it: MinNotional does not bind.
	if err := b.SetStopBudget(6, 50); err != nil {
		t.Fatal(err)
	}
	if err := b.SetStopBudget(3, 230); err != nil {
		t.Fatal(err)
	}
	if o, _ := b.Order(3); o.QuoteBudget != 230 || !o.Stop || o.StopPrice != 100 || o.Owner != 2 {
		t.Fatalf("order 3: %+v", o)
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	// Released in arrival order, 3 before 4: 3 buys two lots at 110
	// (220 of its 230), 4 one (110 of 120), 6 none (50 < 110).
	place(Order{ID: 8, Owner: 4, Side: Buy, Price: 100, Qty: 1})
	var trades []Event
	for _, e := range evs {
		if e.Kind == EvTrade {
			trades = append(trades, e)
		}
	}
	if len(trades) != 3 || trades[1].OrderID != 3 || trades[1].Qty != 2 || trades[1].Remaining != 10 ||
		trades[2].OrderID != 4 || trades[2].Qty != 1 || trades[2].Remaining != 10 {
		t.Fatalf("trades after the stops were released: %+v", trades)
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	if b.Live(3) || b.Live(4) || b.Live(6) {
		t.Fatal("released stop-markets still live")
	}
}
