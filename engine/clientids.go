package engine

import (
	"encoding/binary"
)

// clientIDTable maps (account, client order id) to an order id. It is
// the hot path of every order that carries a client order id, under
// constant inserts and deletes, and it is large (the live orders plus the
// ClientIDWindow most recent done ones), so every lookup is a cache miss.
// It is therefore one open-addressing table with the full key inline in
// each 64-byte slot (one cache line per probe, no separate index),
// linear probing and backward-shift deletion (no tombstones, no
// allocation once grown), and never a Go map (whose deleted slots slow
// lookups until it grows). Keys are hashed with a fixed function, so the
// layout is deterministic; two keys with the same hash simply occupy two
// slots and are told apart by the full key.
type clientIDTable struct {
	slots []clientIDSlot // power of two; at most 3/4 full
	mask  uint64
	n     int
}

// clientIDSlot is one entry; h == 0 marks a free slot.
type clientIDSlot struct {
	h   uint64
	id  uint64
	key refKey
}

func newClientIDTable() clientIDTable {
	return clientIDTable{slots: make([]clientIDSlot, 1024), mask: 1023}
}

// hashRefKey mixes the account and the 36 reference bytes (wyhash-like
// multiply-xor rounds). It is fixed, never seeded: state is deterministic.
// It never returns 0.
func hashRefKey(k *refKey) uint64 {
	const m1, m2 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db
	h := k.account*m1 ^ m2
	for i := 0; i+8 <= len(k.ref); i += 8 {
		h = (h ^ binary.LittleEndian.Uint64(k.ref[i:])) * m1
		h ^= h >> 29
	}
	h = (h ^ uint64(binary.LittleEndian.Uint32(k.ref[32:]))) * m2
	h ^= h >> 32
	if h == 0 {
		h = 1
	}
	return h
}

// home is the first slot probed for hash h: its top bits (the low bits
// of the multiply-xor hash are as good, but this matches idmap).
func (t *clientIDTable) home(h uint64) uint64 { return (h * 0x9E3779B97F4A7C15) & t.mask }

// find returns the slot of k (with hash h) or of the empty slot that ends
// its probe sequence.
func (t *clientIDTable) find(k *refKey, h uint64) *clientIDSlot { return &t.slots[t.index(k, h)] }

// index is find's slot number.
func (t *clientIDTable) index(k *refKey, h uint64) uint64 {
	for i := t.home(h); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.h == 0 || (s.h == h && s.key == *k) {
			return i
		}
	}
}

func (t *clientIDTable) get(k refKey) (uint64, bool) {
	s := t.find(&k, hashRefKey(&k))
	return s.id, s.h != 0
}

func (t *clientIDTable) put(k refKey, id uint64) { t.putHashed(k, hashRefKey(&k), id) }

// putHashed sets k, whose hash is h, to id (tests pass colliding hashes).
func (t *clientIDTable) putHashed(k refKey, h uint64, id uint64) {
	s := t.find(&k, h)
	if s.h != 0 {
		s.id = id
		return
	}
	if 4*(t.n+1) > 3*len(t.slots) {
		t.grow()
		s = t.find(&k, h)
	}
	*s = clientIDSlot{h: h, id: id, key: k}
	t.n++
}

func (t *clientIDTable) del(k refKey) { t.delHashed(k, hashRefKey(&k)) }

func (t *clientIDTable) delHashed(k refKey, h uint64) {
	i := t.index(&k, h)
	if t.slots[i].h == 0 {
		return
	}
	t.n--
	// Shift later entries of the probe run back into the hole, unless
	// their home lies cyclically in (hole, j].
	for j := (i + 1) & t.mask; ; j = (j + 1) & t.mask {
		e := &t.slots[j]
		if e.h == 0 {
			break
		}
		hj := t.home(e.h)
		if (j > i && (hj <= i || hj > j)) || (j < i && (hj <= i && hj > j)) {
			t.slots[i] = *e
			i = j
		}
	}
	t.slots[i] = clientIDSlot{}
}

func (t *clientIDTable) grow() {
	old := t.slots
	t.slots = make([]clientIDSlot, 2*len(old))
	t.mask = uint64(len(t.slots) - 1)
	for i := range old {
		if s := &old[i]; s.h != 0 {
			*t.find(&s.key, s.h) = *s
		}
	}
}

func (t *clientIDTable) len() int { return t.n }

// all returns every entry, in no particular order.
func (t *clientIDTable) all() map[refKey]uint64 {
	m := make(map[refKey]uint64, t.n)
	for i := range t.slots {
		if s := &t.slots[i]; s.h != 0 {
			m[s.key] = s.id
		}
	}
	return m
}
