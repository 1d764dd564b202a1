package server

import (
	"fmt"
	"testing"
)

// GET /v1/admin/accounts tells user accounts from copy wallets: kind, and
// for a wallet its relation and owner.
func TestAdminAccountsKind(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	ts.must(201, "POST", "/v1/admin/deposits", adminTok,
		fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"1000","ref":"d-1"}`, fid))
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"display_name":"Lea"}`)
	f := ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"100"}`, lid))
	rel, wallet := f["id"].(float64), f["wallet_account_id"].(float64)
	accts := ts.must(200, "GET", "/v1/admin/accounts", adminTok, "")["accounts"].([]any)
	seen := 0
	for _, a := range accts {
		a := a.(map[string]any)
		switch a["id"] {
		case float64(lid), float64(fid):
			seen++
			if a["kind"] != "user" || a["relation_id"] != nil || a["owner_id"] != nil {
				t.Errorf("user account %v", a)
			}
		case wallet:
			seen++
			if a["kind"] != "copy_wallet" || a["relation_id"] != rel || a["owner_id"] != float64(fid) || a["name"] != "" {
				t.Errorf("copy wallet %v: want relation %v, owner %d", a, rel, fid)
			}
			if b := a["balances"].([]any); len(b) != 1 || b[0].(map[string]any)["available"] != "100" {
				t.Errorf("copy wallet balances %v", b)
			}
		default:
			if a["kind"] != "user" {
				t.Errorf("account %v", a)
			}
		}
	}
	if seen != 3 {
		t.Fatalf("accounts %v: leader, follower and wallet not all listed", accts)
	}
}

// A market creation the engine would refuse changes nothing: no asset is
// created for it (a deposit of its base or quote is 404 as for any
// unknown asset) and the market list stays as it was.
func TestCreateMarketRefusedCreatesNoAsset(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	ts.setup()
	aid, _ := ts.signup("carol")
	before := fmt.Sprint(ts.must(200, "GET", "/v1/markets", "", "")["markets"])
	for _, tc := range []struct{ body, base, quote string }{
		// ceil(min_notional / quote scale) overflowed to a negative minimum.
		{`{"symbol":"XRP-USDC","base":"XRP","quote":"USDC","tick_size":"0.01","lot_size":"0.0001","min_notional":"92233720368.54775807"}`, "XRP", "USDC"},
		// min_notional above the largest notional the market allows.
		{`{"symbol":"XRP-USDC","base":"XRP","quote":"USDC","tick_size":"0.01","lot_size":"0.0001","min_notional":"1000","max_price":"10","max_quantity":"10"}`, "XRP", "USDC"},
		// max_price × max_quantity beyond the engine's overflow budget.
		{`{"symbol":"DOGE-EUR","base":"DOGE","quote":"EUR","tick_size":"0.01","lot_size":"0.0001","max_price":"1000000000","max_quantity":"1000000000"}`, "DOGE", "EUR"},
		// one bound so large the other would be 0 (no limit).
		{`{"symbol":"DOGE-EUR","base":"DOGE","quote":"EUR","tick_size":"0.01","lot_size":"0.0001","max_quantity":"900000000000000"}`, "DOGE", "EUR"},
		// tick × lot so large no price × quantity fits the budget.
		{`{"symbol":"ADA-GBP","base":"ADA","quote":"GBP","tick_size":"90000000000","lot_size":"1"}`, "ADA", "GBP"},
		// a valid base but a quote no asset may be named.
		{`{"symbol":"SOL-B-C","base":"SOL","quote":"B-C","tick_size":"0.01","lot_size":"0.0001"}`, "SOL", ""},
	} {
		if code, out := ts.req("POST", "/v1/admin/markets", adminTok, tc.body); code != 400 || fmt.Sprint(out["error"]) == "" ||
			out["error"].(map[string]any)["code"] != "invalid_argument" {
			t.Errorf("%s: %d %v, want 400 invalid_argument", tc.body, code, out)
		}
		for _, a := range []string{tc.base, tc.quote} {
			if a == "" {
				continue
			}
			if code, out := ts.req("POST", "/v1/admin/deposits", adminTok,
				fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":"1","ref":"d-%s"}`, aid, a, a)); code != 404 {
				t.Errorf("after %s: deposit of %s: %d %v, want 404 as for an unknown asset", tc.body, a, code, out)
			}
		}
	}
	if code, ec := ts.errCode("POST", "/v1/admin/deposits", adminTok,
		fmt.Sprintf(`{"account_id":%d,"asset":"QQQ","amount":"1","ref":"d-QQQ"}`, aid)); code != 404 {
		t.Errorf("deposit of QQQ: %d %s", code, ec)
	}
	if after := fmt.Sprint(ts.must(200, "GET", "/v1/markets", "", "")["markets"]); after != before {
		t.Errorf("markets changed:\n%s\n%s", before, after)
	}
	// The same market with sane bounds is created.
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"XRP-USDC","base":"XRP","quote":"USDC","tick_size":"0.01","lot_size":"0.0001","min_notional":"1"}`)
}
