package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
)

// openAPI is the OpenAPI 3 description of the endpoints istd serves,
// without what withErrors adds to it: the admin security scheme and the
// error responses of every operation.
const openAPI = `{"openapi":"3.0.3",
"info":{"title":"ist","version":"v1","description":"ist matching engine HTTP API. Prices, quantities and amounts are decimal strings; every asset has 8 decimal places. Requests are rate limited (429 rate_limited) per live bearer token, and per client IP for requests without one: no token, a made-up one or a revoked one."},
"components":{
 "securitySchemes":{"bearer":{"type":"http","scheme":"bearer"}},
 "schemas":{
  "Error":{"type":"object","properties":{"error":{"type":"object","properties":{"code":{"type":"string"},"message":{"type":"string"}}}}},
  "Balance":{"type":"object","properties":{"asset":{"type":"string"},"available":{"type":"string"},"locked":{"type":"string"}}},
  "Account":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},"balances":{"type":"array","items":{"$ref":"#/components/schemas/Balance"}}}},
  "Market":{"type":"object","properties":{"id":{"type":"integer"},"symbol":{"type":"string"},"base":{"type":"string"},"quote":{"type":"string"},"tick_size":{"type":"string"},"lot_size":{"type":"string"},"min_notional":{"type":"string"},"max_price":{"type":"string","description":"highest price an order may have"},"max_quantity":{"type":"string","description":"largest quantity an order may have"},"maker_fee_bps":{"type":"integer"},"taker_fee_bps":{"type":"integer"},"halted":{"type":"boolean"}}},
  "NewMarket":{"type":"object","required":["symbol","base","quote","tick_size","lot_size"],"properties":{"symbol":{"type":"string"},"base":{"type":"string"},"quote":{"type":"string"},"tick_size":{"type":"string"},"lot_size":{"type":"string"},"min_notional":{"type":"string"},"max_price":{"type":"string","description":"positive; by default, price × quantity of the largest order must not overflow: an omitted one of max_price and max_quantity is what the other leaves, both omitted split that evenly"},"max_quantity":{"type":"string","description":"positive; default: see max_price"},"maker_fee_bps":{"type":"integer"},"taker_fee_bps":{"type":"integer"}}},
  "Transfer":{"type":"object","description":"a withdrawal of the caller's account","required":["asset","amount","ref"],"properties":{"asset":{"type":"string"},"amount":{"type":"string"},"ref":{"type":"string","maxLength":36}}},
  "Deposit":{"type":"object","required":["account_id","asset","amount","ref"],"properties":{"account_id":{"type":"integer"},"asset":{"type":"string"},"amount":{"type":"string"},"ref":{"type":"string","maxLength":36}}},
  "AdminAccount":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string","description":"empty for a copy wallet"},"balances":{"type":"array","items":{"$ref":"#/components/schemas/Balance"}},"kind":{"enum":["user","copy_wallet"],"description":"copy_wallet: the wallet of a copy relation, created by a follow"},"relation_id":{"type":"integer","description":"copy wallets only: the relation (follow id)"},"owner_id":{"type":"integer","description":"copy wallets only: the follower's account"}}},
  "AdminAccounts":{"type":"object","properties":{"accounts":{"type":"array","description":"in id order","items":{"$ref":"#/components/schemas/AdminAccount"}}}},
  "NewOrder":{"type":"object","required":["market","side"],"properties":{"market":{"type":"string"},"side":{"enum":["buy","sell"]},"type":{"enum":["limit","market","stop_market","stop_limit"]},"price":{"type":"string"},"quantity":{"type":"string"},"quote_quantity":{"type":"string"},"stop_price":{"type":"string"},"display_quantity":{"type":"string"},"time_in_force":{"enum":["gtc","ioc","fok"]},"post_only":{"type":"boolean"},"client_order_id":{"type":"string","maxLength":36},"stp":{"enum":["cancel_taker","cancel_maker","cancel_both","none"]}}},
  "Amend":{"type":"object","description":"give price and/or quantity; an omitted field keeps its value. Lowering quantity keeps time priority; changing price or raising quantity loses it.","properties":{"price":{"type":"string"},"quantity":{"type":"string","description":"new total quantity (filled + remaining): the remaining quantity becomes quantity minus what the order has filled when the amend is applied; it must exceed the filled quantity (else 400 invalid_argument)"}}},
  "Order":{"type":"object","properties":{"id":{"type":"integer"},"client_order_id":{"type":"string"},"account_id":{"type":"integer"},"market":{"type":"string"},"side":{"type":"string"},"type":{"type":"string"},"price":{"type":"string"},"stop_price":{"type":"string","description":"stop orders only"},"triggered":{"type":"boolean","description":"stop orders only: the stop price was reached"},"quantity":{"type":"string"},"quote_quantity":{"type":"string"},"filled":{"type":"string"},"remaining":{"type":"string"},"avg_price":{"type":"string","nullable":true},"status":{"enum":["open","partially_filled","filled","cancelled","rejected","expired"]},"time_in_force":{"type":"string"},"post_only":{"type":"boolean"},"stp":{"type":"string"},"created_at":{"type":"string","format":"date-time"},"updated_at":{"type":"string","format":"date-time"}}},
  "Fill":{"type":"object","properties":{"trade_id":{"type":"integer","description":"the trade's id (Trade.id): unique, increasing with time (< 2^53); GET /v1/fills pages by it"},"order_id":{"type":"integer"},"market":{"type":"string"},"side":{"type":"string"},"price":{"type":"string"},"quantity":{"type":"string"},"fee":{"type":"string"},"fee_asset":{"type":"string"},"liquidity":{"enum":["maker","taker"]},"time":{"type":"string","format":"date-time"}}},
  "Book":{"type":"object","properties":{"market":{"type":"string"},"sequence":{"type":"integer"},"bids":{"type":"array","items":{"type":"array","items":{"type":"string"}}},"asks":{"type":"array","items":{"type":"array","items":{"type":"string"}}}}},
  "Trade":{"type":"object","properties":{"id":{"type":"integer","description":"the trade's number, unique and increasing (< 2^53), as trade_id of fills"},"price":{"type":"string"},"quantity":{"type":"string"},"side":{"enum":["buy","sell"],"description":"the taker's side"},"time":{"type":"string","format":"date-time"}}},
  "Trades":{"type":"object","properties":{"market":{"type":"string"},"trades":{"type":"array","description":"newest first","items":{"$ref":"#/components/schemas/Trade"}}}},
  "Candle":{"type":"object","properties":{"start":{"type":"string","format":"date-time"},"open":{"type":"string"},"high":{"type":"string"},"low":{"type":"string"},"close":{"type":"string"},"volume":{"type":"string","description":"base quantity"},"quote_volume":{"type":"string"},"trades":{"type":"integer"}}},
  "Candles":{"type":"object","properties":{"market":{"type":"string"},"interval":{"enum":["1m","5m","1h","1d"]},"candles":{"type":"array","description":"oldest first; only intervals with trades","items":{"$ref":"#/components/schemas/Candle"}}}},
  "LeaderProfileUpdate":{"type":"object","properties":{"display_name":{"type":"string","maxLength":64},"bio":{"type":"string","maxLength":1000},"profit_share_bps":{"type":"integer","minimum":0,"maximum":5000}}},
  "LeaderProfile":{"type":"object","properties":{"account_id":{"type":"integer"},"display_name":{"type":"string"},"bio":{"type":"string"},"profit_share_bps":{"type":"integer"},"followers":{"type":"integer","description":"active relations (paused ones are not counted)"}}},
  "LeaderStats":{"type":"object","description":"ratios are decimal strings with 6 places (0.05 = 5%); amounts in the quote asset","properties":{"roi":{"type":"string"},"pnl":{"type":"string"},"win_rate":{"type":"string"},"round_trips":{"type":"integer"},"max_drawdown":{"type":"string"},"aum":{"type":"string","description":"NAV of the active relations"},"active_followers":{"type":"integer","description":"active relations (paused ones are not counted)"},"copier_pnl":{"type":"string"},"copy_gap":{"type":"string","description":"leader ROI minus the median follower ROI"}}},
  "LeaderRow":{"allOf":[{"$ref":"#/components/schemas/LeaderStats"},{"type":"object","properties":{"rank":{"type":"integer"},"account_id":{"type":"integer"},"display_name":{"type":"string"},"profit_share_bps":{"type":"integer"}}}]},
  "Leaderboard":{"type":"object","properties":{"sort":{"type":"string"},"window":{"type":"string"},"leaders":{"type":"array","items":{"$ref":"#/components/schemas/LeaderRow"}}}},
  "LeaderPage":{"allOf":[{"$ref":"#/components/schemas/LeaderProfile"},{"type":"object","properties":{"stats":{"type":"object","properties":{"7d":{"$ref":"#/components/schemas/LeaderStats"},"30d":{"$ref":"#/components/schemas/LeaderStats"},"all":{"$ref":"#/components/schemas/LeaderStats"}}},"recent_trades":{"type":"array","description":"the leader's latest fills, newest first","items":{"$ref":"#/components/schemas/Fill"}}}}]},
  "NewFollow":{"type":"object","required":["leader_id","allocation"],"properties":{"leader_id":{"type":"integer"},"allocation":{"type":"string","description":"quote moved into the relation's wallet"},"asset":{"type":"string","description":"the wallet's quote asset; default USDT, else the quote asset of market 1"},"mode":{"enum":["proportional","fixed_quote","multiplier"],"default":"proportional"},"value":{"type":"string","description":"factor for proportional and multiplier (default 1), quote per leader order for fixed_quote (required)"},"max_order_quote":{"type":"string","description":"cap of one mirrored buy, 0: none"},"slippage_bps":{"type":"integer","minimum":0,"maximum":300,"description":"0: the default 50"},"stop_loss_bps":{"type":"integer","minimum":0,"maximum":9999}}},
  "AmendFollow":{"type":"object","description":"omitted fields keep their value","properties":{"mode":{"enum":["proportional","fixed_quote","multiplier"]},"value":{"type":"string"},"max_order_quote":{"type":"string"},"slippage_bps":{"type":"integer"},"stop_loss_bps":{"type":"integer"},"top_up":{"type":"string","description":"quote added to the wallet from the main balance"}}},
  "Follow":{"type":"object","properties":{"id":{"type":"integer"},"leader_id":{"type":"integer"},"leader_name":{"type":"string"},"follower_id":{"type":"integer"},"status":{"enum":["active","paused","closed"]},"asset":{"type":"string"},"allocation":{"type":"string"},"nav":{"type":"string","nullable":true},"pnl":{"type":"string","nullable":true,"description":"nav - allocation"},"roi":{"type":"string","nullable":true},"high_water_mark":{"type":"string"},"profit_share_paid":{"type":"string"},"mode":{"type":"string"},"value":{"type":"string"},"max_order_quote":{"type":"string"},"slippage_bps":{"type":"integer"},"stop_loss_bps":{"type":"integer"},"wallet_account_id":{"type":"integer"},"sequence":{"type":"integer"},"balances":{"type":"array","items":{"$ref":"#/components/schemas/Balance"}},"fills":{"type":"array","description":"GET only: the wallet's latest fills","items":{"$ref":"#/components/schemas/Fill"}},"returned":{"type":"string","description":"DELETE only: quote returned to the main balance"},"profit_share":{"type":"string","description":"DELETE only: profit share paid at close"}}},
  "Ticker":{"type":"object","properties":{"market":{"type":"string"},"sequence":{"type":"integer"},"last":{"type":"string","nullable":true},"last_time":{"type":"string","format":"date-time","nullable":true},"best_bid":{"type":"string","nullable":true},"best_bid_quantity":{"type":"string","nullable":true},"best_ask":{"type":"string","nullable":true},"best_ask_quantity":{"type":"string","nullable":true},"open_24h":{"type":"string","nullable":true},"high_24h":{"type":"string","nullable":true},"low_24h":{"type":"string","nullable":true},"volume_24h":{"type":"string"},"quote_volume_24h":{"type":"string"},"trades_24h":{"type":"integer"},"time":{"type":"string","format":"date-time","description":"end of the 24-hour window: the later of the server clock and the last trade"}}}
 }},
"security":[{"bearer":[]}],
"paths":{
 "/healthz":{"get":{"security":[],"responses":{"200":{"description":"process up"}}}},
 "/readyz":{"get":{"security":[],"responses":{"200":{"description":"recovered and accepting"},"503":{"description":"not ready"}}}},
 "/metrics":{"get":{"security":[],"responses":{"200":{"description":"Prometheus text format"}}}},
 "/v1/openapi.json":{"get":{"security":[],"responses":{"200":{"description":"this document"}}}},
 "/v1/accounts":{"post":{"security":[],"requestBody":{"content":{"application/json":{"schema":{"type":"object","properties":{"name":{"type":"string"}}}}}},"responses":{"201":{"description":"id, name, token, token_id"}}}},
 "/v1/account":{"get":{"responses":{"200":{"description":"the caller's account","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Account"}}}}}}},
 "/v1/tokens":{"post":{"responses":{"201":{"description":"id, account_id, token"},"409":{"description":"too_many_tokens: the account already holds the most live tokens allowed (istd --max-tokens, default 100); revoke one first"}}}},
 "/v1/tokens/{id}":{"delete":{"description":"Revokes a token of the caller's. Every stream authenticated with it is closed (1008, reason \"token revoked\") before this answers, and gets no more messages.","parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}}],"responses":{"200":{"description":"revoked"},"404":{"description":"no such token of the caller's"}}}},
 "/v1/withdrawals":{"post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Transfer"}}}},"responses":{"201":{"description":"withdrawn"},"200":{"description":"ref already used"}}}},
 "/v1/admin/markets":{"post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/NewMarket"}}}},"responses":{"201":{"description":"market","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Market"}}}}}}},
 "/v1/admin/deposits":{"post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Deposit"}}}},"responses":{"201":{"description":"deposited"},"200":{"description":"ref already used"}}}},
 "/v1/admin/markets/{symbol}/halt":{"post":{"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}}],"responses":{"200":{"description":"halted"}}}},
 "/v1/admin/markets/{symbol}/resume":{"post":{"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}}],"responses":{"200":{"description":"resumed"}}}},
 "/v1/admin/accounts":{"get":{"parameters":[{"name":"limit","in":"query","schema":{"type":"integer"}},{"name":"after","in":"query","schema":{"type":"integer"}}],"responses":{"200":{"description":"accounts with balances and kind","content":{"application/json":{"schema":{"$ref":"#/components/schemas/AdminAccounts"}}}}}}},
 "/v1/admin/backup":{"post":{"requestBody":{"content":{"application/json":{"schema":{"type":"object","properties":{"to":{"type":"string"}}}}}},"responses":{"201":{"description":"online backup written"}}}},
 "/v1/orders":{
  "post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/NewOrder"}}}},"responses":{"201":{"description":"order and its fills"},"200":{"description":"client_order_id already used by an order with the same parameters: the original order, as GET /v1/orders/{id} shows it, and no fills"},"409":{"description":"duplicate_client_order_id: client_order_id already used by an order with other parameters, or by one no longer in the order history (the message names its id); nothing changed"}}},
  "get":{"parameters":[{"name":"market","in":"query","schema":{"type":"string"}},{"name":"status","in":"query","schema":{"enum":["open","done"]}},{"name":"limit","in":"query","schema":{"type":"integer"}},{"name":"after","in":"query","schema":{"type":"integer"}}],"responses":{"200":{"description":"orders"}}},
  "delete":{"parameters":[{"name":"market","in":"query","required":true,"schema":{"type":"string"}}],"responses":{"200":{"description":"ids of the cancelled orders"}}}},
 "/v1/orders/batch":{"post":{"requestBody":{"content":{"application/json":{"schema":{"type":"object","properties":{"orders":{"type":"array","maxItems":1000,"items":{"$ref":"#/components/schemas/NewOrder"}}}}}}},"responses":{"200":{"description":"one result per input, in order: {order, duplicate, fills} or {error}; a client_order_id resend is answered per item as POST /v1/orders answers it (the original order with duplicate true, or the error duplicate_client_order_id)"}}}},
 "/v1/orders/{id}":{
  "parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}}],
  "get":{"responses":{"200":{"description":"order","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Order"}}}}}},
  "patch":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Amend"}}}},"responses":{"200":{"description":"amended order"},"400":{"description":"invalid_argument, e.g. a quantity not above the filled quantity"}}},
  "delete":{"responses":{"200":{"description":"cancelled order"}}}},
 "/v1/fills":{"get":{"parameters":[{"name":"market","in":"query","schema":{"type":"string"}},{"name":"limit","in":"query","schema":{"type":"integer"}},{"name":"after","in":"query","schema":{"type":"integer"}}],"responses":{"200":{"description":"fills"}}}},
 "/v1/markets":{"get":{"security":[],"responses":{"200":{"description":"markets"}}}},
 "/v1/stream":{"get":{"security":[],"summary":"WebSocket streams","description":"Upgrades to a WebSocket (Connection: Upgrade, Upgrade: websocket). Client messages: {\"op\":\"auth\",\"token\":\"...\"}, {\"op\":\"subscribe\"|\"unsubscribe\",\"channels\":[\"book:SYMBOL\",\"trades:SYMBOL\",\"orders\",\"fills\",\"copy\"]} (orders, fills and copy need auth). Server messages: {\"channel\",\"seq\",\"n\",\"data\"} for trades, orders and fills; {\"channel\":\"copy\",\"type\":\"fill\"|\"skipped\"|\"closed\"|\"profit_share\",\"seq\",\"n\",\"data\"} for copy (a follower's mirrored fills, skipped mirrors with their reason, closed relations with the quote returned, profit share paid; a leader's profit share received); {\"channel\",\"type\":\"snapshot\"|\"delta\",\"seq\",\"n\",\"bids\",\"asks\"} for book ([price, quantity] pairs; in deltas the new total, \"0\" removes the level); {\"type\":\"subscribed\"|\"unsubscribed\",\"channels\"}, {\"type\":\"authenticated\",\"account_id\"}, {\"type\":\"error\",\"error\":{\"code\",\"message\"}}. seq is the engine sequence number (non-decreasing per channel); n counts each channel's messages from 1: a gap means resubscribe. Slow consumers are closed (1008, reason \"slow consumer: send queue full\"). A stream is closed (1008, reason \"token revoked\") when a token it authenticated with is revoked, also while it authenticates; once the revocation is answered it gets no more messages. Reconnect and authenticate with a live token.","responses":{"101":{"description":"switching protocols to WebSocket"},"400":{"description":"not a WebSocket upgrade","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}},"503":{"description":"shutting down"}}}},
 "/v1/social/leader":{"put":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/LeaderProfileUpdate"}}}},"responses":{"200":{"description":"the caller's leader profile","content":{"application/json":{"schema":{"$ref":"#/components/schemas/LeaderProfile"}}}},"409":{"description":"follower_cannot_lead"}}}},
 "/v1/social/leaders":{"get":{"security":[],"parameters":[{"name":"sort","in":"query","schema":{"enum":["roi","pnl","followers","aum"],"default":"roi"}},{"name":"window","in":"query","schema":{"enum":["7d","30d","all"],"default":"30d"}},{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000,"default":100}}],"responses":{"200":{"description":"leaderboard","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Leaderboard"}}}}}}},
 "/v1/social/leaders/{account_id}":{"get":{"security":[],"parameters":[{"name":"account_id","in":"path","required":true,"schema":{"type":"integer"}}],"responses":{"200":{"description":"profile, stats per window, recent trades","content":{"application/json":{"schema":{"$ref":"#/components/schemas/LeaderPage"}}}},"404":{"description":"not a leader"}}}},
 "/v1/social/follows":{
  "post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/NewFollow"}}}},"responses":{"201":{"description":"follow","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Follow"}}}},"404":{"description":"not a leader, unknown asset"},"409":{"description":"leader_cannot_follow, already_following"}}},
  "get":{"responses":{"200":{"description":"the caller's follows (open and closed) with PnL, wallet balances and latest fills; total_allocation, total_nav, total_pnl of the open ones"}}}},
 "/v1/social/follows/{id}":{
  "parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}}],
  "patch":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/AmendFollow"}}}},"responses":{"200":{"description":"amended follow","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Follow"}}}},"404":{"description":"not the caller's follow"}}},
  "delete":{"parameters":[{"name":"close","in":"query","schema":{"enum":["market","keep"],"default":"keep"}}],"responses":{"200":{"description":"closed follow; its funds are back in the main balance","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Follow"}}}},"404":{"description":"not the caller's follow"},"409":{"description":"relation_closed"}}}},
 "/v1/social/follows/{id}/pause":{"post":{"parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}}],"responses":{"200":{"description":"paused follow: sells are still mirrored","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Follow"}}}},"404":{"description":"not the caller's follow"}}}},
 "/v1/social/follows/{id}/resume":{"post":{"parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}}],"responses":{"200":{"description":"active follow","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Follow"}}}},"404":{"description":"not the caller's follow"}}}},
 "/v1/social/followers":{"get":{"responses":{"200":{"description":"the open relations following the caller: follow_id, follower_id, follower_name, status, asset, allocation, nav, pnl, profit_share_paid"}}}},
 "/v1/admin/settle":{"post":{"parameters":[{"name":"leader_id","in":"query","schema":{"type":"integer"},"description":"only this leader's relations (default all)"}],"responses":{"200":{"description":"sequence, profit_share_payments, profit_share_amount, closed (stop-losses)"}}}},
 "/v1/markets/{symbol}/book":{"get":{"security":[],"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}},{"name":"depth","in":"query","schema":{"type":"integer"}}],"responses":{"200":{"description":"book","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Book"}}}}}}},
 "/v1/markets/{symbol}/trades":{"get":{"security":[],"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}},{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000,"default":100}}],"responses":{"200":{"description":"recent public trades, newest first","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Trades"}}}},"404":{"description":"unknown market"}}}},
 "/v1/markets/{symbol}/candles":{"get":{"security":[],"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}},{"name":"interval","in":"query","required":true,"schema":{"enum":["1m","5m","1h","1d"]}},{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000,"default":100}}],"responses":{"200":{"description":"OHLCV candles, oldest first","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Candles"}}}},"404":{"description":"unknown market"}}}},
 "/v1/markets/{symbol}/ticker":{"get":{"security":[],"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}}],"responses":{"200":{"description":"last price, best bid and ask, 24-hour statistics","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Ticker"}}}},"404":{"description":"unknown market"}}}}
}}`

