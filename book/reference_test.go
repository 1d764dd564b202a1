package book

// This file holds refBook, a deliberately naive reference order book written
// from the package documentation (doc.go, events.go, types.go) alone, without
// looking at the real implementation. It keeps every live order in plain
// slices and finds everything by linear scans, so that it is easy to check by
// eye. The differential and fuzz tests run it side by side with Book.
//
// Interpretations of points that the documentation leaves open:
//
//   - EvRejected carries only Kind, Reason, OrderID, Owner and Side. For Place
//     all three are echoed from the Order as given (even an out-of-range
//     Side). For Cancel and Amend of an unknown id only OrderID is set; for a
//     rejected Amend of a live order (pending stop, bad price or quantity,
//     post-only cross) Owner and Side are those of the live order.
//   - Cancel(0) and Amend(0, ...) are rejected with unknown_order (the only
//     rejection documented for them), not invalid_id.
//   - "DisplayQty (only GTC Limit or StopLimit ...)" is read as
//     "only for a GTC order of type Limit or StopLimit".
//   - No TIF is disallowed by any type (Market takes GTC, IOC and FOK, and
//     every other type takes all three), so invalid_time_in_force only means
//     "out of range".
//   - Price is checked as "> 0 and <= MaxPrice" (invalid_price) before
//     "on tick" (price_not_on_tick). The stop price and the display quantity
//     have one reason each, so their sub-check order does not matter.
//   - A quote budget is checked whenever QuoteBudget != 0: not on a Market
//     or StopMarket Buy, not positive, or FOK with Qty 0 is
//     invalid_quote_budget, then, for a pure budget buy (Qty 0) only,
//     below MinNotional is below_min_notional.
//     "Qty is set" means Qty != 0. The quantity is then checked unless
//     QuoteBudget != 0 and Qty == 0 (a "pure budget buy"); so a market buy
//     with neither is invalid_quantity, and so is a budget buy with a
//     negative Qty (IOC, GTC or FOK).
//   - EvAccepted.Remaining is the budget only for a pure budget buy, and
//     its Qty for an order with both (as events.go now says), while
//     EvTriggered.Remaining is the budget whenever there is one.
//   - A market buy with both Qty and a budget that runs out of budget (or
//     of acceptable liquidity) with quantity left expires as any market
//     order: Qty the open quantity, Remaining the unspent budget. If its
//     quantity is filled, nothing expires even if budget is left.
//   - The FOK cost check of a budget order sums take × price over the
//     quantity it would take, level by level in matching order (the same
//     orders the quantity check counts), in exact arithmetic; the order is
//     killed if that sum exceeds the budget.
//   - A side's room is counted in exact arithmetic from the resting orders
//     (open quantity) and pending stops (Qty of GTC StopLimits); Place
//     checks a GTC Limit or StopLimit order's whole Qty against it, before
//     any trade, right after quantity_above_max for MaxQty.
//   - Amend validates the new price like a Limit price (invalid_price,
//     price_not_on_tick), then the new quantity like an order quantity
//     (invalid_quantity, quantity_not_on_lot, quantity_below_min,
//     quantity_above_max, then its increase over the open quantity
//     against the side's room, quantity_above_max), then price × quantity
//     (notional_overflow, below_min_notional), then, only when priority is
//     lost, post-only cross.
//     DisplayQty is not re-validated: an amended iceberg shows
//     min(visible, qty) when it keeps priority and min(DisplayQty, qty) when
//     it does not.
//   - EvAmended has Price and Qty (the new open quantity) and KeptPriority;
//     Remaining is 0. Trades that follow a priority-losing Amend are those of
//     the order as a GTC Limit taker (its own Owner and STP mode).
//   - Price on EvCancelled and EvExpired is the order's price (limit price,
//     or protection price, 0 if none); on EvTriggered it is the last trade
//     price; on EvTrade the maker's price.
//   - A market buy with a budget checks, before each trade, first that the
//     protection price allows the level, then that its remaining budget
//     affords at least one lot at that price (if not it stops), and only then
//     self-trade prevention. So an order whose budget is spent never emits a
//     self-trade cancel.
//   - FOK with cancel_taker / cancel_both is killed by a level that holds one
//     of the owner's orders anywhere in it, if that level is reached while the
//     quantity is not yet covered (including the level that would cover it).
//   - A released stop joins the book (if it rests) with the arrival time of
//     its release, not of its placement. A stop's arrival for release order
//     is its placement.
//   - An iceberg's refreshed slice, and any order that loses priority by
//     Amend, gets a new arrival time (back of its level).

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"
	"strings"
	"testing"
)

// refOrder is one live order of refBook: a resting order (in refBook.orders)
// or a pending stop (in refBook.stops), or the taker being executed.
type refOrder struct {
	id, owner uint64
	side      Side
	typ       OrderType
	tif       TimeInForce
	stp       STPMode
	postOnly  bool
	price     int64 // limit price, or protection price (0: none)
	stopPrice int64
	qty       int64 // quantity as placed
	budget    int64 // quote budget still unspent (0: none)
	hasBudget bool  // placed with a quote budget
	pure      bool  // a pure budget buy: a budget and Qty 0
	display   int64
	open      int64 // quantity still to fill: visible + hidden
	visible   int64
	seq       uint64 // arrival: when it joined its level (or the stop list)
}

// refBook is the naive reference book. orders holds the resting orders of
// both sides in no particular order; stops the pending stops.
type refBook struct {
	rules  Rules
	orders []*refOrder
	stops  []*refOrder
	last   int64
	seq    uint64
}

// newRefBook returns an empty reference book.
func newRefBook(rules Rules) *refBook {
	return &refBook{rules: rules.withDefaults()}
}

// nextSeq returns the next arrival number.
func (r *refBook) nextSeq() uint64 {
	r.seq++
	return r.seq
}

// resting returns the resting order with id, or nil.
func (r *refBook) resting(id uint64) *refOrder {
	for _, o := range r.orders {
		if o.id == id {
			return o
		}
	}
	return nil
}

// stop returns the pending stop with id, or nil.
func (r *refBook) stop(id uint64) *refOrder {
	for _, o := range r.stops {
		if o.id == id {
			return o
		}
	}
	return nil
}

// remove takes resting order o out of the book.
func (r *refBook) remove(o *refOrder) {
	i := slices.Index(r.orders, o)
	r.orders = slices.Delete(r.orders, i, i+1)
}

// better reports whether resting order a comes before b in matching order
// (both on the same side): better price, then earlier arrival.
func better(a, b *refOrder) bool {
	if a.price != b.price {
		if a.side == Buy {
			return a.price > b.price
		}
		return a.price < b.price
	}
	return a.seq < b.seq
}

// best returns the first resting order of side in matching order, or nil.
func (r *refBook) best(side Side) *refOrder {
	var b *refOrder
	for _, o := range r.orders {
		if o.side == side && (b == nil || better(o, b)) {
			b = o
		}
	}
	return b
}

// sorted returns the resting orders of side in matching order.
func (r *refBook) sorted(side Side) []*refOrder {
	var s []*refOrder
	for _, o := range r.orders {
		if o.side == side {
			s = append(s, o)
		}
	}
	slices.SortFunc(s, func(a, b *refOrder) int {
		if better(a, b) {
			return -1
		}
		return 1
	})
	return s
}

// wouldCross reports whether a side order at price meets the best opposite.
func (r *refBook) wouldCross(side Side, price int64) bool {
	m := r.best(side.Opposite())
	if m == nil {
		return false
	}
	if side == Buy {
		return m.price <= price
	}
	return m.price >= price
}

// onMultiple reports whether v is a multiple of m.
func onMultiple(v, m int64) bool { return v%m == 0 }

