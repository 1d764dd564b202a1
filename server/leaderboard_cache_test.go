package server

import (
	"fmt"
	"testing"
	"time"
)

// With Options.LeaderboardTTL, GET /v1/social/leaders answers from the
// board it computed until the TTL passes (per sort and window, any
// limit), while a leader's own row is current; without it, every board
// is current.
func TestLeaderboardTTL(t *testing.T) {
	followers := func(ts *testServer, path string) []string {
		t.Helper()
		var out []string
		for _, r := range ts.must(200, "GET", path, "", "")["leaders"].([]any) {
			r := r.(map[string]any)
			out = append(out, fmt.Sprintf("%v:%v", r["account_id"], r["active_followers"]))
		}
		return out
	}
	for _, c := range []struct {
		ttl   time.Duration
		stale bool
	}{{0, false}, {time.Hour, true}} {
		ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, LeaderboardTTL: c.ttl})
		ts.must(201, "POST", "/v1/admin/markets", adminTok,
			`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":0,"taker_fee_bps":0}`)
		lid, lead := ts.signup("lea")
		fid, fol := ts.signup("fred")
		fundCopyParties(ts, lid, fid)
		ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":0}`)
		const board = "/v1/social/leaders?sort=followers&window=all"
		before := followers(ts, board)
		if want := fmt.Sprintf("%d:0", lid); len(before) != 1 || before[0] != want {
			t.Fatalf("ttl %v: board %q, want [%s]", c.ttl, before, want)
		}
		ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"10"}`, lid))
		now := fmt.Sprintf("%d:1", lid)
		got := followers(ts, board+"&limit=5")
		if stale := got[0] != now; stale != c.stale {
			t.Fatalf("ttl %v: board after a follow %q (stale %v, want %v)", c.ttl, got, stale, c.stale)
		}
		// Another board, and the leader's own row, are computed now.
		if got := followers(ts, "/v1/social/leaders?sort=roi&window=all"); got[0] != now {
			t.Fatalf("ttl %v: another board %q, want [%s]", c.ttl, got, now)
		}
		row := ts.must(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", lid), "", "")["stats"].(map[string]any)["all"].(map[string]any)
		if row["active_followers"] != 1.0 {
			t.Fatalf("ttl %v: the leader's row %v", c.ttl, row)
		}
		ts.stop()
	}

	// Once the TTL has passed, the board is computed again.
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, LeaderboardTTL: 50 * time.Millisecond})
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":0,"taker_fee_bps":0}`)
	lid, lead := ts.signup("lea")
	fid, fol := ts.signup("fred")
	fundCopyParties(ts, lid, fid)
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":0}`)
	followers(ts, "/v1/social/leaders")
	ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"10"}`, lid))
	time.Sleep(60 * time.Millisecond)
	if got, want := followers(ts, "/v1/social/leaders"), fmt.Sprintf("%d:1", lid); got[0] != want {
		t.Fatalf("after the TTL: %q, want [%s]", got, want)
	}
}

// BenchmarkLeaderBoardCached is BenchmarkLeaderBoard's board answered
// from Server.leaderBoard's cache (Options.LeaderboardTTL).
func BenchmarkLeaderBoardCached(b *testing.B) {
	f := boardFeed()
	s := &Server{stats: f.ls, opts: Options{LeaderboardTTL: time.Hour}}
	e := s.boards.entry(boardKey{"roi", windowAll})
	e.rows, e.at = f.ls.board("roi", windowAll, maxListLimit), time.Now()
	for b.Loop() {
		s.leaderBoard("roi", windowAll, 50)
	}
}
