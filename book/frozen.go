package book

import "iter"

// Frozen is a copy of a book's live orders, taken by Book.FreezeInto,
// that another goroutine can iterate while the book goes on changing: a
// snapshot's encoder reads it instead of pausing the book's owner for
// the whole of its encoding. Taking it copies the book's order and level
// arrays (memory copies, no lookups), reusing the Frozen's memory from
// the last time: keep one Frozen per book and refreeze it.
//
// The zero Frozen is empty. A Frozen is not safe for concurrent use, but
// it shares no memory with its book: once FreezeInto returns, the book
// and the Frozen may be used on different goroutines.
type Frozen struct {
	nodes  []node
	levels []level
	order  [2][]int32  // level indices of each side, best first
	stops  []OrderInfo // pending stops, in All's order
	n      int         // resting orders
}

// FreezeInto makes f a copy of b's live orders, reusing f's memory.
func (b *Book) FreezeInto(f *Frozen) {
	f.nodes = b.appendNodes(f.nodes[:0])
	f.levels = append(f.levels[:0], b.levels...)
	for side := Buy; side <= Sell; side++ {
		o := f.order[side][:0]
		b.sides[side].tree.Scan(func(_ int64, li int32) bool {
			o = append(o, li)
			return true
		})
		f.order[side] = o
	}
	f.stops = f.stops[:0]
	b.stops.all(func(o OrderInfo) bool {
		f.stops = append(f.stops, o)
		return true
	})
	f.n = b.resting
}

// Len returns the number of orders All yields: resting orders and
// pending stops.
func (f *Frozen) Len() int { return f.n + len(f.stops) }

// All iterates over the frozen orders in the order of Book.All when the
// copy was taken.
func (f *Frozen) All() iter.Seq[OrderInfo] {
	return func(yield func(OrderInfo) bool) {
		for side := Buy; side <= Sell; side++ {
			for _, li := range f.order[side] {
				for ni := f.levels[li].head; ni != nilIdx; ni = f.nodes[ni].next {
					if !yield(f.nodes[ni].info()) {
						return
					}
				}
			}
		}
		for _, o := range f.stops {
			if !yield(o) {
				return
			}
		}
	}
}
