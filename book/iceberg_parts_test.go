package book

import (
	"errors"
	"math"
	"testing"
)

// An iceberg has at most MaxIcebergParts slices: a taker that sweeps one
// makes at most that many trades, whatever its size. Before the bound, a
// sell of 10,000,000 lots showing one lot at a time made a buy of as
// many produce 10,000,001 events (3.7 s in the book alone).
func TestIcebergParts(t *testing.T) {
	b, err := New(Rules{TickSize: 1, LotSize: 2, MaxPrice: 1 << 20, MaxQty: 1 << 40}, nil)
	if err != nil {
		t.Fatal(err)
	}
	refused := []Order{
		{ID: 1, Owner: 1, Side: Sell, Price: 100, Qty: 10_000_000, DisplayQty: 2},
		{ID: 1, Owner: 1, Side: Sell, Price: 100, Qty: 2*MaxIcebergParts + 2, DisplayQty: 2},
		{ID: 1, Owner: 1, Side: Sell, Type: StopLimit, StopPrice: 90, Price: 90, Qty: 2*MaxIcebergParts + 2, DisplayQty: 2},
		{ID: 1, Owner: 1, Side: Buy, Price: 1, Qty: 1 << 39, DisplayQty: 2},
	}
	for _, o := range refused {
		if _, err := b.Place(nil, &o); !errors.Is(err, ErrInvalidDisplay) {
			t.Fatalf("%+v: %v, want ErrInvalidDisplay", o, err)
		}
	}
	if b.Len() != 0 || b.Stops() != 0 {
		t.Fatal("a refused order changed the book")
	}
	// Exactly MaxIcebergParts slices; and a last slice smaller than the
	// others.
	if _, err := b.Place(nil, &Order{ID: 1, Owner: 1, Side: Sell, Price: 100, Qty: 2 * MaxIcebergParts, DisplayQty: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Place(nil, &Order{ID: 2, Owner: 1, Side: Sell, Price: 101, Qty: 4*MaxIcebergParts - 2, DisplayQty: 4}); err != nil {
		t.Fatal(err)
	}
	// An amend may lower an iceberg's quantity, not raise it past the
	// bound; a refused amend changes nothing.
	if _, err := b.Amend(nil, 1, 100, 2*MaxIcebergParts+2); !errors.Is(err, ErrInvalidDisplay) {
		t.Fatalf("amend past the parts: %v", err)
	}
	if o, _ := b.Order(1); o.Open != 2*MaxIcebergParts || o.Visible != 2 {
		t.Fatalf("after a refused amend: %+v", o)
	}
	if _, err := b.Amend(nil, 2, 101, 4*MaxIcebergParts); err != nil {
		t.Fatalf("amend to the bound: %v", err)
	}
	if _, err := b.Amend(nil, 2, 101, 8); err != nil {
		t.Fatalf("amend down: %v", err)
	}
	// A buy of everything: one trade per slice, MaxIcebergParts of them
	// for the first iceberg.
	evs, err := b.Place(nil, &Order{ID: 3, Owner: 2, Side: Buy, Price: 101, Qty: 2*MaxIcebergParts + 8})
	if err != nil {
		t.Fatal(err)
	}
	trades := 0
	for _, ev := range evs {
		if ev.Kind == EvTrade {
			trades++
		}
	}
	if trades != MaxIcebergParts+2 || b.Len() != 0 {
		t.Fatalf("%d trades, %d orders left: want %d and none", trades, b.Len(), MaxIcebergParts+2)
	}
}

func TestIcebergTooLong(t *testing.T) {
	for _, c := range []struct {
		qty, display int64
		want         bool
	}{
		{1, 1, false}, {100, 1, false}, {101, 1, true}, {200, 2, false}, {201, 2, true},
		{math.MaxInt64, 1, true}, {math.MaxInt64, math.MaxInt64 / 100, true}, {math.MaxInt64, math.MaxInt64/100 + 1, false},
		{math.MaxInt64, math.MaxInt64, false},
	} {
		if got := icebergTooLong(c.qty, c.display); got != c.want || got != refTooManyParts(c.qty, c.display) {
			t.Errorf("qty %d display %d: %v (reference %v), want %v", c.qty, c.display, got, refTooManyParts(c.qty, c.display), c.want)
		}
	}
}
