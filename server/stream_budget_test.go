package server

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// The hub-wide budget of queued bytes (streamBudget,
// Options.StreamQueueBytes). Streams whose writers are stuck stand for
// clients that do not read: a real one first fills the kernel's socket
// buffers (megabytes on loopback) before anything stays queued, which
// would make these tests slow and their figures the machine's. Every
// wait waits for what it expects, within burstWait.

// budgetQuiet opens a stream that the test never reads until it checks
// how the stream was closed, and sends it msgs.
func budgetQuiet(t *testing.T, ts *testServer, msgs ...string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.base, "http")+"/v1/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	for _, m := range msgs {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

// budgetWait polls cond until it holds, failing the test after burstWait.
func budgetWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(burstWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", burstWait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// budgetSubs returns how many connections the hub has subscribed to the
// trades of BTC-USDT, and to books.
func budgetSubs(t *testing.T, ts *testServer) (trades, books int) {
	t.Helper()
	m, ok := ts.s.marketByName([]byte("BTC-USDT"))
	if !ok {
		t.Fatal("no BTC-USDT")
	}
	h := ts.s.hub
	done := make(chan struct{})
	if !h.do(func() {
		defer close(done)
		trades = len(h.trades[m.id])
		for _, f := range h.books {
			books += len(f.subs)
		}
	}) {
		t.Fatal("the hub stopped")
	}
	<-done
	return trades, books
}

// budgetClosed reads ws, whose writer never wrote a message, and fails
// unless the server closed it with 1008 and reason.
func budgetClosed(t *testing.T, ws *websocket.Conn, name, reason string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(burstWait))
	_, msg, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != reason {
		t.Fatalf("%s: read %q, %v; want close 1008 %q", name, msg, err, reason)
	}
}

// A burst of trades to several subscribers, some of which never read,
// with a budget of 64 KiB for all: once the queues pass it, the streams
// furthest behind are closed (1008 "slow consumer: server queue
// budget"), well before their own 4 MiB bound, while the one that reads
// gets every trade, with n consecutive, and stays open. Without the
// budget the stuck streams kept their queues, up to 4 MiB each. Once
// every stream is closed, stream_queue_bytes is back at 0.
func TestStreamBudgetSlowestPay(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, StreamQueueBytes: MinStreamQueueBytes})
	alice, bob := ts.setup()
	const sweeps, per = 8, 50 // 400 trades of some 240 bytes (msgSize): 96 KB per subscriber
	burstAsks(ts, alice, sweeps*per)
	reader := burstSubscribe(t, ts, "", "trades:BTC-USDT")

	// The stuck streams subscribe last: their queues must not wait
	// streamWriteWait (closed then as making no progress).
	gate := make(chan struct{}) // never opened
	ts.s.hub.writeGate.Store(&gate)
	var stuck []*websocket.Conn
	for range 3 {
		stuck = append(stuck, budgetQuiet(t, ts, `{"op":"subscribe","channels":["trades:BTC-USDT"]}`))
	}
	budgetWait(t, "4 trades subscribers", func() bool { n, _ := budgetSubs(t, ts); return n == 4 })
	ts.s.hub.writeGate.Store(nil)

	for range sweeps {
		ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","type":"market","quantity":"0.005"}`)
	}
	n := 0
	reader.until(fmt.Sprintf("%d trades", sweeps*per), func(m wsMsg) bool {
		if m.Channel == "trades:BTC-USDT" {
			n++
		}
		return n == sweeps*per
	})
	reader.alive()
	for i, ws := range stuck {
		budgetClosed(t, ws, fmt.Sprintf("stuck stream %d", i), closeBudget)
	}

	reader.ws.Close()
	budgetWait(t, "every stream closed", func() bool { return ts.metric("streams_open") == 0 })
	budgetWait(t, "stream_queue_bytes back at 0", func() bool { return ts.metric("stream_queue_bytes") == 0 })
}

