package book

import (
	"errors"
	"math"
	"testing"
)

// New refuses a capacity it cannot allocate with an error, never a
// panic; Reserve caps what it is asked for.
func TestNewRefusesBadCapacity(t *testing.T) {
	for _, c := range []int{-1, math.MinInt, MaxCapacity + 1, min(math.MaxInt64/2, math.MaxInt), math.MaxInt} {
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Errorf("Capacity %d: panic %v", c, v)
				}
			}()
			b, err := New(Rules{}, &Options{Capacity: c})
			if !errors.Is(err, ErrInvalidOptions) || b != nil {
				t.Errorf("Capacity %d: %v, want ErrInvalidOptions", c, err)
			}
		}()
	}
	for _, c := range []int{0, 1, 5000} {
		b, err := New(Rules{}, &Options{Capacity: c})
		if err != nil || b.Cap() < c {
			t.Fatalf("Capacity %d: %v", c, err)
		}
	}
	if MaxCapacity > math.MaxInt32 {
		t.Fatalf("MaxCapacity %d: orders are indexed by int32", MaxCapacity)
	}
}

// MaxPrice must be on tick: an order at the highest price allowed must be
// placeable.
func TestNewMaxPriceOffTick(t *testing.T) {
	for _, r := range []Rules{{TickSize: 5, MaxPrice: 4}, {TickSize: 2, MaxPrice: 1}} {
		if _, err := New(r, nil); !errors.Is(err, ErrInvalidRules) {
			t.Errorf("New(%+v): %v, want ErrInvalidRules", r, err)
		}
	}
	// A MaxPrice off the tick is rounded down to it: the highest price on
	// the tick is accepted, the next one refused, and the last price too.
	for _, c := range []struct {
		r   Rules
		top int64
	}{
		{Rules{TickSize: 5, MaxPrice: 1001}, 1000}, {Rules{TickSize: 2, MaxPrice: 3}, 2},
		{Rules{TickSize: 5, MaxPrice: 1 << 62}, (1 << 62) / 5 * 5}, {Rules{TickSize: 5, MaxPrice: 1000}, 1000},
		{Rules{MaxPrice: 1001}, 1001}, {Rules{TickSize: 7, MaxPrice: 7}, 7},
	} {
		b, err := New(c.r, nil)
		if err != nil {
			t.Fatalf("New(%+v): %v", c.r, err)
		}
		if _, err := b.Place(nil, &Order{ID: 1, Side: Sell, Price: c.top, Qty: 1}); err != nil {
			t.Errorf("rules %+v: an order at %d: %v", c.r, c.top, err)
		}
		if _, err := b.Place(nil, &Order{ID: 2, Side: Sell, Price: c.top + b.Rules().TickSize, Qty: 1}); err == nil {
			t.Errorf("rules %+v: an order above %d accepted", c.r, c.top)
		}
		if err := b.SetLastPrice(c.r.MaxPrice); (err == nil) != (c.r.MaxPrice == c.top) {
			t.Errorf("rules %+v: SetLastPrice(MaxPrice): %v", c.r, err)
		}
	}
}

// SetLastPrice takes 0 (no trade yet) or a price the book could trade
// at; anything else is refused and triggers no stop.
func TestSetLastPriceRefusesInvalid(t *testing.T) {
	b, err := New(Rules{TickSize: 5, MaxPrice: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int64{-5, -1, math.MinInt64, 1005, math.MaxInt64} {
		if err := b.SetLastPrice(p); !errors.Is(err, ErrInvalidPrice) {
			t.Errorf("SetLastPrice(%d): %v, want ErrInvalidPrice", p, err)
		}
	}
	if err := b.SetLastPrice(7); !errors.Is(err, ErrPriceNotOnTick) {
		t.Errorf("SetLastPrice(7): %v, want ErrPriceNotOnTick", err)
	}
	if b.LastPrice() != 0 {
		t.Fatalf("refused prices set the last price to %d", b.LastPrice())
	}
	// A sell stop at -5 would trigger on a last price of -5.
	evs, err := b.Place(nil, &Order{ID: 1, Owner: 1, Side: Sell, Type: StopMarket, StopPrice: 5, Qty: 1})
	if err != nil || len(evs) != 1 || evs[0].Kind != EvAccepted {
		t.Fatalf("stop: %v %+v", err, evs)
	}
	if err := b.SetLastPrice(-5); err == nil {
		t.Fatal("SetLastPrice(-5) accepted")
	}
	if err := b.SetLastPrice(10); err != nil || b.LastPrice() != 10 {
		t.Fatalf("SetLastPrice(10): %v, last %d", err, b.LastPrice())
	}
	if err := b.SetLastPrice(0); err != nil || b.LastPrice() != 0 {
		t.Fatalf("SetLastPrice(0): %v, last %d", err, b.LastPrice())
	}
	if b.Stops() != 1 {
		t.Fatalf("%d stops pending, want 1", b.Stops())
	}
}

// Every order Restore refuses gives an error wrapping ErrCorrupt, with the
// more precise sentinel where there is one, and changes nothing.
func TestRestoreErrorsAreSentinels(t *testing.T) {
	b, err := New(Rules{TickSize: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Restore(OrderInfo{ID: 1, Side: Buy, Price: 100, Open: 5, Visible: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Restore(OrderInfo{ID: 2, Side: Sell, Price: math.MaxInt64 - 1, Open: math.MaxInt64 - 10, Visible: math.MaxInt64 - 10}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		o    OrderInfo
		also error
	}{
		{OrderInfo{ID: 0, Side: Buy, Price: 100, Open: 1, Visible: 1}, nil},
		{OrderInfo{ID: 3, Side: 2, Price: 100, Open: 1, Visible: 1}, nil},
		{OrderInfo{ID: 1, Side: Buy, Price: 99, Open: 1, Visible: 1}, ErrDuplicateID},
		{OrderInfo{ID: 3, Side: Buy, Price: 99, Open: 0, Visible: 0}, nil},
		{OrderInfo{ID: 3, Side: Buy, Price: 99, Open: 5, Visible: 3}, nil},
		{OrderInfo{ID: 3, Side: Sell, Price: 100, Open: 1, Visible: 1}, nil}, // crosses
		{OrderInfo{ID: 3, Side: Sell, Price: math.MaxInt64 - 1, Open: 20, Visible: 20}, ErrQtyAboveMax},
		{OrderInfo{ID: 3, Side: Buy, Type: Limit, Stop: true, StopPrice: 5, Price: 5, Open: 1}, nil},
		{OrderInfo{ID: 3, Side: Buy, Type: StopLimit, Stop: true, StopPrice: 5, Price: 5, Open: 0}, nil},
		{OrderInfo{ID: 3, Side: Sell, Type: StopLimit, Stop: true, StopPrice: 5, Price: 5, Open: 20}, ErrQtyAboveMax},
	} {
		_, err := b.Restore(tc.o)
		if !errors.Is(err, ErrCorrupt) || (tc.also != nil && !errors.Is(err, tc.also)) {
			t.Errorf("Restore(%+v): %v, want ErrCorrupt (and %v)", tc.o, err, tc.also)
		}
	}
	if b.Len() != 2 || b.Stops() != 0 {
		t.Fatalf("refused orders changed the book: %d resting, %d stops", b.Len(), b.Stops())
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
}
