package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/engine"
	"github.com/rs/zerolog"
)

const adminTok = "test-admin-token-of-32-characters" // no warning: minAdminToken

// testServer is a Server on a loopback port, driven over HTTP.
type testServer struct {
	t    *testing.T
	dir  string
	s    *Server
	base string
	c    *http.Client
	// journalFailed: the test fails the journal (failPlaces), so Close
	// reports engine.ErrJournal.
	journalFailed bool
}

// start opens a server on dir and serves it on a free loopback port.
func start(t *testing.T, dir string, opts *Options) *testServer {
	t.Helper()
	o := Options{DataDir: dir, AdminToken: adminTok}
	if opts != nil {
		o = *opts
		o.DataDir = dir
	}
	if o.Logger == nil {
		nop := zerolog.Nop()
		o.Logger = &nop
	}
	s, err := Open(&o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	ts := &testServer{t: t, dir: dir, s: s, base: "http://" + ln.Addr().String(),
		c: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}}
	t.Cleanup(ts.stop)
	return ts
}

// stop shuts the server down (idempotent).
func (ts *testServer) stop() {
	ts.c.CloseIdleConnections()
	if err := ts.s.Close(); err != nil && !(ts.journalFailed && errors.Is(err, engine.ErrJournal)) {
		ts.t.Error(err)
	}
}

// req sends a request and returns the status and the decoded JSON body.
func (ts *testServer) req(method, path, token, body string) (int, map[string]any) {
	ts.t.Helper()
	code, out, err := ts.send(method, path, token, body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return code, out
}

// send is req returning a transport error (sending the request or
// reading the answer) instead of failing the test.
func (ts *testServer) send(method, path, token, body string) (int, map[string]any, error) {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, ts.base+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.c.Do(r)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			ts.t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	if resp.StatusCode >= 500 {
		ts.t.Errorf("%s %s %s: %d %s", method, path, body, resp.StatusCode, raw)
	}
	return resp.StatusCode, out, nil
}

// must sends a request and fails unless the status is want.
func (ts *testServer) must(want int, method, path, token, body string) map[string]any {
	ts.t.Helper()
	code, out := ts.req(method, path, token, body)
	if code != want {
		ts.t.Fatalf("%s %s %s: status %d, want %d: %v", method, path, body, code, want, out)
	}
	return out
}

// errCode sends a request and returns its status and error code.
func (ts *testServer) errCode(method, path, token, body string) (int, string) {
	ts.t.Helper()
	code, out := ts.req(method, path, token, body)
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	if code < 400 || c == "" {
		ts.t.Fatalf("%s %s %s: status %d, want an error: %v", method, path, body, code, out)
	}
	return code, c
}

// signup creates an account and returns its id and token.
func (ts *testServer) signup(name string) (uint64, string) {
	out := ts.must(201, "POST", "/v1/accounts", "", fmt.Sprintf(`{"name":%q}`, name))
	return uint64(out["id"].(float64)), out["token"].(string)
}

// setup creates BTC-USDT (tick 0.01, lot 0.0001) and alice (2 BTC) and
// bob (100000 USDT).
func (ts *testServer) setup() (alice, bob string) {
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)
	aid, alice := ts.signup("alice")
	bid, bob := ts.signup("bob")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"BTC","amount":"2","ref":"d-a"}`, aid))
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"100000","ref":"d-b"}`, bid))
	return alice, bob
}

// balances returns asset → "available/locked" of the token's account.
func (ts *testServer) balances(token string) map[string]string {
	ts.t.Helper()
	out := ts.must(200, "GET", "/v1/account", token, "")
	m := map[string]string{}
	for _, b := range out["balances"].([]any) {
		b := b.(map[string]any)
		m[b["asset"].(string)] = b["available"].(string) + "/" + b["locked"].(string)
	}
	return m
}