// stream_queue_bytes shows the bytes queued, and gives back every byte
// whichever way a stream ends: closed by the budget, by its own bound,
// by a revoked token, by the client hanging up, by the client's close,
// or by the server shutting down.
func TestStreamBudgetGaugeNoLeak(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, StreamQueueBytes: MinStreamQueueBytes})
	alice, bob := ts.setup()
	if v := ts.metric("stream_queue_bytes"); v != 0 {
		t.Fatalf("stream_queue_bytes %v with no stream", v)
	}
	ts.must(201, "POST", "/v1/admin/markets", adminTok, // whose book does not change
		`{"symbol":"ETH-USDT","base":"ETH","quote":"USDT","tick_size":"0.01","lot_size":"0.001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)
	burstAsks(ts, alice, 410)
	tok := ts.must(201, "POST", "/v1/tokens", alice, "")
	reader := burstSubscribe(t, ts, "", "trades:BTC-USDT")

	gate := make(chan struct{}) // never opened
	ts.s.hub.writeGate.Store(&gate)
	ts.s.hub.queueBytes.Store(8 << 10) // bounded's own bound
	bounded := budgetQuiet(t, ts, `{"op":"subscribe","channels":["trades:BTC-USDT"]}`)
	budgetWait(t, "bounded subscribed", func() bool { n, _ := budgetSubs(t, ts); return n == 2 })
	ts.s.hub.queueBytes.Store(streamQueueBytes)
	stuck := budgetQuiet(t, ts, `{"op":"subscribe","channels":["trades:BTC-USDT"]}`)
	revoked := budgetQuiet(t, ts, `{"op":"auth","token":"`+tok["token"].(string)+`"}`,
		`{"op":"subscribe","channels":["trades:BTC-USDT"]}`)
	hangup := budgetQuiet(t, ts, `{"op":"subscribe","channels":["trades:BTC-USDT"]}`)
	// held until the shutdown: its queue, never added to, is not closed
	// for making no progress.
	budgetQuiet(t, ts, `{"op":"subscribe","channels":["book:ETH-USDT"]}`)
	budgetWait(t, "5 trades subscribers and 1 book subscriber", func() bool {
		n, b := budgetSubs(t, ts)
		return n == 5 && b == 1
	})
	ts.s.hub.writeGate.Store(nil)

	// 10 trades: queued on the stuck streams, under every bound.
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}`)
	n := 0
	reader.until("10 trades", func(m wsMsg) bool {
		if m.Channel == "trades:BTC-USDT" {
			n++
		}
		return n == 10
	})
	// The hub queued the first 9 on every stuck stream before the reader
	// got the 10th: at least 4 × 9 trades of 200 bytes.
	if v := ts.metric("stream_queue_bytes"); v < 4*9*200 {
		t.Fatalf("stream_queue_bytes %v with four stuck streams holding 9 trades or more", v)
	}
	ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", uint64(tok["id"].(float64))), alice, "")
	budgetClosed(t, revoked, "revoked", closeRevoked)
	hangup.Close()

	// 400 more: past bounded's own bound, then past the budget.
	for range 8 {
		ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","type":"market","quantity":"0.005"}`)
	}
	reader.until("410 trades", func(m wsMsg) bool {
		if m.Channel == "trades:BTC-USDT" {
			n++
		}
		return n == 410
	})
	budgetClosed(t, bounded, "bounded", closeQueueFull)
	budgetClosed(t, stuck, "stuck", closeBudget)
	if err := reader.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")); err != nil {
		t.Fatal(err)
	}
	budgetWait(t, "only the book stream open", func() bool { return ts.metric("streams_open") == 1 })
	budgetWait(t, "stream_queue_bytes down to the book stream's queue", func() bool {
		v := ts.metric("stream_queue_bytes")
		return v > 0 && v < MinStreamQueueBytes
	})

	ts.stop()
	budgetWait(t, "every stream closed by the shutdown", func() bool { n, _ := ts.s.hub.slots.open(); return n == 0 })
	if v := ts.s.hub.budget.queued.Load(); v != 0 {
		t.Fatalf("%d bytes still charged once every stream closed", v)
	}
}

