package engine

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// TestGrowIncrementally places 40,000 resting orders with client order
// ids into a fresh state, with cancels by client order id and resends all
// along, next to a state with the room reserved: outcomes, events and the
// final hash are the same while the client order id table and the book's
// array move to larger ones a few entries at a time;
// the invariants hold; and a snapshot frozen mid-growth, filled after
// more commands, is the snapshot of the state when it was frozen. With
// ahead, the arrays the growths take are made on other goroutines, as the
// matcher has them made, while the state is used.
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
	start := func(f func()) { asked++; wg.Go(f) }
	r := rand.New(rand.NewPCG(testSeed(t, 11), 0))
	a, b := NewState(), NewState()
	b.Reserve(Capacity{Orders: 60_000, BookOrders: 60_000})
	both := twinApply(t, a, b)
	apply := func(c Command) {
		if out := both(c); out.Err != nil {
			t.Fatalf("%+v: %v", c, out.Err)
		}
	}
	for _, c := range genesis(100) {
		apply(c)
	}
	for acct := uint64(1); acct <= 100; acct++ {
		apply(Command{Kind: CmdDeposit, Account: acct, Asset: 1, Amount: 1 << 40})
		apply(Command{Kind: CmdDeposit, Account: acct, Asset: 2, Amount: 1 << 40})
	}
	ref := func(i int) Ref { v, _ := MakeRef(fmt.Sprint("g", i)); return v }
	var live []int // orders placed, some cancelled since
	refGrowth, frozen := 0, 0
	var fz snapFreeze
	var buf []byte
	for i := range 40_000 {
		refsGrowing := a.clientIDs.left != 0
		c := restingOrder(i, 0)
		c.Ref = ref(i)
		switch k := r.IntN(10); {
		case k < 2 && len(live) > 0: // cancel a random one by client order id
			j := r.IntN(len(live))
			o := restingOrder(live[j], 0)
			c = Command{Kind: CmdCancel, Account: o.Account, Market: 1, Ref: ref(live[j])}
			live[j] = live[len(live)-1]
			live = live[:len(live)-1]
		case k == 2 && i > 0: // a resend of an earlier order
			j := r.IntN(i)
			c = restingOrder(j, 0)
			c.Ref = ref(j)
		default:
			live = append(live, i)
		}
		apply(c)
		if ahead {
			a.growAhead([]uint32{1, 2}, 1, start)
		}
		if !refsGrowing && a.clientIDs.left != 0 {
			refGrowth++
		}
		if a.clientIDs.left != 0 && r.IntN(100) == 0 || i%5000 == 4999 {
			if err := a.Check(); err != nil {
				t.Fatalf("command %d: %v", a.Seq(), err)
			}
			want := a.AppendSnapshot(nil)
			buf = a.encodeSnapshotBody(buf[:0], &fz)
			for j := range 50 { // the state moves on before the orders are written
				apply(Command{Kind: CmdPlace, Account: uint64(1 + j), Market: 2,
					Order: book.Order{Side: book.Buy, Price: 100 + 2*int64(j%10), Qty: 3}})
			}
			fz.fill(buf)
			if got := sealSnapshot(buf, 0); !bytes.Equal(got, want) {
				t.Fatalf("command %d: snapshot frozen while growing differs from the state's", a.Seq())
			}
			frozen++
		}
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	if a.Hash() != b.Hash() {
		t.Fatal("state hashes differ")
	}
	if ahead {
		t.Logf("%d arrays made ahead", asked)
		if asked < 6 {
			t.Fatalf("too few arrays made ahead")
		}
	}
	if refGrowth < 4 || frozen < 10 {
		t.Fatalf("%d client order id table growths, %d snapshots: the test no longer covers growth", refGrowth, frozen)
	}
	if n := a.markets[0].book.Len(); n < 20_000 {
		t.Fatalf("%d resting orders: too few for the book's array to grow incrementally", n)
	}
}

// The matcher has the arrays its tables will grow into made ahead: after
// enough resting orders with client order ids, the client order id
// table has asked for one (and a growth has taken it since, or will).
// A matcher that never calls growAhead fails this.
func TestEngineGrowsAhead(t *testing.T) {
	e, err := Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range genesis(100) {
		if res := mustDo(t, e, c); res.Err != nil {
			t.Fatalf("%v: %v", c.Kind, res.Err)
		}
	}
	for a := uint64(1); a <= 100; a++ {
		mustDo(t, e, Command{Kind: CmdDeposit, Account: a, Asset: 1, Amount: 1 << 40})
		mustDo(t, e, Command{Kind: CmdDeposit, Account: a, Asset: 2, Amount: 1 << 40})
	}
	const n = 14_000 // the client order id table asks at 11,264 (16,384 slots)
	var wg sync.WaitGroup
	var failed atomic.Int64
	wg.Add(n)
	for i := range n {
		c := restingOrder(i, 0)
		c.Ref, _ = MakeRef(fmt.Sprint("r", i))
		if err := e.Submit(context.Background(), &c, func(r *Result) {
			if r.Err != nil {
				failed.Add(1)
			}
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := e.Close(); err != nil { // the matcher has stopped: its state may be read
		t.Fatal(err)
	}
	if failed.Load() != 0 {
		t.Fatalf("%d orders refused", failed.Load())
	}
	if e.state.clientIDs.ahead == nil {
		t.Fatalf("the client order id table (%d entries in %d slots) never asked for its next array", e.state.clientIDs.n, len(e.state.clientIDs.slots))
	}
	if err := e.state.Check(); err != nil {
		t.Fatal(err)
	}
}

// touched.inBatch lists each market a batch's commands touched once, and
// only that batch's: the books the matcher's growAhead looks at.
func TestTouchedInBatch(t *testing.T) {
	s := NewState()
	var evs []Event
	seq := uint64(0)
	apply := func(c Command) (Outcome, []Event) {
		seq++
		c.Seq = seq
		var out Outcome
		out, evs = s.Apply(&c, evs[:0])
		if out.Err != nil {
			t.Fatalf("%v: %v", c.Kind, out.Err)
		}
		return out, evs
	}
	for _, c := range genesis(4) {
		apply(c)
	}
	for a := uint64(1); a <= 4; a++ {
		apply(Command{Kind: CmdDeposit, Account: a, Asset: 1, Amount: 1 << 30})
		apply(Command{Kind: CmdDeposit, Account: a, Asset: 2, Amount: 1 << 30})
	}
	tr := newTouched(s)
	place := func(market uint32, i int) {
		c := Command{Kind: CmdPlace, Account: uint64(1 + i%4), Market: market,
			Order: book.Order{Side: book.Buy, Price: 100 + 2*int64(i%5), Qty: 3}}
		out, evs := apply(c)
		tr.command(&c, resultOf(out), evs)
	}
	for i := range 6 {
		place(2, i)
		place(1, i)
	}
	if !slices.Equal(tr.inBatch, []uint32{2, 1}) {
		t.Fatalf("first batch: %v, want [2 1]", tr.inBatch)
	}
	tr.endBatch()
	if len(tr.inBatch) != 0 {
		t.Fatalf("after endBatch: %v", tr.inBatch)
	}
	place(1, 7)
	if !slices.Equal(tr.inBatch, []uint32{1}) || !slices.Equal(tr.markets, []uint32{2, 1}) {
		t.Fatalf("second batch: %v (since the views: %v), want [1] ([2 1])", tr.inBatch, tr.markets)
	}
}
