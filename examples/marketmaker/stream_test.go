package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

func TestGapDetector(t *testing.T) {
	type msg struct {
		ch  string
		n   uint64
		gap bool
	}
	for _, tc := range []struct {
		name string
		msgs []msg
	}{
		{"in order", []msg{{"fills", 1, false}, {"orders", 1, false}, {"orders", 2, false}, {"fills", 2, false}}},
		{"a message lost", []msg{{"fills", 1, false}, {"fills", 3, true}, {"fills", 4, false}}},
		{"lost before the first", []msg{{"orders", 2, true}, {"orders", 3, false}}},
		{"a repeat", []msg{{"orders", 1, false}, {"orders", 1, true}}},
		{"channels count apart", []msg{{"fills", 1, false}, {"orders", 1, false}, {"fills", 2, false}, {"orders", 3, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g gapDetector
			for i, m := range tc.msgs {
				if got := g.next(m.ch, m.n); got != m.gap {
					t.Errorf("message %d (%s n=%d): gap %v; want %v", i, m.ch, m.n, got, m.gap)
				}
			}
		})
	}
}

func TestStreamURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":  "ws://127.0.0.1:8080/v1/stream",
		"http://127.0.0.1:8080/": "ws://127.0.0.1:8080/v1/stream",
		"https://ist.example":    "wss://ist.example/v1/stream",
	} {
		if got := streamURL(in); got != want {
			t.Errorf("streamURL(%q) = %q; want %q", in, got, want)
		}
	}
}

// fakeStream is a WebSocket server that speaks istd's stream protocol:
// each connection answers auth (token "good" only), cancel_on_disconnect
// (market MM-USDT only) and subscribe, then sends the messages of its
// turn (one list per connection, in order) and closes.
type fakeStream struct {
	conns  atomic.Int32 // connections
	served atomic.Int32 // connections past the handshake: turns taken
	turns  [][]string

	mu  sync.Mutex
	ops []string // each connection's handshake: "auth, cancel_on_disconnect MM-USDT, subscribe"
}

// handshakes returns the handshakes so far, one per connection, joined by
// " | ".
func (f *fakeStream) handshakes() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.ops, " | ")
}

func (f *fakeStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	f.conns.Add(1)
	var ops []string
	logOps := func() {
		f.mu.Lock()
		f.ops = append(f.ops, strings.Join(ops, ", "))
		f.mu.Unlock()
	}
	reply := func(m string) { ws.WriteMessage(websocket.TextMessage, []byte(m)) }
	for subscribed := false; !subscribed; {
		var op struct {
			Op      string `json:"op"`
			Token   string `json:"token"`
			Enabled bool   `json:"enabled"`
			Market  string `json:"market"`
		}
		if ws.ReadJSON(&op) != nil {
			return
		}
		ops = append(ops, op.Op)
		switch {
		case op.Op == "auth" && op.Token != "good":
			logOps() // before the answer, after which the client goes on
			reply(`{"type":"error","error":{"code":"unauthenticated","message":"missing or invalid token"}}`)
			return
		case op.Op == "auth":
			reply(`{"type":"authenticated","account_id":7}`)
		case op.Op == "cancel_on_disconnect":
			ops[len(ops)-1] += fmt.Sprintf(" %s %v", op.Market, op.Enabled)
			if op.Market != "MM-USDT" {
				logOps()
				reply(`{"type":"error","error":{"code":"not_found","message":"no such market"}}`)
				return
			}
			reply(fmt.Sprintf(`{"type":"cancel_on_disconnect","enabled":%v,"market":"MM-USDT"}`, op.Enabled))
		case op.Op == "subscribe":
			logOps()
			reply(`{"type":"subscribed","channels":["fills","orders"]}`)
			subscribed = true
		default:
			reply(`{"type":"error","error":{"code":"invalid_argument","message":"unknown op"}}`)
		}
	}
	if turn := int(f.served.Add(1)) - 1; turn < len(f.turns) {
		for _, m := range f.turns[turn] {
			ws.WriteMessage(websocket.TextMessage, []byte(m))
		}
	}
	// Wait for the client to go, or for the end of the turn.
	ws.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	ws.ReadMessage()
}

