package server

import (
	"fmt"
	"testing"
)

// TestSecReviewTokenCyclingRateLimit: issuing a token, spending its
// bucket, revoking it and issuing another must not buy a fresh bucket
// each time: an account spreads its requests over at most MaxTokens
// buckets (ratelimit.go). Before the fix a new token always started with
// a full bucket, so two requests of the account's main token (issue,
// revoke) bought a burst of requests: 10 here, a thousand times the
// token's rate with the defaults.
func TestSecReviewTokenCyclingRateLimit(t *testing.T) {
	// 10 requests a token, refilled one every 1000 s: nothing refills
	// during the test. The IP's own limit stays out of the way.
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, RateLimit: 0.001, RateBurst: 10,
		AnonRateLimit: 1000, AnonRateBurst: 1000})
	_, main := ts.signup("alice")
	spend := func(tok string) (ok int) {
		for range 10 {
			code, _ := ts.req("GET", "/v1/account", tok, "")
			if code == 200 {
				ok++
			} else if code != 429 {
				t.Fatalf("GET /v1/account: %d", code)
			}
		}
		return ok
	}
	total := 0
	for i := range 4 { // 2 of main's 10 requests a round
		out := ts.must(201, "POST", "/v1/tokens", main, "")
		n := spend(out["token"].(string))
		if i == 0 && n != 10 {
			t.Fatalf("a new token's first bucket: %d requests, want 10", n)
		}
		total += n
		ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", uint64(out["id"].(float64))), main, "")
	}
	if total > 10 {
		t.Fatalf("4 tokens issued and revoked one after the other got %d requests; at most 10 (one bucket)", total)
	}
	// The main token's own bucket is its own: 2 left of its 10.
	if n := spend(main); n != 2 {
		t.Fatalf("main token: %d requests left, want 2", n)
	}
}
