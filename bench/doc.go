// Package bench holds ist's benchmark tooling for the order book: a reader
// and writer for the lobgen order-stream format, an adapter that turns
// stream operations into book commands, ist's own deterministic workload
// generator (with an independent reference matcher that computes the
// expected end state), and latency statistics helpers.
//
// # Stream format
//
// A stream is text, one item a line:
//
//	#seed                         start of the untimed seed section
//	#replay                       start of the timed replay section
//	L <id> <B|S> <price> <qty>    new GTC limit order
//	M <id> <B|S> <qty>            new market order (unfilled rest expires)
//	C <id>                        cancel of a resting order
//	#end key=value ...            expected end state after seed + replay
//
// Blank lines and comment lines ("#" alone or followed by a space) are
// ignored. Operations must come after #seed or #replay; #seed, if present,
// comes first, and #end lines come last. Known #end keys are traded_qty,
// trades (number of maker fills), resting_orders, bid_levels, bid_qty,
// best_bid, ask_levels, ask_qty and best_ask (0 for an empty side).
//
// Stream orders carry no owner: Apply uses the order id as Owner and
// book.STPNone, so self-trade prevention never fires.
package bench
