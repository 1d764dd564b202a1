package engine_test

import (
	"context"
	"fmt"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// Two accounts trade on one market through the engine's pipeline.
func Example() {
	e, err := engine.Open(nil)
	if err != nil {
		panic(err)
	}
	defer e.Close()
	ctx := context.Background()
	name := func(s string) engine.Name { n, _ := engine.MakeName(s); return n }
	do := func(c engine.Command) engine.Result {
		res, err := e.Do(ctx, &c, nil)
		if err != nil {
			panic(err)
		}
		if res.Err != nil {
			panic(res.Err)
		}
		return res
	}
	btc := uint32(do(engine.Command{Kind: engine.CmdCreateAsset, Name: name("BTC")}).ID)
	usd := uint32(do(engine.Command{Kind: engine.CmdCreateAsset, Name: name("USD")}).ID)
	mkt := uint32(do(engine.Command{Kind: engine.CmdCreateMarket, Name: name("BTC-USD"), Spec: engine.MarketSpec{
		Base: btc, Quote: usd, BaseScale: 1, QuoteScale: 1, TakerFeeBps: 10,
		Rules: book.Rules{MaxPrice: 1 << 30, MaxQty: 1 << 20}}}).ID)
	alice := do(engine.Command{Kind: engine.CmdCreateAccount, Name: name("alice")}).ID
	bob := do(engine.Command{Kind: engine.CmdCreateAccount, Name: name("bob")}).ID
	do(engine.Command{Kind: engine.CmdDeposit, Account: alice, Asset: btc, Amount: 10})
	do(engine.Command{Kind: engine.CmdDeposit, Account: bob, Asset: usd, Amount: 100_000})

	do(engine.Command{Kind: engine.CmdPlace, Account: alice, Market: mkt,
		Order: book.Order{Side: book.Sell, Price: 5000, Qty: 4}})
	res := do(engine.Command{Kind: engine.CmdPlace, Account: bob, Market: mkt,
		Order: book.Order{Side: book.Buy, Price: 5000, Qty: 3}})
	for _, ev := range res.Events {
		if ev.Kind == book.EvTrade {
			fmt.Printf("trade: %d @ %d, taker fee %d\n", ev.Qty, ev.Price, ev.TakerFee)
		}
	}
	if err := e.WaitViews(ctx, res.Seq); err != nil { // read your writes
		panic(err)
	}
	st, _ := e.Account(bob)
	for _, b := range st.Balances {
		fmt.Printf("bob asset %d: available %d locked %d\n", b.Asset, b.Available, b.Locked)
	}
	// Output:
	// trade: 3 @ 5000, taker fee 15
	// bob asset 1: available 3 locked 0
	// bob asset 2: available 84985 locked 0
}

// The state machine can be driven directly, without the pipeline: this is
// what replay and tests do.
func ExampleState_Apply() {
	s := engine.NewState()
	name, _ := engine.MakeName("USD")
	var evs []engine.Event
	out, evs := s.Apply(&engine.Command{Kind: engine.CmdCreateAsset, Seq: 1, Name: name}, evs)
	fmt.Println(out.ID, out.Err, len(evs))
	out, _ = s.Apply(&engine.Command{Kind: engine.CmdDeposit, Seq: 2, Account: 99, Asset: 1, Amount: 5}, evs[:0])
	fmt.Println(out.Err)
	// Output:
	// 1 <nil> 0
	// engine: unknown account
}

// Copy-trading: account 3 follows leader 1 with a wallet of 1,000 quote
// units; the leader's buy is mirrored into the wallet in the same command.
func ExampleState_Apply_copyTrading() {
	s := engine.NewState()
	var seq uint64
	do := func(c engine.Command) (engine.Outcome, []engine.Event) {
		seq++
		c.Seq = seq
		return s.Apply(&c, nil)
	}
	name := func(v string) engine.Name { n, _ := engine.MakeName(v); return n }
	do(engine.Command{Kind: engine.CmdCreateAsset, Name: name("ETH")})
	do(engine.Command{Kind: engine.CmdCreateAsset, Name: name("USDT")})
	do(engine.Command{Kind: engine.CmdCreateMarket, Name: name("ETH-USDT"), Spec: engine.MarketSpec{
		Base: 1, Quote: 2, BaseScale: 1, QuoteScale: 1, Rules: book.Rules{MaxPrice: 1 << 20, MaxQty: 1 << 20}}})
	for range 3 {
		do(engine.Command{Kind: engine.CmdCreateAccount, Name: name("trader")})
	}
	do(engine.Command{Kind: engine.CmdDeposit, Account: 1, Asset: 2, Amount: 10_000})
	do(engine.Command{Kind: engine.CmdDeposit, Account: 2, Asset: 1, Amount: 100})
	do(engine.Command{Kind: engine.CmdDeposit, Account: 3, Asset: 2, Amount: 5_000})
	do(engine.Command{Kind: engine.CmdSetLeaderProfile, Account: 1, Copy: engine.CopySpec{ProfitShareBps: 1000}})
	rel, _ := do(engine.Command{Kind: engine.CmdFollow, Account: 3, Asset: 2, Amount: 1_000,
		Copy: engine.CopySpec{Leader: 1, Mode: engine.CopyProportional, Value: engine.ValueOne, SlippageBps: 100}})
	do(engine.Command{Kind: engine.CmdPlace, Account: 2, Market: 1, Order: book.Order{Side: book.Sell, Price: 100, Qty: 60}})
	// The leader spends half its quote: the relation spends half its wallet.
	_, evs := do(engine.Command{Kind: engine.CmdPlace, Account: 1, Market: 1, Order: book.Order{Side: book.Buy, Price: 100, Qty: 50}})
	for _, ev := range evs {
		if ev.Kind == book.EvTrade {
			fmt.Printf("relation %d: %d at %d\n", ev.Relation, ev.Qty, ev.Price)
		}
	}
	fmt.Println("relation id", rel.ID)
	// Output:
	// relation 0: 50 at 100
	// relation 1: 5 at 100
	// relation id 1
}

// An engine that makes room at start-up for a million live orders, and
// half a million resting orders in each market's book: matching does not
// pause to grow its tables before the state reaches that size.
func ExampleOptions_capacity() {
	e, err := engine.Open(&engine.Options{Capacity: engine.Capacity{Orders: 1_000_000, BookOrders: 500_000}})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	fmt.Println("open")
	// Output: open
}
