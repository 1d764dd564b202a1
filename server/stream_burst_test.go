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

// burstWait bounds every wait of these tests: generous, for a slow shared
// machine. They wait for what they expect, never for a fixed time.
const burstWait = 60 * time.Second

// burstClient is a stream client whose messages a goroutine reads as they
// come, so that the client never holds the server up (a read deadline
// would break the connection). It checks that n counts each channel's
// messages from 1 without a gap (a snapshot starts it again at 1).
type burstClient struct {
	t    *testing.T
	ws   *websocket.Conn
	msgs chan wsMsg
	err  chan error // the read error that ended the stream
	n    map[string]float64
}

func burstDial(t *testing.T, ts *testServer) *burstClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.base, "http")+"/v1/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &burstClient{t: t, ws: ws, msgs: make(chan wsMsg, 1<<14), err: make(chan error, 1), n: map[string]float64{}}
	go func() {
		for {
			_, raw, err := ws.ReadMessage()
			if err != nil {
				c.err <- err
				return
			}
			var m wsMsg
			if err := json.Unmarshal(raw, &m); err != nil {
				c.err <- fmt.Errorf("bad message %s: %v", raw, err)
				return
			}
			c.msgs <- m
		}
	}()
	return c
}

func (c *burstClient) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next message; the stream closing or burstWait passing
// fails the test.
func (c *burstClient) next(what string) wsMsg {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		if m.Channel != "" && m.Type != "error" {
			want := c.n[m.Channel] + 1
			if m.Type == "snapshot" {
				want = 1
			}
			if m.N != want {
				c.t.Fatalf("waiting for %s: channel %s: n %v after %v (%+v)", what, m.Channel, m.N, c.n[m.Channel], m)
			}
			c.n[m.Channel] = m.N
		}
		return m
	case err := <-c.err:
		c.t.Fatalf("waiting for %s: the stream ended: %v", what, err)
	case <-time.After(burstWait):
		c.t.Fatalf("waiting for %s: nothing for %v", what, burstWait)
	}
	return wsMsg{}
}

// until reads messages until f says it has all it waits for.
func (c *burstClient) until(what string, f func(m wsMsg) (done bool)) {
	c.t.Helper()
	for !f(c.next(what)) {
	}
}

// expect reads the next message, which must be of type typ.
func (c *burstClient) expect(typ string) wsMsg {
	c.t.Helper()
	m := c.next(typ)
	if m.Type != typ {
		c.t.Fatalf("got %+v, want a %s message", m, typ)
	}
	return m
}

// alive checks that the stream is still open and served: a subscribe is
// acknowledged after whatever was queued before it.
func (c *burstClient) alive() {
	c.t.Helper()
	c.send(`{"op":"subscribe","channels":["trades:ETH-USDT-NONE"]}`) // refused, but answered
	c.until("the answer to a late subscribe", func(m wsMsg) bool { return m.Type == "error" })
}

