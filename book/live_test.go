package book

import "testing"

// Live agrees with Order: resting orders and pending stops are live;
// filled, cancelled and unknown ones are not.
func TestLive(t *testing.T) {
	b, err := New(Rules{TickSize: 1, LotSize: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	for _, o := range []Order{
		{ID: 1, Owner: 1, Side: Sell, Price: 101, Qty: 5},
		{ID: 2, Owner: 2, Side: Buy, Price: 101, Qty: 5}, // fills 1 entirely
		{ID: 3, Owner: 1, Side: Sell, Price: 102, Qty: 5},
		{ID: 4, Owner: 2, Side: Buy, Type: StopLimit, StopPrice: 105, Price: 106, Qty: 1},
		{ID: 5, Owner: 2, Side: Buy, Price: 90, Qty: 1},
	} {
		if evs, err = b.Place(evs[:0], &o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err = b.Cancel(evs[:0], 5); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[uint64]bool{1: false, 2: false, 3: true, 4: true, 5: false, 6: false, 0: false} {
		_, inOrder := b.Order(id)
		if got := b.Live(id); got != want || inOrder != want {
			t.Errorf("order %d: Live %v, Order %v, want %v", id, got, inOrder, want)
		}
	}
}
