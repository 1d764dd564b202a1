package book

import (
	"strings"
	"testing"
)

// TestCheckFindsBadPages: Check reports node pages of a broken shape and
// counts that disagree with them, and free-list entries out of range.
func TestCheckFindsBadPages(t *testing.T) {
	fresh := func() *Book {
		b, _ := New(Rules{TickSize: 1, LotSize: 1}, &Options{Capacity: 1})
		restAll(t, b, 1, 2*nodePageLen+3)
		if err := b.Check(); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		break_ func(b *Book)
		want   string
	}{
		{"no pages", func(b *Book) { b.pages = nil }, "no node page"},
		{"empty first page", func(b *Book) { b.pages = [][]node{{}}; b.capNodes, b.nnodes = 0, 0 }, "no node page"},
		{"short first page with others", func(b *Book) { b.pages[0] = b.pages[0][:100] }, "node page 0"},
		{"short later page", func(b *Book) { b.pages[2] = b.pages[2][:100] }, "node page 2"},
		{"long page", func(b *Book) { b.pages[1] = append(b.pages[1], node{}) }, "node page 1"},
		{"capNodes too high", func(b *Book) { b.capNodes += nodePageLen }, "capNodes"},
		{"capNodes too low", func(b *Book) { b.capNodes-- }, "capNodes"},
		{"nnodes past the pages", func(b *Book) { b.nnodes = int32(b.capNodes) + 1 }, "handed out"},
		{"negative nnodes", func(b *Book) { b.nnodes = -1 }, "handed out"},
		{"free node past nnodes", func(b *Book) { b.freeNode = b.nnodes }, "free list"},
		{"free node negative", func(b *Book) { b.freeNode = -7 }, "free list"},
		{"queue link past the pages", func(b *Book) { b.node(b.levels[b.sides[Buy].best].head).next = int32(b.capNodes) + 9000 }, "past the"},
		{"queue link past nnodes", func(b *Book) { b.node(b.levels[b.sides[Sell].best].head).next = b.nnodes }, "past the"},
		{"queue link negative", func(b *Book) { b.node(b.levels[b.sides[Sell].best].head).next = -3 }, "past the"},
	} {
		b := fresh()
		tc.break_(b)
		err := b.Check()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check = %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}