// book returns the book as a string, once it equals want (views lag
// briefly) or after a second.
func (ts *testServer) book(sym, want string) string {
	ts.t.Helper()
	var got string
	for i := 0; i < 100; i++ {
		out := ts.must(200, "GET", "/v1/markets/"+sym+"/book", "", "")
		got = fmt.Sprint(out["bids"], out["asks"])
		if got == want {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return got
}

func id(out map[string]any) string {
	return fmt.Sprint(uint64(out["order"].(map[string]any)["id"].(float64)))
}

func TestEndToEnd(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	ts.must(200, "GET", "/healthz", "", "")
	ts.must(200, "GET", "/readyz", "", "")
	alice, bob := ts.setup()

	// Deposits are idempotent by ref.
	out := ts.must(200, "POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"BTC","amount":"2","ref":"d-a"}`)
	if out["duplicate"] != true {
		t.Fatalf("duplicate deposit: %v", out)
	}
	if got := ts.balances(alice); got["BTC"] != "2/0" {
		t.Fatalf("alice %v", got)
	}

	sell := ts.must(201, "POST", "/v1/orders", alice,
		`{"market":"BTC-USDT","side":"sell","type":"limit","price":"65000.5","quantity":"0.5","client_order_id":"c-1"}`)
	o := sell["order"].(map[string]any)
	if o["status"] != "open" || o["price"] != "65000.5" || o["quantity"] != "0.5" || o["stp"] != "cancel_taker" {
		t.Fatalf("sell %v", o)
	}
	// Resending the client order id returns the original with 200.
	again := ts.must(200, "POST", "/v1/orders", alice,
		`{"market":"BTC-USDT","side":"sell","type":"limit","price":"65000.5","quantity":"0.5","client_order_id":"c-1"}`)
	if id(again) != id(sell) {
		t.Fatalf("idempotent resend gave %v, want %v", id(again), id(sell))
	}
	if got := ts.book("BTC-USDT", "[] [[65000.5 0.5]]"); got != "[] [[65000.5 0.5]]" {
		t.Fatalf("book %s", got)
	}

	buy := ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65001","quantity":"0.2"}`)
	fills := buy["fills"].([]any)
	if bo := buy["order"].(map[string]any); bo["status"] != "filled" || bo["avg_price"] != "65000.5" || len(fills) != 1 {
		t.Fatalf("buy %v", buy)
	}
	f := fills[0].(map[string]any)
	// 0.2 × 65000.5 = 13000.1 USDT; taker fee 20 bps = 26.0002.
	if f["price"] != "65000.5" || f["quantity"] != "0.2" || f["fee"] != "26.0002" || f["liquidity"] != "taker" || f["fee_asset"] != "USDT" {
		t.Fatalf("fill %v", f)
	}
	if got := ts.balances(bob); got["BTC"] != "0.2/0" || got["USDT"] != "86973.8998/0" {
		t.Fatalf("bob %v", got)
	}
	if got := ts.balances(alice); got["BTC"] != "1.5/0.3" || got["USDT"] != "12987.0999/0" {
		t.Fatalf("alice %v", got) // maker fee 10 bps = 13.0001
	}
	so := ts.must(200, "GET", "/v1/orders/"+id(sell), alice, "")
	if so["status"] != "partially_filled" || so["filled"] != "0.2" || so["remaining"] != "0.3" {
		t.Fatalf("sell after fill %v", so)
	}
	af := ts.must(200, "GET", "/v1/fills", alice, "")["fills"].([]any)
	if len(af) != 1 || af[0].(map[string]any)["liquidity"] != "maker" {
		t.Fatalf("alice fills %v", af)
	}

	// Amend down (quantity is the new total) keeps the order; then
	// cancel it.
	am := ts.must(200, "PATCH", "/v1/orders/"+id(sell), alice, `{"quantity":"0.3"}`)
	if am["remaining"] != "0.1" || am["quantity"] != "0.3" {
		t.Fatalf("amended %v", am)
	}
	if got := ts.balances(alice); got["BTC"] != "1.7/0.1" {
		t.Fatalf("alice after amend %v", got)
	}
	c := ts.must(200, "DELETE", "/v1/orders/"+id(sell), alice, "")
	if c["status"] != "cancelled" {
		t.Fatalf("cancelled %v", c)
	}
	if code, ec := ts.errCode("DELETE", "/v1/orders/"+id(sell), alice, ""); code != 404 || ec != "not_found" {
		t.Fatalf("second cancel: %d %s", code, ec)
	}

	// Post-only that would cross; insufficient funds; market by quote.
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.1"}`)
	if code, ec := ts.errCode("POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"70000","quantity":"0.1","post_only":true}`); code != 400 || ec != "would_cross" {
		t.Fatalf("post-only: %d %s", code, ec)
	}
	if code, ec := ts.errCode("POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"5"}`); code != 400 || ec != "insufficient_funds" {
		t.Fatalf("insufficient: %d %s", code, ec)
	}
	mb := ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","type":"market","quote_quantity":"3600"}`)
	if bo := mb["order"].(map[string]any); bo["status"] != "filled" || bo["filled"] != "0.0513" {
		t.Fatalf("market buy by quote %v", mb) // 3600 less the 20 bps fee buys 0.0513 at 70000
	}

	// Stop order waits, then triggers on a trade.
	st := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","type":"stop_limit","price":"60000","stop_price":"60000","quantity":"0.01"}`)
	if so := st["order"].(map[string]any); so["status"] != "open" || so["triggered"] != false {
		t.Fatalf("stop %v", st)
	}
	list := ts.must(200, "GET", "/v1/orders?status=open&market=BTC-USDT", alice, "")["orders"].([]any)
	if len(list) != 2 {
		t.Fatalf("open orders %v", list)
	}
	cancelled := ts.must(200, "DELETE", "/v1/orders?market=BTC-USDT", alice, "")["cancelled"].([]any)
	if len(cancelled) != 2 {
		t.Fatalf("cancel all %v", cancelled)
	}

	// Halt and resume.
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/halt", adminTok, "")
	if code, ec := ts.errCode("POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"1","quantity":"1"}`); ec != "market_halted" {
		t.Fatalf("halted: %d %s", code, ec)
	}
	mk := ts.must(200, "GET", "/v1/markets", "", "")["markets"].([]any)[0].(map[string]any)
	if mk["halted"] != true || mk["tick_size"] != "0.01" || mk["lot_size"] != "0.0001" || mk["min_notional"] != "1" {
		t.Fatalf("market %v", mk)
	}
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/resume", adminTok, "")
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"1","quantity":"1"}`)

	// Withdrawals are idempotent and checked.
	ts.must(201, "POST", "/v1/withdrawals", alice, `{"asset":"USDT","amount":"5","ref":"w-1"}`)
	ts.must(200, "POST", "/v1/withdrawals", alice, `{"asset":"USDT","amount":"5","ref":"w-1"}`)
	if _, ec := ts.errCode("POST", "/v1/withdrawals", alice, `{"asset":"USDT","amount":"1000000","ref":"w-2"}`); ec != "insufficient_funds" {
		t.Fatal(ec)
	}

	ts.must(200, "GET", "/v1/openapi.json", "", "")
	resp, err := ts.c.Get(ts.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`http_requests_total{code="201",handler="/v1/orders"}`, "http_request_duration_seconds_bucket",
		`orders_total{market="BTC-USDT",result="accepted",type="limit"}`, `orders_total{market="BTC-USDT",result="would_cross",type="limit"}`,
		`trades_total{market="BTC-USDT"}`, `trading_volume_total{market="BTC-USDT"}`, "user_registrations_total 2",
		"engine_commands_total", "wal_fsync_duration_seconds_bucket", "wal_disk_fsync_duration_seconds_bucket", "engine_queue_depth", "engine_queue_capacity 16384", "wal_durable_sequence", "history_base_bytes", "history_segments_bytes", "go_goroutines"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestIsolation(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	sell := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5"}`)
	oid := id(sell)
	for _, r := range [][3]string{{"GET", "/v1/orders/" + oid, ""}, {"DELETE", "/v1/orders/" + oid, ""},
		{"PATCH", "/v1/orders/" + oid, `{"quantity":"0.1"}`}, {"PATCH", "/v1/orders/" + oid, `{"price":"1"}`}} {
		if code, ec := ts.errCode(r[0], r[1], bob, r[2]); code != 404 || ec != "not_found" {
			t.Errorf("bob %s %s: %d %s", r[0], r[1], code, ec)
		}
	}
	if l := ts.must(200, "GET", "/v1/orders", bob, "")["orders"].([]any); len(l) != 0 {
		t.Errorf("bob lists %v", l)
	}
	ts.must(200, "DELETE", "/v1/orders?market=BTC-USDT", bob, "")
	o := ts.must(200, "GET", "/v1/orders/"+oid, alice, "")
	if o["status"] != "open" || o["remaining"] != "0.5" {
		t.Fatalf("alice's order after bob's attempts: %v", o)
	}
	if got := ts.balances(alice); got["BTC"] != "1.5/0.5" {
		t.Fatalf("alice %v", got)
	}
}

func TestAuth(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	for _, tc := range []struct {
		method, path, token string
		code                int
	}{
		{"GET", "/v1/account", "", 401},
		{"GET", "/v1/account", "nope", 401},
		{"GET", "/v1/account", adminTok, 403},
		{"POST", "/v1/admin/markets/BTC-USDT/halt", alice, 403},
		{"POST", "/v1/admin/markets/BTC-USDT/halt", "", 401},
		{"POST", "/v1/admin/deposits", alice, 403},
	} {
		if code, _ := ts.errCode(tc.method, tc.path, tc.token, ""); code != tc.code {
			t.Errorf("%s %s with %q: %d, want %d", tc.method, tc.path, tc.token, code, tc.code)
		}
	}
	// A second token, then revoke it.
	out := ts.must(201, "POST", "/v1/tokens", alice, "")
	tok2 := out["token"].(string)
	ts.must(200, "GET", "/v1/account", tok2, "")
	ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", uint64(out["id"].(float64))), alice, "")
	if code, _ := ts.errCode("GET", "/v1/account", tok2, ""); code != 401 {
		t.Fatalf("revoked token: %d", code)
	}
	ts.must(200, "GET", "/v1/account", alice, "")
}

func TestBadInput(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, MaxBodySize: 4096})
	alice, _ := ts.setup()
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5"}`)
	before := fmt.Sprint(ts.balances(alice), ts.book("BTC-USDT", "[] [[65000 0.5]]"), ts.s.eng.DurableSeq())
	big := `{"market":"` + strings.Repeat("x", 5000) + `"}`
	for _, tc := range []struct{ method, path, token, body string }{
		{"POST", "/v1/orders", alice, ``},
		{"POST", "/v1/orders", alice, `{`},
		{"POST", "/v1/orders", alice, `[]`},
		{"POST", "/v1/orders", alice, `null`},
		{"POST", "/v1/orders", alice, big},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":65000,"quantity":"0.1"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"1e5","quantity":"0.1"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"-1","quantity":"0.1"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000.001","quantity":"0.1"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.00001"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"99999999999999999999","quantity":"0.1"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"9000000000","quantity":"0.1"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sideways","price":"1","quantity":"0.1"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","type":"limit","quantity":"0.1"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","type":"stop_market","quantity":"0.1"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"1","quantity":"0.1","time_in_force":"day"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"1","quantity":"0.1","stp":"x"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"1","quantity":"0.1","post_only":"yes"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"1","quantity":"0.1","extra":1}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"1","quantity":"0.1","client_order_id":"` + strings.Repeat("c", 37) + `"}`},
		{"POST", "/v1/orders", alice, `{"market":"ETH-USDT","side":"sell","price":"1","quantity":"0.1"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","type":"market","quote_quantity":"10"}`},
		{"POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"0.01","quantity":"0.0001"}`}, // below min notional
		{"PATCH", "/v1/orders/1", alice, `{}`},
		{"PATCH", "/v1/orders/1", alice, `{"price":"abc"}`},
		{"PATCH", "/v1/orders/999", alice, `{"price":"1"}`},
		{"GET", "/v1/orders/abc", alice, ``},
		{"GET", "/v1/orders/99999999999999999999", alice, ``},
		{"GET", "/v1/orders?limit=0", alice, ``},
		{"GET", "/v1/orders?status=maybe", alice, ``},
		{"GET", "/v1/fills?market=NOPE", alice, ``},
		{"DELETE", "/v1/orders", alice, ``},
		{"GET", "/v1/markets/NOPE/book", "", ``},
		{"GET", "/v1/markets/BTC-USDT/book?depth=x", "", ``},
		{"POST", "/v1/withdrawals", alice, `{"asset":"USDT","amount":"1.000000001","ref":"w"}`},
		{"POST", "/v1/withdrawals", alice, `{"asset":"DOGE","amount":"1","ref":"w"}`},
		{"POST", "/v1/withdrawals", alice, `{"asset":"USDT","amount":"1"}`},
		{"POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"BTC","amount":"0","ref":"z"}`},
		{"POST", "/v1/admin/deposits", adminTok, `{"account_id":99,"asset":"BTC","amount":"1","ref":"z"}`},
		{"POST", "/v1/admin/deposits", adminTok, `{"account_id":-1,"asset":"BTC","amount":"1","ref":"z"}`},
		{"POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"BTC","amount":"5","ref":"d-a"}`}, // ref reused
		{"POST", "/v1/admin/markets", adminTok, `{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001"}`},
		{"POST", "/v1/admin/markets", adminTok, `{"symbol":"X-Y","base":"X","quote":"Y","tick_size":"0.000000001","lot_size":"1"}`},
		{"POST", "/v1/admin/markets", adminTok, `{"symbol":"X-Y","base":"X","quote":"Y","tick_size":"0.00001","lot_size":"0.0001"}`},
		{"POST", "/v1/admin/markets", adminTok, `{"symbol":"XY","base":"X","quote":"Y","tick_size":"1","lot_size":"1"}`},
		{"POST", "/v1/admin/markets", adminTok, `{"symbol":"X-Y","base":"X","quote":"Y","tick_size":"1","lot_size":"1","taker_fee_bps":5000}`},
		{"POST", "/v1/admin/markets/NOPE/halt", adminTok, ``},
		{"POST", "/v1/accounts", "", `{"name":""}`},
		{"POST", "/v1/accounts", "", `{"name":"` + strings.Repeat("n", 25) + `"}`},
		{"PUT", "/v1/orders", alice, ``},
		{"GET", "/v1/nothing", alice, ``},
	} {
		code, out := ts.req(tc.method, tc.path, tc.token, tc.body)
		e, _ := out["error"].(map[string]any)
		if code < 400 || code >= 500 || e == nil || e["code"] == "" || e["message"] == "" {
			t.Errorf("%s %s %.80s: %d %v", tc.method, tc.path, tc.body, code, out)
		}
	}
	after := fmt.Sprint(ts.balances(alice), ts.book("BTC-USDT", "[] [[65000 0.5]]"), ts.s.eng.DurableSeq())
	// Rejected commands may have taken sequence numbers; compare state only.
	if strings.Join(strings.Fields(before)[:2], " ") != strings.Join(strings.Fields(after)[:2], " ") {
		t.Fatalf("state changed by bad input:\n%s\n%s", before, after)
	}
	if l := ts.must(200, "GET", "/v1/markets", "", "")["markets"].([]any); len(l) != 1 {
		t.Fatalf("markets %v", l)
	}
}

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, &Options{}) // admin token generated
	admin := ts.s.GeneratedAdminToken()
	if admin == "" {
		t.Fatal("no admin token generated")
	}
	ts.must(201, "POST", "/v1/admin/markets", admin,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001"}`)
	aid, alice := ts.signup("alice")
	ts.must(201, "POST", "/v1/admin/deposits", admin, fmt.Sprintf(`{"account_id":%d,"asset":"BTC","amount":"2","ref":"d"}`, aid))
	sell := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5","client_order_id":"keep"}`)
	bal := ts.balances(alice)
	ts.stop()

	ts2 := start(t, dir, &Options{})
	if ts2.s.GeneratedAdminToken() != "" {
		t.Fatal("admin token generated again")
	}
	if got := ts2.balances(alice); fmt.Sprint(got) != fmt.Sprint(bal) {
		t.Fatalf("balances after restart %v, want %v", got, bal)
	}
	if got := ts2.book("BTC-USDT", "[] [[65000 0.5]]"); got != "[] [[65000 0.5]]" {
		t.Fatalf("book after restart %s", got)
	}
	o := ts2.must(200, "GET", "/v1/orders/"+id(sell), alice, "")
	if o["client_order_id"] != "keep" || o["status"] != "open" {
		t.Fatalf("order after restart %v", o)
	}
	again := ts2.must(200, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5","client_order_id":"keep"}`)
	if id(again) != id(sell) {
		t.Fatal("client order id not idempotent across restart")
	}
	ts2.must(200, "POST", "/v1/admin/markets/BTC-USDT/halt", admin, "")

	// Online backup, then start from it.
	bdir := filepath.Join(t.TempDir(), "backup")
	ts2.must(201, "POST", "/v1/admin/backup", admin, fmt.Sprintf(`{"to":%q}`, bdir))
	ts2.must(200, "DELETE", "/v1/orders/"+id(sell), alice, "")
	ts2.stop()

	ts3 := start(t, bdir, &Options{})
	if got := ts3.balances(alice); got["BTC"] != "1.5/0.5" {
		t.Fatalf("balances in backup %v", got)
	}
	if o := ts3.must(200, "GET", "/v1/orders/"+id(sell), alice, ""); o["status"] != "open" {
		t.Fatalf("order in backup %v", o)
	}
}

func TestSignupDisabled(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, DisableSignup: true})
	if code, ec := ts.errCode("POST", "/v1/accounts", "", `{"name":"x"}`); code != 403 || ec != "forbidden" {
		t.Fatalf("%d %s", code, ec)
	}
}

