package engine

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// oneMarket returns a scenario over a state with assets 1 (base) and 2
// (quote), market 1 between them with spec (its assets and unset scales
// filled in) and accounts 1..len(quote), account i funded with 1,000,000
// base and quote[i-1] quote.
func oneMarket(t *testing.T, spec MarketSpec, quote ...int64) *scenario {
	t.Helper()
	sc := &scenario{t: t, s: NewState()}
	name := func(s string) Name { n, _ := MakeName(s); return n }
	spec.Base, spec.Quote = 1, 2
	spec.BaseScale, spec.QuoteScale = max(spec.BaseScale, 1), max(spec.QuoteScale, 1)
	if spec.Rules.MaxPrice == 0 {
		spec.Rules.MaxPrice = 1 << 30
	}
	if spec.Rules.MaxQty == 0 {
		spec.Rules.MaxQty = 1 << 20
	}
	cmds := []Command{
		{Kind: CmdCreateAsset, Name: name("B")},
		{Kind: CmdCreateAsset, Name: name("Q")},
		{Kind: CmdCreateMarket, Name: name("B-Q"), Spec: spec},
	}
	for i, q := range quote {
		acct := uint64(i + 1)
		cmds = append(cmds, Command{Kind: CmdCreateAccount, Name: name("a" + string(rune('0'+acct)))},
			Command{Kind: CmdDeposit, Account: acct, Asset: 1, Amount: 1_000_000})
		if q > 0 {
			cmds = append(cmds, Command{Kind: CmdDeposit, Account: acct, Asset: 2, Amount: q})
		}
	}
	for _, c := range cmds {
		if out := sc.do(c); out.Err != nil {
			t.Fatalf("setup %v: %v", c.Kind, out.Err)
		}
	}
	return sc
}

// filled returns the quantity the order placed last (id) bought or sold
// as taker in sc's last events.
func (sc *scenario) filled(id uint64) int64 {
	var q int64
	for _, e := range sc.evs {
		if e.Kind == book.EvTrade && e.OrderID == id {
			q += e.Qty
		}
	}
	return q
}

// A market buy by quantity is not bound by MinNotional, whatever the
// buyer's balance: the engine caps its spending with a budget it derives
// from the balance, and that budget must not be taken for one the buyer
// sized the order with.
func TestMarketBuyByQuantityIgnoresMinNotional(t *testing.T) {
	sc := oneMarket(t, MarketSpec{Rules: book.Rules{MinNotional: 50}}, 100_000, 40, 0)
	if out := sc.place(3, book.Order{Side: book.Sell, Price: 10, Qty: 5}); out.Err != nil {
		t.Fatal(out.Err)
	}
	for _, acct := range []uint64{1, 2} { // rich, and with 40 quote: enough for 1@10
		out := sc.place(acct, book.Order{Side: book.Buy, Type: book.Market, Qty: 1})
		if out.Err != nil {
			t.Fatalf("account %d: market buy of 1: %v", acct, out.Err)
		}
		if got := sc.filled(out.ID); got != 1 {
			t.Fatalf("account %d: bought %d, want 1 (events %+v)", acct, got, sc.evs)
		}
	}
	sc.wantBal(2, 2, 30, 0)
	// With a quantity, a budget of the buyer's own below MinNotional caps
	// the order; it does not make it one by budget.
	out := sc.place(2, book.Order{Side: book.Buy, Type: book.Market, Qty: 1, QuoteBudget: 10})
	if out.Err != nil || sc.filled(out.ID) != 1 {
		t.Fatalf("market buy of 1 within 10: %+v, events %+v", out, sc.evs)
	}
	// Alone, the budget still must reach MinNotional.
	if out := sc.place(1, book.Order{Side: book.Buy, Type: book.Market, QuoteBudget: 49}); out.Err != book.ErrBelowMinNotional {
		t.Fatalf("budget 49 alone: %v, want %v", out.Err, book.ErrBelowMinNotional)
	}
}

// beforeFee is the largest x with x + feeOf(x, bps) ≤ b: a buy that
// spends b at most may trade a notional of x.
func TestBeforeFeeIsLargest(t *testing.T) {
	fits := func(x, b int64, bps int32) bool { return x <= b-feeOf(x, bps) }
	check := func(b int64, bps int32) {
		x := beforeFee(b, bps)
		if x < 0 || !fits(x, b, bps) || (x < b && fits(x+1, b, bps)) {
			t.Fatalf("beforeFee(%d, %d) = %d: fits %v, x+1 fits %v", b, bps, x, fits(x, b, bps), fits(x+1, b, bps))
		}
	}
	// Brute force over small budgets, every fee a market may charge: the
	// largest x is the last one that fits, and fits is monotonic.
	for bps := int32(0); bps <= 1000; bps++ {
		want := int64(0)
		for b := int64(0); b <= 3000; b++ {
			for want < b && fits(want+1, b, bps) {
				want++
			}
			if got := beforeFee(b, bps); got != want {
				t.Fatalf("beforeFee(%d, %d) = %d, want %d", b, bps, got, want)
			}
		}
	}
	// Large budgets, near the int64 limit too.
	r := rand.New(rand.NewPCG(testSeed(t, 5), 0))
	for range 200_000 {
		bps := int32(r.IntN(1001))
		b := r.Int64N(1 << uint(1+r.IntN(62)))
		check(b, bps)
		check(math.MaxInt64-b, bps)
	}
}

// A market buy by budget, or by quantity within a budget, affords what a
// limit buy with the same money affords: the fee is charged on the
// notional, rounded down, and the budget covers notional + fee.
func TestBudgetAffordsWhatItCovers(t *testing.T) {
	sc := oneMarket(t, MarketSpec{TakerFeeBps: 20}, 1000, 0)
	ask := func() {
		t.Helper()
		if out := sc.place(2, book.Order{Side: book.Sell, Price: 10, Qty: 1}); out.Err != nil {
			t.Fatal(out.Err)
		}
	}
	// 10 + feeOf(10, 20 bps) = 10 + 0 ≤ 10.
	for _, o := range []book.Order{
		{Side: book.Buy, Type: book.Market, QuoteBudget: 10},
		{Side: book.Buy, Type: book.Market, TIF: book.FOK, Qty: 1, QuoteBudget: 10},
		{Side: book.Buy, Type: book.Market, Qty: 1, QuoteBudget: 10},
		{Side: book.Buy, Price: 10, Qty: 1, TIF: book.IOC},
	} {
		ask()
		out := sc.place(1, o)
		if out.Err != nil || sc.filled(out.ID) != 1 {
			t.Fatalf("%+v: %+v, events %+v", o, out, sc.evs)
		}
	}
	sc.wantBal(1, 2, 960, 0)
	// A market buy by quantity with exactly 10 quote left... and 9.
	sc.do(Command{Kind: CmdWithdraw, Account: 1, Asset: 2, Amount: 950})
	ask()
	if out := sc.place(1, book.Order{Side: book.Buy, Type: book.Market, Qty: 1}); out.Err != nil || sc.filled(out.ID) != 1 {
		t.Fatalf("market buy of 1 with 10 quote: %+v, events %+v", out, sc.evs)
	}
	sc.wantBal(1, 2, 0, 0)
}
