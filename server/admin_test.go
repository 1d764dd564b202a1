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
