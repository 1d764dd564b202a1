package book

import (
	"math"
	"math/bits"
)

// Place validates and executes a new order, appending its events (and
// those of any stops it triggers) to dst. It returns the extended slice and,
// if the order was rejected, the sentinel error of the reason; a rejected
// order changes nothing. The book does not retain o.
func (b *Book) Place(dst []Event, o *Order) ([]Event, error) {
	if r := b.validate(o); r != ReasonNone {
		return append(dst, Event{Kind: EvRejected, Side: o.Side, Reason: r, OrderID: o.ID, Owner: o.Owner}), r.Err()
	}
	b.seq++
	rem := o.Qty
	if rem == 0 {
		rem = o.QuoteBudget
	}
	at := len(dst)
	dst, ev := addEvent(dst)
	ev.Kind, ev.Side, ev.OrderID, ev.Owner = EvAccepted, o.Side, o.ID, o.Owner
	ev.Price, ev.Qty, ev.Remaining = o.Price, o.Qty, rem
	if o.Type == StopMarket || o.Type == StopLimit {
		ev.Handle = handleOf(b.putStop(o))
	} else {
		var t taker
		t.init(o)
		dst = b.execute(dst, &t, at)
	}
	return b.releaseStops(dst), nil
}

// validate returns the first rule o breaks, in the order documented in the
// package doc, or ReasonNone.
func (b *Book) validate(o *Order) Reason {
	r := &b.rules
	switch {
	case o.ID == 0:
		return ReasonInvalidID
	case o.Side > Sell:
		return ReasonInvalidSide
	case o.Type > StopLimit:
		return ReasonInvalidType
	case o.TIF > FOK:
		return ReasonInvalidTIF
	case o.STP > STPCancelBoth:
		return ReasonInvalidSTP
	}
	if _, live := b.index.get(o.ID); live {
		return ReasonDuplicateID
	}
	if o.PostOnly && (o.Type != Limit || o.TIF != GTC) {
		return ReasonPostOnlyInvalid
	}
	priced := o.Type == Limit || o.Type == StopLimit
	if o.Type == StopMarket || o.Type == StopLimit {
		if o.StopPrice <= 0 || o.StopPrice > r.MaxPrice || o.StopPrice%r.TickSize != 0 {
			return ReasonInvalidStop
		}
	} else if o.StopPrice != 0 {
		return ReasonInvalidStop
	}
	if (priced && o.Price <= 0) || o.Price < 0 || o.Price > r.MaxPrice {
		return ReasonInvalidPrice
	}
	if o.Price%r.TickSize != 0 {
		return ReasonPriceNotOnTick
	}
	if o.QuoteBudget != 0 {
		if priced || o.Side != Buy || o.QuoteBudget < 0 || (o.Qty == 0 && o.TIF == FOK) {
			return ReasonInvalidBudget
		}
		// Only a budget that sizes the order alone must reach
		// MinNotional: with a Qty it is an order by quantity (as market
		// orders are, which MinNotional does not bind) capped by it.
		if o.Qty == 0 && o.QuoteBudget < r.MinNotional {
			return ReasonBelowMinNotional
		}
	}
	if o.QuoteBudget == 0 || o.Qty != 0 {
		if rs := b.checkQty(o.Qty); rs != ReasonNone {
			return rs
		}
		if o.Qty > b.room(o.Side) && priced && o.TIF == GTC {
			return ReasonQtyAboveMax
		}
	}
	if o.DisplayQty != 0 && (!priced || o.TIF != GTC || o.DisplayQty < 0 ||
		o.DisplayQty%r.LotSize != 0 || o.DisplayQty > o.Qty || icebergTooLong(o.Qty, o.DisplayQty)) {
		return ReasonInvalidDisplay
	}
	if priced {
		if rs := b.checkNotional(o.Price, o.Qty); rs != ReasonNone {
			return rs
		}
	}
	if o.PostOnly && b.crosses(o.Side, o.Price) {
		return ReasonWouldCross
	}
	return ReasonNone
}

// checkPrice validates a limit price.
func (b *Book) checkPrice(price int64) Reason {
	if price <= 0 || price > b.rules.MaxPrice {
		return ReasonInvalidPrice
	}
	if price%b.rules.TickSize != 0 {
		return ReasonPriceNotOnTick
	}
	return ReasonNone
}

// checkQty validates an order quantity.
func (b *Book) checkQty(qty int64) Reason {
	r := &b.rules
	switch {
	case qty <= 0:
		return ReasonInvalidQty
	case qty%r.LotSize != 0:
		return ReasonQtyNotOnLot
	case qty < r.MinQty:
		return ReasonQtyBelowMin
	case qty > r.MaxQty:
		return ReasonQtyAboveMax
	}
	return ReasonNone
}

// checkNotional validates price × qty of a priced order: it must fit in an
// int64 and reach MinNotional.
func (b *Book) checkNotional(price, qty int64) Reason {
	hi, lo := bits.Mul64(uint64(price), uint64(qty))
	if hi != 0 || lo > math.MaxInt64 {
		return ReasonNotionalOverflow
	}
	if int64(lo) < b.rules.MinNotional {
		return ReasonBelowMinNotional
	}
	return ReasonNone
}