// budgetConn is a connection without a socket, charged to b.
func budgetConn(b *streamBudget) *streamConn {
	return &streamConn{closed: make(chan struct{}), qmax: streamQueueBytes, wake: make(chan struct{}, 1), budget: b}
}

// The rule: past the budget, a message is refused (the connection closed,
// 1008 closeBudget) only to a connection that would then hold more than
// its fair share, the budget / connections open but at least 64 KiB; a
// connection under its share keeps receiving, and one with nothing
// queued always gets a message; under the budget, only a connection's
// own bound counts. A refused message is not charged.
func TestStreamBudgetFairShare(t *testing.T) {
	var open atomic.Int64
	open.Store(4)
	b := &streamBudget{limit: 256 << 10, conns: &open} // share: 64 KiB
	if s := b.share(); s != 64<<10 {
		t.Fatalf("share %d of 256 KiB among 4", s)
	}
	msg := make([]byte, 1000)
	size := msgSize(msg)
	var conns []*streamConn
	check := func(what string) {
		t.Helper()
		var sum int64
		for _, c := range conns {
			sum += c.qbytes
		}
		if q := b.queued.Load(); q != sum {
			t.Fatalf("%s: %d bytes charged, the queues hold %d", what, q, sum)
		}
	}
	conn := func() *streamConn { c := budgetConn(b); conns = append(conns, c); return c }
	slow, filler, fast := conn(), conn(), conn()

	for slow.qbytes+size <= 200<<10 { // past its share, under the budget
		slow.enqueue(msg)
	}
	for b.queued.Load()+size <= b.limit {
		filler.enqueue(msg)
	}
	if slow.killed() || filler.killed() {
		t.Fatalf("closed under the budget: %q %q", slow.reason, filler.reason)
	}
	check("under the budget")

	fast.enqueue(make([]byte, 100<<10)) // nothing queued: even a large message
	fast.batchDone(fast.qbytes)         // written
	for range 60 {                      // the budget is passed; fast stays under its share
		fast.enqueue(msg)
	}
	if fast.killed() || b.queued.Load() <= b.limit {
		t.Fatalf("under its share past the budget (%d of %d): closed %v %q", b.queued.Load(), b.limit, fast.killed(), fast.reason)
	}
	check("past the budget")

	before := b.queued.Load()
	slow.enqueue(msg)
	if !slow.killed() || slow.code != websocket.ClosePolicyViolation || slow.reason != closeBudget {
		t.Fatalf("over its share past the budget: closed %v, %d %q", slow.killed(), slow.code, slow.reason)
	}
	if q := b.queued.Load(); q != before {
		t.Fatalf("a refused message charged: %d bytes, were %d", q, before)
	}
	for !fast.killed() { // fast, past its share now, pays too
		fast.enqueue(msg)
	}
	if fast.reason != closeBudget || fast.qbytes > b.share() {
		t.Fatalf("fast past its share: %q, %d queued", fast.reason, fast.qbytes)
	}
	slow.releaseQueue() // their writers end
	fast.releaseQueue()
	check("slow and fast released")
	late := conn() // a message that checked killed before its kill
	late.releaseQueue()
	late.enqueue(msg)
	if late.qbytes != 0 || len(late.queue) != 0 {
		t.Fatal("queued after the writer ended")
	}

	for filler.qbytes <= b.share() { // under the budget again: past its share is fine
		filler.enqueue(msg)
	}
	if filler.killed() {
		t.Fatalf("filler under the budget: closed %v, %d queued", filler.killed(), filler.qbytes)
	}
	check("under the budget again")

	open.Store(100) // 2.6 KiB each: the floor holds
	if s := b.share(); s != MinStreamQueueBytes {
		t.Fatalf("share %d among 100", s)
	}
	b.limit = -1 // no budget: counted, never refused
	for range 100 {
		filler.enqueue(msg)
	}
	if filler.killed() {
		t.Fatalf("closed with no budget: %q", filler.reason)
	}
	check("no budget")
}

