package book

// Cancel removes a resting order or pending stop, appending EvCancelled
// (reason cancelled), or EvRejected and ErrUnknownOrder if no live order
// has that id.
// A book without an index (Options.NoIndex) finds no order by id: see
// CancelAt.
func (b *Book) Cancel(dst []Event, id uint64) ([]Event, error) {
	v, ok := b.index.get(id)
	if !ok {
		return unknown(dst, id), ErrUnknownOrder
	}
	return b.cancel(dst, v, id), nil
}

// unknown appends the rejection of a command about id, which is not live.
func unknown(dst []Event, id uint64) []Event {
	return append(dst, Event{Kind: EvRejected, Reason: ReasonUnknownOrder, OrderID: id})
}

// cancel is Cancel of live order id, with index value v.
func (b *Book) cancel(dst []Event, v int32, id uint64) []Event {
	if v < 0 {
		o := b.takeStop(v)
		return append(dst, Event{Kind: EvCancelled, Side: o.Side, Reason: ReasonCancelled,
			OrderID: id, Owner: o.Owner, Price: o.Price, Qty: o.Qty, Remaining: o.QuoteBudget})
	}
	n := b.node(v)
	dst, ev := addEvent(dst)
	ev.Kind, ev.Side, ev.Reason = EvCancelled, n.side, ReasonCancelled
	ev.OrderID, ev.Owner, ev.Price, ev.Qty = id, n.owner, n.price, n.open
	b.removeNode(v)
	return dst
}

// Amend changes a resting order's price and open quantity (qty is the new
// open quantity, not the original order quantity). With the same price and
// a quantity not above the open one the order keeps its queue place;
// otherwise it is taken out and re-entered at the back of its new level,
// trading first if the new price crosses. A post-only order whose new
// price would cross is rejected with ErrWouldCross; an increase past what
// the order's side can hold (see the package doc) with ErrQtyAboveMax,
// and one of an iceberg's past MaxIcebergParts slices of its DisplayQty
// with ErrInvalidDisplay. Pending stops cannot be amended
// (ErrNotAmendable). A rejected amend
// changes nothing. A book without an index (Options.NoIndex) finds no
// order by id: see AmendAt.
func (b *Book) Amend(dst []Event, id uint64, price, qty int64) ([]Event, error) {
	v, ok := b.index.get(id)
	if !ok {
		return unknown(dst, id), ErrUnknownOrder
	}
	return b.amend(dst, v, id, price, qty)
}

// amend is Amend of live order id, with index value v.
func (b *Book) amend(dst []Event, v int32, id uint64, price, qty int64) ([]Event, error) {
	if v < 0 {
		o := b.stops.order(v)
		return append(dst, Event{Kind: EvRejected, Side: o.Side, Reason: ReasonNotAmendable,
			OrderID: id, Owner: o.Owner}), ErrNotAmendable
	}
	n := b.node(v)
	r := b.checkPrice(price)
	if r == ReasonNone {
		r = b.checkQty(qty)
	}
	if r == ReasonNone && qty > n.open && qty-n.open > b.room(n.side) {
		r = ReasonQtyAboveMax
	}
	if r == ReasonNone && n.display > 0 && qty > n.open && icebergTooLong(qty, n.display) {
		r = ReasonInvalidDisplay // more than MaxIcebergParts slices
	}
	if r == ReasonNone {
		r = b.checkNotional(price, qty)
	}
	if r == ReasonNone && n.postOnly && b.crosses(n.side, price) {
		r = ReasonWouldCross
	}
	if r != ReasonNone {
		return append(dst, Event{Kind: EvRejected, Side: n.side, Reason: r, OrderID: id, Owner: n.owner}), r.Err()
	}
	if price == n.price && qty <= n.open {
		lv := &b.levels[n.level]
		lv.open -= n.open - qty
		b.held[n.side] -= n.open - qty
		n.open = qty
		if n.visible > qty {
			lv.vis -= n.visible - qty
			n.visible = qty
		}
		dst, ev := addEvent(dst)
		ev.Kind, ev.Side, ev.KeptPriority = EvAmended, n.side, true
		ev.OrderID, ev.Owner, ev.Price, ev.Qty = id, n.owner, price, qty
		ev.Handle = handleOf(v)
		return dst, nil
	}
	var t taker // field by field (see taker.init)
	t.id, t.owner, t.price, t.qty, t.byQty, t.display = id, n.owner, price, qty, true, n.display
	t.side, t.tif, t.stp, t.postOnly = n.side, GTC, n.stp, n.postOnly
	at := len(dst)
	dst, ev := addEvent(dst)
	ev.Kind, ev.Side, ev.OrderID, ev.Owner, ev.Price, ev.Qty = EvAmended, n.side, id, n.owner, price, qty
	b.removeNode(v)
	dst = b.execute(dst, &t, at)
	return b.releaseStops(dst), nil
}
