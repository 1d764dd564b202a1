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
//	log, err := wal.Open(dir, nil) // the command log: package wal
//	if err != nil { ... }
//	defer log.Close() // after e.Close
//	state, _, err := log.Recover() // the state the log ends at
//	if err != nil { ... }
//	e, err := engine.Open(&engine.Options{Journal: log, State: state, Snapshots: log})
//	if err != nil { ... }
//	defer e.Close()
//	res, err := e.Do(ctx, &engine.Command{Kind: engine.CmdPlace, Account: 7, Market: 1,
//		Order: book.Order{Side: book.Buy, Price: 100, Qty: 5}}, nil)
//	// res.ID is the order id; res.Events the accepted event and any trades.
//
// Without a Journal (engine.Open(nil)) nothing is persisted; State then
// defaults to an empty one.
//
// # Money
//
// Quantities are lots and prices are steps (see MarketSpec). A buy locks
// price × quantity × QuoteScale plus the market's highest fee; a sell locks
// quantity × BaseScale of the base; a market buy by quote budget locks the
// budget; a market buy by quantity without a protection price locks the
// whole available quote and cannot spend more. Each fill of a buy with a
// price takes out of what it locked the cost of that fill's quantity at
// the order's price, the highest fee included and rounded down on its
// own; as the fees of parts add up to at most the fee of the whole, a
// partly filled buy may keep locked up to one quote unit per fill above
// the cost of its open quantity, released when it is done (an amend locks
// the cost of the new open quantity afresh). Fills settle both sides and
// pay fees, in quote, to FeeAccount, at the rates in force at the fill;
// cancels and expiries release what is left. For every asset, the sum of
// all balances equals deposits minus withdrawals after every command;
// State.Check verifies it.
//
// An operator may change a market's fees (CmdSetMarketFees). When the
// highest of them changes, every live buy of the market is brought, in
// order id order, to what the new rate requires: a buy with a limit
// price locks the cost of its open quantity at the new rate afresh (a
// cut frees the difference, a raise takes it from the available
// balance); a pending stop-market buy by budget keeps its budget locked
// and will buy the notional that budget pays for at the new rate. A buy
// whose owner cannot pay a raise is cancelled (EvCancelled, reason
// book.ReasonFeeChange), after every buy that needs nothing more has
// given back its surplus. Sells are untouched.
//
// # Price bands
//
// A market may have a price band (MarketSpec.PriceBandBps, in basis
// points; 0, the default, is none; CmdSetPriceBand changes it): fat-finger
// and sweep protection. Its reference price is the market's last trade
// price; before the first trade there is no band. Around a reference ref
// the band is [lo, hi], with hi = ref × (10000 + bps) / 10000 rounded down
// to the tick and lo = ref × (10000 − bps) / 10000 rounded up to the tick,
// at least one tick, computed in integers without overflow. Only the
// aggressive side is bounded:
//   - a limit order (GTC, IOC or FOK, post-only and iceberg included) to
//     buy above hi or sell below lo fails with ErrPriceOutOfBand and
//     changes nothing; a buy far below the price, or a sell far above
//     it, is passive and allowed. An amend that moves a price beyond the
//     band likewise, unless it moves it towards the passive side (one
//     that keeps the price, or that moves a buy the band left beyond it
//     lower, is not held to the band);
//   - a stop-limit's limit is held to the band around its stop price,
//     where it will trigger, not around the last price;
//   - a stop-market gets the band's bound around its stop price as its
//     protection price where that is tighter than its own, at placing:
//     it is the order's protection price from then on (its reservation,
//     for a buy, is at it, and a later change of the band leaves it); a
//     stop-market buy by quantity still needs a protection price of its
//     own (ErrStopNeedsLimit);
//   - a market order (by quantity or by quote budget) trades only within
//     the band around the last price at its arrival: the book gets the
//     tighter of its protection price and the band's bound. Its
//     reservation is made as without the band. When the band is what
//     stopped it, its unfilled rest expires with reason
//     book.ReasonPriceBand (price_band) instead of book.ReasonUnfilled:
//     there was liquidity beyond the bound that its own protection price
//     accepted and that what it had left (within its budget) could have
//     bought (not its owner's own orders, where self-trade prevention
//     would have stopped it or cancelled them). A FOK that cannot fill within the band expires with
//     book.ReasonFOK, as without one;
//   - copy-trading mirrors are held to the band: a mirror whose limit
//     (the leader's price with the relation's slippage) lies beyond the
//     band gets the band's bound as its limit, as a market order would,
//     so a follow whose slippage is wider than the band still mirrors
//     within it; the sale at market that closes a relation is held to
//     the band's lower bound.
//
// Changing the band touches no live order. Bands are state: snapshots
// keep them (snapshot version 9, written only while some market has one).
//
// # Open order limits
//
// A market may limit the live orders one account has in it
// (MarketSpec.MaxOpenOrders; 0, the default, is none; CmdSetMaxOpenOrders
// changes it), as exchanges do so that no account can fill the book and
// the engine's memory with orders it can afford: resting limit orders and
// stop orders not yet triggered count, an iceberg once. A place of an
// order that could stay live (GTC or good-till-date limit orders,
// post-only and icebergs included, and stops) by an account that has the
// limit's number already fails with ErrTooManyOpenOrders and changes
// nothing, before the order's funds and fields are checked; market, IOC
// and FOK orders are never refused by it, nor are amends, cancels or
// copy mirrors (which never rest). Lowering the limit cancels nothing: an
// account over it can place again once fills, cancels or expiries bring
// it below. Only a market with a limit counts its accounts' orders, so a
// market without one pays nothing for the feature. Limits are state:
// snapshots keep them (snapshot version 10, written only while some
// market has one); the counts are rebuilt from the orders.
//
// # Frozen accounts
//
// An operator may freeze (suspend) an account and lift the freeze
// (CmdSetAccountFrozen). Freezing cancels every live order of the
// account, pending stops included, in every market, in order id order
// (EvCancelled, reason book.ReasonAccountFrozen), releasing their
// reservations. While frozen, the account's places, amends, withdrawals
// and copy-trading commands (follow, amend, pause, resume, unfollow, its
// leader profile) fail with ErrAccountFrozen and change nothing; cancels
// and deposits work. Its relations mirror none of their leaders' fills
// (EvCopySkipped, reason CopyAccountFrozen); their stop-losses and profit
// share still run. A frozen leader cannot trade, so nothing mirrors it.
// Unfreezing restores all of it; cancelled orders stay cancelled.
//
// # Good-till-date orders
//
// A place with Command.ExpireAt (Unix nanoseconds, after the command's
// Time) is a good-till-date order: a GTC limit or stop-limit order
// (post-only and iceberg allowed; IOC, FOK, market and stop-market
// orders refuse an expiry with book.ErrInvalidTIF) that rests until
// ExpireAt, then expires by itself. The state never reads a clock: before
// it applies any command whose Time is at or after the earliest pending
// expiry, it expires every order with ExpireAt <= Time, in (ExpireAt,
// order id) order, each an EvExpired with reason book.ReasonExpired
// (expired_time), its reservation released as a cancel's is. These
// events come first among that command's, whatever its kind and whether
// it succeeds; replaying the log expires the same orders at the same
// commands. Each command pays one comparison with the earliest expiry
// (State.NextExpiry) for it. So that orders expire on time when no
// command comes, the Engine submits a CmdTick at the earliest expiry time
// (one timer, armed when the matcher goes idle; the tick is journaled
// like any command). An amend keeps the order's expiry (it cannot change
// it); a cancel, a fee change or a freeze that ends the order forgets it.
// The expiry times are state: snapshots keep them (snapshot version 8,
// written only while a good-till-date order is live, or 9 while some
// market has a price band).
//
// # Copy-trading
//
// An account with a leader profile (CmdSetLeaderProfile) can be followed:
// CmdFollow moves an allocation into a relation's own wallet, an account
// that no command can name. Every fill of a leader's own order, as taker
// or maker (against any order, another relation's mirrored order
// included), is mirrored right after the command that made it, before the
// next command, to each open relation of the leader (in relation id order
// from a start that rotates with every fill) as an IOC limit order at the
// fill price ± the relation's slippage, sized by its CopyMode and rounded
// down to the lot (remainders carry to the leader order's next fill,
// kept for each live leader order and dropped when it is done).
// Sells follow the leader's fraction of its holdings; a leader that goes
// flat (less than a lot of the base left, which it cannot sell) makes
// its followers sell everything. Mirrored orders trade only
// their wallet, never rest, and never trigger further mirrors; a mirror
// that would meet its leader's own resting order expires there. A mirror
// that cannot be sized or funded produces EvCopySkipped with a CopyReason
// and the size the relation wanted (before a buy is shrunk to what its
// wallet can pay).
// Pause stops buys, not sells; Unfollow sells at the slippage floor
// (CloseMarket: to the best bids, its leader's included, as the sale is
// no mirror) or keeps the base (CloseKeep), settles profit share and
// returns everything; the stop-loss closes a relation whose NAV falls
// below allocation × (1 − StopLossBps/10000) after a mirrored fill or a
// CmdSettle; CmdSettle pays the leader its share of NAV above the
// high-water mark, at the relation's own rate: the leader's when the
// follow was made, lowered (never raised) by later CmdSetLeaderProfile.
// Leaders cannot follow and followers cannot lead.
// Mirrors are derived, never journaled: replaying the commands reproduces
// them, event for event. RelationView and LeaderView publish the state.
//
// # Concurrency
//
// State is owned by one goroutine. Engine's methods are safe for concurrent
// use; callbacks run on the engine's output goroutine and must neither
// block nor wait for the engine (see Callbacks on Engine).
// Views (MarketView, AccountView, RelationView, LeaderView, Directory) are
// immutable and published through atomic pointers: readers never stop the
// matcher.
//
// # Snapshots
//
// With Options.Snapshots, the matcher takes a snapshot between two
// batches, so that it is consistent at one sequence number: it encodes
// everything but the resting orders, and copies the books and the order
// table (memory copies); the snapshot goroutine encodes the resting
// orders from those copies, checksums and saves the snapshot while
// matching goes on. The matcher's pause is about 19–26 ms per million
// resting orders on a 2-core VM (istbench snapshot; a helper goroutine
// copies the order records alongside the matcher), where encoding them
// all in the matcher took 360–570 ms. The engine keeps the memory of the
// last snapshot, a quarter larger, and of the copies (about 220 bytes per
// resting order) for the next, so that the matcher neither allocates nor
// page-faults then. Options.OnSnapshot hears of each one, saved or
// failed.
package engine
