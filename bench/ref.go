package bench

import (
	"fmt"

	"github.com/instant-social-trading/ist/book"
)

// refBook is a deliberately simple price-time matcher used by the
// generator to know which orders rest (so that cancels are valid) and to
// compute the expected end state. It shares no code with package book.
//
// Each side keeps its levels in a map and their prices in a binary heap
// ordered best first. A level that empties stays in the map (and the heap)
// until it reaches the top of the heap, where it is dropped lazily; a
// cancelled order is marked dead in its level's queue and skipped when the
// queue reaches it.
type refBook struct {
	sides     [2]refSide
	orders    map[uint64]*refOrder
	live      []*refOrder // resting orders, for picking random cancels
	trades    int64
	tradedQty int64
}

type refOrder struct {
	id      uint64
	side    book.Side
	price   int64
	qty     int64 // open quantity; 0 once filled or cancelled
	liveIdx int
}

type refLevel struct {
	queue  []*refOrder // arrival order; dead orders (qty 0) are skipped
	head   int         // first possibly-live entry of queue
	orders int         // live orders
	qty    int64       // their open quantity
}

type refSide struct {
	sell   bool
	levels map[int64]*refLevel
	heap   []int64 // prices of levels in the map, best at heap[0]
	nlv    int     // non-empty levels
	qty    int64   // open quantity on the side
}

func newRefBook() *refBook {
	r := &refBook{orders: map[uint64]*refOrder{}}
	r.sides[book.Buy] = refSide{levels: map[int64]*refLevel{}}
	r.sides[book.Sell] = refSide{sell: true, levels: map[int64]*refLevel{}}
	return r
}

// better reports whether price a is strictly better than b on side s.
func (s *refSide) better(a, b int64) bool {
	if s.sell {
		return a < b
	}
	return a > b
}

func (s *refSide) push(p int64) {
	h := append(s.heap, p)
	i := len(h) - 1
	for i > 0 {
		up := (i - 1) / 2
		if !s.better(h[i], h[up]) {
			break
		}
		h[i], h[up] = h[up], h[i]
		i = up
	}
	s.heap = h
}

func (s *refSide) pop() {
	h := s.heap
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s.better(h[l], h[m]) {
			m = l
		}
		if r < n && s.better(h[r], h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	s.heap = h
}

// top returns the best non-empty level, dropping empty ones on the way.
func (s *refSide) top() (int64, *refLevel) {
	for len(s.heap) > 0 {
		p := s.heap[0]
		l := s.levels[p]
		if l.orders > 0 {
			return p, l
		}
		delete(s.levels, p)
		s.pop()
	}
	return 0, nil
}

func (s *refSide) add(o *refOrder) {
	l := s.levels[o.price]
	if l == nil {
		l = &refLevel{}
		s.levels[o.price] = l
		s.push(o.price)
	}
	if l.orders == 0 {
		s.nlv++
		l.queue, l.head = l.queue[:0], 0
	}
	l.queue = append(l.queue, o)
	l.orders++
	l.qty += o.qty
	s.qty += o.qty
}

// reduce takes q off o's open quantity (all of it when it is cancelled or
// fully filled) and keeps the side's counters.
func (r *refBook) reduce(o *refOrder, q int64) {
	s := &r.sides[o.side]
	l := s.levels[o.price]
	o.qty -= q
	l.qty -= q
	s.qty -= q
	if o.qty > 0 {
		return
	}
	l.orders--
	if l.orders == 0 {
		s.nlv--
	}
	// Drop from the live set.
	last := r.live[len(r.live)-1]
	r.live[o.liveIdx] = last
	last.liveIdx = o.liveIdx
	r.live = r.live[:len(r.live)-1]
	delete(r.orders, o.id)
}

// take matches qty against the side opposite to taker, up to limit unless
// market, and returns what is left.
func (r *refBook) take(taker book.Side, qty, limit int64, market bool) int64 {
	opp := &r.sides[taker.Opposite()]
	for qty > 0 {
		p, l := opp.top()
		if l == nil {
			break
		}
		if !market && opp.better(limit, p) {
			break // the best opposite price is worse than the limit
		}
		for l.queue[l.head].qty == 0 {
			l.head++
		}
		m := l.queue[l.head]
		fill := min(qty, m.qty)
		qty -= fill
		r.trades++
		r.tradedQty += fill
		r.reduce(m, fill)
		if m.qty == 0 {
			l.head++
			if l.head > 64 && l.head*2 > len(l.queue) {
				n := copy(l.queue, l.queue[l.head:])
				clear(l.queue[n:])
				l.queue, l.head = l.queue[:n], 0
			}
		}
	}
	return qty
}

func (r *refBook) apply(op *Op) {
	switch op.Kind {
	case OpLimit:
		left := r.take(op.Side, op.Qty, op.Price, false)
		if left > 0 {
			o := &refOrder{id: op.ID, side: op.Side, price: op.Price, qty: left, liveIdx: len(r.live)}
			r.live = append(r.live, o)
			r.orders[o.id] = o
			r.sides[op.Side].add(o)
		}
	case OpMarket:
		r.take(op.Side, op.Qty, 0, true)
	case OpCancel:
		o := r.orders[op.ID]
		if o == nil {
			panic(fmt.Sprintf("bench: reference: cancel of order %d, which is not resting", op.ID))
		}
		r.reduce(o, o.qty)
	}
}

func (r *refBook) best(side book.Side) (int64, bool) {
	p, l := r.sides[side].top()
	return p, l != nil
}

func (r *refBook) end() End {
	bid, _ := r.best(book.Buy)
	ask, _ := r.best(book.Sell)
	return End{
		"traded_qty":     r.tradedQty,
		"trades":         r.trades,
		"resting_orders": int64(len(r.live)),
		"bid_levels":     int64(r.sides[book.Buy].nlv),
		"bid_qty":        r.sides[book.Buy].qty,
		"best_bid":       bid,
		"ask_levels":     int64(r.sides[book.Sell].nlv),
		"ask_qty":        r.sides[book.Sell].qty,
		"best_ask":       ask,
	}
}
