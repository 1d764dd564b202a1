// Package seqmap is a map from non-zero uint64 ids to non-negative int32
// slot numbers for ids that are handed out in increasing order, as the
// engine numbers its orders: the recent ids are kept in pages of a direct
// array (the value of id k is at a fixed place, found without hashing or
// probing), and the ids that outlive their page's neighbours by far move
// to a hash map (internal/idmap).
//
// Against a hash map alone, a new id is written next to the one before
// it (a line the CPU has, or prefetches), not at a random slot of a large
// table; a lookup is one load from a page instead of a probe run; a
// removal clears one slot, with no probe run to shift back; and there is
// no rehash, as a page is added every 4,096 ids.
//
//	m := seqmap.New()
//	m.Put(42, 7)
//	v, ok := m.Get(42) // 7, true
//	m.Take(42)
//
// Memory: the pages span the ids from the oldest one kept in a page to
// the newest, at 4 bytes an id. When that span is more than spanFactor
// times what its keys need, the oldest pages' keys move to the hash map
// (each key at most once; two pages for each new one, so that a span
// thinned by many removals shrinks over the next pages, not in one Put),
// and a few old ids cannot hold many pages.
// Ids may come in any order; those below the pages' span, and far above
// it, are correct too, only handled by the hash map.
//
// A Map is not safe for concurrent use.
package seqmap

import (
	"unsafe"

	"github.com/instant-social-trading/ist/internal/idmap"
)

const (
	pageBits = 12
	pageSize = 1 << pageBits // ids a page covers (16 KiB)
	pageMask = pageSize - 1
	// spanFactor bounds the pages' span: at most spanFactor times the
	// pages its keys would fill, plus minPages.
	spanFactor = 8
	minPages   = 16
	// evictStep is how many pages, besides one for each page it adds,
	// extending the span may evict to bring it back within its bound.
	evictStep = 1
	// maxJump is how far past the span, in pages, a new id may extend
	// it; a key further on first moves every page's keys to the hash
	// map, and starts the span at the new key.
	maxJump = 1 << 10
)

// page holds the values of pageSize consecutive ids, each plus one (0:
// absent).
type page [pageSize]uint32

// Map maps non-zero uint64 keys to non-negative int32 values. The zero
// Map is empty and ready to use.
type Map struct {
	// pages[k] holds the ids of page number base+k, or is nil when none
	// of them is in the map. Every key whose page number is in
	// [base, base+len(pages)) is in pages, every other key in sparse.
	pages []*page
	live  []int32 // keys in each page
	base  uint64  // page number of pages[0]
	dense int     // keys in pages
	// sparse holds the keys outside the pages' span; nil until the
	// first one.
	sparse *idmap.Map
	spare  []*page // empty pages to reuse
}

// New returns an empty map.
func New() *Map { return &Map{} }

// Len returns the number of keys.
func (m *Map) Len() int {
	if m.sparse == nil {
		return m.dense
	}
	return m.dense + m.sparse.Len()
}

// Get returns the value of key; ok is false if key is absent or zero.
func (m *Map) Get(key uint64) (val int32, ok bool) {
	if p := key>>pageBits - m.base; p < uint64(len(m.pages)) {
		if pg := m.pages[p]; pg != nil {
			v := pg[key&pageMask]
			return int32(v) - 1, v != 0
		}
		return 0, false
	}
	if m.sparse == nil {
		return 0, false
	}
	return m.sparse.Get(key)
}

// Put sets the value of key, which must not be zero, to val, which must
// not be negative.
func (m *Map) Put(key uint64, val int32) {
	s, p := m.slot(key, val)
	if s == nil {
		m.sparsePut(key, val)
		return
	}
	if *s == 0 {
		m.live[p]++
		m.dense++
	}
	*s = uint32(val) + 1
}

