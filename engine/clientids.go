package engine

import (
	"encoding/binary"

	"github.com/instant-social-trading/ist/internal/idmap"
)

// clientIDTable maps (account, client order id) to an order id. It is
// the hot path of every order that carries a client order id, under
// constant inserts and deletes, so it avoids Go maps (whose deleted slots
// slow lookups until the map grows): keys are hashed to 64 bits with a
// fixed function, the hash indexes an idmap (no tombstones), and the
// entry's full key is compared. Two keys with the same 64-bit hash are
// possible in principle; the second one lives in a small Go map.
type clientIDTable struct {
	index    *idmap.Map
	slots    []clientIDEntry // a free slot has id 0
	free     []int32
	overflow map[refKey]uint64
}

type clientIDEntry struct {
	key refKey
	id  uint64
}

func newClientIDTable() clientIDTable {
	return clientIDTable{index: idmap.New(1024), overflow: map[refKey]uint64{}}
}

// hashRefKey mixes the account and the 36 reference bytes (wyhash-like
// multiply-xor rounds). It is fixed, never seeded: state is deterministic.
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
		h = 1 // idmap keys are non-zero
	}
	return h
}

func (t *clientIDTable) get(k refKey) (uint64, bool) {
	if i, ok := t.index.Get(hashRefKey(&k)); ok && t.slots[i].key == k {
		return t.slots[i].id, true
	}
	if len(t.overflow) > 0 {
		id, ok := t.overflow[k]
		return id, ok
	}
	return 0, false
}

func (t *clientIDTable) put(k refKey, id uint64) {
	h := hashRefKey(&k)
	if i, ok := t.index.Get(h); ok {
		if t.slots[i].key == k {
			t.slots[i].id = id
		} else {
			t.overflow[k] = id // another key has this hash
		}
		return
	}
	var i int32
	if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
	} else {
		t.slots = append(t.slots, clientIDEntry{})
		i = int32(len(t.slots) - 1)
	}
	t.slots[i] = clientIDEntry{key: k, id: id}
	t.index.Put(h, i)
}

func (t *clientIDTable) del(k refKey) {
	h := hashRefKey(&k)
	if i, ok := t.index.Get(h); ok && t.slots[i].key == k {
		t.index.Delete(h)
		t.slots[i] = clientIDEntry{}
		t.free = append(t.free, i)
		return
	}
	delete(t.overflow, k)
}

func (t *clientIDTable) len() int { return t.index.Len() + len(t.overflow) }

// all returns every entry, in no particular order.
func (t *clientIDTable) all() map[refKey]uint64 {
	m := make(map[refKey]uint64, t.len())
	t.index.All(func(_ uint64, i int32) { m[t.slots[i].key] = t.slots[i].id })
	for k, id := range t.overflow {
		m[k] = id
	}
	return m
}
