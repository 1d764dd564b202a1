package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// planString shows actions as "cancel 3; amend 1 → 99.8×2; place sell 100.2×1".
func planString(acts []action) string {
	var parts []string
	for _, a := range acts {
		switch a.kind {
		case actCancel:
			parts = append(parts, fmt.Sprintf("cancel %d", a.id))
		case actAmend:
			parts = append(parts, fmt.Sprintf("amend %d → %d×%d", a.id, a.q.price, a.q.qty))
		case actPlace:
			parts = append(parts, fmt.Sprintf("place %s %d×%d", a.q.side, a.q.price, a.q.qty))
		}
	}
	return strings.Join(parts, "; ")
}

func TestPlan(t *testing.T) {
	b := func(p, q int64) quote { return quote{buy, p, q} }
	s := func(p, q int64) quote { return quote{sell, p, q} }
	o := func(id uint64, sd side, p, q, filled int64) *order {
		return &order{id: id, side: sd, price: p, qty: q, filled: filled}
	}
	for _, tc := range []struct {
		name       string
		open       []*order
		bids, asks []quote
		want       string
	}{
		{name: "nothing open: place all, asks first",
			bids: []quote{b(99, 1), b(98, 1)}, asks: []quote{s(101, 1)},
			want: "place sell 101×1; place buy 99×1; place buy 98×1"},
		{name: "all in place: nothing",
			open: []*order{o(1, buy, 99, 1, 0), o(2, sell, 101, 1, 0)},
			bids: []quote{b(99, 1)}, asks: []quote{s(101, 1)},
			want: ""},
		{name: "the top ask filled: one new ask, the others stay",
			open: []*order{o(1, buy, 99, 1, 0), o(3, sell, 102, 1, 0)},
			bids: []quote{b(99, 1)}, asks: []quote{s(101, 1), s(102, 1)},
			want: "place sell 101×1"},
		{name: "partly filled at a wanted price: topped up by an amend",
			open: []*order{o(1, buy, 99, 4, 3)},
			bids: []quote{b(99, 4)},
			want: "amend 1 → 99×4"},
		{name: "quantity down at the same price (keeps priority)",
			open: []*order{o(1, buy, 99, 4, 0)},
			bids: []quote{b(99, 2)},
			want: "amend 1 → 99×2"},
		{name: "the ladder moves down: bids first, best with best",
			open: []*order{o(1, buy, 99, 1, 0), o(2, buy, 98, 1, 0), o(3, sell, 101, 1, 0), o(4, sell, 102, 1, 0)},
			bids: []quote{b(97, 1), b(96, 1)}, asks: []quote{s(99, 1), s(100, 1)},
			want: "amend 1 → 97×1; amend 2 → 96×1; amend 3 → 99×1; amend 4 → 100×1"},
		{name: "the ladder moves up: asks first",
			open: []*order{o(1, buy, 99, 1, 0), o(3, sell, 101, 1, 0)},
			bids: []quote{b(101, 1)}, asks: []quote{s(103, 1)},
			want: "amend 3 → 103×1; amend 1 → 101×1"},
		{name: "a side no longer wanted: cancels first",
			open: []*order{o(1, buy, 99, 1, 0), o(2, buy, 98, 1, 0), o(3, sell, 101, 1, 0)},
			asks: []quote{s(100, 1), s(101, 1)},
			want: "cancel 1; cancel 2; place sell 100×1"},
		{name: "fewer levels: the worst go",
			open: []*order{o(2, sell, 102, 1, 0), o(1, sell, 101, 1, 0), o(3, sell, 103, 1, 0)},
			asks: []quote{s(101, 1)},
			want: "cancel 2; cancel 3"},
		{name: "one level kept, the others move",
			open: []*order{o(1, buy, 99, 1, 0), o(2, buy, 97, 1, 0), o(3, buy, 95, 1, 0)},
			bids: []quote{b(98, 1), b(97, 1), b(96, 1)},
			want: "amend 1 → 98×1; amend 3 → 96×1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := planString(plan(tc.open, tc.bids, tc.asks)); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// Carrying out a plan yields the wanted quotes, whatever was open, and
// never moves an order onto the maker's own opposite side.
func TestPlanReachesTheLadder(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 0))
	for i := range 5000 {
		mid := int64(1000 + r.IntN(100))
		book := map[uint64]*order{}
		for id := uint64(1); id <= uint64(r.IntN(8)); id++ {
			sd := side(r.IntN(2))
			p := mid - 1 - int64(r.IntN(20)) // an uncrossed book: bids below mid, asks above
			if sd == sell {
				p = mid + 1 + int64(r.IntN(20))
			}
			qty := int64(1 + r.IntN(5))
			book[id] = &order{id: id, side: sd, price: p, qty: qty, filled: int64(r.IntN(int(qty)))}
		}
		newMid := mid + int64(r.IntN(41)) - 20
		var bids, asks []quote
		for j := range r.IntN(5) {
			bids = append(bids, quote{buy, newMid - 1 - int64(j)*int64(1+r.IntN(3)), int64(1 + r.IntN(5))})
		}
		for j := range r.IntN(5) {
			asks = append(asks, quote{sell, newMid + 1 + int64(j)*int64(1+r.IntN(3)), int64(1 + r.IntN(5))})
		}
		// Keep the wanted prices best first and distinct, as quotes has them.
		slices.SortFunc(bids, func(a, b quote) int { return int(b.price - a.price) })
		slices.SortFunc(asks, func(a, b quote) int { return int(a.price - b.price) })
		bids = slices.CompactFunc(bids, func(a, b quote) bool { return a.price == b.price })
		asks = slices.CompactFunc(asks, func(a, b quote) bool { return a.price == b.price })

		open := make([]*order, 0, len(book))
		for _, o := range book {
			open = append(open, o)
		}
		acts := plan(open, bids, asks)
		next := uint64(100)
		for _, a := range acts {
			switch a.kind {
			case actCancel:
				delete(book, a.id)
			case actAmend:
				o := book[a.id]
				o.price, o.qty = a.q.price, o.filled+a.q.qty
			case actPlace:
				next++
				book[next] = &order{id: next, side: a.q.side, price: a.q.price, qty: a.q.qty}
			}
			if a.kind == actCancel {
				continue
			}
			for _, o := range book { // post-only: the new price must not cross an own order
				if o.side != a.q.side && ((a.q.side == buy && o.price <= a.q.price) || (a.q.side == sell && o.price >= a.q.price)) {
					t.Fatalf("case %d: %s %s %d crosses own order %d at %d\nplan %s", i, a.kind, a.q.side, a.q.price, o.id, o.price, planString(acts))
				}
			}
		}
		var gotB, gotA []quote
		for _, o := range book {
			q := quote{o.side, o.price, o.remaining()}
			if o.side == buy {
				gotB = append(gotB, q)
			} else {
				gotA = append(gotA, q)
			}
		}
		slices.SortFunc(gotB, func(a, b quote) int { return int(b.price - a.price) })
		slices.SortFunc(gotA, func(a, b quote) int { return int(a.price - b.price) })
		if !slices.Equal(gotB, bids) || !slices.Equal(gotA, asks) {
			t.Fatalf("case %d: got %v %v, want %v %v\nplan %s", i, gotB, gotA, bids, asks, planString(acts))
		}
	}
}
