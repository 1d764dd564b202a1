package server

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Rate limits: a token bucket per live bearer token (a user token not
// revoked, or the admin token; keyed by 64 bits of its SHA-256;
// Options.RateLimit and RateBurst) and, for every other request (public
// market data, and any request whose bearer token is made up or
// revoked), per client IP (an IPv6 client: its /64 network, clientNet; a
// limiter of its own: Options.AnonRateLimit
// and AnonRateBurst). Sign-up (/v1/accounts) is always charged to the
// client IP, whatever token it carries: an account's token must not buy
// more sign-ups. A made-up token thus gets no bucket of its own,
// and Options.MaxTokens bounds the buckets one account can spread its
// requests over: a user token's bucket is its account's slot's
// (liveToken.bucket, tokens.go), so a token issued after one was revoked
// gets the revoked one's bucket as it was left, not a full one. The
// token is looked up once per request
// (Server.requestToken, tokens.go): the handler reuses what the limiter
// found.
// /healthz and /readyz are never limited; /metrics is limited per client
// IP by a limiter of its own (Options.MetricsRate), whatever token the
// request carries. A limited request is
// answered 429 rate_limited with Retry-After: 1. Each client message of a
// stream is charged the same way (allowStreamOp; stream.go). A batch of
// orders costs one per order (chargeBatch), at most the burst: a limit
// on a token's requests would otherwise let batches place a thousand
// times as many orders; a list of follows one per 100 follows it walks
// (chargeFollows).
//
// Buckets live in sharded maps of plain values (no allocation per request
// once a bucket exists). The maps are bounded: when a shard is full, the
// buckets idle long enough to have refilled are dropped (which changes
// nothing, since a missing bucket starts full), then, if that is not
// enough, arbitrary ones.

const (
	rlShards      = 64
	rlMaxPerShard = 4096 // 262,144 buckets at most

	// DefaultRateLimit and DefaultRateBurst are the per-token (or per-IP)
	// limits when Options leaves them zero.
	DefaultRateLimit = 1000
	DefaultRateBurst = 2000
	// DefaultSignupRate and DefaultSignupBurst are the sign-up limit per
	// client address (Options.SignupRate, SignupBurst) when Options
	// leaves them zero: one a second, bursts of 20.
	DefaultSignupRate  = 1
	DefaultSignupBurst = 20
	// DefaultMetricsRate and DefaultMetricsBurst are the limit of GET
	// /metrics per client address (Options.MetricsRate, MetricsBurst)
	// when Options leaves them zero: ten a second, bursts of 30.
	DefaultMetricsRate  = 10
	DefaultMetricsBurst = 30
)

type rlBucket struct {
	tokens float64
	last   int64 // ns
}

type rlShard struct {
	mu sync.Mutex
	m  map[uint64]rlBucket
	_  [40]byte // keep shards on separate cache lines
}

type rateLimiter struct {
	perNs  float64 // tokens per nanosecond
	burst  float64
	refill int64 // ns for an empty bucket to fill up
	seed   maphash.Seed
	now    func() int64
	shards [rlShards]rlShard
}

// checkRates returns an error (ErrInvalidOptions) unless o's rates are
// finite: a NaN rate would refuse every request after a client's first
// (its bucket never refills) and an infinite one is no rate.
func checkRates(o *Options) error {
	for _, r := range [...]struct {
		name string
		v    float64
	}{{"RateLimit", o.RateLimit}, {"AnonRateLimit", o.AnonRateLimit}, {"SignupRate", o.SignupRate}, {"MetricsRate", o.MetricsRate}} {
		if math.IsNaN(r.v) || math.IsInf(r.v, 0) {
			return fmt.Errorf("%w: %s must be a finite number, not %v", ErrInvalidOptions, r.name, r.v)
		}
	}
	return nil
}

// newRateLimiter returns a limiter of perSec requests per second with the
// given burst, or nil (no limit) if perSec ≤ 0.
func newRateLimiter(perSec float64, burst int) *rateLimiter {
	if perSec <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = max(1, int(2*perSec))
	}
	epoch := time.Now()
	l := &rateLimiter{perNs: perSec / 1e9, burst: float64(burst), seed: maphash.MakeSeed(),
		now: func() int64 { return int64(time.Since(epoch)) }}
	l.refill = int64(float64(burst)/l.perNs) + 1
	if l.refill <= 0 { // overflow with tiny rates: never refills in practice
		l.refill = 1<<63 - 1
	}
	for i := range l.shards {
		l.shards[i].m = make(map[uint64]rlBucket)
	}
	return l
}

// allow takes one token from the bucket of key h and reports whether
// there was one.
func (l *rateLimiter) allow(h uint64) bool { return l.allowN(h, 1) }

// allowN takes n tokens (at most the burst) from bucket h if it holds
// them, and reports whether it did; it takes none if it does not.
func (l *rateLimiter) allowN(h uint64, n float64) bool {
	sh := &l.shards[h%rlShards]
	now := l.now()
	sh.mu.Lock()
	b, ok := sh.m[h]
	if ok {
		if d := now - b.last; d > 0 {
			b.tokens = min(l.burst, b.tokens+float64(d)*l.perNs)
		}
	} else {
		if len(sh.m) >= rlMaxPerShard {
			sh.evict(now, l.refill)
		}
		b.tokens = l.burst
	}
	b.last = now
	n = min(n, l.burst)
	ok = b.tokens >= n
	if ok {
		b.tokens -= n
	}
	sh.m[h] = b
	sh.mu.Unlock()
	return ok
}

