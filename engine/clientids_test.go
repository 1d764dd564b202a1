package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestClientIDTableAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tab := newClientIDTable()
	ref := map[refKey]uint64{}
	key := func() refKey {
		k := refKey{account: uint64(1 + r.IntN(5))}
		copy(k.ref[:], fmt.Sprint("c-", r.IntN(3000)))
		return k
	}
	for i := range 200_000 {
		k := key()
		switch r.IntN(3) {
		case 0:
			tab.put(k, uint64(i+1))
			ref[k] = uint64(i + 1)
		case 1:
			tab.del(k)
			delete(ref, k)
		}
		got, ok := tab.get(k)
		want, wok := ref[k]
		if got != want || ok != wok || tab.len() != len(ref) {
			t.Fatalf("op %d: got %d,%v want %d,%v (len %d vs %d)", i, got, ok, want, wok, tab.len(), len(ref))
		}
	}
	all := tab.all()
	if len(all) != len(ref) {
		t.Fatalf("all: %d entries, want %d", len(all), len(ref))
	}
	for k, v := range ref {
		if all[k] != v {
			t.Fatalf("all[%v] = %d, want %d", k, all[k], v)
		}
	}
}

// Keys with the same hash all work: they take separate slots and are told
// apart by the full key, through inserts, deletes and growth.
func TestClientIDTableCollision(t *testing.T) {
	tab := newClientIDTable()
	const h = 0x1234_5678_9abc_def0
	keys := make([]refKey, 2000)
	for i := range keys {
		keys[i] = refKey{account: 1, ref: mustRef(fmt.Sprint("k", i))}
		tab.putHashed(keys[i], h, uint64(i+1))
	}
	for i := 0; i < len(keys); i += 2 {
		tab.delHashed(keys[i], h)
	}
	for i := range keys {
		s := tab.find(&keys[i], h)
		if i%2 == 0 && s.h != 0 {
			t.Fatalf("key %d still there", i)
		}
		if i%2 == 1 && (s.h == 0 || s.id != uint64(i+1)) {
			t.Fatalf("key %d: %+v", i, s)
		}
	}
	if tab.len() != len(keys)/2 {
		t.Fatalf("len %d", tab.len())
	}
}
