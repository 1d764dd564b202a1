package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// Changing a market's fees (CmdSetMarketFees). The scenario's market 1 is
// BTC-USDT: quote asset 2, QuoteScale 10, maker 10 and taker 20 bps; each
// command is followed by State.Check (sc.do), which holds every live
// order's reservation to checkReserve's exact bounds.

// setFees returns the command that sets market's fees.
func setFees(market uint32, maker, taker int32) Command {
	return Command{Kind: CmdSetMarketFees, Market: market, Spec: MarketSpec{MakerFeeBps: maker, TakerFeeBps: taker}}
}

// totals returns, by asset, the sum of every account's balances (the fee
// account included).
func totals(s *State) []int64 {
	sum := make([]int64, len(s.assets))
	for id := range uint64(s.accounts.len()) {
		for i, b := range s.accounts.at(id).bal {
			sum[i] += b.avail + b.locked
		}
	}
	return sum
}

// drain withdraws all of account's available quote of market 1.
func (sc *scenario) drain(acct uint64) {
	sc.t.Helper()
	if a, _ := sc.bal(acct, 2); a > 0 {
		if out := sc.do(Command{Kind: CmdWithdraw, Account: acct, Asset: 2, Amount: a}); out.Err != nil {
			sc.t.Fatal(out.Err)
		}
	}
}

// cancelledFor returns the EvCancelled events of the last command, by order.
func (sc *scenario) cancelledFor() map[uint64]Event {
	m := map[uint64]Event{}
	for _, e := range sc.evs {
		if e.Kind == book.EvCancelled {
			m[e.OrderID] = e
		}
	}
	return m
}

func TestSetMarketFeesRaise(t *testing.T) {
	sc := newScenario(t)
	a := sc.place(1, book.Order{Side: book.Buy, Price: 100, Qty: 10}) // 10,000 + 20
	b := sc.place(1, book.Order{Side: book.Buy, Price: 99, Qty: 5})   // 4,950 + 9
	sell := sc.place(2, book.Order{Side: book.Sell, Price: 110, Qty: 4})
	c := sc.place(3, book.Order{Side: book.Buy, Price: 98, Qty: 10}) // 9,800 + 19
	sc.drain(3)
	sc.wantBal(1, 2, funded-10_020-4_959, 10_020+4_959)
	sc.wantBal(3, 2, 0, 9_819)
	before := totals(sc.s)

	out := sc.do(setFees(1, 30, 50))
	if out.Err != nil || out.ID != 1 {
		t.Fatalf("set fees: %+v", out)
	}
	// Account 1 pays the raise: 10,000 + 50 and 4,950 + 24.
	sc.wantBal(1, 2, funded-10_050-4_974, 10_050+4_974)
	for id, want := range map[uint64]int64{a.ID: 10_050, b.ID: 4_974} {
		if got := sc.s.orders.get(id).locked; got != want {
			t.Fatalf("order %d locks %d, want %d", id, got, want)
		}
	}
	// Account 3 cannot (9,800 + 49): its order is cancelled, its lock
	// released, with reason fee_change.
	cancelled := sc.cancelledFor()
	if len(sc.evs) != 1 || len(cancelled) != 1 {
		t.Fatalf("events %+v, want one cancel", sc.evs)
	}
	if e := cancelled[c.ID]; e.Reason != book.ReasonFeeChange || e.Owner != 3 || e.Market != 1 || e.Qty != 10 || e.Side != book.Buy {
		t.Fatalf("cancel event %+v", e)
	}
	if book.ReasonFeeChange.String() != "fee_change" {
		t.Fatalf("reason name %q", book.ReasonFeeChange)
	}
	if sc.s.orders.get(c.ID) != nil || sc.s.bookLive(sc.s.markets[0], c.ID) {
		t.Fatal("the order that could not pay is still live")
	}
	sc.wantBal(3, 2, 9_819, 0)
	// The sell locks base: untouched.
	sc.wantBal(2, 1, funded-400, 400)
	if sc.s.orders.get(sell.ID).locked != 400 {
		t.Fatal("the sell's reservation changed")
	}
	if got := totals(sc.s); !equal(got, before) {
		t.Fatalf("balances sum to %v, %v before", got, before)
	}

	// A fill now pays the new rates: account 2 sells 10 at 100 into order
	// a (the maker, 30 bps), as taker (50 bps).
	fee0, _ := sc.bal(FeeAccount, 2)
	sc.place(2, book.Order{Side: book.Sell, Price: 100, Qty: 10})
	var trade *Event
	for i := range sc.evs {
		if sc.evs[i].Kind == book.EvTrade {
			trade = &sc.evs[i]
		}
	}
	if trade == nil || trade.MakerID != a.ID || trade.TakerFee != 50 || trade.MakerFee != 30 {
		t.Fatalf("trade %+v, want taker fee 50 and maker fee 30 on order %d", trade, a.ID)
	}
	sc.wantBal(1, 2, funded-10_000-30-4_974, 4_974)
	sc.wantBal(2, 2, funded+10_000-50, 0)
	sc.wantBal(FeeAccount, 2, fee0+80, 0)
}

