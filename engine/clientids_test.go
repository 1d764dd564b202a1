package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// clientIDState returns a state with one market and accounts funded
// accounts, and a helper that applies a command and checks the state.
func clientIDState(t *testing.T, accounts int) (*State, func(Command) Outcome) {
	t.Helper()
	s := NewState()
	seq := uint64(0)
	var evs []Event
	apply := func(c Command) Outcome {
		seq++
		c.Seq = seq
		var out Outcome
		out, evs = s.Apply(&c, evs[:0])
		return out
	}
	for _, c := range genesis(accounts) {
		if out := apply(c); out.Err != nil {
			t.Fatal(out.Err)
		}
	}
	for a := 1; a <= accounts; a++ {
		apply(Command{Kind: CmdDeposit, Account: uint64(a), Asset: 1, Amount: 1 << 40})
		apply(Command{Kind: CmdDeposit, Account: uint64(a), Asset: 2, Amount: 1 << 40})
	}
	return s, apply
}

// The table against a map model, through the state: places with client
// order ids (new and resent), cancels by client order id, and fills that
// finish orders, past the window of done ids, with Check after each step.
func TestClientIDsAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s, apply := clientIDState(t, 3)
	type entry struct {
		id   uint64
		live bool
		o    book.Order // as placed
	}
	model := map[refKey]entry{} // what the state must answer
	var doneOrder []refKey      // done keys, oldest first
	finish := func(k refKey) {
		e := model[k]
		e.live = false
		model[k] = e
		doneOrder = append(doneOrder, k)
		if len(doneOrder) > ClientIDWindow {
			delete(model, doneOrder[0])
			doneOrder = doneOrder[1:]
		}
	}
	byID := map[uint64]refKey{}
	var live []refKey // keys that may be live (cancels pick from them)
	steps := 3 * ClientIDWindow
	midGrowth := 0 // checks made while the table grew
	for i := range steps {
		acct := uint64(1 + r.IntN(3))
		k := refKey{account: acct, ref: mustRef(fmt.Sprint("c", r.IntN(steps)))}
		cancel := r.IntN(2) == 0
		if cancel && len(live) > 0 && r.IntN(10) > 0 {
			j := r.IntN(len(live))
			k, live[j] = live[j], live[len(live)-1]
			live = live[:len(live)-1]
			acct = k.account
		}
		if cancel {
			// Cancel by client order id.
			out := apply(Command{Kind: CmdCancel, Account: acct, Market: 1, Ref: k.ref})
			e, ok := model[k]
			if ok && e.live {
				if out.Err != nil || out.ID != e.id {
					t.Fatalf("step %d: cancel %v: %+v, want order %d", i, k, out, e.id)
				}
				finish(k)
			} else if out.Err != ErrUnknownOrder {
				t.Fatalf("step %d: cancel of unknown %v: %+v", i, k, out)
			}
		} else {
			// A resting limit order that never crosses (buys below sells),
			// or, one time in eight, a market order that fills and finishes
			// resting ones.
			o := book.Order{Side: book.Buy, Price: 900 - int64(r.IntN(50)), Qty: 1}
			if r.IntN(2) == 0 {
				o = book.Order{Side: book.Sell, Price: 1100 + int64(r.IntN(50)), Qty: 1}
			}
			ioc := r.IntN(8) == 0
			if ioc {
				o = book.Order{Side: o.Side, Type: book.Market, Qty: 1}
			}
			if e, ok := model[k]; ok && r.IntN(2) == 0 {
				o, ioc = e.o, e.o.Type == book.Market // an identical resend
			}
			var evs []Event
			s.seq++
			c := Command{Kind: CmdPlace, Seq: s.seq, Account: acct, Market: 1, Ref: k.ref, Order: o}
			out, evs := s.Apply(&c, evs)
			if e, ok := model[k]; ok {
				if o == e.o && (!out.Duplicate || out.ID != e.id) {
					t.Fatalf("step %d: resend of %v: %+v, want duplicate of %d", i, k, out, e.id)
				}
				if o != e.o && (out.Err != ErrDuplicateClientID || out.ID != e.id || out.Duplicate) {
					t.Fatalf("step %d: resend of %v with other parameters: %+v, want conflict with %d", i, k, out, e.id)
				}
			} else {
				if out.Err != nil || out.Duplicate {
					t.Fatalf("step %d: place %v: %+v", i, k, out)
				}
				model[k] = entry{id: out.ID, live: true, o: o}
				byID[out.ID] = k
				live = append(live, k)
				for _, ev := range evs {
					if ev.Kind == book.EvTrade && ev.MakerRemaining == 0 {
						finish(byID[ev.MakerID])
					}
				}
				if ioc {
					finish(k) // a market order never rests
				}
			}
		}
		if i%997 == 0 || i > steps-50 {
			if s.clientIDs.left != 0 {
				midGrowth++
			}
			if err := s.Check(); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if s.clientIDs.len() != len(model) {
				t.Fatalf("step %d: %d entries, model %d", i, s.clientIDs.len(), len(model))
			}
		}
	}
	for k, e := range model {
		if id, ok := s.clientID(&k); !ok || id != e.id {
			t.Fatalf("%v: %d,%v want %d", k, id, ok, e.id)
		}
	}
	if len(doneOrder) != ClientIDWindow {
		t.Fatalf("the test kept %d done ids; it should fill the window", len(doneOrder))
	}
	if midGrowth < 3 {
		t.Fatalf("%d checks while the table grew: the test no longer covers incremental growth", midGrowth)
	}
	// A snapshot restores the same answers.
	restored, err := DecodeState(s.AppendSnapshot(nil))
	if err != nil {
		t.Fatal(err)
	}
	for k, e := range model {
		if id, ok := restored.clientID(&k); !ok || id != e.id {
			t.Fatalf("restored %v: %d,%v want %d", k, id, ok, e.id)
		}
		// It keeps each original's parameters too.
		c := Command{Kind: CmdPlace, Account: k.account, Market: 1, Ref: k.ref, Order: e.o}
		if fp := placeFingerprint(&c); fp != restored.entryFingerprint(restored.clientIDEntry(&k, clientIDTag(&k))) {
			t.Fatalf("restored %v: fingerprint not kept", k)
		}
	}
	if restored.Hash() != s.Hash() {
		t.Fatal("restored state hashes differently")
	}
}

