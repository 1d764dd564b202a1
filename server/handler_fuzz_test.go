package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// FuzzHandler drives the whole request path in process — routing, path
// parameters, query strings, the Authorization and X-Request-Id headers
// and the body — with arbitrary requests against a server holding a
// market, two funded accounts, a resting order, a leader and a follow.
// Whatever the request:
//
//   - the answer is never 500 (a 5xx other than 503 overloaded is a bug);
//   - a success is JSON (but /metrics);
//   - an error answer is the API's error object with a stable code;
//   - an answer of 400 or more changes nothing a client can read: the
//     accounts and their balances, open orders, tokens, follows,
//     markets, the book and the fee account are as before;
//   - the X-Request-Id answered is one that may be logged and echoed as
//     it is (validRequestID), never a client's header with other bytes.
//
// Requests that succeed change the state, so the fuzzer's runs are not
// independent; the server is replaced by a fresh one every
// handlerFuzzRestart runs to bound that drift. POST /v1/admin/backup
// (it writes where the body says) and GET /v1/stream (an upgrade) are
// left out.
func FuzzHandler(f *testing.F) {
	for _, s := range handlerSeeds {
		f.Add(s.method, s.uri, s.auth, s.header, []byte(s.body))
	}
	var h *handlerFuzz
	// A switch armed by one request must not fire in a later one (its
	// cancels would seem to be that request's doing): the only timeout
	// allowed is a day.
	oldMin := deadmanMin.Load()
	deadmanMin.Store(int64(deadmanMax))
	f.Cleanup(func() {
		deadmanMin.Store(oldMin)
		if h != nil {
			h.close()
		}
	})
	f.Fuzz(func(t *testing.T, method uint8, uri string, auth uint8, header string, body []byte) {
		if h == nil || h.runs >= handlerFuzzRestart {
			if h != nil {
				h.close()
			}
			h = newHandlerFuzz(t)
		}
		h.runs++
		h.check(t, method, uri, auth, header, body)
	})
}

// handlerFuzzRestart is how many requests one server of FuzzHandler
// takes before a fresh one replaces it.
const handlerFuzzRestart = 500

var handlerMethods = [...]string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "get"}

type handlerSeed struct {
	method       uint8
	uri          string
	auth         uint8
	header, body string
}

// The auth selector of FuzzHandler: none, alice, bob, the admin, a
// made-up token, alice's with a lower-case scheme and two spaces, another
// scheme, or the header argument as the whole Authorization header.
const (
	authNone = iota
	authAlice
	authBob
	authAdmin
	authMadeUp
	authAliceOdd
	authBasic
	authRaw
	authKinds
)

