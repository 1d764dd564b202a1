package server

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// wsClient is a stream client of a test server.
type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
	n  map[string]float64 // channel → last n
}

type wsMsg struct {
	Channel string          `json:"channel"`
	Type    string          `json:"type"`
	Seq     uint64          `json:"seq"`
	N       float64         `json:"n"`
	Data    json.RawMessage `json:"data"`
	Bids    [][2]string     `json:"bids"`
	Asks    [][2]string     `json:"asks"`
	Depth   *int            `json:"depth"` // book snapshots
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	AccountID uint64 `json:"account_id"`
	Enabled   *bool  `json:"enabled"` // cancel_on_disconnect
}

func (ts *testServer) dial() *wsClient {
	ts.t.Helper()
	url := "ws" + strings.TrimPrefix(ts.base, "http") + "/v1/stream"
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { ws.Close() })
	return &wsClient{t: ts.t, ws: ws, n: map[string]float64{}}
}

func (c *wsClient) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// next reads one message (checking that n counts up per channel).
func (c *wsClient) next() wsMsg {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, raw, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m wsMsg
	if err := json.Unmarshal(raw, &m); err != nil {
		c.t.Fatalf("bad message %s: %v", raw, err)
	}
	if m.Channel != "" && m.Type != "error" {
		if m.N != c.n[m.Channel]+1 {
			c.t.Fatalf("channel %s: n %v after %v: %s", m.Channel, m.N, c.n[m.Channel], raw)
		}
		c.n[m.Channel] = m.N
	}
	return m
}

// expect reads until a message matching f arrives.
func (c *wsClient) expect(what string, f func(m wsMsg) bool) wsMsg {
	c.t.Helper()
	for i := 0; i < 100; i++ {
		if m := c.next(); f(m) {
			return m
		}
	}
	c.t.Fatalf("no %s", what)
	return wsMsg{}
}

func TestStreamPublic(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5"}`)
	if got := ts.book("BTC-USDT", "[] [[65000 0.5]]"); got != "[] [[65000 0.5]]" {
		t.Fatalf("book %s", got)
	}
	if code, ec := ts.errCode("GET", "/v1/stream", "", ""); code != 400 || ec != "invalid_argument" {
		t.Fatalf("plain GET /v1/stream: %d %s", code, ec)
	}
	c := ts.dial()
	c.send(`{"op":"subscribe","channels":["book:BTC-USDT","trades:BTC-USDT"]}`)
	if m := c.next(); m.Type != "subscribed" {
		t.Fatalf("want subscribed, got %+v", m)
	}
	snap := c.next()
	if snap.Channel != "book:BTC-USDT" || snap.Type != "snapshot" || len(snap.Asks) != 1 ||
		snap.Asks[0] != [2]string{"65000", "0.5"} || len(snap.Bids) != 0 {
		t.Fatalf("snapshot %+v", snap)
	}
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.2"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"64000","quantity":"0.1"}`)
	seq := map[string]uint64{snap.Channel: snap.Seq} // per channel
	var trade wsMsg
	var gotAsk, gotBid bool
	for !(gotAsk && gotBid && trade.Channel != "") {
		m := c.next()
		if m.Seq < seq[m.Channel] {
			t.Fatalf("%s: seq went back: %d after %d", m.Channel, m.Seq, seq[m.Channel])
		}
		seq[m.Channel] = m.Seq
		switch {
		case m.Channel == "trades:BTC-USDT":
			trade = m
		case m.Channel == "book:BTC-USDT" && m.Type == "delta":
			for _, l := range m.Asks {
				gotAsk = gotAsk || l == [2]string{"65000", "0.3"}
			}
			for _, l := range m.Bids {
				gotBid = gotBid || l == [2]string{"64000", "0.1"}
			}
		default:
			t.Fatalf("unexpected %+v", m)
		}
	}
	var td struct{ Price, Quantity, Side string }
	if err := json.Unmarshal(trade.Data, &td); err != nil || td.Price != "65000" || td.Quantity != "0.2" || td.Side != "buy" {
		t.Fatalf("trade %s", trade.Data)
	}
	// Filling the rest removes the level: quantity "0".
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.3"}`)
	c.expect("level removal", func(m wsMsg) bool {
		return m.Type == "delta" && len(m.Asks) == 1 && m.Asks[0] == [2]string{"65000", "0"}
	})

	// Errors, not disconnects.
	c.send(`{"op":"subscribe","channels":["orders"]}`)
	if m := c.next(); m.Type != "error" || m.Error.Code != "unauthenticated" {
		t.Fatalf("private without auth: %+v", m)
	}
	c.send(`{"op":"subscribe","channels":["copy"]}`)
	if m := c.next(); m.Type != "error" || m.Error.Code != "unauthenticated" {
		t.Fatalf("copy without auth: %+v", m)
	}
	c.send(`not json`)
	if m := c.next(); m.Type != "error" || m.Error.Code != "invalid_argument" {
		t.Fatalf("bad message: %+v", m)
	}
	c.send(`{"op":"subscribe","channels":["book:NOPE"]}`)
	if m := c.next(); m.Type != "error" || m.Error.Code != "not_found" {
		t.Fatalf("unknown market: %+v", m)
	}
	// Repeated garbage closes the connection.
	for i := 0; i < streamMaxBad; i++ {
		_ = c.ws.WriteMessage(websocket.TextMessage, []byte(`{`)) // fails once closed
	}
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.ws.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
				t.Fatalf("want policy violation close, got %v", err)
			}
			break
		}
	}
}