func TestSetMarketFeesLower(t *testing.T) {
	sc := newScenario(t)
	// A partly filled buy keeps a unit of rounding: 10 lots at 33 lock
	// 3,300 + 6; a fill of one lot takes 330 + 0, leaving 2,976, a unit
	// above the 2,970 + 5 that its 9 open lots cost.
	p := sc.place(1, book.Order{Side: book.Buy, Price: 33, Qty: 10})
	sc.place(2, book.Order{Side: book.Sell, Price: 33, Qty: 1})
	if got := sc.s.orders.get(p.ID).locked; got != 2_976 {
		t.Fatalf("partly filled order locks %d", got)
	}
	a := sc.place(1, book.Order{Side: book.Buy, Price: 30, Qty: 10}) // 3,000 + 6
	avail, _ := sc.bal(1, 2)
	if out := sc.do(setFees(1, 0, 5)); out.Err != nil || len(sc.evs) != 0 {
		t.Fatalf("lower fees: %+v, events %+v", out, sc.evs)
	}
	// 2,970 + 1 and 3,000 + 1: the rounding unit goes back too.
	for id, want := range map[uint64]int64{p.ID: 2_971, a.ID: 3_001} {
		if got := sc.s.orders.get(id).locked; got != want {
			t.Fatalf("order %d locks %d, want %d", id, got, want)
		}
	}
	sc.wantBal(1, 2, avail+5+5, 2_971+3_001)

	// Raised again, the partly filled buy pays what its open quantity
	// costs at the new rate: 2,970 + 14.
	sc.do(setFees(1, 10, 50))
	if got := sc.s.orders.get(p.ID).locked; got != 2_984 {
		t.Fatalf("after the raise: order %d locks %d", p.ID, got)
	}
	// Its last 9 lots fill with fees at 10 bps (maker): 2,970 + 2.
	sc.place(2, book.Order{Side: book.Sell, Price: 33, Qty: 9})
	if sc.s.orders.get(p.ID) != nil {
		t.Fatal("order not done")
	}
	sc.wantBal(1, 2, funded-330-2_970-2-3_000-15, 3_000+15)
}

// The buys that need nothing more give their surplus back first, so an
// older order can use it; then the older order is paid before the newer.
func TestSetMarketFeesOrder(t *testing.T) {
	sc := newScenario(t)
	// x: 40 lots at 25, 10,000 + 20; at 21 bps it needs 10,021.
	x := sc.place(3, book.Order{Side: book.Buy, Price: 25, Qty: 40})
	// y: 2 lots at 33, 660 + 1, one filled: 331 left, one unit above
	// what its last lot costs at 20 bps and at 21 (330 + 0).
	y := sc.place(3, book.Order{Side: book.Buy, Price: 33, Qty: 2})
	sc.place(2, book.Order{Side: book.Sell, Price: 33, Qty: 1})
	sc.drain(3)
	if out := sc.do(setFees(1, 10, 21)); out.Err != nil || len(sc.evs) != 0 {
		t.Fatalf("raise: %+v, events %+v", out, sc.evs)
	}
	if lx, ly := sc.s.orders.get(x.ID).locked, sc.s.orders.get(y.ID).locked; lx != 10_021 || ly != 330 {
		t.Fatalf("locks %d and %d", lx, ly)
	}
	sc.wantBal(3, 2, 0, 10_021+330)

	// Two orders, funds for one raise: the older keeps its place.
	sc = newScenario(t)
	o1 := sc.place(3, book.Order{Side: book.Buy, Price: 100, Qty: 10}) // 10,020; 10,050 at 50 bps
	o2 := sc.place(3, book.Order{Side: book.Buy, Price: 99, Qty: 10})  // 9,919; 9,949 at 50 bps
	sc.drain(3)
	sc.do(Command{Kind: CmdDeposit, Account: 3, Asset: 2, Amount: 40})
	sc.do(setFees(1, 10, 50))
	if c := sc.cancelledFor(); len(c) != 1 || c[o2.ID].Reason != book.ReasonFeeChange {
		t.Fatalf("events %+v, want order %d cancelled", sc.evs, o2.ID)
	}
	if sc.s.orders.get(o1.ID).locked != 10_050 {
		t.Fatal("the older order did not keep its place")
	}
	sc.wantBal(3, 2, 40-30+9_919, 10_050)
}

