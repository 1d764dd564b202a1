// Package idmap is a hash map from non-zero uint64 ids to int32 slot
// numbers that does not allocate once it has grown to its working size:
// open addressing with linear probing, Fibonacci hashing and
// backward-shift deletion (no tombstones). It holds the order ids that
// internal/seqmap keeps out of its pages (the engine's and the read
// model's order indexes); package book keeps its own copy of the same
// structure, as its index of each market's orders, so that it imports
// nothing of ours.
//
// A map that outgrows its table grows incrementally: it allocates a table
// twice the size and moves the old table's keys over a few at a time, with
// each later Put, so that no single Put pays for rehashing the whole map
// (a million keys would stall it for tens of milliseconds). Lookups
// meanwhile probe both tables. Reserve makes the room at once instead.
//
//	m := idmap.New(1024)
//	m.Put(42, 7)
//	v, ok := m.Get(42) // 7, true
//	m.Delete(42)
//
// A Map is not safe for concurrent use.
package idmap

import (
	"unsafe"

	"github.com/instant-social-trading/ist/internal/ahead"
)

const fib64 = 0x9E3779B97F4A7C15 // 2^64 / golden ratio

// moveStep is how many slots of the old table each Put walks, at least:
// it stops after an empty slot. The new table is twice the old one's size
// and is kept at most half full, so the old table's keys (half of its
// slots) leave room for as many Puts again as the old table has slots
// over two; walking 4 slots a Put empties it in a quarter of that.
const moveStep = 4

// Map maps non-zero uint64 keys to int32 values. The zero Map is not
// usable; create one with New.
type Map struct {
	t    table // where Put inserts
	n    int   // keys in both tables
	left int   // slots of old not yet walked; 0 while not growing
	// While the map grows, old holds the keys not yet moved into t. The
	// move walks old from its first slot to its last and clears each key
	// it moves; it stops only after an empty slot, never within a cluster
	// (a run of full slots), so what it leaves in old are whole clusters,
	// or the end of the one that wraps around to slot 0: their probe runs
	// are intact. Deletes there shift keys within their cluster, nothing
	// is inserted into old, and every key is in one table only.
	old  table  // noOld's while not growing
	oldN int    // keys in old
	next uint64 // next slot of old to walk: the walked ones are below
	// ahead is the table the next growth takes if it was made in time on
	// another goroutine (GrowAhead); nil until GrowAhead first asks.
	ahead *ahead.Array[slot]
}

// table is one open-addressing table.
type table struct {
	slots []slot
	mask  uint64 // len(slots) - 1
	shift uint8  // 64 - log2(len(slots))
}

// newTable returns an empty table of 1<<bits slots: the one made ahead
// for it, if it is ready.
func (m *Map) newTable(bits uint8) table {
	if m.ahead == nil {
		return newTable(bits)
	}
	return table{slots: m.ahead.Take(1 << bits), mask: 1<<bits - 1, shift: 64 - bits}
}

// GrowAhead returns a function that makes the table the map's next growth
// will take, or nil if that growth is not near, the table is small (under
// ahead.MinBytes), or it is already asked for. The growth is near when it
// is at most within more Puts of new keys away, or the map is 7/8 of the
// way to it: pass the most keys the caller may put before it calls
// GrowAhead again. Run the function on another goroutine: it shares
// nothing with the map but the table it hands over, so it may run while
// the map is used. The growth takes the table if it is ready by then, and
// makes one itself otherwise; the map behaves the same either way. (A
// large table costs its maker milliseconds: the runtime zeroes reused
// memory, and faults in pages returned to the system.)
func (m *Map) GrowAhead(within int) func() {
	size := 2 * len(m.t.slots)
	room := len(m.t.slots)/2 - m.n // Puts of new keys before the growth
	if room > max(within, len(m.t.slots)/16) || size*int(unsafe.Sizeof(slot{})) < ahead.MinBytes {
		return nil
	}
	if m.ahead == nil {
		m.ahead = new(ahead.Array[slot])
	}
	return m.ahead.Ask(size)
}