// notional returns p*q and whether it fits in an int64 (p, q > 0).
func notional(p, q int64) (int64, bool) {
	hi, lo := bits.Mul64(uint64(p), uint64(q))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

// validate returns the first failing check of Place, in doc.go's order.
func (r *refBook) validate(o *Order) Reason {
	ru := r.rules
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
	case r.resting(o.ID) != nil || r.stop(o.ID) != nil:
		return ReasonDuplicateID
	case o.PostOnly && !(o.Type == Limit && o.TIF == GTC):
		return ReasonPostOnlyInvalid
	}
	isStop := o.Type == StopMarket || o.Type == StopLimit
	if isStop {
		if o.StopPrice <= 0 || !onMultiple(o.StopPrice, ru.TickSize) || o.StopPrice > ru.MaxPrice {
			return ReasonInvalidStop
		}
	} else if o.StopPrice != 0 {
		return ReasonInvalidStop
	}
	priced := o.Type == Limit || o.Type == StopLimit
	if priced || o.Price != 0 {
		if o.Price <= 0 || o.Price > ru.MaxPrice {
			return ReasonInvalidPrice
		}
		if !onMultiple(o.Price, ru.TickSize) {
			return ReasonPriceNotOnTick
		}
	}
	if o.QuoteBudget != 0 {
		allowed := (o.Type == Market || o.Type == StopMarket) && o.Side == Buy
		if !allowed || o.QuoteBudget < 0 || (o.TIF == FOK && o.Qty == 0) {
			return ReasonInvalidBudget
		}
		if o.Qty == 0 && o.QuoteBudget < ru.MinNotional {
			return ReasonBelowMinNotional
		}
	}
	if !(o.QuoteBudget != 0 && o.Qty == 0) {
		if rs := r.checkQty(o.Qty); rs != ReasonNone {
			return rs
		}
		if priced && o.TIF == GTC && o.Qty > r.room(o.Side) {
			return ReasonQtyAboveMax
		}
	}
	if o.DisplayQty != 0 {
		allowed := o.TIF == GTC && (o.Type == Limit || o.Type == StopLimit)
		if !allowed || o.DisplayQty < 0 || !onMultiple(o.DisplayQty, ru.LotSize) || o.DisplayQty > o.Qty ||
			refTooManyParts(o.Qty, o.DisplayQty) {
			return ReasonInvalidDisplay
		}
	}
	if priced {
		if rs := r.checkNotional(o.Price, o.Qty); rs != ReasonNone {
			return rs
		}
	}
	if o.PostOnly && r.wouldCross(o.Side, o.Price) {
		return ReasonWouldCross
	}
	return ReasonNone
}

// checkQty validates an order (or amended) quantity.
func (r *refBook) checkQty(q int64) Reason {
	ru := r.rules
	switch {
	case q <= 0:
		return ReasonInvalidQty
	case !onMultiple(q, ru.LotSize):
		return ReasonQtyNotOnLot
	case q < ru.MinQty:
		return ReasonQtyBelowMin
	case q > ru.MaxQty:
		return ReasonQtyAboveMax
	}
	return ReasonNone
}

// room is how much more a side may hold: math.MaxInt64 less the open
// quantity of its resting orders and the quantity of its pending GTC
// stop-limits.
func (r *refBook) room(side Side) int64 {
	n := big.NewInt(math.MaxInt64)
	for _, o := range r.orders {
		if o.side == side {
			n.Sub(n, big.NewInt(o.open))
		}
	}
	for _, o := range r.stops {
		if o.side == side && o.typ == StopLimit && o.tif == GTC {
			n.Sub(n, big.NewInt(o.qty))
		}
	}
	if n.Sign() < 0 {
		panic(fmt.Sprintf("refBook: %s side holds more than an int64", side))
	}
	return n.Int64()
}

// checkNotional validates price × quantity of a priced order or amend.
func (r *refBook) checkNotional(p, q int64) Reason {
	n, ok := notional(p, q)
	if !ok {
		return ReasonNotionalOverflow
	}
	if n < r.rules.MinNotional {
		return ReasonBelowMinNotional
	}
	return ReasonNone
}

// reject appends an EvRejected and returns the reason's sentinel error.
func reject(dst []Event, rs Reason, id, owner uint64, side Side) ([]Event, error) {
	return append(dst, Event{Kind: EvRejected, Reason: rs, OrderID: id, Owner: owner, Side: side}), rs.Err()
}

// Place mirrors Book.Place.
func (r *refBook) Place(dst []Event, o *Order) ([]Event, error) {
	if rs := r.validate(o); rs != ReasonNone {
		return reject(dst, rs, o.ID, o.Owner, o.Side)
	}
	t := &refOrder{
		id: o.ID, owner: o.Owner, side: o.Side, typ: o.Type, tif: o.TIF, stp: o.STP,
		postOnly: o.PostOnly, price: o.Price, stopPrice: o.StopPrice, qty: o.Qty,
		budget: o.QuoteBudget, hasBudget: o.QuoteBudget != 0, pure: o.QuoteBudget != 0 && o.Qty == 0, display: o.DisplayQty, open: o.Qty,
	}
	rem := o.Qty
	if t.pure {
		rem = t.budget
	}
	dst = append(dst, Event{Kind: EvAccepted, Side: t.side, OrderID: t.id, Owner: t.owner, Price: t.price, Qty: t.qty, Remaining: rem})
	if t.typ == StopMarket || t.typ == StopLimit {
		t.seq = r.nextSeq()
		r.stops = append(r.stops, t)
	} else {
		dst = r.execute(dst, t)
	}
	return r.releaseStops(dst), nil
}

// remaining is what a taker has left: quantity, or budget when pure.
func (t *refOrder) remaining() int64 {
	if t.pure {
		return t.budget
	}
	return t.open
}

// acceptable reports whether taker t may trade at maker price p.
func (t *refOrder) acceptable(p int64) bool {
	if t.typ == Market && t.price == 0 {
		return true
	}
	if t.side == Buy {
		return p <= t.price
	}
	return p >= t.price
}

// removedEvent builds an EvCancelled or EvExpired for the open rest of o.
func removedEvent(kind EventKind, rs Reason, o *refOrder) Event {
	// A pure budget buy has open 0; Remaining is 0 without a budget.
	return Event{Kind: kind, Reason: rs, Side: o.side, OrderID: o.id, Owner: o.owner, Price: o.price, Qty: o.open, Remaining: o.budget}
}

// fokCovered runs the fill-or-kill pre-check of taker t.
func (r *refBook) fokCovered(t *refOrder) bool {
	var got int64
	cost := new(big.Int)
	makers := r.sorted(t.side.Opposite())
	for i := 0; i < len(makers) && got < t.open; {
		p := makers[i].price
		if !t.acceptable(p) {
			return false
		}
		j := i
		for j < len(makers) && makers[j].price == p {
			j++
		}
		level := makers[i:j]
		for _, m := range level {
			if m.owner == t.owner && (t.stp == STPCancelTaker || t.stp == STPCancelBoth) {
				return false
			}
		}
		for _, m := range level {
			if m.owner == t.owner && t.stp == STPCancelMaker {
				continue
			}
			take := min(m.open, t.open-got)
			got += take
			cost.Add(cost, new(big.Int).Mul(big.NewInt(take), big.NewInt(p)))
		}
		i = j
	}
	if t.hasBudget && cost.Cmp(big.NewInt(t.budget)) > 0 {
		return false
	}
	return got >= t.open
}

