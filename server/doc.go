// Package server is istd's HTTP API: a thin fasthttp layer around an
// engine.Engine recovered from a wal.Log, implementing the contract of
// API.md.
//
// # Usage
//
//	s, err := server.Open(&server.Options{DataDir: "./data"})
//	if err != nil { ... }
//	if tok := s.GeneratedAdminToken(); tok != "" { fmt.Println(tok) } // once
//	ln, _ := net.Listen("tcp", "127.0.0.1:8080")
//	go s.Serve(ln)
//	...
//	err = s.Shutdown(ctx) // stop accepting, drain, snapshot, close
//
// # Units
//
// Every asset has 8 decimal places in the server (Scale): balances,
// deposits, withdrawals, fees and quote budgets are int64 counts of 10^-8
// units. A market created with tick size T and lot size L (decimal
// strings with at most 8 places) gets engine.MarketSpec BaseScale = L×10^8
// and QuoteScale = T×L×10^8, both whole numbers ≥ 1 (else 400
// invalid_argument); a price string P becomes P/T price steps and a
// quantity Q becomes Q/L lots, both of which must be whole. min_notional
// (quote) becomes the book's MinNotional in steps × lots, rounded up.
// Decimal strings are parsed by ParseDecimal (strict: no exponent, no '+',
// no more places than allowed, no overflow) and written by AppendDecimal
// without trailing zeros ("101.25", "3").
//
// # Persistence
//
// The engine keeps assets, markets, accounts, balances, live orders and
// client-order-id idempotency in its command log (DATA/log,
// DATA/snapshots). The server keeps, in a small Pebble database at
// DATA/server written with Sync: the SHA-256 of the admin token, the
// SHA-256 of every user token with its account (tokens themselves are
// never stored), and the order history. Market units and names are not
// stored again: they are derived from the engine's directory.
//
// Order history and fills (GET /v1/orders, /v1/orders/{id}, /v1/fills)
// are a read model built from the engine's results (Engine.Subscribe),
// kept in memory (all of it: nothing is evicted yet) and saved whole to
// DATA/server every Options.HistoryInterval (5 s) when it changed, on
// Backup and on Shutdown. After a crash, start-up rebuilds what happened
// since its last save from the commands the log replays after its newest
// snapshot (wal.Options.OnReplay). Only if a snapshot is newer than the
// last save does a gap remain (Open logs a warning); an order placed in
// such a gap can still be cancelled, but GET and PATCH answer 404 for it.
// Balances, live orders, the book and client-order-id idempotency are
// always exact, since they come from the engine.
//
// Public market data (GET /v1/markets/{symbol}/trades, /candles, /ticker)
// is part of the same read model, saved, restored and rebuilt with it:
// per market, the last 10,000 trades and, per interval (1m, 5m, 1h, 1d),
// the last 2,000 candles of intervals that had trades. Candles start at
// multiples of their interval in Unix time (UTC); their times, like the
// trades', are the engine's sequencer timestamps.
//
// A sign-up creates the account in the engine, then stores its token: a
// crash between the two leaves an account without a token (an admin
// endpoint to issue one is still to come).
//
// # API details beyond API.md
//
// PATCH /v1/orders/{id}: quantity is the new open (remaining) quantity, as
// the engine's amend takes it; an omitted field keeps its value. Errors
// add the codes already_exists (409: market exists), ref_conflict (409: a
// deposit or withdrawal ref reused with other values), method_not_allowed
// (405) and unavailable (503: shutting down); market_halted is 409.
// Requests add display_quantity (icebergs) to orders and max_price and
// max_quantity to markets (default: the engine's overflow budget split
// evenly, see units.spec); answers add token_id, duplicate and, for
// stops, triggered. trade_id is the command's sequence number × 65536 plus
// the event's index. The book's depth is at most the engine's
// DepthLevels (50). POST /v1/orders/batch submits its orders together and
// answers 200 with one result per input; its body may be up to
// MaxBatchBodySize (1 MiB), other bodies up to MaxBodySize (64 KiB).
// Public trades are {"market","trades":[{"id","price","quantity","side",
// "time"}]}, newest first, with id the trade_id of the fills and side the
// taker's. Candles are {"market","interval","candles":[{"start","open",
// "high","low","close","volume","quote_volume","trades"}]}, oldest first,
// volume in base and quote_volume in quote. The ticker has last,
// last_time, best_bid(_quantity) and best_ask(_quantity) (from the latest
// published view, like the book), and open_24h, high_24h, low_24h,
// volume_24h, quote_volume_24h and trades_24h, summed over the one-minute
// candles that start within the 24 hours before its time: the later of
// the server's clock and the last trade (null prices when there were no
// trades). limit= is 1 to 1000 (default 100).
// Not served yet: social (and the streams' copy channel).
//
// # Streams
//
// GET /v1/stream upgrades to a WebSocket (github.com/fasthttp/websocket).
// The client sends {"op":"auth","token":…} (needed by the private
// channels orders and fills), {"op":"subscribe","channels":[…]} and
// {"op":"unsubscribe","channels":[…]}; the server answers
// {"type":"authenticated","account_id"}, {"type":"subscribed","channels"}
// or {"type":"error","channel"?,"error":{"code","message"}}. Channels:
// book:SYMBOL, trades:SYMBOL, orders and fills (of the authenticated
// account only); copy answers not_found until copy-trading exists.
// Channel messages are {"channel","seq","n",…}: seq is the engine
// sequence number they stem from (non-decreasing per channel), n counts
// the channel's messages on this connection from 1, so a gap in n (or a
// closed connection) means resubscribe. trades, orders and fills carry
// "data": a trade as in GET /v1/markets/{symbol}/trades, an order as in
// GET /v1/orders/{id} (sent whenever an event touches it) and a fill as
// in GET /v1/fills. book sends {"type":"snapshot","seq","bids","asks"}
// (the latest published view, top DepthLevels levels) and then
// {"type":"delta","seq","bids","asks"}: [price, new total quantity]
// pairs, quantity "0" for a level gone from the view (deleted or pushed
// out of the top levels); seq is the view's. Deltas come from diffing
// successive published views (polled every 5 ms while someone
// subscribes), so a view that is replaced before the poll is folded into
// the next delta.
//
// The engine never waits for streams: its output goroutine copies what
// the streams need onto a bounded queue (nothing at all while no stream
// is open); a hub goroutine builds the messages and queues them per
// connection (256 messages). A connection whose queue is full is closed
// with 1008 (slow consumer); if the hub's own queue overflows every
// stream is closed with 1013 (resubscribe). Client messages are limited to
// 4 KiB (larger ones close the connection, 1009); bad ones get an error
// message, and the tenth bad message or channel closes the connection
// (1008). The server pings every 20 s and drops a connection
// silent for 60 s. Shutdown closes every stream (1001).
//
// # Backups
//
// Server.Backup (and POST /v1/admin/backup {"to": DIR}) writes an online,
// consistent copy of the data directory, from which istd can start.
// `istd backup --to DIR` does the same offline, opening the data
// directory itself: it fails while istd runs, since the directory is
// locked; use the admin endpoint then.
//
// # Metrics
//
// GET /metrics serves, on a registry of the server's own:
// http_requests_total{handler,code}, http_request_duration_seconds{handler},
// orders_total{market,type,result}, trades_total{market},
// trading_volume_total{market} (in the quote asset),
// user_registrations_total, engine_commands_total, engine_queue_depth,
// wal_fsync_duration_seconds (time for a journal batch to become durable),
// wal_durable_sequence, and the Go runtime and process collectors.
//
// # Concurrency
//
// A Server's methods are safe for concurrent use. Writes are answered only
// after Engine.Do returns, that is once the command is durable.
package server
