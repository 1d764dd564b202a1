package seqmap

import (
	"math/rand/v2"
	"testing"
)

// check compares m with the reference model want, and checks m's own
// invariants.
func check(t *testing.T, m *Map, want map[uint64]int32) {
	t.Helper()
	if m.Len() != len(want) {
		t.Fatalf("Len %d, want %d", m.Len(), len(want))
	}
	seen := 0
	m.All(func(k uint64, v int32) {
		seen++
		if w, ok := want[k]; !ok || w != v {
			t.Fatalf("All: %d=%d, want %d (present %v)", k, v, w, ok)
		}
	})
	if seen != len(want) {
		t.Fatalf("All yields %d keys, want %d", seen, len(want))
	}
	for k, w := range want {
		if v, ok := m.Get(k); !ok || v != w {
			t.Fatalf("Get(%d) = %d, %v; want %d", k, v, ok, w)
		}
	}
	dense := 0
	for k, pg := range m.pages {
		n := 0
		if pg != nil {
			for _, v := range pg {
				if v != 0 {
					n++
				}
			}
		}
		if pg != nil && n == 0 {
			t.Fatalf("page %d kept empty", k)
		}
		if int(m.live[k]) != n {
			t.Fatalf("page %d: live %d, holds %d", k, m.live[k], n)
		}
		dense += n
	}
	if dense != m.dense {
		t.Fatalf("dense %d, pages hold %d", m.dense, dense)
	}
	if m.sparse != nil {
		m.sparse.All(func(k uint64, _ int32) {
			if p := k>>pageBits - m.base; p < uint64(len(m.pages)) {
				t.Fatalf("key %d in the hash map, inside the pages' span", k)
			}
		})
	}
	for _, pg := range m.spare {
		for _, v := range pg {
			if v != 0 {
				t.Fatal("a spare page is not empty")
			}
		}
	}
}

// TestAgainstMap drives a Map and a Go map with the same random operations
// in the patterns the engine makes (increasing ids, most removed young, a
// few living long) and some it does not (ids below the span, far above
// it, repeated and absent keys), comparing them as it goes.
func TestAgainstMap(t *testing.T) {
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 99))
		m := New()
		want := map[uint64]int32{}
		var live []uint64
		next := uint64(1 + r.IntN(5000))
		steps := 60_000
		if testing.Short() {
			steps = 15_000
		}
		for step := range steps {
			switch k := r.IntN(100); {
			case k < 45: // a new id
				next += uint64(1 + r.IntN(3))
				v := int32(r.IntN(1 << 20))
				m.Put(next, v)
				if _, ok := want[next]; !ok {
					live = append(live, next)
				}
				want[next] = v
			case k < 80 && len(live) > 0: // a young one ends, or any
				i := len(live) - 1 - r.IntN(min(len(live), 64))
				if r.IntN(4) == 0 {
					i = r.IntN(len(live))
				}
				id := live[i]
				live[i] = live[len(live)-1]
				live = live[:len(live)-1]
				v, ok := m.Take(id)
				if w := want[id]; !ok || v != w {
					t.Fatalf("seed %d step %d: Take(%d) = %d, %v; want %d", seed, step, id, v, ok, w)
				}
				delete(want, id)
			case k < 85: // an absent key
				id := r.Uint64N(next + 10_000)
				_, present := want[id]
				if _, ok := m.Get(id); ok != present {
					t.Fatalf("seed %d: Get(%d) present %v, want %v", seed, id, ok, present)
				}
				if !present {
					if _, ok := m.Take(id); ok {
						t.Fatalf("seed %d: Take(%d) of an absent key", seed, id)
					}
				}
			case k < 90 && len(live) > 0: // a new value for a key
				id := live[r.IntN(len(live))]
				v := int32(r.IntN(1 << 20))
				m.Put(id, v)
				want[id] = v
			case k < 92: // GetOrPut of a new or a present key
				id := next + 1
				if r.IntN(2) == 0 && len(live) > 0 {
					id = live[r.IntN(len(live))]
				} else {
					next++
				}
				w, present := want[id]
				v, ok := m.GetOrPut(id, 77)
				if ok != present || present && v != w || !present && v != 77 {
					t.Fatalf("seed %d: GetOrPut(%d) = %d, %v; had %d, %v", seed, id, v, ok, w, present)
				}
				if !present {
					want[id] = 77
					live = append(live, id)
				}
			case k < 93 || k == 95: // below the span, or far above it
				id := 1 + r.Uint64N(next)
				if r.IntN(3) == 0 {
					id = next + uint64(r.IntN(1<<24)) + 1
					if r.IntN(2) == 0 {
						next = id // the ids go on from there
					}
				}
				if _, ok := want[id]; !ok {
					live = append(live, id)
				}
				m.Put(id, 5)
				want[id] = 5
			case k < 94:
				var c Map
				c.CopyFrom(m)
				check(t, &c, want)
				m = &c
			case k == 94 && r.IntN(50) == 0:
				m.Clear()
				clear(want)
				live = live[:0]
			}
			if step%1000 == 0 {
				check(t, m, want)
			}
		}
		check(t, m, want)
	}
}

