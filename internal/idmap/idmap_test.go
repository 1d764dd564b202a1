package idmap

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/instant-social-trading/ist/internal/ahead"
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
		switch r.IntN(5) {
		case 3:
			v, ok := m.GetOrPut(k, int32(i))
			rv, rok := ref[k]
			if !rok {
				rv = int32(i)
				ref[k] = rv
			}
			if ok != rok || v != rv {
				t.Fatalf("op %d: GetOrPut(%d) = %d,%v want %d,%v", i, k, v, ok, rv, rok)
			}
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
	size := len(m.t.slots)
	for k := uint64(1); k <= 5000; k++ {
		m.Put(k, int32(k))
	}
	if len(m.t.slots) != size {
		t.Fatalf("grew from %d to %d slots within the reserved size", size, len(m.t.slots))
	}
	for k := uint64(1); k <= 5000; k++ {
		if v, ok := m.Get(k); !ok || v != int32(k) {
			t.Fatalf("key %d: %d, %v", k, v, ok)
		}
	}
	m.Reserve(100) // smaller: nothing to do
	if len(m.t.slots) != size || m.Len() != 5000 {
		t.Fatalf("Reserve shrank or lost keys: %d slots, %d keys", len(m.t.slots), m.Len())
	}
}

// TestClear checks that a cleared map is empty, keeps its size, and is
// usable again.
func TestClear(t *testing.T) {
	m := New(16)
	for k := uint64(1); k <= 5000; k++ {
		m.Put(k*7919, int32(k))
	}
	size := len(m.t.slots)
	m.Clear()
	if m.Len() != 0 || len(m.t.slots) != size {
		t.Fatalf("after Clear: Len %d, %d slots (was %d)", m.Len(), len(m.t.slots), size)
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
		if dst.t.slots != nil {
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

// check verifies the map's invariants: every key of either table is found
// by Get, in one table only, the counts are right, and the old table's
// walked part is empty.
func (m *Map) check() error {
	n := 0
	for _, s := range m.t.slots {
		if s.key == 0 {
			continue
		}
		n++
		if _, ok := m.t.find(s.key); !ok {
			return fmt.Errorf("key %d unreachable in the new table", s.key)
		}
	}
	if m.left == 0 {
		if len(m.old.slots) != 1 || m.old.slots[0].key != 0 || m.oldN != 0 {
			return fmt.Errorf("not growing, but an old table of %d slots, %d keys", len(m.old.slots), m.oldN)
		}
	} else {
		oldN := 0
		for i, s := range m.old.slots {
			if s.key == 0 {
				continue
			}
			oldN++
			if _, ok := m.old.find(s.key); !ok {
				return fmt.Errorf("key %d unreachable in the old table", s.key)
			}
			if _, ok := m.t.find(s.key); ok {
				return fmt.Errorf("key %d in both tables", s.key)
			}
			if uint64(i) < m.next {
				return fmt.Errorf("key %d in the old table's walked part", s.key)
			}
		}
		if oldN != m.oldN || oldN == 0 {
			return fmt.Errorf("old table holds %d keys, counted %d", oldN, m.oldN)
		}
		n += oldN
	}
	if n != m.n {
		return fmt.Errorf("%d keys, counted %d", n, m.n)
	}
	if 2*(m.n-m.oldN) > len(m.t.slots) {
		return fmt.Errorf("new table over half full: %d keys in %d slots", m.n-m.oldN, len(m.t.slots))
	}
	return nil
}

// Random puts, takes and updates through many growths keep the
// invariants after every operation, and agree with a Go map; keys put
// while the map grows, and keys updated or taken from its old table,
// included.
func TestGrowIncrementally(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	m := New(4)
	ref := map[uint64]int32{}
	grows := 0
	for i := range 60_000 {
		k := 1 + uint64(r.IntN(1+i/2))
		if r.IntN(3) == 0 {
			k = uint64(1+r.IntN(64)) << 40
		}
		growing := m.left != 0
		switch r.IntN(5) {
		case 0, 1, 2:
			m.Put(k, int32(i))
			ref[k] = int32(i)
		case 3:
			v, ok := m.Take(k)
			if rv, rok := ref[k]; ok != rok || v != rv {
				t.Fatalf("op %d: Take(%d) = %d,%v want %d,%v", i, k, v, ok, rv, rok)
			}
			delete(ref, k)
		case 4:
			m.CopyFrom(m) // a no-op copy onto itself keeps everything
		}
		if !growing && m.left != 0 {
			grows++
		}
		if err := m.check(); err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
		if v, ok := m.Get(k); ok != (ref[k] == v && ok) {
			t.Fatalf("op %d: Get(%d) = %d,%v want %d", i, k, v, ok, ref[k])
		}
	}
	for k, v := range ref {
		if got, ok := m.Get(k); !ok || got != v {
			t.Fatalf("key %d: %d,%v want %d", k, got, ok, v)
		}
	}
	if grows < 8 {
		t.Fatalf("only %d incremental growths", grows)
	}
	if noOld[0] != (slot{}) {
		t.Fatalf("the shared empty old table was written: %+v", noOld[0])
	}
}

// A Put that outgrows the table does not move every key: the old table
// keeps most of them, and the later Puts empty it before the new table
// needs to grow in turn.
func TestGrowthIsSpread(t *testing.T) {
	m := New(1 << 12) // 8192 slots, grows at the 4097th key
	k := uint64(0)
	for m.left == 0 {
		k++
		m.Put(k, int32(k))
	}
	if k != 4097 || m.oldN < 4000 {
		t.Fatalf("grew at key %d, %d keys left in the old table", k, m.oldN)
	}
	oldSlots := len(m.old.slots)
	puts := 0
	for m.left != 0 {
		k++
		puts++
		m.Put(k, int32(k))
	}
	if puts > oldSlots/moveStep {
		t.Fatalf("moving %d slots took %d puts", oldSlots, puts)
	}
	var other Map
	other.CopyFrom(m)
	for j := uint64(1); j <= k; j++ {
		if v, ok := other.Get(j); !ok || v != int32(j) {
			t.Fatalf("key %d after growth: %d,%v", j, v, ok)
		}
	}
}

// GrowAhead asks for the next table once the map is 7/8 of the way to
// growing, and only for tables worth making ahead; the growth takes the
// table made on another goroutine, and the map behaves as one that makes
// its own.
func TestGrowAhead(t *testing.T) {
	const minSlots = ahead.MinBytes / 16 // the smallest table made ahead
	m, plain := New(4), New(4)
	var wg sync.WaitGroup
	asked, taken := 0, 0
	for k := uint64(1); k <= 8*minSlots; k++ {
		f := m.GrowAhead(1)
		switch {
		case f != nil:
			size := 2 * len(m.t.slots)
			if size < minSlots || 16*m.n < 7*len(m.t.slots) {
				t.Fatalf("key %d: asked for %d slots with %d keys in %d", k, size, m.n, len(m.t.slots))
			}
			asked++
			wg.Go(f)
			wg.Wait() // ready before the growth: the growth must take it
			for 2*(m.n+1) <= len(m.t.slots) {
				m.Put(k, int32(k))
				plain.Put(k, int32(k))
				k++
			}
			made := m.ahead.Ready()
			m.Put(k, int32(k)) // grows
			plain.Put(k, int32(k))
			if m.left == 0 {
				t.Fatalf("key %d: the map did not grow", k)
			}
			if len(made) == 0 || &m.t.slots[0] != &made[0] {
				t.Fatalf("key %d: the growth did not take the table made ahead", k)
			}
			taken++
			if m.GrowAhead(1) != nil {
				t.Fatalf("key %d: asked again right after growing", k)
			}
		default:
			m.Put(k, int32(k))
			plain.Put(k, int32(k))
		}
		if k%997 == 0 {
			if err := m.check(); err != nil {
				t.Fatalf("key %d: %v", k, err)
			}
		}
	}
	if asked < 3 || taken != asked {
		t.Fatalf("asked %d times, taken %d", asked, taken)
	}
	if m.n != plain.n || len(m.t.slots) != len(plain.t.slots) || m.left != plain.left {
		t.Fatalf("made ahead: %d keys, %d slots, %d left; plain: %d, %d, %d", m.n, len(m.t.slots), m.left, plain.n, len(plain.t.slots), plain.left)
	}
	for i := range m.t.slots {
		if m.t.slots[i] != plain.t.slots[i] {
			t.Fatalf("slot %d: %+v against %+v", i, m.t.slots[i], plain.t.slots[i])
		}
	}
}

// Tables made ahead on other goroutines while the map is used, whether or
// not they are ready in time, leave it correct (run with -race).
func TestGrowAheadConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	m := New(4)
	ref := map[uint64]int32{}
	var wg sync.WaitGroup
	for i := range 400_000 {
		if f := m.GrowAhead(1); f != nil {
			wg.Go(f)
		}
		k := 1 + uint64(r.IntN(1+i))
		if r.IntN(4) == 0 {
			v, ok := m.Take(k)
			if rv, rok := ref[k]; ok != rok || v != rv {
				t.Fatalf("op %d: Take(%d) = %d,%v want %d,%v", i, k, v, ok, rv, rok)
			}
			delete(ref, k)
		} else {
			m.Put(k, int32(i))
			ref[k] = int32(i)
		}
	}
	wg.Wait()
	if err := m.check(); err != nil {
		t.Fatal(err)
	}
	for k, v := range ref {
		if got, ok := m.Get(k); !ok || got != v {
			t.Fatalf("key %d: %d,%v want %d", k, got, ok, v)
		}
	}
}

// GrowAhead asks as soon as the growth is within the given number of
// Puts, however far that is from 7/8 of the way.
func TestGrowAheadWithin(t *testing.T) {
	m := New(1 << 14) // 32768 slots: grows at the 16,385th key
	for k := uint64(1); k <= 8000; k++ {
		m.Put(k, 1)
	}
	// 8,384 Puts from the growth: not 7/8 of the way, and not within 8,000.
	if m.GrowAhead(1) != nil || m.GrowAhead(8000) != nil {
		t.Fatal("asked with the growth 8,384 Puts away")
	}
	f := m.GrowAhead(8384)
	if f == nil || m.ahead.Asked() != 1<<16 {
		t.Fatalf("not asked for the 65,536-slot table within 8,384 Puts")
	}
}