func fillMsg(n, trade uint64) string {
	return fmt.Sprintf(`{"channel":"fills","seq":%d,"n":%d,"data":{"trade_id":%d,"order_id":3,"market":"MM-USDT","side":"sell","price":"100.1","quantity":"1","fee":"0.1","fee_asset":"USDT","liquidity":"maker"}}`, 10+n, n, trade)
}

func TestStreamEvents(t *testing.T) {
	f := &fakeStream{turns: [][]string{
		{
			fillMsg(1, 1),
			`{"channel":"orders","seq":11,"n":1,"data":{"id":3,"market":"MM-USDT","side":"sell","price":"100.1","quantity":"1","filled":"1","status":"filled"}}`,
			fillMsg(3, 2), // fills n=2 was lost
		},
		{fillMsg(1, 3)}, // after reconnecting, n starts again
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	url := streamURL(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if _, err := dialStream(ctx, url, "bad", "MM-USDT"); errCode(err) != "unauthenticated" {
		t.Fatalf("dialing with a bad token: %v; want unauthenticated", err)
	}
	ws, err := dialStream(ctx, url, "good", "MM-USDT")
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan event)
	done := make(chan struct{})
	sctx, stop := context.WithCancel(ctx)
	go func() {
		defer close(done)
		readStream(sctx, ws, url, "good", "MM-USDT", events)
	}()

	var got []string
	for len(got) < 7 {
		select {
		case ev := <-events:
			switch ev.kind {
			case evFill:
				got = append(got, fmt.Sprintf("fill %d", ev.fill.TradeID))
			case evOrder:
				got = append(got, fmt.Sprintf("order %d %s", ev.order.ID, ev.order.Status))
			case evGap:
				got = append(got, "gap")
			case evReconnect:
				got = append(got, "reconnect")
			case evWarn:
				got = append(got, "warn")
			}
		case <-ctx.Done():
			t.Fatalf("timed out; events so far: %v", got)
		}
	}
	stop()
	<-done // readStream returns once its context ends
	want := "fill 1, order 3 filled, gap, fill 2, warn, reconnect, fill 3"
	if s := strings.Join(got, ", "); s != want {
		t.Errorf("events\n got %s\nwant %s", s, want)
	}
	if n := f.conns.Load(); n != 3 {
		t.Errorf("%d connections; want 3 (a refused one, the first and the reconnection)", n)
	}
	// cancel_on_disconnect is asked for again on the reconnection.
	const hs = "auth, cancel_on_disconnect MM-USDT true, subscribe"
	if got, want := f.handshakes(), "auth | "+hs+" | "+hs; got != want {
		t.Errorf("handshakes\n got %s\nwant %s", got, want)
	}
}

// cancel_on_disconnect is sent only for a market, and its refusal fails
// the dial.
func TestDialStreamCancelOnDisconnect(t *testing.T) {
	f := &fakeStream{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	url := streamURL(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	ws, err := dialStream(ctx, url, "good", "")
	if err != nil {
		t.Fatal(err)
	}
	ws.Close()
	if _, err := dialStream(ctx, url, "good", "NOPE"); errCode(err) != "not_found" {
		t.Errorf("dialing with cancel_on_disconnect for an unknown market: %v; want not_found", err)
	}
	if got, want := f.handshakes(), "auth, subscribe | auth, cancel_on_disconnect NOPE true"; got != want {
		t.Errorf("handshakes\n got %s\nwant %s", got, want)
	}
}

// The messages the maker decodes are those the server documents.
func TestStreamMessageDecoding(t *testing.T) {
	var m streamMsg
	if err := json.Unmarshal([]byte(fillMsg(5, 9)), &m); err != nil || m.Channel != "fills" || m.N != 5 || m.Seq != 15 {
		t.Fatalf("%+v, %v", m, err)
	}
	var f apiFill
	if err := json.Unmarshal(m.Data, &f); err != nil || f.TradeID != 9 || f.Price != "100.1" || f.Liquidity != "maker" {
		t.Fatalf("%+v, %v", f, err)
	}
}

// streamCutter is a TCP proxy in front of istd that cuts, on demand, the
// stream connections through it (those whose request is GET
// /v1/stream), both ways, as a network failure would.
type streamCutter struct {
	target string // istd's host:port

	mu      sync.Mutex
	streams []net.Conn // both ends of each stream connection
	all     []net.Conn // every connection, closed at the end of the test
}

// newStreamCutter starts a proxy to the istd at base and returns its
// base URL.
func newStreamCutter(t *testing.T, base string) (string, *streamCutter) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &streamCutter{target: strings.TrimPrefix(base, "http://")}
	t.Cleanup(func() {
		ln.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, conn := range c.all {
			conn.Close()
		}
	})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go c.proxy(conn)
		}
	}()
	return "http://" + ln.Addr().String(), c
}

// proxy forwards a client's connection to istd until either end closes.
func (c *streamCutter) proxy(client net.Conn) {
	server, err := net.Dial("tcp", c.target)
	if err != nil {
		client.Close()
		return
	}
	br := bufio.NewReader(client)
	const stream = "GET /v1/stream"
	head, _ := br.Peek(len(stream))
	c.mu.Lock()
	c.all = append(c.all, client, server)
	if string(head) == stream {
		c.streams = append(c.streams, client, server)
	}
	c.mu.Unlock()
	go func() {
		io.Copy(server, br)
		server.Close()
	}()
	io.Copy(client, server)
	client.Close()
}

// cut closes the stream connections open and returns how many there were.
func (c *streamCutter) cut() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.streams {
		conn.Close()
	}
	n := len(c.streams) / 2
	c.streams = nil
	return n
}