func TestAdminAccountsAndHistoryGap(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, HistoryInterval: 10 * time.Millisecond})
	alice, _ := ts.setup()
	accts := ts.must(200, "GET", "/v1/admin/accounts", adminTok, "")["accounts"].([]any)
	if len(accts) != 2 || accts[0].(map[string]any)["name"] != "alice" || accts[1].(map[string]any)["id"] != 2.0 {
		t.Fatalf("accounts %v", accts)
	}
	if a := ts.must(200, "GET", "/v1/admin/accounts?after=1&limit=5", adminTok, "")["accounts"].([]any); len(a) != 1 {
		t.Fatalf("accounts after 1: %v", a)
	}
	if code, _ := ts.errCode("GET", "/v1/admin/accounts", alice, ""); code != 403 {
		t.Fatalf("user lists accounts: %d", code)
	}
	// The periodic save catches up with the engine.
	sell := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5"}`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		saved := newReadModel()
		if _, err := saved.loadHistory(ts.s.store); err != nil {
			t.Fatal(err)
		}
		if _, ok := saved.order(1, 1); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("history never saved")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// An order missing from the history (as after a crash) can still be
	// cancelled.
	ts.s.rm.mu.Lock()
	ts.s.rm.Orders.del(1)
	ts.s.rm.mu.Unlock()
	if code, _ := ts.errCode("GET", "/v1/orders/"+id(sell), alice, ""); code != 404 {
		t.Fatal(code)
	}
	if c := ts.must(200, "DELETE", "/v1/orders/"+id(sell), alice, ""); c["status"] != "cancelled" {
		t.Fatalf("cancel in gap: %v", c)
	}
	if got := ts.balances(alice); got["BTC"] != "2/0" {
		t.Fatalf("alice %v", got)
	}
}