func TestSetMarketFeesPendingStops(t *testing.T) {
	sc := newScenario(t)
	sl := sc.place(1, book.Order{Side: book.Buy, Type: book.StopLimit, StopPrice: 105, Price: 106, Qty: 5}) // 5,300 + 10
	sb := sc.place(1, book.Order{Side: book.Buy, Type: book.StopMarket, StopPrice: 105, QuoteBudget: 20_400})
	sp := sc.place(3, book.Order{Side: book.Buy, Type: book.StopMarket, StopPrice: 105, Price: 110, Qty: 2}) // 2,200 + 4
	// The budget pays for 20,360 of notional and 40 of fee: 2,036 price
	// × lots.
	if o, _ := sc.s.bookOrder(sc.s.markets[0], sb.ID); o.QuoteBudget != 2_036 {
		t.Fatalf("budget stop holds %d", o.QuoteBudget)
	}
	sc.wantBal(1, 2, funded-5_310-20_400, 5_310+20_400)
	sc.do(setFees(1, 30, 50))
	if len(sc.evs) != 0 {
		t.Fatalf("events %+v", sc.evs)
	}
	// The stop-limit and the protected stop-market pay the raise; the
	// budget stop keeps its budget locked, which now pays for 20,299 of
	// notional (2,029 price × lots) and 101 of fee.
	sc.wantBal(1, 2, funded-5_326-20_400, 5_326+20_400)
	sc.wantBal(3, 2, funded-2_211, 2_211)
	if o, _ := sc.s.bookOrder(sc.s.markets[0], sb.ID); o.QuoteBudget != 2_029 || !o.Stop {
		t.Fatalf("budget stop after the raise: %+v", o)
	}
	if l := sc.s.orders.get(sb.ID).locked; l != 20_400 {
		t.Fatalf("budget stop locks %d", l)
	}

	// Asks, then a trade at 105 releases the stops in arrival order.
	sc.place(2, book.Order{Side: book.Sell, Price: 105, Qty: 1})
	sc.place(2, book.Order{Side: book.Sell, Price: 106, Qty: 5})
	sc.place(2, book.Order{Side: book.Sell, Price: 107, Qty: 30})
	fee0, _ := sc.bal(FeeAccount, 2)
	sc.place(3, book.Order{Side: book.Buy, Price: 105, Qty: 1})
	bought := map[uint64]int64{}
	var fees int64
	for _, e := range sc.evs {
		if e.Kind != book.EvTrade {
			continue
		}
		n := e.Price * e.Qty * 10
		if e.TakerFee != n*50/10_000 || e.MakerFee != n*30/10_000 {
			t.Fatalf("trade %+v: fees not at 50 and 30 bps", e)
		}
		bought[e.OrderID] += e.Qty
		fees += e.TakerFee + e.MakerFee
	}
	// 5 at 106; 18 lots at 107 (19 would cost 2,033 price × lots, which
	// the budget paid for before the raise); 2 at 107.
	if bought[sl.ID] != 5 || bought[sb.ID] != 18 || bought[sp.ID] != 2 {
		t.Fatalf("bought %v", bought)
	}
	for _, id := range []uint64{sl.ID, sb.ID, sp.ID} {
		if sc.s.orders.get(id) != nil {
			t.Fatalf("stop %d still live", id)
		}
	}
	// Account 1: 5,300 + 26 for the stop-limit, 19,260 + 96 for the
	// budget (the rest of it released).
	sc.wantBal(1, 2, funded-5_326-19_356, 0)
	if f, _ := sc.bal(FeeAccount, 2); f != fee0+fees {
		t.Fatalf("fee account %d, want %d", f, fee0+fees)
	}
}

