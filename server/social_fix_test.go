package server

import (
	"fmt"
	"sync"
	"testing"
)

// Regression tests of the social endpoints (social.go).

// Concurrent PUTs of different fields of a leader profile all take
// effect.
func TestSocialConcurrentPutLeader(t *testing.T) {
	ts, lid, lead, _, _ := startLeaderFollower(t)
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":0}`)
	lost := map[string]int{}
	for round := 1; round <= 30; round++ {
		bodies := []string{fmt.Sprintf(`{"profit_share_bps":%d}`, round), fmt.Sprintf(`{"bio":"bio %d"}`, round),
			fmt.Sprintf(`{"display_name":"name %d"}`, round)}
		var wg sync.WaitGroup
		for _, b := range bodies {
			wg.Go(func() { ts.req("PUT", "/v1/social/leader", lead, b) })
		}
		wg.Wait()
		pg := ts.must(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", lid), "", "")
		if pg["profit_share_bps"] != float64(round) {
			lost["profit_share_bps"]++
		}
		if pg["bio"] != fmt.Sprintf("bio %d", round) {
			lost["bio"]++
		}
		if pg["display_name"] != fmt.Sprintf("name %d", round) {
			lost["display_name"]++
		}
	}
	if len(lost) > 0 {
		t.Errorf("updates lost: %v", lost)
	}
}