// execute runs taker t (a Limit or Market order, or a released stop, or an
// amended order) against the book, and rests or expires what is left.
func (r *refBook) execute(dst []Event, t *refOrder) []Event {
	switch t.typ {
	case StopMarket:
		t.typ = Market
	case StopLimit:
		t.typ = Limit
	}
	if t.tif == FOK && !r.fokCovered(t) {
		ev := removedEvent(EvExpired, ReasonFOK, t)
		return append(dst, ev)
	}
	lot := r.rules.LotSize
	for t.pure || t.open > 0 {
		m := r.best(t.side.Opposite())
		if m == nil || !t.acceptable(m.price) {
			break
		}
		q := m.visible
		if !t.pure {
			q = min(q, t.open)
		}
		if t.hasBudget {
			afford := t.budget / m.price / lot * lot
			if afford == 0 {
				break
			}
			q = min(q, afford)
		}
		if t.stp != STPNone && m.owner == t.owner {
			if t.stp == STPCancelMaker || t.stp == STPCancelBoth {
				dst = append(dst, removedEvent(EvCancelled, ReasonSelfTrade, m))
				r.remove(m)
			}
			if t.stp == STPCancelTaker || t.stp == STPCancelBoth {
				return append(dst, removedEvent(EvCancelled, ReasonSelfTrade, t))
			}
			continue
		}
		if t.hasBudget {
			t.budget -= q * m.price
		}
		if !t.pure {
			t.open -= q
		}
		m.open -= q
		m.visible -= q
		r.last = m.price
		dst = append(dst, Event{
			Kind: EvTrade, Side: t.side, OrderID: t.id, Owner: t.owner,
			MakerID: m.id, MakerOwner: m.owner, Price: m.price, Qty: q,
			Remaining: t.remaining(), MakerRemaining: m.open,
		})
		switch {
		case m.open == 0:
			r.remove(m)
		case m.visible == 0:
			m.visible = min(m.display, m.open)
			m.seq = r.nextSeq()
		}
	}
	switch {
	case t.pure:
		if t.budget > 0 {
			dst = append(dst, removedEvent(EvExpired, ReasonUnfilled, t))
		}
	case t.open == 0:
	case t.typ == Limit && t.tif == GTC:
		r.rest(t)
	default:
		dst = append(dst, removedEvent(EvExpired, ReasonUnfilled, t))
	}
	return dst
}

// rest puts t at the back of its level.
func (r *refBook) rest(t *refOrder) {
	t.typ, t.stopPrice = Limit, 0
	t.visible = t.open
	if t.display > 0 {
		t.visible = min(t.display, t.open)
	}
	t.seq = r.nextSeq()
	r.orders = append(r.orders, t)
}

// releaseStops releases triggered stops in doc.go's order until none is.
func (r *refBook) releaseStops(dst []Event) []Event {
	for r.last != 0 {
		var s *refOrder
		for _, o := range r.stops {
			if o.side == Buy && r.last >= o.stopPrice &&
				(s == nil || o.stopPrice < s.stopPrice || o.stopPrice == s.stopPrice && o.seq < s.seq) {
				s = o
			}
		}
		if s == nil {
			for _, o := range r.stops {
				if o.side == Sell && r.last <= o.stopPrice &&
					(s == nil || o.stopPrice > s.stopPrice || o.stopPrice == s.stopPrice && o.seq < s.seq) {
					s = o
				}
			}
		}
		if s == nil {
			break
		}
		i := slices.Index(r.stops, s)
		r.stops = slices.Delete(r.stops, i, i+1)
		dst = append(dst, Event{Kind: EvTriggered, Side: s.side, OrderID: s.id, Owner: s.owner, Price: r.last, Qty: s.qty, Remaining: s.budget})
		dst = r.execute(dst, s)
	}
	return dst
}

// Cancel mirrors Book.Cancel.
func (r *refBook) Cancel(dst []Event, id uint64) ([]Event, error) {
	if o := r.resting(id); o != nil {
		r.remove(o)
		return append(dst, removedEvent(EvCancelled, ReasonCancelled, o)), nil
	}
	if s := r.stop(id); s != nil {
		i := slices.Index(r.stops, s)
		r.stops = slices.Delete(r.stops, i, i+1)
		return append(dst, removedEvent(EvCancelled, ReasonCancelled, s)), nil
	}
	return reject(dst, ReasonUnknownOrder, id, 0, Buy)
}

// Amend mirrors Book.Amend.
func (r *refBook) Amend(dst []Event, id uint64, price, qty int64) ([]Event, error) {
	o := r.resting(id)
	if o == nil {
		if s := r.stop(id); s != nil {
			return reject(dst, ReasonNotAmendable, id, s.owner, s.side)
		}
		return reject(dst, ReasonUnknownOrder, id, 0, Buy)
	}
	rs := ReasonNone
	switch {
	case price <= 0 || price > r.rules.MaxPrice:
		rs = ReasonInvalidPrice
	case !onMultiple(price, r.rules.TickSize):
		rs = ReasonPriceNotOnTick
	default:
		rs = r.checkQty(qty)
		if rs == ReasonNone && qty > o.open && qty-o.open > r.room(o.side) {
			rs = ReasonQtyAboveMax
		}
		if rs == ReasonNone && o.display > 0 && qty > o.open && refTooManyParts(qty, o.display) {
			rs = ReasonInvalidDisplay
		}
		if rs == ReasonNone {
			rs = r.checkNotional(price, qty)
		}
	}
	keep := price == o.price && qty <= o.open
	if rs == ReasonNone && !keep && o.postOnly && r.wouldCross(o.side, price) {
		rs = ReasonWouldCross
	}
	if rs != ReasonNone {
		return reject(dst, rs, id, o.owner, o.side)
	}
	dst = append(dst, Event{Kind: EvAmended, Side: o.side, OrderID: o.id, Owner: o.owner, Price: price, Qty: qty, KeptPriority: keep})
	if keep {
		o.open = qty
		o.visible = min(o.visible, qty)
		return dst, nil
	}
	r.remove(o)
	o.price, o.open, o.qty = price, qty, qty
	dst = r.execute(dst, o)
	return r.releaseStops(dst), nil
}

// BestBid mirrors Book.BestBid.
func (r *refBook) BestBid() (price, qty int64, ok bool) { return r.top(Buy) }

// BestAsk mirrors Book.BestAsk.
func (r *refBook) BestAsk() (price, qty int64, ok bool) { return r.top(Sell) }

// top returns the best price of side and its visible quantity.
func (r *refBook) top(side Side) (price, qty int64, ok bool) {
	b := r.best(side)
	if b == nil {
		return 0, 0, false
	}
	for _, o := range r.orders {
		if o.side == side && o.price == b.price {
			qty += o.visible
		}
	}
	return b.price, qty, true
}

// Depth mirrors Book.Depth.
func (r *refBook) Depth(dst []Level, side Side, n int) []Level {
	var lv []Level
	for _, o := range r.sorted(side) {
		if len(lv) > 0 && lv[len(lv)-1].Price == o.price {
			lv[len(lv)-1].Qty += o.visible
			lv[len(lv)-1].Orders++
			continue
		}
		lv = append(lv, Level{Price: o.price, Qty: o.visible, Orders: 1})
	}
	if len(lv) > n {
		lv = lv[:max(n, 0)]
	}
	return append(dst, lv...)
}

// Len mirrors Book.Len.
func (r *refBook) Len() int { return len(r.orders) }

// Stops mirrors Book.Stops.
func (r *refBook) Stops() int { return len(r.stops) }

// LastPrice mirrors Book.LastPrice.
func (r *refBook) LastPrice() int64 { return r.last }

// info describes o as Book.Order does.
func (o *refOrder) info() OrderInfo {
	in := OrderInfo{
		ID: o.id, Owner: o.owner, Side: o.side, Type: o.typ, TIF: o.tif, STP: o.stp,
		PostOnly: o.postOnly, Price: o.price, Open: o.open, Visible: o.visible, DisplayQty: o.display,
	}
	if o.typ == StopMarket || o.typ == StopLimit {
		in.StopPrice, in.Open, in.Visible, in.QuoteBudget, in.Stop = o.stopPrice, o.qty, 0, o.budget, true
	}
	return in
}