// noOld is the old table while a map does not grow: one empty slot, never
// written, that Get probes on a miss (home is slot 0, as a shift by 64
// gives 0), so that Get has no test for growth and stays small enough to
// inline.
var noOld = [1]slot{}

func noOldTable() table { return table{slots: noOld[:], shift: 64} }

type slot struct {
	key uint64 // 0: empty
	val int32
}

func newTable(bits uint8) table {
	return table{slots: make([]slot, 1<<bits), mask: 1<<bits - 1, shift: 64 - bits}
}

func (t *table) home(key uint64) uint64 { return (key * fib64) >> t.shift }

// find returns the slot of key, or ok false and the empty slot where
// the probe for key ended.
func (t *table) find(key uint64) (i uint64, ok bool) {
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

// set puts key, which is absent, in t.
func (t *table) set(key uint64, val int32) {
	i, _ := t.find(key)
	t.slots[i] = slot{key: key, val: val}
}

// New returns a map with room for capacity keys before it grows.
func New(capacity int) *Map {
	return &Map{t: newTable(bitsFor(4, capacity)), old: noOldTable()}
}

// bitsFor returns the least number of bits, at least bits, of a table
// that holds n keys at most half full.
func bitsFor(bits uint8, n int) uint8 {
	for (1<<bits)/2 < n {
		bits++
	}
	return bits
}

// Growing reports whether the map is moving its keys into a larger
// table, a few with each Put.
func (m *Map) Growing() bool { return m.left != 0 }

// Len returns the number of keys.
func (m *Map) Len() int { return m.n }

// Get returns the value of key; ok is false if key is absent or zero.
// It inlines.
func (m *Map) Get(key uint64) (val int32, ok bool) {
	if key == 0 {
		return 0, false
	}
	for t := &m.t; ; t = &m.old {
		for i := t.home(key); t.slots[i].key != 0; i = (i + 1) & t.mask {
			if t.slots[i].key == key {
				return t.slots[i].val, true
			}
		}
		if t == &m.old {
			return 0, false
		}
	}
}

// Put sets the value of key, which must not be zero. The map stays at
// most half full, growing (and allocating) when needed.
func (m *Map) Put(key uint64, val int32) {
	if key == 0 {
		panic("idmap: zero key")
	}
	if m.left != 0 {
		if i, ok := m.old.find(key); ok {
			m.old.slots[i].val = val
			m.move()
			return
		}
		m.move()
	}
	i, ok := m.t.find(key)
	switch {
	case ok:
		m.t.slots[i].val = val
		return
	case 2*(m.n+1) > len(m.t.slots):
		m.grow()
		m.t.set(key, val)
	default:
		m.t.slots[i] = slot{key: key, val: val}
	}
	m.n++
}

// GetOrPut returns the value of key and true if key is present, and
// otherwise sets it to val and returns val and false: a Get and a Put of
// an absent key in one probe. key must not be zero.
func (m *Map) GetOrPut(key uint64, val int32) (int32, bool) {
	if key == 0 {
		panic("idmap: zero key")
	}
	if m.left != 0 {
		if i, ok := m.old.find(key); ok {
			v := m.old.slots[i].val
			m.move()
			return v, true
		}
		m.move()
	}
	i, ok := m.t.find(key)
	switch {
	case ok:
		return m.t.slots[i].val, true
	case 2*(m.n+1) > len(m.t.slots):
		m.grow()
		m.t.set(key, val)
	default:
		m.t.slots[i] = slot{key: key, val: val}
	}
	m.n++
	return val, false
}

// Delete removes key if present.
func (m *Map) Delete(key uint64) { m.Take(key) }

// Take removes key and returns the value it had; ok is false if key was
// absent or zero. It probes once where Get then Delete probe twice.
func (m *Map) Take(key uint64) (val int32, ok bool) {
	if key == 0 {
		return 0, false
	}
	t := &m.t
	i, ok := t.find(key)
	if !ok {
		if m.left == 0 {
			return 0, false
		}
		t = &m.old
		if i, ok = t.find(key); !ok {
			return 0, false
		}
		m.oldN--
	}
	val = t.slots[i].val
	m.n--
	// Shift later keys of the probe run back into the hole, unless their
	// home lies cyclically in (hole, j]. (Here, not in a function of
	// table's: the call would cost the engine's matcher more than the
	// code it runs.)
	mask := t.mask
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		s := t.slots[j]
		if s.key == 0 {
			break
		}
		h := t.home(s.key)
		if (j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j)) {
			t.slots[i] = s
			i = j
		}
	}
	t.slots[i] = slot{}
	return val, true
}

