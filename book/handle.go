package book

// Handle is where a live order sits in its book: the node of a resting
// order or the slot of a pending stop. It stays the same while the order
// lives, however the book grows (its nodes never move), and is reused
// once the order has left. Place, Amend and the stops they release give
// it in their events (Event.Handle); Restore returns it. The zero Handle
// is none.
//
// A book without an index (Options.NoIndex) finds its orders only so:
// CancelAt, AmendAt, OrderAt and SetStopBudgetAt take the handle with
// the order's id, and refuse it (as the methods by id refuse an unknown
// id) unless the order there is the live order of that id.
type Handle int32

// handleOf returns the Handle of index value v (see idIndex): node v is
// handle v+1, stop slot -v-1 is handle v.
func handleOf(v int32) Handle {
	if v >= 0 {
		return Handle(v + 1)
	}
	return Handle(v)
}

// at returns the index value of live order id at handle h, if that is
// where it is.
func (b *Book) at(h Handle, id uint64) (int32, bool) {
	switch {
	case h > 0:
		v := int32(h) - 1
		return v, v < b.nnodes && id != 0 && b.node(v).id == id
	case h < 0:
		slot := -int(h) - 1
		return int32(h), slot < len(b.stops.slots) && id != 0 && b.stops.slots[slot].order.ID == id
	}
	return 0, false
}

// CancelAt is Cancel of order id at handle h.
func (b *Book) CancelAt(dst []Event, h Handle, id uint64) ([]Event, error) {
	v, ok := b.at(h, id)
	if !ok {
		return unknown(dst, id), ErrUnknownOrder
	}
	return b.cancel(dst, v, id), nil
}

// AmendAt is Amend of order id at handle h. The order's handle may
// change: the EvAmended event gives the new one.
func (b *Book) AmendAt(dst []Event, h Handle, id uint64, price, qty int64) ([]Event, error) {
	v, ok := b.at(h, id)
	if !ok {
		return unknown(dst, id), ErrUnknownOrder
	}
	return b.amend(dst, v, id, price, qty)
}

// OrderAt is Order of order id at handle h.
func (b *Book) OrderAt(h Handle, id uint64) (OrderInfo, bool) {
	v, ok := b.at(h, id)
	if !ok {
		return OrderInfo{}, false
	}
	return b.info(v), true
}

// SetStopBudgetAt is SetStopBudget of order id at handle h.
func (b *Book) SetStopBudgetAt(h Handle, id uint64, budget int64) error {
	v, ok := b.at(h, id)
	if !ok {
		return ErrUnknownOrder
	}
	return b.setStopBudget(v, budget)
}