func TestBatch(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	out := ts.must(200, "POST", "/v1/orders/batch", alice, `{"orders":[
		{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.1","client_order_id":"b-1"},
		{"market":"BTC-USDT","side":"sell","price":"1e3","quantity":"0.1"},
		{"market":"NOPE","side":"sell","price":"1","quantity":"0.1"},
		5,
		{"market":"BTC-USDT","side":"sell","price":"65001","quantity":"0.2"},
		{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.1","client_order_id":"b-1"}]}`)
	res := out["results"].([]any)
	if len(res) != 6 {
		t.Fatalf("results %v", res)
	}
	codes := ""
	for _, r := range res {
		r := r.(map[string]any)
		if e, ok := r["error"].(map[string]any); ok {
			codes += e["code"].(string) + " "
		} else {
			codes += r["order"].(map[string]any)["status"].(string) + fmt.Sprint(r["duplicate"]) + " "
		}
	}
	if codes != "openfalse invalid_argument not_found invalid_argument openfalse opentrue " {
		t.Fatalf("batch results: %s", codes)
	}
	res = ts.must(200, "POST", "/v1/orders/batch", bob, `{"orders":[{"market":"BTC-USDT","side":"buy","type":"market","quantity":"0.3"}]}`)["results"].([]any)
	if f := res[0].(map[string]any)["fills"].([]any); len(f) != 2 {
		t.Fatalf("fills %v", res)
	}
	var full strings.Builder
	full.WriteString(`{"orders":[`)
	for i := range maxBatch {
		if i > 0 {
			full.WriteByte(',')
		}
		fmt.Fprintf(&full, `{"market":"BTC-USDT","side":"sell","type":"limit","price":"%d","quantity":"0.0001","time_in_force":"gtc","client_order_id":"bulk-%d"}`, 70000+i, i)
	}
	full.WriteString(`]}`)
	if full.Len() <= 64<<10 {
		t.Fatal("test batch too small")
	}
	res = ts.must(200, "POST", "/v1/orders/batch", alice, full.String())["results"].([]any)
	if len(res) != maxBatch || res[maxBatch-1].(map[string]any)["order"].(map[string]any)["client_order_id"] != "bulk-999" {
		t.Fatalf("full batch: %d results", len(res))
	}
	if code, _ := ts.errCode("POST", "/v1/orders", alice, full.String()); code != 413 {
		t.Fatalf("large body on /v1/orders: %d", code)
	}
	many := `{"orders":[` + strings.Repeat(`{"market":"BTC-USDT","side":"sell","price":"1","quantity":"1"},`, maxBatch) + `{}]}`
	if code, _ := ts.errCode("POST", "/v1/orders/batch", alice, many); code != 400 {
		t.Fatal(code)
	}
	for _, bad := range []string{``, `{}`, `{"orders":[]}`, `{"orders":{}}`, `{"orders":[],"x":1}`} {
		if code, _ := ts.errCode("POST", "/v1/orders/batch", alice, bad); code != 400 {
			t.Fatalf("%s: %d", bad, code)
		}
	}
}

