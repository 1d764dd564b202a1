package book

import (
	"fmt"
	"math"
)

// Check verifies the book's internal invariants and returns the first
// violation found: every level's totals are positive and equal the sum of
// its orders, without wrapping; each side's total open quantity, with what
// its pending GTC stop-limits may rest, fits in an int64; queue
// links and the id index agree, the book is not crossed, the cached best
// levels are the best, no slab entry is leaked, free nodes and stop slots
// hold no order (a stale Handle finds nothing there), and no pending stop
// is already triggered. It walks the whole book: use it in tests.
func (b *Book) Check() error {
	// First: the walks below look nodes up in the pages.
	if err := b.checkPages(); err != nil {
		return err
	}
	seenNodes := 0
	var sideOpen [2]int64 // by side, summed without wrapping
	for side := Buy; side <= Sell; side++ {
		s := &b.sides[side]
		var err error
		first := true
		empty := 0
		s.tree.Scan(func(key int64, li int32) bool {
			lv := &b.levels[li]
			if lv.count == 0 {
				empty++
				if levelKey(side, lv.price) != key || lv.side != side || lv.head != nilIdx || lv.tail != nilIdx || lv.vis != 0 || lv.open != 0 {
					err = fmt.Errorf("book: empty level %d under key %d is not clean: %+v", li, key, *lv)
					return false
				}
				return true
			}
			if first {
				first = false
				if s.best != li {
					err = fmt.Errorf("book: %s best level %d, first non-empty level %d", side, s.best, li)
					return false
				}
			}
			var n int
			if n, err = b.checkLevel(side, key, li); err != nil {
				return false
			}
			if lv.open > math.MaxInt64-sideOpen[side] {
				err = fmt.Errorf("book: %s side total overflows an int64 at level %d (price %d)", side, li, lv.price)
				return false
			}
			sideOpen[side] += lv.open
			seenNodes += n
			return true
		})
		if err != nil {
			return err
		}
		if first && s.best != nilIdx {
			return fmt.Errorf("book: %s side empty but best level is %d", side, s.best)
		}
		if empty != s.empty {
			return fmt.Errorf("book: %s side has %d empty levels, counted %d", side, empty, s.empty)
		}
	}
	if bid, _, ok := b.BestBid(); ok {
		if ask, _, ok := b.BestAsk(); ok && bid >= ask {
			return fmt.Errorf("book: crossed: bid %d >= ask %d", bid, ask)
		}
	}
	if seenNodes != b.resting {
		return fmt.Errorf("book: %d orders in levels, resting count %d", seenNodes, b.resting)
	}
	free := 0
	for i := b.freeNode; i != nilIdx; i = b.node(i).next {
		if i < 0 || i >= b.nnodes {
			return fmt.Errorf("book: node free list holds node %d of %d", i, b.nnodes)
		}
		if free++; free > int(b.nnodes) {
			return fmt.Errorf("book: node free list has a cycle")
		}
		if id := b.node(i).id; id != 0 {
			// A stale handle would find order id there (see at).
			return fmt.Errorf("book: free node %d holds order %d", i, id)
		}
	}
	if seenNodes+free != int(b.nnodes) {
		return fmt.Errorf("book: node slab leak: %d live + %d free != %d", seenNodes, free, b.nnodes)
	}
	freeLv := 0
	for i := b.freeLvl; i != nilIdx; i = b.levels[i].head {
		if freeLv++; freeLv > len(b.levels) {
			return fmt.Errorf("book: level free list has a cycle")
		}
	}
	if n := b.sides[Buy].tree.Len() + b.sides[Sell].tree.Len() + freeLv; n != len(b.levels) {
		return fmt.Errorf("book: level slab leak: %d in trees + free != %d", n, len(b.levels))
	}
	stopHeld, err := b.checkStops()
	if err != nil {
		return err
	}
	for side := Buy; side <= Sell; side++ {
		if stopHeld[side] > math.MaxInt64-sideOpen[side] {
			return fmt.Errorf("book: %s side total overflows an int64: resting %d, stop-limits %d", side, sideOpen[side], stopHeld[side])
		}
		if h := sideOpen[side] + stopHeld[side]; h != b.held[side] {
			return fmt.Errorf("book: %s side total %d, levels hold %d and stop-limits %d", side, b.held[side], sideOpen[side], stopHeld[side])
		}
	}
	if b.noIndex {
		if b.index.n != 0 || b.index.t.slots != nil {
			return fmt.Errorf("book: no index, but one of %d ids", b.index.n)
		}
		return nil
	}
	if err := b.index.check(); err != nil {
		return err
	}
	if b.index.n != b.resting+b.stops.len() {
		return fmt.Errorf("book: index holds %d ids, %d resting + %d stops", b.index.n, b.resting, b.stops.len())
	}
	return nil
}