// openAPIDoc is the document served at /v1/openapi.json.
var openAPIDoc = mustWithErrors(openAPI)

func serveOpenAPI(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, 200, openAPIDoc)
}

// errorResponses are the error responses an operation may document, by
// status: components.responses of the served document.
var errorResponses = map[string]string{
	"400": "Bad request: invalid_argument (malformed JSON, an unknown or missing field, a bad value), " +
		"insufficient_funds, would_cross",
	"401": "unauthenticated: no bearer token, or an unknown or revoked one",
	"403": "forbidden: a user token on an admin operation, the admin token on a user operation, " +
		"or sign-up disabled",
	"404": "not_found: an unknown id, market, asset, account or leader, or another account's order or follow",
	"409": "Conflict with the current state: market_halted, already_exists, ref_conflict, leader_cannot_follow, " +
		"follower_cannot_lead, already_following, relation_closed",
	"413": "invalid_argument: the request body is over the limit (--max-body; --max-batch-body for a batch)",
	"429": "rate_limited: over the rate limit of the token or, without one, of the client IP; retry after Retry-After seconds",
	"503": "overloaded (the engine's queue is full: retry later) or unavailable (shutting down)",
}

// Operations that may answer 404 or 409 beyond those errorsOf derives,
// by "METHOD path".
var (
	notFoundOps = []string{"GET /v1/account", "POST /v1/withdrawals", "POST /v1/admin/deposits",
		"POST /v1/orders", "GET /v1/orders", "DELETE /v1/orders", "GET /v1/fills",
		"PUT /v1/social/leader", "POST /v1/social/follows", "POST /v1/admin/settle"}
	conflictOps = []string{"POST /v1/withdrawals", "POST /v1/admin/deposits", "POST /v1/admin/markets",
		"POST /v1/orders", "PATCH /v1/orders/{id}", "PUT /v1/social/leader", "POST /v1/social/follows",
		"PATCH /v1/social/follows/{id}", "DELETE /v1/social/follows/{id}",
		"POST /v1/social/follows/{id}/pause", "POST /v1/social/follows/{id}/resume"}
)

