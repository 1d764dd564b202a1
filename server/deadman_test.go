package server

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fastjson"
)

// deadmanFast lets switches fire within milliseconds for one test.
func deadmanFast(t *testing.T) {
	old := deadmanMin.Load()
	deadmanMin.Store(int64(time.Millisecond))
	t.Cleanup(func() { deadmanMin.Store(old) })
}

// openOrders returns the ids of the token's open orders, by market.
func (ts *testServer) openOrders(token string) map[string]int {
	ts.t.Helper()
	n := map[string]int{}
	for _, o := range ts.must(200, "GET", "/v1/orders?status=open&limit=100", token, "")["orders"].([]any) {
		n[o.(map[string]any)["market"].(string)]++
	}
	return n
}

// waitOpen waits up to 5 s (500 polls) for the token's open orders to be want.
func (ts *testServer) waitOpen(token, want string) string {
	ts.t.Helper()
	var got string
	for range 500 {
		if got = fmt.Sprint(ts.openOrders(token)); got == want {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return got
}

// deadmanSetup creates BTC-USDT and ETH-USDT, and gives alice two resting
// orders and a pending stop in the first and a resting order in the
// second, and bob a resting buy.
func deadmanSetup(ts *testServer) (alice, bob string) {
	alice, bob = ts.setup()
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"ETH-USDT","base":"ETH","quote":"USDT","tick_size":"0.01","lot_size":"0.001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)
	aid := uint64(ts.must(200, "GET", "/v1/account", alice, "")["id"].(float64))
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"ETH","amount":"5","ref":"d-eth"}`, aid))
	for _, o := range []string{
		`{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.1"}`,
		`{"market":"BTC-USDT","side":"sell","price":"71000","quantity":"0.1"}`,
		`{"market":"BTC-USDT","side":"sell","type":"stop_market","stop_price":"50000","quantity":"0.1"}`,
		`{"market":"ETH-USDT","side":"sell","price":"3000","quantity":"1"}`,
	} {
		ts.must(201, "POST", "/v1/orders", alice, o)
	}
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"60000","quantity":"0.1"}`)
	return alice, bob
}

const deadmanAllOpen = "map[BTC-USDT:3 ETH-USDT:1]"

// switches returns the token's armed switches as "market/timeout_ms"
// ("*" for all markets) and their cancel_at by market.
func (ts *testServer) switches(token string) (string, map[string]any) {
	ts.t.Helper()
	var names []string
	at := map[string]any{}
	for _, sw := range ts.must(200, "GET", "/v1/orders/cancel-all-after", token, "")["switches"].([]any) {
		sw := sw.(map[string]any)
		m := "*"
		if sw["market"] != nil {
			m = sw["market"].(string)
		}
		names = append(names, fmt.Sprintf("%s/%v", m, sw["timeout_ms"]))
		at[m] = sw["cancel_at"]
	}
	return fmt.Sprint(names), at
}

// The dead man's switch: renewed in time it does nothing; left to run
// out it cancels every open order and pending stop of the account in
// every market (reason cancelled) and nobody else's; disarmed (0) it
// does nothing; GET shows it; bad input is refused and changes nothing.
func TestCancelAllAfter(t *testing.T) {
	deadmanFast(t)
	ts := start(t, t.TempDir(), nil)
	alice, bob := deadmanSetup(ts)
	ts.must(201, "POST", "/v1/admin/markets", adminTok, // where alice has no order
		`{"symbol":"SOL-USDT","base":"SOL","quote":"USDT","tick_size":"0.01","lot_size":"0.01","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)

	if got, _ := ts.switches(alice); got != "[]" {
		t.Fatalf("before arming: %s", got)
	}
	// Renewed every 100 ms with a timeout of 1 s for 2.5 s: nothing.
	var out map[string]any
	for range 25 {
		out = ts.must(200, "POST", "/v1/orders/cancel-all-after", alice, `{"timeout_ms":1000}`)
		time.Sleep(100 * time.Millisecond)
	}
	at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(out["cancel_at"]))
	if out["timeout_ms"] != 1000.0 || out["market"] != nil || err != nil || time.Until(at) > time.Second {
		t.Fatalf("armed: %v (%v)", out, err)
	}
	if got := fmt.Sprint(ts.openOrders(alice)); got != deadmanAllOpen {
		t.Fatalf("renewed, alice's open orders %s, want %s", got, deadmanAllOpen)
	}
	if got, at := ts.switches(alice); got != "[*/1000]" || at["*"] != out["cancel_at"] {
		t.Fatalf("GET %s %v, POST answered %v", got, at, out)
	}
	// Run out: a cancel for each market where alice has orders (not for
	// SOL-USDT).
	var mu sync.Mutex
	var sent []uint32
	hook := func(m uint32) { mu.Lock(); sent = append(sent, m); mu.Unlock() }
	cancelAllHook.Store(&hook)
	t.Cleanup(func() { cancelAllHook.Store(nil) })
	if got := ts.waitOpen(alice, "map[]"); got != "map[]" {
		t.Fatalf("after the deadline, alice's open orders: %s", got)
	}
	for _, o := range ts.must(200, "GET", "/v1/orders?limit=100", alice, "")["orders"].([]any) {
		if o := o.(map[string]any); o["status"] != "cancelled" || o["cancel_reason"] != "cancel_all_after" {
			t.Errorf("alice's order after the deadline: %v", o)
		}
	}
	if got := fmt.Sprint(ts.openOrders(bob)); got != "map[BTC-USDT:1]" {
		t.Errorf("bob's open orders %s", got)
	}
	if b := ts.balances(alice); b["BTC"] != "2/0" || b["ETH"] != "5/0" {
		t.Errorf("alice's balances after the cancels: %v", b)
	}
	if got, _ := ts.switches(alice); got != "[]" {
		t.Errorf("after firing: %s", got)
	}
	if v, err := ts.s.store.get(deadmanKey(codScope{account: 1})); err != nil || v != nil {
		t.Errorf("the fired deadline is still stored: %x %v", v, err)
	}
	if m := ts.metric("cancel_all_after_fired_total"); m != 1 {
		t.Errorf("cancel_all_after_fired_total %v, want 1", m)
	}
	mu.Lock()
	if fmt.Sprint(sent) != "[1 2]" {
		t.Errorf("cancels sent for markets %v, want [1 2] (BTC-USDT, ETH-USDT)", sent)
	}
	mu.Unlock()

	// Disarmed: nothing happens.
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"ETH-USDT","side":"sell","price":"3000","quantity":"1"}`)
	ts.must(200, "POST", "/v1/orders/cancel-all-after", alice, `{"timeout_ms":1000}`)
	if out := ts.must(200, "POST", "/v1/orders/cancel-all-after", alice, `{"timeout_ms":0}`); out["timeout_ms"] != 0.0 || out["cancel_at"] != nil {
		t.Fatalf("disarmed: %v", out)
	}
	if got, _ := ts.switches(alice); got != "[]" {
		t.Errorf("disarmed: %s", got)
	}
	time.Sleep(1300 * time.Millisecond)
	if got := fmt.Sprint(ts.openOrders(alice)); got != "map[ETH-USDT:1]" {
		t.Fatalf("disarmed, alice's open orders %s", got)
	}

	// A market's switch cancels that market's orders only, and leaves
	// the others' switches armed.
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.1"}`)
	if out := ts.must(200, "POST", "/v1/orders/cancel-all-after", alice, `{"timeout_ms":300,"market":"BTC-USDT"}`); out["market"] != "BTC-USDT" {
		t.Fatalf("armed for BTC-USDT: %v", out)
	}
	ts.must(200, "POST", "/v1/orders/cancel-all-after", alice, `{"timeout_ms":60000,"market":"ETH-USDT"}`)
	if got, _ := ts.switches(alice); got != "[BTC-USDT/300 ETH-USDT/60000]" {
		t.Fatalf("two switches: %s", got)
	}
	if got := ts.waitOpen(alice, "map[ETH-USDT:1]"); got != "map[ETH-USDT:1]" {
		t.Fatalf("after the BTC-USDT switch, alice's open orders %s", got)
	}
	if got, _ := ts.switches(alice); got != "[ETH-USDT/60000]" {
		t.Fatalf("after the BTC-USDT switch: %s", got)
	}
	ts.must(200, "POST", "/v1/orders/cancel-all-after", alice, `{"timeout_ms":0,"market":"ETH-USDT"}`)

	// Bad input: refused, nothing armed.
	for _, c := range []struct {
		token, body string
		status      int
		code        string
	}{
		{alice, `{"timeout_ms":-1}`, 400, "invalid_argument"},
		{alice, `{"timeout_ms":"100"}`, 400, "invalid_argument"},
		{alice, `{"timeout_ms":86400001}`, 400, "invalid_argument"},
		{alice, `{}`, 400, "invalid_argument"},
		{alice, `{"timeout_ms":100,"side":"buy"}`, 400, "invalid_argument"},
		{alice, ``, 400, "invalid_argument"},
		{alice, `{"timeout_ms":100,"market":7}`, 400, "invalid_argument"},
		{alice, `{"timeout_ms":100,"market":"NOPE-USDT"}`, 404, "not_found"},
		{"", `{"timeout_ms":100}`, 401, "unauthenticated"},
	} {
		if code, ec := ts.errCode("POST", "/v1/orders/cancel-all-after", c.token, c.body); code != c.status || ec != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.body, code, ec, c.status, c.code)
		}
	}
	if code, ec := ts.errCode("DELETE", "/v1/orders/cancel-all-after", alice, ""); code != 405 || ec != "method_not_allowed" {
		t.Errorf("DELETE: %d %s", code, ec)
	}
	if got, _ := ts.switches(alice); got != "[]" {
		t.Errorf("after bad input: %s", got)
	}
	deadmanMin.Store(int64(time.Second))
	if code, ec := ts.errCode("POST", "/v1/orders/cancel-all-after", alice, `{"timeout_ms":999}`); code != 400 || ec != "invalid_argument" {
		t.Errorf("below the minimum: %d %s", code, ec)
	}
}

