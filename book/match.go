package book

// match trades t against the opposite side, best price first and in queue
// order within a price, applying self-trade prevention. stopped reports
// that self-trade prevention cancelled the rest of t.
func (b *Book) match(dst []Event, t *taker) (_ []Event, stopped bool) {
	side := t.side.Opposite()
	s := &b.sides[side]
	lot := b.rules.LotSize
	for t.left() > 0 {
		li := s.best
		if li == nilIdx {
			break
		}
		lv := &b.levels[li]
		price := lv.price
		if !t.accepts(price) {
			break
		}
		for lv.head != nilIdx {
			want := t.want(price, lot)
			if want == 0 {
				return dst, false
			}
			mi := lv.head
			m := b.node(mi)
			if t.stp != STPNone && m.owner == t.owner {
				if t.stp == STPCancelTaker {
					return t.end(dst, EvCancelled, ReasonSelfTrade), true
				}
				dst = append(dst, Event{Kind: EvCancelled, Side: side, Reason: ReasonSelfTrade,
					OrderID: m.id, Owner: m.owner, Price: price, Qty: m.open})
				last := lv.count == 1
				b.removeNode(mi)
				if t.stp == STPCancelBoth {
					return t.end(dst, EvCancelled, ReasonSelfTrade), true
				}
				if last {
					break // the level is gone
				}
				continue
			}
			fill := min(want, m.visible)
			m.visible -= fill
			m.open -= fill
			lv.vis -= fill
			lv.open -= fill
			b.held[side] -= fill
			if t.byQty {
				t.qty -= fill
			}
			if t.byBudget {
				t.budget -= fill * price
			}
			b.last = price
			var ev *Event
			dst, ev = addEvent(dst)
			ev.Kind, ev.Side, ev.OrderID, ev.Owner = EvTrade, t.side, t.id, t.owner
			ev.MakerID, ev.MakerOwner, ev.MakerRemaining = m.id, m.owner, m.open
			ev.Price, ev.Qty, ev.Remaining = price, fill, t.left()
			if m.open == 0 {
				if lv.count == 1 {
					b.removeNode(mi)
					break
				}
				b.removeNode(mi)
			} else if m.visible == 0 {
				b.refresh(li, mi)
			}
		}
	}
	return dst, false
}

// refresh shows the next slice of an iceberg whose visible slice is used
// up and moves it to the back of its level.
func (b *Book) refresh(li, mi int32) {
	m := b.node(mi)
	b.unlink(m)
	m.visible = min(m.display, m.open)
	b.pushBack(li, mi, m)
}

// fillable reports whether a FOK taker can fill its whole quantity now
// (within its budget, if it has one), under the rules in the package doc.
func (b *Book) fillable(t *taker) bool {
	need := t.qty
	killed := false
	budget := t.budget
	// take counts n of the open quantity at price; false if the budget
	// cannot pay for it.
	take := func(n, price int64) bool {
		n = min(n, need)
		need -= n
		if !t.byBudget {
			return true
		}
		if n > budget/price {
			return false
		}
		budget -= n * price
		return true
	}
	b.sides[t.side.Opposite()].tree.Scan(func(_ int64, li int32) bool {
		lv := &b.levels[li]
		if !t.accepts(lv.price) {
			return false
		}
		if t.stp == STPNone {
			if !take(lv.open, lv.price) {
				killed = true
				return false
			}
			return need > 0
		}
		for ni := lv.head; ni != nilIdx; ni = b.node(ni).next {
			n := b.node(ni)
			if n.owner != t.owner {
				if !take(n.open, lv.price) {
					killed = true
					return false
				}
			} else if t.stp != STPCancelMaker {
				killed = true // own order on a level it must reach
				return false
			}
		}
		return need > 0
	})
	return !killed && need <= 0
}