// order decodes an orders-channel message's data.
func burstOrder(t *testing.T, m wsMsg) (id uint64, status string) {
	var o struct {
		ID     uint64 `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(m.Data, &o); err != nil || o.ID == 0 {
		t.Fatalf("order message %s: %v", m.Data, err)
	}
	return o.ID, o.Status
}

// burstAsks rests n asks of 0.0001 BTC of the token's account, one per
// price from 65000 up, in one batch (at most 1000).
func burstAsks(ts *testServer, tok string, n int) {
	var sb strings.Builder
	sb.WriteString(`{"orders":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"market":"BTC-USDT","side":"sell","price":"%d","quantity":"0.0001"}`, 65000+i)
	}
	ts.must(200, "POST", "/v1/orders/batch", tok, sb.String()+`]}`)
}

// burstSubscribe dials, authenticates with tok unless it is empty, and
// subscribes to channels.
func burstSubscribe(t *testing.T, ts *testServer, tok string, channels ...string) *burstClient {
	t.Helper()
	c := burstDial(t, ts)
	if tok != "" {
		c.send(`{"op":"auth","token":"` + tok + `"}`)
		c.expect("authenticated")
	}
	b, _ := json.Marshal(channels)
	c.send(`{"op":"subscribe","channels":` + string(b) + `}`)
	c.expect("subscribed")
	return c
}

// A client subscribed to its orders that places a batch of 1000 orders
// (the most a batch takes) gets all 1000: the burst does not close it as
// a slow consumer (it did with a queue of 256 messages).
func TestStreamBurstBatchOrdersDelivered(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	c := burstSubscribe(t, ts, alice, "orders")
	burstAsks(ts, alice, 1000)
	ids := map[uint64]bool{}
	c.until("1000 open orders", func(m wsMsg) bool {
		if id, st := burstOrder(t, m); m.Channel == "orders" && st == "open" {
			ids[id] = true
		}
		return len(ids) == 1000
	})
	c.alive()
}

// One cancel-all of 300 orders reaches the owner's orders channel in
// full.
func TestStreamBurstCancelAllDelivered(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	burstAsks(ts, alice, 300)
	c := burstSubscribe(t, ts, alice, "orders")
	ts.must(200, "DELETE", "/v1/orders?market=BTC-USDT", alice, "")
	ids := map[uint64]bool{}
	c.until("300 cancelled orders", func(m wsMsg) bool {
		if id, st := burstOrder(t, m); st == "cancelled" {
			ids[id] = true
		}
		return len(ids) == 300
	})
	c.alive()
}

// A market order sweeping 1000 one-lot asks in one command: the maker's
// stream gets its 1000 fills and 1000 order updates, the taker's its 1000
// fills, and every subscriber of the public trades channel the 1000
// trades. Any user could otherwise disconnect every trades subscriber at
// will.
func TestStreamBurstSweepDelivered(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	burstAsks(ts, alice, 1000)
	maker := burstSubscribe(t, ts, alice, "orders", "fills")
	taker := burstSubscribe(t, ts, bob, "fills")
	pub := []*burstClient{burstSubscribe(t, ts, "", "trades:BTC-USDT"), burstSubscribe(t, ts, "", "trades:BTC-USDT")}
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","type":"market","quantity":"0.1"}`)

	filled, fills := map[uint64]bool{}, 0
	maker.until("1000 fills and 1000 filled orders", func(m wsMsg) bool {
		switch m.Channel {
		case "fills":
			fills++
		case "orders":
			if id, st := burstOrder(t, m); st == "filled" {
				filled[id] = true
			}
		}
		return fills == 1000 && len(filled) == 1000
	})
	n := 0
	taker.until("the taker's 1000 fills", func(m wsMsg) bool {
		if m.Channel == "fills" {
			n++
		}
		return n == 1000
	})
	for i, c := range pub {
		var seqs []uint64
		c.until(fmt.Sprintf("1000 trades (subscriber %d)", i), func(m wsMsg) bool {
			if m.Channel == "trades:BTC-USDT" {
				seqs = append(seqs, m.Seq)
			}
			return len(seqs) == 1000
		})
		if seqs[0] != seqs[999] {
			t.Fatalf("one command's trades carry seqs %d to %d, want one", seqs[0], seqs[999])
		}
	}
	for _, c := range append(pub, maker, taker) {
		c.alive()
	}
}

// A command that finishes more of an account's orders than its history
// keeps (Options.HistoryOrders) reports every one on the orders channel,
// those the history trims in the same command included.
func TestStreamOrdersTrimmedInSameCommand(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, HistoryOrders: 3})
	alice, _ := ts.setup()
	burstAsks(ts, alice, 5)
	c := burstSubscribe(t, ts, alice, "orders")
	ts.must(200, "DELETE", "/v1/orders?market=BTC-USDT", alice, "")
	// A last order: once its message is in, the cancel-all's are too.
	last := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.0001"}`)
	lastID := uint64(last["order"].(map[string]any)["id"].(float64))
	cancelled := map[uint64]bool{}
	c.until("the last order", func(m wsMsg) bool {
		id, st := burstOrder(t, m)
		if st == "cancelled" {
			cancelled[id] = true
		}
		return id == lastID
	})
	if len(cancelled) != 5 {
		t.Fatalf("5 orders cancelled in one command; the orders channel reported %v", cancelled)
	}
}

