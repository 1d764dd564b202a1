package server

import "testing"

// TestRateLimitAnon checks that the per-IP limit of requests without a
// token (AnonRateLimit) is configured apart from the per-token one, and
// that a negative rate disables either.
func TestRateLimitAnon(t *testing.T) {
	// Anonymous limited, tokens not.
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, RateLimit: -1, AnonRateLimit: 0.001, AnonRateBurst: 2})
	for range 2 {
		ts.must(200, "GET", "/v1/markets", "", "")
	}
	if code, c := ts.errCode("GET", "/v1/markets", "", ""); code != 429 || c != "rate_limited" {
		t.Fatalf("anonymous over the limit: %d %s", code, c)
	}
	for range 20 {
		ts.must(200, "GET", "/v1/admin/accounts", adminTok, "")
	}
	// Tokens limited, anonymous not.
	ts2 := start(t, t.TempDir(), &Options{AdminToken: adminTok, RateLimit: 0.001, RateBurst: 2, AnonRateLimit: -1})
	for range 20 {
		ts2.must(200, "GET", "/v1/markets", "", "")
	}
	for range 2 {
		ts2.must(200, "GET", "/v1/admin/accounts", adminTok, "")
	}
	if code, c := ts2.errCode("GET", "/v1/admin/accounts", adminTok, ""); code != 429 || c != "rate_limited" {
		t.Fatalf("token over the limit: %d %s", code, c)
	}
	// AnonRateLimit zero: as RateLimit, with RateBurst.
	ts3 := start(t, t.TempDir(), &Options{AdminToken: adminTok, RateLimit: 0.001, RateBurst: 1})
	ts3.must(200, "GET", "/v1/markets", "", "")
	if code, c := ts3.errCode("GET", "/v1/markets", "", ""); code != 429 || c != "rate_limited" {
		t.Fatalf("anonymous over the token's limit: %d %s", code, c)
	}
}