// checkLevel checks one level and its queue and returns its order count.
func (b *Book) checkLevel(side Side, key int64, li int32) (int, error) {
	lv := &b.levels[li]
	if levelKey(side, lv.price) != key {
		return 0, fmt.Errorf("book: level %d price %d under key %d", li, lv.price, key)
	}
	var vis, open int64
	n := 0
	prev := int32(nilIdx)
	for ni := lv.head; ni != nilIdx; ni = b.node(ni).next {
		if ni < 0 || ni >= b.nnodes {
			return 0, fmt.Errorf("book: level %d queue holds node %d, past the %d handed out", li, ni, b.nnodes)
		}
		o := b.node(ni)
		switch {
		case o.id == 0:
			return 0, fmt.Errorf("book: level %d queue holds node %d, free (id 0)", li, ni)
		case o.prev != prev:
			return 0, fmt.Errorf("book: order %d prev link %d, want %d", o.id, o.prev, prev)
		case o.level != li || o.side != side || o.price != lv.price:
			return 0, fmt.Errorf("book: order %d in level %d (%s %d) says level %d (%s %d)",
				o.id, li, side, lv.price, o.level, o.side, o.price)
		case o.open <= 0 || o.visible <= 0 || o.visible > o.open:
			return 0, fmt.Errorf("book: order %d open %d visible %d", o.id, o.open, o.visible)
		case o.display == 0 && o.visible != o.open:
			return 0, fmt.Errorf("book: order %d hides %d without being an iceberg", o.id, o.open-o.visible)
		case o.display != 0 && o.visible > o.display:
			return 0, fmt.Errorf("book: iceberg %d shows %d > display %d", o.id, o.visible, o.display)
		}
		if v, ok := b.index.get(o.id); !b.noIndex && (!ok || v != ni) {
			return 0, fmt.Errorf("book: index of order %d is %d,%v, want %d", o.id, v, ok, ni)
		}
		if o.open > math.MaxInt64-open {
			return 0, fmt.Errorf("book: level %d (price %d) total overflows an int64 at order %d", li, lv.price, o.id)
		}
		vis += o.visible
		open += o.open
		prev = ni
		if n++; n > int(b.nnodes) {
			return 0, fmt.Errorf("book: level %d queue has a cycle", li)
		}
	}
	switch {
	case n == 0:
		return 0, fmt.Errorf("book: empty level %d at price %d", li, lv.price)
	case lv.tail != prev:
		return 0, fmt.Errorf("book: level %d tail %d, want %d", li, lv.tail, prev)
	case lv.vis <= 0 || lv.open < lv.vis:
		return 0, fmt.Errorf("book: level %d (price %d) totals vis=%d open=%d not positive", li, lv.price, lv.vis, lv.open)
	case int(lv.count) != n || lv.vis != vis || lv.open != open:
		return 0, fmt.Errorf("book: level %d totals count=%d vis=%d open=%d, orders give %d %d %d",
			li, lv.count, lv.vis, lv.open, n, vis, open)
	}
	return n, nil
}

// checkStops checks the pending stops against their trees and the index,
// and returns by side the quantity of the GTC stop-limits (which may rest).
func (b *Book) checkStops() (held [2]int64, _ error) {
	q := &b.stops
	n := 0
	for side := Buy; side <= Sell; side++ {
		var err error
		q.trees[side].Scan(func(k stopKey) bool {
			n++
			ps := &q.slots[k.slot]
			if ps.key != k || ps.order.Side != side {
				err = fmt.Errorf("book: stop slot %d holds %+v, tree says %+v", k.slot, ps.key, k)
				return false
			}
			if mayRest(&ps.order) {
				if ps.order.Qty <= 0 || ps.order.Qty > math.MaxInt64-held[side] {
					err = fmt.Errorf("book: %s stop-limits' total overflows at stop %d (quantity %d)", side, ps.order.ID, ps.order.Qty)
					return false
				}
				held[side] += ps.order.Qty
			}
			if v, ok := b.index.get(ps.order.ID); !b.noIndex && (!ok || v != -k.slot-1) {
				err = fmt.Errorf("book: index of stop %d is %d,%v", ps.order.ID, v, ok)
				return false
			}
			return true
		})
		if err != nil {
			return held, err
		}
	}
	if n != q.n || n+len(q.free) != len(q.slots) {
		return held, fmt.Errorf("book: %d stops in trees, count %d, %d free of %d slots", n, q.n, len(q.free), len(q.slots))
	}
	for _, slot := range q.free {
		if slot < 0 || int(slot) >= len(q.slots) || q.slots[slot].order.ID != 0 {
			// A stale handle would find the order there (see at).
			return held, fmt.Errorf("book: free stop slot %d is not free", slot)
		}
	}
	if _, ok := q.triggered(b.last); ok {
		return held, fmt.Errorf("book: a pending stop is triggered by last price %d", b.last)
	}
	return held, nil
}

// checkPages checks the node pages' shape: a first page of at least one
// node, of nodePageLen nodes if others follow, which all have
// nodePageLen; capNodes their total, nnodes within it.
func (b *Book) checkPages() error {
	if len(b.pages) == 0 || len(b.pages[0]) == 0 {
		return fmt.Errorf("book: no node page")
	}
	total := 0
	for k, p := range b.pages {
		if len(p) > nodePageLen || len(p) < nodePageLen && (k > 0 || len(b.pages) > 1) {
			return fmt.Errorf("book: node page %d of %d holds %d nodes", k, len(b.pages), len(p))
		}
		total += len(p)
	}
	if total != b.capNodes || b.nnodes < 0 || int(b.nnodes) > total {
		return fmt.Errorf("book: node pages hold %d nodes, capNodes %d, %d handed out", total, b.capNodes, b.nnodes)
	}
	return nil
}
