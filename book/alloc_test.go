//go:build !race

package book

import "testing"

// The hot paths must not allocate: resting an order, cancelling it, and a
// match. The book is warmed up first so that slabs, the id index and the
// level tree have reached their working size.
func TestAllocsHotPath(t *testing.T) {
	b, err := New(Rules{}, &Options{Capacity: 1 << 12})
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]Event, 0, 64)
	id := uint64(0)
	// Background liquidity on many levels.
	for i := range 1000 {
		id++
		evs, _ = b.Place(evs[:0], &Order{ID: id, Owner: 1, Side: Sell, Price: int64(1000 + i%200), Qty: 10})
		id++
		evs, _ = b.Place(evs[:0], &Order{ID: id, Owner: 1, Side: Buy, Price: int64(999 - i%200), Qty: 10})
	}
	var o Order
	rest := func() {
		id++
		o = Order{ID: id, Owner: 2, Side: Buy, Price: 900 + int64(id%50), Qty: 5}
		evs, err = b.Place(evs[:0], &o)
	}
	cancel := func() {
		evs, err = b.Cancel(evs[:0], id)
	}
	t.Run("rest", func(t *testing.T) {
		if n := testing.AllocsPerRun(1000, func() { rest(); cancel() }); n != 0 {
			t.Fatalf("rest+cancel: %v allocs", n)
		}
	})
	t.Run("rest-new-level", func(t *testing.T) {
		// A price no other order uses creates and then deletes a level.
		if n := testing.AllocsPerRun(1000, func() {
			id++
			evs, _ = b.Place(evs[:0], &Order{ID: id, Side: Buy, Price: 500, Qty: 1})
			evs, _ = b.Cancel(evs[:0], id)
		}); n != 0 {
			t.Fatalf("new level: %v allocs", n)
		}
	})
	t.Run("match", func(t *testing.T) {
		// A maker rests, a taker fills it completely.
		if n := testing.AllocsPerRun(1000, func() {
			id++
			evs, _ = b.Place(evs[:0], &Order{ID: id, Owner: 3, Side: Sell, Price: 999, Qty: 4})
			id++
			evs, _ = b.Place(evs[:0], &Order{ID: id, Owner: 4, Side: Buy, Price: 999, Qty: 4, TIF: IOC})
		}); n != 0 {
			t.Fatalf("match: %v allocs", n)
		}
	})
	t.Run("sweep", func(t *testing.T) {
		// A market order that takes several levels, then the levels are
		// refilled.
		if n := testing.AllocsPerRun(200, func() {
			id++
			evs, _ = b.Place(evs[:0], &Order{ID: id, Owner: 5, Side: Buy, Type: Market, Qty: 30})
			for p := range int64(3) {
				id++
				evs, _ = b.Place(evs[:0], &Order{ID: id, Owner: 1, Side: Sell, Price: 1000 + p, Qty: 10})
			}
		}); n != 0 {
			t.Fatalf("sweep: %v allocs", n)
		}
	})
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
}