// A deadline survives a restart: one still ahead is armed again (GET
// shows the same cancel_at) and fires on time; one that passed while
// istd was down fires once istd is up. The same after a crash.
func TestCancelAllAfterRestart(t *testing.T) {
	deadmanFast(t)
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprint("crash=", crash), func(t *testing.T) {
			dir := t.TempDir()
			ts := start(t, dir, nil)
			alice, _ := deadmanSetup(ts)
			stop := func() {
				if crash {
					crashStop(ts)
				} else {
					ts.stop()
				}
			}
			// Ahead: kept.
			out := ts.must(200, "POST", "/v1/orders/cancel-all-after", alice, `{"timeout_ms":3600000}`)
			ts.must(200, "POST", "/v1/orders/cancel-all-after", alice, `{"timeout_ms":3000,"market":"ETH-USDT"}`)
			ts.must(200, "POST", "/v1/orders/cancel-all-after", alice, `{"timeout_ms":0,"market":"ETH-USDT"}`)
			ts.must(200, "POST", "/v1/orders/cancel-all-after", alice, `{"timeout_ms":3000,"market":"ETH-USDT"}`)
			stop()
			ts = start(t, dir, nil)
			if got, at := ts.switches(alice); got != "[*/3.6e+06 ETH-USDT/3000]" || at["*"] != out["cancel_at"] {
				t.Fatalf("after the restart GET %s %v, armed %v", got, at, out)
			}
			// The ETH-USDT switch fires on time, and the other stays.
			if got := ts.waitOpen(alice, "map[BTC-USDT:3]"); got != "map[BTC-USDT:3]" {
				t.Fatalf("alice's open orders %s", got)
			}
			if got, _ := ts.switches(alice); got != "[*/3.6e+06]" {
				t.Fatalf("after the ETH-USDT switch fired: %s", got)
			}
			// Passed while down: fires at the start.
			ts.must(200, "POST", "/v1/orders/cancel-all-after", alice, `{"timeout_ms":300}`)
			stop()
			time.Sleep(400 * time.Millisecond)
			ts = start(t, dir, nil)
			if got := ts.waitOpen(alice, "map[]"); got != "map[]" {
				t.Fatalf("a deadline passed while down: alice's open orders %s", got)
			}
			for range 100 { // the key goes once the cancels are done
				if v, _ := ts.s.store.get(deadmanKey(codScope{account: 1})); v == nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if v, err := ts.s.store.get(deadmanKey(codScope{account: 1})); err != nil || v != nil {
				t.Errorf("the fired deadline is still stored: %x %v", v, err)
			}
			ts.stop()
		})
	}
}

