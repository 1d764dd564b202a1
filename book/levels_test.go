package book

import (
	"math/rand/v2"
	"testing"
)

// Levels that empty stay in the tree until there are many; then they are
// pruned. Through it all the book stays consistent and the best prices
// and depth are right.
func TestEmptyLevelsKeptAndPruned(t *testing.T) {
	b, err := New(Rules{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	var evs []Event
	live := map[uint64]bool{}
	id := uint64(0)
	pruned := false
	var prevEmpty [2]int
	for i := range 60_000 {
		if len(live) > 0 && r.IntN(2) == 0 {
			for k := range live { // any live order
				evs, err = b.Cancel(evs[:0], k)
				delete(live, k)
				break
			}
		} else {
			id++
			side := Side(r.IntN(2))
			price := int64(10_000 - 1 - r.IntN(5000))
			if side == Sell {
				price = int64(10_000 + r.IntN(5000))
			}
			evs, err = b.Place(evs[:0], &Order{ID: id, Side: side, Price: price, Qty: 1})
			live[id] = true
		}
		if err != nil {
			t.Fatal(err)
		}
		for side := range b.sides {
			e := b.sides[side].empty
			if e < prevEmpty[side]-1 {
				pruned = true // a prune dropped many at once
			}
			prevEmpty[side] = e
			if live := b.sides[side].tree.Len() - e; e > pruneMin+1 && e > 2*live+1 {
				t.Fatalf("op %d: %d empty levels kept next to %d live ones", i, e, live)
			}
		}
		if i%97 == 0 {
			if err := b.Check(); err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
		}
	}
	if !pruned {
		t.Fatal("empty levels were never pruned")
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
}
