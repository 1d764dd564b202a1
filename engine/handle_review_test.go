package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// reviewCheckHands checks the order table's handles beyond what Check
// does (each live order found at its handle): a free slab entry keeps no
// handle, and each book holds as many orders as the table has records
// on its market, so that with Check's (every live record found at its
// handle, every book order has a record) the records and the books'
// orders match one to one: a book without an index has no check of its
// own that an id is in it once.
func reviewCheckHands(s *State) error {
	count := make([]int, len(s.markets))
	for i := range s.orders.end() {
		rec := s.orders.at(i)
		if rec.id == 0 {
			if h := *s.orders.handle(i); h != 0 {
				return fmt.Errorf("free slab entry %d keeps handle %d", i, h)
			}
			continue
		}
		count[rec.market-1]++
	}
	for k, m := range s.markets {
		if n := m.book.Len() + m.book.Stops(); n != count[k] {
			return fmt.Errorf("market %s holds %d orders, the order table %d", m.name, n, count[k])
		}
	}
	return nil
}

// reviewScenario is genesis(6) with account 1 a leader that accounts 5
// and 6 follow in market 1 (BTC-USDT).
func reviewScenario(t *testing.T) *scenario {
	sc := &scenario{t: t, s: NewState()}
	for _, c := range append(genesis(6),
		Command{Kind: CmdSetLeaderProfile, Account: 1, Copy: CopySpec{ProfitShareBps: 500}},
		Command{Kind: CmdFollow, Account: 5, Asset: 2, Amount: 1_000_000, Copy: CopySpec{Leader: 1, Mode: CopyMultiplier, Value: ValueOne}},
		Command{Kind: CmdFollow, Account: 6, Asset: 2, Amount: 1_000_000, Copy: CopySpec{Leader: 1, Mode: CopyProportional, Value: ValueOne}},
	) {
		if out := sc.do(c); out.Err != nil {
			t.Fatalf("genesis %v: %v", c.Kind, out.Err)
		}
	}
	return sc
}

// In one command a taker rests, a stop its trade released trades it away
// and rests in the node it left: the engine finishes the taker, keeps the
// stop's handle, and finds the stop (and not the taker) by it afterwards.
func TestReviewEngineNodeReusedInOneCommand(t *testing.T) {
	sc := reviewScenario(t)
	// No trade yet in market 2 (ETH-BTC: tick 2, lot 3): a buy stop at
	// 50 waits.
	mk := func(acct uint64, o book.Order) uint64 {
		t.Helper()
		out := sc.do(Command{Kind: CmdPlace, Account: acct, Market: 2, Order: o})
		if out.Err != nil {
			t.Fatalf("place %+v: %v", o, out.Err)
		}
		if err := reviewCheckHands(sc.s); err != nil {
			t.Fatal(err)
		}
		return out.ID
	}
	stop := mk(2, book.Order{Side: book.Buy, Type: book.StopLimit, StopPrice: 50, Price: 120, Qty: 30})
	bid := mk(3, book.Order{Side: book.Buy, Price: 110, Qty: 15})
	taker := mk(4, book.Order{Side: book.Sell, Price: 110, Qty: 24})
	m := sc.s.markets[1]
	var trig bool
	for _, e := range sc.evs {
		trig = trig || e.Kind == book.EvTriggered && e.OrderID == stop
		if e.Handle != 0 {
			t.Fatalf("an engine event with a handle: %+v", e)
		}
	}
	if !trig || sc.s.orders.get(taker) != nil || sc.s.orders.get(bid) != nil {
		t.Fatalf("stop triggered %v, taker live %v, bid live %v\n%+v", trig, sc.s.orders.get(taker) != nil, sc.s.orders.get(bid) != nil, sc.evs)
	}
	o, ok := sc.s.bookOrder(m, stop)
	if !ok || o.Stop || o.Open != 21 {
		t.Fatalf("the stop in its book: %+v, %v", o, ok)
	}
	if out := sc.do(Command{Kind: CmdCancel, Account: 4, OrderID: taker}); out.Err != ErrUnknownOrder {
		t.Fatalf("cancel of the traded-away taker: %v", out.Err)
	}
	if out := sc.do(Command{Kind: CmdAmend, Account: 2, OrderID: stop, Order: book.Order{Price: 100, Qty: 30}}); out.Err != nil {
		t.Fatalf("amend of the stop, resting: %v", out.Err)
	}
	if out := sc.do(Command{Kind: CmdCancel, Account: 2, OrderID: stop}); out.Err != nil {
		t.Fatalf("cancel of the stop, resting: %v", out.Err)
	}
	if m.book.Len()+m.book.Stops() != 0 {
		t.Fatalf("the book keeps %d orders", m.book.Len()+m.book.Stops())
	}
	if err := reviewCheckHands(sc.s); err != nil {
		t.Fatal(err)
	}
}