// TestOldKeysLeaveThePages: a few ids that stay while millions of later
// ones come and go do not hold the pages in between.
func TestOldKeysLeaveThePages(t *testing.T) {
	m := New()
	want := map[uint64]int32{}
	for id := uint64(1); id <= 2_000_000; id++ {
		m.Put(id, int32(id%1000))
		if id%100_000 == 0 {
			want[id] = int32(id % 1000)
		}
		if id > 100 {
			if old := id - 100; old%100_000 != 0 {
				m.Take(old)
			}
		}
	}
	for id := uint64(2_000_000 - 99); id <= 2_000_000; id++ {
		want[id] = int32(id % 1000)
	}
	check(t, m, want)
	if len(m.pages) > minPages+spanFactor {
		t.Fatalf("%d pages for %d keys", len(m.pages), m.Len())
	}
	if m.Bytes() > 1<<20 {
		t.Fatalf("%d bytes for %d keys", m.Bytes(), m.Len())
	}
}

func TestZeroKeyAndNegativeValue(t *testing.T) {
	m := New()
	if _, ok := m.Get(0); ok {
		t.Fatal("Get(0) found a key")
	}
	if _, ok := m.Take(0); ok {
		t.Fatal("Take(0) found a key")
	}
	for _, f := range []func(){func() { m.Put(0, 1) }, func() { m.Put(1, -1) }} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		}()
	}
}

func BenchmarkSequential(b *testing.B) {
	m := New()
	for i := range b.N {
		id := uint64(i + 1)
		m.Put(id, int32(i))
		if id > 16384 {
			m.Take(id - 16384)
		}
	}
}

// TestCopyFromIntoUsedMap copies a map of one page into one that held
// three: the destination's pages that the copy does not need become
// spare pages, and a spare page must be empty, or a later Put into a new
// page finds the old keys there.
func TestCopyFromIntoUsedMap(t *testing.T) {
	dst := New()
	for k := range uint64(3) {
		for i := range uint64(100) {
			dst.Put(k*pageSize+i+1, int32(i))
		}
	}
	src := New()
	want := map[uint64]int32{}
	for i := range uint64(10) {
		src.Put(i+1, 1)
		want[i+1] = 1
	}
	dst.CopyFrom(src)
	check(t, dst, want)
	// A new page, taken from the spare ones.
	dst.Put(pageSize+1, 9)
	want[pageSize+1] = 9
	check(t, dst, want)
	if v, ok := dst.Get(pageSize + 2); ok {
		t.Fatalf("Get(%d) = %d in a new page: a key of the map before the copy", pageSize+2, v)
	}
}

// TestCopyFromItself: a map copied from itself is unchanged.
func TestCopyFromItself(t *testing.T) {
	m := New()
	want := map[uint64]int32{}
	for k := range uint64(3) {
		for i := range uint64(50) {
			id := (k+3)*pageSize + i*7 + 1
			m.Put(id, int32(k*1000+i))
			want[id] = int32(k*1000 + i)
		}
	}
	m.Put(5, 4) // below the span: sparse
	want[5] = 4
	m.CopyFrom(m)
	check(t, m, want)
}

// TestCopyFromReusedRandom copies maps of random sizes into the same two
// destinations in turn, as the engine's snapshots do, and uses each copy.
func TestCopyFromReusedRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var a, b Map
	for round := range 40 {
		src := New()
		want := map[uint64]int32{}
		next := uint64(1 + r.IntN(100_000))
		for range r.IntN(20_000) {
			next += uint64(1 + r.IntN(8))
			v := int32(r.IntN(1000))
			src.Put(next, v)
			want[next] = v
		}
		dst := &a
		if round%2 == 1 {
			dst = &b
		}
		dst.CopyFrom(src)
		check(t, dst, want)
		check(t, src, want)
		// The copy and the source share nothing.
		for range 200 {
			next += uint64(1 + r.IntN(8))
			dst.Put(next, 1)
			want[next] = 1
		}
		check(t, dst, want)
		if src.Len() != len(want)-200 {
			t.Fatalf("round %d: the source has %d keys after Puts to its copy, want %d", round, src.Len(), len(want)-200)
		}
	}
}