// Order mirrors Book.Order.
func (r *refBook) Order(id uint64) (OrderInfo, bool) {
	if o := r.resting(id); o != nil {
		return o.info(), true
	}
	if s := r.stop(id); s != nil {
		return s.info(), true
	}
	return OrderInfo{}, false
}

// All mirrors Book.All as a slice: bids, asks, buy stops, sell stops.
func (r *refBook) All() []OrderInfo {
	var all []OrderInfo
	for _, side := range []Side{Buy, Sell} {
		for _, o := range r.sorted(side) {
			all = append(all, o.info())
		}
	}
	stops := slices.Clone(r.stops)
	slices.SortStableFunc(stops, func(a, b *refOrder) int {
		if a.side != b.side {
			return int(a.side) - int(b.side)
		}
		if a.stopPrice != b.stopPrice {
			if (a.stopPrice < b.stopPrice) == (a.side == Buy) {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.seq, b.seq)
	})
	for _, s := range stops {
		all = append(all, s.info())
	}
	return all
}

// The tests below check refBook itself against hand-computed events, so
// that the differential tests compare Book with something trustworthy.

// refExpect fails t unless evs and err are exactly want and wantErr.
func refExpect(t *testing.T, what string, evs []Event, err, wantErr error, want ...Event) {
	t.Helper()
	if err != wantErr || !slices.Equal(evs, want) {
		t.Fatalf("%s:\n got %v\n%s\nwant %v\n%s", what, err, fmtEvents(evs), wantErr, fmtEvents(want))
	}
}

func TestRefBookBasics(t *testing.T) {
	r := newRefBook(Rules{})
	evs, err := r.Place(nil, &Order{ID: 1, Owner: 7, Side: Sell, Price: 101, Qty: 5})
	refExpect(t, "rest", evs, err, nil,
		Event{Kind: EvAccepted, Side: Sell, OrderID: 1, Owner: 7, Price: 101, Qty: 5, Remaining: 5})
	evs, err = r.Place(nil, &Order{ID: 2, Owner: 8, Side: Buy, Price: 101, Qty: 3})
	refExpect(t, "take", evs, err, nil,
		Event{Kind: EvAccepted, Side: Buy, OrderID: 2, Owner: 8, Price: 101, Qty: 3, Remaining: 3},
		Event{Kind: EvTrade, Side: Buy, OrderID: 2, Owner: 8, MakerID: 1, MakerOwner: 7, Price: 101, Qty: 3, MakerRemaining: 2})
	if p, q, ok := r.BestAsk(); p != 101 || q != 2 || !ok || r.LastPrice() != 101 || r.Len() != 1 {
		t.Fatalf("after trade: ask %d %d %v last %d len %d", p, q, ok, r.LastPrice(), r.Len())
	}
	// IOC through two levels, rest expires.
	r.Place(nil, &Order{ID: 3, Owner: 7, Side: Sell, Price: 102, Qty: 4})
	evs, err = r.Place(nil, &Order{ID: 4, Owner: 9, Side: Buy, TIF: IOC, Price: 102, Qty: 10})
	refExpect(t, "ioc", evs, err, nil,
		Event{Kind: EvAccepted, Side: Buy, OrderID: 4, Owner: 9, Price: 102, Qty: 10, Remaining: 10},
		Event{Kind: EvTrade, Side: Buy, OrderID: 4, Owner: 9, MakerID: 1, MakerOwner: 7, Price: 101, Qty: 2, Remaining: 8},
		Event{Kind: EvTrade, Side: Buy, OrderID: 4, Owner: 9, MakerID: 3, MakerOwner: 7, Price: 102, Qty: 4, Remaining: 4},
		Event{Kind: EvExpired, Reason: ReasonUnfilled, Side: Buy, OrderID: 4, Owner: 9, Price: 102, Qty: 4})
	if r.Len() != 0 {
		t.Fatalf("len %d", r.Len())
	}
	// Cancel and unknown cancel.
	r.Place(nil, &Order{ID: 5, Owner: 1, Side: Buy, Price: 90, Qty: 6})
	evs, err = r.Cancel(nil, 5)
	refExpect(t, "cancel", evs, err, nil,
		Event{Kind: EvCancelled, Reason: ReasonCancelled, Side: Buy, OrderID: 5, Owner: 1, Price: 90, Qty: 6})
	evs, err = r.Cancel(nil, 5)
	refExpect(t, "cancel unknown", evs, err, ErrUnknownOrder,
		Event{Kind: EvRejected, Reason: ReasonUnknownOrder, OrderID: 5})
}

func TestRefBookIceberg(t *testing.T) {
	r := newRefBook(Rules{})
	r.Place(nil, &Order{ID: 1, Owner: 1, Side: Sell, Price: 100, Qty: 10, DisplayQty: 4})
	r.Place(nil, &Order{ID: 2, Owner: 2, Side: Sell, Price: 100, Qty: 3})
	if lv := r.Depth(nil, Sell, 5); !slices.Equal(lv, []Level{{Price: 100, Qty: 7, Orders: 2}}) {
		t.Fatalf("depth %v", lv)
	}
	evs, err := r.Place(nil, &Order{ID: 3, Owner: 3, Side: Buy, Price: 100, Qty: 9})
	refExpect(t, "iceberg", evs, err, nil,
		Event{Kind: EvAccepted, Side: Buy, OrderID: 3, Owner: 3, Price: 100, Qty: 9, Remaining: 9},
		Event{Kind: EvTrade, Side: Buy, OrderID: 3, Owner: 3, MakerID: 1, MakerOwner: 1, Price: 100, Qty: 4, Remaining: 5, MakerRemaining: 6},
		Event{Kind: EvTrade, Side: Buy, OrderID: 3, Owner: 3, MakerID: 2, MakerOwner: 2, Price: 100, Qty: 3, Remaining: 2, MakerRemaining: 0},
		Event{Kind: EvTrade, Side: Buy, OrderID: 3, Owner: 3, MakerID: 1, MakerOwner: 1, Price: 100, Qty: 2, Remaining: 0, MakerRemaining: 4})
	if in, ok := r.Order(1); !ok || in.Open != 4 || in.Visible != 2 {
		t.Fatalf("iceberg info %+v", in)
	}
	// A resting iceberg buy shows min(DisplayQty, rest).
	evs, err = r.Place(nil, &Order{ID: 4, Owner: 3, Side: Buy, Price: 100, Qty: 9, DisplayQty: 3})
	refExpect(t, "iceberg taker", evs, err, nil,
		Event{Kind: EvAccepted, Side: Buy, OrderID: 4, Owner: 3, Price: 100, Qty: 9, Remaining: 9},
		Event{Kind: EvTrade, Side: Buy, OrderID: 4, Owner: 3, MakerID: 1, MakerOwner: 1, Price: 100, Qty: 2, Remaining: 7, MakerRemaining: 2},
		Event{Kind: EvTrade, Side: Buy, OrderID: 4, Owner: 3, MakerID: 1, MakerOwner: 1, Price: 100, Qty: 2, Remaining: 5, MakerRemaining: 0})
	if p, q, ok := r.BestBid(); p != 100 || q != 3 || !ok {
		t.Fatalf("bid %d %d %v", p, q, ok)
	}
}

func TestRefBookSTP(t *testing.T) {
	setup := func() *refBook {
		r := newRefBook(Rules{})
		r.Place(nil, &Order{ID: 1, Owner: 1, Side: Sell, Price: 100, Qty: 2})
		r.Place(nil, &Order{ID: 2, Owner: 2, Side: Sell, Price: 100, Qty: 2})
		r.Place(nil, &Order{ID: 3, Owner: 1, Side: Sell, Price: 101, Qty: 2, DisplayQty: 1})
		return r
	}
	acc := Event{Kind: EvAccepted, Side: Buy, OrderID: 9, Owner: 2, Price: 101, Qty: 5, Remaining: 5}
	tr := func(maker, mo uint64, p, q, rem, mrem int64) Event {
		return Event{Kind: EvTrade, Side: Buy, OrderID: 9, Owner: 2, MakerID: maker, MakerOwner: mo, Price: p, Qty: q, Remaining: rem, MakerRemaining: mrem}
	}
	o := Order{ID: 9, Owner: 2, Side: Buy, Price: 101, Qty: 5}

	o.STP = STPCancelTaker
	evs, err := setup().Place(nil, &o)
	refExpect(t, "cancel_taker", evs, err, nil, acc, tr(1, 1, 100, 2, 3, 0),
		Event{Kind: EvCancelled, Reason: ReasonSelfTrade, Side: Buy, OrderID: 9, Owner: 2, Price: 101, Qty: 3})

	o.STP = STPCancelMaker
	r := setup()
	evs, err = r.Place(nil, &o)
	refExpect(t, "cancel_maker", evs, err, nil, acc, tr(1, 1, 100, 2, 3, 0),
		Event{Kind: EvCancelled, Reason: ReasonSelfTrade, Side: Sell, OrderID: 2, Owner: 2, Price: 100, Qty: 2},
		tr(3, 1, 101, 1, 2, 1), tr(3, 1, 101, 1, 1, 0))
	if p, q, ok := r.BestBid(); p != 101 || q != 1 || !ok || r.Len() != 1 {
		t.Fatalf("rest after cancel_maker: %d %d %v len %d", p, q, ok, r.Len())
	}

	o.STP = STPCancelBoth
	evs, err = setup().Place(nil, &o)
	refExpect(t, "cancel_both", evs, err, nil, acc, tr(1, 1, 100, 2, 3, 0),
		Event{Kind: EvCancelled, Reason: ReasonSelfTrade, Side: Sell, OrderID: 2, Owner: 2, Price: 100, Qty: 2},
		Event{Kind: EvCancelled, Reason: ReasonSelfTrade, Side: Buy, OrderID: 9, Owner: 2, Price: 101, Qty: 3})

	// FOK: cancel_taker is killed by owner 2's order at 100 before covering;
	// cancel_maker skips it and covers 5 with 2 + 2 (iceberg hidden counts)
	// ... which is only 4: killed too; qty 4 fills.
	o.TIF = FOK
	for _, stp := range []STPMode{STPCancelTaker, STPCancelBoth, STPCancelMaker} {
		o.STP = stp
		evs, err = setup().Place(nil, &o)
		refExpect(t, "fok "+stp.String(), evs, err, nil, acc,
			Event{Kind: EvExpired, Reason: ReasonFOK, Side: Buy, OrderID: 9, Owner: 2, Price: 101, Qty: 5})
	}
	o.Qty = 4
	acc.Qty, acc.Remaining = 4, 4
	evs, err = setup().Place(nil, &o)
	refExpect(t, "fok cancel_maker fills", evs, err, nil, acc, tr(1, 1, 100, 2, 2, 0),
		Event{Kind: EvCancelled, Reason: ReasonSelfTrade, Side: Sell, OrderID: 2, Owner: 2, Price: 100, Qty: 2},
		tr(3, 1, 101, 1, 1, 1), tr(3, 1, 101, 1, 0, 0))
	o.STP = STPNone
	evs, err = setup().Place(nil, &o)
	refExpect(t, "fok none", evs, err, nil, acc, tr(1, 1, 100, 2, 2, 0), tr(2, 2, 100, 2, 0, 0))
}

func TestRefBookBudget(t *testing.T) {
	r := newRefBook(Rules{LotSize: 2, MinNotional: 40})
	r.Place(nil, &Order{ID: 1, Owner: 1, Side: Sell, Price: 10, Qty: 4})
	r.Place(nil, &Order{ID: 2, Owner: 1, Side: Sell, Price: 20, Qty: 10})
	// 4@10 = 40, left 95: at 20 one lot costs 40, so 4 (80), left 15.
	evs, err := r.Place(nil, &Order{ID: 3, Owner: 2, Side: Buy, Type: Market, QuoteBudget: 135})
	refExpect(t, "budget", evs, err, nil,
		Event{Kind: EvAccepted, Side: Buy, OrderID: 3, Owner: 2, Remaining: 135},
		Event{Kind: EvTrade, Side: Buy, OrderID: 3, Owner: 2, MakerID: 1, MakerOwner: 1, Price: 10, Qty: 4, Remaining: 95, MakerRemaining: 0},
		Event{Kind: EvTrade, Side: Buy, OrderID: 3, Owner: 2, MakerID: 2, MakerOwner: 1, Price: 20, Qty: 4, Remaining: 15, MakerRemaining: 6},
		Event{Kind: EvExpired, Reason: ReasonUnfilled, Side: Buy, OrderID: 3, Owner: 2, Remaining: 15})
	// Exactly spent: no expiry.
	evs, err = r.Place(nil, &Order{ID: 4, Owner: 2, Side: Buy, Type: Market, QuoteBudget: 80})
	refExpect(t, "budget spent", evs, err, nil,
		Event{Kind: EvAccepted, Side: Buy, OrderID: 4, Owner: 2, Remaining: 80},
		Event{Kind: EvTrade, Side: Buy, OrderID: 4, Owner: 2, MakerID: 2, MakerOwner: 1, Price: 20, Qty: 4, Remaining: 0, MakerRemaining: 2})
	// Budget rules.
	evs, err = r.Place(nil, &Order{ID: 5, Owner: 2, Side: Buy, Type: Market, QuoteBudget: 30})
	refExpect(t, "budget below min", evs, err, ErrBelowMinNotional,
		Event{Kind: EvRejected, Reason: ReasonBelowMinNotional, Side: Buy, OrderID: 5, Owner: 2})
	evs, err = r.Place(nil, &Order{ID: 5, Owner: 2, Side: Buy, Type: Market, TIF: FOK, QuoteBudget: 400})
	refExpect(t, "budget fok", evs, err, ErrInvalidBudget,
		Event{Kind: EvRejected, Reason: ReasonInvalidBudget, Side: Buy, OrderID: 5, Owner: 2})
	evs, err = r.Place(nil, &Order{ID: 5, Owner: 2, Side: Buy, Type: Limit, Price: 10, Qty: 4, QuoteBudget: 400})
	refExpect(t, "budget limit", evs, err, ErrInvalidBudget,
		Event{Kind: EvRejected, Reason: ReasonInvalidBudget, Side: Buy, OrderID: 5, Owner: 2})
	evs, err = r.Place(nil, &Order{ID: 5, Owner: 2, Side: Sell, Type: Market, QuoteBudget: 400})
	refExpect(t, "budget sell", evs, err, ErrInvalidBudget,
		Event{Kind: EvRejected, Reason: ReasonInvalidBudget, Side: Sell, OrderID: 5, Owner: 2})
	// Protection price stops the walk; budget affords nothing at 20 with
	// 30 left once the cheaper level is gone.
	r.Place(nil, &Order{ID: 6, Owner: 1, Side: Sell, Price: 30, Qty: 2})
	evs, err = r.Place(nil, &Order{ID: 7, Owner: 2, Side: Buy, Type: Market, Price: 20, QuoteBudget: 1000})
	refExpect(t, "budget protection", evs, err, nil,
		Event{Kind: EvAccepted, Side: Buy, OrderID: 7, Owner: 2, Price: 20, Remaining: 1000},
		Event{Kind: EvTrade, Side: Buy, OrderID: 7, Owner: 2, MakerID: 2, MakerOwner: 1, Price: 20, Qty: 2, Remaining: 960, MakerRemaining: 0},
		Event{Kind: EvExpired, Reason: ReasonUnfilled, Side: Buy, OrderID: 7, Owner: 2, Price: 20, Remaining: 960})
	evs, err = r.Place(nil, &Order{ID: 8, Owner: 2, Side: Buy, Type: Market, QuoteBudget: 59})
	refExpect(t, "budget affords none", evs, err, nil,
		Event{Kind: EvAccepted, Side: Buy, OrderID: 8, Owner: 2, Remaining: 59},
		Event{Kind: EvExpired, Reason: ReasonUnfilled, Side: Buy, OrderID: 8, Owner: 2, Remaining: 59})

	// Quantity and budget: whichever runs out first.
	r = newRefBook(Rules{LotSize: 2, MinNotional: 40})
	r.Place(nil, &Order{ID: 1, Owner: 1, Side: Sell, Price: 10, Qty: 4})
	r.Place(nil, &Order{ID: 2, Owner: 1, Side: Sell, Price: 20, Qty: 10})
	evs, err = r.Place(nil, &Order{ID: 3, Owner: 2, Side: Buy, Type: Market, Qty: 2, QuoteBudget: 100})
	refExpect(t, "qty first", evs, err, nil,
		Event{Kind: EvAccepted, Side: Buy, OrderID: 3, Owner: 2, Qty: 2, Remaining: 2},
		Event{Kind: EvTrade, Side: Buy, OrderID: 3, Owner: 2, MakerID: 1, MakerOwner: 1, Price: 10, Qty: 2, Remaining: 0, MakerRemaining: 2})
	evs, err = r.Place(nil, &Order{ID: 4, Owner: 2, Side: Buy, Type: Market, Qty: 10, QuoteBudget: 119})
	refExpect(t, "budget first", evs, err, nil,
		Event{Kind: EvAccepted, Side: Buy, OrderID: 4, Owner: 2, Qty: 10, Remaining: 10},
		Event{Kind: EvTrade, Side: Buy, OrderID: 4, Owner: 2, MakerID: 1, MakerOwner: 1, Price: 10, Qty: 2, Remaining: 8},
		Event{Kind: EvTrade, Side: Buy, OrderID: 4, Owner: 2, MakerID: 2, MakerOwner: 1, Price: 20, Qty: 4, Remaining: 4, MakerRemaining: 6},
		Event{Kind: EvExpired, Reason: ReasonUnfilled, Side: Buy, OrderID: 4, Owner: 2, Qty: 4, Remaining: 19})
	// FOK with a budget: 6 at 20 costs 120.
	evs, err = r.Place(nil, &Order{ID: 5, Owner: 2, Side: Buy, Type: Market, TIF: FOK, Qty: 6, QuoteBudget: 119})
	refExpect(t, "fok budget short", evs, err, nil,
		Event{Kind: EvAccepted, Side: Buy, OrderID: 5, Owner: 2, Qty: 6, Remaining: 6},
		Event{Kind: EvExpired, Reason: ReasonFOK, Side: Buy, OrderID: 5, Owner: 2, Qty: 6, Remaining: 119})
	evs, err = r.Place(nil, &Order{ID: 5, Owner: 2, Side: Buy, Type: Market, TIF: FOK, Qty: 6, QuoteBudget: 120})
	refExpect(t, "fok budget exact", evs, err, nil,
		Event{Kind: EvAccepted, Side: Buy, OrderID: 5, Owner: 2, Qty: 6, Remaining: 6},
		Event{Kind: EvTrade, Side: Buy, OrderID: 5, Owner: 2, MakerID: 2, MakerOwner: 1, Price: 20, Qty: 6, Remaining: 0})
}

func TestRefBookStops(t *testing.T) {
	r := newRefBook(Rules{})
	// No last price yet: nothing triggers.
	r.Place(nil, &Order{ID: 10, Owner: 1, Side: Buy, Type: StopMarket, StopPrice: 100, Qty: 1})
	r.Place(nil, &Order{ID: 11, Owner: 1, Side: Buy, Type: StopLimit, StopPrice: 99, Price: 105, Qty: 1})
	r.Place(nil, &Order{ID: 12, Owner: 1, Side: Sell, Type: StopMarket, StopPrice: 101, Qty: 1})
	r.Place(nil, &Order{ID: 13, Owner: 1, Side: Sell, Type: StopMarket, StopPrice: 102, Qty: 1})
	if r.Stops() != 4 || r.Len() != 0 {
		t.Fatalf("stops %d len %d", r.Stops(), r.Len())
	}
	r.Place(nil, &Order{ID: 1, Owner: 2, Side: Sell, Price: 100, Qty: 1})
	r.Place(nil, &Order{ID: 2, Owner: 2, Side: Sell, Price: 103, Qty: 5})
	r.Place(nil, &Order{ID: 3, Owner: 2, Side: Buy, Price: 90, Qty: 5})
	// A trade at 100 triggers buys >= their stop (99 then 100) and sells
	// <= their stop (102 then 101), buys first, and re-checks after each.
	evs, err := r.Place(nil, &Order{ID: 4, Owner: 3, Side: Buy, Price: 100, Qty: 1})
	refExpect(t, "stops", evs, err, nil,
		Event{Kind: EvAccepted, Side: Buy, OrderID: 4, Owner: 3, Price: 100, Qty: 1, Remaining: 1},
		Event{Kind: EvTrade, Side: Buy, OrderID: 4, Owner: 3, MakerID: 1, MakerOwner: 2, Price: 100, Qty: 1},
		Event{Kind: EvTriggered, Side: Buy, OrderID: 11, Owner: 1, Price: 100, Qty: 1},
		Event{Kind: EvTrade, Side: Buy, OrderID: 11, Owner: 1, MakerID: 2, MakerOwner: 2, Price: 103, Qty: 1, MakerRemaining: 4},
		// last is now 103: buy stop 100 triggers; no sell stop (103 > 102).
		Event{Kind: EvTriggered, Side: Buy, OrderID: 10, Owner: 1, Price: 103, Qty: 1},
		Event{Kind: EvTrade, Side: Buy, OrderID: 10, Owner: 1, MakerID: 2, MakerOwner: 2, Price: 103, Qty: 1, MakerRemaining: 3})
	if r.Stops() != 2 {
		t.Fatalf("stops %d", r.Stops())
	}
	// A sell at 90 triggers sell stops, highest stop first.
	evs, err = r.Place(nil, &Order{ID: 5, Owner: 3, Side: Sell, Price: 90, Qty: 1})
	refExpect(t, "sell stops", evs, err, nil,
		Event{Kind: EvAccepted, Side: Sell, OrderID: 5, Owner: 3, Price: 90, Qty: 1, Remaining: 1},
		Event{Kind: EvTrade, Side: Sell, OrderID: 5, Owner: 3, MakerID: 3, MakerOwner: 2, Price: 90, Qty: 1, MakerRemaining: 4},
		Event{Kind: EvTriggered, Side: Sell, OrderID: 13, Owner: 1, Price: 90, Qty: 1},
		Event{Kind: EvTrade, Side: Sell, OrderID: 13, Owner: 1, MakerID: 3, MakerOwner: 2, Price: 90, Qty: 1, MakerRemaining: 3},
		Event{Kind: EvTriggered, Side: Sell, OrderID: 12, Owner: 1, Price: 90, Qty: 1},
		Event{Kind: EvTrade, Side: Sell, OrderID: 12, Owner: 1, MakerID: 3, MakerOwner: 2, Price: 90, Qty: 1, MakerRemaining: 2})
	// A stop placed already triggered is released at once, after EvAccepted.
	evs, err = r.Place(nil, &Order{ID: 14, Owner: 1, Side: Sell, Type: StopLimit, StopPrice: 95, Price: 95, Qty: 3, TIF: IOC})
	refExpect(t, "immediate stop", evs, err, nil,
		Event{Kind: EvAccepted, Side: Sell, OrderID: 14, Owner: 1, Price: 95, Qty: 3, Remaining: 3},
		Event{Kind: EvTriggered, Side: Sell, OrderID: 14, Owner: 1, Price: 90, Qty: 3},
		Event{Kind: EvExpired, Reason: ReasonUnfilled, Side: Sell, OrderID: 14, Owner: 1, Price: 95, Qty: 3})
	// Pending stops: not amendable, cancellable.
	r.Place(nil, &Order{ID: 15, Owner: 4, Side: Buy, Type: StopMarket, StopPrice: 200, QuoteBudget: 500})
	evs, err = r.Amend(nil, 15, 100, 1)
	refExpect(t, "amend stop", evs, err, ErrNotAmendable,
		Event{Kind: EvRejected, Reason: ReasonNotAmendable, Side: Buy, OrderID: 15, Owner: 4})
	evs, err = r.Cancel(nil, 15)
	refExpect(t, "cancel stop", evs, err, nil,
		Event{Kind: EvCancelled, Reason: ReasonCancelled, Side: Buy, OrderID: 15, Owner: 4, Remaining: 500})
}

func TestRefBookAmend(t *testing.T) {
	r := newRefBook(Rules{})
	r.Place(nil, &Order{ID: 1, Owner: 1, Side: Buy, Price: 100, Qty: 5})
	r.Place(nil, &Order{ID: 2, Owner: 2, Side: Buy, Price: 100, Qty: 5})
	r.Place(nil, &Order{ID: 3, Owner: 3, Side: Sell, Price: 102, Qty: 5, PostOnly: true})
	evs, err := r.Amend(nil, 1, 100, 3)
	refExpect(t, "keep", evs, err, nil,
		Event{Kind: EvAmended, Side: Buy, OrderID: 1, Owner: 1, Price: 100, Qty: 3, KeptPriority: true})
	evs, err = r.Amend(nil, 1, 100, 4)
	refExpect(t, "lose (qty up)", evs, err, nil,
		Event{Kind: EvAmended, Side: Buy, OrderID: 1, Owner: 1, Price: 100, Qty: 4})
	if all := r.All(); len(all) != 3 || all[0].ID != 2 || all[1].ID != 1 {
		t.Fatalf("queue after amend: %+v", all)
	}
	evs, err = r.Amend(nil, 3, 100, 5)
	refExpect(t, "post-only cross", evs, err, ErrWouldCross,
		Event{Kind: EvRejected, Reason: ReasonWouldCross, Side: Sell, OrderID: 3, Owner: 3})
	evs, err = r.Amend(nil, 2, 102, 6)
	refExpect(t, "lose and trade", evs, err, nil,
		Event{Kind: EvAmended, Side: Buy, OrderID: 2, Owner: 2, Price: 102, Qty: 6},
		Event{Kind: EvTrade, Side: Buy, OrderID: 2, Owner: 2, MakerID: 3, MakerOwner: 3, Price: 102, Qty: 5, Remaining: 1})
	if p, q, ok := r.BestBid(); p != 102 || q != 1 || !ok {
		t.Fatalf("bid %d %d %v", p, q, ok)
	}
	evs, err = r.Amend(nil, 2, 101, 0)
	refExpect(t, "bad qty", evs, err, ErrInvalidQty,
		Event{Kind: EvRejected, Reason: ReasonInvalidQty, Side: Buy, OrderID: 2, Owner: 2})
	evs, err = r.Amend(nil, 99, 101, 1)
	refExpect(t, "unknown", evs, err, ErrUnknownOrder,
		Event{Kind: EvRejected, Reason: ReasonUnknownOrder, OrderID: 99})
}

func TestRefBookValidation(t *testing.T) {
	rules := Rules{TickSize: 5, LotSize: 2, MinQty: 4, MaxQty: 100, MinNotional: 50, MaxPrice: 1000}
	r := newRefBook(rules)
	r.Place(nil, &Order{ID: 1, Owner: 1, Side: Sell, Price: 100, Qty: 4})
	r.Place(nil, &Order{ID: 2, Owner: 1, Side: Sell, Type: StopMarket, StopPrice: 200, Qty: 4})
	ok := Order{ID: 5, Owner: 1, Side: Buy, Price: 95, Qty: 4}
	cases := []struct {
		mod  func(o *Order)
		want Reason
	}{
		{func(o *Order) { o.ID, o.Side = 0, 9 }, ReasonInvalidID},
		{func(o *Order) { o.Side, o.Type = 2, 9 }, ReasonInvalidSide},
		{func(o *Order) { o.Type, o.TIF = 4, 9 }, ReasonInvalidType},
		{func(o *Order) { o.TIF, o.STP = 3, 9 }, ReasonInvalidTIF},
		{func(o *Order) { o.STP, o.ID = 4, 1 }, ReasonInvalidSTP},
		{func(o *Order) { o.ID, o.TIF, o.PostOnly = 1, IOC, true }, ReasonDuplicateID},
		{func(o *Order) { o.ID, o.Qty = 2, 0 }, ReasonDuplicateID},
		{func(o *Order) { o.TIF, o.PostOnly, o.StopPrice = IOC, true, 3 }, ReasonPostOnlyInvalid},
		{func(o *Order) { o.Type, o.PostOnly = Market, true }, ReasonPostOnlyInvalid},
		{func(o *Order) { o.StopPrice, o.Price = 5, 3 }, ReasonInvalidStop},
		{func(o *Order) { o.Type, o.StopPrice, o.Price = StopLimit, 0, 3 }, ReasonInvalidStop},
		{func(o *Order) { o.Type, o.StopPrice, o.Price = StopLimit, 7, 3 }, ReasonInvalidStop},
		{func(o *Order) { o.Type, o.StopPrice, o.Price = StopLimit, 1005, 3 }, ReasonInvalidStop},
		{func(o *Order) { o.Price, o.Qty = 0, 0 }, ReasonInvalidPrice},
		{func(o *Order) { o.Price, o.Qty = 1003, 0 }, ReasonInvalidPrice},
		{func(o *Order) { o.Type, o.Price, o.Qty = Market, -5, 0 }, ReasonInvalidPrice},
		{func(o *Order) { o.Price, o.Qty = 3, 0 }, ReasonPriceNotOnTick},
		{func(o *Order) { o.Type, o.Price, o.Qty = Market, 3, 0 }, ReasonPriceNotOnTick},
		{func(o *Order) { o.QuoteBudget, o.Qty = 100, 0 }, ReasonInvalidBudget},
		{func(o *Order) { o.Type, o.Price, o.QuoteBudget, o.TIF, o.Qty = Market, 0, 100, FOK, 0 }, ReasonInvalidBudget},
		{func(o *Order) { o.Type, o.Price, o.QuoteBudget, o.TIF, o.Qty = StopMarket, 0, 100, FOK, 0 }, ReasonInvalidStop},
		{func(o *Order) { o.Type, o.Side, o.Price, o.QuoteBudget = StopMarket, Sell, 0, 100 }, ReasonInvalidStop},
		{func(o *Order) { o.Type, o.Side, o.Price, o.QuoteBudget, o.StopPrice = StopMarket, Sell, 0, 100, 5 }, ReasonInvalidBudget},
		{func(o *Order) { o.Type, o.Price, o.Qty, o.QuoteBudget = Market, 0, -4, 100 }, ReasonInvalidQty},
		{func(o *Order) { o.Type, o.Price, o.Qty, o.QuoteBudget = Market, 0, 2, 100 }, ReasonQtyBelowMin},
		{func(o *Order) { o.Type, o.Price, o.Qty, o.QuoteBudget = Market, 0, 0, -100 }, ReasonInvalidBudget},
		{func(o *Order) { o.Type, o.Price, o.Qty, o.QuoteBudget = Market, 0, 0, 49 }, ReasonBelowMinNotional},
		{func(o *Order) { o.Type, o.Price, o.Qty, o.DisplayQty = Market, 0, 0, 1 }, ReasonInvalidQty},
		{func(o *Order) { o.Qty, o.DisplayQty = -4, 1 }, ReasonInvalidQty},
		{func(o *Order) { o.Qty, o.DisplayQty = 5, 1 }, ReasonQtyNotOnLot},
		{func(o *Order) { o.Qty, o.DisplayQty = 2, 1 }, ReasonQtyBelowMin},
		{func(o *Order) { o.Qty, o.DisplayQty = 102, 1 }, ReasonQtyAboveMax},
		{func(o *Order) { o.DisplayQty, o.Price = 1, 5 }, ReasonInvalidDisplay},
		{func(o *Order) { o.DisplayQty, o.Price = 6, 5 }, ReasonInvalidDisplay},
		{func(o *Order) { o.DisplayQty, o.Price = -2, 5 }, ReasonInvalidDisplay},
		{func(o *Order) { o.DisplayQty, o.TIF, o.Price = 2, IOC, 5 }, ReasonInvalidDisplay},
		{func(o *Order) { o.DisplayQty, o.Type, o.Price = 2, Market, 0 }, ReasonInvalidDisplay},
		{func(o *Order) { o.Price = 5 }, ReasonBelowMinNotional},
		{func(o *Order) { o.PostOnly, o.Price = true, 100 }, ReasonWouldCross},
	}
	for i, c := range cases {
		o := ok
		c.mod(&o)
		evs, err := r.Place(nil, &o)
		refExpect(t, fmt.Sprintf("case %d (%v)", i, c.want), evs, err, c.want.Err(),
			Event{Kind: EvRejected, Reason: c.want, OrderID: o.ID, Owner: o.Owner, Side: o.Side})
	}
	r2 := newRefBook(Rules{TickSize: 5})
	evs, err := r2.Place(nil, &Order{ID: 1, Side: Buy, Price: math.MaxInt64 / 5 * 5, Qty: 2})
	refExpect(t, "overflow", evs, err, ErrNotionalOverflow,
		Event{Kind: EvRejected, Reason: ReasonNotionalOverflow, OrderID: 1})
	if r.Len() != 1 || r.Stops() != 1 {
		t.Fatalf("rejections changed the book: len %d stops %d", r.Len(), r.Stops())
	}
}

// fmtEvents renders events one per line for failure messages.
func fmtEvents(evs []Event) string {
	var sb strings.Builder
	for _, e := range evs {
		sb.WriteString("\t" + fmtEvent(e) + "\n")
	}
	return sb.String()
}

// fmtEvent renders the non-zero fields of one event.
func fmtEvent(e Event) string {
	s := fmt.Sprintf("%v id=%d own=%d %v", e.Kind, e.OrderID, e.Owner, e.Side)
	if e.Reason != ReasonNone {
		s += " reason=" + e.Reason.String()
	}
	if e.MakerID != 0 || e.MakerOwner != 0 {
		s += fmt.Sprintf(" maker=%d/%d", e.MakerID, e.MakerOwner)
	}
	s += fmt.Sprintf(" px=%d qty=%d rem=%d", e.Price, e.Qty, e.Remaining)
	if e.Kind == EvTrade || e.MakerRemaining != 0 {
		s += fmt.Sprintf(" mrem=%d", e.MakerRemaining)
	}
	if e.KeptPriority {
		s += " kept"
	}
	return s
}

// check verifies refBook's own invariants: every resting order has
// 0 < visible <= open, visible <= DisplayQty for icebergs, on-lot
// quantities; ids are unique; the book is not crossed; and no pending stop
// is triggered by the last price.
func (r *refBook) check() error {
	seen := map[uint64]bool{}
	for _, o := range append(slices.Clone(r.orders), r.stops...) {
		if seen[o.id] {
			return fmt.Errorf("duplicate id %d", o.id)
		}
		seen[o.id] = true
	}
	for _, o := range r.orders {
		if o.visible <= 0 || o.visible > o.open || o.open%r.rules.LotSize != 0 ||
			(o.display > 0 && o.visible > o.display) || (o.display == 0 && o.visible != o.open) {
			return fmt.Errorf("bad order %+v", *o)
		}
	}
	bid, ask := r.best(Buy), r.best(Sell)
	if bid != nil && ask != nil && bid.price >= ask.price {
		return fmt.Errorf("crossed: %d >= %d", bid.price, ask.price)
	}
	for _, s := range r.stops {
		if r.last != 0 && (s.side == Buy && r.last >= s.stopPrice || s.side == Sell && r.last <= s.stopPrice) {
			return fmt.Errorf("stop %d triggered but pending", s.id)
		}
	}
	return nil
}

// TestRefStream runs the differential generator through refBook alone,
// checking its invariants and that the stream produces every event kind and
// every reason (so the differential test exercises them all).
func TestRefStream(t *testing.T) {
	r := newRefBook(diffRules)
	g := newDiffGen(diffSeed(t, 1), diffRules, r)
	var reasons [numReasons]int
	var kinds [EvTriggered + 1]int
	var evs []Event
	maxLen, maxStops := 0, 0
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	for i := range n {
		op := g.next()
		o := op.order
		var err error
		switch op.kind {
		case opPlace:
			evs, err = r.Place(evs[:0], &o)
		case opCancel:
			evs, err = r.Cancel(evs[:0], op.id)
		case opAmend:
			evs, err = r.Amend(evs[:0], op.id, op.price, op.qty)
		}
		if len(evs) == 0 || (err != nil) != (evs[0].Kind == EvRejected) {
			t.Fatalf("op %d %v: err %v events\n%s", i, op, err, fmtEvents(evs))
		}
		for _, e := range evs {
			kinds[e.Kind]++
			reasons[e.Reason]++
		}
		if i%8 == 0 {
			if err := r.check(); err != nil {
				t.Fatalf("op %d %v: %v\n%s", i, op, err, fmtEvents(evs))
			}
		}
		maxLen, maxStops = max(maxLen, r.Len()), max(maxStops, r.Stops())
	}
	for k := EvAccepted; k <= EvTriggered; k++ {
		if kinds[k] == 0 {
			t.Errorf("event kind %v never produced", k)
		}
	}
	for rs := ReasonInvalidID; rs < numReasons; rs++ {
		if reasons[rs] == 0 && rs != ReasonFeeChange && rs != ReasonAccountFrozen && rs != ReasonExpired &&
			rs != ReasonCancelAllAfter && rs != ReasonDisconnect && rs != ReasonPriceBand { // the engine's, never Book's
			t.Errorf("reason %v never produced", rs)
		}
	}
	t.Logf("kinds %v reasons %v; max resting %d, max stops %d, final mid %d", kinds, reasons, maxLen, maxStops, g.mid)
}

// TestRefFuzzSeeds runs the fuzz seed corpus through refBook alone and
// checks its invariants.
func TestRefFuzzSeeds(t *testing.T) {
	for i, s := range fuzzSeeds() {
		rules, ops := decodeFuzzOps(s)
		r := newRefBook(rules)
		var evs []Event
		for j, op := range ops {
			o := op.order
			switch op.kind {
			case opPlace:
				evs, _ = r.Place(evs[:0], &o)
			case opCancel:
				evs, _ = r.Cancel(evs[:0], op.id)
			case opAmend:
				evs, _ = r.Amend(evs[:0], op.id, op.price, op.qty)
			}
			if err := r.check(); err != nil {
				t.Fatalf("seed %d op %d %v: %v\n%s", i, j, op, err, fmtEvents(evs))
			}
			if testing.Verbose() && i < 4 {
				t.Logf("seed %d: %v\n%s", i, op, fmtEvents(evs))
			}
		}
	}
}

// refTooManyParts reports whether an iceberg of quantity qty showing
// display at a time has more than MaxIcebergParts slices: qty >
// MaxIcebergParts × display, in exact arithmetic.
func refTooManyParts(qty, display int64) bool {
	limit := new(big.Int).Mul(big.NewInt(MaxIcebergParts), big.NewInt(display))
	return big.NewInt(qty).Cmp(limit) > 0
}
