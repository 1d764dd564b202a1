package server

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// closedWith reads c until the server closes it and fails unless the
// close code is code and its reason reason; no orders, fills or copy
// message may arrive before.
func (c *wsClient) closedWith(code int, reason string) {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, raw, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !websocket.IsCloseError(err, code) || !asCloseError(err, &ce) || ce.Text != reason {
				c.t.Fatalf("want close %d %q, got %v", code, reason, err)
			}
			return
		}
		for _, ch := range []string{"orders", "fills", "copy"} {
			if strings.HasPrefix(string(raw), `{"channel":"`+ch+`"`) {
				c.t.Fatalf("private message after revocation: %s", raw)
			}
		}
	}
}

func asCloseError(err error, ce **websocket.CloseError) bool {
	e, ok := err.(*websocket.CloseError)
	*ce = e
	return ok
}

// A stream authenticated with a token is closed (1008 "token revoked")
// when that token is revoked, and receives no private message after;
// a stream of the same account authenticated with another token is not.
func TestStreamTokenRevoked(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	tok := ts.must(201, "POST", "/v1/tokens", alice, "")
	tok2 := tok["token"].(string)
	revoked, kept := ts.dial(), ts.dial()
	for _, c := range []struct {
		c   *wsClient
		tok string
	}{{revoked, tok2}, {kept, alice}} {
		c.c.send(`{"op":"auth","token":"` + c.tok + `"}`)
		c.c.expect("authenticated", func(m wsMsg) bool { return m.Type == "authenticated" })
		c.c.send(`{"op":"subscribe","channels":["orders","fills","book:BTC-USDT"]}`)
		c.c.expect("subscribed", func(m wsMsg) bool { return m.Type == "subscribed" })
	}
	ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", uint64(tok["id"].(float64))), alice, "")
	if code, _ := ts.errCode("GET", "/v1/account", tok2, ""); code != 401 {
		t.Fatalf("revoked token on HTTP: %d", code)
	}
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5"}`)
	revoked.closedWith(websocket.ClosePolicyViolation, "token revoked")
	kept.expect("the order on the other token's stream", func(m wsMsg) bool { return m.Channel == "orders" })
	deadline := time.Now().Add(5 * time.Second)
	for ts.s.hub.clients.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := ts.s.hub.clients.Load(); n != 1 {
		t.Fatalf("%d clients, want 1", n)
	}
}

// A token revoked while a stream authenticates with it never leaves the
// stream with private data: either the auth is refused (and private
// channels with it) or the stream is closed. Over the network, with the
// revocation racing the auth; TestHubAuthenticateRevoked forces each
// order of the two.
func TestStreamRevokeDuringAuth(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	n := 20
	if testing.Short() {
		n = 5
	}
	closed := 0
	for i := range n {
		tok := ts.must(201, "POST", "/v1/tokens", alice, "")
		c := ts.dial()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i%4) * 200 * time.Microsecond)
			ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", uint64(tok["id"].(float64))), alice, "")
		}()
		c.send(`{"op":"auth","token":"` + tok["token"].(string) + `"}`)
		c.send(`{"op":"subscribe","channels":["orders"]}`)
		wg.Wait()
		ts.must(201, "POST", "/v1/orders", alice, fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":"%d","quantity":"0.01"}`, 70000+i))
		_ = c.ws.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			_, raw, err := c.ws.ReadMessage()
			if err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					if ce.Code != websocket.ClosePolicyViolation || ce.Text != closeRevoked {
						t.Fatalf("round %d: closed with %v", i, err)
					}
					closed++
				}
				break // closed, or nothing more for a while
			}
			if strings.HasPrefix(string(raw), `{"channel":"orders"`) {
				t.Fatalf("round %d: stream of a revoked token got %s", i, raw)
			}
		}
		c.ws.Close()
	}
	t.Logf("%d of %d streams closed, the others refused at auth", closed, n)
}

// The hub binds a stream to a token only if the token is not revoked by
// then, and revoking closes the streams bound to it: whichever of the
// two the hub runs first, the stream ends closed.
func TestHubAuthenticateRevoked(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	_, alice := ts.signup("alice")
	h := ts.s.hub
	onHub := func(f func()) { // runs f on the hub and waits for it
		done := make(chan struct{})
		h.do(func() { f(); close(done) })
		<-done
	}
	for _, revokeFirst := range []bool{true, false} {
		out := ts.must(201, "POST", "/v1/tokens", alice, "")
		tok, err := ts.s.streamToken(out["token"].(string)) // the reader's look-up
		if err != nil {
			t.Fatal(err)
		}
		c := &streamConn{h: h, closed: make(chan struct{}),
			subs: map[string]bool{}, n: map[string]uint64{}}
		onHub(func() { h.conns[c] = struct{}{}; h.clients.Add(1) })
		revoke := func() {
			ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", uint64(out["id"].(float64))), alice, "")
		}
		if revokeFirst {
			revoke()
			onHub(func() { h.authenticate(c, tok) })
		} else {
			onHub(func() { h.authenticate(c, tok) })
			revoke()
		}
		onHub(func() {
			if h.live(c) || len(h.tokens) != 0 {
				t.Errorf("revoke first %v: stream still served (live %v, %d tokens bound)", revokeFirst, h.live(c), len(h.tokens))
			}
		})
		if !c.killed() || c.code != websocket.ClosePolicyViolation || c.reason != closeRevoked {
			t.Errorf("revoke first %v: killed %v, close %d %q", revokeFirst, c.killed(), c.code, c.reason)
		}
	}
}