// GetOrPut returns the value of key and true if key is present, and
// otherwise sets it to val and returns val and false: a Get and a Put of
// an absent key in one lookup. key must not be zero, val not negative.
func (m *Map) GetOrPut(key uint64, val int32) (int32, bool) {
	s, p := m.slot(key, val)
	if s == nil {
		if m.sparse == nil {
			m.sparse = idmap.New(16)
		}
		return m.sparse.GetOrPut(key, val)
	}
	if v := *s; v != 0 {
		return int32(v) - 1, true
	}
	m.live[p]++
	m.dense++
	*s = uint32(val) + 1
	return val, false
}

// slot returns where the value of key is kept in the pages, and the
// page's place in the span, extending the span to key's page and making
// the page if need be; nil for a key kept in sparse.
func (m *Map) slot(key uint64, val int32) (*uint32, uint64) {
	if key == 0 || val < 0 {
		panic("seqmap: zero key or negative value")
	}
	pn := key >> pageBits
	p := pn - m.base
	if p >= uint64(len(m.pages)) {
		if !m.extend(pn) {
			return nil, 0
		}
		p = pn - m.base
	}
	pg := m.pages[p]
	if pg == nil {
		pg = m.newPage()
		m.pages[p] = pg
	}
	return &pg[key&pageMask], p
}

// Take removes key and returns the value it had; ok is false if key was
// absent or zero.
func (m *Map) Take(key uint64) (val int32, ok bool) {
	p := key>>pageBits - m.base
	if p >= uint64(len(m.pages)) {
		if m.sparse == nil {
			return 0, false
		}
		return m.sparse.Take(key)
	}
	pg := m.pages[p]
	if pg == nil {
		return 0, false
	}
	s := &pg[key&pageMask]
	v := *s
	if v == 0 {
		return 0, false
	}
	*s = 0
	m.dense--
	if m.live[p]--; m.live[p] == 0 {
		// Every slot of the page is 0 again: reusable as it is.
		m.spare = append(m.spare, pg)
		m.pages[p] = nil
		if p == 0 {
			m.trimFront()
		}
	}
	return int32(v) - 1, true
}

// extend makes page number pn part of the span, if it is above it, and
// reports whether it is in the span now: false for a page below it.
func (m *Map) extend(pn uint64) bool {
	if pn < m.base {
		// Below the span, or below where it started while empty: base
		// never decreases, so the keys in sparse stay below it.
		return false
	}
	if len(m.pages) == 0 {
		m.base = pn
	}
	end := m.base + uint64(len(m.pages))
	if pn-end >= maxJump {
		for len(m.pages) > 0 {
			m.evictFront()
		}
		m.base, end = pn, pn
	}
	budget := evictStep
	for end <= pn {
		m.pages = append(m.pages, nil)
		m.live = append(m.live, 0)
		end++
		budget++
	}
	// Bound the span by the keys in it: the oldest pages' keys move to
	// sparse, a few pages for each one added (evictStep more than
	// added), so that a span left thin by many removals shrinks back
	// over the next pages instead of within one Put. pn's own page is
	// the last one and stays.
	for ; budget > 0 && len(m.pages) > m.bound(); budget-- {
		m.evictFront()
	}
	return true
}

// bound is how many pages the span may hold for the keys in it; it holds
// more only after removals, until the next new pages shrink it.
func (m *Map) bound() int { return minPages + spanFactor*(m.dense/pageSize+1) }

// evictFront moves the keys of the oldest page to sparse and drops the
// page from the span.
func (m *Map) evictFront() {
	if pg := m.pages[0]; pg != nil {
		first := m.base << pageBits
		for i, v := range pg {
			if v != 0 {
				m.sparsePut(first+uint64(i), int32(v)-1)
				pg[i] = 0
			}
		}
		m.dense -= int(m.live[0])
		m.spare = append(m.spare, pg)
	}
	m.pages[0] = nil
	m.pages, m.live = m.pages[1:], m.live[1:]
	m.base++
	m.trimFront()
}

// sparsePut puts key in sparse, making it if need be.
func (m *Map) sparsePut(key uint64, val int32) {
	if m.sparse == nil {
		m.sparse = idmap.New(16)
	}
	m.sparse.Put(key, val)
}

