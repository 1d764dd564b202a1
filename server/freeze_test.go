package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// accountID returns the id of the token's account.
func (ts *testServer) accountID(token string) uint64 {
	ts.t.Helper()
	return uint64(ts.must(200, "GET", "/v1/account", token, "")["id"].(float64))
}

// frozen returns the frozen field of the token's GET /v1/account.
func (ts *testServer) frozen(token string) any {
	ts.t.Helper()
	return ts.must(200, "GET", "/v1/account", token, "")["frozen"]
}

// cancelledIDs returns the "cancelled" order ids of a freeze's answer.
func cancelledIDs(out map[string]any) []string {
	var ids []string
	for _, v := range out["cancelled"].([]any) {
		ids = append(ids, fmt.Sprint(uint64(v.(float64))))
	}
	return ids
}

// POST /v1/admin/accounts/{id}/freeze cancels the account's open orders
// and pending stops, shows "frozen":true, refuses its orders, withdrawals
// and copy-trading changes with 403 account_frozen, makes its follow skip
// the leader's fills (reason account_frozen), and survives a restart;
// /unfreeze lifts it, the cancelled orders staying cancelled.
func TestAccountFreeze(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, nil)
	alice, bob := ts.setup()
	aid, bid := ts.accountID(alice), ts.accountID(bob)
	cid, carol := ts.signup("carol")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"10000","ref":"d-c"}`, cid))
	ts.must(200, "PUT", "/v1/social/leader", alice, `{}`)
	fid := uint64(ts.must(201, "POST", "/v1/social/follows", bob, fmt.Sprintf(`{"leader_id":%d,"allocation":"100"}`, aid))["id"].(float64))

	o1 := id(ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"50000","quantity":"0.1","client_order_id":"b-1"}`))
	o2 := id(ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"49000","quantity":"0.1"}`))
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"50000","quantity":"0.04"}`) // o1 partly filled
	o3 := id(ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","type":"stop_limit","stop_price":"66000","price":"66500","quantity":"0.01"}`))
	if b := ts.balances(bob)["USDT"]; strings.HasSuffix(b, "/0") {
		t.Fatalf("bob locks nothing before the freeze: %s", b)
	}

	fr := ts.must(200, "POST", fmt.Sprintf("/v1/admin/accounts/%d/freeze", bid), adminTok, "")
	if fr["account_id"] != float64(bid) || fr["frozen"] != true || !slices.Equal(cancelledIDs(fr), []string{o1, o2, o3}) {
		t.Fatalf("freeze answered %v, want orders %s %s %s cancelled", fr, o1, o2, o3)
	}
	for _, o := range []string{o1, o2, o3} {
		if g := ts.must(200, "GET", "/v1/orders/"+o, bob, ""); g["status"] != "cancelled" || g["cancel_reason"] != "account_frozen" {
			t.Fatalf("order %s: %v", o, g)
		}
	}
	if b := ts.balances(bob)["USDT"]; !strings.HasSuffix(b, "/0") {
		t.Fatalf("bob still locks USDT: %s", b)
	}
	if f := ts.frozen(bob); f != true {
		t.Fatalf("GET /v1/account: frozen %v", f)
	}
	if f := ts.frozen(alice); f != false {
		t.Fatalf("alice: frozen %v", f)
	}
	listed := map[float64]any{}
	for _, a := range ts.must(200, "GET", "/v1/admin/accounts", adminTok, "")["accounts"].([]any) {
		a := a.(map[string]any)
		listed[a["id"].(float64)] = a["frozen"]
	}
	if listed[float64(bid)] != true || listed[float64(aid)] != false {
		t.Fatalf("admin account list: frozen %v", listed)
	}
	before := ts.balances(bob)

	// Refused while frozen, changing nothing.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/orders", `{"market":"BTC-USDT","side":"buy","price":"40000","quantity":"0.01"}`},
		{"POST", "/v1/orders", `{"market":"BTC-USDT","side":"sell","type":"market","quantity":"0.01"}`},
		{"POST", "/v1/withdrawals", `{"asset":"USDT","amount":"1","ref":"w-1"}`},
		{"PUT", "/v1/social/leader", `{}`},
		{"POST", fmt.Sprintf("/v1/social/follows/%d/pause", fid), ""},
		{"PATCH", fmt.Sprintf("/v1/social/follows/%d", fid), `{"top_up":"1"}`},
		{"DELETE", fmt.Sprintf("/v1/social/follows/%d", fid), ""},
	} {
		if st, code := ts.errCode(c.method, c.path, bob, c.body); st != 403 || code != "account_frozen" {
			t.Errorf("%s %s: %d %s, want 403 account_frozen", c.method, c.path, st, code)
		}
	}
	batch := ts.must(200, "POST", "/v1/orders/batch", bob, `{"orders":[{"market":"BTC-USDT","side":"buy","price":"40000","quantity":"0.01"}]}`)
	if !strings.Contains(fmt.Sprint(batch), "account_frozen") {
		t.Fatalf("batch: %v", batch)
	}
	if o := ts.must(200, "GET", "/v1/orders?status=open", bob, "")["orders"].([]any); len(o) != 0 {
		t.Fatalf("bob's open orders while frozen: %v", o)
	}
	if b := ts.balances(bob); fmt.Sprint(b) != fmt.Sprint(before) {
		t.Fatalf("refused requests changed bob's balances: %v, were %v", b, before)
	}
	// Still allowed: cancels (of nothing) and deposits.
	ts.must(200, "DELETE", "/v1/orders?market=BTC-USDT", bob, "")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"5","ref":"d-b2"}`, bid))

	// Alice's next fill: bob's follow skips it, with the reason.
	ts.must(201, "POST", "/v1/orders", carol, `{"market":"BTC-USDT","side":"buy","price":"51000","quantity":"0.01"}`)
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"51000","quantity":"0.01"}`)
	evs := ts.must(200, "GET", fmt.Sprintf("/v1/social/events?follow_id=%d&type=skipped", fid), bob, "")["events"].([]any)
	if n := len(evs); n == 0 || evs[n-1].(map[string]any)["reason"] != "account_frozen" {
		t.Fatalf("bob's skipped mirrors: %v, want the last with reason account_frozen", evs)
	}

	// A second freeze changes nothing; errors.
	if fr := ts.must(200, "POST", fmt.Sprintf("/v1/admin/accounts/%d/freeze", bid), adminTok, ""); len(cancelledIDs(fr)) != 0 || fr["frozen"] != true {
		t.Fatalf("second freeze: %v", fr)
	}
	for _, c := range []struct {
		method, path, token string
		status              int
		code                string
	}{
		{"POST", "/v1/admin/accounts/999/freeze", adminTok, 404, "not_found"},
		{"POST", "/v1/admin/accounts/0/freeze", adminTok, 404, "not_found"},
		{"POST", "/v1/admin/accounts/x/unfreeze", adminTok, 400, "invalid_argument"},
		{"POST", fmt.Sprintf("/v1/admin/accounts/%d/freeze", aid), bob, 403, "forbidden"},
		{"POST", fmt.Sprintf("/v1/admin/accounts/%d/freeze", aid), "", 401, "unauthenticated"},
		{"GET", fmt.Sprintf("/v1/admin/accounts/%d/freeze", aid), adminTok, 405, "method_not_allowed"},
	} {
		if st, code := ts.errCode(c.method, c.path, c.token, ""); st != c.status || code != c.code {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, st, code, c.status, c.code)
		}
	}
	if f := ts.frozen(alice); f != false {
		t.Fatalf("alice frozen by a refused request: %v", f)
	}

	// Unfrozen: bob trades again; the cancelled orders stay cancelled.
	if fr := ts.must(200, "POST", fmt.Sprintf("/v1/admin/accounts/%d/unfreeze", bid), adminTok, ""); fr["frozen"] != false || len(cancelledIDs(fr)) != 0 {
		t.Fatalf("unfreeze: %v", fr)
	}
	if f := ts.frozen(bob); f != false {
		t.Fatalf("after the unfreeze: frozen %v", f)
	}
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"40000","quantity":"0.01"}`)
	ts.must(201, "POST", "/v1/withdrawals", bob, `{"asset":"USDT","amount":"1","ref":"w-1"}`)
	if st := ts.must(200, "GET", "/v1/orders/"+o1, bob, "")["status"]; st != "cancelled" {
		t.Fatalf("order %s after the unfreeze: %v", o1, st)
	}

	// Frozen again, across a restart.
	ts.must(200, "POST", fmt.Sprintf("/v1/admin/accounts/%d/freeze", bid), adminTok, "")
	ts.stop()
	ts = start(t, dir, nil)
	if f := ts.frozen(bob); f != true {
		t.Fatalf("after a restart: frozen %v", f)
	}
	if st, code := ts.errCode("POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"40000","quantity":"0.01"}`); st != 403 || code != "account_frozen" {
		t.Fatalf("after a restart: %d %s", st, code)
	}
	ts.must(200, "POST", fmt.Sprintf("/v1/admin/accounts/%d/unfreeze", bid), adminTok, "")
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"40000","quantity":"0.01"}`)
}

// A freeze acknowledged before a crash (SIGKILL, no snapshot or history
// save since) is replayed from the log: after the restart the account is
// frozen, its order cancelled, its balances as they were, its orders
// refused.
func TestCrashAccountFreeze(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd, ts := startChild(t, dir, freeAddr(t))
	defer cmd.Process.Kill()
	_, bob := ts.setup()
	bid := ts.accountID(bob)
	o := id(ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"50000","quantity":"1"}`))
	fr := ts.must(200, "POST", fmt.Sprintf("/v1/admin/accounts/%d/freeze", bid), adminTok, "")
	if !slices.Equal(cancelledIDs(fr), []string{o}) {
		t.Fatalf("freeze: %v", fr)
	}
	want := ts.balances(bob)
	if want["USDT"] != "100000/0" {
		t.Fatalf("bob after the freeze: %v", want)
	}
	killChild(t, cmd, ts)

	ts2 := start(t, dir, nil)
	if f := ts2.frozen(bob); f != true {
		t.Fatalf("after the crash: frozen %v", f)
	}
	if got := ts2.balances(bob); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the crash %v, want %v", got, want)
	}
	if g := ts2.must(200, "GET", "/v1/orders/"+o, bob, ""); g["status"] != "cancelled" || g["cancel_reason"] != "account_frozen" {
		t.Fatalf("bob's order after the crash: %v", g)
	}
	if st, code := ts2.errCode("POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"40000","quantity":"0.01"}`); st != 403 || code != "account_frozen" {
		t.Fatalf("after the crash: %d %s", st, code)
	}
}