func TestStreamPrivate(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	cid, carol := ts.signup("carol")
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":"USDT","amount":"100","ref":"d-c"}`, cid))
	ca, cc := ts.dial(), ts.dial()
	ca.send(`{"op":"auth","token":"` + alice + `"}`)
	if m := ca.next(); m.Type != "authenticated" || m.AccountID == 0 {
		t.Fatalf("auth: %+v", m)
	}
	ca.send(`{"op":"subscribe","channels":["orders","fills"]}`)
	ca.next()
	cc.send(`{"op":"auth","token":"bad"}`)
	if m := cc.next(); m.Type != "error" || m.Error.Code != "unauthenticated" {
		t.Fatalf("bad token: %+v", m)
	}
	cc.send(`{"op":"auth","token":"` + carol + `"}`)
	cc.next()
	cc.send(`{"op":"subscribe","channels":["orders","fills"]}`)
	cc.next()

	sell := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.2"}`)
	m := ca.expect("open order", func(m wsMsg) bool { return m.Channel == "orders" })
	var o struct {
		ID      float64 `json:"id"`
		Status  string  `json:"status"`
		Account float64 `json:"account_id"`
	}
	_ = json.Unmarshal(m.Data, &o)
	if id(sell) != fmt.Sprint(uint64(o.ID)) || o.Status != "open" {
		t.Fatalf("order %s (want %s)", m.Data, id(sell))
	}
	f := ca.expect("fill", func(m wsMsg) bool { return m.Channel == "fills" })
	var fd struct{ Price, Quantity, Liquidity, Side string }
	if err := json.Unmarshal(f.Data, &fd); err != nil || fd.Price != "65000" || fd.Quantity != "0.2" || fd.Liquidity != "maker" || fd.Side != "sell" {
		t.Fatalf("fill %s", f.Data)
	}
	ca.expect("partial", func(m wsMsg) bool {
		return m.Channel == "orders" && strings.Contains(string(m.Data), `"partially_filled"`)
	})
	// Carol's own order arrives; alice's and bob's never did.
	ts.must(201, "POST", "/v1/orders", carol, `{"market":"BTC-USDT","side":"buy","price":"1","quantity":"1"}`)
	mc := cc.next()
	if mc.Channel != "orders" {
		t.Fatalf("carol got %+v", mc)
	}
	var co struct {
		Account float64 `json:"account_id"`
	}
	_ = json.Unmarshal(mc.Data, &co)
	if uint64(co.Account) != cid {
		t.Fatalf("carol got alice's order: %s", mc.Data)
	}
}

func TestStreamSlowConsumer(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	ts.s.hub.queueBytes.Store(2048)
	gate := make(chan struct{}) // never opened: the writer is stuck
	ts.s.hub.writeGate.Store(&gate)
	slow := ts.dial()
	slow.send(`{"op":"subscribe","channels":["trades:BTC-USDT","book:BTC-USDT"]}`)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 30; i++ {
			ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.01"}`)
			ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.01"}`)
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("order placement blocked by a slow stream")
	}
	_ = slow.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := slow.ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Fatalf("slow consumer: want close 1008, got %v", err)
	}
	if n := ts.s.hub.clients.Load(); n != 0 {
		// The reader drops the connection asynchronously.
		deadline := time.Now().Add(5 * time.Second)
		for ts.s.hub.clients.Load() != 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := ts.s.hub.clients.Load(); n != 0 {
			t.Fatalf("%d clients left", n)
		}
	}
}

// A book snapshot says how many levels per side its view covers
// (Options.BookDepth): a delta may then bring in a level that existed
// beyond it.
func TestStreamBookSnapshotDepth(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, BookDepth: 3})
	alice, bob := ts.setup()
	restLevels(ts, alice, 5, 3)
	c := ts.dial()
	c.send(`{"op":"subscribe","channels":["book:BTC-USDT"]}`)
	if m := c.next(); m.Type != "subscribed" {
		t.Fatalf("want subscribed, got %+v", m)
	}
	snap := c.next()
	if snap.Type != "snapshot" || snap.Depth == nil || *snap.Depth != 3 || len(snap.Asks) != 3 || snap.Asks[2][0] != "65002" {
		t.Fatalf("snapshot %+v (depth %v), want depth 3 and 3 asks", snap, snap.Depth)
	}
	// Taking the best ask brings in the fourth level, beyond the snapshot.
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.001"}`)
	c.expect("a delta bringing in 65003", func(m wsMsg) bool {
		if m.Depth != nil {
			t.Fatalf("delta with depth: %+v", m)
		}
		return m.Type == "delta" && slices.Contains(m.Asks, [2]string{"65003", "0.001"})
	})
}
