package server

import (
	"fmt"
	"strings"
	"testing"
)

// secErr returns a request's status, error code and message with every
// occurrence of the given ids replaced by "N", so that the answers about
// another account's object and about a missing one can be compared.
func (ts *testServer) secErr(method, path, token, body string, ids ...string) string {
	ts.t.Helper()
	code, out := ts.req(method, path, token, body)
	e, _ := out["error"].(map[string]any)
	msg := fmt.Sprintf("%d %v %v", code, e["code"], e["message"])
	for _, id := range ids {
		msg = strings.ReplaceAll(msg, id, "N")
	}
	return msg
}

// TestSecReviewOrderIsolation: another account's orders, open or done,
// cannot be read, amended or cancelled, and the answers are those of an
// order that does not exist; lists, fills, cancel-all and client order
// ids are per account.
func TestSecReviewOrderIsolation(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	open := id(ts.must(201, "POST", "/v1/orders", alice,
		`{"market":"BTC-USDT","side":"sell","type":"limit","price":"70000","quantity":"0.5","client_order_id":"a-1"}`))
	done := id(ts.must(201, "POST", "/v1/orders", alice,
		`{"market":"BTC-USDT","side":"sell","type":"limit","price":"60000","quantity":"0.1","client_order_id":"a-2"}`))
	ts.must(201, "POST", "/v1/orders", bob,
		`{"market":"BTC-USDT","side":"buy","type":"limit","price":"60000","quantity":"0.1","client_order_id":"b-1"}`)
	missing := "999999"
	for _, c := range []struct{ method, body string }{
		{"GET", ""}, {"DELETE", ""}, {"PATCH", `{"quantity":"0.2"}`}, {"PATCH", `{"price":"65000"}`},
	} {
		want := ts.secErr(c.method, "/v1/orders/"+missing, bob, c.body, missing)
		for _, oid := range []string{open, done} {
			if got := ts.secErr(c.method, "/v1/orders/"+oid, bob, c.body, oid); got != want {
				t.Errorf("%s another's order %s: %s; a missing one: %s", c.method, oid, got, want)
			}
		}
	}
	// Alice's open order is untouched.
	o := ts.must(200, "GET", "/v1/orders/"+open, alice, "")
	if o["status"] != "open" || o["quantity"] != "0.5" || o["price"] != "70000" {
		t.Fatalf("alice's order changed: %v", o)
	}
	// Lists and fills.
	for _, q := range []string{"", "?after=0", "?status=open", "?status=done", "?market=BTC-USDT&limit=1000"} {
		out := ts.must(200, "GET", "/v1/orders"+q, bob, "")
		for _, x := range out["orders"].([]any) {
			if x.(map[string]any)["account_id"] != ts.must(200, "GET", "/v1/account", bob, "")["id"] {
				t.Fatalf("bob lists %v", x)
			}
		}
	}
	// Cancel-all of bob's leaves alice's order.
	ts.must(200, "DELETE", "/v1/orders?market=BTC-USDT", bob, "")
	if o := ts.must(200, "GET", "/v1/orders/"+open, alice, ""); o["status"] != "open" {
		t.Fatalf("bob's cancel-all: %v", o)
	}
	// Alice's client order id is bob's to use: a new order of bob's, not
	// alice's.
	out := ts.must(201, "POST", "/v1/orders", bob,
		`{"market":"BTC-USDT","side":"buy","type":"limit","price":"100","quantity":"0.1","client_order_id":"a-1"}`)
	if id(out) == open {
		t.Fatalf("bob's a-1 is alice's order")
	}
	out = ts.must(200, "POST", "/v1/orders/batch", bob,
		`{"orders":[{"market":"BTC-USDT","side":"buy","type":"limit","price":"100","quantity":"0.1","client_order_id":"a-2"}]}`)
	r := out["results"].([]any)[0].(map[string]any)
	if o, _ := r["order"].(map[string]any); o == nil || fmt.Sprint(o["id"]) == done || r["duplicate"] == true {
		t.Fatalf("bob's batch a-2: %v", r)
	}
}