// With cancel on disconnect, a stream connection cut makes istd cancel
// the maker's quotes; the maker reconnects, finds them gone and quotes
// again, counting as cancelled only the orders it cancelled itself.
func TestCancelOnDisconnect(t *testing.T) {
	base := startServer(t)
	pub := newClient(base, "")
	createMarket(t, base)
	_, acct := newAccount(t, base, "mm-cod", "MM:20", "USDT:5000")
	proxy, cutter := newStreamCutter(t, base)

	out := &syncBuffer{}
	cfg := testConfig(proxy)
	cfg.Token = acct.token
	stop := runMaker(t, cfg, out)

	waitBook(t, pub, testLadder)
	quotes := openOrders(t, acct)
	if n := cutter.cut(); n != 1 {
		t.Fatalf("%d stream connections cut; want 1", n)
	}
	waitFor(t, "the quotes cancelled by istd and placed again", func() (bool, string) {
		var saw []string
		ok := true
		for _, o := range quotes {
			var got apiOrder
			call(t, acct, "GET", fmt.Sprintf("/v1/orders/%d", o.ID), "", &got)
			saw = append(saw, fmt.Sprintf("order %d %s", o.ID, got.Status))
			ok = ok && got.Status == "cancelled"
		}
		open := openOrders(t, acct)
		old := orderIDs(quotes)
		for _, o := range open {
			ok = ok && !old[o.ID]
		}
		b := bookString(t, pub)
		saw = append(saw, fmt.Sprintf("%d open; book %s", len(open), b))
		return ok && len(open) == 6 && b == testLadder, strings.Join(saw, "\n")
	})
	if n := metric(t, base, "stream_cancel_on_disconnect_total"); n != 1 {
		t.Errorf("%v streams cancelled on disconnect; want 1", n)
	}

	s := stop()
	for _, want := range []string{"stream reconnected: resyncing",
		"cancelled 6 open orders in MM-USDT", "orders placed 12, amended 0, cancelled 6;"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in the output", want)
		}
	}
	if n := len(openOrders(t, acct)); n != 0 {
		t.Errorf("%d orders open after the run", n)
	}
}
