package book

import (
	"math/rand/v2"
	"testing"
)

// TestReserve places the same orders in a plain book and in one with room
// reserved (when already holding orders): the events are the same, and the
// reserved book does not grow within its size.
func TestReserve(t *testing.T) {
	plain, _ := New(Rules{TickSize: 1, LotSize: 1}, nil)
	res, _ := New(Rules{TickSize: 1, LotSize: 1}, nil)
	r := rand.New(rand.NewPCG(5, 6))
	var e1, e2 []Event
	place := func(id uint64) {
		o := Order{ID: id, Owner: 1 + uint64(r.IntN(5)), Side: Side(r.IntN(2)), Price: 1000 + int64(r.IntN(200)), Qty: 1 + int64(r.IntN(9))}
		o2 := o
		var err1, err2 error
		e1, err1 = plain.Place(e1[:0], &o)
		e2, err2 = res.Place(e2[:0], &o2)
		if err1 != err2 || len(e1) != len(e2) {
			t.Fatalf("order %d: %v/%d events vs %v/%d", id, err1, len(e1), err2, len(e2))
		}
		for i := range e1 {
			if e1[i] != e2[i] {
				t.Fatalf("order %d: event %+v vs %+v", id, e1[i], e2[i])
			}
		}
	}
	for id := uint64(1); id <= 100; id++ {
		place(id)
	}
	res.Reserve(20_000)
	c := res.Cap()
	if c < 20_000 {
		t.Fatalf("Cap %d after Reserve(20000)", c)
	}
	for id := uint64(101); id <= 20_000; id++ {
		place(id)
	}
	if res.Cap() != c {
		t.Fatalf("grew from %d to %d within the reserved size (%d resting)", c, res.Cap(), res.Len())
	}
	if plain.Len() != res.Len() {
		t.Fatalf("%d resting vs %d", plain.Len(), res.Len())
	}
	if err := res.Check(); err != nil {
		t.Fatal(err)
	}
}
