package book

import "fmt"

// idIndex maps order ids to slots: an open-addressing hash table with
// linear probing and backward-shift deletion, so that neither inserts nor
// deletes allocate once the table is large enough. Key 0 marks an empty
// slot (0 is never a valid order id). A value v >= 0 is a resting order's
// node index; v < 0 is pending stop slot -v-1.
//
// It grows incrementally, as internal/idmap (of which this is a copy so
// that book imports nothing of ours) does: a table twice
// the size, into which each later put moves a few of the old table's
// keys, so that no single order pays for rehashing them all.
type idIndex struct {
	t    idTable // where put inserts
	n    int     // keys in both tables
	left int     // slots of old not yet walked; 0 while not growing
	// top is the largest key ever put: a larger one is absent without a
	// probe, which spares a new order's duplicate check a cache miss
	// when ids only grow (as the engine assigns them).
	top uint64
	// While the index grows, old holds the keys not yet moved into t. The
	// move walks old from its first slot to its last and clears each key
	// it moves; it stops only after an empty slot, never within a cluster
	// (a run of full slots), so what it leaves in old are whole clusters,
	// or the end of the one that wraps around to slot 0: their probe runs
	// are intact. Deletes there shift keys within their cluster, nothing
	// is inserted into old, and every key is in one table only. (The
	// fields used only while growing come last, out of the hot ones'
	// cache line.)
	old  idTable // noOld while not growing
	oldN int     // keys in old
	next uint64  // next slot of old to walk: the walked ones are below
	// ahead is the table the next growth takes if it was made in time
	// on another goroutine (Book.GrowAhead); nil until growAhead asks.
	ahead *aheadArray[idSlot]
}

// idTable is one open-addressing table.
type idTable struct {
	slots []idSlot
	mask  uint64 // len(slots) - 1
	shift uint8  // 64 - log2(len(slots))
}

type idSlot struct {
	key uint64
	val int32
}

const fib64 = 0x9E3779B97F4A7C15 // 2^64 / golden ratio: Fibonacci hashing

// moveStep is how many slots of the old table each put walks, at least
// (it stops after an empty slot): the new table, twice the size and kept
// at most half full, has room for as many puts as the old table has slots
// over two, and the walk ends in a quarter of that.
const moveStep = 4

func newIDTable(bits uint8) idTable {
	return idTable{slots: make([]idSlot, 1<<bits), mask: 1<<bits - 1, shift: 64 - bits}
}

// noOld is the old table while an index does not grow: one empty slot,
// never written, that get probes on a miss (home is slot 0, as a shift by
// 64 gives 0), so that get has no test for growth and stays small enough
// to inline.
var noOld = [1]idSlot{}

func newIDIndex(capacity int) idIndex {
	return idIndex{t: newIDTable(indexBits(4, capacity)), old: idTable{slots: noOld[:], shift: 64}}
}

// indexBits returns the least number of bits, at least bits, of a table
// that holds n keys at most half full.
func indexBits(bits uint8, n int) uint8 {
	for (1<<bits)/2 < n {
		bits++
	}
	return bits
}

func (t *idTable) home(key uint64) uint64 { return (key * fib64) >> t.shift }

// find returns the slot of key, or ok false and the empty slot where the
// probe for key ended.
func (t *idTable) find(key uint64) (i uint64, ok bool) {
	mask := t.mask
	for i = t.home(key); ; i = (i + 1) & mask {
		k := t.slots[i].key
		if k == key {
			return i, true
		}
		if k == 0 {
			return i, false
		}
	}
}

// set puts key (absent) in t.
func (t *idTable) set(key uint64, val int32) {
	i, _ := t.find(key)
	t.slots[i] = idSlot{key: key, val: val}
}

// get returns key's value. It inlines (a call would cost a cancel more
// than its own time: the CPU overlaps less of the next order's work).
func (x *idIndex) get(key uint64) (int32, bool) {
	if key-1 >= x.top {
		return 0, false // above every id put, or 0 (which marks empty slots)
	}
	for t := &x.t; ; t = &x.old {
		for i := t.home(key); t.slots[i].key != 0; i = (i + 1) & t.mask {
			if t.slots[i].key == key {
				return t.slots[i].val, true
			}
		}
		if t == &x.old {
			return 0, false
		}
	}
}

// put inserts or replaces key. The table is kept at most half full.
func (x *idIndex) put(key uint64, val int32) {
	x.top = max(x.top, key)
	if x.left != 0 {
		if i, ok := x.old.find(key); ok {
			x.old.slots[i].val = val
			x.move()
			return
		}
		x.move()
	}
	i, ok := x.t.find(key)
	switch {
	case ok:
		x.t.slots[i].val = val
		return
	case 2*(x.n+1) > len(x.t.slots):
		x.grow()
		x.t.set(key, val)
	default:
		x.t.slots[i] = idSlot{key: key, val: val}
	}
	x.n++
}