// A stop whose budget, after a raise, no longer reaches the market's
// minimum notional is cancelled; funds do not matter.
func TestSetMarketFeesStopBelowMinimum(t *testing.T) {
	sc := newScenario(t)
	// Market 2, ETH-BTC: quote BTC (asset 1), QuoteScale 1, taker 7 bps,
	// MinNotional 50. A budget of 51 pays for 51 at 7 bps (the fee
	// rounds to 0), for 47 at 1,000.
	st := sc.do(Command{Kind: CmdPlace, Account: 1, Market: 2,
		Order: book.Order{Side: book.Buy, Type: book.StopMarket, StopPrice: 100, QuoteBudget: 51}})
	if st.Err != nil {
		t.Fatal(st.Err)
	}
	keep := sc.do(Command{Kind: CmdPlace, Account: 1, Market: 2,
		Order: book.Order{Side: book.Buy, Type: book.StopMarket, StopPrice: 100, QuoteBudget: 60}})
	if o, _ := sc.s.bookOrder(sc.s.markets[1], st.ID); o.QuoteBudget != 51 {
		t.Fatalf("book budget %d", o.QuoteBudget)
	}
	sc.do(setFees(2, 0, 1000))
	if c := sc.cancelledFor(); len(c) != 1 || c[st.ID].Reason != book.ReasonFeeChange || c[st.ID].Remaining != 51 {
		t.Fatalf("events %+v", sc.evs)
	}
	// 60 pays for 55 (+ 5 of fee): still above the minimum.
	if o, _ := sc.s.bookOrder(sc.s.markets[1], keep.ID); o.QuoteBudget != 55 {
		t.Fatalf("the other stop's budget %d", o.QuoteBudget)
	}
	sc.wantBal(1, 1, funded-60, 60)
}

func TestSetMarketFeesRefusedAndHalted(t *testing.T) {
	sc := newScenario(t)
	a := sc.place(1, book.Order{Side: book.Buy, Price: 100, Qty: 10})
	for _, c := range []struct {
		cmd  Command
		want error
	}{
		{setFees(0, 10, 20), ErrUnknownMarket},
		{setFees(9, 10, 20), ErrUnknownMarket},
		{setFees(1, 1001, 20), ErrInvalidSpec},
		{setFees(1, 10, 1001), ErrInvalidSpec},
		{setFees(1, -1, 20), ErrInvalidSpec},
		{setFees(1, 10, -5), ErrInvalidSpec},
	} {
		before := hashNoSeq(sc.s)
		if out := sc.do(c.cmd); !errors.Is(out.Err, c.want) || len(sc.evs) != 0 {
			t.Fatalf("%+v: %+v, want %v", c.cmd.Spec, out, c.want)
		}
		if hashNoSeq(sc.s) != before {
			t.Fatalf("refused %+v changed the state", c.cmd)
		}
	}
	// The same highest fee: reservations stay; the maker fee is new.
	sc.do(setFees(1, 15, 20))
	sc.wantBal(1, 2, funded-10_020, 10_020)
	// On a halted market too.
	sc.do(Command{Kind: CmdHaltMarket, Market: 1})
	if out := sc.do(setFees(1, 15, 100)); out.Err != nil {
		t.Fatal(out.Err)
	}
	sc.wantBal(1, 2, funded-10_100, 10_100)
	v, err := sc.s.MarketView(1, 5)
	if err != nil || !v.Halted || v.MakerFeeBps != 15 || v.TakerFeeBps != 100 {
		t.Fatalf("view %+v, %v", v, err)
	}
	if d := sc.s.directory(); d.Markets[0].Spec.MakerFeeBps != 15 || d.Markets[0].Spec.TakerFeeBps != 100 {
		t.Fatalf("directory %+v", d.Markets[0].Spec)
	}
	if m := sc.s.markets[0]; m.maxFee != 100 || m.spec.BaseScale != 100 || m.spec.Rules.MaxQty != 1<<20 {
		t.Fatalf("market after the change: %+v, max fee %d", m.spec, m.maxFee)
	}
	sc.do(Command{Kind: CmdResumeMarket, Market: 1})
	// The maker fee in force: 15 bps on 10,000.
	sc.place(2, book.Order{Side: book.Sell, Price: 100, Qty: 10})
	for _, e := range sc.evs {
		if e.Kind == book.EvTrade && (e.MakerID != a.ID || e.MakerFee != 15 || e.TakerFee != 100) {
			t.Fatalf("trade %+v", e)
		}
	}
	if CmdSetMarketFees.String() != "set_market_fees" {
		t.Fatalf("name %q", CmdSetMarketFees)
	}
}

