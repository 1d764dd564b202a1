package book

import "testing"

// TestLevelBeyond: the best non-empty level worse than a price, on each
// side, skipping levels emptied by trades and cancels.
func TestLevelBeyond(t *testing.T) {
	b, err := New(Rules{TickSize: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := uint64(0)
	put := func(side Side, price int64) {
		id++
		if _, err := b.Place(nil, &Order{ID: id, Owner: 1, Side: side, Price: price, Qty: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []int64{101, 103, 105} {
		put(Sell, p)
	}
	for _, p := range []int64{99, 97, 95} {
		put(Buy, p)
	}
	// Empty the ask at 103 and the bid at 97: their levels stay in the tree.
	if _, err := b.Cancel(nil, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Cancel(nil, 5); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		side  Side
		price int64
		want  int64
		ok    bool
	}{
		{Sell, 100, 101, true}, {Sell, 101, 105, true}, {Sell, 102, 105, true}, {Sell, 105, 0, false},
		{Buy, 100, 99, true}, {Buy, 99, 95, true}, {Buy, 98, 95, true}, {Buy, 95, 0, false},
		{Sell, 1<<63 - 1, 0, false}, {Buy, -1 << 63, 0, false}, {Side(2), 100, 0, false},
	} {
		if p, ok := b.LevelBeyond(c.side, c.price); p != c.want || ok != c.ok {
			t.Errorf("LevelBeyond(%v, %d) = %d, %v; want %d, %v", c.side, c.price, p, ok, c.want, c.ok)
		}
	}
}
