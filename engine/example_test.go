package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

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

// setUp makes a market BTC-USD on e (prices on a tick of 5, at most
// 1,000,000; quantities at most 10,000; both scales 1) and two accounts:
// alice with 100 BTC, bob with 1,000,000 USD.
func setUp(e *engine.Engine) (mkt uint32, alice, bob uint64) {
	do := func(c engine.Command) uint64 {
		res, err := e.Do(context.Background(), &c, nil)
		if err != nil || res.Err != nil {
			panic(fmt.Sprint(c.Kind, err, res.Err))
		}
		return res.ID
	}
	name := func(s string) engine.Name { n, _ := engine.MakeName(s); return n }
	btc := uint32(do(engine.Command{Kind: engine.CmdCreateAsset, Name: name("BTC")}))
	usd := uint32(do(engine.Command{Kind: engine.CmdCreateAsset, Name: name("USD")}))
	mkt = uint32(do(engine.Command{Kind: engine.CmdCreateMarket, Name: name("BTC-USD"), Spec: engine.MarketSpec{
		Base: btc, Quote: usd, BaseScale: 1, QuoteScale: 1,
		Rules: book.Rules{TickSize: 5, MaxPrice: 1_000_000, MaxQty: 10_000}}}))
	alice = do(engine.Command{Kind: engine.CmdCreateAccount, Name: name("alice")})
	bob = do(engine.Command{Kind: engine.CmdCreateAccount, Name: name("bob")})
	do(engine.Command{Kind: engine.CmdDeposit, Account: alice, Asset: btc, Amount: 100})
	do(engine.Command{Kind: engine.CmdDeposit, Account: bob, Asset: usd, Amount: 1_000_000})
	return mkt, alice, bob
}

// Do's own error means the command was not run (ErrClosed, ErrFull,
// ErrInvalidCommand, the context's error). Result.Err means the state
// machine refused it: nothing changed and there are no events; test it
// with errors.Is, against this package's sentinels or package book's. An
// accepted order that cannot fill is no error: it expires.
func ExampleEngine_Do_errors() {
	e, err := engine.Open(nil)
	if err != nil {
		panic(err)
	}
	mkt, alice, bob := setUp(e)
	ctx := context.Background()
	try := func(c engine.Command) {
		res, err := e.Do(ctx, &c, nil)
		switch {
		case err != nil:
			fmt.Printf("not run: %v (closed: %v)\n", err, errors.Is(err, engine.ErrClosed))
		case res.Err != nil:
			fmt.Printf("refused: %v (%d events)\n", res.Err, len(res.Events))
		default:
			last := res.Events[len(res.Events)-1]
			fmt.Printf("order %d: %v, %v\n", res.ID, last.Kind, last.Reason)
		}
	}
	try(engine.Command{Kind: engine.CmdPlace, Account: alice, Market: mkt,
		Order: book.Order{Side: book.Sell, Price: 5000, Qty: 4}})
	try(engine.Command{Kind: engine.CmdPlace, Account: bob, Market: mkt,
		Order: book.Order{Side: book.Buy, Price: 5000, Qty: 300}}) // 1,500,000 USD
	try(engine.Command{Kind: engine.CmdPlace, Account: bob, Market: 9,
		Order: book.Order{Side: book.Buy, Price: 5000, Qty: 1}})
	try(engine.Command{Kind: engine.CmdPlace, Account: bob, Market: mkt,
		Order: book.Order{Side: book.Buy, Price: 5001, Qty: 1}})
	try(engine.Command{Kind: engine.CmdPlace, Account: bob, Market: mkt,
		Order: book.Order{Side: book.Buy, Price: 5000, Qty: 10, TIF: book.FOK}})

	res, _ := e.Do(ctx, &engine.Command{Kind: engine.CmdPlace, Account: bob, Market: mkt,
		Order: book.Order{Side: book.Buy, Price: 5001, Qty: 1}}, nil)
	fmt.Println("off tick:", errors.Is(res.Err, book.ErrPriceNotOnTick))

	if err := e.Close(); err != nil {
		panic(err)
	}
	try(engine.Command{Kind: engine.CmdCancel, Account: alice, OrderID: 1})
	// Output:
	// order 1: accepted, none
	// refused: engine: insufficient funds (0 events)
	// refused: engine: unknown market (0 events)
	// refused: book: price not on tick (0 events)
	// order 2: expired, fill_or_kill
	// off tick: true
	// not run: engine: closed (closed: true)
}