// crosses reports whether an order on side at price would trade on arrival.
func (b *Book) crosses(side Side, price int64) bool {
	li := b.sides[side.Opposite()].best
	if li == nilIdx {
		return false
	}
	p := b.levels[li].price
	if side == Buy {
		return p <= price
	}
	return p >= price
}

// taker is an order while it matches.
type taker struct {
	id       uint64
	owner    uint64
	price    int64 // limit, or protection price of a market order (0: none)
	qty      int64 // left to fill (unused by a pure budget order)
	budget   int64 // quote left to spend by a market buy with a budget
	byBudget bool  // the order has a quote budget
	byQty    bool  // the order has a quantity (false only for a pure budget order)
	display  int64
	side     Side
	market   bool
	tif      TimeInForce
	stp      STPMode
	postOnly bool
}

// init makes t the taker of order o, setting every field in place: a
// taker returned by value or built as a composite literal is copied from
// a temporary with loads wider than the stores that built it, which
// cannot be forwarded and wait for every earlier store (see addEvent).
func (t *taker) init(o *Order) {
	t.id, t.owner, t.price, t.qty, t.budget = o.ID, o.Owner, o.Price, o.Qty, o.QuoteBudget
	t.byBudget, t.byQty = o.QuoteBudget != 0, o.Qty != 0
	t.display, t.side, t.market = o.DisplayQty, o.Side, o.Type == Market || o.Type == StopMarket
	t.tif, t.stp, t.postOnly = o.TIF, o.STP, o.PostOnly
}

// accepts reports whether t may trade at price p.
func (t *taker) accepts(p int64) bool {
	if t.price == 0 {
		return true
	}
	if t.side == Buy {
		return p <= t.price
	}
	return p >= t.price
}

// left is what the taker has left: its quantity, or for a pure budget
// order its budget.
func (t *taker) left() int64 {
	if !t.byQty {
		return t.budget
	}
	return t.qty
}

// want is how much t would take from an order at price: its quantity,
// capped by the whole lots its budget affords.
func (t *taker) want(price, lot int64) int64 {
	if !t.byBudget {
		return t.qty
	}
	w := t.budget / price / lot * lot
	if t.byQty && t.qty < w {
		w = t.qty
	}
	return w
}

// end appends the EvCancelled or EvExpired event that removes the rest of t.
func (t *taker) end(dst []Event, kind EventKind, r Reason) []Event {
	dst, ev := addEvent(dst)
	ev.Kind, ev.Side, ev.Reason, ev.OrderID, ev.Owner = kind, t.side, r, t.id, t.owner
	ev.Price, ev.Qty, ev.Remaining = t.price, t.qty, t.budget
	return dst
}

// execute matches t and then rests or expires what is left of it. If it
// rests, its Handle goes into dst[at], the event that announced it.
func (b *Book) execute(dst []Event, t *taker, at int) []Event {
	if t.tif == FOK && !b.fillable(t) {
		return t.end(dst, EvExpired, ReasonFOK)
	}
	dst, stopped := b.match(dst, t)
	switch {
	case stopped || t.left() == 0:
	case t.market || t.tif != GTC:
		dst = t.end(dst, EvExpired, ReasonUnfilled)
	default:
		dst[at].Handle = handleOf(b.rest(t))
	}
	return dst
}

// rest puts what is left of a GTC limit taker into the book and returns
// its node.
func (b *Book) rest(t *taker) int32 {
	if b.nodesFull() {
		b.growNodes()
	}
	ni := b.allocNode()
	n := b.node(ni)
	// Field by field, not a composite literal (see taker.init).
	*n = node{}
	n.id, n.owner, n.price, n.open, n.visible = t.id, t.owner, t.price, t.qty, t.qty
	n.display, n.side, n.stp, n.postOnly = t.display, t.side, t.stp, t.postOnly
	if t.display != 0 && t.display < t.qty {
		n.visible = t.display
	}
	b.pushBack(b.levelFor(t.side, t.price), ni, n)
	if !b.noIndex {
		b.index.put(t.id, ni)
	}
	b.resting++
	return ni
}

// releaseStops releases triggered stops, one at a time, until none is
// triggered by the last trade price.
func (b *Book) releaseStops(dst []Event) []Event {
	for {
		v, ok := b.stops.triggered(b.last)
		if !ok {
			return dst
		}
		o := b.takeStop(v)
		at := len(dst)
		var ev *Event
		dst, ev = addEvent(dst)
		ev.Kind, ev.Side, ev.OrderID, ev.Owner = EvTriggered, o.Side, o.ID, o.Owner
		ev.Price, ev.Qty, ev.Remaining = b.last, o.Qty, o.QuoteBudget
		var t taker
		t.init(&o)
		dst = b.execute(dst, &t, at)
	}
}
