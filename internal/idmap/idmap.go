// Package idmap is a hash map from non-zero uint64 ids to int32 slot
// numbers that does not allocate once it has grown to its working size:
// open addressing with linear probing, Fibonacci hashing and
// backward-shift deletion (no tombstones). It is the engine's index of live
// orders; package book keeps its own copy of the same structure so that it
// imports nothing of ours.
//
//	m := idmap.New(1024)
//	m.Put(42, 7)
//	v, ok := m.Get(42) // 7, true
//	m.Delete(42)
//
// A Map is not safe for concurrent use.
package idmap

const fib64 = 0x9E3779B97F4A7C15 // 2^64 / golden ratio

// Map maps non-zero uint64 keys to int32 values. The zero Map is not
// usable; create one with New.
type Map struct {
	slots []slot
	shift uint8 // 64 - log2(len(slots))
	n     int
}

type slot struct {
	key uint64 // 0: empty
	val int32
}

// New returns a map with room for capacity keys before it grows.
func New(capacity int) *Map {
	bits := uint8(4)
	for (1<<bits)/2 < capacity {
		bits++
	}
	return &Map{slots: make([]slot, 1<<bits), shift: 64 - bits}
}

// Len returns the number of keys.
func (m *Map) Len() int { return m.n }

func (m *Map) home(key uint64) uint64 { return (key * fib64) >> m.shift }

// Get returns the value of key; ok is false if key is absent or zero.
func (m *Map) Get(key uint64) (val int32, ok bool) {
	if key == 0 {
		return 0, false
	}
	mask := uint64(len(m.slots) - 1)
	for i := m.home(key); ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.key == key {
			return s.val, true
		}
		if s.key == 0 {
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
	if 2*(m.n+1) > len(m.slots) {
		m.grow()
	}
	mask := uint64(len(m.slots) - 1)
	for i := m.home(key); ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.key == key {
			s.val = val
			return
		}
		if s.key == 0 {
			s.key, s.val = key, val
			m.n++
			return
		}
	}
}

// Delete removes key if present.
func (m *Map) Delete(key uint64) { m.Take(key) }

// Take removes key and returns the value it had; ok is false if key was
// absent or zero. It probes once where Get then Delete probe twice.
func (m *Map) Take(key uint64) (val int32, ok bool) {
	if key == 0 {
		return 0, false
	}
	mask := uint64(len(m.slots) - 1)
	i := m.home(key)
	for {
		k := m.slots[i].key
		if k == 0 {
			return 0, false
		}
		if k == key {
			break
		}
		i = (i + 1) & mask
	}
	val = m.slots[i].val
	m.n--
	// Shift later entries of the probe run back into the hole, unless
	// their home lies cyclically in (hole, j].
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		s := m.slots[j]
		if s.key == 0 {
			break
		}
		h := m.home(s.key)
		if (j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j)) {
			m.slots[i] = s
			i = j
		}
	}
	m.slots[i] = slot{}
	return val, true
}

// All calls fn for every key and value, in no particular order; fn must
// not change the map.
func (m *Map) All(fn func(key uint64, val int32)) {
	for _, s := range m.slots {
		if s.key != 0 {
			fn(s.key, s.val)
		}
	}
}

// Reserve grows the map, if needed, so that it holds n keys before it
// grows again: the rehash happens now rather than in a later Put.
func (m *Map) Reserve(n int) {
	bits := 64 - m.shift
	for (1<<bits)/2 < n {
		bits++
	}
	if bits > 64-m.shift {
		m.rehash(bits)
	}
}

func (m *Map) grow() { m.rehash(64 - m.shift + 1) }

// rehash moves every key into a new table of 1<<bits slots.
func (m *Map) rehash(bits uint8) {
	old := m.slots
	m.slots = make([]slot, 1<<bits)
	m.shift = 64 - bits
	m.n = 0
	for _, s := range old {
		if s.key != 0 {
			m.Put(s.key, s.val)
		}
	}
}

// Clear removes every key, keeping the map's memory (and its size).
func (m *Map) Clear() {
	clear(m.slots)
	m.n = 0
}

// CopyFrom makes m a copy of src, reusing m's memory where it is large
// enough: a memory copy, no rehashing. The zero Map may be a destination.
// m and src share nothing afterwards.
func (m *Map) CopyFrom(src *Map) {
	if cap(m.slots) >= len(src.slots) {
		m.slots = m.slots[:len(src.slots)]
	} else {
		m.slots = make([]slot, len(src.slots))
	}
	copy(m.slots, src.slots)
	m.shift, m.n = src.shift, src.n
}

// Slots returns the size of the map's table: it takes 16 bytes a slot,
// and holds at most half as many keys before it grows.
func (m *Map) Slots() int { return len(m.slots) }