// FuzzDecodeCancelAfter: the body of POST /v1/orders/cancel-all-after
// decodes to 0 or a timeout within the bounds, or to an error of the
// package's kinds; never a panic.
func FuzzDecodeCancelAfter(f *testing.F) {
	for _, s := range append(seeds, `{"timeout_ms":0}`, `{"timeout_ms":60000}`, `{"timeout_ms":999}`,
		`{"timeout_ms":86400001}`, `{"timeout_ms":1e3}`, `{"timeout_ms":1000,"timeout_ms":0}`, `{"timeout_ms":-5}`) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		var r cancelAfterReq
		err := decodeCancelAfter(&p, body, &r)
		checkDecodeErr(t, err)
		if err == nil && r.timeoutMs != 0 && (r.timeoutMs < 1000 || r.timeoutMs > 86400000) {
			t.Fatalf("accepted %+v", r)
		}
		if err == nil {
			checkDistinct(t, body)
		}
	})
}

// codOn authenticates a stream as token's account and sets
// cancel_on_disconnect.
func codOn(t *testing.T, c *wsClient, token string, enabled bool) {
	t.Helper()
	c.send(`{"op":"auth","token":"` + token + `"}`)
	if m := c.next(); m.Type != "authenticated" {
		t.Fatalf("auth: %+v", m)
	}
	c.send(fmt.Sprintf(`{"op":"cancel_on_disconnect","enabled":%v}`, enabled))
	if m := c.next(); m.Type != "cancel_on_disconnect" || m.Enabled == nil || *m.Enabled != enabled {
		t.Fatalf("cancel_on_disconnect: %+v", m)
	}
}