// del removes key if present.
func (x *idIndex) del(key uint64) {
	t := &x.t
	i, ok := t.find(key)
	if key == 0 {
		return // 0 marks empty slots: find "found" one
	}
	if !ok {
		if x.left == 0 {
			return
		}
		t = &x.old
		if i, ok = t.find(key); !ok {
			return
		}
		if x.oldN--; x.oldN == 0 {
			// The last key not yet moved: the growth is over (as move
			// ends it), and check finds no empty old table.
			x.n--
			t.slots[i] = idSlot{}
			x.old, x.left = idTable{slots: noOld[:], shift: 64}, 0
			return
		}
	}
	x.n--
	// Shift later keys of the probe run back into the hole, so that
	// lookups never need tombstones. (Here, not in a function of
	// idTable's: the call would cost a cancel more than the code.)
	mask := t.mask
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		s := t.slots[j]
		if s.key == 0 {
			break
		}
		h := t.home(s.key)
		// Move s back to the hole at i unless its home lies cyclically
		// in (i, j].
		if (j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j)) {
			t.slots[i] = s
			i = j
		}
	}
	t.slots[i] = idSlot{}
}

// grow starts moving every key into a table twice the size.
func (x *idIndex) grow() {
	x.finish()
	x.old, x.oldN = x.t, x.n
	x.t = x.newTable(64 - x.t.shift + 1)
	x.next, x.left = 0, len(x.old.slots)
}

// move walks at least moveStep slots of the old table, moving their keys,
// and on to the next empty slot; it drops the old table once it is empty.
func (x *idIndex) move() {
	for walked := 0; x.oldN > 0; walked++ {
		i := x.next
		x.next++
		x.left--
		s := x.old.slots[i]
		if s.key == 0 {
			if walked >= moveStep {
				return
			}
			continue
		}
		x.old.slots[i] = idSlot{}
		x.oldN--
		x.t.set(s.key, s.val)
	}
	x.old, x.left = idTable{slots: noOld[:], shift: 64}, 0
}

// finish moves what is left of the old table.
func (x *idIndex) finish() {
	for x.left != 0 {
		x.move()
	}
}

// reserve rehashes now, all at once, if needed, so that n keys fit
// without growth.
func (x *idIndex) reserve(n int) {
	x.finish()
	if bits := indexBits(64-x.t.shift, n); bits > 64-x.t.shift {
		old := x.t
		x.t = x.newTable(bits)
		for _, s := range old.slots {
			if s.key != 0 {
				x.t.set(s.key, s.val)
			}
		}
	}
}

// check verifies the index's own invariants: every key is found, in one
// table only, the counts are right, and the old table's walked part is
// empty.
func (x *idIndex) check() error {
	n := 0
	for _, s := range x.t.slots {
		if s.key == 0 {
			continue
		}
		if n++; s.key > x.top {
			return fmt.Errorf("book: index key %d above its top %d", s.key, x.top)
		}
		if _, ok := x.t.find(s.key); !ok {
			return fmt.Errorf("book: index key %d unreachable", s.key)
		}
	}
	if 2*n > len(x.t.slots) {
		return fmt.Errorf("book: index over half full: %d keys in %d slots", n, len(x.t.slots))
	}
	if x.left == 0 {
		if &x.old.slots[0] != &noOld[0] || x.oldN != 0 {
			return fmt.Errorf("book: index not growing, but an old table of %d slots, %d keys", len(x.old.slots), x.oldN)
		}
	} else {
		oldN := 0
		for i, s := range x.old.slots {
			if s.key == 0 {
				continue
			}
			oldN++
			if _, ok := x.old.find(s.key); !ok {
				return fmt.Errorf("book: index key %d unreachable in the old table", s.key)
			}
			if _, ok := x.t.find(s.key); ok {
				return fmt.Errorf("book: index key %d in both tables", s.key)
			}
			if uint64(i) < x.next {
				return fmt.Errorf("book: index key %d in the old table's walked part", s.key)
			}
		}
		if oldN != x.oldN || oldN == 0 {
			return fmt.Errorf("book: index's old table holds %d keys, counted %d", oldN, x.oldN)
		}
		n += oldN
	}
	if n != x.n {
		return fmt.Errorf("book: index holds %d keys, counted %d", n, x.n)
	}
	return nil
}
