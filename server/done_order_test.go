package server

import (
	"strings"
	"testing"
)

// Cancelling or amending one of the caller's own orders that is done
// (filled, cancelled, expired) is 404 not_found, as an unknown order, but
// the message says what the order is: "engine: unknown order" for an
// order GET /v1/orders/{id} shows read as a bug.
func TestDoneOrderCancelAmend(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	sell := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.01"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.01"}`)
	gone := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"66000","quantity":"0.01"}`)
	ts.must(200, "DELETE", "/v1/orders/"+id(gone), alice, "")
	for _, c := range []struct{ method, oid, body, want string }{
		{"DELETE", id(sell), "", "order " + id(sell) + " is filled"},
		{"PATCH", id(sell), `{"quantity":"0.02"}`, "order " + id(sell) + " is filled"},
		{"DELETE", id(gone), "", "order " + id(gone) + " is cancelled"},
		{"PATCH", id(gone), `{"price":"66001"}`, "order " + id(gone) + " is cancelled"},
	} {
		code, out := ts.req(c.method, "/v1/orders/"+c.oid, alice, c.body)
		e, _ := out["error"].(map[string]any)
		if msg, _ := e["message"].(string); code != 404 || e["code"] != "not_found" || !strings.Contains(msg, c.want) {
			t.Errorf("%s order %s: %d %v, want 404 not_found saying %q", c.method, c.oid, code, out, c.want)
		}
	}
	// Another account's order stays unknown, whatever it is.
	for _, m := range []string{"DELETE", "PATCH"} {
		code, out := ts.req(m, "/v1/orders/"+id(sell), bob, `{"quantity":"0.02"}`)
		e, _ := out["error"].(map[string]any)
		if msg, _ := e["message"].(string); code != 404 || strings.Contains(msg, "filled") {
			t.Errorf("%s of another account's order: %d %v", m, code, out)
		}
	}
}
