package book

import (
	"slices"
	"testing"
)

// pagesShape checks the node pages' shape as checkPages states it, and
// that capNodes and Cap agree with them.
func pagesShape(t *testing.T, b *Book, what string) {
	t.Helper()
	if err := b.Check(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	total := 0
	for _, p := range b.pages {
		total += len(p)
	}
	if total != b.capNodes {
		t.Fatalf("%s: pages hold %d, capNodes %d", what, total, b.capNodes)
	}
	if b.Cap() > b.capNodes {
		t.Fatalf("%s: Cap %d above the nodes' %d", what, b.Cap(), b.capNodes)
	}
}

// restAll places n resting orders (buys below sells, never crossing)
// with ids from first on.
func restAll(t *testing.T, b *Book, first uint64, n int) []uint64 {
	t.Helper()
	var evs []Event
	ids := make([]uint64, 0, n)
	for k := range n {
		id := first + uint64(k)
		o := Order{ID: id, Owner: 1 + id%7, Side: Buy, Price: 1 + int64(id%300), Qty: 1 + int64(id%5)}
		if id%2 == 0 {
			o.Side, o.Price = Sell, 1000+int64(id%300)
		}
		var err error
		if evs, err = b.Place(evs[:0], &o); err != nil {
			t.Fatalf("order %d: %v", id, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestPagesByCapacity: New with capacities around the page size gives a
// first page of the capacity (at most a page) and whole pages after it,
// room for at least the capacity without growing; the book then grows
// past it, through the first page's growth and added pages, with Check,
// All and a frozen copy agreeing, and full pages never move.
func TestPagesByCapacity(t *testing.T) {
	for _, c := range []int{1, 63, 64, 65, 4095, 4096, 4097, 8192, 100_000} {
		b, err := New(Rules{TickSize: 1, LotSize: 1}, &Options{Capacity: c})
		if err != nil {
			t.Fatal(err)
		}
		pagesShape(t, b, "new")
		if got, want := len(b.pages[0]), min(c, nodePageLen); got != want {
			t.Fatalf("capacity %d: first page %d nodes, want %d", c, got, want)
		}
		if b.capNodes < c || b.capNodes >= c+nodePageLen {
			t.Fatalf("capacity %d: %d nodes", c, b.capNodes)
		}
		if b.Cap() < c {
			t.Fatalf("capacity %d: Cap %d", c, b.Cap())
		}
		// Up to the capacity: no growth of the nodes.
		pages, capNodes := len(b.pages), b.capNodes
		first := &b.pages[0][0]
		ids := restAll(t, b, 1, c)
		if len(b.pages) != pages || b.capNodes != capNodes || &b.pages[0][0] != first {
			t.Fatalf("capacity %d: the nodes grew within it (%d pages of %d nodes, was %d of %d)",
				c, len(b.pages), b.capNodes, pages, capNodes)
		}
		pagesShape(t, b, "at capacity")
		// Past it, to three pages more than it needs.
		var full []*node
		next := uint64(c + 1)
		for b.Len() < c+3*nodePageLen+17 {
			ids = append(ids, restAll(t, b, next, 1)...)
			next++
			for k, n := range full {
				if &b.pages[k][0] != n {
					t.Fatalf("capacity %d: order %d moved full page %d", c, next-1, k)
				}
			}
			for k := len(full); k < len(b.pages) && len(b.pages[k]) == nodePageLen; k++ {
				full = append(full, &b.pages[k][0])
			}
		}
		pagesShape(t, b, "grown")
		if int(b.nnodes) != b.Len() {
			t.Fatalf("capacity %d: %d nodes handed out for %d orders, none cancelled", c, b.nnodes, b.Len())
		}
		var f Frozen
		b.FreezeInto(&f)
		if got, want := slices.Collect(f.All()), slices.Collect(b.All()); !slices.Equal(got, want) || len(want) != len(ids) {
			t.Fatalf("capacity %d: frozen %d orders, book %d, placed %d", c, len(got), len(want), len(ids))
		}
		if len(f.nodes) != int(b.nnodes) {
			t.Fatalf("capacity %d: frozen %d nodes of %d", c, len(f.nodes), b.nnodes)
		}
	}
}

// TestPagesReserve: Reserve before any order and after some, on a book
// whose first page is still small, full, or followed by others: room for
// n afterwards, the orders kept, and no growth up to n.
func TestPagesReserve(t *testing.T) {
	for _, tc := range []struct{ capacity, before, reserve int }{
		{1, 0, 1}, {1, 0, 2}, {1, 1, 64}, {64, 10, 100}, {64, 64, 4096}, {64, 64, 4097},
		{100, 50, 20_000}, {4096, 4096, 4096}, {4096, 4000, 9000}, {4097, 5000, 5000},
		{5000, 6000, 3}, {1024, 0, 100_000},
	} {
		b, _ := New(Rules{TickSize: 1, LotSize: 1}, &Options{Capacity: tc.capacity})
		restAll(t, b, 1, tc.before)
		want := slices.Collect(b.All())
		b.Reserve(tc.reserve)
		pagesShape(t, b, "reserved")
		if b.Cap() < tc.reserve || b.capNodes < tc.reserve {
			t.Fatalf("%+v: Cap %d, %d nodes", tc, b.Cap(), b.capNodes)
		}
		if got := slices.Collect(b.All()); !slices.Equal(got, want) {
			t.Fatalf("%+v: Reserve changed the orders", tc)
		}
		pages, capNodes := len(b.pages), b.capNodes
		restAll(t, b, uint64(tc.before)+1, max(0, tc.reserve-tc.before))
		if len(b.pages) != pages || b.capNodes != capNodes {
			t.Fatalf("%+v: grew within the reserved room (%d pages, %d nodes; was %d, %d)", tc, len(b.pages), b.capNodes, pages, capNodes)
		}
		pagesShape(t, b, "filled")
	}
	// Reserve above MaxCapacity is MaxCapacity: not tried (it would
	// allocate it), nor is a negative n harmful.
	b, _ := New(Rules{TickSize: 1, LotSize: 1}, &Options{Capacity: 10})
	b.Reserve(-5)
	b.Reserve(0)
	pagesShape(t, b, "Reserve(-5), Reserve(0)")
	if b.capNodes != 10 {
		t.Fatalf("Reserve of nothing made %d nodes", b.capNodes)
	}
}

// TestPagesFreeList: nodes freed in several pages are reused, last freed
// first, before any new node is handed out or a page added; the book
// stays consistent and a frozen copy follows it.
func TestPagesFreeList(t *testing.T) {
	b, _ := New(Rules{TickSize: 1, LotSize: 1}, &Options{Capacity: 1})
	ids := restAll(t, b, 1, 3*nodePageLen)
	if len(b.pages) != 3 || b.nnodes != 3*nodePageLen || b.capNodes != 3*nodePageLen {
		t.Fatalf("%d pages, %d of %d nodes", len(b.pages), b.nnodes, b.capNodes)
	}
	var evs []Event
	// Cancel orders of each page (node i holds order i+1: no node was
	// freed before).
	var gone []uint64
	for _, k := range []int{0, 1, nodePageLen - 1, nodePageLen, 2*nodePageLen + 5, 3*nodePageLen - 1} {
		if got := b.node(int32(k)).id; got != ids[k] {
			t.Fatalf("node %d holds order %d, want %d", k, got, ids[k])
		}
		var err error
		if evs, err = b.Cancel(evs[:0], ids[k]); err != nil {
			t.Fatal(err)
		}
		gone = append(gone, ids[k])
	}
	pagesShape(t, b, "cancelled")
	// New orders take the freed nodes, the last freed first.
	next := uint64(3*nodePageLen + 1)
	for j := len(gone) - 1; j >= 0; j-- {
		free := b.freeNode
		restAll(t, b, next, 1)
		if v, ok := b.index.get(next); !ok || v != free {
			t.Fatalf("order %d in node %d (%v), want the freed node %d", next, v, ok, free)
		}
		next++
	}
	if b.freeNode != nilIdx || len(b.pages) != 3 || b.nnodes != 3*nodePageLen {
		t.Fatalf("after reuse: free %d, %d pages, %d nodes", b.freeNode, len(b.pages), b.nnodes)
	}
	restAll(t, b, next, 1) // the next takes a new page
	if len(b.pages) != 4 || b.nnodes != 3*nodePageLen+1 {
		t.Fatalf("%d pages, %d nodes", len(b.pages), b.nnodes)
	}
	pagesShape(t, b, "reused")
	var f Frozen
	b.FreezeInto(&f)
	if got, want := slices.Collect(f.All()), slices.Collect(b.All()); !slices.Equal(got, want) {
		t.Fatalf("frozen %d orders, book %d", len(got), len(want))
	}
}

// TestPagesRestore: a book restored from another's orders (as a snapshot
// is loaded: New with the count as capacity, or a small one that grows)
// lists the same orders, at each count around the page size.
func TestPagesRestore(t *testing.T) {
	for _, n := range []int{0, 1, 64, 4095, 4096, 4097, 3*nodePageLen + 1} {
		src, _ := New(Rules{TickSize: 1, LotSize: 1}, nil)
		restAll(t, src, 1, n)
		want := slices.Collect(src.All())
		for _, c := range []int{n, 1} {
			dst, err := New(Rules{TickSize: 1, LotSize: 1}, &Options{Capacity: c})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range want {
				if _, err := dst.Restore(o); err != nil {
					t.Fatalf("%d orders, capacity %d: %v", n, c, err)
				}
			}
			pagesShape(t, dst, "restored")
			if got := slices.Collect(dst.All()); !slices.Equal(got, want) {
				t.Fatalf("%d orders, capacity %d: restored %d", n, c, len(got))
			}
			var f Frozen
			dst.FreezeInto(&f)
			if got := slices.Collect(f.All()); !slices.Equal(got, want) {
				t.Fatalf("%d orders, capacity %d: frozen %d", n, c, len(got))
			}
		}
	}
}

// TestPagesGrowAhead: GrowAhead asks for nothing while the first page
// grows by copying, then for a whole page when the nodes are near full,
// which the next page added is.
func TestPagesGrowAhead(t *testing.T) {
	b, _ := New(Rules{TickSize: 1, LotSize: 1}, &Options{Capacity: 64})
	for id := uint64(1); len(b.pages[0]) < nodePageLen; id++ {
		if b.nodesAhead(1<<20) != nil {
			t.Fatalf("order %d: asked for a page while the first one grows (%d nodes)", id, len(b.pages[0]))
		}
		restAll(t, b, id, 1)
	}
	next := uint64(b.Len() + 1)
	restAll(t, b, next, nodePageLen-b.Len())
	next = uint64(b.Len() + 1)
	fn := b.nodesAhead(1)
	if fn == nil {
		t.Fatal("a full first page: no page asked for")
	}
	if b.nodesAhead(1) != nil {
		t.Fatal("asked twice")
	}
	fn()
	made := b.ahead.ready.Load()
	if made == nil || len(*made) != nodePageLen {
		t.Fatal("no page made ahead")
	}
	restAll(t, b, next, 1)
	if len(b.pages) != 2 || &b.pages[1][0] != &(*made)[0] {
		t.Fatal("the page added is not the one made ahead")
	}
	// A page made ahead but not taken by a Reserve stays for the next
	// growth; Reserve makes its own.
	restAll(t, b, next+1, nodePageLen-1)
	fn = b.nodesAhead(1)
	if fn == nil {
		t.Fatal("full again: no page asked for")
	}
	fn()
	made = b.ahead.ready.Load()
	b.Reserve(b.capNodes + 1)
	pagesShape(t, b, "reserved")
	if &b.pages[2][0] == &(*made)[0] {
		t.Fatal("Reserve took the page made ahead")
	}
	restAll(t, b, uint64(b.Len()+1), nodePageLen+1)
	if len(b.pages) != 4 || &b.pages[3][0] != &(*made)[0] {
		t.Fatal("the growth after Reserve did not take the page made ahead")
	}
	pagesShape(t, b, "grown")
}
