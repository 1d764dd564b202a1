package engine

import (
	"errors"
	"fmt"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// scenario drives a State directly: one market BTC-USDT (asset 1 base,
// asset 2 quote, QuoteScale 10, BaseScale 100, maker 10 bps, taker 20
// bps) and accounts 1..3 funded with 1,000,000 of each asset.
type scenario struct {
	t   *testing.T
	s   *State
	seq uint64
	evs []Event
	// noCheck skips the invariant check after each command (for setups
	// too big for an O(state) check per command).
	noCheck bool
}

func newScenario(t *testing.T) *scenario {
	sc := &scenario{t: t, s: NewState()}
	for _, c := range genesis(3) {
		if out := sc.do(c); out.Err != nil {
			t.Fatalf("genesis: %v", out.Err)
		}
	}
	return sc
}

func (sc *scenario) do(c Command) Outcome {
	sc.t.Helper()
	sc.seq++
	c.Seq = sc.seq
	var out Outcome
	out, sc.evs = sc.s.Apply(&c, sc.evs[:0])
	if sc.noCheck {
		return out
	}
	if err := sc.s.Check(); err != nil {
		sc.t.Fatalf("after %v: %v", c.Kind, err)
	}
	return out
}

func (sc *scenario) place(acct uint64, o book.Order) Outcome {
	sc.t.Helper()
	return sc.do(Command{Kind: CmdPlace, Account: acct, Market: 1, Order: o})
}

// bal returns (available, locked) of an account's asset.
func (sc *scenario) bal(acct uint64, asset uint32) (int64, int64) {
	b := sc.s.bal(acct, asset)
	return b.avail, b.locked
}

func (sc *scenario) wantBal(acct uint64, asset uint32, avail, locked int64) {
	sc.t.Helper()
	if a, l := sc.bal(acct, asset); a != avail || l != locked {
		sc.t.Fatalf("account %d asset %d: available %d locked %d, want %d %d", acct, asset, a, l, avail, locked)
	}
}

const funded = 5_000_000

func TestScenarioReservations(t *testing.T) {
	sc := newScenario(t)
	// A limit buy of 10 lots at 100 locks 100×10×10 = 10,000 quote plus
	// the highest fee, 20 bps: 20.
	out := sc.place(1, book.Order{Side: book.Buy, Price: 100, Qty: 10})
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	sc.wantBal(1, 2, funded-10_020, 10_020)
	// A sell locks its base: 4 lots × 100.
	sell := sc.place(2, book.Order{Side: book.Sell, Price: 101, Qty: 4})
	sc.wantBal(2, 1, funded-400, 400)
	// Cancels release everything.
	sc.do(Command{Kind: CmdCancel, Account: 1, OrderID: out.ID})
	sc.wantBal(1, 2, funded, 0)
	sc.do(Command{Kind: CmdCancel, Account: 2, OrderID: sell.ID})
	sc.wantBal(2, 1, funded, 0)
}

func TestScenarioFillSettlesBothSidesAndFees(t *testing.T) {
	sc := newScenario(t)
	sc.place(2, book.Order{Side: book.Sell, Price: 100, Qty: 4})
	out := sc.place(1, book.Order{Side: book.Buy, Price: 105, Qty: 10}) // takes 4 at 100, rests 6 at 105
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	// Fill: 4 lots at 100: notional 4,000; taker fee 8, maker fee 4.
	// The buy reserved 10,500 + 21 at its limit 105; the 4 lots filled
	// release their share, 4,200 + 8, of which 4,008 is paid. What stays
	// locked, 6,313, covers the 6 lots left at 105 with fees (rounding
	// down per fill leaves the reservation a unit ahead, never behind).
	sc.wantBal(1, 2, funded-4_008-6_313, 6_313)
	sc.wantBal(1, 1, funded+400, 0)
	sc.wantBal(2, 2, funded+4_000-4, 0)
	sc.wantBal(2, 1, funded-400, 0)
	sc.wantBal(FeeAccount, 2, 12, 0)
}

func TestScenarioInsufficientFundsChangesNothing(t *testing.T) {
	sc := newScenario(t)
	before := sc.s.Hash()
	out := sc.place(1, book.Order{Side: book.Buy, Price: 1_000_000, Qty: 1_000})
	if !errors.Is(out.Err, ErrInsufficientFunds) {
		t.Fatalf("got %v", out.Err)
	}
	sc.seq-- // the rejected command still advanced the sequence: compare the rest
	sc.s.seq = sc.seq
	if sc.s.Hash() != before {
		t.Fatal("a rejected order changed the state")
	}
}

func TestScenarioMarketBuys(t *testing.T) {
	sc := newScenario(t)
	sc.place(2, book.Order{Side: book.Sell, Price: 100, Qty: 5})
	sc.place(2, book.Order{Side: book.Sell, Price: 110, Qty: 5})
	// By quote budget 8,000: the budget net of the highest fee buys at
	// most floor(7,984/10) = 798 price×lots: 5 at 100 (500), then 2 at 110.
	out := sc.place(1, book.Order{Side: book.Buy, Type: book.Market, QuoteBudget: 8_000})
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	spent := int64(5*100*10 + 2*110*10)
	fee := spent * 20 / 10_000
	sc.wantBal(1, 2, funded-spent-fee, 0)
	sc.wantBal(1, 1, funded+700, 0)
	// By quantity without a protection price: it cannot spend more than
	// the account has, and releases what it did not use.
	out = sc.place(1, book.Order{Side: book.Buy, Type: book.Market, Qty: 100})
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	a, l := sc.bal(1, 2)
	if l != 0 || a != funded-spent-fee-(3*110*10)-(3*110*10*20/10_000) {
		t.Fatalf("after market by quantity: available %d locked %d", a, l)
	}
	// A stop-market buy must say how much it may spend.
	out = sc.place(1, book.Order{Side: book.Buy, Type: book.StopMarket, StopPrice: 120, Qty: 1})
	if !errors.Is(out.Err, ErrStopNeedsLimit) {
		t.Fatalf("stop-market buy without a limit: %v", out.Err)
	}
}

func TestScenarioHaltCancelAllAmendAndOwnership(t *testing.T) {
	sc := newScenario(t)
	a := sc.place(1, book.Order{Side: book.Buy, Price: 90, Qty: 1})
	b := sc.place(1, book.Order{Side: book.Buy, Price: 91, Qty: 1})
	c := sc.place(2, book.Order{Side: book.Buy, Price: 92, Qty: 1})
	// Another account's order is unknown to you.
	if out := sc.do(Command{Kind: CmdCancel, Account: 2, OrderID: a.ID}); !errors.Is(out.Err, ErrUnknownOrder) {
		t.Fatalf("cancel of another account's order: %v", out.Err)
	}
	// Amend up beyond the funds: rejected, reservation unchanged.
	if out := sc.do(Command{Kind: CmdAmend, Account: 1, OrderID: a.ID, Order: book.Order{Price: 90, Qty: 100_000}}); !errors.Is(out.Err, ErrInsufficientFunds) {
		t.Fatalf("amend beyond funds: %v", out.Err)
	}
	// Halted: no new orders or amends; cancels work.
	sc.do(Command{Kind: CmdHaltMarket, Market: 1})
	if out := sc.place(1, book.Order{Side: book.Buy, Price: 90, Qty: 1}); !errors.Is(out.Err, ErrMarketHalted) {
		t.Fatalf("place on a halted market: %v", out.Err)
	}
	if out := sc.do(Command{Kind: CmdAmend, Account: 1, OrderID: a.ID, Order: book.Order{Price: 90, Qty: 2}}); !errors.Is(out.Err, ErrMarketHalted) {
		t.Fatalf("amend on a halted market: %v", out.Err)
	}
	sc.do(Command{Kind: CmdResumeMarket, Market: 1})
	// Cancel all of account 1 leaves account 2's order.
	out := sc.do(Command{Kind: CmdCancelAll, Account: 1, Market: 1})
	if out.Err != nil || out.ID != 2 {
		t.Fatalf("cancel all: %+v", out)
	}
	for _, id := range []uint64{a.ID, b.ID} {
		if sc.s.orders.get(id) != nil {
			t.Fatalf("order %d still live", id)
		}
	}
	if sc.s.orders.get(c.ID) == nil {
		t.Fatal("another account's order was cancelled")
	}
	sc.wantBal(1, 2, funded, 0)
}

func TestScenarioIdempotency(t *testing.T) {
	sc := newScenario(t)
	ref, _ := MakeRef("w-1")
	w := Command{Kind: CmdWithdraw, Account: 1, Asset: 2, Amount: 500, Ref: ref}
	if out := sc.do(w); out.Err != nil || out.Duplicate {
		t.Fatalf("withdraw: %+v", out)
	}
	if out := sc.do(w); out.Err != nil || !out.Duplicate {
		t.Fatalf("resent withdraw: %+v", out)
	}
	sc.wantBal(1, 2, funded-500, 0)
	w.Amount = 600
	if out := sc.do(w); !errors.Is(out.Err, ErrRefConflict) {
		t.Fatalf("same ref, other amount: %v", out.Err)
	}
	// Client order ids: a resend returns the original order.
	coid, _ := MakeRef("c-1")
	o := Command{Kind: CmdPlace, Account: 1, Market: 1, Ref: coid, Order: book.Order{Side: book.Buy, Price: 90, Qty: 1}}
	first := sc.do(o)
	again := sc.do(o)
	if !again.Duplicate || again.ID != first.ID {
		t.Fatalf("resent order: %+v then %+v", first, again)
	}
	// The same client order id on another account is another order.
	o.Account = 2
	other := sc.do(o)
	if other.Duplicate || other.ID == first.ID {
		t.Fatalf("client order ids are per account: %+v", other)
	}
	// Cancel by client order id, per account.
	if out := sc.do(Command{Kind: CmdCancel, Account: 1, Ref: coid}); out.Err != nil || out.ID != first.ID {
		t.Fatalf("cancel by client order id: %+v", out)
	}
	if sc.s.orders.get(other.ID) == nil {
		t.Fatal("cancel by client order id hit another account's order")
	}
}

// A resend of a client order id with other parameters (any of the
// market and the order's fields) is refused with ErrDuplicateClientID
// naming the original, and changes nothing; an identical resend is a
// duplicate. Both hold for a live order, a done one within the window,
// and after a snapshot.
func TestScenarioClientIDConflict(t *testing.T) {
	sc := newScenario(t)
	coid := mustRef("c-1")
	orig := Command{Kind: CmdPlace, Account: 1, Market: 1, Ref: coid,
		Order: book.Order{Side: book.Buy, Price: 90, Qty: 3, STP: book.STPCancelTaker}}
	first := sc.do(orig)
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	variants := map[string]func(c *Command){
		"market":    func(c *Command) { c.Market = 2 },
		"side":      func(c *Command) { c.Order.Side = book.Sell },
		"type":      func(c *Command) { c.Order.Type, c.Order.StopPrice = book.StopLimit, 95 },
		"tif":       func(c *Command) { c.Order.TIF = book.IOC },
		"stp":       func(c *Command) { c.Order.STP = book.STPNone },
		"post only": func(c *Command) { c.Order.PostOnly = true },
		"price":     func(c *Command) { c.Order.Price = 91 },
		"quantity":  func(c *Command) { c.Order.Qty = 2 },
		"display":   func(c *Command) { c.Order.DisplayQty = 1 },
		"budget": func(c *Command) {
			c.Order.Type, c.Order.Price, c.Order.Qty, c.Order.QuoteBudget = book.Market, 0, 0, 1000
		},
		"stop price": func(c *Command) { c.Order.StopPrice = 80 },
	}
	check := func(st *State, when string) {
		t.Helper()
		for name, edit := range variants {
			c := orig
			edit(&c)
			c.Seq = st.seq + 1
			n, next, avail := st.orders.len(), st.nextOrder, *st.bal(1, 2)
			out, evs := st.Apply(&c, nil)
			if !errors.Is(out.Err, ErrDuplicateClientID) || out.ID != first.ID || out.Duplicate || len(evs) != 0 {
				t.Fatalf("%s: other %s: %+v %+v", when, name, out, evs)
			}
			if st.orders.len() != n || st.nextOrder != next || *st.bal(1, 2) != avail {
				t.Fatalf("%s: other %s changed the state", when, name)
			}
		}
		c := orig
		c.Seq = st.seq + 1
		if out, _ := st.Apply(&c, nil); !out.Duplicate || out.ID != first.ID || out.Err != nil {
			t.Fatalf("%s: identical resend: %+v", when, out)
		}
	}
	check(sc.s, "live")
	sc.do(Command{Kind: CmdCancel, Account: 1, Ref: coid})
	check(sc.s, "done")
	restored, err := DecodeState(sc.s.AppendSnapshot(nil))
	if err != nil {
		t.Fatal(err)
	}
	check(restored, "restored")
	if err := sc.s.Check(); err != nil {
		t.Fatal(err)
	}
}

// Client order ids of done orders are kept for ClientIDWindow done
// orders, then forgotten oldest first: memory stays bounded, and a
// restored state forgets in the same order.
func TestScenarioClientIDWindow(t *testing.T) {
	sc := newScenario(t)
	place := func(n int) Outcome {
		ref, _ := MakeRef(fmt.Sprint("r", n))
		return sc.s.applyFast(Command{Kind: CmdPlace, Account: 1, Market: 1, Ref: ref,
			Order: book.Order{Side: book.Buy, Price: 90, Qty: 1, TIF: book.IOC}}) // expires at once: done
	}
	for n := range ClientIDWindow + 10 {
		if out := place(n); out.Err != nil || out.Duplicate {
			t.Fatalf("order %d: %+v", n, out)
		}
	}
	if got := sc.s.clientIDs.len(); got != ClientIDWindow {
		t.Fatalf("%d client order ids kept, want %d", got, ClientIDWindow)
	}
	// The first ten are forgotten: reusable. The rest are resends.
	if out := place(5); out.Duplicate {
		t.Fatal("a forgotten client order id was still known")
	}
	if out := place(ClientIDWindow); !out.Duplicate {
		t.Fatal("a recent client order id was forgotten")
	}
	restored, err := DecodeState(sc.s.AppendSnapshot(nil))
	if err != nil {
		t.Fatal(err)
	}
	for n := range 20 { // both forget the same ids next
		a, b := place(ClientIDWindow+100+n), restored.applyFast(Command{Kind: CmdPlace, Account: 1, Market: 1,
			Ref:   mustRef(fmt.Sprint("r", ClientIDWindow+100+n)),
			Order: book.Order{Side: book.Buy, Price: 90, Qty: 1, TIF: book.IOC}})
		if a != b {
			t.Fatalf("restored state diverges: %+v vs %+v", a, b)
		}
	}
	if restored.Hash() != sc.s.Hash() {
		t.Fatal("restored state hash differs")
	}
}

func mustRef(s string) Ref { r, _ := MakeRef(s); return r }

// applyFast applies a command without the invariant check, for long
// streams in tests.
func (s *State) applyFast(c Command) Outcome {
	c.Seq = s.seq + 1
	out, _ := s.Apply(&c, nil)
	return out
}