// collidingRefs returns two client order ids of account 1 with the same
// tag, found by brute force (about 300k hashes for a birthday collision
// of 32 bits).
func collidingRefs(t *testing.T) (Ref, Ref) {
	t.Helper()
	seen := map[uint32]Ref{}
	for i := range 4_000_000 {
		ref := mustRef(fmt.Sprint("t", i))
		tag := clientIDTag(&refKey{account: 1, ref: ref})
		if other, ok := seen[tag]; ok {
			return other, ref
		}
		seen[tag] = ref
	}
	t.Fatal("no tag collision found")
	return Ref{}, Ref{}
}

// Keys with the same tag are told apart by their full keys: live and
// done, resends, cancels, and a snapshot.
func TestClientIDsTagCollision(t *testing.T) {
	a, b := collidingRefs(t)
	s, apply := clientIDState(t, 1)
	place := func(ref Ref) Outcome {
		return apply(Command{Kind: CmdPlace, Account: 1, Market: 1, Ref: ref,
			Order: book.Order{Side: book.Buy, Price: 900, Qty: 1}})
	}
	oa := place(a)
	ob := place(b)
	if oa.Err != nil || ob.Err != nil || oa.Duplicate || ob.Duplicate || oa.ID == ob.ID {
		t.Fatalf("colliding places: %+v %+v", oa, ob)
	}
	if out := place(b); !out.Duplicate || out.ID != ob.ID {
		t.Fatalf("resend of b: %+v, want duplicate of %d", out, ob.ID)
	}
	// Cancel a (live → done), then both still resolve, each to its own.
	if out := apply(Command{Kind: CmdCancel, Account: 1, Market: 1, Ref: a}); out.Err != nil || out.ID != oa.ID {
		t.Fatalf("cancel a: %+v", out)
	}
	if out := place(a); !out.Duplicate || out.ID != oa.ID {
		t.Fatalf("resend of done a: %+v, want duplicate of %d", out, oa.ID)
	}
	if out := apply(Command{Kind: CmdCancel, Account: 1, Market: 1, Ref: a}); out.Err != ErrUnknownOrder {
		t.Fatalf("cancel of done a: %+v", out)
	}
	if out := apply(Command{Kind: CmdCancel, Account: 1, Market: 1, Ref: b}); out.Err != nil || out.ID != ob.ID {
		t.Fatalf("cancel b: %+v", out)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	restored, err := DecodeState(s.AppendSnapshot(nil))
	if err != nil {
		t.Fatal(err)
	}
	for ref, id := range map[Ref]uint64{a: oa.ID, b: ob.ID} {
		if got, ok := restored.clientID(&refKey{1, ref}); !ok || got != id {
			t.Fatalf("restored %q: %d,%v want %d", ref, got, ok, id)
		}
	}
}

// The table's own operations with many entries of one tag: adds, exact
// finds of live and done entries, deletes and growth.
func TestClientIDTableSameTag(t *testing.T) {
	tab := newClientIDTable()
	const tag = 0x9abcdef0
	for i := range 2000 {
		pos := livePos(int32(i))
		if i%2 == 1 {
			pos = uint32(i)
		}
		tab.add(tag, pos)
	}
	for i := 0; i < 2000; i += 4 {
		if tab.entry(tag, livePos(int32(i))) == nil {
			t.Fatalf("live %d not found", i)
		}
		tab.remove(tag, livePos(int32(i)))
		if e := tab.entry(tag, uint32(i+1)); e == nil || e.pos != uint32(i+1) {
			t.Fatalf("done %d: %+v", i+1, e)
		}
		tab.remove(tag, uint32(i+1))
		if err := tab.check(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2000 {
		pos := uint32(i)
		if i%2 == 0 {
			pos = livePos(int32(i))
		}
		ok := tab.entry(tag, pos) != nil
		if want := i%4 >= 2; ok != want {
			t.Fatalf("entry %d: found %v, want %v", i, ok, want)
		}
	}
	if tab.len() != 1000 {
		t.Fatalf("len %d", tab.len())
	}
}

// The client order id table asks for its next array when it is 11/12 of
// the way to growing, and only for arrays worth making ahead; a growth
// takes the array made ahead (it allocates nothing), and the entries stay
// reachable.
func TestClientIDTableGrowAhead(t *testing.T) {
	tab := newClientIDTable()
	taken := 0
	for i := int32(0); i < 600_000; i++ {
		f := tab.growAhead(1)
		if f == nil {
			tab.add(uint32(i)*2654435761|1, livePos(i))
			continue
		}
		if size := 2 * len(tab.slots); size*8 < 256<<10 || 16*tab.n < 11*len(tab.slots)-16 {
			t.Fatalf("entry %d: asked for %d slots with %d entries in %d", i, size, tab.n, len(tab.slots))
		}
		if tab.growAhead(1) != nil {
			t.Fatalf("entry %d: asked twice", i)
		}
		f()
		made := tab.ahead.Ready()
		for 4*(tab.n+1) <= 3*len(tab.slots) {
			tab.add(uint32(i)*2654435761|1, livePos(i))
			i++
		}
		tab.add(uint32(i)*2654435761|1, livePos(i)) // grows
		if tab.left == 0 {
			t.Fatalf("entry %d: the table did not grow", i)
		}
		if len(made) == 0 || &tab.slots[0] != &made[0] {
			t.Fatalf("entry %d: the growth did not take the array made ahead", i)
		}
		taken++
		if err := tab.check(); err != nil {
			t.Fatal(err)
		}
	}
	if taken < 3 {
		t.Fatalf("%d arrays made ahead taken", taken)
	}
	for i := int32(0); i < 600_000; i += 997 {
		if tab.entry(uint32(i)*2654435761|1, livePos(i)) == nil {
			t.Fatalf("entry %d lost", i)
		}
	}
}
