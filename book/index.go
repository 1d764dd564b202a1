package book

// idIndex maps order ids to slots: an open-addressing hash table with
// linear probing and backward-shift deletion, so that neither inserts nor
// deletes allocate once the table is large enough. Key 0 marks an empty
// slot (0 is never a valid order id). A value v >= 0 is a resting order's
// node index; v < 0 is pending stop slot -v-1.
type idIndex struct {
	slots []idSlot
	shift uint8 // 64 - log2(len(slots))
	n     int
	// top is the largest key ever put: a larger one is absent without a
	// probe, which spares a new order's duplicate check a cache miss
	// when ids only grow (as the engine assigns them).
	top uint64
}

type idSlot struct {
	key uint64
	val int32
}

const fib64 = 0x9E3779B97F4A7C15 // 2^64 / golden ratio: Fibonacci hashing

func newIDIndex(capacity int) idIndex {
	bits := uint8(4)
	for (1<<bits)/2 < capacity {
		bits++
	}
	return idIndex{slots: make([]idSlot, 1<<bits), shift: 64 - bits}
}

func (x *idIndex) home(key uint64) uint64 { return (key * fib64) >> x.shift }

func (x *idIndex) get(key uint64) (int32, bool) {
	if key == 0 || key > x.top {
		return 0, false // 0 marks empty slots; it is never an order id
	}
	mask := uint64(len(x.slots) - 1)
	for i := x.home(key); ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.key == key {
			return s.val, true
		}
		if s.key == 0 {
			return 0, false
		}
	}
}

// put inserts or replaces key. The table is kept at most half full.
func (x *idIndex) put(key uint64, val int32) {
	if 2*(x.n+1) > len(x.slots) {
		x.grow()
	}
	x.top = max(x.top, key)
	mask := uint64(len(x.slots) - 1)
	for i := x.home(key); ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.key == key {
			s.val = val
			return
		}
		if s.key == 0 {
			s.key, s.val = key, val
			x.n++
			return
		}
	}
}

// del removes key if present, shifting later entries of its probe run
// back so that lookups never need tombstones.
func (x *idIndex) del(key uint64) {
	mask := uint64(len(x.slots) - 1)
	i := x.home(key)
	for {
		k := x.slots[i].key
		if k == 0 {
			return
		}
		if k == key {
			break
		}
		i = (i + 1) & mask
	}
	x.n--
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		s := x.slots[j]
		if s.key == 0 {
			break
		}
		h := x.home(s.key)
		// Move s back to the hole at i unless its home lies cyclically
		// in (i, j].
		if (j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j)) {
			x.slots[i] = s
			i = j
		}
	}
	x.slots[i] = idSlot{}
}

// reserve rehashes now, if needed, so that n keys fit without growth.
func (x *idIndex) reserve(n int) {
	bits := 64 - x.shift
	for (1<<bits)/2 < n {
		bits++
	}
	if bits > 64-x.shift {
		x.rehash(bits)
	}
}

func (x *idIndex) grow() { x.rehash(64 - x.shift + 1) }

// rehash moves every key into a new table of 1<<bits slots.
func (x *idIndex) rehash(bits uint8) {
	old := x.slots
	x.slots = make([]idSlot, 1<<bits)
	x.shift = 64 - bits
	x.n = 0
	for _, s := range old {
		if s.key != 0 {
			x.put(s.key, s.val)
		}
	}
}
