package server

import (
	"fmt"
	"testing"
)

// Each follow shows the profit share rate it pays (profit_share_bps):
// the leader's rate when the follow was made, lowered by the leader's
// later cuts, never raised; the leader's profile shows the rate of new
// follows; a settlement takes each follow's own rate.
func TestSocialRatePerFollow(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	gid, gus := ts.signup("gus")
	mid, maker := ts.signup("mo")
	xid, buyer := ts.signup("xavier")
	ts.deposits(lid, "USDT", "1000", fid, "USDT", "1000", gid, "USDT", "1000", mid, "BTC", "20", xid, "USDT", "1000")

	// rate returns the profit_share_bps of follow id in every answer
	// that shows it: GET /v1/social/follows (its follower's token) and
	// the leader's GET /v1/social/followers.
	rate := func(tok string, id uint64) float64 {
		t.Helper()
		f := ts.follows(tok)[id]
		got, _ := f["profit_share_bps"].(float64)
		for _, r := range ts.must(200, "GET", "/v1/social/followers", lead, "")["followers"].([]any) {
			r := r.(map[string]any)
			if uint64(r["follow_id"].(float64)) == id && r["profit_share_bps"] != f["profit_share_bps"] {
				t.Errorf("follow %d: followers row profit_share_bps %v, follows %v", id, r["profit_share_bps"], f["profit_share_bps"])
			}
		}
		return got
	}
	// setRate sets the leader's rate, and checks PUT and GET answer it
	// as the profile's (the rate of new follows).
	setRate := func(bps int) {
		t.Helper()
		out := ts.must(200, "PUT", "/v1/social/leader", lead, fmt.Sprintf(`{"profit_share_bps":%d}`, bps))
		got := ts.must(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", lid), "", "")
		if out["profit_share_bps"] != float64(bps) || got["profit_share_bps"] != float64(bps) {
			t.Fatalf("leader rate %d: PUT answered %v, GET %v", bps, out["profit_share_bps"], got["profit_share_bps"])
		}
	}
	follow := func(tok string) uint64 {
		t.Helper()
		out := ts.must(201, "POST", "/v1/social/follows", tok, fmt.Sprintf(`{"leader_id":%d,"allocation":"1000"}`, lid))
		if _, ok := out["profit_share_bps"].(float64); !ok {
			t.Fatalf("POST follow: no profit_share_bps: %v", out)
		}
		return uint64(out["id"].(float64))
	}

	setRate(1000)
	fred := follow(fol)
	if r := rate(fol, fred); r != 1000 {
		t.Fatalf("fred followed at 10%%: shows %v", r)
	}
	setRate(2000) // a raise: new follows only
	if r := rate(fol, fred); r != 1000 {
		t.Errorf("after a raise to 20%%, fred's follow made at 10%% shows %v", r)
	}
	g := follow(gus)
	if r := rate(gus, g); r != 2000 {
		t.Errorf("gus followed at 20%%: shows %v", r)
	}

	// Both wallets spend half on BTC at 100 with the leader, then BTC
	// trades at 200: each NAV is 500 + 5 × 200 = 1500, 500 above its
	// high-water mark. fred pays 10% of it, gus 20%.
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"15"}`)
	ts.must(201, "POST", "/v1/orders", lead, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"5","time_in_force":"ioc"}`)
	trade := func(price string) {
		t.Helper()
		ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"`+price+`","quantity":"0.1"}`)
		ts.must(201, "POST", "/v1/orders", buyer, `{"market":"BTC-USDT","side":"buy","price":"`+price+`","quantity":"0.1"}`)
	}
	trade("200")
	for _, f := range []map[string]any{ts.follows(fol)[fred], ts.follows(gus)[g]} {
		if walletBalance(f, "BTC") != "5" || walletBalance(f, "USDT") != "500" {
			t.Fatalf("mirror: %v", f)
		}
	}
	if out := ts.must(200, "POST", "/v1/admin/settle", adminTok, ""); out["profit_share_amount"] != "150" {
		t.Errorf("settle at 10%% and 20%%: paid %v, want 150 (50 + 100)", out["profit_share_amount"])
	}
	if p := ts.follows(fol)[fred]["profit_share_paid"]; p != "50" {
		t.Errorf("fred (10%% of 500) paid %v, want 50", p)
	}
	if p := ts.follows(gus)[g]["profit_share_paid"]; p != "100" {
		t.Errorf("gus (20%% of 500) paid %v, want 100", p)
	}

	setRate(500) // a cut: every open follow at once
	if r := rate(fol, fred); r != 500 {
		t.Errorf("after a cut to 5%%, fred's follow shows %v", r)
	}
	if r := rate(gus, g); r != 500 {
		t.Errorf("after a cut to 5%%, gus's follow shows %v", r)
	}
	// BTC at 300: each NAV is 500 above its mark again (fred 450 + 1500
	// over 1450, gus 400 + 1500 over 1400): 5% of it each.
	trade("300")
	if out := ts.must(200, "POST", "/v1/admin/settle", adminTok, ""); out["profit_share_amount"] != "50" {
		t.Errorf("settle at 5%%: paid %v, want 50 (25 + 25)", out["profit_share_amount"])
	}

	// The other answers that return a follow show its rate too.
	for _, c := range []struct{ method, path, body string }{
		{"POST", fmt.Sprintf("/v1/social/follows/%d/pause", fred), ""},
		{"POST", fmt.Sprintf("/v1/social/follows/%d/resume", fred), ""},
		{"PATCH", fmt.Sprintf("/v1/social/follows/%d", fred), `{"slippage_bps":60}`},
		{"DELETE", fmt.Sprintf("/v1/social/follows/%d?close=keep", fred), ""},
	} {
		if out := ts.must(200, c.method, c.path, fol, c.body); out["profit_share_bps"] != float64(500) {
			t.Errorf("%s %s: profit_share_bps %v, want 500", c.method, c.path, out["profit_share_bps"])
		}
	}
	// Closed, fred's follow keeps its rate: a raise now reaches neither.
	setRate(3000)
	if r := rate(fol, fred); r != 500 {
		t.Errorf("closed follow after a raise: shows %v", r)
	}
	if r := rate(gus, g); r != 500 {
		t.Errorf("gus's follow after a raise to 30%%: shows %v", r)
	}
}

// PUT /v1/social/leader refuses a display_name or bio that escapes half
// a UTF-16 surrogate pair, as sign-up refuses such a name: the JSON
// decoder would let it through as six literal characters.
func TestSocialLeaderLoneSurrogate(t *testing.T) {
	ts, _, lead, _, _ := startLeaderFollower(t)
	for _, body := range []string{
		`{"display_name":"\ud800"}`,
		`{"display_name":"a\udc00b"}`,
		`{"display_name":"a\ud800\u0041"}`,
		`{"bio":"b\ud83d"}`,
		`{"display_name":"ok","bio":"\ude00 x"}`,
	} {
		if code, c := ts.errCode("PUT", "/v1/social/leader", lead, body); code != 400 || c != "invalid_argument" {
			t.Errorf("PUT %s: %d %s, want 400 invalid_argument", body, code, c)
		}
	}
	// A whole pair is one character; an escaped backslash is no escape.
	out := ts.must(200, "PUT", "/v1/social/leader", lead, `{"display_name":"L\ud83d\ude00","bio":"\\ud800"}`)
	if out["display_name"] != "L\U0001F600" || out["bio"] != `\ud800` {
		t.Errorf("display_name %q, bio %q", out["display_name"], out["bio"])
	}
}
