package server

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestRateLimiterBucket(t *testing.T) {
	l := newRateLimiter(10, 3) // 10/s, burst 3
	var now int64
	l.now = func() int64 { return now }
	for i := range 3 {
		if !l.allow(1) {
			t.Fatalf("request %d refused within the burst", i)
		}
	}
	if l.allow(1) {
		t.Fatal("4th request allowed")
	}
	if !l.allow(2) {
		t.Fatal("another key is limited")
	}
	now += 1e8 // 100 ms: one token
	if !l.allow(1) || l.allow(1) {
		t.Fatal("refill of one token after 100 ms")
	}
	now += 1e9 // a second: full (3), not more
	for range 3 {
		if !l.allow(1) {
			t.Fatal("refill")
		}
	}
	if l.allow(1) {
		t.Fatal("bucket exceeds its burst")
	}
	if newRateLimiter(0, 5) != nil || newRateLimiter(-1, 5) != nil {
		t.Fatal("rate ≤ 0 must disable")
	}
}

func TestRateLimiterBounded(t *testing.T) {
	l := newRateLimiter(1, 1)
	var now int64
	l.now = func() int64 { return now }
	for i := range 3 * rlShards * rlMaxPerShard {
		l.allow(uint64(i)*0x9E3779B97F4A7C15 + 1)
		now += 1e6
	}
	if n := l.size(); n > rlShards*rlMaxPerShard {
		t.Fatalf("%d buckets, max %d", n, rlShards*rlMaxPerShard)
	}
}

func TestRateLimitHTTP(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, RateLimit: 0.001, RateBurst: 3})
	// Sign-up is limited per IP: 3 then 429.
	for i := range 3 {
		ts.must(201, "POST", "/v1/accounts", "", `{"name":"u`+string(rune('a'+i))+`"}`)
	}
	if code, c := ts.errCode("POST", "/v1/accounts", "", `{"name":"ux"}`); code != 429 || c != "rate_limited" {
		t.Fatalf("sign-up over the limit: %d %s", code, c)
	}
	// Live tokens have their own buckets, separate from the IP's and each
	// other's; a made-up token is charged to the IP's.
	tok, _, err := ts.s.issueToken(1) // ua's second token (sign-up is limited now)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ts.must(200, "GET", "/v1/account", tok, "")
	}
	if code, c := ts.errCode("GET", "/v1/account", tok, ""); code != 429 || c != "rate_limited" {
		t.Fatalf("token over the limit: %d %s", code, c)
	}
	if code, c := ts.errCode("GET", "/v1/admin/accounts", "user-ish", ""); code != 429 || c != "rate_limited" {
		t.Fatalf("made-up token: %d %s, want the IP's 429", code, c)
	}
	ts.must(200, "GET", "/v1/admin/accounts", adminTok, "")
	// Health checks are never limited.
	for range 10 {
		ts.must(200, "GET", "/healthz", "", "")
	}
	// Negative disables.
	ts2 := start(t, t.TempDir(), &Options{AdminToken: adminTok, RateLimit: -1, RateBurst: 1})
	for range 20 {
		ts2.must(200, "GET", "/v1/markets", "", "")
	}
}

func BenchmarkRateLimiter(b *testing.B) {
	l := newRateLimiter(1e12, 1<<30)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var h uint64
		for pb.Next() {
			h++
			l.allow(h & 1023)
		}
	})
}

// A batch costs its token one per order, at most the burst; a batch the
// bucket cannot pay for is refused whole (429, nothing placed), and
// takes only the request's own token.
func TestRateLimitBatch(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, RateLimit: 0.001, RateBurst: 10})
	_, bob := ts.setup() // 3 admin requests; 2 sign-ups on the IP's bucket
	batch := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"orders":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"market":"BTC-USDT","side":"buy","type":"limit","price":"100.%02d","quantity":"0.1"}`, i)
		}
		b.WriteString(`]}`)
		return b.String()
	}
	open := func() int {
		out := ts.must(200, "GET", "/v1/orders?status=open&limit=100", bob, "")
		return len(out["orders"].([]any))
	} // each call costs a token too
	ts.must(200, "POST", "/v1/orders/batch", bob, batch(4)) // 10 → 6
	if code, c := ts.errCode("POST", "/v1/orders/batch", bob, batch(7)); code != 429 || c != "rate_limited" {
		t.Fatalf("batch of 7 with 6 tokens: %d %s", code, c)
	} // 6 → 5: the request's own token only
	if n := open(); n != 4 { // 5 → 4
		t.Fatalf("%d open orders after the refused batch, want 4", n)
	}
	ts.must(200, "POST", "/v1/orders/batch", bob, batch(4)) // 4 → 0
	if code, _ := ts.errCode("GET", "/v1/account", bob, ""); code != 429 {
		t.Fatalf("bucket not emptied by the batches: %d", code)
	}
	// A batch larger than the burst costs the burst: it passes on a
	// full bucket (a fresh token's).
	tok, _, err := ts.s.issueToken(2)
	if err != nil {
		t.Fatal(err)
	}
	ts.must(200, "POST", "/v1/orders/batch", tok, batch(20))
	if code, _ := ts.errCode("GET", "/v1/account", tok, ""); code != 429 {
		t.Fatalf("a batch larger than the burst left tokens: %d", code)
	}
}

// The limits per client IP key an IPv6 client by its /64 network (one
// host usually has all of it) and an IPv4 client by its address.
func TestNetKey(t *testing.T) {
	key := func(s string) [16]byte { return netKey(net.ParseIP(s)) }
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1", "192.0.2.2", false},
		{"192.0.2.1", "::ffff:192.0.2.1", true},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"::1", "::2", true},
	} {
		if got := key(c.a) == key(c.b); got != c.same {
			t.Errorf("%s and %s: same key %v, want %v", c.a, c.b, got, c.same)
		}
	}
}
