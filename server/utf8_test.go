package server

import (
	"fmt"
	"strings"
	"testing"
)

// A request body that is not UTF-8 (RFC 8259 requires it) is refused,
// 400 invalid_argument, and changes nothing: a client_order_id or ref
// holding such bytes was taken, stored as sent and shown back with
// U+FFFD in their place, so the id the client reads was not the one it
// sent, and two different ids showed alike.
func TestBodyNotUTF8(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	const order = `{"market":"BTC-USDT","side":"sell","type":"limit","price":"65000","quantity":"0.01","client_order_id":"c-%s"}`
	balances := fmt.Sprint(ts.balances(alice), ts.balances(bob))
	for _, c := range []struct{ what, method, path, token, body, field string }{
		{"order", "POST", "/v1/orders", alice, fmt.Sprintf(order, "\xff"), "client_order_id"},
		{"batch", "POST", "/v1/orders/batch", alice, `{"orders":[` + fmt.Sprintf(order, "1") + `,` + fmt.Sprintf(order, "\xfe\xff") + `]}`, "orders[1].client_order_id"},
		{"deposit", "POST", "/v1/admin/deposits", adminTok, "{\"account_id\":1,\"asset\":\"BTC\",\"amount\":\"1\",\"ref\":\"d-\xff\"}", "ref"},
		{"withdrawal", "POST", "/v1/withdrawals", bob, "{\"asset\":\"USDT\",\"amount\":\"1\",\"ref\":\"w-\xc3\"}", "ref"},
		{"leader", "PUT", "/v1/social/leader", bob, "{\"bio\":\"b\xed\xa0\x80\"}", "bio"}, // a surrogate in UTF-8 form
	} {
		code, out := ts.req(c.method, c.path, c.token, c.body)
		e, _ := out["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if code != 400 || e["code"] != "invalid_argument" || !strings.Contains(msg, c.field+" is not valid UTF-8") {
			t.Errorf("%s: %d %v, want 400 invalid_argument: %s is not valid UTF-8", c.what, code, out, c.field)
		}
	}
	if n := len(ts.must(200, "GET", "/v1/orders", alice, "")["orders"].([]any)); n != 0 {
		t.Errorf("%d orders placed", n)
	}
	if b := fmt.Sprint(ts.balances(alice), ts.balances(bob)); b != balances {
		t.Errorf("balances %s, were %s", b, balances)
	}
	if code, _ := ts.req("GET", "/v1/social/leaders/2", "", ""); code != 404 {
		t.Errorf("bob leads after a refused PUT: %d", code)
	}
	// Valid UTF-8 beyond ASCII is taken as it is.
	out := ts.must(201, "POST", "/v1/orders", alice, fmt.Sprintf(order, "é"))
	if got := out["order"].(map[string]any)["client_order_id"]; got != "c-é" {
		t.Errorf("client_order_id %q, want c-é", got)
	}
}