// Subscribing again to a book channel while subscribed sends a fresh
// snapshot, with n back at 1, and deltas go on from it; subscribing again
// to another channel is acknowledged and changes nothing (n goes on).
func TestStreamBookResubscribeSnapshot(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	c := burstSubscribe(t, ts, "", "book:BTC-USDT", "trades:BTC-USDT")
	if m := c.expect("snapshot"); m.N != 1 || len(m.Asks) != 0 {
		t.Fatalf("first snapshot %+v", m)
	}
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.002"}`)
	c.until("a delta with the ask", func(m wsMsg) bool { return m.Type == "delta" && len(m.Asks) > 0 })

	c.send(`{"op":"subscribe","channels":["book:BTC-USDT"]}`)
	c.expect("subscribed")
	// A change right after: without a fresh snapshot it would come as a
	// delta with n going on.
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65001","quantity":"0.001"}`)
	snap := c.expect("snapshot")
	if snap.Channel != "book:BTC-USDT" || snap.N != 1 || !slices.Contains(snap.Asks, [2]string{"65000", "0.002"}) {
		t.Fatalf("snapshot after resubscribing: %+v", snap)
	}
	if !slices.Contains(snap.Asks, [2]string{"65001", "0.001"}) {
		c.until("a delta with the new ask", func(m wsMsg) bool {
			return m.Type == "delta" && slices.Contains(m.Asks, [2]string{"65001", "0.001"})
		})
	}

	// trades: a repeated subscribe is acknowledged, and n goes on.
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.001"}`)
	c.until("a trade", func(m wsMsg) bool { return m.Channel == "trades:BTC-USDT" })
	c.send(`{"op":"subscribe","channels":["trades:BTC-USDT"]}`)
	c.until("subscribed", func(m wsMsg) bool { return m.Type == "subscribed" })
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.001"}`)
	c.until("a second trade", func(m wsMsg) bool {
		if m.Channel == "trades:BTC-USDT" && m.N != 2 {
			t.Fatalf("trade after a repeated subscribe: n %v, want 2", m.N)
		}
		return m.Channel == "trades:BTC-USDT"
	})
}

