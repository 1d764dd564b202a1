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
"info":{"title":"ist","version":"v1","description":"ist matching engine HTTP API. Prices, quantities and amounts are decimal strings; every asset has 8 decimal places. Requests are rate limited (429 rate_limited) per live bearer token, and per client IP for requests without one: no token, a made-up one or a revoked one. Sign-up (POST /v1/accounts) is always limited per client IP, whatever token it carries. Every answer carries an X-Request-Id header: the request's own X-Request-Id when it is 1 to 64 letters, digits and \"._:-\", else one istd makes; istd's log line of the request has it."},
"components":{
 "securitySchemes":{"bearer":{"type":"http","scheme":"bearer"}},
 "schemas":{
  "Error":{"type":"object","required":["error"],"properties":{"error":{"type":"object","required":["code","message"],"properties":{"code":{"type":"string"},"message":{"type":"string"}}}}},
  "Balance":{"type":"object","required":["asset","available","locked"],"properties":{"asset":{"type":"string"},"available":{"type":"string"},"locked":{"type":"string"}}},
  "Account":{"type":"object","required":["id","name","balances"],"properties":{"id":{"type":"integer"},"name":{"type":"string"},"balances":{"type":"array","items":{"$ref":"#/components/schemas/Balance"}}}},
  "Market":{"type":"object","required":["id","symbol","base","quote","tick_size","lot_size","min_notional","max_price","max_quantity","maker_fee_bps","taker_fee_bps","halted"],"properties":{"id":{"type":"integer"},"symbol":{"type":"string"},"base":{"type":"string"},"quote":{"type":"string"},"tick_size":{"type":"string"},"lot_size":{"type":"string"},"min_notional":{"type":"string"},"max_price":{"type":"string","description":"highest price an order may have"},"max_quantity":{"type":"string","description":"largest quantity an order may have"},"maker_fee_bps":{"type":"integer"},"taker_fee_bps":{"type":"integer"},"halted":{"type":"boolean"}}},
  "NewMarket":{"type":"object","required":["symbol","base","quote","tick_size","lot_size"],"properties":{"symbol":{"type":"string"},"base":{"type":"string"},"quote":{"type":"string"},"tick_size":{"type":"string"},"lot_size":{"type":"string"},"min_notional":{"type":"string","description":"in quote; the market answers it rounded up to a multiple of tick_size × lot_size (what an order's notional is a multiple of), which admits exactly the same orders"},"max_price":{"type":"string","description":"positive; by default, price × quantity of the largest order must not overflow: an omitted one of max_price and max_quantity is what the other leaves, both omitted split that evenly"},"max_quantity":{"type":"string","description":"positive; default: see max_price"},"maker_fee_bps":{"type":"integer"},"taker_fee_bps":{"type":"integer"}}},
  "Transfer":{"type":"object","description":"a withdrawal of the caller's account","required":["asset","amount","ref"],"properties":{"asset":{"type":"string"},"amount":{"type":"string"},"ref":{"type":"string","maxLength":36,"description":"the withdrawal's key within the caller's account, apart from deposit refs: a resend with the same asset and amount while the ref is among the account's last 4096 withdrawals answers 200 with duplicate true and moves nothing, with another asset or amount 409 ref_conflict; an older ref is forgotten, and its resend withdraws again. A withdrawal that fails (e.g. insufficient_funds) keeps no ref."}}},
  "Deposit":{"type":"object","required":["account_id","asset","amount","ref"],"properties":{"account_id":{"type":"integer"},"asset":{"type":"string"},"amount":{"type":"string"},"ref":{"type":"string","maxLength":36,"description":"the deposit's key for the whole exchange (e.g. the bank transfer's id), kept forever: a resend with the same account_id, asset and amount answers 200 with duplicate true and moves nothing, one with another account, asset or amount 409 ref_conflict, so a retried deposit is never credited twice. Deposit refs are apart from withdrawal refs. A deposit that fails keeps no ref."}}},
  "FeeAccount":{"type":"object","required":["id","name","balances"],"properties":{"id":{"type":"integer","description":"0"},"name":{"type":"string"},"balances":{"type":"array","items":{"$ref":"#/components/schemas/Balance"}}}},
  "AdminAccount":{"type":"object","required":["id","name","balances","kind"],"properties":{"id":{"type":"integer"},"name":{"type":"string","description":"empty for a copy wallet"},"balances":{"type":"array","items":{"$ref":"#/components/schemas/Balance"}},"kind":{"type":"string","enum":["user","copy_wallet"],"description":"copy_wallet: the wallet of a copy relation, created by a follow"},"relation_id":{"type":"integer","description":"copy wallets only: the relation (follow id)"},"owner_id":{"type":"integer","description":"copy wallets only: the follower's account"}}},
  "AdminAccounts":{"type":"object","required":["accounts"],"properties":{"accounts":{"type":"array","description":"in id order","items":{"$ref":"#/components/schemas/AdminAccount"}}}},
  "NewOrder":{"type":"object","description":"a stop_market buy needs a protection price (price) or a quote budget (quote_quantity): funds are locked when it is placed (price × quantity plus its fee at the higher of the market's two fee rates, or all of quote_quantity); without either it is 400 invalid_argument","required":["market","side"],"properties":{"market":{"type":"string"},"side":{"type":"string","enum":["buy","sell"]},"type":{"type":"string","enum":["limit","market","stop_market","stop_limit"]},"price":{"type":"string","description":"for limit and stop_limit orders the limit price; for market and stop_market orders an optional protection price: the order does not trade beyond it (a buy not above it, a sell not below it), and what is left expires"},"quantity":{"type":"string"},"quote_quantity":{"type":"string","description":"market and stop_market buys only (else 400 invalid_argument): spend at most this much quote, fees included; with quantity too, the order stops at whichever is reached first. With time_in_force fok, quantity is required too"},"stop_price":{"type":"string"},"display_quantity":{"type":"string"},"time_in_force":{"type":"string","enum":["gtc","ioc","fok"]},"post_only":{"type":"boolean"},"client_order_id":{"type":"string","maxLength":36},"stp":{"type":"string","enum":["cancel_taker","cancel_maker","cancel_both","none"]}}},
  "Amend":{"type":"object","description":"give price and/or quantity; an omitted field keeps its value. Lowering quantity keeps time priority; changing price or raising quantity loses it.","properties":{"price":{"type":"string"},"quantity":{"type":"string","description":"new total quantity (filled + remaining): the remaining quantity becomes quantity minus what the order has filled when the amend is applied; it must exceed the filled quantity (else 400 invalid_argument)"}}},
  "Order":{"type":"object","required":["id","client_order_id","account_id","market","side","type","price","quantity","filled","remaining","avg_price","status","time_in_force","post_only","stp","created_at","updated_at"],"properties":{"id":{"type":"integer"},"client_order_id":{"type":"string","description":"empty if none was given"},"account_id":{"type":"integer"},"market":{"type":"string"},"side":{"type":"string","enum":["buy","sell"]},"type":{"type":"string","enum":["limit","market","stop_market","stop_limit"]},"price":{"type":"string","description":"the limit price; for market and stop_market orders the protection price, 0 if none"},"stop_price":{"type":"string","description":"stop orders only"},"triggered":{"type":"boolean","description":"stop orders only: the stop price was reached"},"quantity":{"type":"string","description":"0 for a market buy by quote_quantity only"},"quote_quantity":{"type":"string","description":"orders placed with a quote_quantity only"},"filled":{"type":"string"},"remaining":{"type":"string"},"avg_price":{"type":"string","nullable":true,"description":"null until the order fills"},"status":{"type":"string","enum":["open","partially_filled","filled","cancelled","rejected","expired"],"description":"filled: the whole quantity traded, or, for a market buy by quote_quantity alone, what is left of its budget cannot pay for one more lot at the price of its last fill; expired: an IOC, FOK or market order's rest, also a budget buy whose rest could (the book ran out, or its next price was beyond the rest; filled says what it bought)"},"time_in_force":{"type":"string","enum":["gtc","ioc","fok"]},"post_only":{"type":"boolean"},"stp":{"type":"string","enum":["cancel_taker","cancel_maker","cancel_both","none"]},"created_at":{"type":"string","format":"date-time"},"updated_at":{"type":"string","format":"date-time"}}},
  "Fill":{"type":"object","required":["trade_id","order_id","market","side","price","quantity","fee","fee_asset","liquidity","time"],"properties":{"trade_id":{"type":"integer","description":"the trade's id (Trade.id): unique, increasing with time (< 2^53); GET /v1/fills pages by it"},"order_id":{"type":"integer"},"market":{"type":"string"},"side":{"type":"string","enum":["buy","sell"]},"price":{"type":"string"},"quantity":{"type":"string"},"fee":{"type":"string"},"fee_asset":{"type":"string"},"liquidity":{"type":"string","enum":["maker","taker"]},"time":{"type":"string","format":"date-time"}}},
  "Book":{"type":"object","required":["market","sequence","bids","asks"],"properties":{"market":{"type":"string"},"sequence":{"type":"integer"},"bids":{"type":"array","items":{"type":"array","description":"[price, quantity]","minItems":2,"maxItems":2,"items":{"type":"string"}},"description":"best (highest) first"},"asks":{"type":"array","items":{"type":"array","description":"[price, quantity]","minItems":2,"maxItems":2,"items":{"type":"string"}},"description":"best (lowest) first"}}},
  "Trade":{"type":"object","required":["id","price","quantity","side","time"],"properties":{"id":{"type":"integer","description":"the trade's number, unique and increasing (< 2^53), as trade_id of fills"},"price":{"type":"string"},"quantity":{"type":"string"},"side":{"type":"string","enum":["buy","sell"],"description":"the taker's side"},"time":{"type":"string","format":"date-time"}}},
  "Trades":{"type":"object","required":["market","trades"],"properties":{"market":{"type":"string"},"trades":{"type":"array","description":"newest first","items":{"$ref":"#/components/schemas/Trade"}}}},
  "Candle":{"type":"object","required":["start","open","high","low","close","volume","quote_volume","trades"],"properties":{"start":{"type":"string","format":"date-time"},"open":{"type":"string"},"high":{"type":"string"},"low":{"type":"string"},"close":{"type":"string"},"volume":{"type":"string","description":"base quantity"},"quote_volume":{"type":"string"},"trades":{"type":"integer"}}},
  "Candles":{"type":"object","required":["market","interval","candles"],"properties":{"market":{"type":"string"},"interval":{"type":"string","enum":["1m","5m","1h","1d"]},"candles":{"type":"array","description":"oldest first; only intervals with trades","items":{"$ref":"#/components/schemas/Candle"}}}},
  "LeaderProfileUpdate":{"type":"object","properties":{"display_name":{"type":"string","maxLength":64},"bio":{"type":"string","maxLength":1000},"profit_share_bps":{"type":"integer","minimum":0,"maximum":5000}}},
  "LeaderProfile":{"type":"object","required":["account_id","display_name","bio","profit_share_bps","followers"],"properties":{"account_id":{"type":"integer"},"display_name":{"type":"string"},"bio":{"type":"string"},"profit_share_bps":{"type":"integer"},"followers":{"type":"integer","description":"active relations (paused ones are not counted)"}}},
  "LeaderStats":{"type":"object","description":"ratios are decimal strings with 6 places (0.05 = 5%); amounts in the quote asset","required":["roi","pnl","win_rate","round_trips","max_drawdown","aum","active_followers","copier_pnl","copy_gap"],"properties":{"roi":{"type":"string"},"pnl":{"type":"string"},"win_rate":{"type":"string"},"round_trips":{"type":"integer"},"max_drawdown":{"type":"string"},"aum":{"type":"string","description":"NAV of the active relations"},"active_followers":{"type":"integer","description":"active relations (paused ones are not counted)"},"copier_pnl":{"type":"string"},"copy_gap":{"type":"string","description":"leader ROI minus the median follower ROI"}}},
  "LeaderRow":{"allOf":[{"$ref":"#/components/schemas/LeaderStats"},{"type":"object","properties":{"rank":{"type":"integer"},"account_id":{"type":"integer"},"display_name":{"type":"string"},"profit_share_bps":{"type":"integer"}},"required":["rank","account_id","display_name"]}]},
  "Leaderboard":{"type":"object","required":["sort","window","leaders"],"properties":{"sort":{"type":"string","enum":["roi","pnl","followers","aum"]},"window":{"type":"string","enum":["7d","30d","all"]},"leaders":{"type":"array","items":{"$ref":"#/components/schemas/LeaderRow"}}}},
  "LeaderPage":{"allOf":[{"$ref":"#/components/schemas/LeaderProfile"},{"type":"object","properties":{"stats":{"type":"object","properties":{"7d":{"$ref":"#/components/schemas/LeaderStats"},"30d":{"$ref":"#/components/schemas/LeaderStats"},"all":{"$ref":"#/components/schemas/LeaderStats"}},"required":["7d","30d","all"]},"recent_trades":{"type":"array","description":"the leader's latest fills, newest first","items":{"$ref":"#/components/schemas/Fill"}}},"required":["stats","recent_trades"]}]},
  "NewFollow":{"type":"object","required":["leader_id","allocation"],"properties":{"leader_id":{"type":"integer"},"allocation":{"type":"string","description":"quote moved into the relation's wallet"},"asset":{"type":"string","description":"the wallet's quote asset; default USDT, else the quote asset of market 1"},"mode":{"type":"string","enum":["proportional","fixed_quote","multiplier"],"default":"proportional"},"value":{"type":"string","description":"factor for proportional and multiplier (default 1), quote per leader order for fixed_quote (required)"},"max_order_quote":{"type":"string","description":"cap of one mirrored buy, 0: none"},"slippage_bps":{"type":"integer","minimum":0,"maximum":300,"description":"0: the default 50"},"stop_loss_bps":{"type":"integer","minimum":0,"maximum":9999}}},
  "AmendFollow":{"type":"object","description":"omitted fields keep their value","properties":{"mode":{"type":"string","enum":["proportional","fixed_quote","multiplier"]},"value":{"type":"string"},"max_order_quote":{"type":"string"},"slippage_bps":{"type":"integer"},"stop_loss_bps":{"type":"integer"},"top_up":{"type":"string","description":"quote added to the wallet from the main balance"}}},
  "Follow":{"type":"object","required":["id","leader_id","leader_name","follower_id","status","asset","allocation","nav","pnl","roi","high_water_mark","profit_share_paid","mode","value","max_order_quote","slippage_bps","stop_loss_bps","wallet_account_id","sequence","balances"],"properties":{"id":{"type":"integer"},"leader_id":{"type":"integer"},"leader_name":{"type":"string"},"follower_id":{"type":"integer"},"status":{"type":"string","enum":["active","paused","closed"]},"asset":{"type":"string"},"allocation":{"type":"string"},"nav":{"type":"string","nullable":true,"description":"null once closed"},"pnl":{"type":"string","nullable":true,"description":"nav - allocation; null once closed"},"roi":{"type":"string","nullable":true,"description":"(nav - allocation) / allocation, 6 places; null once closed"},"high_water_mark":{"type":"string"},"profit_share_paid":{"type":"string"},"mode":{"type":"string","enum":["proportional","fixed_quote","multiplier"]},"value":{"type":"string"},"max_order_quote":{"type":"string"},"slippage_bps":{"type":"integer"},"stop_loss_bps":{"type":"integer"},"wallet_account_id":{"type":"integer"},"sequence":{"type":"integer"},"balances":{"type":"array","items":{"$ref":"#/components/schemas/Balance"}},"fills":{"type":"array","description":"GET only: the wallet's latest fills","items":{"$ref":"#/components/schemas/Fill"}},"returned":{"type":"string","description":"DELETE only: quote returned to the main balance"},"profit_share":{"type":"string","description":"DELETE only: profit share paid at close"}}},
  "Ticker":{"type":"object","required":["market","sequence","last","last_time","best_bid","best_bid_quantity","best_ask","best_ask_quantity","open_24h","high_24h","low_24h","volume_24h","quote_volume_24h","trades_24h","time"],"properties":{"market":{"type":"string"},"sequence":{"type":"integer","description":"the engine sequence number of the book view shown: best bid and ask, last and the 24-hour statistics are as of it (under a constant stream of trades the statistics may count a trade the book does not show yet)"},"last":{"type":"string","nullable":true},"last_time":{"type":"string","format":"date-time","nullable":true},"best_bid":{"type":"string","nullable":true},"best_bid_quantity":{"type":"string","nullable":true},"best_ask":{"type":"string","nullable":true},"best_ask_quantity":{"type":"string","nullable":true},"open_24h":{"type":"string","nullable":true},"high_24h":{"type":"string","nullable":true},"low_24h":{"type":"string","nullable":true},"volume_24h":{"type":"string"},"quote_volume_24h":{"type":"string"},"trades_24h":{"type":"integer"},"time":{"type":"string","format":"date-time","description":"end of the 24-hour window: the later of the server clock and the last trade"}}},
  "Signup":{"type":"object","description":"a new account and its first token","required":["id","name","token","token_id"],"properties":{"id":{"type":"integer"},"name":{"type":"string"},"token":{"type":"string","description":"the bearer token: shown once, stored only as a hash"},"token_id":{"type":"integer","description":"for DELETE /v1/tokens/{id}"}}},
  "Token":{"type":"object","required":["id","account_id","token"],"properties":{"id":{"type":"integer","description":"the token's id, for DELETE /v1/tokens/{id}"},"account_id":{"type":"integer"},"token":{"type":"string","description":"the bearer token: shown once, stored only as a hash"}}},
  "TokenRevoked":{"type":"object","required":["id","revoked"],"properties":{"id":{"type":"integer"},"revoked":{"type":"boolean","enum":[true]}}},
  "TokenList":{"type":"object","description":"an account's live tokens; a token itself is shown only when issued, its hash never","required":["account_id","tokens"],"properties":{"account_id":{"type":"integer"},"tokens":{"type":"array","description":"in id order (the order they were issued)","items":{"type":"object","required":["id"],"properties":{"id":{"type":"integer","description":"for DELETE /v1/tokens/{id}"},"current":{"type":"boolean","description":"GET /v1/tokens only: the token of this request"}}}}}},
  "TransferResult":{"type":"object","description":"a deposit (the account credited) or a withdrawal (the caller's account)","required":["account_id","asset","amount","ref","duplicate"],"properties":{"account_id":{"type":"integer"},"asset":{"type":"string"},"amount":{"type":"string"},"ref":{"type":"string"},"duplicate":{"type":"boolean","description":"true (status 200): a resend of a transfer already made with this ref; nothing moved again"}}},
  "MarketStatus":{"type":"object","required":["symbol","halted"],"properties":{"symbol":{"type":"string"},"halted":{"type":"boolean"}}},
  "BackupResult":{"type":"object","required":["to","sequence"],"properties":{"to":{"type":"string","description":"the backup's directory"},"sequence":{"type":"integer","description":"the durable command sequence number when the backup finished"}}},
  "MarketList":{"type":"object","required":["markets"],"properties":{"markets":{"type":"array","items":{"$ref":"#/components/schemas/Market"},"description":"in id order"}}},
  "OrderResult":{"type":"object","required":["order","fills"],"properties":{"order":{"$ref":"#/components/schemas/Order"},"fills":{"type":"array","items":{"$ref":"#/components/schemas/Fill"},"description":"what the order traded as the taker when it was placed; empty for a client_order_id resend"}}},
  "BatchOrderResult":{"type":"object","required":["order","duplicate","fills"],"properties":{"order":{"$ref":"#/components/schemas/Order"},"duplicate":{"type":"boolean","description":"client_order_id resend: the original order, no fills"},"fills":{"type":"array","items":{"$ref":"#/components/schemas/Fill"}}}},
  "BatchResult":{"type":"object","required":["results"],"properties":{"results":{"type":"array","items":{"oneOf":[{"$ref":"#/components/schemas/BatchOrderResult"},{"$ref":"#/components/schemas/Error"}]},"description":"one per input order, in input order: the order with its fills, or the error that refused it"}}},
  "OrderGone":{"type":"object","description":"a cancelled or amended order no longer in the order history (lost in a crash): its id, account and status only","additionalProperties":false,"required":["id","account_id","status"],"properties":{"id":{"type":"integer"},"account_id":{"type":"integer"},"status":{"type":"string","enum":["open","cancelled"]}}},
  "OrderList":{"type":"object","required":["orders"],"properties":{"orders":{"type":"array","items":{"$ref":"#/components/schemas/Order"},"description":"in id order, after the after= id"}}},
  "CancelledOrders":{"type":"object","required":["market","cancelled"],"properties":{"market":{"type":"string"},"cancelled":{"type":"array","items":{"type":"integer"},"description":"ids of the orders cancelled"}}},
  "FillList":{"type":"object","required":["fills"],"properties":{"fills":{"type":"array","items":{"$ref":"#/components/schemas/Fill"},"description":"in trade_id order, after the after= trade id"}}},
  "FollowList":{"type":"object","required":["follows","total_allocation","total_nav","total_pnl"],"properties":{"follows":{"type":"array","items":{"$ref":"#/components/schemas/Follow"},"description":"in id order, with fills"},"total_allocation":{"type":"string","description":"of the open follows"},"total_nav":{"type":"string","description":"of the open follows"},"total_pnl":{"type":"string","description":"total_nav - total_allocation"}}},
  "Follower":{"type":"object","required":["follow_id","follower_id","status","asset","allocation","nav","pnl","profit_share_paid"],"properties":{"follow_id":{"type":"integer"},"follower_id":{"type":"integer"},"follower_name":{"type":"string"},"status":{"type":"string","enum":["active","paused","closed"]},"asset":{"type":"string"},"allocation":{"type":"string"},"nav":{"type":"string"},"pnl":{"type":"string"},"profit_share_paid":{"type":"string"}}},
  "Followers":{"type":"object","required":["followers"],"properties":{"followers":{"type":"array","items":{"$ref":"#/components/schemas/Follower"}}}},
  "Settlement":{"type":"object","required":["sequence","profit_share_payments","profit_share_amount","closed"],"properties":{"sequence":{"type":"integer"},"profit_share_payments":{"type":"integer"},"profit_share_amount":{"type":"string"},"closed":{"type":"integer","description":"relations closed by their stop-loss"}}},
  "Status":{"type":"object","required":["status"],"properties":{"status":{"type":"string","enum":["ok","ready"]}}}
 }},