// Submit returns as soon as the command is in the ingress ring; done runs
// later, on the engine's goroutine, once the command is durable. Here
// eight goroutines place orders at once, four selling and four buying at
// one price. Results are delivered in sequence order, so once a Do
// submitted after them returns, every done has run.
func ExampleEngine_Submit() {
	e, err := engine.Open(nil)
	if err != nil {
		panic(err)
	}
	defer e.Close()
	mkt, alice, bob := setUp(e)
	ctx := context.Background()

	var accepted, trades atomic.Int64
	done := func(res *engine.Result) { // must not block, nor keep res
		if res.Err == nil {
			accepted.Add(1)
		}
		for _, ev := range res.Events {
			if ev.Kind == book.EvTrade {
				trades.Add(1)
			}
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			cmd := engine.Command{Kind: engine.CmdPlace, Account: alice, Market: mkt,
				Order: book.Order{Side: book.Sell, Price: 1000, Qty: 1}}
			if g%2 == 1 {
				cmd.Account, cmd.Order.Side = bob, book.Buy
			}
			for range 10 {
				if err := e.Submit(ctx, &cmd, done); err != nil { // cmd is copied
					panic(err)
				}
			}
		})
	}
	wg.Wait()
	if _, err := e.Do(ctx, &engine.Command{Kind: engine.CmdTick}, nil); err != nil {
		panic(err)
	}
	fmt.Println("accepted:", accepted.Load(), "trades:", trades.Load())
	// Output:
	// accepted: 80 trades: 40
}

// A subscriber sees every acknowledged result, of every submitter, in
// sequence order, before the submitter itself. It runs on the engine's
// goroutine: it copies what it keeps and returns quickly.
func ExampleEngine_Subscribe() {
	e, err := engine.Open(nil)
	if err != nil {
		panic(err)
	}
	defer e.Close()
	mkt, alice, bob := setUp(e)
	ctx := context.Background()

	var mu sync.Mutex
	var fills []string
	unsubscribe := e.Subscribe(func(res *engine.Result) {
		for _, ev := range res.Events {
			if ev.Kind == book.EvTrade {
				mu.Lock()
				fills = append(fills, fmt.Sprintf("order %d took %d @ %d from order %d", ev.OrderID, ev.Qty, ev.Price, ev.MakerID))
				mu.Unlock()
			}
		}
	})
	defer unsubscribe()

	for _, c := range []engine.Command{
		{Kind: engine.CmdPlace, Account: alice, Market: mkt, Order: book.Order{Side: book.Sell, Price: 1000, Qty: 2}},
		{Kind: engine.CmdPlace, Account: alice, Market: mkt, Order: book.Order{Side: book.Sell, Price: 1005, Qty: 2}},
		{Kind: engine.CmdPlace, Account: bob, Market: mkt, Order: book.Order{Side: book.Buy, Type: book.Market, Qty: 3}},
	} {
		if _, err := e.Do(ctx, &c, nil); err != nil {
			panic(err)
		}
	}
	mu.Lock() // the subscriber has seen every result Do returned
	for _, f := range fills {
		fmt.Println(f)
	}
	mu.Unlock()
	// Output:
	// order 3 took 2 @ 1000 from order 1
	// order 3 took 1 @ 1005 from order 2
}

// Balances and the book are read from views the engine publishes without
// stopping the matcher. They lag by up to Options.ViewInterval: WaitViews
// with a result's Seq reads your own writes. Views are immutable and
// shared: read them, never modify them.
func ExampleEngine_Market() {
	e, err := engine.Open(nil)
	if err != nil {
		panic(err)
	}
	defer e.Close()
	mkt, alice, bob := setUp(e)
	ctx := context.Background()

	var last engine.Result
	for _, c := range []engine.Command{
		{Kind: engine.CmdPlace, Account: alice, Market: mkt, Order: book.Order{Side: book.Sell, Price: 1010, Qty: 3}},
		{Kind: engine.CmdPlace, Account: alice, Market: mkt, Order: book.Order{Side: book.Sell, Price: 1010, Qty: 1}},
		{Kind: engine.CmdPlace, Account: bob, Market: mkt, Order: book.Order{Side: book.Buy, Price: 990, Qty: 5}},
	} {
		if last, err = e.Do(ctx, &c, nil); err != nil || last.Err != nil {
			panic(fmt.Sprint(err, last.Err))
		}
	}
	if err := e.WaitViews(ctx, last.Seq); err != nil {
		panic(err)
	}
	mv, _ := e.Market(mkt)
	fmt.Printf("%s bids %+v asks %+v\n", mv.Name, mv.Bids, mv.Asks)
	av, _ := e.Account(bob)
	for _, b := range av.Balances {
		fmt.Printf("bob asset %d: available %d locked %d\n", b.Asset, b.Available, b.Locked)
	}
	// Output:
	// BTC-USD bids [{Price:990 Qty:5 Orders:1}] asks [{Price:1010 Qty:4 Orders:2}]
	// bob asset 2: available 995050 locked 4950
}