// grow starts moving every key into a table twice the size.
func (m *Map) grow() {
	m.finish()
	m.old, m.oldN = m.t, m.n
	m.t = m.newTable(64 - m.t.shift + 1)
	m.next, m.left = 0, len(m.old.slots)
}

// move walks at least moveStep slots of the old table, moving their keys,
// and on to the next empty slot; it drops the old table once it is empty.
func (m *Map) move() {
	for walked := 0; m.oldN > 0; walked++ {
		i := m.next
		m.next++
		m.left--
		s := m.old.slots[i]
		if s.key == 0 {
			if walked >= moveStep {
				return
			}
			continue
		}
		m.old.slots[i] = slot{}
		m.oldN--
		m.t.set(s.key, s.val)
	}
	m.old, m.left = noOldTable(), 0
}

// finish moves what is left of the old table.
func (m *Map) finish() {
	for m.left != 0 {
		m.move()
	}
}

// All calls fn for every key and value, in no particular order; fn must
// not change the map.
func (m *Map) All(fn func(key uint64, val int32)) {
	for _, t := range [...]*table{&m.t, &m.old} {
		for _, s := range t.slots {
			if s.key != 0 {
				fn(s.key, s.val)
			}
		}
	}
}

// Reserve grows the map, if needed, so that it holds n keys before it
// grows again: the rehash happens now, all at once, rather than a little
// in each later Put.
func (m *Map) Reserve(n int) {
	m.finish()
	if bits := bitsFor(64-m.t.shift, n); bits > 64-m.t.shift {
		old := m.t
		m.t = m.newTable(bits)
		for _, s := range old.slots {
			if s.key != 0 {
				m.t.set(s.key, s.val)
			}
		}
	}
}

// Clear removes every key, keeping the map's memory (and its size).
func (m *Map) Clear() {
	clear(m.t.slots)
	m.n = 0
	m.old, m.oldN, m.next, m.left = noOldTable(), 0, 0, 0
}

// CopyFrom makes m a copy of src, reusing m's memory where it is large
// enough: a memory copy, no rehashing. The zero Map may be a destination.
// m and src share nothing afterwards.
func (m *Map) CopyFrom(src *Map) {
	m.t.copyFrom(&src.t)
	if src.left == 0 {
		m.old = noOldTable()
	} else {
		m.old.copyFrom(&src.old)
	}
	m.n, m.oldN, m.next, m.left = src.n, src.oldN, src.next, src.left
}

func (t *table) copyFrom(src *table) {
	switch {
	case cap(t.slots) >= len(src.slots) && (len(t.slots) == 0 || &t.slots[0] != &noOld[0]):
		t.slots = t.slots[:len(src.slots)]
	default:
		t.slots = make([]slot, len(src.slots))
	}
	copy(t.slots, src.slots)
	t.mask, t.shift = src.mask, src.shift
}

// Slots returns the size of the map's tables: they take 16 bytes a slot,
// and the one that Put inserts into holds at most half as many keys as it
// has slots before it grows.
func (m *Map) Slots() int {
	if m.left == 0 {
		return len(m.t.slots)
	}
	return len(m.t.slots) + len(m.old.slots)
}