var handlerSeeds = []handlerSeed{
	{1, "/v1/orders", authAlice, "", `{"market":"BTC-USDT","side":"sell","type":"limit","price":"65000","quantity":"0.5","client_order_id":"c-9"}`},
	{1, "/v1/orders", authBob, "req-1", `{"market":"BTC-USDT","side":"buy","type":"market","quote_quantity":"100"}`},
	{1, "/v1/orders", authBob, "", `{"market":"BTC-USDT","side":"buy","type":"limit","price":"64000.001","quantity":"0.5"}`},
	{1, "/v1/orders", authBob, "", `{"market":"BTC-USDT","side":"buy","type":"stop_limit","price":"66000","stop_price":"65500","quantity":"1e3"}`},
	{1, "/v1/orders", authAlice, "", `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.1","time_in_force":"gtd","expire_at":"2099-01-01T00:00:00.5Z"}`},
	{1, "/v1/orders", authAlice, "", `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.1","time_in_force":"gtd","expire_at":"2001-01-01T00:00:00Z"}`},
	{1, "/v1/orders", authBob, "", `{"market":"BTC-USDT","side":"buy","type":"market","quantity":"0.1","time_in_force":"gtd","expire_at":"2099-01-01T00:00:00+02:00"}`},
	{1, "/v1/orders/batch", authAlice, "", `{"orders":[{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.1"},{"market":"X","side":"buy"}]}`},
	{0, "/v1/orders?market=BTC-USDT&status=open&limit=10&after=0", authAlice, "", ``},
	{0, "/v1/orders/1", authAlice, "", ``},
	{3, "/v1/orders/1", authAlice, "", `{"quantity":"0.2"}`},
	{3, "/v1/orders/1", authBob, "", `{"price":"0"}`},
	{4, "/v1/orders/1", authBob, "", ``},
	{4, "/v1/orders?market=BTC-USDT", authAlice, "", ``},
	{4, "/v1/orders?market=", authAlice, "", ``},
	{0, "/v1/fills?market=BTC-USDT&limit=5", authBob, "", ``},
	{0, "/v1/transfers?asset=USDT&limit=5&after=1", authAlice, "", ``},
	{0, "/v1/admin/accounts/1/transfers", authAdmin, "", ``},
	{0, "/v1/admin/fees/withdrawals?limit=2", authAdmin, "", ``},
	{0, "/v1/social/follows/1/fills?limit=3", authBob, "", ``},
	{0, "/v1/social/events?follow_id=1&type=skipped&limit=3&after=1", authBob, "", ``},
	{0, "/v1/admin/accounts/2/social/events", authAdmin, "", ``},
	{0, "/v1/account", authAliceOdd, "", ``},
	{0, "/v1/account", authRaw, "Bearer\t", ``},
	{0, "/v1/account", authBasic, "", ``},
	{1, "/v1/accounts", authNone, "", `{"name":"carol"}`},
	{1, "/v1/withdrawals", authBob, "", `{"asset":"USDT","amount":"5","ref":"w-1"}`},
	{1, "/v1/withdrawals", authBob, "", `{"asset":"USDT","amount":"1000000","ref":"w-2"}`},
	{1, "/v1/tokens", authAlice, "", ``},
	{0, "/v1/tokens", authAlice, "", ``},
	{4, "/v1/tokens/1", authAlice, "", ``},
	{4, "/v1/tokens/2", authBob, "", ``},
	{1, "/v1/admin/markets", authAdmin, "", `{"symbol":"ETH-USDT","base":"ETH","quote":"USDT","tick_size":"0.01","lot_size":"0.001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`},
	{1, "/v1/admin/markets", authAdmin, "", `{"symbol":"ETH-USDT","base":"ETH","quote":"USDT","tick_size":"0.0000001","lot_size":"0.0000001"}`},
	{1, "/v1/admin/markets", authAdmin, "", `{"symbol":"SOL-USDT","base":"SOL","quote":"USDT","tick_size":"0.01","lot_size":"0.01","price_band_bps":500}`},
	{1, "/v1/admin/markets/BTC-USDT/price-band", authAdmin, "", `{"price_band_bps":100}`},
	{1, "/v1/admin/markets/BTC-USDT/price-band", authAdmin, "", `{"price_band_bps":10001}`},
	{1, "/v1/admin/markets/BTC-USDT/price-band", authBob, "", `{"price_band_bps":0}`},
	{1, "/v1/admin/markets/BTC-USDT/max-open-orders", authAdmin, "", `{"max_open_orders":3}`},
	{1, "/v1/admin/markets/BTC-USDT/max-open-orders", authAdmin, "", `{"max_open_orders":1000001}`},
	{1, "/v1/admin/markets/BTC-USDT/max-open-orders", authBob, "", `{"max_open_orders":0}`},
	{1, "/v1/admin/deposits", authAdmin, "", `{"account_id":2,"asset":"USDT","amount":"10","ref":"d-9"}`},
	{1, "/v1/admin/deposits", authAlice, "", `{"account_id":2,"asset":"USDT","amount":"10","ref":"d-9"}`},
	{0, "/v1/admin/accounts?limit=2&after=1", authAdmin, "", ``},
	{0, "/v1/admin/accounts/1/tokens", authAdmin, "", ``},
	{1, "/v1/admin/accounts/1/tokens", authAdmin, "", ``},
	{4, "/v1/admin/accounts/1/tokens/1", authAdmin, "", ``},
	{0, "/v1/admin/fees", authAdmin, "", ``},
	{1, "/v1/admin/accounts/2/freeze", authAdmin, "", ``},
	{1, "/v1/admin/accounts/2/unfreeze", authAdmin, "", ``},
	{1, "/v1/admin/accounts/1/freeze", authBob, "", ``},
	{1, "/v1/admin/accounts/0/freeze", authAdmin, "", ``},
	{1, "/v1/admin/accounts/x/freeze", authAdmin, "", ``},
	{0, "/v1/admin/accounts/1/freeze", authAdmin, "", ``},
	{1, "/v1/admin/fees/withdrawals", authAdmin, "", `{"asset":"USDT","amount":"0.01","ref":"fw-1"}`},
	{1, "/v1/admin/markets/BTC-USDT/halt", authAdmin, "", ``},
	{1, "/v1/admin/markets/BTC-USDT/resume", authAdmin, "", ``},
	{3, "/v1/admin/markets/BTC-USDT", authAdmin, "", `{"taker_fee_bps":40}`},
	{3, "/v1/admin/markets/BTC-USDT", authAdmin, "", `{"maker_fee_bps":1000,"taker_fee_bps":0}`},
	{3, "/v1/admin/markets/BTC-USDT", authAdmin, "", `{"maker_fee_bps":-1}`},
	{3, "/v1/admin/markets/BTC-USDT", authBob, "", `{"maker_fee_bps":0}`},
	{3, "/v1/admin/markets/NOPE", authAdmin, "", `{"maker_fee_bps":0}`},
	{1, "/v1/admin/settle?leader_id=1", authAdmin, "", ``},
	{0, "/v1/markets", authNone, "", ``},
	{0, "/v1/markets/BTC-USDT/book?depth=5", authNone, "", ``},
	{0, "/v1/markets/BTC-USDT/trades?limit=3", authNone, "", ``},
	{0, "/v1/markets/BTC-USDT/candles?interval=5m&limit=3", authNone, "", ``},
	{0, "/v1/markets/BTC-USDT/ticker", authNone, "", ``},
	{0, "/v1/markets/btc-usdt/book?depth=99999999999999999", authNone, "", ``},
	{2, "/v1/social/leader", authAlice, "", `{"display_name":"Alice","bio":"hi","profit_share_bps":1000}`},
	{0, "/v1/social/leaders?sort=roi&window=7d&limit=5", authNone, "", ``},
	{0, "/v1/social/leaders/1", authNone, "", ``},
	{1, "/v1/social/follows", authBob, "", `{"leader_id":1,"allocation":"1000","mode":"proportional","value":"1","max_order_quote":"100","slippage_bps":50,"stop_loss_bps":2000}`},
	{0, "/v1/social/follows", authBob, "", ``},
	{3, "/v1/social/follows/1", authBob, "", `{"top_up":"10"}`},
	{1, "/v1/social/follows/1/pause", authBob, "", ``},
	{1, "/v1/social/follows/1/resume", authBob, "", ``},
	{4, "/v1/social/follows/1?close=keep", authBob, "", ``},
	{4, "/v1/social/follows/1?close=sideways", authBob, "", ``},
	{0, "/v1/social/followers", authAlice, "", ``},
	{1, "/v1/orders/cancel-all-after", authAlice, "", `{"timeout_ms":86400000}`},
	{1, "/v1/orders/cancel-all-after", authAlice, "", `{"timeout_ms":0}`},
	{1, "/v1/orders/cancel-all-after", authBob, "", `{"timeout_ms":1000}`},
	{0, "/v1/orders/cancel-all-after", authBob, "", ``},
	{0, "/healthz", authNone, "", ``},
	{0, "/readyz", authNone, "", ``},
	{0, "/metrics", authNone, "", ``},
	{0, "/v1/openapi.json", authNone, "", ``},
	{5, "/v1/orders/%2e%2e/1", authAlice, "", ``},
	{0, "/v1/../v1/account", authAlice, "a\r\nb", ``},
}