// A snapshot keeps the new fees: the restored state has the same hash,
// the highest fee derived from them, and goes on as the original does.
func TestSetMarketFeesSnapshot(t *testing.T) {
	sc := newScenario(t)
	sc.place(1, book.Order{Side: book.Buy, Type: book.StopMarket, StopPrice: 105, QuoteBudget: 20_400})
	sc.place(1, book.Order{Side: book.Buy, Price: 100, Qty: 10})
	sc.place(2, book.Order{Side: book.Sell, Price: 107, Qty: 30})
	sc.do(setFees(1, 40, 25))
	r, err := DecodeState(sc.s.AppendSnapshot(nil))
	if err != nil {
		t.Fatal(err)
	}
	if r.Hash() != sc.s.Hash() {
		t.Fatal("restored state has another hash")
	}
	if m := r.markets[0]; m.spec.MakerFeeBps != 40 || m.spec.TakerFeeBps != 25 || m.maxFee != 40 {
		t.Fatalf("restored market: %+v, max fee %d", m.spec, m.maxFee)
	}
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	apply := twinApply(t, sc.s, r)
	for range sc.seq {
		apply(Command{Kind: CmdTick}) // the twins' sequence numbers catch up
	}
	apply(Command{Kind: CmdPlace, Account: 2, Market: 1, Order: book.Order{Side: book.Sell, Price: 100, Qty: 1}})
	apply(Command{Kind: CmdPlace, Account: 3, Market: 1, Order: book.Order{Side: book.Buy, Price: 107, Qty: 1}})
	apply(setFees(1, 10, 20))
	apply(Command{Kind: CmdPlace, Account: 3, Market: 1, Order: book.Order{Side: book.Buy, Price: 107, Qty: 3}})
	if r.Hash() != sc.s.Hash() {
		t.Fatal("the restored state went another way")
	}
}

