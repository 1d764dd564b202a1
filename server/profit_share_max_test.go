package server

import (
	"fmt"
	"strings"
	"testing"
)

// A follower's max_profit_share_bps ("terms accepted"): the follower saw
// 10% on the leaderboard, the leader raised its rate to 50% before the
// follow landed; with max 1000 the follow is refused (409
// profit_share_above_max), no follow is opened and no funds move; with
// max 5000 it opens at 50%.
func TestFollowMaxProfitShare(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	ts.must(201, "POST", "/v1/admin/deposits", adminTok,
		fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"1000","ref":"d-%d"}`, fid, fid))
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"display_name":"Lea","profit_share_bps":1000}`)
	seen := ""
	for _, r := range ts.must(200, "GET", "/v1/social/leaders?window=all", "", "")["leaders"].([]any) {
		if r := r.(map[string]any); r["account_id"] == float64(lid) {
			seen = fmt.Sprint(r["profit_share_bps"])
		}
	}
	if seen != "1000" {
		t.Fatalf("leaderboard shows profit_share_bps %q, want 1000", seen)
	}
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":5000}`)

	body := func(max int) string {
		return fmt.Sprintf(`{"leader_id":%d,"allocation":"400","max_profit_share_bps":%d}`, lid, max)
	}
	code, out := ts.req("POST", "/v1/social/follows", fol, body(1000))
	e, _ := out["error"].(map[string]any)
	if code != 409 || e["code"] != "profit_share_above_max" {
		t.Fatalf("follow with max 1000, leader at 5000: %d %v, want 409 profit_share_above_max", code, out)
	}
	if msg, _ := e["message"].(string); !strings.Contains(msg, "max_profit_share_bps 1000") || strings.Contains(msg, "engine: ") {
		t.Errorf("message %q does not say which maximum, or shows the engine's prefix", msg)
	}
	if n := len(ts.follows(fol)); n != 0 {
		t.Fatalf("%d follows after the refused one", n)
	}
	if a := ts.available(fol, "USDT"); a != "1000" {
		t.Fatalf("follower's USDT available %s after the refused follow, want 1000", a)
	}
	if c, _ := ts.errCode("POST", "/v1/social/follows", fol, body(5001)); c != 400 {
		t.Errorf("max_profit_share_bps 5001: status %d, want 400", c)
	}

	f := ts.must(201, "POST", "/v1/social/follows", fol, body(5000))
	if f["profit_share_bps"] != float64(5000) {
		t.Fatalf("follow with max 5000: profit_share_bps %v, want 5000", f["profit_share_bps"])
	}
	if a := ts.available(fol, "USDT"); a != "600" {
		t.Fatalf("follower's USDT available %s after the follow, want 600", a)
	}
}