// handlerFuzz is FuzzHandler's server and the tokens of its accounts.
type handlerFuzz struct {
	s          *Server
	dir        string
	alice, bob string
	runs       int
}

func newHandlerFuzz(t *testing.T) *handlerFuzz {
	nop := zerolog.Nop()
	// The history is saved on snapshots and shutdown only: a periodic
	// save is a state change of its own, seen by no read.
	// Not t.TempDir: the server outlives the run that opens it.
	dir, err := os.MkdirTemp("", "fuzzhandler")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(&Options{DataDir: dir, AdminToken: adminTok, Logger: &nop, RateLimit: -1,
		AnonRateLimit: -1, HistoryInterval: -1, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h := &handlerFuzz{s: s, dir: dir}
	must := func(want int, method, uri, auth, body string) map[string]any {
		code, b, _ := h.call(method, uri, auth, "", []byte(body))
		var out map[string]any
		if code != want || json.Unmarshal(b, &out) != nil {
			t.Fatalf("%s %s %s: %d %s", method, uri, body, code, b)
		}
		return out
	}
	admin := "Bearer " + adminTok
	must(201, "POST", "/v1/admin/markets", admin,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)
	h.alice = must(201, "POST", "/v1/accounts", "", `{"name":"alice"}`)["token"].(string)
	h.bob = must(201, "POST", "/v1/accounts", "", `{"name":"bob"}`)["token"].(string)
	must(201, "POST", "/v1/admin/deposits", admin, `{"account_id":1,"asset":"BTC","amount":"2","ref":"d-a"}`)
	must(201, "POST", "/v1/admin/deposits", admin, `{"account_id":2,"asset":"USDT","amount":"100000","ref":"d-b"}`)
	must(201, "POST", "/v1/orders", "Bearer "+h.alice,
		`{"market":"BTC-USDT","side":"sell","type":"limit","price":"65000","quantity":"0.5","client_order_id":"c-1"}`)
	must(200, "PUT", "/v1/social/leader", "Bearer "+h.alice, `{"display_name":"Alice","profit_share_bps":1000}`)
	must(201, "POST", "/v1/social/follows", "Bearer "+h.bob,
		`{"leader_id":1,"allocation":"1000","mode":"proportional","value":"1"}`)
	return h
}

func (h *handlerFuzz) close() {
	err := h.s.Close()
	os.RemoveAll(h.dir)
	if err != nil {
		panic(err)
	}
}

// call serves one request in process and returns its status, body and
// X-Request-Id.
func (h *handlerFuzz) call(method, uri, auth, requestID string, body []byte) (int, []byte, string) {
	code, out, rid, _ := h.serve(method, uri, auth, requestID, body)
	return code, out, rid
}

// serve is call, also returning the request's path as the server saw it
// (normalized).
func (h *handlerFuzz) serve(method, uri, auth, requestID string, body []byte) (int, []byte, string, string) {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if requestID != "" {
		req.Header.Set(requestIDHeader, requestID)
	}
	req.SetBody(body)
	if p := string(req.URI().Path()); p == "/v1/admin/backup" || p == "/v1/stream" {
		// Left out (as the server sees the path: "/v1/admin/back%75p"
		// is the backup too).
		return 0, nil, "", p
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	h.s.Handler()(&ctx)
	return ctx.Response.StatusCode(), bytes.Clone(ctx.Response.Body()), string(ctx.Response.Header.Peek(requestIDHeader)),
		string(ctx.Path())
}

// state returns what clients can read of the server's state, once the
// views show every durable command.
func (h *handlerFuzz) state(t *testing.T) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.s.eng.WaitViews(ctx, h.s.eng.DurableSeq()); err != nil {
		t.Fatalf("views: %v", err)
	}
	var sb strings.Builder
	for _, r := range []struct{ uri, auth string }{
		{"/v1/admin/accounts?limit=1000", "Bearer " + adminTok},
		{"/v1/admin/fees", "Bearer " + adminTok},
		{"/v1/admin/accounts/1/tokens", "Bearer " + adminTok},
		{"/v1/admin/accounts/2/tokens", "Bearer " + adminTok},
		{"/v1/markets", ""},
		{"/v1/markets/BTC-USDT/book?depth=50", ""},
		{"/v1/orders?status=open&limit=1000", "Bearer " + h.alice},
		{"/v1/orders?status=open&limit=1000", "Bearer " + h.bob},
		{"/v1/social/follows", "Bearer " + h.bob},
		{"/v1/social/leaders/1", ""},
		{"/v1/transfers?limit=1000", "Bearer " + h.alice},
		{"/v1/transfers?limit=1000", "Bearer " + h.bob},
		{"/v1/social/events?limit=1000", "Bearer " + h.alice},
		{"/v1/social/events?limit=1000", "Bearer " + h.bob},
		{"/v1/admin/fees/withdrawals?limit=1000", "Bearer " + adminTok},
		{"/v1/orders/cancel-all-after", "Bearer " + h.alice},
		{"/v1/orders/cancel-all-after", "Bearer " + h.bob},
	} {
		code, b, _ := h.call("GET", r.uri, r.auth, "", nil)
		fmt.Fprintf(&sb, "%s %d %s\n", r.uri, code, b)
	}
	return sb.String()
}

func (h *handlerFuzz) check(t *testing.T, m uint8, uri string, auth uint8, header string, body []byte) {
	method := handlerMethods[int(m)%len(handlerMethods)]
	if !strings.HasPrefix(uri, "/") {
		uri = "/" + uri
	}
	var authz string
	switch auth % authKinds {
	case authAlice:
		authz = "Bearer " + h.alice
	case authBob:
		authz = "Bearer " + h.bob
	case authAdmin:
		authz = "Bearer " + adminTok
	case authMadeUp:
		authz = "Bearer tok_made_up"
	case authAliceOdd:
		authz = "bEARER  " + h.alice
	case authBasic:
		authz = "Basic " + h.alice
	case authRaw:
		authz = header
	}
	before := h.state(t)
	code, out, rid, path := h.serve(method, uri, authz, header, body)
	if code == 0 { // left out
		return
	}
	if !validRequestID([]byte(rid)) {
		t.Fatalf("%s %q: X-Request-Id %q", method, uri, rid)
	}
	if code >= 500 && code != 503 {
		t.Fatalf("%s %q %q: %d %s", method, uri, body, code, out)
	}
	if code < 400 {
		if method != "HEAD" && path != "/metrics" && !json.Valid(out) {
			t.Fatalf("%s %q %q: %d answered %q, not JSON", method, uri, body, code, out)
		}
		return
	}
	if method != "HEAD" {
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(out, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%s %q %q: %d answered %q", method, uri, body, code, out)
		}
	}
	if after := h.state(t); after != before {
		t.Fatalf("%s %q %q answered %d %s, and the state changed:\n%s\nthen\n%s", method, uri, body, code, out, before, after)
	}
}
