package book

import "github.com/tidwall/btree"

// stopKey orders pending stops of one side in release order: key is the
// stop price for buys (lowest first) and -stop price for sells (highest
// first); seq breaks ties by arrival.
type stopKey struct {
	key  int64
	seq  uint64
	slot int32
}

func stopLess(a, b stopKey) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return a.seq < b.seq
}

// stopQueue holds the stop orders that have not triggered yet. Stops are
// rare next to limit orders, so they keep the whole Order.
type stopQueue struct {
	trees [2]*btree.BTreeG[stopKey]
	slots []pendingStop
	free  []int32
	n     int
}

// mayRest reports whether o, a stop order, may rest in the book once
// released: its quantity counts in Book.held.
func mayRest(o *Order) bool { return o.Type == StopLimit && o.TIF == GTC }

// putStop stores o, a validated stop order, indexes it and returns its
// index value.
func (b *Book) putStop(o *Order) int32 {
	v := b.stops.add(o, b.seq)
	if !b.noIndex {
		b.index.put(o.ID, v)
	}
	if mayRest(o) {
		b.held[o.Side] += o.Qty
	}
	return v
}

// takeStop removes the stop with index value v and returns its order.
func (b *Book) takeStop(v int32) Order {
	o := b.stops.remove(v)
	if !b.noIndex {
		b.index.del(o.ID)
	}
	if mayRest(&o) {
		b.held[o.Side] -= o.Qty
	}
	return o
}

type pendingStop struct {
	order Order
	key   stopKey
}

func (q *stopQueue) init() {
	for i := range q.trees {
		q.trees[i] = btree.NewBTreeGOptions(stopLess, btree.Options{NoLocks: true})
	}
}

func (q *stopQueue) len() int { return q.n }

// add stores o (a validated stop order) and returns its index value
// (negative, as stored in idIndex).
func (q *stopQueue) add(o *Order, seq uint64) int32 {
	var slot int32
	if k := len(q.free); k > 0 {
		slot = q.free[k-1]
		q.free = q.free[:k-1]
	} else {
		q.slots = append(q.slots, pendingStop{})
		slot = int32(len(q.slots) - 1)
	}
	key := stopKey{key: o.StopPrice, seq: seq, slot: slot}
	if o.Side == Sell {
		key.key = -o.StopPrice
	}
	q.slots[slot] = pendingStop{order: *o, key: key}
	q.trees[o.Side].Set(key)
	q.n++
	return -slot - 1
}

// remove deletes the stop with index value v and returns its order.
func (q *stopQueue) remove(v int32) Order {
	slot := -v - 1
	ps := &q.slots[slot]
	o := ps.order
	q.trees[o.Side].Delete(ps.key)
	*ps = pendingStop{}
	q.free = append(q.free, slot)
	q.n--
	return o
}

// order returns the pending stop with index value v.
func (q *stopQueue) order(v int32) *Order { return &q.slots[-v-1].order }

// triggered returns the index value of the next stop to release at last
// trade price last, if any: a buy stop first, then a sell stop.
func (q *stopQueue) triggered(last int64) (int32, bool) {
	if q.n == 0 || last == 0 {
		return 0, false
	}
	if k, ok := q.trees[Buy].Min(); ok && last >= k.key {
		return -k.slot - 1, true
	}
	if k, ok := q.trees[Sell].Min(); ok && last <= -k.key {
		return -k.slot - 1, true
	}
	return 0, false
}

func (q *stopQueue) info(v int32) OrderInfo {
	o := q.order(v)
	return OrderInfo{
		ID: o.ID, Owner: o.Owner, Side: o.Side, Type: o.Type, TIF: o.TIF, STP: o.STP,
		Price: o.Price, StopPrice: o.StopPrice, Open: o.Qty, DisplayQty: o.DisplayQty,
		QuoteBudget: o.QuoteBudget, Stop: true,
	}
}

// all yields the pending stops, buys then sells, each in release order.
func (q *stopQueue) all(yield func(OrderInfo) bool) {
	for side := Buy; side <= Sell; side++ {
		more := true
		q.trees[side].Scan(func(k stopKey) bool {
			more = yield(q.info(-k.slot - 1))
			return more
		})
		if !more {
			return
		}
	}
}

// SetStopBudget sets the quote budget of pending stop buy id, one placed
// with a budget (Order.QuoteBudget), to budget, as if it had been placed
// with it: the order keeps its place among the stops and nothing else of
// it changes; no event is emitted. The engine uses it when a change of the
// market's fees changes what the quote it reserved buys. It refuses, with
// the error Place gives and changing nothing: an id that is not live
// (ErrUnknownOrder); a resting order, a stop without a budget and a budget
// below 1 (ErrInvalidBudget); and for a stop sized by its budget alone (no
// quantity) a budget below MinNotional (ErrBelowMinNotional).
func (b *Book) SetStopBudget(id uint64, budget int64) error {
	v, ok := b.index.get(id)
	if !ok {
		return ErrUnknownOrder
	}
	return b.setStopBudget(v, budget)
}

// setStopBudget is SetStopBudget for the live order with index value v.
func (b *Book) setStopBudget(v int32, budget int64) error {
	if v >= 0 {
		return ErrInvalidBudget
	}
	o := b.stops.order(v)
	switch {
	case o.QuoteBudget <= 0 || budget < 1:
		return ErrInvalidBudget
	case o.Qty == 0 && budget < b.rules.MinNotional:
		return ErrBelowMinNotional
	}
	o.QuoteBudget = budget
	return nil
}
