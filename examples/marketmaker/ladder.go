package main

// The ladder: which quotes the maker wants, as a pure function of the
// reference price, its inventory and the others' best prices. No I/O,
// no clock: the same inputs give the same quotes.
//
// Around a centre c, the i-th quote of a side (i from 0) sits off_i
// ticks away:
//
//	off_i = ⌈mid × (spread/2 + i × step) / 10,000⌉, at least 1 and at least off_{i−1} + 1
//	bid_i = c − off_i        ask_i = c + off_i
//	c     = mid − round(mid × skew × inv / (10,000 × maxInv))
//
// with spread, step and skew in basis points and inv clamped to ±maxInv:
// holding base (inv > 0) lowers both sides, to sell it and buy less;
// being short raises them. A bid never reaches the others' best ask and
// an ask never the others' best bid (a post-only order there would be
// refused), so they are pushed back a tick behind it when they would.
//
// Inventory caps each side: the bids together never buy more than
// maxInv − inv and the asks never sell more than maxInv + inv, so no
// fill of the ladder takes the inventory past ±maxInv; a side at its cap
// is not quoted at all.

// side is an order's side.
type side int8

const (
	buy side = iota
	sell
)

func (s side) String() string {
	if s == buy {
		return "buy"
	}
	return "sell"
}

// parseSide reads "buy" or "sell".
func parseSide(s string) (side, bool) {
	switch s {
	case "buy":
		return buy, true
	case "sell":
		return sell, true
	}
	return 0, false
}

// quote is one order the maker wants resting: a price in ticks and a
// quantity (remaining) in lots.
type quote struct {
	side  side
	price int64
	qty   int64
}

// touch is the best bid and ask in ticks of the others' orders (not the
// maker's own); 0 means that side is empty.
type touch struct{ bid, ask int64 }

// ladderSpec is the shape of the ladder, in a market's integers.
type ladderSpec struct {
	levels    int   // quotes per side
	spreadBps int64 // innermost bid to innermost ask, in basis points of mid
	stepBps   int64 // between successive quotes of a side
	skewBps   int64 // shift of both sides at full inventory
	size      int64 // lots per quote
	maxInv    int64 // lots, > 0
	market    *market
}

// mid returns the reference price in ticks: the middle of the others'
// best bid and ask when both exist (rounded down to a tick), else
// fallback (--mid). Never the maker's own last mid: a mid read from a
// stale book would then stick.
func (t touch) mid(fallback int64) int64 {
	if t.bid > 0 && t.ask > t.bid {
		return t.bid + (t.ask-t.bid)/2
	}
	return fallback
}

// quotes returns the ladder around mid (ticks, > 0) for an inventory of
// inv lots (positive: long), given the others' touch: bids best (highest)
// first and asks best (lowest) first. A quote whose price would be below
// one tick or above the market's maximum, or whose notional is below the
// market's minimum, is left out.
func (sp *ladderSpec) quotes(mid, inv int64, t touch) (bids, asks []quote) {
	m := sp.market
	clamped := min(max(inv, -sp.maxInv), sp.maxInv)
	shift, _ := mulDiv(roundNearest, 10_000*sp.maxInv, mid, sp.skewBps, clamped) // |shift| ≤ mid × skew / 10,000
	centre := mid - shift

	offsets := make([]int64, sp.levels)
	for i := range offsets {
		off, ok := mulDiv(roundUp, 20_000, mid, sp.spreadBps+2*int64(i)*sp.stepBps)
		if !ok {
			off = m.maxPrice // far beyond any price: the quote is left out
		}
		lo := int64(1)
		if i > 0 {
			lo = offsets[i-1] + 1
		}
		offsets[i] = max(off, lo)
	}

	room := sp.maxInv - inv // what the bids may buy
	prev := int64(0)
	for i, off := range offsets {
		p := min(centre-off, m.maxPrice)
		if t.ask > 0 {
			p = min(p, t.ask-1)
		}
		if i > 0 {
			p = min(p, prev-1)
		}
		if p < 1 {
			break
		}
		prev = p
		if q := min(sp.size, room); q > 0 && sp.enough(p, q) {
			bids = append(bids, quote{buy, p, q})
			room -= q
		}
	}
	room = sp.maxInv + inv // what the asks may sell
	for i, off := range offsets {
		p := centre + off
		if t.bid > 0 {
			p = max(p, t.bid+1)
		}
		if i > 0 {
			p = max(p, prev+1)
		}
		if p > m.maxPrice {
			break
		}
		prev = p
		if q := min(sp.size, room); q > 0 && sp.enough(p, q) {
			asks = append(asks, quote{sell, p, q})
			room -= q
		}
	}
	return bids, asks
}

// enough reports whether an order of q lots at p ticks meets the
// market's minimum notional and maximum quantity.
func (sp *ladderSpec) enough(p, q int64) bool {
	n, ok := sp.market.notional(p, q)
	return ok && n >= sp.market.minNotional && q <= sp.market.maxQty
}