// A stream with cancel_on_disconnect cancels its account's orders in
// every market when it ends, whether the client closes it or just goes
// away; not once disabled, not for a stream that never enabled it, and
// not when istd itself shuts down. It needs auth, and its message is
// checked like the others.
func TestCancelOnDisconnect(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, nil)
	alice, bob := deadmanSetup(ts)

	c := ts.dial()
	c.send(`{"op":"cancel_on_disconnect","enabled":true}`)
	if m := c.next(); m.Type != "error" || m.Error.Code != "unauthenticated" {
		t.Fatalf("before auth: %+v", m)
	}
	for _, msg := range []string{`{"op":"cancel_on_disconnect"}`, `{"op":"cancel_on_disconnect","enabled":"yes"}`,
		`{"op":"subscribe","channels":["orders"],"enabled":true}`, `{"op":"auth","token":"x","market":"BTC-USDT"}`} {
		c.send(msg)
		if m := c.next(); m.Type != "error" || m.Error.Code != "invalid_argument" {
			t.Fatalf("%s: %+v", msg, m)
		}
	}
	codOn(t, c, alice, true)
	other := ts.dial() // a stream of alice's without it
	other.send(`{"op":"auth","token":"` + alice + `"}`)
	other.next()
	other.ws.Close()
	bobs := ts.dial() // bob's, enabled then disabled
	codOn(t, bobs, bob, true)
	codOn(t, bobs, bob, false)
	bobs.ws.Close()
	time.Sleep(200 * time.Millisecond)
	if got := fmt.Sprint(ts.openOrders(alice)); got != deadmanAllOpen {
		t.Fatalf("streams without cancel_on_disconnect ended: alice's open orders %s", got)
	}
	// The client closes the stream properly.
	c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	if got := ts.waitOpen(alice, "map[]"); got != "map[]" {
		t.Fatalf("after the close, alice's open orders %s", got)
	}
	if got := fmt.Sprint(ts.openOrders(bob)); got != "map[BTC-USDT:1]" {
		t.Fatalf("bob's open orders %s", got)
	}
	if m := ts.metric("stream_cancel_on_disconnect_total"); m != 1 {
		t.Errorf("stream_cancel_on_disconnect_total %v", m)
	}
	for _, o := range ts.must(200, "GET", "/v1/orders?limit=100", alice, "")["orders"].([]any) {
		if o := o.(map[string]any); o["status"] != "cancelled" || o["cancel_reason"] != "disconnected" {
			t.Errorf("alice's order: %v", o)
		}
	}

	// The client goes away without a close frame.
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"ETH-USDT","side":"sell","price":"3000","quantity":"1"}`)
	c = ts.dial()
	codOn(t, c, alice, true)
	c.ws.UnderlyingConn().Close()
	if got := ts.waitOpen(alice, "map[]"); got != "map[]" {
		t.Fatalf("after the client went away, alice's open orders %s", got)
	}

	// Scoped to a market: only that market's orders go.
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.1"}`)
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"ETH-USDT","side":"sell","price":"3000","quantity":"1"}`)
	c = ts.dial()
	c.send(`{"op":"auth","token":"` + alice + `"}`)
	c.next()
	c.send(`{"op":"cancel_on_disconnect","enabled":true,"market":"NOPE"}`)
	if m := c.next(); m.Type != "error" || m.Error.Code != "not_found" {
		t.Fatalf("an unknown market: %+v", m)
	}
	c.send(`{"op":"cancel_on_disconnect","enabled":true,"market":"ETH-USDT"}`)
	if m := c.next(); m.Type != "cancel_on_disconnect" || *m.Enabled != true {
		t.Fatalf("cancel_on_disconnect for ETH-USDT: %+v", m)
	}
	c.ws.Close()
	if got := ts.waitOpen(alice, "map[BTC-USDT:1]"); got != "map[BTC-USDT:1]" {
		t.Fatalf("a stream for ETH-USDT ended: alice's open orders %s", got)
	}
	ts.must(200, "DELETE", "/v1/orders?market=BTC-USDT", alice, "")

	// istd's own shutdown: the orders stay.
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"ETH-USDT","side":"sell","price":"3000","quantity":"1"}`)
	c = ts.dial()
	codOn(t, c, alice, true)
	ts.stop()
	ts = start(t, dir, nil)
	if got := fmt.Sprint(ts.openOrders(alice)); got != "map[ETH-USDT:1]" {
		t.Fatalf("after istd's shutdown, alice's open orders %s", got)
	}
}
