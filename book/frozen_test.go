package book

import (
	"slices"
	"testing"
)

// TestFrozenMatchesAll freezes a book driven by the differential test's
// random operations (limits, icebergs, stops, cancels, amends) and checks
// that the copy yields exactly what Book.All yields, and still does after
// the book has moved on; the same Frozen is refrozen each time.
func TestFrozenMatchesAll(t *testing.T) {
	p := newDiffPair(t, diffRules, 20)
	g := newDiffGen(diffSeed(t, 7), diffRules, p.r)
	var f Frozen
	if n := len(slices.Collect(f.All())); n != 0 || f.Len() != 0 {
		t.Fatalf("zero Frozen: %d orders, Len %d", n, f.Len())
	}
	stops := 0
	for i := range 30_000 {
		if msg := p.apply(g.next()); msg != "" {
			t.Fatal(msg)
		}
		if i%97 != 0 {
			continue
		}
		p.b.FreezeInto(&f)
		want := slices.Collect(p.b.All())
		if got := slices.Collect(f.All()); !slices.Equal(got, want) || f.Len() != len(want) {
			t.Fatalf("op %d: frozen %d orders (Len %d), book %d:\n%v\n%v", i, len(got), f.Len(), len(want), got, want)
		}
		stops += len(f.stops)
		for range 40 {
			if msg := p.apply(g.next()); msg != "" {
				t.Fatal(msg)
			}
		}
		if got := slices.Collect(f.All()); !slices.Equal(got, want) {
			t.Fatalf("op %d: the frozen copy changed with the book", i)
		}
	}
	if stops == 0 {
		t.Fatal("no pending stop was ever frozen")
	}
}