"security":[{"bearer":[]}],
"paths":{
 "/healthz":{"get":{"security":[],"responses":{"200":{"description":"process up","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Status"}}}}}}},
 "/readyz":{"get":{"security":[],"responses":{"200":{"description":"recovered and accepting","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Status"}}}},"503":{"description":"not ready"}}}},
 "/metrics":{"get":{"security":[],"responses":{"200":{"description":"Prometheus text format","content":{"text/plain":{"schema":{"type":"string","description":"Prometheus text exposition format"}}}}}}},
 "/v1/openapi.json":{"get":{"security":[],"responses":{"200":{"description":"this document","content":{"application/json":{"schema":{"type":"object","required":["openapi","info","paths"],"additionalProperties":true}}}}}}},
 "/v1/accounts":{"post":{"security":[],"description":"Open sign-up (istd --disable-signup turns it off: 403). Limited per client IP, whatever token the request carries.","requestBody":{"content":{"application/json":{"schema":{"type":"object","required":["name"],"properties":{"name":{"type":"string","description":"1 to 24 bytes of valid UTF-8, shown to other users (leaderboards, follows): no control (Cc) or format (Cf: bidi overrides, zero-width characters) characters nor line or paragraph separators, not blank, no white space at either end (refused, not trimmed): else 400 invalid_argument. Names are not unique: accounts are told apart by id."}}}}}},"responses":{"201":{"description":"the account and its first token","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Signup"}}}}}}},
 "/v1/account":{"get":{"responses":{"200":{"description":"the caller's account","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Account"}}}}}}},
 "/v1/tokens":{"post":{"responses":{"201":{"description":"a new token of the caller's","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Token"}}}},"409":{"description":"too_many_tokens: the account already holds the most live tokens allowed (istd --max-tokens, default 100); revoke one first"}}},
  "get":{"description":"The caller's live tokens: ids only (a token is shown once, when issued), the request's own marked current.","responses":{"200":{"description":"the caller's live tokens","content":{"application/json":{"schema":{"$ref":"#/components/schemas/TokenList"}}}}}}},
 "/v1/tokens/{id}":{"delete":{"description":"Revokes a token of the caller's. Every stream authenticated with it is closed (1008, reason \"token revoked\") before this answers, and gets no more messages.","parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}}],"responses":{"200":{"description":"revoked","content":{"application/json":{"schema":{"$ref":"#/components/schemas/TokenRevoked"}}}},"404":{"description":"no such token of the caller's"},"409":{"description":"last_token: the account's last live token, which is never revoked by its owner (the account and its funds would be out of reach); issue another first. The operator can (DELETE /v1/admin/accounts/{id}/tokens/{token_id})."}}}},
 "/v1/withdrawals":{"post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Transfer"}}}},"responses":{"201":{"description":"withdrawn","content":{"application/json":{"schema":{"$ref":"#/components/schemas/TransferResult"}}}},"200":{"description":"ref already used: nothing moved, duplicate true","content":{"application/json":{"schema":{"$ref":"#/components/schemas/TransferResult"}}}}}}},
 "/v1/admin/markets":{"post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/NewMarket"}}}},"responses":{"201":{"description":"market","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Market"}}}}}}},
 "/v1/admin/deposits":{"post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Deposit"}}}},"responses":{"201":{"description":"deposited","content":{"application/json":{"schema":{"$ref":"#/components/schemas/TransferResult"}}}},"200":{"description":"ref already used: nothing moved, duplicate true","content":{"application/json":{"schema":{"$ref":"#/components/schemas/TransferResult"}}}}}}},
 "/v1/admin/markets/{symbol}/halt":{"post":{"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}}],"responses":{"200":{"description":"halted","content":{"application/json":{"schema":{"$ref":"#/components/schemas/MarketStatus"}}}}}}},
 "/v1/admin/markets/{symbol}/resume":{"post":{"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}}],"responses":{"200":{"description":"resumed","content":{"application/json":{"schema":{"$ref":"#/components/schemas/MarketStatus"}}}}}}},
 "/v1/admin/fees":{"get":{"description":"the exchange's fee account (id 0): every fee charged and not withdrawn, in the asset charged (a market's quote)","responses":{"200":{"description":"the fee account's balances","content":{"application/json":{"schema":{"$ref":"#/components/schemas/FeeAccount"}}}}}}},
 "/v1/admin/accounts":{"get":{"parameters":[{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000,"default":100}},{"name":"after","in":"query","schema":{"type":"integer"},"description":"only accounts with a greater id"}],"responses":{"200":{"description":"accounts with balances and kind","content":{"application/json":{"schema":{"$ref":"#/components/schemas/AdminAccounts"}}}}}}},
 "/v1/admin/accounts/{id}/tokens":{
  "parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"},"description":"a user account"}],
  "get":{"description":"The account's live tokens (ids only).","responses":{"200":{"description":"the account's live tokens","content":{"application/json":{"schema":{"$ref":"#/components/schemas/TokenList"}}}},"404":{"description":"no such user account (unknown, the fee account or a copy wallet)"}}},
  "post":{"description":"Issues a new token for the account, e.g. one whose owner lost every token; it counts against istd --max-tokens.","responses":{"201":{"description":"the new token: shown once","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Token"}}}},"404":{"description":"no such user account (unknown, the fee account or a copy wallet)"},"409":{"description":"too_many_tokens: the account holds the most live tokens allowed"}}}},
 "/v1/admin/accounts/{id}/tokens/{token_id}":{"delete":{"description":"Revokes a token of the account, its last included (the operator's decision: the account then has no token until one is issued). Every stream authenticated with it is closed (1008, reason \"token revoked\") before this answers.","parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}},{"name":"token_id","in":"path","required":true,"schema":{"type":"integer"}}],"responses":{"200":{"description":"revoked","content":{"application/json":{"schema":{"$ref":"#/components/schemas/TokenRevoked"}}}},"404":{"description":"no such token of the account"}}}},
 "/v1/admin/backup":{"post":{"requestBody":{"content":{"application/json":{"schema":{"type":"object","properties":{"to":{"type":"string"}}}}}},"responses":{"201":{"description":"online backup written","content":{"application/json":{"schema":{"$ref":"#/components/schemas/BackupResult"}}}}}}},
 "/v1/orders":{
  "post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/NewOrder"}}}},"responses":{"201":{"description":"order and its fills","content":{"application/json":{"schema":{"$ref":"#/components/schemas/OrderResult"}}}},"200":{"description":"client_order_id already used by an order with the same parameters: the original order, as GET /v1/orders/{id} shows it, and no fills","content":{"application/json":{"schema":{"$ref":"#/components/schemas/OrderResult"}}}},"409":{"description":"duplicate_client_order_id: client_order_id already used by an order with other parameters, or by one no longer in the order history (the message names its id); nothing changed"}}},
  "get":{"parameters":[{"name":"market","in":"query","schema":{"type":"string"}},{"name":"status","in":"query","schema":{"type":"string","enum":["open","done"]}},{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000,"default":100}},{"name":"after","in":"query","schema":{"type":"integer"},"description":"only orders with a greater id"}],"responses":{"200":{"description":"the caller's orders","content":{"application/json":{"schema":{"$ref":"#/components/schemas/OrderList"}}}}}},
  "delete":{"parameters":[{"name":"market","in":"query","required":true,"schema":{"type":"string"}}],"responses":{"200":{"description":"ids of the cancelled orders","content":{"application/json":{"schema":{"$ref":"#/components/schemas/CancelledOrders"}}}}}}},
 "/v1/orders/batch":{"post":{"requestBody":{"content":{"application/json":{"schema":{"type":"object","properties":{"orders":{"type":"array","maxItems":1000,"items":{"$ref":"#/components/schemas/NewOrder"}}}}}}},"responses":{"200":{"description":"one result per input, in order: {order, duplicate, fills} or {error}; a client_order_id resend is answered per item as POST /v1/orders answers it (the original order with duplicate true, or the error duplicate_client_order_id)","content":{"application/json":{"schema":{"$ref":"#/components/schemas/BatchResult"}}}}}}},
 "/v1/orders/{id}":{
  "parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}}],
  "get":{"responses":{"200":{"description":"order","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Order"}}}}}},
  "patch":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Amend"}}}},"responses":{"200":{"description":"amended order","content":{"application/json":{"schema":{"oneOf":[{"$ref":"#/components/schemas/Order"},{"$ref":"#/components/schemas/OrderGone"}]}}}},"400":{"description":"invalid_argument, e.g. a quantity not above the filled quantity"}}},
  "delete":{"responses":{"200":{"description":"cancelled order","content":{"application/json":{"schema":{"oneOf":[{"$ref":"#/components/schemas/Order"},{"$ref":"#/components/schemas/OrderGone"}]}}}}}}},
 "/v1/fills":{"get":{"parameters":[{"name":"market","in":"query","schema":{"type":"string"}},{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000,"default":100},"description":"at most this many fills, or one more when the last and the next are the two fills of one self-trade (one trade_id): a page never splits a trade, so paging with after= the last trade_id loses neither"},{"name":"after","in":"query","schema":{"type":"integer"},"description":"only fills with a greater trade_id"}],"responses":{"200":{"description":"the caller's fills","content":{"application/json":{"schema":{"$ref":"#/components/schemas/FillList"}}}}}}},
 "/v1/markets":{"get":{"security":[],"responses":{"200":{"description":"markets with their rules","content":{"application/json":{"schema":{"$ref":"#/components/schemas/MarketList"}}}}}}},
 "/v1/stream":{"get":{"security":[],"summary":"WebSocket streams","description":"Upgrades to a WebSocket (Connection: Upgrade, Upgrade: websocket). Client messages: {\"op\":\"auth\",\"token\":\"...\"}, {\"op\":\"subscribe\"|\"unsubscribe\",\"channels\":[\"book:SYMBOL\",\"trades:SYMBOL\",\"orders\",\"fills\",\"copy\"]} (orders, fills and copy need auth). Server messages: {\"channel\",\"seq\",\"n\",\"data\"} for trades, orders and fills; {\"channel\":\"copy\",\"type\":\"fill\"|\"skipped\"|\"closed\"|\"profit_share\",\"seq\",\"n\",\"data\"} for copy (a follower's mirrored fills, skipped mirrors with their reason, closed relations with the quote returned, profit share paid; a leader's profit share received); {\"channel\",\"type\":\"snapshot\",\"seq\",\"n\",\"depth\",\"bids\",\"asks\"}, then {\"channel\",\"type\":\"delta\",\"seq\",\"n\",\"bids\",\"asks\"} for book (a snapshot holds the top depth levels per side of the latest published view, depth being the server's book depth, istd --book-depth, 50 by default; [price, quantity] pairs; in deltas the new total, \"0\" removes the level; a delta may bring in a level beyond depth); {\"type\":\"subscribed\"|\"unsubscribed\",\"channels\"}, {\"type\":\"authenticated\",\"account_id\"}, {\"type\":\"error\",\"channel\"?,\"error\":{\"code\",\"message\"}} (channel: the one a refused subscribe or unsubscribe named). seq is the sequence number of the engine command a message stems from (for book, of the last command in its view): non-decreasing on a channel, shared by the messages of one command (a sweep's trades and fills, a cancel-all's orders), with gaps: it does not count messages. n does: n starts at 1 on each subscription to a channel and is consecutive on that channel of this connection. After a gap in n (messages lost), resync: unsubscribe and subscribe again (n starts again at 1) and read what was missed over REST; for book, subscribing again while subscribed is enough: it sends a fresh snapshot, n back at 1. Subscribing again to another channel while subscribed is acknowledged and changes nothing. Each connection queues at most 4 MiB of messages for the client; one that reads gets a burst in full. Close codes: 1008 \"slow consumer: send queue full\" (its queue would pass 4 MiB) or \"slow consumer: no progress\" (messages waited 10 s while none could be written); 1008 \"token revoked\" (a token it authenticated with was revoked, also while it authenticates; once the revocation is answered it gets no more messages: reconnect and authenticate with a live token); 1008 \"too many bad messages\" (the tenth bad message or refused channel); 1008 \"rate limited\" (100 client messages in a row refused by the rate limiter, each answered with a rate_limited error and not run; or an upgrade that raced past the cap of streams per client IP); 1009 (a client message over 4 KiB); 1013 \"server overloaded: resubscribe\" (the server dropped messages: reconnect and resubscribe) or \"server overloaded: too many streams\" (an upgrade that raced past the cap of streams); 1001 \"server shutting down\"; a client's own close frame is echoed (its code).","responses":{"101":{"description":"switching protocols to WebSocket"},"400":{"description":"not a WebSocket upgrade","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}},"429":{"description":"rate_limited: over the rate limit, as any request, or too many streams open from the client IP (istd --max-streams-per-ip, 100 by default); retry after Retry-After seconds"},"503":{"description":"unavailable: not ready or shutting down; overloaded: too many streams open (istd --max-streams, 10,000 by default)"}}}},
 "/v1/social/leader":{"put":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/LeaderProfileUpdate"}}}},"responses":{"200":{"description":"the caller's leader profile","content":{"application/json":{"schema":{"$ref":"#/components/schemas/LeaderProfile"}}}},"409":{"description":"follower_cannot_lead"}}}},
 "/v1/social/leaders":{"get":{"security":[],"parameters":[{"name":"sort","in":"query","schema":{"type":"string","enum":["roi","pnl","followers","aum"],"default":"roi"}},{"name":"window","in":"query","schema":{"type":"string","enum":["7d","30d","all"],"default":"30d"}},{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000,"default":100}}],"responses":{"200":{"description":"leaderboard","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Leaderboard"}}}}}}},
 "/v1/social/leaders/{account_id}":{"get":{"security":[],"parameters":[{"name":"account_id","in":"path","required":true,"schema":{"type":"integer"}}],"responses":{"200":{"description":"profile, stats per window, recent trades","content":{"application/json":{"schema":{"$ref":"#/components/schemas/LeaderPage"}}}},"404":{"description":"not a leader"}}}},
 "/v1/social/follows":{
  "post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/NewFollow"}}}},"responses":{"201":{"description":"follow","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Follow"}}}},"404":{"description":"not a leader, unknown asset"},"409":{"description":"leader_cannot_follow, already_following"}}},
  "get":{"responses":{"200":{"description":"the caller's follows (open and closed) with PnL, wallet balances and latest fills; total_allocation, total_nav, total_pnl of the open ones","content":{"application/json":{"schema":{"$ref":"#/components/schemas/FollowList"}}}}}}},
 "/v1/social/follows/{id}":{
  "parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}}],
  "patch":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/AmendFollow"}}}},"responses":{"200":{"description":"amended follow","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Follow"}}}},"404":{"description":"not the caller's follow"}}},
  "delete":{"parameters":[{"name":"close","in":"query","schema":{"type":"string","enum":["market","keep"],"default":"keep"}}],"responses":{"200":{"description":"closed follow; its funds are back in the main balance","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Follow"}}}},"404":{"description":"not the caller's follow"},"409":{"description":"relation_closed"}}}},
 "/v1/social/follows/{id}/pause":{"post":{"parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}}],"responses":{"200":{"description":"paused follow: sells are still mirrored","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Follow"}}}},"404":{"description":"not the caller's follow"}}}},
 "/v1/social/follows/{id}/resume":{"post":{"parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}}],"responses":{"200":{"description":"active follow","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Follow"}}}},"404":{"description":"not the caller's follow"}}}},
 "/v1/social/followers":{"get":{"responses":{"200":{"description":"the open relations following the caller: follow_id, follower_id, follower_name, status, asset, allocation, nav, pnl, profit_share_paid","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Followers"}}}}}}},
 "/v1/admin/settle":{"post":{"parameters":[{"name":"leader_id","in":"query","schema":{"type":"integer"},"description":"only this leader's relations (default all)"}],"responses":{"200":{"description":"sequence, profit_share_payments, profit_share_amount, closed (stop-losses)","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Settlement"}}}}}}},
 "/v1/markets/{symbol}/book":{"get":{"security":[],"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}},{"name":"depth","in":"query","schema":{"type":"integer","minimum":1,"maximum":50,"default":50},"description":"levels per side: at most the server's book depth, 50 unless istd's --book-depth raises it; more is 400 invalid_argument"}],"responses":{"200":{"description":"book","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Book"}}}}}}},
 "/v1/markets/{symbol}/trades":{"get":{"security":[],"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}},{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000,"default":100}}],"responses":{"200":{"description":"recent public trades, newest first","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Trades"}}}},"404":{"description":"unknown market"}}}},
 "/v1/markets/{symbol}/candles":{"get":{"security":[],"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}},{"name":"interval","in":"query","required":true,"schema":{"type":"string","enum":["1m","5m","1h","1d"]}},{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000,"default":100}}],"responses":{"200":{"description":"OHLCV candles, oldest first","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Candles"}}}},"404":{"description":"unknown market"}}}},
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
	"401": "unauthenticated: no bearer token, or an unknown or revoked one (on admin operations too)",
	"403": "forbidden: a user token on an admin operation, the admin token on a user operation, " +
		"or sign-up disabled",
	"404": "not_found: an unknown id, market, asset, account or leader, or another account's order or follow",
	"409": "Conflict with the current state: market_halted, already_exists, ref_conflict, leader_cannot_follow, " +
		"follower_cannot_lead, already_following, relation_closed, too_many_tokens, last_token",
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
