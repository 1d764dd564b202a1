package book

import "testing"

// TestTakerBeyond: the first order beyond a price that a taker of an
// owner would trade with under each self-trade prevention mode.
func TestTakerBeyond(t *testing.T) {
	b, err := New(Rules{TickSize: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := uint64(0)
	put := func(owner uint64, side Side, price int64) {
		id++
		if _, err := b.Place(nil, &Order{ID: id, Owner: owner, Side: side, Price: price, Qty: 1}); err != nil {
			t.Fatal(err)
		}
	}
	put(1, Sell, 101) // owner 1 first at 101, then owner 2
	put(2, Sell, 101)
	put(1, Sell, 103)
	put(1, Buy, 99)
	put(1, Buy, 98)
	put(2, Buy, 97)
	for _, c := range []struct {
		side  Side
		price int64
		owner uint64
		stp   STPMode
		want  int64
		ok    bool
	}{
		{Sell, 100, 1, STPNone, 101, true},
		{Sell, 100, 1, STPCancelTaker, 0, false},
		{Sell, 100, 1, STPCancelBoth, 0, false},
		{Sell, 100, 1, STPCancelMaker, 101, true}, // owner 2's, behind owner 1's
		{Sell, 100, 2, STPCancelTaker, 101, true},
		{Sell, 101, 1, STPCancelMaker, 0, false}, // only owner 1's at 103
		{Sell, 101, 1, STPNone, 103, true},
		{Buy, 100, 1, STPCancelMaker, 97, true},
		{Buy, 100, 1, STPCancelTaker, 0, false},
		{Buy, 100, 3, STPCancelBoth, 99, true},
	} {
		if p, ok := b.TakerBeyond(c.side, c.price, c.owner, c.stp); p != c.want || ok != c.ok {
			t.Errorf("TakerBeyond(%v, %d, %d, %v) = %d, %v; want %d, %v", c.side, c.price, c.owner, c.stp, p, ok, c.want, c.ok)
		}
	}
}
