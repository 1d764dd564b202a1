package book

import (
	"sync/atomic"
	"unsafe"
)

// GrowAhead returns a function that makes the arrays the book's next
// growth will take (its next page of resting orders, its order index's
// next table, or both), or nil if no growth is near, the arrays are
// small, or they are already asked for. A growth is near when it is at
// most within more resting orders away, or the book is 7/8 of the way to
// it: pass the most orders the caller may place before it calls
// GrowAhead again.
//
// The function may run on any goroutine, while the book is in use: it
// shares nothing with the book but the arrays it hands over. The growth
// takes them if they are ready by then, and makes its own otherwise; the
// book behaves the same either way, so it stays deterministic. The book
// starts no goroutine itself: its owner runs the function, e.g. with go.
//
// Growth is incremental (no command copies a large book at once), but
// making a large array costs its maker time: the Go runtime zeroes memory
// it reuses, and faults in pages that were returned to the system (a
// page of 4,096 resting orders is 256 KiB; the index's table for a
// million orders is 32 MB: 5–30 ms). An owner that cannot wait that long,
// as the engine's matcher, calls GrowAhead after each batch of commands,
// with the most orders the next batch may add as within, and runs what it
// returns elsewhere. Reserve avoids growth
// altogether.
func (b *Book) GrowAhead(within int) func() {
	fn := b.nodesAhead(within)
	if b.noIndex {
		return fn
	}
	fi := b.index.growAhead(within)
	switch {
	case fn == nil:
		return fi
	case fi == nil:
		return fn
	}
	return func() { fn(); fi() }
}

// nodesAhead asks for the node page the next growNodes adds, if that is
// near: it comes when every node is in use (each resting order holds
// one). The first page grows by copying and is not asked for.
func (b *Book) nodesAhead(within int) func() {
	if len(b.pages) == 1 && len(b.pages[0]) < nodePageLen ||
		b.capNodes-b.resting > max(within, nodePageLen/8) {
		return nil
	}
	if b.ahead == nil {
		b.ahead = new(aheadArray[node])
	}
	return b.ahead.ask(nodePageLen)
}

// newPage returns an empty node page: the one made ahead for it, if it
// is ready.
func (b *Book) newPage() []node {
	if b.ahead == nil {
		return make([]node, nodePageLen)
	}
	return b.ahead.take(nodePageLen)
}

// growAhead is GrowAhead for the index.
func (x *idIndex) growAhead(within int) func() {
	size := 2 * len(x.t.slots)
	if len(x.t.slots)/2-x.n > max(within, len(x.t.slots)/16) || size*idSlotBytes < aheadMinBytes {
		return nil
	}
	if x.ahead == nil {
		x.ahead = new(aheadArray[idSlot])
	}
	return x.ahead.ask(size)
}

// newTable returns an empty table of 1<<bits slots: the one made ahead
// for it, if it is ready.
func (x *idIndex) newTable(bits uint8) idTable {
	if x.ahead == nil {
		return newIDTable(bits)
	}
	return idTable{slots: x.ahead.take(1 << bits), mask: 1<<bits - 1, shift: 64 - bits}
}

// aheadArray is one array of T made ahead of need, by a function that
// ask returns and another goroutine runs; take hands it over. It is a
// copy of the engine's internal/ahead.Array (book imports nothing of
// ours); see there.
type aheadArray[T any] struct {
	asked atomic.Int64        // length asked for; 0 if none
	ready atomic.Pointer[[]T] // made, not yet taken
}

// aheadMinBytes is the size below which an array is made when needed, not
// ahead: it takes well under 0.1 ms.
const aheadMinBytes = 256 << 10

// The sizes of the elements of the arrays made ahead.
const (
	nodeBytes   = int(unsafe.Sizeof(node{}))
	idSlotBytes = int(unsafe.Sizeof(idSlot{}))
)

// ask returns a function that makes a zeroed array of n elements for a
// later take, or nil if one of n is already asked for.
func (a *aheadArray[T]) ask(n int) func() {
	if a.asked.Load() == int64(n) {
		return nil
	}
	a.asked.Store(int64(n))
	a.ready.Store(nil)
	return func() {
		s := make([]T, n)
		if a.asked.Load() == int64(n) {
			a.ready.Store(&s)
		}
	}
}

// take returns a zeroed array of n elements, the one asked for if it is
// ready, and ends the ask.
func (a *aheadArray[T]) take(n int) []T {
	asked := a.asked.Swap(0)
	if p := a.ready.Swap(nil); p != nil && asked == int64(n) && len(*p) == n {
		return *p
	}
	return make([]T, n)
}