// errorsOf returns the error statuses operation op ("METHOD path") may
// answer: 429 on every path but the health and metrics ones; 400 with a
// body or parameters, 413 with a body; 401 and 403 with a token; 404 with
// a path parameter or in notFoundOps; 409 in conflictOps; 503 on writes.
func errorsOf(op string, secured, body, params bool) []string {
	method, path, _ := strings.Cut(op, " ")
	var out []string
	add := func(ok bool, status string) {
		if ok {
			out = append(out, status)
		}
	}
	add(body || params, "400")
	add(secured, "401")
	add(secured || op == "POST /v1/accounts", "403")
	add(strings.Contains(path, "{") || slices.Contains(notFoundOps, op), "404")
	add(slices.Contains(conflictOps, op), "409")
	add(body, "413")
	add(!slices.Contains([]string{"/healthz", "/readyz", "/metrics"}, path), "429")
	add(method != "GET" || path == "/readyz" || path == "/v1/stream", "503")
	return out
}

// mustWithErrors returns doc with the admin security scheme on the
// /v1/admin/ operations and the error responses of errorsOf on every
// operation (kept where doc gives them already). It panics if doc is not
// valid JSON: doc is the constant above.
func mustWithErrors(doc string) []byte {
	b, err := withErrors(doc)
	if err != nil {
		panic(err)
	}
	return b
}

