package seqmap

import (
	"math"
	"testing"
)

// TestExtremeKeysAndValues: the largest value, and keys up to MaxUint64,
// in the pages and in sparse, through every operation.
func TestExtremeKeysAndValues(t *testing.T) {
	const top = ^uint64(0)
	m := New()
	want := map[uint64]int32{}
	put := func(k uint64, v int32) {
		m.Put(k, v)
		want[k] = v
	}
	put(1, math.MaxInt32)
	put(pageSize-1, 0)
	put(top-pageSize, math.MaxInt32) // a jump: page 0 moves to sparse
	put(top, math.MaxInt32)
	put(top-1, 5)
	check(t, m, want)
	if v, ok := m.Get(top); !ok || v != math.MaxInt32 {
		t.Fatalf("Get(MaxUint64) = %d, %v", v, ok)
	}
	if v, ok := m.GetOrPut(top, 1); !ok || v != math.MaxInt32 {
		t.Fatalf("GetOrPut(MaxUint64) = %d, %v", v, ok)
	}
	if v, ok := m.GetOrPut(1, 1); !ok || v != math.MaxInt32 {
		t.Fatalf("GetOrPut(1) = %d, %v", v, ok)
	}
	var c Map
	c.CopyFrom(m)
	check(t, &c, want)
	for _, k := range []uint64{top, 1, top - pageSize} {
		if v, ok := m.Take(k); !ok || v != want[k] {
			t.Fatalf("Take(%d) = %d, %v; want %d", k, v, ok, want[k])
		}
		delete(want, k)
		check(t, m, want)
	}
	m.Clear()
	check(t, m, map[uint64]int32{})
	m.Put(top, math.MaxInt32)
	check(t, m, map[uint64]int32{top: math.MaxInt32})
}

// TestGetOrPutSparse: GetOrPut of a key kept in sparse, present and
// absent, below the pages' span.
func TestGetOrPutSparse(t *testing.T) {
	m := New()
	want := map[uint64]int32{}
	m.Put(10*pageSize+1, 1) // the span starts at page 10
	want[10*pageSize+1] = 1
	m.Put(5, 2) // below it: sparse
	want[5] = 2
	if v, ok := m.GetOrPut(5, 3); !ok || v != 2 {
		t.Fatalf("GetOrPut of a key in sparse = %d, %v; want 2, true", v, ok)
	}
	if v, ok := m.GetOrPut(6, 4); ok || v != 4 {
		t.Fatalf("GetOrPut of an absent key below the span = %d, %v; want 4, false", v, ok)
	}
	want[6] = 4
	check(t, m, want)
	if m.sparse == nil || m.sparse.Len() != 2 {
		t.Fatal("the keys below the span are not in sparse")
	}
}

// TestTakeEmptiesFrontPage: taking the last key of the front page drops
// the empty pages at the front of the span; a key put later into one of
// them is below the span, in sparse, and found.
func TestTakeEmptiesFrontPage(t *testing.T) {
	m := New()
	want := map[uint64]int32{}
	for _, k := range []uint64{1, 2*pageSize + 1, 3*pageSize + 1} {
		m.Put(k, 1)
		want[k] = 1
	}
	m.Take(2*pageSize + 1)
	delete(want, 2*pageSize+1)
	m.Take(1) // pages 0 to 2 are empty now
	delete(want, 1)
	check(t, m, want)
	if m.base != 3 || len(m.pages) != 1 {
		t.Fatalf("span of %d pages from page %d, want 1 from 3", len(m.pages), m.base)
	}
	m.Put(pageSize+1, 7)
	want[pageSize+1] = 7
	check(t, m, want)
	// Taking the last key of the only page keeps the page's place.
	m.Take(3*pageSize + 1)
	delete(want, 3*pageSize+1)
	check(t, m, want)
	if len(m.pages) != 1 || m.base != 3 {
		t.Fatalf("span of %d pages from page %d, want 1 from 3", len(m.pages), m.base)
	}
}

// TestEvictCascade: a span of thinly filled pages, past its bound once
// most of its keys are taken, shrinks by two pages at the next new page
// (not all at once: that would stall one Put), the evicted keys moving to
// sparse, and is back within its bound after enough new pages.
func TestEvictCascade(t *testing.T) {
	m := New()
	want := map[uint64]int32{}
	const pages = 200
	for id := uint64(1); id < pages*pageSize; id++ {
		if id%8 == 0 {
			m.Put(id, int32(id%1000))
			want[id] = int32(id % 1000)
		}
	}
	check(t, m, want)
	for id := range want {
		if id%64 != 0 {
			m.Take(id)
			delete(want, id)
		}
	}
	before := len(m.pages)
	m.Put(pages*pageSize+1, 1)
	want[pages*pageSize+1] = 1
	check(t, m, want)
	if m.sparse == nil || m.sparse.Len() == 0 {
		t.Fatal("no key left the pages")
	}
	if len(m.pages) != before+1-2 {
		t.Fatalf("a new page took the span from %d to %d pages, want %d", before, len(m.pages), before-1)
	}
	for id := uint64(pages*pageSize + 2); len(m.pages) > m.bound(); id += pageSize {
		if id > 2*pages*pageSize {
			t.Fatalf("span of %d pages for %d keys after %d new pages", len(m.pages), m.dense, pages)
		}
		m.Put(id, 2)
		want[id] = 2
	}
	check(t, m, want)
}

// Bytes counts the empty pages kept for reuse: a page emptied by Take
// stays allocated.
func TestBytesCountsSparePages(t *testing.T) {
	var m Map
	for k := uint64(1); k <= 3*pageSize; k++ {
		m.Put(k, 1)
	}
	full := m.Bytes()
	for k := uint64(1); k <= 3*pageSize; k++ {
		m.Take(k)
	}
	if len(m.spare) == 0 {
		t.Fatal("no spare page kept: the test no longer covers them")
	}
	if got := m.Bytes(); got != full {
		t.Fatalf("Bytes %d after emptying, %d full: the spare pages are still held", got, full)
	}
}
