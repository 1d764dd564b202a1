package main

import (
	"cmp"
	"slices"
)

// Reconciling: the requests that turn the maker's open orders into the
// quotes it wants. plan is pure; the maker carries the actions out
// (maker.go) and copes with what the server answers.
//
// Orders already at a wanted price stay, their quantity amended down
// (which keeps their time priority) or up (which loses it) when it
// differs. The others are paired, best first, with the wanted quotes left
// and amended to them (PATCH /v1/orders/{id}: one request instead of a
// cancel and a place); the orders left over are cancelled and the quotes
// left over placed. Cancels go first, then the side moving away from the
// other (the bids when the ladder moves down, else the asks), so that an
// order is never moved onto the maker's own opposite quote, which
// post-only would refuse.

// order is one of the maker's open orders, as it last learnt of it.
type order struct {
	id     uint64
	cid    string // client_order_id
	side   side
	price  int64 // ticks
	qty    int64 // lots: the order's total, filled included
	filled int64 // lots
}

// remaining returns the lots still open.
func (o *order) remaining() int64 { return max(o.qty-o.filled, 0) }

// actionKind is what an action does.
type actionKind int8

const (
	actPlace actionKind = iota
	actAmend
	actCancel
)

func (k actionKind) String() string {
	return [...]string{"place", "amend", "cancel"}[k]
}

// action is one request of a plan. For an amend, q is the order's new
// price and remaining quantity (the request carries the new total,
// filled + remaining).
type action struct {
	kind actionKind
	id   uint64 // amend, cancel: the order
	q    quote  // place, amend
}

// plan returns the actions that turn open (the maker's open orders in the
// market, in any order) into bids and asks (best first, as
// ladderSpec.quotes returns them).
func plan(open []*order, bids, asks []quote) []action {
	var byside [2][]*order
	for _, o := range open {
		byside[o.side] = append(byside[o.side], o)
	}
	var acts, cancels []action
	var sides [2][]action
	for s, want := range [2][]quote{bids, asks} {
		have := byside[s]
		better := func(a, b int64) int { // best first
			if side(s) == buy {
				return cmp.Compare(b, a)
			}
			return cmp.Compare(a, b)
		}
		slices.SortFunc(have, func(a, b *order) int { return cmp.Or(better(a.price, b.price), cmp.Compare(a.id, b.id)) })

		// Orders at a wanted price keep it.
		used := make([]bool, len(have))
		var rest []quote
	next:
		for _, q := range want {
			for i, o := range have {
				if !used[i] && o.price == q.price {
					used[i] = true
					if o.remaining() != q.qty {
						sides[s] = append(sides[s], action{kind: actAmend, id: o.id, q: q})
					}
					continue next
				}
			}
			rest = append(rest, q)
		}
		// The others move to the quotes left, best with best.
		for i, o := range have {
			switch {
			case used[i]:
			case len(rest) > 0:
				sides[s] = append(sides[s], action{kind: actAmend, id: o.id, q: rest[0]})
				rest = rest[1:]
			default:
				cancels = append(cancels, action{kind: actCancel, id: o.id})
			}
		}
		for _, q := range rest {
			sides[s] = append(sides[s], action{kind: actPlace, q: q})
		}
	}
	acts = append(acts, cancels...)
	first, second := sides[sell], sides[buy]
	if len(bids) > 0 && len(byside[buy]) > 0 && bids[0].price < byside[buy][0].price {
		first, second = second, first // moving down: the bids first
	}
	return append(append(acts, first...), second...)
}