// Under -race: connections enqueued from several goroutines (as the hub
// and the readers do), drained by writers, some stuck, killed at random
// and by the bounds. At every moment the budget holds exactly what the
// queues hold (checked with every queue locked), and once every writer
// ended it holds nothing.
func TestStreamBudgetAccountingRace(t *testing.T) {
	const nconn, senders, each = 8, 4, 1500
	var open atomic.Int64
	open.Store(nconn)
	b := &streamBudget{limit: MinStreamQueueBytes, conns: &open} // share: 64 KiB
	conns := make([]*streamConn, nconn)
	var writers sync.WaitGroup
	for i := range conns {
		c := budgetConn(b)
		c.qmax = 96 << 10
		conns[i] = c
		stuck := i%4 == 0 // never writes: closed by a bound, or at the end
		writers.Add(1)
		go func() { // the writer's part of the accounting
			defer writers.Done()
			var batch [][]byte
			for {
				select {
				case <-c.closed:
					c.releaseQueue()
					return
				case <-c.wake:
					if stuck {
						continue
					}
					batch = c.takeQueue(batch)
					var size int64
					for j, m := range batch {
						size += msgSize(m)
						batch[j] = nil
					}
					c.batchDone(size)
				}
			}
		}()
	}
	check := func() {
		for _, c := range conns {
			c.qmu.Lock()
		}
		var sum int64
		for _, c := range conns {
			sum += c.qbytes
		}
		q := b.queued.Load()
		for _, c := range conns {
			c.qmu.Unlock()
		}
		if q != sum {
			t.Errorf("%d bytes charged, the queues hold %d", q, sum)
		}
	}

	var send sync.WaitGroup
	for g := range senders {
		send.Add(1)
		go func() {
			defer send.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for k := range each {
				conns[r.IntN(nconn)].enqueue(make([]byte, 50+r.IntN(1500)))
				if g == 0 && k%300 == 299 { // a kill now and then
					conns[r.IntN(nconn)].kill(websocket.CloseAbnormalClosure, "")
				}
			}
		}()
	}
	stop := make(chan struct{})
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		for {
			select {
			case <-stop:
				return
			default:
				check()
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	send.Wait()
	close(stop)
	<-checked
	check()
	for _, c := range conns {
		c.kill(websocket.CloseGoingAway, "")
	}
	writers.Wait()
	if q := b.queued.Load(); q != 0 {
		t.Fatalf("%d bytes charged once every writer ended", q)
	}
	check()
}

// Options.StreamQueueBytes: 0 is the default, negative no budget, and a
// positive value under 64 KiB is refused; the stream's description
// names the close reason and the flag.
func TestStreamBudgetOptions(t *testing.T) {
	_, err := Open(&Options{DataDir: t.TempDir(), AdminToken: adminTok, StreamQueueBytes: 1000})
	if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), "StreamQueueBytes") {
		t.Fatalf("StreamQueueBytes 1000: %v", err)
	}
	ts := start(t, t.TempDir(), nil)
	if l := ts.s.hub.budget.limit; l != DefaultStreamQueueBytes {
		t.Fatalf("default budget %d", l)
	}
	desc, _ := streamOpenAPI(t, ts)
	for _, s := range []string{closeBudget, "--stream-queue-bytes", "fair share"} {
		if !strings.Contains(desc, s) {
			t.Errorf("the /v1/stream description does not mention %s", s)
		}
	}
	ts = start(t, t.TempDir(), &Options{AdminToken: adminTok, StreamQueueBytes: -1})
	if l := ts.s.hub.budget.limit; l >= 0 {
		t.Fatalf("no budget: limit %d", l)
	}
}
