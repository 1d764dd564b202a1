package server

import (
	"testing"

	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fastjson"
)

var socialSeeds = []string{
	`{"display_name":"Lea","bio":"trend follower","profit_share_bps":1000}`, `{"profit_share_bps":5001}`,
	`{"display_name":"\xff"}`,
	`{"leader_id":7,"allocation":"1000","mode":"proportional","value":"1","max_order_quote":"100","slippage_bps":50,"stop_loss_bps":2000}`,
	`{"leader_id":7,"allocation":"1000","asset":"USDT","mode":"fixed_quote","value":"25"}`,
	`{"leader_id":-7,"allocation":1000}`, `{"leader_id":7,"allocation":"1","slippage_bps":301}`,
	`{"leader_id":7,"allocation":"1","stop_loss_bps":10000}`,
	`{"top_up":"100","max_order_quote":"50"}`, `{"mode":"multiplier","value":"0.5"}`, `{"slippage_bps":1e3}`,
}

func FuzzDecodeLeader(f *testing.F) {
	for _, s := range append(seeds, socialSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		var r leaderReq
		err := decodeLeader(&p, body, &r)
		checkDecodeErr(t, err)
		if err == nil && (r.shareBps > engine.MaxProfitShareBps || len(r.displayName) > maxDisplayName || len(r.bio) > maxBio) {
			t.Fatalf("accepted %+v", r)
		}
	})
}

func FuzzDecodeFollow(f *testing.F) {
	for _, s := range append(seeds, socialSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		var r followReq
		err := decodeFollow(&p, body, &r)
		checkDecodeErr(t, err)
		if err != nil {
			return
		}
		if !r.hasLeader || r.allocation == nil || r.slippage > engine.MaxSlippageBps || r.stopLoss >= 10000 {
			t.Fatalf("accepted %+v", r)
		}
		// Building the spec either fails as bad input or gives one the
		// engine takes.
		var sp engine.CopySpec
		err = r.spec(&sp)
		checkDecodeErr(t, err)
		if err == nil && (sp.Mode < engine.CopyProportional || sp.Mode > engine.CopyMultiplier || sp.Value <= 0 || sp.MaxOrderQuote < 0) {
			t.Fatalf("spec %+v from %+v", sp, r)
		}
	})
}

func FuzzDecodeFollowAmend(f *testing.F) {
	for _, s := range append(seeds, socialSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		var r followAmendReq
		err := decodeFollowAmend(&p, body, &r)
		checkDecodeErr(t, err)
		if err != nil {
			return
		}
		if r.slippage > engine.MaxSlippageBps || r.stopLoss >= 10000 {
			t.Fatalf("accepted %+v", r)
		}
		sp := engine.CopySpec{Mode: engine.CopyMultiplier, Value: engine.ValueOne}
		checkDecodeErr(t, r.spec(&sp))
	})
}
