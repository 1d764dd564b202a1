package server

import (
	"fmt"
	"testing"

	"github.com/instant-social-trading/ist/engine"
)

// Followers and AUM count the active relations only (COPY_TRADING.md,
// Leader statistics): a paused relation is still open, but not counted.
func TestLeaderStatPausedNotFollower(t *testing.T) {
	f := copyFeed(t) // relations 1..3 of leader 1: NAV 150, 145, 140
	f.do(engine.Command{Kind: engine.CmdPauseFollow}, 2)
	if r := f.row(1, windowAll); r.Followers != 2 || r.AUM != 290 {
		t.Fatalf("relation 2 paused: followers %d, AUM %d, want 2, 290", r.Followers, r.AUM)
	}
	data, _, err := f.ls.encode() // the pause is saved
	if err != nil {
		t.Fatal(err)
	}
	ls := newLeaderStats()
	if err := ls.decode(data); err != nil {
		t.Fatal(err)
	}
	if r := ls.row(1, windowAll); r.Followers != 2 || r.AUM != 290 {
		t.Fatalf("restored: followers %d, AUM %d, want 2, 290", r.Followers, r.AUM)
	}
	f.do(engine.Command{Kind: engine.CmdResumeFollow}, 2)
	if r := f.row(1, windowAll); r.Followers != 3 || r.AUM != 435 {
		t.Fatalf("relation 2 resumed: followers %d, AUM %d, want 3, 435", r.Followers, r.AUM)
	}
}

// The profile's followers and the leaderboard's active_followers and aum
// count active relations, also after a restart.
func TestSocialFollowersActiveOnly(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	f2id, fol2 := ts.signup("fay")
	for _, id := range []uint64{fid, f2id} {
		ts.must(201, "POST", "/v1/admin/deposits", adminTok,
			fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"1000","ref":"d-%d"}`, id, id))
	}
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"display_name":"Lea"}`)
	fw := ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"100"}`, lid))
	rel := uint64(fw["id"].(float64))
	ts.must(201, "POST", "/v1/social/follows", fol2, fmt.Sprintf(`{"leader_id":%d,"allocation":"300"}`, lid))

	check := func(ts *testServer, when string, followers float64, aum string) {
		t.Helper()
		pg := ts.must(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", lid), "", "")
		if pg["followers"] != followers {
			t.Errorf("%s: profile followers %v, want %v", when, pg["followers"], followers)
		}
		for _, w := range []string{"7d", "all"} {
			st := pg["stats"].(map[string]any)[w].(map[string]any)
			if st["active_followers"] != followers || st["aum"] != aum {
				t.Errorf("%s: stats %s: active_followers %v, aum %v, want %v, %s", when, w, st["active_followers"], st["aum"], followers, aum)
			}
		}
		rows := ts.must(200, "GET", "/v1/social/leaders?window=all", "", "")["leaders"].([]any)
		if len(rows) != 1 {
			t.Fatalf("%s: leaderboard %v", when, rows)
		}
		if r := rows[0].(map[string]any); r["active_followers"] != followers || r["aum"] != aum {
			t.Errorf("%s: leaderboard row: active_followers %v, aum %v, want %v, %s", when, r["active_followers"], r["aum"], followers, aum)
		}
	}
	check(ts, "both active", 2, "400")
	ts.must(200, "POST", fmt.Sprintf("/v1/social/follows/%d/pause", rel), fol, "")
	check(ts, "one paused", 1, "300")
	// The paused relation is still listed among the leader's followers.
	if fws := ts.must(200, "GET", "/v1/social/followers", lead, "")["followers"].([]any); len(fws) != 2 {
		t.Fatalf("followers list %v", fws)
	}
	ts.stop()
	ts = start(t, ts.dir, nil)
	check(ts, "restarted", 1, "300")
	ts.must(200, "POST", fmt.Sprintf("/v1/social/follows/%d/resume", rel), fol, "")
	check(ts, "resumed", 2, "400")
}