// reviewCommand returns a random command, heavy in stops (placed around
// the last price, so that many trigger at once or soon), crossing limits
// that rest and are traded away by them, amends that cross and lose
// priority, cancels by id and by client order id, cancel-alls, fee
// changes, freezes and good-till-date orders; a fifth are randomCommand's.
func reviewCommand(r *rand.Rand, s *State) Command {
	if r.IntN(5) == 0 {
		return randomCommand(r, s, 6)
	}
	acct := uint64(1 + r.IntN(6))
	mkt := uint32(1 + r.IntN(2))
	m := s.markets[mkt-1]
	last := m.book.LastPrice()
	if last == 0 {
		last = 120
	}
	near := func(k int) int64 { return max(2, (last+int64(2*(r.IntN(2*k+1)-k)))&^1) }
	qty := int64(3 * (1 + r.IntN(10)))
	side := book.Side(r.IntN(2))
	c := Command{Kind: CmdPlace, Account: acct, Market: mkt}
	o := book.Order{Side: side, Qty: qty, STP: book.STPMode(r.IntN(4))}
	switch x := r.IntN(100); {
	case x < 25: // a stop
		o.StopPrice = near(3)
		o.Type, o.Price = book.StopLimit, near(6)
		if r.IntN(4) == 0 {
			o.Type, o.Price = book.StopMarket, 0
			if side == book.Buy {
				if r.IntN(2) == 0 {
					o.QuoteBudget, o.Qty = int64(2000+r.IntN(20000)), 0
				} else {
					o.Price = near(8) // protection price
				}
			}
		} else if r.IntN(6) == 0 {
			o.TIF = book.TimeInForce(1 + r.IntN(2))
		} else if r.IntN(4) == 0 {
			c.ExpireAt = randomExpiry(r, s)
		}
	case x < 50: // a limit that crosses, and mostly rests
		o.Price = near(5)
		if side == book.Buy {
			o.Price += 4
		} else {
			o.Price = max(2, o.Price-4)
		}
		if r.IntN(5) == 0 {
			o.TIF = book.IOC
		} else if r.IntN(6) == 0 {
			o.DisplayQty = 3
		}
	case x < 72: // an amend of a live order
		var live []book.OrderInfo
		for info := range m.book.All() {
			live = append(live, info)
		}
		if len(live) == 0 {
			return randomCommand(r, s, 6)
		}
		info := live[r.IntN(len(live))]
		rec := s.orders.get(info.ID)
		c.Kind, c.Account, c.OrderID = CmdAmend, rec.account, info.ID
		if !rec.ref.IsZero() && r.IntN(2) == 0 {
			c.OrderID, c.Ref = 0, rec.ref
		}
		o.Price, o.Qty = near(6), qty
		if r.IntN(3) == 0 {
			c.Kind = CmdAmendTotal
			o.Qty = rec.filled + qty
			if r.IntN(3) == 0 {
				o.Price = 0
			}
		}
	case x < 82: // a cancel of a live order
		for info := range m.book.All() {
			if r.IntN(4) == 0 {
				rec := s.orders.get(info.ID)
				c.Kind, c.Account, c.OrderID = CmdCancel, rec.account, info.ID
				if !rec.ref.IsZero() && r.IntN(2) == 0 {
					c.OrderID, c.Ref = 0, rec.ref
				}
				break
			}
		}
		if c.Kind != CmdCancel {
			return randomCommand(r, s, 6)
		}
	case x < 85:
		c.Kind = CmdCancelAll
	case x < 88:
		return randomFees(r)
	case x < 91:
		c.Kind, c.Frozen = CmdSetAccountFrozen, r.IntN(3) == 0
	case x < 94:
		c.Kind, c.Asset, c.Amount = CmdDeposit, uint32(1+r.IntN(3)), 1_000_000
	default: // a passive good-till-date limit
		o.Price = near(8)
		c.ExpireAt = randomExpiry(r, s)
	}
	if c.Kind == CmdPlace && r.IntN(4) == 0 {
		c.Ref, _ = MakeRef(fmt.Sprintf("rv%d", r.IntN(1000)))
	}
	c.Order = o
	return c
}

// reviewStats counts what a review stream did.
type reviewStats struct {
	triggered, amended, lostPriority, restored, moved int
}

func (st *reviewStats) note(evs []Event) {
	for _, e := range evs {
		switch {
		case e.Kind == book.EvTriggered:
			st.triggered++
		case e.Kind == book.EvAmended:
			st.amended++
			if !e.KeptPriority {
				st.lostPriority++
			}
		}
	}
}

// reviewHandsMoved counts the live orders of s that sit at another handle
// in r, a copy of s restored from its snapshot.
func reviewHandsMoved(s, r *State) int {
	n := 0
	for i := range s.orders.end() {
		rec := s.orders.at(i)
		if rec.id == 0 {
			continue
		}
		k, ok := r.orders.index.Get(rec.id)
		if ok && *r.orders.handle(k) != *s.orders.handle(i) {
			n++
		}
	}
	return n
}