// Requests with a bearer token that is not a live token (made up, or
// revoked) are charged to the anonymous per-IP bucket: a fresh made-up
// token does not get a fresh bucket.
func TestRateLimitInvalidToken(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, AnonRateLimit: 0.001, AnonRateBurst: 3})
	_, tok := ts.signup("u0")
	ts.must(200, "GET", "/v1/markets", "", "")
	ts.must(200, "GET", "/v1/markets", "", "")
	for i := range 10 {
		if code, c := ts.errCode("POST", "/v1/accounts", fmt.Sprintf("junk-%d", i), fmt.Sprintf(`{"name":"v%d"}`, i)); code != 429 || c != "rate_limited" {
			t.Fatalf("sign-up %d with a made-up token past the per-IP limit: %d %s", i, code, c)
		}
		if code, c := ts.errCode("GET", "/v1/markets", fmt.Sprintf("junk-m%d", i), ""); code != 429 || c != "rate_limited" {
			t.Fatalf("market data %d with a made-up token past the per-IP limit: %d %s", i, code, c)
		}
	}
	// A live token has a bucket of its own; revoked, it no longer has.
	ts.must(200, "GET", "/v1/account", tok, "")
	out := ts.must(201, "POST", "/v1/tokens", tok, "")
	ts.must(200, "GET", "/v1/markets", out["token"].(string), "")
	ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", uint64(out["id"].(float64))), tok, "")
	if code, c := ts.errCode("GET", "/v1/markets", out["token"].(string), ""); code != 429 || c != "rate_limited" {
		t.Fatalf("revoked token past the per-IP limit: %d %s", code, c)
	}
	// The admin token has its own bucket too.
	ts.must(200, "GET", "/v1/admin/accounts", adminTok, "")
}

// An account holds at most MaxTokens live tokens (default 100): past
// it POST /v1/tokens answers 409 too_many_tokens until one is revoked.
func TestTokenCap(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	_, tok := ts.signup("alice")
	var last map[string]any
	for range DefaultMaxTokens - 1 { // the sign-up's token is the first
		last = ts.must(201, "POST", "/v1/tokens", tok, "")
	}
	if code, c := ts.errCode("POST", "/v1/tokens", tok, ""); code != 409 || c != "too_many_tokens" {
		t.Fatalf("token %d: %d %s", DefaultMaxTokens+1, code, c)
	}
	_, other := ts.signup("bob") // per account
	ts.must(201, "POST", "/v1/tokens", other, "")
	ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", uint64(last["id"].(float64))), tok, "")
	ts.must(201, "POST", "/v1/tokens", tok, "")
	ts.errCode("POST", "/v1/tokens", tok, "")
}

// Live tokens are counted again at start-up; a smaller MaxTokens keeps
// the tokens beyond it valid but issues no more; negative: no cap.
func TestTokenCapOption(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, nil)
	_, tok := ts.signup("alice")
	_, other := ts.signup("bob")
	for range 4 {
		ts.must(201, "POST", "/v1/tokens", tok, "")
	}
	ts.stop()
	ts = start(t, dir, &Options{AdminToken: adminTok, MaxTokens: 3})
	ts.must(200, "GET", "/v1/account", tok, "")
	if code, c := ts.errCode("POST", "/v1/tokens", tok, ""); code != 409 || c != "too_many_tokens" {
		t.Fatalf("after restart: %d %s", code, c)
	}
	ts.must(201, "POST", "/v1/tokens", other, "")
	ts.must(201, "POST", "/v1/tokens", other, "")
	if code, c := ts.errCode("POST", "/v1/tokens", other, ""); code != 409 || c != "too_many_tokens" {
		t.Fatalf("past MaxTokens 3: %d %s", code, c)
	}
	ts2 := start(t, t.TempDir(), &Options{AdminToken: adminTok, MaxTokens: -1})
	_, tok = ts2.signup("carol")
	for range 5 {
		ts2.must(201, "POST", "/v1/tokens", tok, "")
	}
}