// withErrors is mustWithErrors returning the error.
func withErrors(doc string) ([]byte, error) {
	var d map[string]any
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("server: openapi: %w", err)
	}
	errSchema := map[string]any{"application/json": map[string]any{
		"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}
	comps := d["components"].(map[string]any)
	resps := map[string]any{}
	for status, desc := range errorResponses {
		resps["E"+status] = map[string]any{"description": desc, "content": errSchema}
	}
	comps["responses"] = resps
	comps["securitySchemes"] = map[string]any{
		"bearer": map[string]any{"type": "http", "scheme": "bearer",
			"description": "a user token (POST /v1/accounts, POST /v1/tokens)"},
		"adminBearer": map[string]any{"type": "http", "scheme": "bearer",
			"description": "the admin token given to istd (--admin-token, IST_ADMIN_TOKEN); a user token gets 403"},
	}
	for path, item := range d["paths"].(map[string]any) {
		item := item.(map[string]any)
		_, pathParams := item["parameters"]
		for method, o := range item {
			if method == "parameters" {
				continue
			}
			o := o.(map[string]any)
			sec, hasSec := o["security"].([]any)
			secured := !hasSec || len(sec) > 0
			if strings.HasPrefix(path, "/v1/admin/") {
				o["security"] = []any{map[string]any{"adminBearer": []any{}}}
				o["tags"] = []any{"admin"}
				desc := "Admin only: takes the admin token, not a user token."
				if more, ok := o["description"].(string); ok {
					desc += " " + more
				}
				o["description"] = desc
			}
			_, body := o["requestBody"]
			_, params := o["parameters"]
			op := strings.ToUpper(method) + " " + path
			rs := o["responses"].(map[string]any)
			for _, status := range errorsOf(op, secured, body, params || pathParams) {
				if r, ok := rs[status].(map[string]any); ok {
					if _, ok := r["content"]; !ok {
						r["content"] = errSchema
					}
					continue
				}
				rs[status] = map[string]any{"$ref": "#/components/responses/E" + status}
			}
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("server: openapi: %w", err)
	}
	return bytes.TrimSpace(out.Bytes()), nil
}
