package idmap

import (
	"math/rand/v2"
	"testing"
)

// The map agrees with a Go map on a random mix of puts, gets, deletes and
// takes,
// including dense sequential keys and keys that collide on their home slot.
func TestAgainstGoMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := New(4)
	ref := map[uint64]int32{}
	key := func() uint64 {
		switch r.IntN(3) {
		case 0:
			return 1 + uint64(r.IntN(2000)) // dense
		case 1:
			return uint64(1+r.IntN(64)) << 40 // same low bits
		}
		return 1 + r.Uint64()%1_000_000
	}
	for i := range 300_000 {
		k := key()
		switch r.IntN(4) {
		case 0:
			m.Put(k, int32(i))
			ref[k] = int32(i)
		case 1:
			m.Delete(k)
			delete(ref, k)
		case 2:
			v, ok := m.Take(k)
			if rv, rok := ref[k]; ok != rok || v != rv {
				t.Fatalf("op %d: Take(%d) = %d,%v want %d,%v", i, k, v, ok, rv, rok)
			}
			delete(ref, k)
		}
		v, ok := m.Get(k)
		rv, rok := ref[k]
		if ok != rok || v != rv {
			t.Fatalf("op %d key %d: got %d,%v want %d,%v", i, k, v, ok, rv, rok)
		}
		if m.Len() != len(ref) {
			t.Fatalf("op %d: len %d want %d", i, m.Len(), len(ref))
		}
	}
	n := 0
	m.All(func(k uint64, v int32) {
		n++
		if ref[k] != v {
			t.Fatalf("All: key %d = %d, want %d", k, v, ref[k])
		}
	})
	if n != len(ref) {
		t.Fatalf("All visited %d keys, want %d", n, len(ref))
	}
	if _, ok := m.Get(0); ok {
		t.Fatal("key 0 found")
	}
}

func TestNoAllocsAtSize(t *testing.T) {
	m := New(1 << 12)
	k := uint64(0)
	if n := testing.AllocsPerRun(1000, func() {
		k++
		m.Put(k, 1)
		m.Get(k)
		m.Delete(k)
	}); n != 0 {
		t.Fatalf("%v allocs per put/get/delete", n)
	}
}

func BenchmarkPutGetDelete(b *testing.B) {
	m := New(1 << 16)
	for k := uint64(1); k <= 1<<14; k++ {
		m.Put(k, int32(k))
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		k := uint64(i) + 1<<14 + 1
		m.Put(k, 1)
		m.Get(k - 1<<13)
		m.Delete(k - 1<<14)
	}
}

// Reserve grows the table once, keeping its keys, so that n keys then fit
// without another growth.
func TestReserve(t *testing.T) {
	m := New(16)
	for k := uint64(1); k <= 10; k++ {
		m.Put(k, int32(k))
	}
	m.Reserve(5000)
	size := len(m.slots)
	for k := uint64(1); k <= 5000; k++ {
		m.Put(k, int32(k))
	}
	if len(m.slots) != size {
		t.Fatalf("grew from %d to %d slots within the reserved size", size, len(m.slots))
	}
	for k := uint64(1); k <= 5000; k++ {
		if v, ok := m.Get(k); !ok || v != int32(k) {
			t.Fatalf("key %d: %d, %v", k, v, ok)
		}
	}
	m.Reserve(100) // smaller: nothing to do
	if len(m.slots) != size || m.Len() != 5000 {
		t.Fatalf("Reserve shrank or lost keys: %d slots, %d keys", len(m.slots), m.Len())
	}
}

// TestClear checks that a cleared map is empty, keeps its size, and is
// usable again.
func TestClear(t *testing.T) {
	m := New(16)
	for k := uint64(1); k <= 5000; k++ {
		m.Put(k*7919, int32(k))
	}
	size := len(m.slots)
	m.Clear()
	if m.Len() != 0 || len(m.slots) != size {
		t.Fatalf("after Clear: Len %d, %d slots (was %d)", m.Len(), len(m.slots), size)
	}
	for k := uint64(1); k <= 5000; k++ {
		if _, ok := m.Get(k * 7919); ok {
			t.Fatalf("key %d still there", k*7919)
		}
	}
	m.Put(42, 7)
	if v, ok := m.Get(42); !ok || v != 7 || m.Len() != 1 {
		t.Fatalf("Put after Clear: %d %v, Len %d", v, ok, m.Len())
	}
}

// TestCopyFrom checks that a copy answers like its source, into a zero
// Map, a smaller and a larger one, and shares nothing with it.
func TestCopyFrom(t *testing.T) {
	src := New(16)
	for k := uint64(1); k <= 5000; k++ {
		src.Put(k*7919, int32(k))
	}
	for k := uint64(1); k <= 5000; k += 3 {
		src.Delete(k * 7919)
	}
	for _, dst := range []*Map{{}, New(4), New(1 << 16)} {
		if dst.slots != nil {
			dst.Put(3, 3) // overwritten
		}
		dst.CopyFrom(src)
		if dst.Len() != src.Len() || dst.Slots() != src.Slots() {
			t.Fatalf("Len %d, Slots %d, want %d, %d", dst.Len(), dst.Slots(), src.Len(), src.Slots())
		}
		if _, ok := dst.Get(3); ok {
			t.Fatal("the destination kept its own key")
		}
		for k := uint64(1); k <= 5000; k++ {
			v, ok := dst.Get(k * 7919)
			w, wok := src.Get(k * 7919)
			if v != w || ok != wok {
				t.Fatalf("key %d: %d %v, source %d %v", k*7919, v, ok, w, wok)
			}
		}
		src.Put(1, 1)
		if _, ok := dst.Get(1); ok {
			t.Fatal("the copy follows its source")
		}
		src.Delete(1)
	}
}
