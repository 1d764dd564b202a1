package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// TestStreamOpRateLimit checks that each client message is charged to
// the rate limiter: to the client IP's bucket before auth, to the
// token's after (the one its REST requests use); that a message over the
// limit is answered rate_limited and not executed; that the limit admits
// again once tokens refill; and that streamMaxLimited refused in a row
// close the connection.
func TestStreamOpRateLimit(t *testing.T) {
	// 1/s, so that no token refills while a step runs.
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, RateLimit: 1, RateBurst: 3,
		AnonRateLimit: 1, AnonRateBurst: 3})
	ts.must(201, "POST", "/v1/admin/markets", adminTok, // the admin token's bucket
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1"}`)
	_, alice := ts.signup("alice") // the IP's bucket: 2 left
	c := ts.dial()                 // 1 left
	c.send(`{"op":"subscribe","channels":["trades:BTC-USDT"]}`)
	if m := c.next(); m.Type != "subscribed" {
		t.Fatalf("within the limit: %+v", m)
	}
	auth := `{"op":"auth","token":"` + alice + `"}`
	c.send(auth) // charged to the IP: refused
	if m := c.next(); m.Type != "error" || m.Error == nil || m.Error.Code != "rate_limited" {
		t.Fatalf("over the IP's limit: %+v", m)
	}
	time.Sleep(1100 * time.Millisecond) // a token refills
	c.send(auth)
	if m := c.next(); m.Type != "authenticated" { // so the refused auth was not executed
		t.Fatalf("after a refill: %+v", m)
	}
	// The IP's bucket is empty again: these go to alice's token's.
	for range 3 {
		c.send(`{"op":"unsubscribe","channels":["trades:BTC-USDT"]}`)
		if m := c.next(); m.Type != "unsubscribed" {
			t.Fatalf("within the token's limit: %+v", m)
		}
	}
	if code, ec := ts.errCode("GET", "/v1/account", alice, ""); code != 429 || ec != "rate_limited" {
		t.Fatalf("REST with the token whose stream took its bucket: %d %s", code, ec)
	}
	for range streamMaxLimited {
		if err := c.ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","channels":["orders"]}`)); err != nil {
			break // closed
		}
	}
	for i := 0; ; i++ {
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, raw, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != closeRateLimited {
				t.Fatalf("after %d refused: %v, want close 1008 %q", i, err, closeRateLimited)
			}
			if i > streamMaxLimited-1 { // fewer if closed before all were written
				t.Fatalf("closed after %d answers, want at most %d", i, streamMaxLimited-1)
			}
			break
		}
		var m wsMsg
		if err := json.Unmarshal(raw, &m); err != nil || m.Error == nil || m.Error.Code != "rate_limited" {
			t.Fatalf("refused message %d answered %s", i, raw)
		}
	}
	waitStreams(t, ts.s.hub, 0, 0)
}

// TestStreamCaps checks the caps of streams open in total and per IP:
// an upgrade over one is refused (503 overloaded, 429 rate_limited),
// admitted again once a stream closes, and the counts return to zero.
func TestStreamCaps(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	h := ts.s.hub
	h.slots.setCaps(3, 2)
	ip1, ip2 := net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)
	a1 := ts.dialFrom(ip1, 200, "")
	a2 := ts.dialFrom(ip1, 200, "")
	waitStreams(t, h, 2, 1)
	ts.dialFrom(ip1, 429, "rate_limited") // the IP's cap
	b1 := ts.dialFrom(ip2, 200, "")
	waitStreams(t, h, 3, 2)
	ts.dialFrom(ip2, 503, "overloaded") // the total cap
	_ = a1.Close()
	waitStreams(t, h, 2, 2)
	a3 := ts.dialFrom(ip1, 200, "") // admitted again
	waitStreams(t, h, 3, 2)
	for _, ws := range []*websocket.Conn{a2, a3, b1} {
		_ = ws.Close()
	}
	waitStreams(t, h, 0, 0)
	if n := h.clients.Load(); n != 0 {
		t.Fatalf("hub clients %d after all closed", n)
	}
}

func TestStreamSlots(t *testing.T) {
	var l streamSlots
	l.setCaps(2, -1) // no cap per IP
	a, b := [16]byte{1}, [16]byte{2}
	for _, ip := range [][16]byte{a, a} {
		if err := l.admit(ip, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.admit(b, false); !errors.Is(err, errStreamsFull) || classify(err) != (apiError{503, "overloaded"}) {
		t.Fatalf("over the total: %v", err)
	}
	l.release(a)
	l.setCaps(-1, 1) // no total cap
	if err := l.admit(a, true); !errors.Is(err, errStreamsPerIP) || classify(err) != (apiError{429, "rate_limited"}) {
		t.Fatalf("over the IP's cap: %v", err)
	}
	if err := l.admit(b, true); err != nil {
		t.Fatal(err)
	}
	l.release(a)
	l.release(b)
	if n, ips := l.open(); n != 0 || ips != 0 {
		t.Fatalf("open %d from %d IPs after all released", n, ips)
	}
}

// TestStreamOpChargeAllocs checks that charging a client message
// allocates nothing once its bucket exists.
func TestStreamOpChargeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations differ under the race detector")
	}
	s := &Server{rl: newRateLimiter(1e9, 1e9), anonRL: newRateLimiter(1e9, 1e9)}
	tok := &liveToken{tokenRec: tokenRec{hash: [32]byte{1}}}
	ip := [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}
	s.allowStreamOp(nil, ip)
	s.allowStreamOp(tok, ip)
	if n := testing.AllocsPerRun(100, func() {
		s.allowStreamOp(nil, ip)
		s.allowStreamOp(tok, ip)
	}); n != 0 {
		t.Fatalf("%v allocations per charge", n)
	}
}

// dialFrom opens a stream from local address ip and checks the answer:
// status 200 (upgraded: it returns the connection) or an error with
// that status and code.
func (ts *testServer) dialFrom(ip net.IP, status int, code string) *websocket.Conn {
	ts.t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second,
		NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).DialContext}
	ws, resp, err := d.DialContext(context.Background(), "ws"+strings.TrimPrefix(ts.base, "http")+"/v1/stream", nil)
	if status == 200 {
		if err != nil {
			ts.t.Fatalf("dial from %v: %v", ip, err)
		}
		ts.t.Cleanup(func() { ws.Close() })
		return ws
	}
	if err == nil {
		ws.Close()
		ts.t.Fatalf("dial from %v upgraded, want %d %s", ip, status, code)
	}
	if resp == nil {
		ts.t.Fatalf("dial from %v: %v, want %d %s", ip, err, status, code)
	}
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	if resp.StatusCode != status || e.Error.Code != code {
		ts.t.Fatalf("dial from %v: %d %s, want %d %s", ip, resp.StatusCode, body, status, code)
	}
	if status == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "1" {
		ts.t.Fatalf("429 without Retry-After: %v", resp.Header)
	}
	return nil
}

// waitStreams waits until h has n streams open from ips client IPs.
func waitStreams(t *testing.T, h *hub, n, ips int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		gn, gips := h.slots.open()
		if gn == n && gips == ips {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d streams open from %d IPs, want %d from %d", gn, gips, n, ips)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
