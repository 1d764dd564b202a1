package server

import (
	"strings"
	"testing"
)

// An order the book refuses for a market rule (a price or stop price
// beyond max_price, a quantity beyond max_quantity, a notional below
// min_notional) is told the rule and its value, as GET /v1/markets
// shows them, in a single order, a batch and an amend: "book: invalid
// price" alone did not say that the limit was the market's max_price.
// So is one with a field it cannot have (post_only, display_quantity, a
// fok budget buy without quantity, an amend of a pending stop).
func TestOrderRuleErrors(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	mk := ts.must(200, "GET", "/v1/markets", "", "")["markets"].([]any)[0].(map[string]any)
	maxPrice, maxQty, minN := mk["max_price"].(string), mk["max_quantity"].(string), mk["min_notional"].(string)
	over := "1" + maxPrice // ten times max_price and more, on the tick
	open := ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"0.1"}`)
	sell := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.01"}`)
	stop := ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","type":"stop_limit","stop_price":"70000","price":"70100","quantity":"0.01"}`)
	for _, c := range []struct{ what, token, method, path, body, want string }{
		{"price", bob, "POST", "/v1/orders", `{"market":"BTC-USDT","side":"buy","price":"` + over + `","quantity":"0.0001"}`, "max_price " + maxPrice},
		{"price 0", bob, "POST", "/v1/orders", `{"market":"BTC-USDT","side":"buy","price":"0","quantity":"0.0001"}`, "max_price " + maxPrice},
		{"protection price", alice, "POST", "/v1/orders", `{"market":"BTC-USDT","side":"sell","type":"market","price":"` + over + `","quantity":"0.0001"}`, "max_price " + maxPrice},
		{"stop price", alice, "POST", "/v1/orders", `{"market":"BTC-USDT","side":"sell","type":"stop_market","stop_price":"` + over + `","quantity":"0.0001"}`, "max_price " + maxPrice},
		{"quantity", bob, "POST", "/v1/orders", `{"market":"BTC-USDT","side":"buy","price":"0.01","quantity":"1` + maxQty + `"}`, "max_quantity " + maxQty},
		{"notional", bob, "POST", "/v1/orders", `{"market":"BTC-USDT","side":"buy","price":"1","quantity":"0.0001"}`, "min_notional " + minN},
		{"budget at min_notional", bob, "POST", "/v1/orders", `{"market":"BTC-USDT","side":"buy","type":"market","quote_quantity":"` + minN + `"}`, "quote_quantity less the market's higher fee"},
		{"batch", bob, "POST", "/v1/orders/batch", `{"orders":[{"market":"BTC-USDT","side":"buy","price":"1","quantity":"0.0001"}]}`, "min_notional " + minN},
		{"amend price", alice, "PATCH", "/v1/orders/" + id(sell), `{"price":"` + over + `"}`, "max_price " + maxPrice},
		{"amend notional", bob, "PATCH", "/v1/orders/" + id(open), `{"price":"0.01"}`, "min_notional " + minN},
		{"post_only", bob, "POST", "/v1/orders", `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"0.01","time_in_force":"ioc","post_only":true}`, "post_only is for gtc limit orders"},
		{"display_quantity", bob, "POST", "/v1/orders", `{"market":"BTC-USDT","side":"buy","type":"market","quantity":"0.01","display_quantity":"0.001"}`, "display_quantity is for gtc and gtd limit"},
		{"fok budget", bob, "POST", "/v1/orders", `{"market":"BTC-USDT","side":"buy","type":"market","quote_quantity":"100","time_in_force":"fok"}`, "needs a quantity too"},
		{"amend stop", bob, "PATCH", "/v1/orders/" + id(stop), `{"price":"70200"}`, "cannot be amended before it triggers"},
	} {
		code, out := ts.req(c.method, c.path, c.token, c.body)
		if r, ok := out["results"].([]any); ok && code == 200 {
			out, code = r[0].(map[string]any), 400
		}
		e, _ := out["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if code != 400 || e["code"] != "invalid_argument" || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %v, want 400 invalid_argument naming %s", c.what, code, out, c.want)
		}
	}
	if o := ts.must(200, "GET", "/v1/orders/"+id(open), bob, ""); o["price"] != "100" || o["quantity"] != "0.1" {
		t.Errorf("the open order after refused amends: %v", o)
	}
	if o := ts.must(200, "GET", "/v1/orders/"+id(sell), alice, ""); o["price"] != "70000" {
		t.Errorf("the open sell after a refused amend: %v", o)
	}
}
