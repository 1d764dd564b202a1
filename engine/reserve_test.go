package engine

import (
	"math/rand/v2"
	"testing"
)

// TestReserveChangesNothing applies one random stream to a plain state and
// to one with room reserved (at the start, and more in the middle, when it
// holds orders): outcomes, events and the state hash must be the same, and
// within the reserved size the tables must not grow.
func TestReserveChangesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t, 3), 0))
	a, b := NewState(), NewState()
	b.Reserve(Capacity{Orders: 2048, BookOrders: 2048})
	slabCap, tableLen := b.orders.capacity(), len(b.clientIDs.slots)
	apply := twinApply(t, a, b)
	for _, c := range genesis(6) {
		apply(c)
	}
	for i := range 40_000 {
		if i == 20_000 {
			if a.orders.len() == 0 {
				t.Fatal("no live orders to rehash")
			}
			b.Reserve(Capacity{Orders: 1 << 14, BookOrders: 1 << 14})
			slabCap, tableLen = b.orders.capacity(), len(b.clientIDs.slots)
			if err := b.Check(); err != nil {
				t.Fatalf("after Reserve: %v", err)
			}
		}
		apply(randomCommand(r, a, 6))
		if b.orders.len() <= 2048 && (b.orders.capacity() != slabCap || len(b.clientIDs.slots) != tableLen) {
			t.Fatalf("command %d: tables grew within the reserved size (%d live orders)", a.Seq(), b.orders.len())
		}
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	if a.Hash() != b.Hash() {
		t.Fatal("state hashes differ")
	}
}

// TestEngineCapacity opens an engine with Options.Capacity: its markets'
// books are created with the room reserved.
func TestEngineCapacity(t *testing.T) {
	e, err := Open(&Options{Capacity: Capacity{Orders: 5000, BookOrders: 3000}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := e.state.orders.capacity(); got < 5000 {
		t.Fatalf("order slab capacity %d", got)
	}
	e.Close()
	s := NewState()
	s.Reserve(Capacity{BookOrders: 3000})
	var evs []Event
	for i, c := range genesis(1) {
		c.Seq = uint64(i + 1)
		_, evs = s.Apply(&c, evs[:0])
	}
	if len(s.markets) == 0 {
		t.Fatal("no market")
	}
	for _, m := range s.markets {
		if got := m.book.Cap(); got < 3000 {
			t.Fatalf("market %d: book capacity %d", m.id, got)
		}
	}
}

// twinApply returns a function that applies a command, with the next
// sequence number and a time from it, to a and to b, and fails t unless
// both give the same outcome and events. It returns the outcome.
func twinApply(t *testing.T, a, b *State) func(Command) Outcome {
	var ea, eb []Event
	var seq uint64
	return func(c Command) Outcome {
		seq++
		c.Seq, c.Time = seq, int64(seq)*1000
		var oa, ob Outcome
		oa, ea = a.Apply(&c, ea[:0])
		ob, eb = b.Apply(&c, eb[:0])
		if oa != ob || len(ea) != len(eb) {
			t.Fatalf("command %d %+v: %+v / %d events vs %+v / %d events", seq, c, oa, len(ea), ob, len(eb))
		}
		for i := range ea {
			if ea[i] != eb[i] {
				t.Fatalf("command %d: event %d %+v vs %+v", seq, i, ea[i], eb[i])
			}
		}
		return oa
	}
}
