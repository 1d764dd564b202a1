package server

import (
	"fmt"
	"testing"
)

// Sign-up is charged to the client IP's bucket whatever bearer token it
// carries: a live user token buys no sign-ups past the per-IP limit.
func TestSignupLimitBypass(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, AnonRateLimit: 0.001, AnonRateBurst: 1})
	_, tok := ts.signup("u0")
	if code, c := ts.errCode("POST", "/v1/accounts", "", `{"name":"u1"}`); code != 429 {
		t.Fatalf("second anonymous sign-up: %d %s", code, c)
	}
	n := 0
	for i := range 50 {
		if c, _ := ts.req("POST", "/v1/accounts", tok, fmt.Sprintf(`{"name":"bot%d"}`, i)); c == 201 {
			n++
		}
	}
	if n > 0 {
		t.Errorf("%d of 50 sign-ups past the per-IP limit accepted with a user token as bearer", n)
	}
	for _, bearer := range []string{adminTok, "made-up"} {
		if code, c := ts.errCode("POST", "/v1/accounts", bearer, `{"name":"x"}`); code != 429 || c != "rate_limited" {
			t.Errorf("sign-up with %q past the per-IP limit: %d %s", bearer, code, c)
		}
	}
	// The token's own bucket is untouched by sign-ups.
	ts.must(200, "GET", "/v1/account", tok, "")
}