// seq is the engine command's sequence number: the trades of one command
// share it and it skips the commands with nothing for the channel; n is
// the gap detector, 1, 2, 3… per channel. The stream's description in the
// OpenAPI document says so.
func TestStreamSeqAndNDocumented(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := ts.setup()
	c := burstSubscribe(t, ts, "", "trades:BTC-USDT")
	burstAsks(ts, alice, 3)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","type":"market","quantity":"0.0003"}`)
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.0001"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.0001"}`)
	var ms []wsMsg
	c.until("4 trades", func(m wsMsg) bool { ms = append(ms, m); return len(ms) == 4 })
	for i, m := range ms {
		if m.N != float64(i+1) {
			t.Fatalf("trade %d: n %v", i, m.N)
		}
	}
	if ms[0].Seq != ms[1].Seq || ms[1].Seq != ms[2].Seq || ms[3].Seq < ms[2].Seq+2 {
		t.Fatalf("seqs %d %d %d %d: want one command's three, then a later command's after a gap",
			ms[0].Seq, ms[1].Seq, ms[2].Seq, ms[3].Seq)
	}

	desc, _ := streamOpenAPI(t, ts)
	for _, s := range []string{"n starts at 1", "consecutive", "a gap in n", "shared by the messages of one command",
		"with gaps", "fresh snapshot"} {
		if !strings.Contains(desc, s) {
			t.Errorf("the /v1/stream description does not say %q", s)
		}
	}
}

// streamOpenAPI returns the description of GET /v1/stream and of its 503
// answer in the served OpenAPI document.
func streamOpenAPI(t *testing.T, ts *testServer) (desc, r503 string) {
	t.Helper()
	_, out := ts.req("GET", "/v1/openapi.json", "", "")
	get := out["paths"].(map[string]any)["/v1/stream"].(map[string]any)["get"].(map[string]any)
	r := get["responses"].(map[string]any)["503"].(map[string]any)
	r503, _ = r["description"].(string)
	return get["description"].(string), r503
}

// The OpenAPI description of the stream names the snapshot's depth, the
// error message's channel, and every close code and reason the server
// sends; its 503 covers the cap of streams.
func TestStreamOpenAPICloseCodes(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	desc, r503 := streamOpenAPI(t, ts)
	for _, s := range []string{`"depth"`, `"channel"?`, "1013", "1009", "1001", "1008",
		closeQueueFull, closeNoProgress, closeRevoked, closeRateLimited, "too many bad messages",
		"server overloaded: resubscribe", "server shutting down"} {
		if !strings.Contains(desc, s) {
			t.Errorf("the /v1/stream description does not mention %s", s)
		}
	}
	if !strings.Contains(r503, "too many streams") {
		t.Errorf("the 503 of /v1/stream says %q", r503)
	}
}

// A connection's queue is bounded in bytes, counting what its writer
// still writes: a message alone is always queued, one that would pass
// the bound closes the connection (1008, slow consumer); so do messages
// waiting streamWriteWait while the writer wrote nothing, but not while
// it makes progress.
func TestStreamQueueBound(t *testing.T) {
	conn := func(max int64) *streamConn {
		return &streamConn{closed: make(chan struct{}), qmax: max, wake: make(chan struct{}, 1)}
	}
	msg := make([]byte, 100)
	c := conn(100)
	c.enqueue(msg) // over the bound alone: queued
	if c.killed() || len(c.queue) != 1 || len(c.wake) != 1 {
		t.Fatalf("a message alone: killed %v, %d queued", c.killed(), len(c.queue))
	}
	c.queue = nil // taken by the writer, not written yet: still counted
	c.enqueue(msg)
	if !c.killed() || c.code != websocket.ClosePolicyViolation || c.reason != closeQueueFull {
		t.Fatalf("past the bound: killed %v, close %d %q", c.killed(), c.code, c.reason)
	}

	c = conn(1 << 20)
	c.enqueue(msg)
	c.qsince = monoNow() - int64(streamWriteWait+time.Second)
	c.progress.Store(monoNow()) // the writer is writing
	c.enqueue(msg)
	if c.killed() || len(c.queue) != 2 {
		t.Fatalf("writer making progress: killed %v (%q), %d queued", c.killed(), c.reason, len(c.queue))
	}
	c.progress.Store(c.qsince)
	c.enqueue(msg)
	if !c.killed() || c.reason != closeNoProgress {
		t.Fatalf("no progress for streamWriteWait: killed %v, %q", c.killed(), c.reason)
	}
	if c.enqueue(msg); len(c.queue) != 2 {
		t.Fatalf("queued after being killed: %d", len(c.queue))
	}
}

// Stream error messages read as REST ones: without the "server: " prefix
// of our errors.
func TestStreamErrorMessagesUnprefixed(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	ts.setup()
	c := burstDial(t, ts)
	c.send(`{"op":"auth","token":"made-up"}`)
	if m := c.expect("error"); m.Error == nil || m.Error.Code != "unauthenticated" || m.Error.Message != "missing or invalid token" {
		t.Fatalf("auth with a made-up token: %+v", m.Error)
	}
	c.send(`{"op":"subscribe","channels":["orders","book:NOPE"]}`)
	for range 2 {
		if m := c.expect("error"); m.Error == nil || strings.HasPrefix(m.Error.Message, "server:") {
			t.Fatalf("refused channel %q: %+v", m.Channel, m.Error)
		}
	}
}
