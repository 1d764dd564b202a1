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
// A market the engine would refuse (max_price × max_quantity beyond its
// overflow budget, see units.rules) or that no order could trade
// (min_notional above max_price × max_quantity) is 400 invalid_argument
// before any command, so it leaves no asset behind; so is one whose base
// or quote differs from an existing asset only in case ("usdt" beside
// "USDT"). Request bodies are
// JSON objects decoded strictly (request.go): an unknown field, a field
// of the wrong type or a field given twice ("duplicate field", also when
// one of the two keys is escaped) is 400 invalid_argument, and so is a
// string escape RFC 8259 does not allow ("\x") or a \u escape of half a
// UTF-16 surrogate pair ("\ud800"), in a request body or a stream
// message (escapes.go), and bytes that are not UTF-8 (request.go: a
// client_order_id or ref is stored and shown back as sent). Decimal
// strings are parsed by ParseDecimal (strict: no exponent, no '+', no
// more places than allowed, no overflow) and written by AppendDecimal
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
// Order history, fills and transfers (GET /v1/orders, /v1/orders/{id},
// /v1/fills, and as extensions GET /v1/transfers, the caller's deposits
// and withdrawals, GET /v1/admin/accounts/{id}/transfers and GET
// /v1/admin/fees/withdrawals; transfers.go) are a read model built from the engine's results (Engine.Subscribe),
// kept in memory within a retention: every open order, and per account
// the last Options.HistoryOrders (1000) orders to finish (by updated_at,
// then id: the same ones whether or not the server restarted) and the last
// Options.HistoryFills (1000) fills, and as many transfers and
// copy-trading events (GET /v1/social/events, below); older ones
// are dropped from memory
// and from the store. It is saved incrementally (history.go): every
// change is copied into a change log as it is applied (changed candles
// and the fills kept after a trim when the log is taken), and a save swaps
// that log for an empty one and writes it (as one segment of records in
// a few large values, with the sequence number it is current to) to
// DATA/server in one batch, every Options.HistoryInterval (5 s) when
// something changed, after each engine snapshot, whenever 65,536 changes
// are waiting, on Backup and on Shutdown. Once the segments outgrow twice
// the base they follow, the saver writes a new base from memory, reading
// it a chunk at a time, and the next save puts it in force (histseg.go).
// A save costs what changed, and holds up the engine's output only for
// the swap (and for a chunk of a base). The leader statistics are saved
// with it (just before it), in their own batch, likewise costing what
// changed (statpersist.go).
// After a crash, start-up rebuilds what happened since their last
// save from the commands the log replays (wal.Options.OnReplay), starting
// from the newest snapshot no newer than that save
// (wal.Options.ReplayAfter), or from the log's first command when there
// is none and the log was never truncated. The log keeps what this
// needs, however fast snapshots come: it is truncated only up to a
// snapshot no newer than the last durable save of both the history and
// the statistics (wal.Options.Retain), and not at all before their first
// save; so a crash loses none of the acknowledged history, and disk use
// grows while saves lag (a save follows each snapshot). Only a data
// directory written by a release without this guarantee (or a history
// that could not be read) can still have a gap: every snapshot kept newer
// than the last save and the log truncated past it (Open logs a warning);
// an order placed in such a gap can still be cancelled, but GET and PATCH
// answer 404 for it, as for an order dropped by the retention. Balances,
// live orders, the book and client-order-id idempotency are always exact,
// since they come from the engine.
//
// Public market data (GET /v1/markets/{symbol}/trades, /candles, /ticker)
// is part of the same read model, saved, restored and rebuilt with it:
// per market, the last 10,000 trades and, per interval (1m, 5m, 1h, 1d),
// the last 2,000 candles of intervals that had trades. Candles start at
// multiples of their interval in Unix time (UTC); their times, like the
// trades', are the engine's sequencer timestamps. GET /v1/markets lists
// the markets (rules, fees, price band, limit on open orders, halted) and
// GET /v1/markets/{symbol} answers one of them the same way.
//
// A sign-up creates the account in the engine, then stores its token: a
// crash between the two leaves an account without a token, for which the
// operator issues one (POST /v1/admin/accounts/{id}/tokens).
//
// # Tokens and rate limits
//
// An account holds at most Options.MaxTokens (100) live tokens: past it,
// POST /v1/tokens answers 409 too_many_tokens until one is revoked.
// Revoking a token (DELETE /v1/tokens/{id}) ends it at once for requests,
// and closes every stream authenticated with it (see Streams); it answers
// once the deletion is durable. An account never revokes its own last
// live token (409 last_token): its owner could no longer reach the
// account and its funds. GET /v1/tokens lists the caller's live
// tokens: {"account_id","tokens":[{"id","current"}]}, current marking the
// request's own (ids only: a token is shown once, when issued; its
// creation time is not stored). The operator lists, issues and revokes
// any user account's tokens, its last included: GET and POST
// /v1/admin/accounts/{id}/tokens (a new token counts against MaxTokens;
// an unknown account, the fee account or a copy wallet is 404) and
// DELETE /v1/admin/accounts/{id}/tokens/{token_id}, which closes the
// token's streams as a user's revocation does. On admin endpoints, as on
// user ones, no token or a made-up or revoked one is 401 unauthenticated;
// a live user token is 403 forbidden. Requests
// are rate limited (ratelimit.go; 429 rate_limited, Retry-After: 1) per
// live bearer token (a user token or the admin token) and, for every
// other request (no token, a made-up one or a revoked one), per client IP;
// a user token's bucket is that of its slot among its account's tokens
// (the lowest free when it is issued), so a token issued after one was
// revoked takes over the revoked one's bucket as it was left: issuing
// and revoking tokens in turn buys no fresh buckets, and an account
// spreads its requests over at most as many buckets as the most tokens
// it held at once (MaxTokens);
// sign-up is always charged to the client IP, whatever token it carries,
// and a valid one also to the IP's sign-up limit (Options.SignupRate,
// SignupBurst). POST /v1/admin/accounts opens an account with the admin
// token, as sign-up does, whether or not sign-up is open and without that
// limit.
// Options.RateLimit and AnonRateLimit must be finite (else Open fails
// with ErrInvalidOptions).
// A request's token is hashed and looked up once, by the limiter, and the
// handler reuses the result (tokens.go).
//
// Account names (and leaders' display names) are shown to other users,
// so they must be valid UTF-8 without control, format (bidi overrides,
// zero-width characters) or line and paragraph separator characters,
// not blank and without white space at either end (refused, not
// trimmed): else 400 invalid_argument (names.go). Names are not unique.
//
// # API details beyond API.md
//
// PATCH /v1/orders/{id}: quantity is the order's new total quantity, like
// the order object's quantity; the engine (CmdAmendTotal) sets the
// remaining quantity to quantity − filled as of the moment it applies the
// amend, so a fill that lands after the server read the order is counted.
// A quantity not above the filled quantity is refused (400
// invalid_argument): cancel the order to stop the rest. An omitted field
// keeps its value. An iceberg keeps its display_quantity (the book's
// Amend does): a lower quantity at the same price shrinks the slice shown
// to at most the new remaining quantity; a new price or a larger quantity
// shows a new slice of at most display_quantity.
//
// Order status: filled once the whole quantity traded. A market buy by
// quote_quantity alone (quantity 0) is filled once what is left of its
// budget cannot pay for one more lot at the price of its last fill, and
// expired otherwise, also when it bought some (filled says how much): the
// book ran out, or its next price was beyond the rest. An IOC, FOK or
// market order with quantity left expires. The order in the answer to
// POST /v1/orders and in each result of a batch is the order as its own
// command left it, with the fills it made then; so is the order in the
// answer to PATCH and DELETE /v1/orders/{id}: trades that other orders
// made with it afterwards, even before the answer was sent, are in GET
// /v1/orders/{id} and the streams. GET /v1/fills?limit=N answers
// at most N fills, or N+1 when the N-th and the next are the two fills of
// one self-trade (the account on both sides, one trade_id): a page never
// splits a trade, so paging with after= the last trade_id loses neither.
// after= is an id of at most 16 digits (ids are below 2^53).
//
// Fee revenue (fees.go): GET /v1/admin/fees shows the fee account
// (engine.FeeAccount, id 0): every fee charged and not withdrawn. POST
// /v1/admin/fees/withdrawals {"asset","amount","ref"} (admin token)
// withdraws from it as POST /v1/withdrawals does from a user's account,
// with the same handler and answer, {"account_id":0,"asset","amount",
// "ref","duplicate"}: 201, or 200 with duplicate true for an identical
// resend of a ref among the fee account's last 4,096 withdrawals (a
// window of its own, apart from users' withdrawal refs and from deposit
// refs); 409 ref_conflict for that ref with another asset or amount; 400
// insufficient_funds past its available balance (no ref kept). Nothing
// is deposited to it (404): fees come only from trades.
//
// Market fees (admin.go): PATCH /v1/admin/markets/{symbol}
// {"maker_fee_bps":N,"taker_fee_bps":M} (admin token; either or both, an
// omitted one keeps its value; 0 to 1000 each, else 400
// invalid_argument; an unknown market is 404) changes the market's fees,
// halted or not, through engine.CmdSetMarketFees, and answers 200 with
// the market as GET /v1/markets shows it once the change is durable and
// the market list shows it. Fee changes are serialized. Fills from then
// on pay the new rates. A buy locks its cost plus the higher of the two
// fees, so a change of that rate brings every open buy of the market to
// it at once (see the engine's package doc): a cut releases the
// difference, a raise takes it from the owner's available balance, and a
// buy whose owner cannot pay it is cancelled (status cancelled, like a
// cancel; the engine's event carries reason fee_change, which the order
// object does not show); a pending stop_market buy by quote_quantity
// keeps its quote_quantity and buys what that pays for at the new rate
// once triggered. The order history and the streams learn of those
// cancels as of any other (the orders channel sends the order, status
// cancelled).
//
// Price bands (admin.go): a market's price band (fat-finger and sweep
// protection, engine.MarketSpec.PriceBandBps; see the engine's package
// doc, Price bands) is price_band_bps in the body of POST
// /v1/admin/markets (optional, 0 to 10000, 0 the default: none) and in
// every market object (GET /v1/markets and the admin answers); POST
// /v1/admin/markets/{symbol}/price-band {"price_band_bps":N} (admin
// token; required, 0 to 10000, else 400 invalid_argument; an unknown
// market is 404) changes it, halted or not, through
// engine.CmdSetPriceBand, and answers 200 with the market as GET
// /v1/markets shows it once the change is durable and the market list
// shows it. Open orders and pending stops are untouched. The band is
// price_band_bps basis points around the market's last trade price (none
// before the first trade): a limit order (any time_in_force, post_only
// and iceberg included) to buy above it or sell below it, a stop_limit
// whose price lies beyond the band around its stop_price, and an amend
// that moves a price beyond it (further up for a buy, down for a sell:
// one the band left beyond it may move back), are refused with 400 price_out_of_band
// and change nothing; a market order trades only within it (the order
// object shows the band's bound as its price, its protection price, when
// that is tighter than its own) and its rest expires with cancel_reason
// price_band when the band is what stopped it; a stop_market gets the
// band's bound around its stop_price as its price where that is tighter;
// a follow's mirror whose limit lies beyond the band gets the band's
// bound as its limit (it trades within the band).
//
// Open order limits (admin.go): a market's limit on the open orders one
// account may have in it (engine.MarketSpec.MaxOpenOrders; see the
// engine's package doc, Open order limits) is max_open_orders in the
// body of POST /v1/admin/markets (optional, 0 to 1,000,000, 0 the
// default: none) and in every market object; POST
// /v1/admin/markets/{symbol}/max-open-orders {"max_open_orders":N}
// (admin token; required, else 400 invalid_argument; an unknown market
// is 404) changes it, halted or not, through engine.CmdSetMaxOpenOrders,
// and answers 200 with the market once the change is durable and the
// market list shows it. An order that could rest (gtc or gtd limit,
// stop) by an account with that many open orders (pending stops
// included) in the market is refused with 400 too_many_open_orders,
// whose message states the limit; ioc, fok and market orders, amends and
// cancels are not held to it. Open orders are untouched by a change.
//
// Account freezes (admin.go): POST /v1/admin/accounts/{id}/freeze and
// /unfreeze (admin token) freeze (suspend) a user account or lift the
// freeze through engine.CmdSetAccountFrozen, answering 200
// {"account_id","frozen","cancelled":[order ids]} once the change is
// durable; an id that is no user account (the fee account, a copy
// wallet, none) is 404. A freeze cancels the account's open orders and
// pending stops in every market, oldest first (status cancelled; the
// engine's reason account_frozen); while frozen, its orders (batches
// included), amends, withdrawals, follows, follow changes and leader
// profile are refused with 403 account_frozen, and its follows skip
// their leaders' fills (copy events skipped with reason account_frozen)
// while their stop-loss and profit share still run. The account object
// (GET /v1/account, GET /v1/admin/accounts, GET /v1/admin/fees) carries
// "frozen".
//
// client_order_id: a resend with the same parameters as the original
// (market, side, type, price, stop_price, quantity, quote_quantity,
// display_quantity, time_in_force, expire_at, post_only, stp; an omitted optional
// field counts as its default) answers 200 with the original order as GET
// /v1/orders/{id} shows it, no fills and, in a batch, "duplicate": true.
// A resend with other parameters answers 409 duplicate_client_order_id
// naming the original order and changes nothing. The comparison is the
// engine's: it keeps a fingerprint of each order's parameters with its
// client order id, exactly and deterministically, live and done. What a
// client can rely on: the client order id of an open order is always
// known; that of a done order is known while it is among the last 65,536
// orders to finish over all accounts (engine.ClientIDWindow), after which
// a resend places a new order. An identical resend of an order the engine
// still knows but the order history has dropped (Options.HistoryOrders)
// answers 409 duplicate_client_order_id naming the order's id, since the
// order can no longer be shown. Resends of orders placed before the
// engine's snapshot version 3 (restored from an older snapshot) are
// answered as identical: their parameters were not kept. Errors
// add the codes already_exists (409: market exists), ref_conflict (409: a
// deposit ref reused with another account, asset or amount, deposit refs
// being one namespace for the whole exchange and all kept; or a
// withdrawal ref reused with another asset or amount while it is among
// the account's last 4,096 withdrawals, engine.WithdrawalRefWindow, past
// which a resend withdraws again; withdrawal refs are per account and
// apart from deposit refs; a transfer that fails keeps no ref), too_many_tokens
// (409: POST /v1/tokens past Options.MaxTokens), last_token (409: revoking
// the account's last live token), method_not_allowed
// (405, with an Allow header), unavailable (503: shutting down) and
// account_frozen (403: the account is frozen, see Account freezes) and
// price_out_of_band (400: a price beyond the market's price band, see
// Price bands) and too_many_open_orders (400: the account has as many
// open orders in the market as its max_open_orders allows, see Open
// order limits); market_halted is 409.
// Requests add display_quantity (icebergs) to orders and max_price and
// max_quantity to markets (default: the engine's overflow budget split
// evenly, see units.spec); answers add token_id, duplicate, for stops
// triggered, and, for icebergs, display_quantity: the order object shows
// it as placed (the most shown on the book at once; an amend keeps it),
// and only for an order placed with one, as stop_price only for stops
// and quote_quantity only for orders placed with one; a cancelled or
// expired order adds cancel_reason: cancelled (on request),
// self_trade_prevented, unfilled (an IOC's or market order's rest),
// fill_or_kill, fee_change (its owner could not pay a fee raise),
// account_frozen (the operator froze the account), expired_time (a
// good-till-date order reached its expire_at), cancel_all_after (the
// account's dead man's switch ran out), disconnected (a stream of the
// account with cancel_on_disconnect ended) or price_band (the rest of a
// market order that the market's price band kept from trading further,
// see Price bands).
//
// Good-till-date orders: an order with "time_in_force":"gtd" and
// "expire_at" (an RFC 3339 time, required with gtd and refused
// without it; 400 invalid_argument) is a gtc limit or stop_limit order
// (gtd on another type is 400 invalid_argument; post_only and
// display_quantity allowed) that expires by itself at expire_at, with
// no request: status expired, cancel_reason expired_time, its lock
// released, a message on the orders stream. expire_at must be after the
// engine's time when the order is placed (else 400 invalid_argument,
// engine.ErrInvalidExpiry). The order object shows "time_in_force":"gtd"
// and its "expire_at"; an amend keeps it (it cannot be changed), a
// cancel works as for any order, and expire_at is part of a client
// order id's parameters. The expiry is the engine's, deterministic: the
// order expires at the first command whose time reaches expire_at (the
// engine submits one itself at that time when idle), so it is never
// matched after it, and an order whose time passed while istd was down
// expires at once after the restart. Batches take gtd orders too.
// trade_id numbers trades: unique, increasing in the
// order they happened, the same in every answer and stream and across
// restarts, and below 2^53 (tradeid.go; a data directory an earlier
// release wrote continues above the ids that release gave, sequence ×
// 65536 plus the event's index). The book's depth is at most the engine's
// DepthLevels, Options.BookDepth (istd --book-depth, default 50): a
// larger depth, 0 or a negative one is 400 invalid_argument naming the
// maximum, and the default depth is 50 (or BookDepth if less). POST
// /v1/orders/batch submits its orders together and answers 200 with one
// result per input; its body may be up to MaxBatchBodySize (1 MiB), other
// bodies up to MaxBodySize (64 KiB). A body announced larger than its
// route's limit is refused (413) from the request's header, unread.
// Public trades are {"market","trades":[{"id","price","quantity","side",
// "time"}]}, newest first, with id the trade_id of the fills and side the
// taker's. Candles are {"market","interval","candles":[{"start","open",
// "high","low","close","volume","quote_volume","trades"}]}, oldest first,
// volume in base and quote_volume in quote (exact sums, never capped).
// The ticker has last, last_time, best_bid(_quantity) and
// best_ask(_quantity), and open_24h, high_24h, low_24h, volume_24h,
// quote_volume_24h and trades_24h, summed over the one-minute candles
// that start within the 24 hours before its time: the later of the
// server's clock and the last trade (null prices when there were no
// trades); all as of its sequence, that of the book view it shows. The
// book and the ticker first wait (up to RequestTimeout) for the views to
// show every command acknowledged before the request, so an order
// acknowledged is in the book read after it; the ticker then reads the
// view and the statistics again while the market's newest trade is after
// the view, up to three times, so only under a constant stream of trades
// in the market may its statistics count a trade its book does not show
// yet. limit= is 1 to 1000 (default 100).
//
// # Social copy-trading
//
// The endpoints of API.md's "Social copy-trading" (social.go) wrap the
// engine's copy-trading commands (engine.CmdSetLeaderProfile, CmdFollow,
// CmdAmendFollow, CmdPauseFollow, CmdResumeFollow, CmdUnfollow,
// CmdSettle); leaders, relations and their wallets live in the engine, the
// leader's display_name and bio in DATA/server ("social/leader/" account).
//
// PUT /v1/social/leader: omitted fields keep their value. display_name is
// 1 to 64 characters (runes), checked as account names are (valid UTF-8,
// no Cc, Cf, Zl or Zp characters, not blank, no white space at either
// end); empty, the default, means the account's name. bio is valid UTF-8
// of at most 1000 characters. What breaks a rule is
// 400 invalid_argument. profit_share_bps (0 to 5000; 0 for a new leader)
// is the rate of new follows, and the profile (PUT and GET) and
// leaderboard rows show it as such. Each relation pays its own rate
// (engine.RelationView.ProfitShareBps, a follow's "profit_share_bps"): its
// leader's when the follow was made; a raise reaches new follows only, a
// cut lowers the open relations' rates above it to it at once (min); a
// relation's rate is never raised. Updates of one account are serialized,
// so concurrent ones of different fields keep each other's.
//
// POST /v1/social/follows takes, beyond API.md, "asset": the wallet's
// quote asset, which must be the quote asset of some market (else 400
// invalid_argument; an unknown asset is 404 not_found), by default USDT if
// a market quotes it, else market 1's quote. "mode" defaults to
// proportional and "value" to "1" (required for fixed_quote, in quote);
// value, allocation and max_order_quote are decimal strings
// (engine.ValueOne = 10^8 is the server's unit, so "0.5" is half);
// slippage_bps is 1 to 300, 0 meaning the default 50; stop_loss_bps 0
// (none) to 9999; max_profit_share_bps (0 to 5000, optional: any rate)
// is the highest profit share rate the follower accepts, and a leader's
// rate above it when the follow is applied (raised after the follower
// saw it) answers 409 profit_share_above_max, nothing moved. A follow object is {"id","leader_id","leader_name",
// "follower_id","status" (active|paused|closed),"asset","allocation",
// "nav","pnl","roi","high_water_mark","profit_share_paid",
// "profit_share_bps","mode","value","max_order_quote","slippage_bps",
// "stop_loss_bps","wallet_account_id","sequence","balances"}, amounts in
// its asset. Open: nav is the wallet's value at the last trade prices
// (valued as the engine values a relation, on the statistics' ledger: as
// of the last result they applied, so others' trades move it too), pnl
// is nav − allocation. Closed: nav is null, "returned" is the quote
// returned at close, and pnl is the NAV at close (returned, plus any
// base returned valued at the last trade prices then) − allocation, kept
// by the statistics (pnl, roi and returned are null for a close they
// missed). roi is pnl ÷ allocation. GET
// /v1/social/follows lists the caller's follows, open and closed, oldest
// first (extension: ?status=open|closed|all selects, limit= and after=
// page them as GET /v1/social/followers pages its list; either list costs
// the rate limit one per 100 follows it walks, as a batch costs one per
// order), each with the
// wallet's latest 10 "fills" (extension: GET
// /v1/social/follows/{id}/fills?market=&limit=&after= pages them all, as
// GET /v1/fills pages the caller's own, open or closed, for the follower
// only), and "totals", one per
// asset ({"asset","allocation","nav","pnl"}: allocation and nav of the
// open follows, pnl of all, the closed ones' with a known pnl included;
// over every follow, whatever status, limit and after show);
// total_allocation, total_nav and total_pnl are those of the one asset,
// "0" without follows, null over several assets (their amounts do not add
// up). Extension: PATCH /v1/social/follows/{id} {"mode","value",
// "max_order_quote","slippage_bps","stop_loss_bps","top_up"} (omitted
// fields keep their value; a new mode needs its value; top_up moves quote
// from the main balance into the wallet) runs CmdAmendFollow. A relation's wallet is an
// account of its own, without a name or token: GET /v1/admin/accounts
// lists it with "kind":"copy_wallet", "relation_id" and "owner_id" (the
// follower), user accounts with "kind":"user". pause, resume, PATCH and
// DELETE answer the follow (200); DELETE's answer adds "profit_share"
// (paid at close; "returned" is the quote back in the main balance, and
// with close=keep the base comes back too: a closed follow's
// "returned_balances" lists all it returned, by asset, "close_reason",
// unfollow or stop_loss, and "closed_at" when; null if not known). Another
// account's follow is
// 404 not_found. GET /v1/social/followers lists the caller's open
// followers (empty if it does not lead), each row with the relation's
// profit_share_bps; extension: ?status=closed or all (paged by follow
// id: limit, after) lists the closed ones too, with "returned" and a
// null nav.
//
// Extension: the dead man's switch (deadman.go). POST
// /v1/orders/cancel-all-after {"timeout_ms":N,"market"?:"SYM"} answers
// {"market","timeout_ms":N,"cancel_at":T}: unless the caller calls it
// again before T, every open order and pending stop of its account in
// the market (without market, in every market: a CmdCancelAll each) is
// cancelled (cancel_reason cancel_all_after). Each market has a switch, and the
// account one for every market (market null). N is 0 (disarm; cancel_at
// null) or 1000 to 86,400,000; GET lists the armed switches,
// {"switches":[…]}. The deadline is stored (synced) before the answer
// and armed again by a restart; one that passed while istd was down
// fires once it is up. Metric cancel_all_after_fired_total.
//
// Extension: GET /v1/social/events?follow_id=&type=&limit=&after= pages
// the caller's copy-trading events (copyevents.go), the copy stream's
// skipped, closed and profit_share kept: as a follower, each leader fill
// a follow did not mirror (with the reason), each follow closed (reason
// unfollow or stop_loss, "returned") and each profit share paid
// ("amount"); as a leader ("role":"leader"), each profit share received.
// Each account numbers its events from 1 ("id", which after= follows)
// and keeps the newest Options.HistoryFills, saved with the order
// history; GET /v1/admin/accounts/{id}/social/events lists an account's
// for the admin.
//
// GET /v1/social/leaders (sort=roi|pnl|followers|aum, default roi;
// window=7d|30d|all, default 30d; limit 1 to 1000, default 100) answers
// {"sort","window","leaders":[{"rank","account_id","display_name",
// "profit_share_bps", stats}]} and GET /v1/social/leaders/{account_id} the
// profile with "stats" per window ({"7d","30d","all"}) and the leader's 20
// latest fills as "recent_trades" (404 for an account that does not lead).
// Stats (leaderstats.go, statledger.go): roi, win_rate, max_drawdown and
// copy_gap are ratios as decimal strings with 6 places ("0.052100" is
// 5.21%); pnl, aum, copier_pnl and profit_share_income are amounts in the
// leader's "valuation_asset" (chosen when it becomes a leader and kept;
// null while no market exists), into which other assets convert along
// markets at their last trade prices (0 without a path or a price);
// round_trips and active_followers are counts. A window ends at the last
// command applied and starts 7 or 30 days before it ("all": when the
// account became a leader), its figures counted from the values in force
// at its start, those after the last command before it (the statistics
// sample every leader and relation at the last command of each minute
// with commands, older samples downsampled: a leader's to within 5
// minutes at 7 days and an hour at 30, its relations', which copier_pnl
// and copy_gap start from, to within an hour at 7 days and a day at 30),
// so a window that starts in days without a command starts from the
// values when they began. roi counts trading only:
// deposits, withdrawals and profit share received issue or redeem NAV
// units at the NAV per unit then, so they do not move it; pnl is trading
// PnL (realized + unrealized, net of fees); the profit share received in
// the window is reported apart, as profit_share_income. A round trip is a
// position in one market from flat to flat; base that leaves a position
// otherwise than by its sale (withdrawn, sold in another market, paid as
// a quote) is realized at the market's last price, as a sale without a
// fee, so withdrawing a losing position's coins keeps its loss in pnl
// and win_rate. Sorted by pnl or
// aum, leaders compare in a common asset (the valuation asset of the most
// leaders), those that cannot be converted last. Followers and AUM count
// active relations only (COPY_TRADING.md): the profile's "followers" and
// the stats' active_followers and aum leave out paused relations, which
// GET /v1/social/followers still lists. GET of follows, followers and
// leaders waits for the statistics to apply the last durable command, and
// the answer of a write to a follow for its own; with
// Options.LeaderboardTTL, the leaderboard answers from the board it
// computed (per sort and window) for that long.
//
// POST /v1/admin/settle[?leader_id=] settles now (istd also does on its
// --settle-interval, Server.Settle). Errors add
// leader_cannot_follow, follower_cannot_lead, already_following,
// profit_share_above_max, relation_closed, too_many_follows (the account
// follows with engine.MaxOpenFollows open follows, or has opened
// engine.MaxFollowsEver in all) and too_many_followers (the leader has
// engine.MaxFollowers open follows) (409); following an account that does not lead is 404
// not_found. Mirrored trades are real trades: public trades, candles, the
// ticker and the metrics count them; the wallets' orders and fills are in
// the read model under the wallet's account id.
//
// # Streams
//
// GET /v1/stream upgrades to a WebSocket (github.com/fasthttp/websocket).
// The client sends {"op":"auth","token":…} (needed by the private
// channels orders, fills and copy), {"op":"subscribe","channels":[…]} and
// {"op":"unsubscribe","channels":[…]}, and, once authenticated,
// {"op":"cancel_on_disconnect","enabled":true|false,"market"?:"SYM"};
// the server answers
// {"type":"authenticated","account_id"}, {"type":"subscribed","channels"},
// {"type":"cancel_on_disconnect","enabled","market"}
// or {"type":"error","channel"?,"error":{"code","message"}} (channel:
// the one a refused subscribe or unsubscribe named), in the order of the
// client's messages (a message's refused channels before its
// "subscribed"); once "subscribed" arrives for orders, fills or copy,
// everything the account does from then on is sent. With
// cancel_on_disconnect enabled, the end of the connection (the client
// closing it or going away, a revoked token, too many bad messages; not
// istd's own shutdown) cancels every open order and pending stop of the
// account in the market given, or in every market, as cancel-all-after
// does (deadman.go;
// metric stream_cancel_on_disconnect_total). Channels:
// book:SYMBOL, trades:SYMBOL, orders, fills and copy (of the
// authenticated account only).
// Channel messages are {"channel","seq","n",…}. seq is the sequence
// number of the engine command a message stems from (for book, of the
// last command in the view it shows): non-decreasing on a channel, shared
// by the messages of one command (a sweep's trades and fills, a
// cancel-all's orders), and with gaps (the commands that had nothing for
// the channel): it orders messages, it does not count them. n counts
// them: a channel's messages on this connection, from 1 for each
// subscription, consecutive. A gap in n (or a closed connection) means
// messages were lost, and the client resyncs: it unsubscribes and
// subscribes again (n starts again at 1) and reads what it missed from
// the REST API (GET /v1/orders, /v1/fills, /v1/markets/{symbol}/trades);
// for a book channel, subscribing again while subscribed is enough: it
// brings a fresh snapshot, with n back at 1, and deltas from it.
// Subscribing again to another channel while subscribed is acknowledged
// and changes nothing (n goes on). A channel named more than once in one
// subscribe or unsubscribe counts once: the answer names it once, and a
// book sends one snapshot. trades, orders and fills carry
// "data": a trade as in GET /v1/markets/{symbol}/trades, an order as in
// GET /v1/orders/{id} (sent whenever an event touches it) and a fill as
// in GET /v1/fills. book sends {"type":"snapshot","seq","depth","bids",
// "asks"} (the latest published view: its top depth levels per side,
// depth being Options.BookDepth; a side with fewer holds all it has, and
// a delta may bring in a level that existed beyond depth) and then
// {"type":"delta","seq","bids","asks"}: [price, new total quantity]
// pairs, quantity "0" for a level gone from the view (deleted or pushed
// out of the top levels); seq is the view's. Deltas come from diffing
// successive published views (polled every 5 ms while someone
// subscribes), so a view that is replaced before the poll is folded into
// the next delta. copy (copystream.go) sends
// {"channel":"copy","type","seq","n","data"} with type fill (a mirrored
// fill of one of the follower's relations: relation_id, leader_id,
// trade_id, order_id, market, side, price, quantity, fee, fee_asset,
// time), skipped (a leader fill not mirrored: reason as
// engine.CopyReason names it, leader_order_id, the leader fill's market,
// side, price and quantity, computed_quantity: the size the follow
// wanted, before a buy is shrunk to what its wallet can pay, so for
// insufficient_funds the size it could not afford), closed (reason unfollow
// or stop_loss, returned, asset) and profit_share (amount, asset; also
// sent to the leader who receives it).
//
// The engine never waits for streams: its output goroutine copies what
// the streams need onto a bounded queue (8192 results; nothing at all
// while no stream is open); a hub goroutine builds the messages and
// queues them per connection, and each connection's writer takes all
// that is queued at once and writes it, one message per system call (the
// fewest the WebSocket library allows). A connection's queue is bounded
// in bytes, not messages: 4 MiB (streamQueueBytes) of messages queued or
// still being written, each counted as its allocated size plus 48 bytes
// (about 500 for an orders message, 250 for a trade: some 8,000 to
// 16,000 messages). So a client that reads gets a burst in full: a batch
// of 1000 orders, a cancel-all, a sweep of 1000 orders (1000 trades, and
// for the maker 1000 fills and 1000 order updates). A client is closed as
// a slow consumer only when it makes no progress: 1008 "slow consumer:
// send queue full" when a message would take its queue past the bound,
// 1008 "slow consumer: no progress" when messages have waited 10 s while
// its writer wrote nothing (a single write blocked for 10 s drops the
// connection too). At worst a connection thus holds 4 MiB of messages (or
// a single larger one), beyond the WebSocket's buffers (a few KiB) and
// the kernel's socket buffers: MaxStreams connections (10,000) could hold
// 40 GiB. So the queues of all connections together have a budget too
// (Options.StreamQueueBytes, istd --stream-queue-bytes): 256 MiB by
// default, which holds a sweep of 1000 trades (some 270 KB per
// subscriber) queued at once for about 1,000 subscribers before any of
// them drains it. When a message would take the total past the budget,
// the connections furthest behind pay, not one that happens to receive
// at that moment: the message is refused, and its connection closed with
// 1008 "slow consumer: server queue budget", only if the connection would
// then hold more than its fair share, the budget / streams open but at
// least 64 KiB; a connection under its share keeps receiving, up to its
// own bound, and one with nothing queued always gets a message. The
// budget is thus not a hard cap, but the connections holding more than
// their share queued it while the total was under the budget: the queues
// hold at most the budget plus, per connection, its fair share when it
// last queued past the budget (or a single message). With n streams open
// that is budget + max(budget, n × 64 KiB): with the defaults and 10,000
// streams, 881 MiB instead of 40 GiB; streams opening one by one while
// the total stays over the budget, each with a larger share than the
// next, could bring it to about 1.9 GiB. A negative StreamQueueBytes
// (--stream-queue-bytes 0) means no budget; a positive one under 64 KiB
// is refused (ErrInvalidOptions). The gauge stream_queue_bytes shows the
// bytes queued for all streams (a closed connection's until its writer
// lets go of them). If the hub's own queue overflows every stream is closed
// with 1013 ("server overloaded: resubscribe"). Client messages are
// limited to 4 KiB (larger ones close the connection, 1009) and decoded
// as strictly as request bodies: UTF-8 JSON objects with only the fields
// above, each at most once. Bad ones get an error message, and the tenth
// bad message or channel closes the connection (1008, "too many bad
// messages"). When a token is revoked, every stream
// authenticated with it is closed (1008, reason "token revoked"), and so
// is one whose token is revoked while it authenticates: the hub looks the
// streams up by token (O(the token's streams)), and once DELETE answers
// they get no more messages. The server pings every 20 s and
// drops a connection silent for 60 s. Shutdown closes every stream (1001,
// "server shutting down"). A
// closing connection waits up to 1 s for the client's close frame before
// it closes the socket, reading what the client still sends, so that the
// client receives the close code and reason rather than a reset.
// Each client message is charged to the rate limiter as a request is (its
// IP's bucket, its token's once authenticated): one over the limit gets a
// rate_limited error message and is not run, and 100 refused in a row
// close the connection (1008, "rate limited"). Streams open at once are
// capped (Options.MaxStreams, 10,000; MaxStreamsPerIP, 100): an upgrade
// over a cap is refused, 503 overloaded or 429 rate_limited; one that
// raced past the check is closed at once (1013 "server overloaded: too
// many streams", 1008 "rate limited").
//
// # Backups
//
// Server.Backup (and POST /v1/admin/backup {"to": DIR}) writes an online,
// consistent copy of the data directory, from which istd can start.
// DIR is a path of the server's machine (relative: to its working
// directory) and must not exist. Open fails with ErrDataDirInUse while
// another Server holds the data directory; `istd backup --to DIR` then
// asks the running istd for the backup through the admin endpoint, and
// otherwise opens the directory itself.
//
// # Metrics
//
// GET /metrics (no token; limited per client IP by Options.MetricsRate,
// 429 rate_limited past it) serves, on a registry of the server's own:
// http_requests_total{handler,code}, http_request_duration_seconds{handler},
// orders_total{market,type,result}, trades_total{market},
// trading_volume_total{market} (in the quote asset),
// user_registrations_total, http_connections_refused_total{reason}
// (connections refused by Options.MaxConnsPerIP, per_ip, or MaxConns, total), engine_commands_total, engine_queue_depth,
// engine_queue_capacity (Options.RingSize), wal_fsync_duration_seconds
// (time for a journal batch to become durable),
// wal_disk_fsync_duration_seconds (the disk's own part of it: each fsync
// of the log as Pebble times it), wal_durable_sequence,
// engine_snapshot_sequence (the last state snapshot saved: a restart
// replays the log after it), engine_snapshot_pause_seconds (how long
// matching paused to encode it), engine_snapshot_failures_total (each
// failure is also logged, "snapshot failed"),
// history_base_bytes and history_segments_bytes (the order history in
// DATA/server: its base in force and the segments after it),
// streams_open and stream_queue_bytes (the WebSocket streams open and
// the bytes queued for them all, see Streams), the
// copy-trading
// series copy_mirrored_fills_total
// {market}, copy_skipped_total{reason}, copy_relations_closed_total
// {reason}, copy_profit_share_total and copy_relations_open,
// cancel_all_after_fired_total (dead man's switches fired),
// stream_cancel_on_disconnect_total (streams with cancel_on_disconnect
// that ended and cancelled their account's orders), and the Go
// runtime and process collectors.
//
// # Logs
//
// zerolog JSON, one line per request (request id, method, route pattern,
// status, latency) at info level; an answer of 500 or more is logged at
// error level with its body. The request id ("req") is the client's
// X-Request-Id when it is 1 to 64 letters, digits and "._:-", else one
// istd makes (a random boot id and the request's number, in hex); every
// answer carries it in X-Request-Id. Requests fasthttp cannot read get
// the routes "malformed" (400), "too_large" (413: the body) and
// "headers_too_large" (431: the request line and headers over 4 KiB) in
// logs and metrics.
// A handler that panics answers 500 internal and is logged ("handler
// panicked", with its stack); istd goes on. Handlers never log tokens or bodies,
// and as a second line of defence the logger's writer is MaskSecrets:
// any bearer token in a line, and the value of any token, admin_token,
// authorization, password or secret field, is masked.
//
// # Concurrency
//
// A Server's methods are safe for concurrent use. Writes are answered only
// after Engine.Do returns, that is once the command is durable.
package server
