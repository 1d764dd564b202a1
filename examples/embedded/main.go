// Command embedded shows ist used as a library: it opens an engine in
// process, creates a market and two accounts, trades between them and
// prints the fills and the balances.
//
//	go run ./examples/embedded
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

func main() {
	e, err := engine.Open(nil) // in-memory journal: nothing is persisted
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()

	// Every fill of every account, as it becomes durable.
	unsubscribe := e.Subscribe(func(res *engine.Result) {
		for _, ev := range res.Events {
			if ev.Kind == book.EvTrade {
				fmt.Printf("fill  seq=%d order %d (account %d) took %d @ %d from order %d (account %d), fees %d/%d\n",
					res.Seq, ev.OrderID, ev.Owner, ev.Qty, ev.Price, ev.MakerID, ev.MakerOwner, ev.TakerFee, ev.MakerFee)
			}
		}
	})
	defer unsubscribe()

	var lastSeq uint64
	do := func(c engine.Command) uint64 {
		res, err := e.Do(ctx, &c, nil)
		if err != nil {
			log.Fatal(err)
		}
		if res.Err != nil {
			log.Fatalf("%v: %v", c.Kind, res.Err)
		}
		lastSeq = res.Seq
		return res.ID
	}
	name := func(s string) engine.Name { n, _ := engine.MakeName(s); return n }

	// Units: BTC in satoshi, USDT in units of 0.00001 USDT. A lot is
	// 0.001 BTC (BaseScale 100,000 sat) and a price is quote units per
	// lot, so a step of 1 is 0.00001 USDT per 0.001 BTC = 0.01 USDT per
	// BTC, and 65,000.00 USDT/BTC is 6,500,000.
	btc := uint32(do(engine.Command{Kind: engine.CmdCreateAsset, Name: name("BTC")}))
	usdt := uint32(do(engine.Command{Kind: engine.CmdCreateAsset, Name: name("USDT")}))
	mkt := uint32(do(engine.Command{Kind: engine.CmdCreateMarket, Name: name("BTC-USDT"), Spec: engine.MarketSpec{
		Base: btc, Quote: usdt, BaseScale: 100_000, QuoteScale: 1,
		MakerFeeBps: 10, TakerFeeBps: 20,
		Rules: book.Rules{MaxPrice: 1 << 32, MaxQty: 1 << 24}}}))

	alice := do(engine.Command{Kind: engine.CmdCreateAccount, Name: name("alice")})
	bob := do(engine.Command{Kind: engine.CmdCreateAccount, Name: name("bob")})
	do(engine.Command{Kind: engine.CmdDeposit, Account: alice, Asset: btc, Amount: 100_000_000})   // 1 BTC
	do(engine.Command{Kind: engine.CmdDeposit, Account: bob, Asset: usdt, Amount: 10_000_000_000}) // 100,000 USDT

	// Alice offers 0.5 BTC in two slices; Bob buys 0.3 BTC, then sends a
	// market order for 0.1 BTC more.
	do(engine.Command{Kind: engine.CmdPlace, Account: alice, Market: mkt,
		Order: book.Order{Side: book.Sell, Price: 6_500_000, Qty: 200}}) // 65,000.00 USDT/BTC
	do(engine.Command{Kind: engine.CmdPlace, Account: alice, Market: mkt,
		Order: book.Order{Side: book.Sell, Price: 6_510_000, Qty: 300}})
	do(engine.Command{Kind: engine.CmdPlace, Account: bob, Market: mkt,
		Order: book.Order{Side: book.Buy, Price: 6_510_000, Qty: 300}})
	do(engine.Command{Kind: engine.CmdPlace, Account: bob, Market: mkt,
		Order: book.Order{Side: book.Buy, Type: book.Market, Qty: 100}})

	// Balances are read from the published views, without stopping the
	// matcher. Views lag by up to a millisecond: wait for our last command.
	if err := e.WaitViews(ctx, lastSeq); err != nil {
		log.Fatal(err)
	}
	for _, id := range []uint64{alice, bob, engine.FeeAccount} {
		v, _ := e.Account(id)
		for _, b := range v.Balances {
			fmt.Printf("account %d (%s) asset %d: available %d locked %d\n", id, v.Name, b.Asset, b.Available, b.Locked)
		}
	}
	if mv, ok := e.Market(mkt); ok {
		fmt.Printf("book %s: last %d, asks %v\n", mv.Name, mv.Last, mv.Asks)
	}
}
