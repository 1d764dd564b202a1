// Package engine is ist's matching engine: a deterministic state machine
// over assets, markets (each an order book from package book), accounts
// with available and locked balances, and live orders with their
// reservations; and the lock-free pipeline that feeds it from many
// goroutines and makes every command durable before its result leaves.
//
// # Two layers
//
// State is the synchronous core. Apply executes one Command and appends its
// Events; it never reads a clock, draws a random number or depends on map
// order, so the same commands give the same events and the same Hash on
// every run. Tests, replay and recovery drive it directly.
//
// Engine is the driver: Submit and Do put commands into a bounded
// multi-producer ring; the matcher goroutine gives each batch its sequence
// numbers and timestamp and applies it; in parallel the journal goroutine
// hands the batch to the Journal (one Commit per batch); a result is
// delivered, and views are published, only once its command is both
// applied and durable.
//
// # Usage
//
//	e, err := engine.Open(&engine.Options{Journal: myJournal})
//	if err != nil { ... }
//	defer e.Close()
//	res, err := e.Do(ctx, &engine.Command{Kind: engine.CmdPlace, Account: 7, Market: 1,
//		Order: book.Order{Side: book.Buy, Price: 100, Qty: 5}}, nil)
//	// res.ID is the order id; res.Events the accepted event and any trades.
//
// # Money
//
// Quantities are lots and prices are steps (see MarketSpec). A buy locks
// price × quantity × QuoteScale plus the market's highest fee; a sell locks
// quantity × BaseScale of the base; a market buy by quote budget locks the
// budget; a market buy by quantity without a protection price locks the
// whole available quote and cannot spend more. Fills settle both sides and
// pay fees, in quote, to FeeAccount; cancels and expiries release what is
// left. For every asset, the sum of all balances equals deposits minus
// withdrawals after every command; State.Check verifies it.
//
// # Concurrency
//
// State is owned by one goroutine. Engine's methods are safe for concurrent
// use; callbacks run on the engine's output goroutine and must not block.
// Views (MarketView, AccountView, Directory) are immutable and published
// through atomic pointers: readers never stop the matcher.
package engine
