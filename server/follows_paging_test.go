package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// GET /v1/social/follows selects by status and pages by limit and after,
// as GET /v1/social/followers does; its totals cover every follow of the
// caller whatever the page shows.
func TestFollowsPaging(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	fundCopyParties(ts, lid, fid)
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"display_name":"Lea"}`)
	var ids []uint64
	for i := range 3 {
		f := ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"10"}`, lid))
		ids = append(ids, uint64(f["id"].(float64)))
		if i < 2 {
			ts.must(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d", ids[i]), fol, "")
		}
	}
	list := func(query string) ([]uint64, string) {
		t.Helper()
		out := ts.must(200, "GET", "/v1/social/follows"+query, fol, "")
		var got []uint64
		for _, f := range out["follows"].([]any) {
			got = append(got, uint64(f.(map[string]any)["id"].(float64)))
		}
		return got, fmt.Sprint(out["totals"], out["total_allocation"], out["total_nav"], out["total_pnl"])
	}
	all, totals := list("")
	if !slices.Equal(all, ids) {
		t.Fatalf("follows %v, want %v", all, ids)
	}
	for _, c := range []struct {
		query string
		want  []uint64
	}{
		{"?status=all", ids},
		{"?status=open", ids[2:]},
		{"?status=closed", ids[:2]},
		{"?limit=1", ids[:1]},
		{fmt.Sprintf("?after=%d&limit=1", ids[0]), ids[1:2]},
		{fmt.Sprintf("?after=%d", ids[1]), ids[2:]},
		{fmt.Sprintf("?status=closed&after=%d", ids[0]), ids[1:2]},
		{fmt.Sprintf("?after=%d", ids[2]), nil},
	} {
		got, tot := list(c.query)
		if !slices.Equal(got, c.want) || tot != totals {
			t.Errorf("%s: %v with totals %s, want %v with %s", c.query, got, tot, c.want, totals)
		}
	}
	for _, q := range []string{"?status=paused", "?limit=0", "?limit=1001", "?after=x"} {
		if st, code := ts.errCode("GET", "/v1/social/follows"+q, fol, ""); st != 400 || code != "invalid_argument" {
			t.Errorf("%s: %d %s, want 400 invalid_argument", q, st, code)
		}
	}
}

// A list of follows costs one token of the rate limit per 100 follows it
// walks (its totals value every one), so that an account with thousands
// of closed follows cannot make each request of its token walk them all.
func TestFollowsListCharged(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, nil)
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1"}`)
	lid, lead := ts.signup("lea")
	fid, fol := ts.signup("fred")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"1000","ref":"d"}`, fid))
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"display_name":"Lea"}`)
	for i := range followsPerToken {
		f := ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"1"}`, lid))
		if i < followsPerToken-1 {
			ts.must(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d", uint64(f["id"].(float64))), fol, "")
		}
	}
	ts.stop()
	ts = start(t, dir, &Options{AdminToken: adminTok, RateLimit: 0.001, RateBurst: 3})
	if n := len(ts.must(200, "GET", "/v1/social/follows", fol, "")["follows"].([]any)); n != followsPerToken {
		t.Fatalf("%d follows listed", n)
	}
	st, out := ts.req("GET", "/v1/social/follows?limit=1", fol, "")
	if st != 429 || !strings.Contains(fmt.Sprint(out["error"]), "a list of follows costs one per 100 follows: 2") {
		t.Fatalf("second list: %d %v", st, out)
	}
	// Three tokens: the first list took two, the second one, and needed
	// another. The leader's list walks one open follow: one token each
	// time, three of them.
	for range 3 {
		ts.must(200, "GET", "/v1/social/followers", lead, "")
	}
}
