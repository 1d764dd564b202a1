package book

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// TestGrowIncrementally grows a book from the default capacity to 60,000
// resting orders, with matches and cancels all along, next to a book with
// the room reserved beforehand: the events are the same after every
// order, the invariants hold (Check) while node pages are added (full
// pages never move) and the id index moves to larger tables a little at
// a time, and a frozen copy taken mid-move lists the same orders as the
// live book. With ahead, the
// arrays the growths take are made on other goroutines, while the book is
// used (GrowAhead after every command), whether or not they are ready in
// time.
func TestGrowIncrementally(t *testing.T) {
	for _, ahead := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "ahead"}[ahead], func(t *testing.T) {
			testGrowIncrementally(t, ahead)
		})
	}
}

func testGrowIncrementally(t *testing.T, ahead bool) {
	var wg sync.WaitGroup
	defer wg.Wait()
	asked := 0
	grown, _ := New(Rules{TickSize: 1, LotSize: 1}, nil)
	reserved, _ := New(Rules{TickSize: 1, LotSize: 1}, &Options{Capacity: 100_000})
	r := rand.New(rand.NewPCG(7, 8))
	var e1, e2 []Event
	var live []uint64
	pageAdds, indexMoves, frozen := 0, 0, 0
	var f Frozen
	var full []*node // the first node of each full page, which never moves
	for id := uint64(1); grown.Len() < 60_000; id++ {
		indexMoving := grown.index.left != 0
		pages, indexLeft := len(grown.pages), grown.index.left
		var err1, err2 error
		if r.IntN(8) == 0 && len(live) > 0 {
			k := r.IntN(len(live))
			e1, err1 = grown.Cancel(e1[:0], live[k])
			e2, err2 = reserved.Cancel(e2[:0], live[k])
			live[k] = live[len(live)-1]
			live = live[:len(live)-1]
		} else {
			// Mostly resting orders; every tenth crosses the spread.
			o := Order{ID: id, Owner: 1 + uint64(r.IntN(5)), Side: Side(r.IntN(2)), Price: 1000 + int64(r.IntN(200)), Qty: 1 + int64(r.IntN(9))}
			if r.IntN(10) != 0 {
				o.Price = 900 + int64(r.IntN(100))
				if o.Side == Sell {
					o.Price += 300
				}
			}
			o2 := o
			e1, err1 = grown.Place(e1[:0], &o)
			e2, err2 = reserved.Place(e2[:0], &o2)
			live = append(live, id)
		}
		if err1 != err2 || !slices.Equal(e1, e2) {
			t.Fatalf("command %d: %v %+v, reserved %v %+v", id, err1, e1, err2, e2)
		}
		if f := grown.GrowAhead(1); ahead && f != nil {
			asked++
			wg.Go(f)
		}
		// One order moves a few index slots, never the rest, and no node
		// of a full page.
		for k, n := range full {
			if &grown.pages[k][0] != n {
				t.Fatalf("command %d moved node page %d", id, k)
			}
		}
		for k := len(full); k < len(grown.pages) && len(grown.pages[k]) == nodePageLen; k++ {
			full = append(full, &grown.pages[k][0])
		}
		if indexMoving && grown.index.left != 0 && indexLeft-grown.index.left > 64 {
			t.Fatalf("command %d walked %d index slots", id, indexLeft-grown.index.left)
		}
		if len(grown.pages) > pages {
			pageAdds++
		}
		if !indexMoving && grown.index.left != 0 {
			indexMoves++
		}
		if len(grown.pages) > pages || grown.index.left != 0 && grown.index.left%1000 < 64 || id%5000 == 0 {
			if err := grown.Check(); err != nil {
				t.Fatalf("command %d: %v", id, err)
			}
		}
		if grown.index.left != 0 && frozen < 3 && r.IntN(100) == 0 {
			frozen++
			grown.FreezeInto(&f)
			if got, want := slices.Collect(f.All()), slices.Collect(grown.All()); !slices.Equal(got, want) {
				t.Fatalf("command %d: frozen copy lists %d orders, the book %d", id, len(got), len(want))
			}
		}
	}
	if err := grown.Check(); err != nil {
		t.Fatal(err)
	}
	if noOld[0] != (idSlot{}) {
		t.Fatalf("the shared empty old index table was written: %+v", noOld[0])
	}
	if ahead && asked < 4 {
		t.Fatalf("%d arrays asked for ahead", asked)
	}
	if pageAdds < 4 || indexMoves < 4 || frozen == 0 {
		t.Fatalf("%d node pages added, %d index moves, %d frozen mid-move: the test no longer covers growth", pageAdds, indexMoves, frozen)
	}
	if got, want := slices.Collect(grown.All()), slices.Collect(reserved.All()); !slices.Equal(got, want) {
		t.Fatalf("%d orders, reserved book %d", len(got), len(want))
	}
}

// The growths take the arrays made ahead when they are ready: node pages
// and the index's tables, each several times.
func TestGrowAheadTakesArrays(t *testing.T) {
	b, _ := New(Rules{TickSize: 1, LotSize: 1}, nil)
	var evs []Event
	var nodes *[]node
	var slots *[]idSlot
	tookNodes, tookSlots := 0, 0
	pages := len(b.pages)
	for id := uint64(1); id <= 200_000; id++ {
		// Resting buys only: every order takes a node and an index slot.
		var err error
		evs, err = b.Place(evs[:0], &Order{ID: id, Owner: 1, Side: Buy, Price: 1 + int64(id%500), Qty: 1})
		if err != nil {
			t.Fatal(err)
		}
		if nodes != nil && len(b.pages) != pages {
			if &b.pages[len(b.pages)-1][0] != &(*nodes)[0] {
				t.Fatalf("order %d: the new node page is not the one made ahead", id)
			}
			nodes = nil
			tookNodes++
		}
		pages = len(b.pages)
		if slots != nil && b.index.left != 0 {
			if &b.index.t.slots[0] != &(*slots)[0] {
				t.Fatalf("order %d: the index's growth did not take the table made ahead", id)
			}
			slots = nil
			tookSlots++
		}
		if f := b.GrowAhead(1); f != nil {
			if b.GrowAhead(1) != nil {
				t.Fatalf("order %d: asked twice", id)
			}
			f() // here, so that it is ready in time
			if b.ahead != nil && nodes == nil {
				nodes = b.ahead.ready.Load()
			}
			if b.index.ahead != nil && slots == nil {
				slots = b.index.ahead.ready.Load()
			}
		}
	}
	if tookNodes < 3 || tookSlots < 3 {
		t.Fatalf("the node pages took %d arrays made ahead, the index %d", tookNodes, tookSlots)
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
}