// trimFront drops the empty pages at the front of the span, but not its
// last page (which may be the one a Put is about to fill).
func (m *Map) trimFront() {
	for len(m.pages) > 1 && m.pages[0] == nil {
		m.pages, m.live = m.pages[1:], m.live[1:]
		m.base++
	}
}

// newPage returns an empty page.
func (m *Map) newPage() *page {
	if n := len(m.spare); n > 0 {
		pg := m.spare[n-1]
		m.spare = m.spare[:n-1]
		return pg
	}
	return new(page)
}

// All calls fn for every key and value: the pages' keys in increasing
// order, then the others in no particular order. fn must not change the
// map.
func (m *Map) All(fn func(key uint64, val int32)) {
	for k, pg := range m.pages {
		if pg == nil {
			continue
		}
		first := (m.base + uint64(k)) << pageBits
		for i, v := range pg {
			if v != 0 {
				fn(first+uint64(i), int32(v)-1)
			}
		}
	}
	if m.sparse != nil {
		m.sparse.All(fn)
	}
}

// Clear removes every key, keeping the pages for reuse.
func (m *Map) Clear() {
	for _, pg := range m.pages {
		if pg != nil {
			clear(pg[:])
			m.spare = append(m.spare, pg)
		}
	}
	m.pages, m.live = m.pages[:0:0], m.live[:0:0]
	m.base, m.dense = 0, 0
	if m.sparse != nil {
		m.sparse.Clear()
	}
}

// CopyFrom makes m a copy of src, reusing m's pages: a memory copy of
// each page. The zero Map may be a destination. m and src share nothing
// afterwards.
func (m *Map) CopyFrom(src *Map) {
	if m == src {
		// The loop below would copy pages of m over others of m.
		return
	}
	// m's pages go to the end of the spare ones, which newPage takes
	// first: each is overwritten whole by a page of src, and those src
	// does not need are cleared below, as a spare page must be empty.
	clean := len(m.spare)
	for _, pg := range m.pages {
		if pg != nil {
			m.spare = append(m.spare, pg)
		}
	}
	m.pages = append(m.pages[:0], src.pages...)
	for k, pg := range m.pages {
		if pg != nil {
			cp := m.newPage()
			*cp = *pg
			m.pages[k] = cp
		}
	}
	if len(m.spare) > clean {
		for _, pg := range m.spare[clean:] {
			clear(pg[:])
		}
	}
	m.live = append(m.live[:0], src.live...)
	m.base, m.dense = src.base, src.dense
	switch {
	case src.sparse == nil:
		if m.sparse != nil {
			m.sparse.Clear()
		}
	case m.sparse == nil:
		m.sparse = new(idmap.Map)
		fallthrough
	default:
		m.sparse.CopyFrom(src.sparse)
	}
}

// Bytes returns about how much memory the map's tables take: its pages
// (in the span, and the empty ones kept for reuse) and the hash map.
func (m *Map) Bytes() int {
	n := len(m.spare) * int(unsafe.Sizeof(page{}))
	for _, pg := range m.pages {
		if pg != nil {
			n += int(unsafe.Sizeof(*pg))
		}
	}
	if m.sparse != nil {
		n += 16 * m.sparse.Slots()
	}
	return n
}

// GrowAhead is the hash map's idmap.Map.GrowAhead, for the keys outside
// the pages: the pages themselves never grow all at once.
func (m *Map) GrowAhead(within int) func() {
	if m.sparse == nil {
		return nil
	}
	return m.sparse.GrowAhead(within)
}

// Reserve makes spare pages for n consecutive ids, so that that many new
// ids take no allocation for their pages. It reserves nothing in the
// hash map: the keys that leave the pages for it make it grow as they
// come (incrementally, see idmap).
func (m *Map) Reserve(n int) {
	for need := (n+pageSize-1)/pageSize + 1; len(m.spare) < need; {
		m.spare = append(m.spare, new(page))
	}
}
