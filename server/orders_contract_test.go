package server

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// A resend of a client_order_id with the original's parameters answers
// 200 with the original order exactly as GET shows it, in its own
// market; with other parameters it answers 409 duplicate_client_order_id
// naming the original and changes nothing. Batch items alike.
func TestClientOrderIDResend(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"ETH-USDT","base":"ETH","quote":"USDT","tick_size":"0.1","lot_size":"0.01"}`)
	body := `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5","client_order_id":"c-1"}`
	orig := ts.must(201, "POST", "/v1/orders", alice, body)["order"].(map[string]any)
	oid := fmt.Sprint(uint64(orig["id"].(float64)))
	balances := ts.balances(alice)

	again := ts.must(200, "POST", "/v1/orders", alice, body)
	if got := ts.must(200, "GET", "/v1/orders/"+oid, alice, ""); !reflect.DeepEqual(again["order"], got) {
		t.Fatalf("identical resend answered %v, GET shows %v", again["order"], got)
	}
	if f := again["fills"].([]any); len(f) != 0 {
		t.Fatalf("resend fills %v", f)
	}
	others := []string{
		`{"market":"ETH-USDT","side":"buy","price":"10","quantity":"1","client_order_id":"c-1"}`,
		`{"market":"ETH-USDT","side":"sell","price":"65000","quantity":"0.5","client_order_id":"c-1"}`,
		`{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.5","client_order_id":"c-1"}`,
		`{"market":"BTC-USDT","side":"sell","price":"65000.01","quantity":"0.5","client_order_id":"c-1"}`,
		`{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.4","client_order_id":"c-1"}`,
		`{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5","time_in_force":"ioc","client_order_id":"c-1"}`,
		`{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5","post_only":true,"client_order_id":"c-1"}`,
		`{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5","stp":"none","client_order_id":"c-1"}`,
		`{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5","display_quantity":"0.1","client_order_id":"c-1"}`,
		`{"market":"BTC-USDT","side":"sell","type":"stop_limit","stop_price":"64000","price":"65000","quantity":"0.5","client_order_id":"c-1"}`,
	}
	for _, b := range others {
		code, out := ts.req("POST", "/v1/orders", alice, b)
		e, _ := out["error"].(map[string]any)
		if code != 409 || e["code"] != "duplicate_client_order_id" || !strings.Contains(fmt.Sprint(e["message"]), "order "+oid) {
			t.Fatalf("resend %s: %d %v", b, code, out)
		}
	}
	// Batch: the same per item.
	res := ts.must(200, "POST", "/v1/orders/batch", alice, `{"orders":[`+body+`,`+others[0]+`]}`)["results"].([]any)
	if got := ts.must(200, "GET", "/v1/orders/"+oid, alice, ""); !reflect.DeepEqual(res[0].(map[string]any)["order"], got) ||
		res[0].(map[string]any)["duplicate"] != true {
		t.Fatalf("batch identical resend %v, GET shows %v", res[0], got)
	}
	if e, _ := res[1].(map[string]any)["error"].(map[string]any); e["code"] != "duplicate_client_order_id" {
		t.Fatalf("batch resend with other parameters: %v", res[1])
	}
	if got := ts.balances(alice); !reflect.DeepEqual(got, balances) {
		t.Fatalf("resends changed balances: %v, then %v", balances, got)
	}
	if n := ts.listLen("/v1/orders", alice, "orders"); n != 1 {
		t.Fatalf("%d orders after resends", n)
	}
	// A done original: the same answers, its status as it is.
	ts.must(200, "DELETE", "/v1/orders/"+oid, alice, "")
	again = ts.must(200, "POST", "/v1/orders", alice, body)
	if o := again["order"].(map[string]any); o["status"] != "cancelled" || fmt.Sprint(uint64(o["id"].(float64))) != oid {
		t.Fatalf("resend of a cancelled order: %v", o)
	}
	if code, ec := ts.errCode("POST", "/v1/orders", alice, others[0]); code != 409 || ec != "duplicate_client_order_id" {
		t.Fatalf("resend of a cancelled order with other parameters: %d %s", code, ec)
	}
}

// An identical resend whose original the engine remembers but the order
// history has dropped cannot be shown: 409 naming the original, never an
// invented order.
func TestClientOrderIDResendBeyondHistory(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, HistoryOrders: 1, HistoryFills: 1})
	alice, _ := ts.setup()
	body := `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5","client_order_id":"gone-1"}`
	first := ts.must(201, "POST", "/v1/orders", alice, body)
	ts.must(200, "DELETE", "/v1/orders/"+id(first), alice, "")
	for range 2 { // two more done orders push it out of the history
		o := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.1"}`)
		ts.must(200, "DELETE", "/v1/orders/"+id(o), alice, "")
	}
	if code, _ := ts.errCode("GET", "/v1/orders/"+id(first), alice, ""); code != 404 {
		t.Fatalf("original still in the history: %d", code)
	}
	for _, path := range []string{"/v1/orders", "/v1/orders/batch"} {
		b := body
		if path == "/v1/orders/batch" {
			b = `{"orders":[` + body + `]}`
		}
		code, out := ts.req("POST", path, alice, b)
		if path == "/v1/orders/batch" && code == 200 {
			out = out["results"].([]any)[0].(map[string]any)
			code = 409
		}
		e, _ := out["error"].(map[string]any)
		if code != 409 || e["code"] != "duplicate_client_order_id" || !strings.Contains(fmt.Sprint(e["message"]), "order "+id(first)) {
			t.Fatalf("%s: resend of a dropped order: %d %v", path, code, out)
		}
	}
}

