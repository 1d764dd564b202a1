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

// Two keys with the same hash both work: the second goes to the overflow
// map.
func TestClientIDTableCollision(t *testing.T) {
	tab := newClientIDTable()
	a := refKey{account: 1, ref: mustRef("a")}
	b := refKey{account: 1, ref: mustRef("b")}
	tab.put(a, 10)
	i, _ := tab.index.Get(hashRefKey(&a))
	tab.index.Put(hashRefKey(&b), i) // pretend b hashes like a
	tab.put(b, 20)
	if len(tab.overflow) != 1 {
		t.Fatal("the colliding key did not go to the overflow map")
	}
	if id, ok := tab.get(a); !ok || id != 10 {
		t.Fatalf("a: %d %v", id, ok)
	}
	if id, ok := tab.get(b); !ok || id != 20 {
		t.Fatalf("b: %d %v", id, ok)
	}
	tab.del(b)
	if _, ok := tab.get(b); ok {
		t.Fatal("b still there")
	}
	if id, ok := tab.get(a); !ok || id != 10 {
		t.Fatalf("a after deleting b: %d %v", id, ok)
	}
}
