package server

import "github.com/valyala/fasthttp"

// openAPI is the OpenAPI 3 description of the endpoints istd serves.
const openAPI = `{"openapi":"3.0.3",
"info":{"title":"ist","version":"v1","description":"ist matching engine HTTP API. Prices, quantities and amounts are decimal strings; every asset has 8 decimal places."},
"components":{
 "securitySchemes":{"bearer":{"type":"http","scheme":"bearer"}},
 "schemas":{
  "Error":{"type":"object","properties":{"error":{"type":"object","properties":{"code":{"type":"string"},"message":{"type":"string"}}}}},
  "Balance":{"type":"object","properties":{"asset":{"type":"string"},"available":{"type":"string"},"locked":{"type":"string"}}},
  "Account":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},"balances":{"type":"array","items":{"$ref":"#/components/schemas/Balance"}}}},
  "Market":{"type":"object","properties":{"id":{"type":"integer"},"symbol":{"type":"string"},"base":{"type":"string"},"quote":{"type":"string"},"tick_size":{"type":"string"},"lot_size":{"type":"string"},"min_notional":{"type":"string"},"maker_fee_bps":{"type":"integer"},"taker_fee_bps":{"type":"integer"},"halted":{"type":"boolean"}}},
  "NewMarket":{"type":"object","required":["symbol","base","quote","tick_size","lot_size"],"properties":{"symbol":{"type":"string"},"base":{"type":"string"},"quote":{"type":"string"},"tick_size":{"type":"string"},"lot_size":{"type":"string"},"min_notional":{"type":"string"},"maker_fee_bps":{"type":"integer"},"taker_fee_bps":{"type":"integer"}}},
  "Transfer":{"type":"object","required":["asset","amount","ref"],"properties":{"account_id":{"type":"integer"},"asset":{"type":"string"},"amount":{"type":"string"},"ref":{"type":"string","maxLength":36}}},
  "NewOrder":{"type":"object","required":["market","side"],"properties":{"market":{"type":"string"},"side":{"enum":["buy","sell"]},"type":{"enum":["limit","market","stop_market","stop_limit"]},"price":{"type":"string"},"quantity":{"type":"string"},"quote_quantity":{"type":"string"},"stop_price":{"type":"string"},"display_quantity":{"type":"string"},"time_in_force":{"enum":["gtc","ioc","fok"]},"post_only":{"type":"boolean"},"client_order_id":{"type":"string","maxLength":36},"stp":{"enum":["cancel_taker","cancel_maker","cancel_both","none"]}}},
  "Amend":{"type":"object","properties":{"price":{"type":"string"},"quantity":{"type":"string","description":"new open (remaining) quantity"}}},
  "Order":{"type":"object","properties":{"id":{"type":"integer"},"client_order_id":{"type":"string"},"account_id":{"type":"integer"},"market":{"type":"string"},"side":{"type":"string"},"type":{"type":"string"},"price":{"type":"string"},"stop_price":{"type":"string"},"quantity":{"type":"string"},"quote_quantity":{"type":"string"},"filled":{"type":"string"},"remaining":{"type":"string"},"avg_price":{"type":"string","nullable":true},"status":{"enum":["open","partially_filled","filled","cancelled","rejected","expired"]},"time_in_force":{"type":"string"},"post_only":{"type":"boolean"},"stp":{"type":"string"},"created_at":{"type":"string","format":"date-time"},"updated_at":{"type":"string","format":"date-time"}}},
  "Fill":{"type":"object","properties":{"trade_id":{"type":"integer"},"order_id":{"type":"integer"},"market":{"type":"string"},"side":{"type":"string"},"price":{"type":"string"},"quantity":{"type":"string"},"fee":{"type":"string"},"fee_asset":{"type":"string"},"liquidity":{"enum":["maker","taker"]},"time":{"type":"string","format":"date-time"}}},
  "Book":{"type":"object","properties":{"market":{"type":"string"},"sequence":{"type":"integer"},"bids":{"type":"array","items":{"type":"array","items":{"type":"string"}}},"asks":{"type":"array","items":{"type":"array","items":{"type":"string"}}}}},
  "Trade":{"type":"object","properties":{"id":{"type":"integer","description":"sequence × 65536 + event index, as trade_id of fills"},"price":{"type":"string"},"quantity":{"type":"string"},"side":{"enum":["buy","sell"],"description":"the taker's side"},"time":{"type":"string","format":"date-time"}}},
  "Trades":{"type":"object","properties":{"market":{"type":"string"},"trades":{"type":"array","description":"newest first","items":{"$ref":"#/components/schemas/Trade"}}}},
  "Candle":{"type":"object","properties":{"start":{"type":"string","format":"date-time"},"open":{"type":"string"},"high":{"type":"string"},"low":{"type":"string"},"close":{"type":"string"},"volume":{"type":"string","description":"base quantity"},"quote_volume":{"type":"string"},"trades":{"type":"integer"}}},
  "Candles":{"type":"object","properties":{"market":{"type":"string"},"interval":{"enum":["1m","5m","1h","1d"]},"candles":{"type":"array","description":"oldest first; only intervals with trades","items":{"$ref":"#/components/schemas/Candle"}}}},
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
 "/v1/tokens":{"post":{"responses":{"201":{"description":"id, account_id, token"}}}},
 "/v1/tokens/{id}":{"delete":{"parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}}],"responses":{"200":{"description":"revoked"}}}},
 "/v1/withdrawals":{"post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Transfer"}}}},"responses":{"201":{"description":"withdrawn"},"200":{"description":"ref already used"}}}},
 "/v1/admin/markets":{"post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/NewMarket"}}}},"responses":{"201":{"description":"market","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Market"}}}}}}},
 "/v1/admin/deposits":{"post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Transfer"}}}},"responses":{"201":{"description":"deposited"},"200":{"description":"ref already used"}}}},
 "/v1/admin/markets/{symbol}/halt":{"post":{"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}}],"responses":{"200":{"description":"halted"}}}},
 "/v1/admin/markets/{symbol}/resume":{"post":{"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}}],"responses":{"200":{"description":"resumed"}}}},
 "/v1/admin/accounts":{"get":{"parameters":[{"name":"limit","in":"query","schema":{"type":"integer"}},{"name":"after","in":"query","schema":{"type":"integer"}}],"responses":{"200":{"description":"accounts with balances"}}}},
 "/v1/admin/backup":{"post":{"requestBody":{"content":{"application/json":{"schema":{"type":"object","properties":{"to":{"type":"string"}}}}}},"responses":{"201":{"description":"online backup written"}}}},
 "/v1/orders":{
  "post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/NewOrder"}}}},"responses":{"201":{"description":"order and its fills"},"200":{"description":"client_order_id already used: the original order"}}},
  "get":{"parameters":[{"name":"market","in":"query","schema":{"type":"string"}},{"name":"status","in":"query","schema":{"enum":["open","done"]}},{"name":"limit","in":"query","schema":{"type":"integer"}},{"name":"after","in":"query","schema":{"type":"integer"}}],"responses":{"200":{"description":"orders"}}},
  "delete":{"parameters":[{"name":"market","in":"query","required":true,"schema":{"type":"string"}}],"responses":{"200":{"description":"ids of the cancelled orders"}}}},
 "/v1/orders/batch":{"post":{"requestBody":{"content":{"application/json":{"schema":{"type":"object","properties":{"orders":{"type":"array","maxItems":1000,"items":{"$ref":"#/components/schemas/NewOrder"}}}}}}},"responses":{"200":{"description":"one result per input, in order: {order, duplicate, fills} or {error}"}}}},
 "/v1/orders/{id}":{
  "parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"integer"}}],
  "get":{"responses":{"200":{"description":"order","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Order"}}}}}},
  "patch":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Amend"}}}},"responses":{"200":{"description":"amended order"}}},
  "delete":{"responses":{"200":{"description":"cancelled order"}}}},
 "/v1/fills":{"get":{"parameters":[{"name":"market","in":"query","schema":{"type":"string"}},{"name":"limit","in":"query","schema":{"type":"integer"}},{"name":"after","in":"query","schema":{"type":"integer"}}],"responses":{"200":{"description":"fills"}}}},
 "/v1/markets":{"get":{"security":[],"responses":{"200":{"description":"markets"}}}},
 "/v1/stream":{"get":{"security":[],"summary":"WebSocket streams","description":"Upgrades to a WebSocket (Connection: Upgrade, Upgrade: websocket). Client messages: {\"op\":\"auth\",\"token\":\"...\"}, {\"op\":\"subscribe\"|\"unsubscribe\",\"channels\":[\"book:SYMBOL\",\"trades:SYMBOL\",\"orders\",\"fills\"]} (orders and fills need auth; copy is not available yet). Server messages: {\"channel\",\"seq\",\"n\",\"data\"} for trades, orders and fills; {\"channel\",\"type\":\"snapshot\"|\"delta\",\"seq\",\"n\",\"bids\",\"asks\"} for book ([price, quantity] pairs; in deltas the new total, \"0\" removes the level); {\"type\":\"subscribed\"|\"unsubscribed\",\"channels\"}, {\"type\":\"authenticated\",\"account_id\"}, {\"type\":\"error\",\"error\":{\"code\",\"message\"}}. seq is the engine sequence number (non-decreasing per channel); n counts each channel's messages from 1: a gap means resubscribe. Slow consumers are closed (1008).","responses":{"101":{"description":"switching protocols to WebSocket"},"400":{"description":"not a WebSocket upgrade","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}},"503":{"description":"shutting down"}}}},
 "/v1/markets/{symbol}/book":{"get":{"security":[],"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}},{"name":"depth","in":"query","schema":{"type":"integer"}}],"responses":{"200":{"description":"book","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Book"}}}}}}},
 "/v1/markets/{symbol}/trades":{"get":{"security":[],"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}},{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000,"default":100}}],"responses":{"200":{"description":"recent public trades, newest first","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Trades"}}}},"404":{"description":"unknown market"}}}},
 "/v1/markets/{symbol}/candles":{"get":{"security":[],"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}},{"name":"interval","in":"query","required":true,"schema":{"enum":["1m","5m","1h","1d"]}},{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000,"default":100}}],"responses":{"200":{"description":"OHLCV candles, oldest first","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Candles"}}}},"404":{"description":"unknown market"}}}},
 "/v1/markets/{symbol}/ticker":{"get":{"security":[],"parameters":[{"name":"symbol","in":"path","required":true,"schema":{"type":"string"}}],"responses":{"200":{"description":"last price, best bid and ask, 24-hour statistics","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Ticker"}}}},"404":{"description":"unknown market"}}}}
}}`

func serveOpenAPI(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, 200, []byte(openAPI))
}