// Through the engine: the directory and the views show the new fees and
// the balances the change moved; the journal replays to the same state.
func TestEngineSetMarketFees(t *testing.T) {
	e, j := openGenesis(t, 3)
	defer e.Close()
	mustDo(t, e, Command{Kind: CmdPlace, Account: 1, Market: 1, Order: book.Order{Side: book.Buy, Price: 100, Qty: 10}})
	mustDo(t, e, Command{Kind: CmdPlace, Account: 2, Market: 1, Order: book.Order{Side: book.Buy, Price: 100, Qty: 10}})
	mustDo(t, e, Command{Kind: CmdWithdraw, Account: 2, Asset: 2, Amount: funded - 10_020})
	d0 := e.Directory()
	res := mustDo(t, e, setFees(1, 5, 60))
	if res.Err != nil || res.ID != 1 || len(res.Events) != 1 || res.Events[0].Reason != book.ReasonFeeChange {
		t.Fatalf("result %+v", res)
	}
	if err := e.WaitViews(context.Background(), res.Seq); err != nil {
		t.Fatal(err)
	}
	d := e.Directory()
	if d == d0 || d.Markets[0].Spec.MakerFeeBps != 5 || d.Markets[0].Spec.TakerFeeBps != 60 {
		t.Fatalf("directory not republished: %+v", d.Markets[0].Spec)
	}
	if v, ok := e.Market(1); !ok || v.TakerFeeBps != 60 || v.Seq < res.Seq {
		t.Fatalf("market view %+v", v)
	}
	for acct, want := range map[uint64]Balance{1: {Asset: 2, Available: funded - 10_060, Locked: 10_060}, 2: {Asset: 2, Available: 10_020}} {
		v, ok := e.Account(acct)
		if !ok {
			t.Fatalf("no view of account %d", acct)
		}
		var got Balance
		for _, b := range v.Balances {
			if b.Asset == 2 {
				got = b
			}
		}
		if got != want {
			t.Fatalf("account %d view: %+v, want %+v", acct, got, want)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	replay := NewState()
	var evs []Event
	for _, c := range j.Commands() {
		_, evs = replay.Apply(&c, evs[:0])
	}
	if replay.Hash() != e.state.Hash() {
		t.Fatal("the journal replays to another state")
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRandomFeeChanges runs random streams (randomCommand) with a fee
// change every 20 commands or so, on accounts poor enough (each now and
// then left with almost nothing) that raises find buys their owners
// cannot pay: the invariants hold after every
// command (State.Check: every reservation exact, every asset conserved),
// a refused change leaves the state as it was, a change gives only
// fee_change cancels of buys, and a replay of the commands ends at the
// same state.
func TestRandomFeeChanges(t *testing.T) {
	n := 40_000
	if shortRun() {
		n = 10_000
	}
	r := rand.New(rand.NewPCG(testSeed(t, 11), 0))
	s := NewState()
	var cmds []Command
	var evs []Event
	apply := func(c Command) Outcome {
		c.Seq, c.Time = uint64(len(cmds)+1), int64(len(cmds)+1)*1000
		cmds = append(cmds, c)
		var out Outcome
		out, evs = s.Apply(&c, evs[:0])
		if err := s.Check(); err != nil {
			t.Fatalf("after command %d %+v -> %+v: %v", c.Seq, c, out, err)
		}
		return out
	}
	for _, c := range genesis(6) {
		apply(c)
	}
	for a := uint64(1); a <= 6; a++ {
		for asset := uint32(1); asset <= 2; asset++ {
			apply(Command{Kind: CmdWithdraw, Account: a, Asset: asset, Amount: funded - 300_000})
		}
	}
	var st streamStats
	refused := 0
	for range n {
		c := randomCommand(r, s, 6)
		switch r.IntN(40) {
		case 0, 1:
			c = randomFees(r)
		case 2:
			// Nearly all of an account's quote out, to find it short at
			// the next raise...
			acct, asset := uint64(1+r.IntN(6)), uint32(1+r.IntN(2))
			if b := s.accounts.at(acct).bal; len(b) >= int(asset) && b[asset-1].avail > 1 {
				avail := b[asset-1].avail
				c = Command{Kind: CmdWithdraw, Account: acct, Asset: asset, Amount: avail - r.Int64N(min(avail, 2000))}
			}
		case 3:
			// ... and back in, now and then.
			c = Command{Kind: CmdDeposit, Account: uint64(1 + r.IntN(6)), Asset: uint32(1 + r.IntN(2)), Amount: 300_000}
		}
		before := hashNoSeq(s)
		out := apply(c)
		c.Seq = uint64(len(cmds))
		if c.Kind != CmdSetMarketFees {
			continue
		}
		own, expired := ownEvents(evs) // good-till-date orders due expire first
		if out.Err != nil {
			refused++
			if (expired == 0 && hashNoSeq(s) != before) || len(own) != 0 {
				t.Fatalf("refused %+v changed the state", c)
			}
			continue
		}
		checkFeeChange(t, s, &c, own, &st)
	}
	t.Logf("%d fee changes (%d refused), %d orders cancelled by them", st.feeChanges, refused, st.feeCancels)
	if st.feeChanges < n/40 || refused == 0 || st.feeCancels < n/4000 {
		t.Fatalf("the stream did not exercise fee changes: %+v, %d refused", st, refused)
	}
	replay := NewState()
	for i := range cmds {
		_, evs = replay.Apply(&cmds[i], evs[:0])
	}
	if replay.Hash() != s.Hash() {
		t.Fatal("a replay of the stream ends at another state")
	}
}
