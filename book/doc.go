// Package book is one market's limit order book: price-time priority
// matching over integer prices and quantities, with no clock, no randomness,
// no goroutines, no I/O and no allocation on the hot path.
//
// A Book is a deterministic state machine. The same commands in the same
// order give the same events, byte for byte. It is not safe for concurrent
// use: one goroutine (the engine's matcher) owns it.
//
// # Usage
//
//	b, err := book.New(book.Rules{TickSize: 1, LotSize: 1}, nil)
//	if err != nil { ... }
//	var evs []book.Event // caller-owned, reused across commands
//	evs, err = b.Place(evs[:0], &book.Order{ID: 1, Owner: 7, Side: book.Sell, Price: 101, Qty: 5})
//	evs, err = b.Place(evs[:0], &book.Order{ID: 2, Owner: 8, Side: book.Buy, Price: 101, Qty: 3})
//	for _, ev := range evs { ... } // accepted 2, trade 2×1 3@101
//
// Commands append their events to the slice passed in and return it, as
// strconv.AppendInt does; with enough capacity nothing is allocated. A
// rejected command appends one EvRejected event, returns the matching
// sentinel error and changes nothing.
//
// Orders are found by id (Cancel, Amend, Order), through an index the
// book keeps; or by Handle, where the order sits, which the events of
// Place and Amend give (Event.Handle) and Restore returns. An owner that
// keeps the handles, as the engine does, can do without the index
// (Options.NoIndex): no hash table to probe, fill and empty at each
// order, and 16 to 32 bytes less an order.
//
//	b, _ := book.New(rules, &book.Options{NoIndex: true})
//	evs, _ = b.Place(evs[:0], &book.Order{ID: 3, Owner: 7, Side: book.Buy, Price: 99, Qty: 2})
//	h := evs[0].Handle // EvAccepted: where order 3 rests (0: nothing of it did)
//	evs, _ = b.CancelAt(evs[:0], h, 3)
//
// A book grows as orders rest in it, incrementally: no command copies a
// large book at once (resting orders are kept in pages of 4,096 that
// never move; the id index, if it has one, moves to a larger table a few
// slots at each order). Options.Capacity (or Reserve) makes the room up front; GrowAhead hands its owner a function that allocates the next
// arrays on another goroutine, so that the command that fills the book
// does not wait for the allocation either.
//
// # Semantics
//
// Validation of Place, first failing check wins: ID zero (invalid_id);
// Side, Type, TIF, STP out of range; ID live in the book, resting or as a
// pending stop (duplicate_id); PostOnly on anything but a GTC Limit; the
// stop price (required and on tick, ≤ MaxPrice, for stop types; zero for
// others); the price (Limit and StopLimit: > 0, ≤ MaxPrice, on tick; Market
// and StopMarket: 0 or a valid price, used as protection); the quote budget
// (only on a Market or StopMarket Buy, > 0, not with FOK unless Qty is
// set, ≥ MinNotional if Qty is 0: a budget with a Qty only caps an order
// by quantity, and market orders by quantity have no minimum notional);
// the quantity unless the order is a pure budget buy
// with Qty 0 (> 0, on lot, ≥ MinQty, ≤ MaxQty, and for a GTC Limit or
// StopLimit order within its side's room, see below);
// DisplayQty (only GTC Limit or StopLimit, > 0, on lot, ≤ Qty, ≥ Qty /
// MaxIcebergParts: at most 100 slices); for priced
// orders price × quantity (no int64 overflow, ≥ MinNotional); last, a
// post-only order that would trade (best opposite price at or through its
// price) is rejected with post_only_would_cross.
//
// A side of the book holds at most math.MaxInt64 in all: the open
// quantity of its resting orders plus the quantity of its pending GTC
// StopLimit orders, which may rest once triggered. A GTC Limit or
// StopLimit order whose Qty would take its side past that (counted before
// it trades), or an Amend whose increase of the open quantity would, is
// rejected with quantity_above_max, so that no level total can wrap. Only
// rules with a huge MaxQty (the zero Rules) let a book come near it.
//
// An accepted order emits EvAccepted, then trades. A taker meets resting
// orders best price first, then in arrival order within a price. It trades
// at the maker's price as long as the price is acceptable (buy: ask ≤
// limit; sell: bid ≥ limit; market orders: any price, or up to the
// protection price). A market buy with a budget buys, at each price, the
// most whole lots its remaining budget affords (up to its Qty, if it has
// one), and stops at the first price where it affords none. Before each trade, self-trade prevention: if the
// taker's STP mode is not none and the maker has the same Owner,
// cancel_taker cancels the taker's rest, cancel_maker cancels the whole
// maker and goes on, cancel_both cancels the maker then the taker's rest
// (EvCancelled, reason self_trade_prevented). An iceberg maker trades at
// most its visible slice; when the slice is used up and hidden quantity
// remains, a new slice of min(DisplayQty, open) goes to the back of its
// level, where the same taker may meet it again.
//
// What is left of the taker then: a GTC limit rests (an iceberg shows
// min(DisplayQty, rest)); an IOC or market order expires (EvExpired,
// unfilled); a pure budget buy expires only if budget is left. A FOK order
// is checked before it trades: walking the acceptable levels best first, it
// counts the open quantity (hidden included) of resting orders, and with a
// budget the cost of the quantity it needs at those prices; with
// cancel_maker its owner's orders are skipped, and with cancel_taker or
// cancel_both a level that holds one of its owner's orders, reached before
// the quantity is covered, kills it. If the quantity is not covered (or
// the budget cannot pay for it) the order expires whole (EvExpired,
// fill_or_kill) and nothing else happens.
//
// Stops wait outside the book. After every command that traded or placed a
// stop, stops are released while any is triggered by the last trade price
// (buy: last ≥ stop; sell: last ≤ stop): a triggered buy stop first, lowest
// stop price then earliest arrival; else a triggered sell stop, highest
// stop price then earliest arrival. A released stop emits EvTriggered and
// then trades as a Limit (StopLimit) or Market (StopMarket) order, with no
// second EvAccepted. A stop placed when the last trade price already
// triggers it is released at once. Before the first trade there is no last
// price and nothing triggers.
//
// Cancel removes a resting order or a pending stop (EvCancelled, reason
// cancelled). Amend changes a resting order's price and open quantity:
// with the same price and a quantity not above the open one the order keeps
// its queue place; otherwise it loses it, as a cancel/replace, and trades if
// the new price crosses (post-only orders are rejected instead). Pending
// stops cannot be amended; only the quote budget of a pending stop buy by
// budget can be set anew (SetStopBudget: what its owner's funds buy after
// a change of the market's fees, which the book does not know of).
//
// Quantities in events: Qty of EvCancelled and EvExpired is the open
// quantity removed (0 for a pure budget buy) and Remaining the unspent
// quote budget (0 for orders without one). Remaining of a trade is the
// taker's quantity left, or for a pure budget buy its budget left.
package book
