package engine

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// Random streams with good-till-date orders, copy-trading and times that
// advance (command n at n × 1000, as runStats stamps them): a snapshot
// taken every few hundred commands restores to the same hash and
// re-encodes to itself, and the restored state then applies the same
// commands with the same events (expiries included) and Check passes on
// both: the expiry index survives a restore and keeps up with every path
// that ends an order. randomCommand sets price bands too: most snapshots
// are of version 9, and the bands survive the restores.
func TestGTDReviewRandomSnapshotRestore(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t, 19), 9))
	s := NewState()
	seq := uint64(0)
	apply := func(st *State, c Command, dst []Event) []Event {
		_, dst = st.Apply(&c, dst)
		return dst
	}
	next := func() Command {
		seq++
		var c Command
		if s.relations.len() > 0 && r.IntN(100) < 10 || r.IntN(100) < 3 {
			c = randomCopyCommand(r, s, 6)
		} else {
			c = randomCommand(r, s, 6)
		}
		c.Seq, c.Time = seq, int64(seq)*1000
		return c
	}
	var evs []Event
	for _, c := range genesis(6) {
		seq++
		c.Seq, c.Time = seq, int64(seq)*1000
		evs = apply(s, c, evs[:0])
	}
	for _, c := range []Command{{Kind: CmdSetLeaderProfile, Account: 1, Copy: CopySpec{ProfitShareBps: 1000}},
		{Kind: CmdSetLeaderProfile, Account: 2}} {
		seq++
		c.Seq, c.Time = seq, int64(seq)*1000
		evs = apply(s, c, evs[:0])
	}
	v8, v9, v10, expiredAfterRestore := 0, 0, 0, 0
	for round := range 30 {
		for range 300 + r.IntN(300) {
			evs = apply(s, next(), evs[:0])
		}
		for k := 0; k < 500 && s.expiries.len() == 0; k++ {
			evs = apply(s, next(), evs[:0]) // a snapshot with expiries in it
		}
		snap := s.AppendSnapshot(nil)
		switch snap[4] {
		case 8:
			v8++
		case 9: // expiries and a price band (randomCommand sets bands)
			v8++
			v9++
		case 10: // and a limit on open orders (randomCommand sets them too)
			v8++
			v9++
			v10++
		}
		restored, err := DecodeState(snap)
		if err != nil {
			t.Fatalf("round %d: decode: %v", round, err)
		}
		if err := restored.Check(); err != nil {
			t.Fatalf("round %d: restored: %v", round, err)
		}
		if restored.Hash() != s.Hash() || !bytes.Equal(restored.AppendSnapshot(nil), snap) {
			t.Fatalf("round %d: restored state differs", round)
		}
		var e1, e2 []Event
		for k := range 200 {
			c := next()
			e1 = apply(s, c, e1[:0])
			e2 = apply(restored, c, e2[:0])
			if !slices.Equal(e1, e2) {
				t.Fatalf("round %d cmd %d %+v: events\n%+v\nvs restored\n%+v", round, k, c, e1, e2)
			}
			_, n := ownEvents(e1)
			expiredAfterRestore += n
			if err := s.Check(); err != nil {
				t.Fatalf("round %d cmd %d %+v: %v", round, k, c, err)
			}
			if err := restored.Check(); err != nil {
				t.Fatalf("round %d cmd %d %+v: restored: %v", round, k, c, err)
			}
		}
		if restored.Hash() != s.Hash() {
			t.Fatalf("round %d: hashes diverge", round)
		}
	}
	t.Logf("%d of 30 snapshots of version 8 to 10 (%d of 9 or 10, %d of 10); %d expiries after a restore", v8, v9, v10, expiredAfterRestore)
	if v8 < 25 || v9 == 0 || v10 == 0 || expiredAfterRestore == 0 {
		t.Fatalf("the stream does not exercise expiries, bands and open order limits across restores: %d, %d, %d, %d", v8, v9, v10, expiredAfterRestore)
	}
}