// evict drops the buckets idle for at least refill ns (they are full),
// then, if the shard is still over half full, arbitrary ones. The caller
// holds sh.mu.
func (sh *rlShard) evict(now, refill int64) {
	for k, b := range sh.m {
		if now-b.last >= refill {
			delete(sh.m, k)
		}
	}
	for k := range sh.m {
		if len(sh.m) < rlMaxPerShard/2 {
			break
		}
		delete(sh.m, k)
	}
}

// size returns the number of buckets (for tests).
func (l *rateLimiter) size() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// rateLimited charges the request to its live token's bucket, or else to
// its client IP's, and, if that is empty, answers 429 and returns true.
func (s *Server) rateLimited(ctx *fasthttp.RequestCtx, path string) bool {
	switch path {
	case "/healthz", "/readyz":
		return false
	case "/metrics":
		return s.metricsLimited(ctx)
	}
	if s.rl == nil && s.anonRL == nil {
		return false // and the handler looks the token up if it needs it
	}
	var t *liveToken // sign-up: the client IP's bucket, whatever the token
	if path != "/v1/accounts" {
		t = s.requestToken(ctx)
	}
	l, h := s.bucket(t, clientNet(ctx))
	if l == nil || l.allow(h) {
		return false
	}
	writeError(ctx, errRateLimited)
	ctx.Response.Header.Set("Retry-After", "1")
	return true
}

// metricsLimited charges a GET /metrics to its client address's metrics
// limit and, if the address has none left, answers 429 and returns true.
func (s *Server) metricsLimited(ctx *fasthttp.RequestCtx) bool {
	if s.metricsRL == nil {
		return false
	}
	ip := clientNet(ctx)
	if s.metricsRL.allow(maphash.Bytes(s.metricsRL.seed, ip[:])) {
		return false
	}
	writeError(ctx, fmt.Errorf("%w (/metrics: at most %s a second from one address, bursts of %d)",
		errRateLimited, strconv.FormatFloat(s.opts.MetricsRate, 'f', -1, 64), int(s.metricsRL.burst)))
	ctx.Response.Header.Set("Retry-After", "1")
	return true
}

// chargeBatch charges a batch of n orders, whose request rateLimited has
// charged one token, the other n-1 (at most the burst in all: a batch
// as large as the burst passes once the bucket is full), so that a
// token's rate limit bounds its orders, not only its requests. If the
// bucket does not hold them it answers 429, takes none, and returns
// true: the batch is refused whole.
func (s *Server) chargeBatch(ctx *fasthttp.RequestCtx, n int) bool {
	return s.charge(ctx, n, "a batch costs one per order")
}

// followsPerToken is how many follows a list of them (GET
// /v1/social/follows, /followers) walks for one token of the limiter.
const followsPerToken = 100

// chargeFollows charges a list request that walks n follows one token
// per followsPerToken of them beyond its first (charge): each is valued
// at the last prices, and an account may have thousands, so the rate
// limit must bound the follows walked, not only the requests.
func (s *Server) chargeFollows(ctx *fasthttp.RequestCtx, n int) bool {
	return s.charge(ctx, 1+n/followsPerToken, fmt.Sprintf("a list of follows costs one per %d follows", followsPerToken))
}

// charge charges a request whose cost is n tokens of its bucket, of
// which rateLimited has charged one, the other n-1 (at most the burst in
// all), as chargeBatch says; why names the cost in the 429's message.
func (s *Server) charge(ctx *fasthttp.RequestCtx, n int, why string) bool {
	if n <= 1 {
		return false
	}
	l, h := s.bucket(s.requestToken(ctx), clientNet(ctx))
	if l == nil {
		return false
	}
	if extra := min(float64(n-1), l.burst-1); extra <= 0 || l.allowN(h, extra) {
		return false
	}
	writeError(ctx, fmt.Errorf("%w (%s: %d)", errRateLimited, why, n))
	ctx.Response.Header.Set("Retry-After", "1")
	return true
}

// allowStreamOp charges one client message of a stream, authenticated
// with t (nil: not yet) from client IP ip, to the bucket a request with
// that token from that IP is charged to, and reports whether it had a
// token. It does not allocate once the bucket exists.
func (s *Server) allowStreamOp(t *liveToken, ip [16]byte) bool {
	l, h := s.bucket(t, ip)
	return l == nil || l.allow(h)
}

// bucket returns the limiter and bucket key of a client with token t
// (nil: none) and IP ip: its live token's, or else its IP's. A nil
// limiter means no limit.
func (s *Server) bucket(t *liveToken, ip [16]byte) (*rateLimiter, uint64) {
	switch {
	case t == adminToken:
		return s.rl, binary.LittleEndian.Uint64(s.adminHash[:8])
	case t != nil && t != unknownToken && !t.revoked.Load():
		return s.rl, t.bucket
	}
	if s.anonRL == nil {
		return nil, 0
	}
	return s.anonRL, maphash.Bytes(s.anonRL.seed, ip[:])
}

// clientNet returns the key of the request's client for the limits "per
// client IP": its IPv4 address, or the /64 network of its IPv6 address
// (16-byte form, the host half zeroed). An IPv6 host is usually given a
// whole /64, so keying by address would give one client 2^64 buckets
// and stream slots, and let it crowd out the others' buckets.
func clientNet(ctx *fasthttp.RequestCtx) [16]byte { return netKey(ctx.RemoteIP()) }

// netKey is clientNet's key of address a.
func netKey(a net.IP) (ip [16]byte) {
	copy(ip[:], a.To16())
	if a.To4() == nil {
		clear(ip[8:])
	}
	return ip
}