// PATCH quantity is the order's new total quantity: lowering it below
// the total but above the filled quantity keeps the order with
// remaining = quantity − filled; at or below the filled quantity it is
// refused; price alone keeps the quantity.
func TestAmendTotalQuantity(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	sell := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"1"}`)
	oid := id(sell)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.4"}`)
	check := func(out map[string]any, qty, filled, rem, price string) {
		t.Helper()
		if out["quantity"] != qty || out["filled"] != filled || out["remaining"] != rem || out["price"] != price {
			t.Fatalf("quantity %v filled %v remaining %v price %v, want %s %s %s %s",
				out["quantity"], out["filled"], out["remaining"], out["price"], qty, filled, rem, price)
		}
		if got := ts.must(200, "GET", "/v1/orders/"+oid, alice, ""); !reflect.DeepEqual(got, out) {
			t.Fatalf("PATCH answered %v, GET shows %v", out, got)
		}
	}
	check(ts.must(200, "PATCH", "/v1/orders/"+oid, alice, `{"quantity":"0.8"}`), "0.8", "0.4", "0.4", "65000")
	if got := ts.balances(alice); got["BTC"] != "1.2/0.4" {
		t.Fatalf("alice after amend %v", got)
	}
	for _, q := range []string{"0.4", "0.3"} {
		code, out := ts.req("PATCH", "/v1/orders/"+oid, alice, `{"quantity":"`+q+`"}`)
		e, _ := out["error"].(map[string]any)
		if code != 400 || e["code"] != "invalid_argument" || !strings.Contains(fmt.Sprint(e["message"]), "filled") {
			t.Fatalf("PATCH quantity %s with 0.4 filled: %d %v", q, code, out)
		}
	}
	check(ts.must(200, "GET", "/v1/orders/"+oid, alice, ""), "0.8", "0.4", "0.4", "65000")
	check(ts.must(200, "PATCH", "/v1/orders/"+oid, alice, `{"price":"65100"}`), "0.8", "0.4", "0.4", "65100")
	check(ts.must(200, "PATCH", "/v1/orders/"+oid, alice, `{"quantity":"1.2"}`), "1.2", "0.4", "0.8", "65100")
	check(ts.must(200, "PATCH", "/v1/orders/"+oid, alice, `{"quantity":"0.5","price":"65000"}`), "0.5", "0.4", "0.1", "65000")
}

// A market or stop_market order never rests, so its time_in_force shows
// what applies: ioc, unless it was placed fok; placed gtc (or with none)
// it does not claim to rest. Limit orders show what they were given.
func TestMarketOrderTimeInForce(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"1"}`)
	for _, c := range []struct{ body, want string }{
		{`{"market":"BTC-USDT","side":"buy","type":"market","quantity":"0.01"}`, "ioc"},
		{`{"market":"BTC-USDT","side":"buy","type":"market","quantity":"0.01","time_in_force":"gtc"}`, "ioc"},
		{`{"market":"BTC-USDT","side":"buy","type":"market","quantity":"0.01","time_in_force":"ioc"}`, "ioc"},
		{`{"market":"BTC-USDT","side":"buy","type":"market","quantity":"0.01","time_in_force":"fok"}`, "fok"},
		{`{"market":"BTC-USDT","side":"buy","type":"stop_market","stop_price":"70000","price":"71000","quantity":"0.01"}`, "ioc"},
		{`{"market":"BTC-USDT","side":"buy","type":"stop_limit","stop_price":"70000","price":"71000","quantity":"0.01"}`, "gtc"},
		{`{"market":"BTC-USDT","side":"buy","price":"60000","quantity":"0.01"}`, "gtc"},
		{`{"market":"BTC-USDT","side":"buy","price":"60000","quantity":"0.01","time_in_force":"ioc"}`, "ioc"},
	} {
		o := ts.must(201, "POST", "/v1/orders", bob, c.body)["order"].(map[string]any)
		if o["time_in_force"] != c.want {
			t.Errorf("%s: time_in_force %v, want %s", c.body, o["time_in_force"], c.want)
		}
		got := ts.must(200, "GET", fmt.Sprintf("/v1/orders/%d", uint64(o["id"].(float64))), bob, "")
		if got["time_in_force"] != c.want {
			t.Errorf("%s: GET shows time_in_force %v, want %s", c.body, got["time_in_force"], c.want)
		}
	}
}