// order returns one order's fields of interest.
func (ts *testServer) order(token, oid string) string {
	ts.t.Helper()
	o := ts.must(200, "GET", "/v1/orders/"+oid, token, "")
	return fmt.Sprint(o["status"], " ", o["filled"], "/", o["quantity"], " rem ", o["remaining"])
}

func TestOrderLifecycles(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, `{"account_id":1,"asset":"USDT","amount":"100000","ref":"d-a2"}`)
	place := func(tok, body string) string {
		return id(ts.must(201, "POST", "/v1/orders", tok, body))
	}
	ask := place(alice, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"1","display_quantity":"0.25"}`)
	if got := ts.book("BTC-USDT", "[] [[100 0.25]]"); got != "[] [[100 0.25]]" {
		t.Fatalf("iceberg shows %s", got)
	}
	// Self-trade: the default stp cancels the taker.
	self := place(alice, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"0.1"}`)
	if got := ts.order(alice, self); got != "cancelled 0/0.1 rem 0" {
		t.Fatalf("self-trade taker: %s", got)
	}
	// FOK that cannot fill expires whole; IOC fills part and expires.
	fok := place(bob, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"2","time_in_force":"fok"}`)
	if got := ts.order(bob, fok); got != "expired 0/2 rem 0" {
		t.Fatalf("fok: %s", got)
	}
	ioc := place(bob, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"0.5","time_in_force":"ioc"}`)
	if got := ts.order(bob, ioc); got != "filled 0.5/0.5 rem 0" {
		t.Fatalf("ioc: %s", got)
	}
	ioc2 := place(bob, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"0.7","time_in_force":"ioc"}`)
	if got := ts.order(bob, ioc2); got != "expired 0.5/0.7 rem 0" {
		t.Fatalf("ioc partial: %s", got)
	}
	if got := ts.order(alice, ask); got != "filled 1/1 rem 0" {
		t.Fatalf("iceberg maker: %s", got)
	}
	// A buy stop triggers on a trade at or above its stop price.
	stop := place(bob, `{"market":"BTC-USDT","side":"buy","type":"stop_market","stop_price":"110","price":"120","quantity":"0.1"}`)
	place(alice, `{"market":"BTC-USDT","side":"sell","price":"110","quantity":"0.2"}`)
	if got := ts.order(bob, stop); got != "open 0/0.1 rem 0.1" {
		t.Fatalf("stop before trigger: %s", got)
	}
	place(bob, `{"market":"BTC-USDT","side":"buy","price":"110","quantity":"0.05"}`) // trades at 110, releases the stop
	if got := ts.order(bob, stop); got != "filled 0.1/0.1 rem 0" {
		t.Fatalf("stop after trigger: %s", got)
	}
	if o := ts.must(200, "GET", "/v1/orders/"+stop, bob, ""); o["triggered"] != true || o["avg_price"] != "110" {
		t.Fatalf("stop %v", o)
	}
	// Lists page by id.
	all := ts.must(200, "GET", "/v1/orders?limit=2", bob, "")["orders"].([]any)
	if len(all) != 2 {
		t.Fatalf("limit 2: %v", all)
	}
	last := uint64(all[1].(map[string]any)["id"].(float64))
	rest := ts.must(200, "GET", fmt.Sprintf("/v1/orders?after=%d&status=done", last), bob, "")["orders"].([]any)
	for _, o := range rest {
		if o := o.(map[string]any); uint64(o["id"].(float64)) <= last || o["status"] == "open" {
			t.Fatalf("after %d: %v", last, o)
		}
	}
	fills := ts.must(200, "GET", "/v1/fills?market=BTC-USDT&limit=1000", bob, "")["fills"].([]any)
	if len(fills) != 6 { // ioc 0.25+0.25, ioc2 0.25+0.25, 0.05 at 110, stop 0.1 at 110
		t.Fatalf("bob's fills: %d %v", len(fills), fills)
	}
}

// Options.SnapshotEvery snapshots after that many commands, without
// waiting for SnapshotInterval.
func TestSnapshotEvery(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, &Options{AdminToken: adminTok, SnapshotInterval: time.Hour, SnapshotEvery: 10, SignupRate: -1})
	snaps := func() int {
		ents, err := os.ReadDir(filepath.Join(dir, "snapshots"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		n := 0
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".ist") {
				n++
			}
		}
		return n
	}
	before := snaps()
	for i := range 30 {
		ts.signup(fmt.Sprint("snap", i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for snaps() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot after 30 sign-ups with SnapshotEvery 10 (%d before)", before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The metrics report it, and a failed snapshot.
	metric := func(name string) float64 {
		t.Helper()
		resp, err := ts.c.Get(ts.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for line := range strings.Lines(string(raw)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	for metric("engine_snapshot_sequence") < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("engine_snapshot_sequence %v", metric("engine_snapshot_sequence"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p := metric("engine_snapshot_pause_seconds"); p <= 0 || p > 5 {
		t.Fatalf("engine_snapshot_pause_seconds %v", p)
	}
	if f := metric("engine_snapshot_failures_total"); f != 0 {
		t.Fatalf("engine_snapshot_failures_total %v", f)
	}
	seq := metric("engine_snapshot_sequence")
	ts.s.onSnapshot(uint64(seq)+100, time.Millisecond, errors.New("disk full"))
	// (A snapshot of the last sign-ups may still land meanwhile: the
	// sequence may move on, but never to the failed one.)
	if f, now := metric("engine_snapshot_failures_total"), metric("engine_snapshot_sequence"); f != 1 || now < seq || now >= seq+100 {
		t.Fatalf("after a failure: failures %v, sequence %v (was %v)", f, now, seq)
	}
}