// TestSecReviewFollowIsolation: another account's follow cannot be
// paused, resumed, amended, closed or paged, and the answers are those of
// a follow that does not exist, open or closed.
func TestSecReviewFollowIsolation(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)
	lid, lead := ts.signup("lea")
	fid, fol := ts.signup("fred")
	cid, carol := ts.signup("carol")
	for _, a := range []uint64{lid, fid, cid} {
		ts.must(201, "POST", "/v1/admin/deposits", adminTok,
			fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"5000","ref":"d-%d"}`, a, a))
	}
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":1000}`)
	f := ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"1000"}`, lid))
	openID := fmt.Sprint(uint64(f["id"].(float64)))
	f = ts.must(201, "POST", "/v1/social/follows", carol, fmt.Sprintf(`{"leader_id":%d,"allocation":"1000"}`, lid))
	closedID := fmt.Sprint(uint64(f["id"].(float64)))
	ts.must(200, "DELETE", "/v1/social/follows/"+closedID, carol, "")
	// fred follows no more: carol's closed follow is fred's target too.
	missing := "99999"
	for _, c := range []struct{ method, suffix, body string }{
		{"POST", "/pause", ""}, {"POST", "/resume", ""}, {"DELETE", "", ""}, {"DELETE", "?close=market", ""},
		{"PATCH", "", `{"slippage_bps":100}`}, {"PATCH", "", `{"top_up":"1"}`}, {"GET", "/fills", ""},
	} {
		path := func(id string) string {
			if strings.HasPrefix(c.suffix, "?") {
				return "/v1/social/follows/" + id + c.suffix
			}
			return "/v1/social/follows/" + id + c.suffix
		}
		for _, tc := range []struct {
			tok, id string
		}{{carol, openID}, {fol, closedID}} {
			want := ts.secErr(c.method, path(missing), tc.tok, c.body, missing)
			if got := ts.secErr(c.method, path(tc.id), tc.tok, c.body, tc.id); got != want {
				t.Errorf("%s %s of another: %s; of none: %s", c.method, path(tc.id), got, want)
			}
		}
	}
	fs := ts.follows(fol)
	if len(fs) != 1 || fs[mustU(openID)]["status"] != "active" || fs[mustU(openID)]["slippage_bps"] != 50.0 {
		t.Fatalf("fred's follow changed: %v", fs)
	}
	// Events filtered by another's follow id: none.
	out := ts.must(200, "GET", "/v1/social/events?follow_id="+openID, carol, "")
	if n := len(out["events"].([]any)); n != 0 {
		t.Fatalf("carol sees %d events of fred's follow", n)
	}
	// Carol's follows list holds only hers.
	for id := range ts.follows(carol) {
		if fmt.Sprint(id) != closedID {
			t.Fatalf("carol lists follow %d", id)
		}
	}
}

func mustU(s string) uint64 {
	var v uint64
	fmt.Sscan(s, &v)
	return v
}

// TestSecReviewTokenIsolation: another account's token id cannot be
// revoked, and the answer is that of a token that does not exist.
func TestSecReviewTokenIsolation(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	_, alice := ts.signup("alice")
	_, bob := ts.signup("bob")
	ts.must(201, "POST", "/v1/tokens", alice, "")
	ids, _ := tokenIDs(t, ts.must(200, "GET", "/v1/tokens", alice, ""))
	ts.must(201, "POST", "/v1/tokens", bob, "")
	for _, tid := range ids {
		s := fmt.Sprint(tid)
		want := ts.secErr("DELETE", "/v1/tokens/99999", bob, "", "99999")
		if got := ts.secErr("DELETE", "/v1/tokens/"+s, bob, "", s); got != want {
			t.Errorf("revoke another's token: %s; a missing one: %s", got, want)
		}
	}
	if got, _ := tokenIDs(t, ts.must(200, "GET", "/v1/tokens", alice, "")); len(got) != len(ids) {
		t.Fatalf("alice's tokens %v, were %v", got, ids)
	}
}