// A stream heavy in stops and amends, with copy trading, freezes, fee
// changes and expiries, in rounds: at the start of each the state is
// snapshotted and restored, and the original and the copy (whose orders
// sit at other handles: their books were placed afresh) take the round's
// commands; after every command both pass Check and reviewCheckHands and
// have given the same events, and after the round the same hash. The
// next round goes on from the copy.
func TestReviewEngineStopsAmendsSnapshot(t *testing.T) {
	rounds, per := 24, 250
	if testing.Short() {
		rounds = 8
	}
	var st reviewStats
	for _, seed := range []uint64{testSeed(t, 101), 102} {
		r := rand.New(rand.NewPCG(seed, 16))
		sc := reviewScenario(t)
		s, seq := sc.s, sc.seq
		var e1, e2 []Event
		for round := range rounds {
			restored, err := DecodeState(s.AppendSnapshot(nil))
			if err != nil {
				t.Fatalf("seed %d round %d: %v", seed, round, err)
			}
			if restored.Hash() != s.Hash() {
				t.Fatalf("seed %d round %d: restored hash differs", seed, round)
			}
			st.restored++
			st.moved += reviewHandsMoved(s, restored)
			for k := range per {
				c := reviewCommand(r, s)
				seq++
				c.Seq, c.Time = seq, int64(seq)*1000
				var o1, o2 Outcome
				o1, e1 = s.Apply(&c, e1[:0])
				o2, e2 = restored.Apply(&c, e2[:0])
				if o1 != o2 {
					t.Fatalf("seed %d round %d cmd %d %+v: %+v vs %+v", seed, round, k, c, o1, o2)
				}
				if len(e1) != len(e2) {
					t.Fatalf("seed %d round %d cmd %d %+v: %d events vs %d\n%+v\n%+v", seed, round, k, c, len(e1), len(e2), e1, e2)
				}
				for i := range e1 {
					if e1[i] != e2[i] {
						t.Fatalf("seed %d round %d cmd %d %+v event %d: %+v vs %+v", seed, round, k, c, i, e1[i], e2[i])
					}
					if e1[i].Handle != 0 {
						t.Fatalf("seed %d round %d cmd %d: an engine event with a handle: %+v", seed, round, k, e1[i])
					}
				}
				st.note(e1)
				for _, x := range []*State{s, restored} {
					if err := x.Check(); err != nil {
						t.Fatalf("seed %d round %d cmd %d %+v -> %+v: %v\n%+v", seed, round, k, c, o1, err, e1)
					}
					if err := reviewCheckHands(x); err != nil {
						t.Fatalf("seed %d round %d cmd %d %+v -> %+v: %v\n%+v", seed, round, k, c, o1, err, e1)
					}
				}
			}
			if restored.Hash() != s.Hash() {
				t.Fatalf("seed %d round %d: hashes diverge", seed, round)
			}
			s = restored
		}
	}
	t.Logf("%+v", st)
	if st.triggered < 200 || st.lostPriority < 200 || st.moved == 0 {
		t.Fatalf("the streams did too little: %+v", st)
	}
}

// A long run of randomCommand (the stream of TestRandomStreamInvariants)
// and reviewCommand, with Check and reviewCheckHands after every command.
func TestReviewEngineLongRandom(t *testing.T) {
	n := 40_000
	if shortRun() {
		n = 8_000
	}
	r := rand.New(rand.NewPCG(testSeed(t, 103), 17))
	sc := reviewScenario(t)
	var st reviewStats
	for i := range n {
		var c Command
		if i%2 == 0 {
			c = randomCommand(r, sc.s, 6)
		} else {
			c = reviewCommand(r, sc.s)
		}
		c.Time = int64(sc.seq+1) * 1000
		sc.do(c) // Check
		st.note(sc.evs)
		if err := reviewCheckHands(sc.s); err != nil {
			t.Fatalf("command %d %+v: %v\n%+v", sc.seq, c, err, sc.evs)
		}
	}
	t.Logf("%+v", st)
}

// The engine's books keep no index, so neither their Check nor the
// records' lookups at their handles see an id in a book twice: State.Check
// must still find such damage (here a second copy of a live order,
// restored into its book beside it).
func TestReviewCheckFindsOrderTwiceInBook(t *testing.T) {
	sc := reviewScenario(t)
	out := sc.place(2, book.Order{Side: book.Sell, Price: 130, Qty: 6})
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	m := sc.s.markets[0]
	info, ok := sc.s.bookOrder(m, out.ID)
	if !ok {
		t.Fatal("the order is not in its book")
	}
	info.Price = 140
	if _, err := m.book.Restore(info); err != nil {
		t.Fatalf("Restore of a second copy: %v", err)
	}
	if err := m.book.Check(); err != nil {
		t.Logf("book.Check finds it: %v", err)
	}
	if err := sc.s.Check(); err == nil {
		t.Fatal("State.Check misses an order that is in its book twice")
	} else {
		t.Logf("State.Check: %v", err)
	}
}
