package server

import (
	"fmt"
	"strings"
	"testing"
)

// Deposit refs are one namespace for the whole exchange: a deposit
// pipeline keyed by a bank transfer id that retries with a corrected
// account must not credit twice. A reuse for another account is 409
// ref_conflict and credits nothing; an identical resend is 200 with
// "duplicate":true.
func TestDepositRefOtherAccount(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	ts.setup()
	cid, carol := ts.signup("carol")
	did, dave := ts.signup("dave")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"100","ref":"bank-1"}`, cid))
	code, out := ts.req("POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"100","ref":"bank-1"}`, did))
	if e, _ := out["error"].(map[string]any); code != 409 || e["code"] != "ref_conflict" {
		t.Errorf("ref bank-1 again, for another account: %d %v (carol %v, dave %v)", code, out, ts.balances(carol), ts.balances(dave))
	}
	if out := ts.must(200, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"100","ref":"bank-1"}`, cid)); out["duplicate"] != true {
		t.Errorf("identical resend: %v, want duplicate true", out)
	}
	if b := ts.balances(carol)["USDT"]; b != "100/0" {
		t.Errorf("carol USDT %s, want 100/0", b)
	}
	if b, ok := ts.balances(dave)["USDT"]; ok && b != "0/0" {
		t.Errorf("dave USDT %s, want nothing", b)
	}
}

// A user's withdrawal ref does not block the admin's deposit with the
// same ref to that user: withdrawal refs are per account and apart from
// deposit refs.
func TestWithdrawalRefBlocksDeposit(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	ts.setup()
	cid, carol := ts.signup("carol")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"100","ref":"d-1"}`, cid))
	ts.must(201, "POST", "/v1/withdrawals", carol, `{"asset":"USDT","amount":"1","ref":"d-2"}`)
	if code, out := ts.req("POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"50","ref":"d-2"}`, cid)); code != 201 {
		t.Errorf("deposit d-2 after carol's withdrawal d-2: %d %v", code, out)
	}
	// And the reverse: a withdrawal may take a deposit's ref.
	if code, out := ts.req("POST", "/v1/withdrawals", carol, `{"asset":"USDT","amount":"1","ref":"d-1"}`); code != 201 {
		t.Errorf("withdrawal d-1 after the deposit d-1: %d %v", code, out)
	}
	if b := ts.balances(carol)["USDT"]; b != "148/0" {
		t.Errorf("carol USDT %s, want 148/0", b)
	}
}

// A ref or client_order_id holding a NUL character (which an engine.Ref
// cannot hold: it pads with zeros) is refused for what it is, not as
// one over 36 bytes, and changes nothing.
func TestRefNUL(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	before := fmt.Sprint(ts.balances(alice), ts.balances(bob))
	for _, c := range []struct{ method, path, token, body, field string }{
		{"POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"BTC","amount":"1","ref":"\u0000"}`, "ref"},
		{"POST", "/v1/withdrawals", bob, `{"asset":"USDT","amount":"1","ref":"w-\u0000"}`, "ref"},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.01","client_order_id":"c\u0000"}`, "client_order_id"},
	} {
		code, out := ts.req(c.method, c.path, c.token, c.body)
		e, _ := out["error"].(map[string]any)
		if msg, _ := e["message"].(string); code != 400 || !strings.Contains(msg, c.field+" must not hold a NUL character") {
			t.Errorf("%s %s: %d %v, want 400 naming the NUL in %s", c.method, c.body, code, out, c.field)
		}
	}
	if after := fmt.Sprint(ts.balances(alice), ts.balances(bob)); after != before {
		t.Errorf("balances %s, were %s", after, before)
	}
}

// A deposit to no user account (unknown, the fee account, a copy wallet)
// is 404 naming the account, and credits nothing.
func TestDepositNoUserAccount(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	ts.setup()
	lid, lead := ts.signup("lea")
	ts.must(200, "PUT", "/v1/social/leader", lead, `{}`)
	fid, fol := ts.signup("fol")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"100","ref":"d-f"}`, fid))
	f := ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"10"}`, lid))
	wallet := uint64(f["wallet_account_id"].(float64))
	for _, acct := range []uint64{999, 0, wallet} {
		code, out := ts.req("POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"1","ref":"d-%d"}`, acct, acct))
		e, _ := out["error"].(map[string]any)
		if msg, _ := e["message"].(string); code != 404 || msg != fmt.Sprintf("no user account %d", acct) {
			t.Errorf("deposit to %d: %d %v, want 404 no user account %d", acct, code, out, acct)
		}
	}
	if b := ts.must(200, "GET", "/v1/social/follows", fol, "")["follows"].([]any)[0].(map[string]any)["balances"]; fmt.Sprint(b) != "[map[asset:USDT available:10 locked:0]]" {
		t.Errorf("wallet balances %v", b)
	}
}
