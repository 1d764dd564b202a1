package book

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// reviewBooks returns an indexed book and a handleTwin (no index) with
// rules: the same commands go to both.
func reviewBooks(t *testing.T, rules Rules) (*Book, *handleTwin) {
	t.Helper()
	b, err := New(rules, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newHandleTwin(rules, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b, w
}

// reviewPlace places o in both books and requires the same events,
// handles included, and handles that checkHandles accepts.
func reviewPlace(t *testing.T, b *Book, w *handleTwin, o Order) []Event {
	t.Helper()
	evs, err := b.Place(nil, &o)
	if err != nil {
		t.Fatalf("Place(%+v): %v", o, err)
	}
	if err := checkHandles(b, evs); err != nil {
		t.Fatalf("Place(%+v): %v\n%s", o, err, fmtEvents(evs))
	}
	tw, _, _ := w.place(o, nil)
	if !slices.Equal(tw, evs) {
		t.Fatalf("Place(%+v): without an index\n%s  with one\n%s", o, fmtEvents(tw), fmtEvents(evs))
	}
	for _, bk := range []*Book{b, w.b} {
		if err := bk.Check(); err != nil {
			t.Fatalf("Place(%+v): Check: %v", o, err)
		}
	}
	return slices.Clone(evs)
}

// handleOfEvent returns the handle of the first event of kind k about
// order id in evs.
func handleOfEvent(t *testing.T, evs []Event, k EventKind, id uint64) Handle {
	t.Helper()
	for _, e := range evs {
		if e.Kind == k && e.OrderID == id {
			return e.Handle
		}
	}
	t.Fatalf("no %s event of order %d in\n%s", k, id, fmtEvents(evs))
	return 0
}

// A taker rests, then a stop its trade released trades it away and rests
// in the node it left, all in one command: the taker's EvAccepted handle
// is the stop's, and that handle finds the stop and refuses the taker.
func TestReviewHandleNodeReusedInOneCommand(t *testing.T) {
	b, w := reviewBooks(t, Rules{TickSize: 1, LotSize: 1})
	// No trade yet (last price 0): a buy stop at 100 waits.
	reviewPlace(t, b, w, Order{ID: 1, Owner: 1, Side: Buy, Type: StopLimit, StopPrice: 100, Price: 120, Qty: 10})
	reviewPlace(t, b, w, Order{ID: 2, Owner: 2, Side: Buy, Price: 110, Qty: 5})
	// Order 3 sells 5 to order 2 at 110 (the last price: the stop
	// triggers), rests 3 in the node order 2 left, and the stop buys
	// those 3 and rests 7 in the node order 3 left.
	evs := reviewPlace(t, b, w, Order{ID: 3, Owner: 3, Side: Sell, Price: 110, Qty: 8})
	h3 := handleOfEvent(t, evs, EvAccepted, 3)
	h1 := handleOfEvent(t, evs, EvTriggered, 1)
	if h3 == 0 || h3 != h1 {
		t.Fatalf("taker rested at %d, the stop at %d: want one node, reused\n%s", h3, h1, fmtEvents(evs))
	}
	if _, ok := w.b.OrderAt(h3, 3); ok {
		t.Fatal("the taker, traded away, is found at its handle")
	}
	o, ok := w.b.OrderAt(h1, 1)
	if !ok || o.Open != 7 || o.Price != 120 || o.Stop {
		t.Fatalf("the stop at its handle: %+v, %v", o, ok)
	}
	for _, f := range []func() error{
		func() error { _, err := w.b.CancelAt(nil, h3, 3); return err },
		func() error { _, err := w.b.AmendAt(nil, h3, 3, 120, 1); return err },
		func() error { return w.b.SetStopBudgetAt(h3, 3, 100) },
	} {
		if err := f(); !errors.Is(err, ErrUnknownOrder) {
			t.Fatalf("a command on the taker at its stale handle: %v, want ErrUnknownOrder", err)
		}
	}
	if got := slices.Collect(w.b.All()); len(got) != 1 || got[0].ID != 1 {
		t.Fatalf("the refused commands changed the book: %+v", got)
	}
	evs, err := w.b.CancelAt(nil, h1, 1)
	if err != nil || len(evs) != 1 || evs[0].Kind != EvCancelled || evs[0].Qty != 7 {
		t.Fatalf("CancelAt the stop: %v\n%s", err, fmtEvents(evs))
	}
	if err := w.b.Check(); err != nil || w.b.Len() != 0 || w.b.Stops() != 0 {
		t.Fatalf("Check %v, %d resting, %d stops", err, w.b.Len(), w.b.Stops())
	}
}

// An amend that loses priority leaves its node and rests again (here in
// the node of the maker it traded away); its trade releases a stop that
// trades it away in turn and rests in the node it left, in the same
// command: the EvAmended handle is the stop's, and finds the stop only.
func TestReviewHandleAmendMoves(t *testing.T) {
	b, w := reviewBooks(t, Rules{TickSize: 1, LotSize: 1})
	// No trade yet (last price 0): the buy stop at 50 waits.
	reviewPlace(t, b, w, Order{ID: 1, Owner: 1, Side: Buy, Type: StopLimit, StopPrice: 50, Price: 130, Qty: 10})
	reviewPlace(t, b, w, Order{ID: 2, Owner: 2, Side: Sell, Price: 140, Qty: 5})
	evs := reviewPlace(t, b, w, Order{ID: 3, Owner: 3, Side: Sell, Price: 125, Qty: 6})
	h3 := handleOfEvent(t, evs, EvAccepted, 3)
	evs = reviewPlace(t, b, w, Order{ID: 4, Owner: 4, Side: Buy, Price: 90, Qty: 4})
	h4 := handleOfEvent(t, evs, EvAccepted, 4)
	// Order 3 sells at 90: 4 to order 4 (the last price is 90: the stop
	// triggers), and rests 2 in order 4's node; the stop buys those 2
	// and rests 8 at 130 in the node order 3 left.
	evs, err := b.Amend(nil, 3, 90, 6)
	if err != nil {
		t.Fatal(err)
	}
	tw, err := w.amend(3, 90, 6)
	if err != nil || !slices.Equal(tw, evs) {
		t.Fatalf("AmendAt: %v\n%s  Amend\n%s", err, fmtEvents(tw), fmtEvents(evs))
	}
	if err := checkHandles(b, evs); err != nil {
		t.Fatalf("%v\n%s", err, fmtEvents(evs))
	}
	ha := handleOfEvent(t, evs, EvAmended, 3)
	h1 := handleOfEvent(t, evs, EvTriggered, 1)
	if ha != h4 || h1 != ha || h1 == h3 {
		t.Fatalf("order 3 at %d, then amended at %d; order 4 at %d; the stop at %d: want the amend in order 4's node, the stop in it after\n%s",
			h3, ha, h4, h1, fmtEvents(evs))
	}
	for _, h := range []Handle{h3, ha} {
		if _, ok := w.b.OrderAt(h, 3); ok {
			t.Fatalf("order 3, traded away, is found at handle %d", h)
		}
	}
	if o, ok := w.b.OrderAt(h1, 1); !ok || o.Open != 8 || o.Price != 130 {
		t.Fatalf("the stop at its handle: %+v, %v", o, ok)
	}
	if !slices.Equal(slices.Collect(w.b.All()), slices.Collect(b.All())) {
		t.Fatal("the books differ")
	}
	if err := reviewHandlesComplete(w, []uint64{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
}

// reviewHandlesComplete checks the twin's handles against the whole book:
// every live order is found at the handle its events last gave, each at
// a handle of its own; and an order of ids that is not live is not found
// at its last handle.
func reviewHandlesComplete(w *handleTwin, ids []uint64) error {
	live := map[uint64]bool{}
	seen := map[Handle]uint64{}
	for o := range w.b.All() {
		live[o.ID] = true
		h, ok := w.handles[o.ID]
		if !ok {
			return fmt.Errorf("order %d is live, its events never gave a handle", o.ID)
		}
		at, found := w.b.OrderAt(h, o.ID)
		if !found || at != o {
			return fmt.Errorf("order %d at handle %d: %+v, %v; All gives %+v", o.ID, h, at, found, o)
		}
		if other, dup := seen[h]; dup {
			return fmt.Errorf("orders %d and %d at handle %d", other, o.ID, h)
		}
		seen[h] = o.ID
	}
	for _, id := range ids {
		if h, ok := w.handles[id]; ok && !live[id] {
			if o, found := w.b.OrderAt(h, id); found {
				return fmt.Errorf("order %d is not live, its handle %d finds %+v", id, h, o)
			}
		}
	}
	return nil
}

// A long differential run (Book, refBook and the twin without an index
// driven by handles) with the whole twin checked against its handles
// after every command, not only the orders of the command's events.
func TestReviewHandlesCompleteRandom(t *testing.T) {
	ops := 30_000
	if testing.Short() || raceEnabled() {
		ops = 10_000 // see TestDifferential
	}
	for _, seed := range []uint64{1, 2, 3} {
		seed := diffSeed(t, seed)
		p := newDiffPair(t, diffRules, 20)
		g := newDiffGen(seed, diffRules, p.r)
		triggered := 0
		for i := range ops {
			op := g.next()
			if msg := p.apply(op); msg != "" {
				t.Fatalf("seed %d op %d: %s", seed, i, msg)
			}
			for _, e := range p.evB {
				if e.Kind == EvTriggered {
					triggered++
				}
			}
			if i%4 == 0 || op.kind == opAmend {
				if err := reviewHandlesComplete(p.nb, g.recent); err != nil {
					t.Fatalf("seed %d op %d %v: %v\n%s", seed, i, op, err, fmtEvents(p.evB))
				}
			}
		}
		if triggered < ops/200 {
			t.Errorf("seed %d: only %d stops triggered", seed, triggered)
		}
	}
}

// Handles that are not an order's: out of range, of a free node or slot,
// of another order, zero, and an id of 0, are refused by every method
// that takes one, and change nothing.
func TestReviewHandleRefusesForeign(t *testing.T) {
	b, err := New(Rules{TickSize: 1, LotSize: 1}, &Options{NoIndex: true})
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	evs, _ = b.Place(evs[:0], &Order{ID: 1, Owner: 1, Side: Buy, Price: 100, Qty: 5})
	h1 := evs[0].Handle
	evs, _ = b.Place(evs[:0], &Order{ID: 2, Owner: 1, Side: Sell, Type: StopLimit, StopPrice: 90, Price: 90, Qty: 5})
	h2 := evs[0].Handle
	evs, _ = b.Place(evs[:0], &Order{ID: 3, Owner: 1, Side: Buy, Price: 99, Qty: 5})
	h3 := evs[0].Handle
	if _, err := b.CancelAt(evs[:0], h3, 3); err != nil { // a free node below nnodes
		t.Fatal(err)
	}
	if h1 <= 0 || h2 >= 0 || h3 <= 0 {
		t.Fatalf("handles %d %d %d", h1, h2, h3)
	}
	before := slices.Collect(b.All())
	for _, c := range []struct {
		h  Handle
		id uint64
	}{
		{0, 1}, {h1, 2}, {h2, 1}, {h1, 0}, {h2, 0}, {h3, 3}, {h1 + 1000, 1}, {h2 - 1000, 2},
		{Handle(1 << 30), 1}, {Handle(-1 << 31), 2}, {Handle(1<<31 - 1), 1},
	} {
		if _, ok := b.OrderAt(c.h, c.id); ok {
			t.Errorf("OrderAt(%d, %d) finds an order", c.h, c.id)
		}
		if _, err := b.CancelAt(nil, c.h, c.id); !errors.Is(err, ErrUnknownOrder) {
			t.Errorf("CancelAt(%d, %d): %v", c.h, c.id, err)
		}
		if _, err := b.AmendAt(nil, c.h, c.id, 100, 1); !errors.Is(err, ErrUnknownOrder) {
			t.Errorf("AmendAt(%d, %d): %v", c.h, c.id, err)
		}
		if err := b.SetStopBudgetAt(c.h, c.id, 100); !errors.Is(err, ErrUnknownOrder) {
			t.Errorf("SetStopBudgetAt(%d, %d): %v", c.h, c.id, err)
		}
	}
	if !slices.Equal(slices.Collect(b.All()), before) {
		t.Fatal("refused commands changed the book")
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
}

// Check of a book without an index still finds a free node in a queue
// and a pending stop whose slot was cleared.
func TestReviewCheckNoIndexFindsDamage(t *testing.T) {
	mk := func() (*Book, Handle, Handle) {
		b, err := New(Rules{TickSize: 1, LotSize: 1}, &Options{NoIndex: true})
		if err != nil {
			t.Fatal(err)
		}
		var evs []Event
		evs, _ = b.Place(evs[:0], &Order{ID: 1, Owner: 1, Side: Buy, Price: 100, Qty: 5})
		hn := evs[0].Handle
		b.Place(evs[:0], &Order{ID: 2, Owner: 1, Side: Buy, Price: 100, Qty: 5})
		evs, _ = b.Place(evs[:0], &Order{ID: 3, Owner: 1, Side: Sell, Type: StopLimit, StopPrice: 90, Price: 90, Qty: 5})
		return b, hn, evs[0].Handle
	}
	b, hn, _ := mk()
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	b.node(int32(hn) - 1).id = 0
	if err := b.Check(); err == nil {
		t.Error("Check misses a queued node with id 0")
	}
	b, _, hs := mk()
	b.stops.slots[-int(hs)-1].order = Order{}
	if err := b.Check(); err == nil {
		t.Error("Check misses a pending stop whose slot was cleared")
	}
	// A free node or stop slot that still holds its order's id: its
	// stale handle would find the order (at), and CancelAt would take a
	// free node out of a queue it is not in.
	b, hn, hs = mk()
	o := *b.node(int32(hn) - 1)
	ps := b.stops.slots[-int(hs)-1]
	b.CancelAt(nil, hn, 1)
	b.CancelAt(nil, hs, 3)
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	b.node(int32(hn) - 1).id = o.id
	if _, ok := b.OrderAt(hn, 1); !ok {
		t.Fatal("the damage is not what the test means")
	}
	if err := b.Check(); err == nil {
		t.Error("Check misses a free node that holds an order's id")
	}
	b.node(int32(hn) - 1).id = 0
	b.stops.slots[-int(hs)-1].order = ps.order
	if _, ok := b.OrderAt(hs, 3); !ok {
		t.Fatal("the damage is not what the test means")
	}
	if err := b.Check(); err == nil {
		t.Error("Check misses a free stop slot that holds an order")
	}
}
