package server

import (
	"fmt"
	"testing"
)

// A relation pays the profit share rate its leader had when the follow
// was made: a leader who raises the rate from 0% to 50% takes nothing of
// what a follower earned under 0% (before, the next settlement took half
// of it at the leader's new rate).
func TestProfitShareRaisedRetroactively(t *testing.T) {
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	maker, buyer := fundCopyParties(ts, lid, fid)
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":0}`)
	ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(`{"leader_id":%d,"allocation":"1000"}`, lid))
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"10"}`)
	ts.must(201, "POST", "/v1/orders", lead, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"5","time_in_force":"ioc"}`)
	ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"sell","price":"200","quantity":"0.1"}`)
	ts.must(201, "POST", "/v1/orders", buyer, `{"market":"BTC-USDT","side":"buy","price":"200","quantity":"0.1"}`)
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":5000}`)
	if out := ts.must(200, "POST", "/v1/admin/settle", adminTok, ""); out["profit_share_amount"] != "0" {
		t.Errorf("paid %v after the rate was raised 0 -> 50%%", out["profit_share_amount"])
	}
}