// A leader's good-till-date order that was partly filled (its fills
// mirrored, a remainder carried) expires like any: its carries are
// dropped (leaderOrderDone), the reservation released, Check passes.
func TestGTDReviewLeaderOrderExpires(t *testing.T) {
	sc := newCopyScenario(t, 10, 0, 3)
	rel := sc.follow(3, 1_000*usdt, CopySpec{Mode: CopyProportional, Value: ValueOne / 3, SlippageBps: 100})
	id := sc.mustGTDCopy(10, leader1, 1000, book.Order{Side: book.Buy, Price: px(2000), Qty: 3})
	sc.at(20, Command{Kind: CmdPlace, Account: maker, Market: 1, Order: book.Order{Side: book.Sell, Price: px(2000), Qty: 1}})
	if len(sc.events(book.EvTrade)) == 0 {
		t.Fatalf("no fill: %+v", sc.evs)
	}
	sc.at(1000, tick(0))
	if got := expired(t, sc.evs); !slices.Equal(got, []uint64{id}) {
		t.Fatalf("expired %v: %+v", got, sc.evs)
	}
	if c := sc.rel(rel).carries; len(c) != 0 {
		t.Fatalf("carries of a done order: %+v", c)
	}
	if _, l := sc.bal(leader1, usdtID); l != 0 {
		t.Fatalf("leader still has %d locked", l)
	}
}

func (sc *copyScenario) mustGTDCopy(tm int64, acct uint64, exp int64, o book.Order) uint64 {
	sc.t.Helper()
	out := sc.at(tm, Command{Kind: CmdPlace, Account: acct, Market: 1, Order: o, ExpireAt: exp})
	if out.Err != nil {
		sc.t.Fatal(out.Err)
	}
	return out.ID
}

// Orders of a halted market expire at their time too (no command may
// trade there, but an expiry is not one), and an iceberg and a post-only
// expire with their hidden and visible rest; a GTD buy that the book
// cancels as a resting maker (self-trade prevention) and one amended
// into a full fill leave the index.
func TestGTDReviewHaltedIcebergSTPAmend(t *testing.T) {
	sc := newScenario(t)
	ice := sc.mustGTD(1, 1, 100, book.Order{Side: book.Sell, Price: 200, Qty: 30, DisplayQty: 3})
	sc.at(2, Command{Kind: CmdPlace, Account: 2, Market: 1, Order: book.Order{Side: book.Buy, Price: 200, Qty: 4}})
	sc.at(3, Command{Kind: CmdHaltMarket, Market: 1})
	sc.at(100, tick(0))
	if got := expired(t, sc.evs); !slices.Equal(got, []uint64{ice}) || sc.evs[0].Qty != 26 {
		t.Fatalf("expired %v: %+v", got, sc.evs)
	}
	sc.at(101, Command{Kind: CmdResumeMarket, Market: 1})
	sc.wantBal(1, 1, funded-4*100, 0)
	// STP cancel_maker: account 1's GTD buy rests, its own sell takes
	// with STPCancelMaker: the maker is cancelled.
	maker := sc.mustGTD(110, 1, 500, book.Order{Side: book.Buy, Price: 150, Qty: 2})
	sc.at(111, Command{Kind: CmdPlace, Account: 1, Market: 1, Order: book.Order{Side: book.Sell, Price: 150, Qty: 1, STP: book.STPCancelMaker}})
	if _, ok := sc.s.ExpireAt(maker); ok || sc.s.orders.get(maker) != nil {
		t.Fatalf("maker cancelled by STP keeps its expiry: %+v", sc.evs)
	}
	// An amend that crosses and fills the whole order.
	sell := sc.place(2, book.Order{Side: book.Sell, Price: 160, Qty: 5}).ID
	buy := sc.mustGTD(120, 3, 500, book.Order{Side: book.Buy, Price: 150, Qty: 5})
	sc.at(121, Command{Kind: CmdAmend, Account: 3, OrderID: buy, Order: book.Order{Price: 160, Qty: 5}})
	if _, ok := sc.s.ExpireAt(buy); ok {
		t.Fatalf("filled by its amend, keeps its expiry: %+v", sc.evs)
	}
	_ = sell
	if _, ok := sc.s.NextExpiry(); ok {
		t.Fatal("an expiry left")
	}
}
