package server

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/fasthttp/websocket"
	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// Streams (GET /v1/stream): a WebSocket per client, fed by a hub.
//
// The engine's output goroutine hands each result to hub.publish, which
// copies what the streams need and passes it on without blocking (when no
// stream is open it does nothing). The hub's goroutine owns every
// subscription: it turns results into trades, orders and fills messages,
// diffs the published market views into book deltas, and queues each
// message on its connections. A connection's queue is bounded in bytes
// (streamQueueBytes, counting the messages its writer is still writing):
// a connection over the bound, or whose writer has written nothing for
// streamWriteWait while messages wait, is closed (1008, slow consumer), so
// no client ever holds up the hub or the engine, and a client that reads
// gets a burst in full. The bytes queued on all connections together
// have a budget too (streamBudget, Options.StreamQueueBytes): past it, a
// connection holding more than its fair share is closed (1008,
// closeBudget), so that slow clients, not fast ones, pay for the memory
// they hold. Each connection has a reader (the upgraded
// request's goroutine) and a writer goroutine, which takes everything
// queued at once and writes it message after message (the WebSocket
// library writes each message with one system call).
//
// A connection authenticated with a token is closed (1008, closeRevoked)
// when that token is revoked (hub.revoke), and a token revoked while a
// connection authenticates with it closes the connection too
// (hub.authenticate): no message built after the revocation reaches it.
//
// Limits: each client message is charged, like a request, to the rate
// limiter (ratelimit.go): to its client IP's bucket until an auth
// message succeeds, then to its token's. A message over the limit is not
// executed and is answered with a rate_limited error message;
// streamMaxLimited of them in a row close the connection (1008,
// closeRateLimited). The streams open are capped in total and per client
// IP (streamSlots): an upgrade over a cap is answered 503 overloaded
// (total) or 429 rate_limited (per IP).
const (
	streamInbox     = 8192             // results queued for the hub
	streamReadLimit = 4096             // bytes per client message
	streamMaxBad    = 10               // bad client messages before closing
	streamPing      = 20 * time.Second // ping interval
	streamPongWait  = 60 * time.Second // read deadline, renewed by pongs and messages
	streamWriteWait = 10 * time.Second // per message written, and for a stalled writer (enqueue)
	streamCloseWait = time.Second      // for the client's answer to our close frame
	streamBookPoll  = 5 * time.Millisecond

	// streamQueueBytes bounds the messages of a connection queued or
	// being written, counted by msgSize: a connection past it is a slow
	// consumer (enqueue). 4 MiB holds some 8,000 orders messages or
	// 16,000 trades.
	streamQueueBytes = 4 << 20

	// DefaultStreamQueueBytes is the budget of bytes queued on all
	// connections together (Options.StreamQueueBytes) when zero. 256 MiB
	// holds a sweep of 1000 trades (some 270 KB per subscriber, msgSize)
	// queued at once for about 1,000 subscribers before any of their
	// writers drains it, or 64 connections' full queues, and keeps 10,000
	// streams to 881 MiB of queues at worst (streamBudget), not the 40 GiB
	// of their own bounds.
	DefaultStreamQueueBytes = 256 << 20
	// MinStreamQueueBytes is the smallest budget Options.StreamQueueBytes
	// takes, and the smallest fair share of it (streamBudget.take): 64
	// KiB, some 240 trades.
	MinStreamQueueBytes = 64 << 10

	// streamMaxLimited is how many client messages refused in a row by
	// the rate limiter close the connection (1008, closeRateLimited).
	streamMaxLimited = 100

	// DefaultMaxStreams and DefaultMaxStreamsPerIP cap the streams open
	// at once, in total and per client IP.
	DefaultMaxStreams      = 10000
	DefaultMaxStreamsPerIP = 100

	// closeRevoked is the close reason (with 1008) of a connection whose
	// token was revoked.
	closeRevoked = "token revoked"
	// closeRateLimited is the close reason (with 1008) of a connection
	// that kept sending while rate limited, or that opened over the cap of
	// streams per IP.
	closeRateLimited = "rate limited"
)

// Errors of an upgrade over a cap of streams (streamSlots).
var (
	errStreamsFull  = fmt.Errorf("%w (too many streams open)", errOverloaded)
	errStreamsPerIP = fmt.Errorf("%w (too many streams open from this address)", errRateLimited)
)

// streamSlots caps the streams open, in total and per client IP. Safe
// for concurrent use. A stream holds its slot from admit to release;
// its IP's entry exists only while it holds one, so perIP has at most
// as many entries as streams open.
type streamSlots struct {
	mu       sync.Mutex
	max      int // in total; ≤ 0: no cap
	maxPerIP int // per client IP; ≤ 0: no cap
	n        int // open
	perIP    map[[16]byte]int
}

// setCaps sets the caps: 0 means the default (DefaultMaxStreams,
// DefaultMaxStreamsPerIP), negative no cap. Streams already open stay.
func (l *streamSlots) setCaps(total, perIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.max, l.maxPerIP = cmp.Or(total, DefaultMaxStreams), cmp.Or(perIP, DefaultMaxStreamsPerIP)
}

// admit returns errStreamsPerIP or errStreamsFull if a stream from ip
// would be over a cap, else nil; with take, it then takes a slot, which
// the caller must release.
func (l *streamSlots) admit(ip [16]byte, take bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.maxPerIP > 0 && l.perIP[ip] >= l.maxPerIP:
		return errStreamsPerIP
	case l.max > 0 && l.n >= l.max:
		return errStreamsFull
	}
	if take {
		if l.perIP == nil {
			l.perIP = map[[16]byte]int{}
		}
		l.n++
		l.perIP[ip]++
	}
	return nil
}

// release gives back a slot of ip taken by admit.
func (l *streamSlots) release(ip [16]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// open returns the number of streams open (holding a slot) and of
// client IPs they come from.
func (l *streamSlots) open() (streams, ips int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, len(l.perIP)
}

// streamBudget is the hub's budget of the bytes queued on all its
// connections (Options.StreamQueueBytes), on top of each connection's own
// bound (streamQueueBytes): 10,000 streams could otherwise hold 40 GiB.
// queued is the sum of the connections' qbytes, updated with each under
// its queue's lock: charged by enqueue (take), given back as the writer
// writes a batch (batchDone), and when the writer ends, once the
// connection is killed (releaseQueue): a killed connection's messages
// stay charged as long as they are held, at most streamWriteWait (a
// write blocked).
//
// Past the budget, the connections furthest behind pay: a message is
// refused (and its connection closed, closeBudget) only to a connection
// that would then hold more than its fair share, limit / connections
// open but at least MinStreamQueueBytes; one under its share keeps
// receiving, up to its own bound, and one with nothing queued always
// gets a message. The budget is thus not a hard cap, but what a
// connection holds beyond its share it queued while the total was under
// the budget: the total is at most the budget plus, per connection, its
// share when it last queued past the budget (or a single message). With
// n streams open all along that is limit + max(limit, n × 64 KiB): with
// the defaults and 10,000 streams, 881 MiB; streams opening one by one
// while the total stays over the budget, each with a larger share than
// the next, could bring it to about 1.9 GiB.
//
// Safe for concurrent use; a nil *streamBudget charges nothing and
// refuses nothing.
type streamBudget struct {
	queued atomic.Int64  // bytes (msgSize) queued on all connections
	limit  int64         // ≤ 0: none (queued is still counted)
	conns  *atomic.Int64 // connections open (hub.clients)
}

// take charges size bytes for a message to a connection that holds q
// bytes already, unless the total would then pass the limit while the
// connection, not empty, would hold more than its fair share: it then
// charges nothing and returns false. Under the connection's queue lock.
func (b *streamBudget) take(q, size int64) bool {
	if b == nil {
		return true
	}
	if b.queued.Add(size) <= b.limit || b.limit <= 0 || q == 0 || q+size <= b.share() {
		return true
	}
	b.queued.Add(-size)
	return false
}

// share is a connection's fair share of the limit: limit / connections
// open, at least MinStreamQueueBytes.
func (b *streamBudget) share() int64 {
	return max(b.limit/max(b.conns.Load(), 1), MinStreamQueueBytes)
}

// give gives back size bytes charged by take. Under the connection's
// queue lock.
func (b *streamBudget) give(size int64) {
	if b != nil && size != 0 {
		b.queued.Add(-size)
	}
}

// streamItem is what the hub needs of one engine result.
type streamItem struct {
	seq    uint64
	time   int64
	events []streamEvent // trades and order events
	orders []orderRec    // orders touched, as the result left them (hub.settled)
}

type streamEvent struct {
	engine.Event
	tradeID uint64
}

// hub fans engine results out to stream connections.
type hub struct {
	s       *Server
	clients atomic.Int64 // open connections
	private atomic.Int64 // connections subscribed to orders or fills
	lost    atomic.Bool  // the inbox overflowed
	budget  streamBudget // of the bytes queued on all connections
	in      chan *streamItem
	ctl     chan func()
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	slots   streamSlots // caps of streams open

	// touched holds copies of the orders the result being applied
	// touched, as it left them (settled): the read model may trim them
	// from its history before publish. Engine output goroutine only.
	touched []orderRec

	// Test knobs.
	queueBytes atomic.Int64                  // byte bound of the queues of new connections
	writeGate  atomic.Pointer[chan struct{}] // non-nil: the writers of connections opened meanwhile wait for it before each write

	// Owned by the hub goroutine.
	conns  map[*streamConn]struct{}
	books  map[uint32]*bookFeed
	trades map[uint32]map[*streamConn]struct{}
	accts  map[uint64]map[*streamConn]struct{}
	tokens map[*liveToken]map[*streamConn]struct{} // by the token they authenticated with
}

// bookFeed is one market's book subscribers and the view last sent.
type bookFeed struct {
	prev *engine.MarketView
	subs map[*streamConn]struct{}
}

func newHub(s *Server) *hub {
	h := &hub{s: s, in: make(chan *streamItem, streamInbox), ctl: make(chan func()),
		stop: make(chan struct{}), done: make(chan struct{}),
		conns: map[*streamConn]struct{}{}, books: map[uint32]*bookFeed{},
		trades: map[uint32]map[*streamConn]struct{}{}, accts: map[uint64]map[*streamConn]struct{}{},
		tokens: map[*liveToken]map[*streamConn]struct{}{}}
	h.queueBytes.Store(streamQueueBytes)
	h.budget.limit, h.budget.conns = int64(cmp.Or(s.opts.StreamQueueBytes, DefaultStreamQueueBytes)), &h.clients
	h.slots.setCaps(s.opts.MaxStreams, s.opts.MaxStreamsPerIP)
	s.rm.mu.Lock()
	s.rm.settled = h.settled
	s.rm.mu.Unlock()
	go h.run()
	return h
}

// settled is the read model's hook (readModel.settled): it copies o, an
// order the result being applied touched, as the result left it, while
// an orders channel may want it; the read model may then trim o from its
// history (Options.HistoryOrders) before publish runs. Engine output
// goroutine, the read model's lock held.
func (h *hub) settled(o *orderRec) {
	if h.private.Load() == 0 {
		return
	}
	if len(h.touched) > 0 && h.touched[0].logged != o.logged {
		h.touched = h.touched[:0] // an earlier result's, never published
	}
	h.touched = append(h.touched, *o)
}

// publish is called by onResult on the engine's output goroutine after
// the read model applied res. It never blocks.
func (h *hub) publish(res *engine.Result) {
	if h == nil {
		return
	}
	orders := h.touched // res's orders (settled), each once, in the order touched
	h.touched = nil
	if len(orders) > 0 && orders[0].logged != res.Seq {
		orders = nil
	}
	if h.clients.Load() == 0 || len(res.Events) == 0 {
		return
	}
	it := &streamItem{seq: res.Seq, time: res.Time, orders: orders}
	priv := h.private.Load() > 0
	k := 0 // trade events seen
	for i := range res.Events {
		ev := &res.Events[i]
		switch ev.Kind {
		case book.EvTrade:
			k++
			it.events = append(it.events, streamEvent{Event: *ev, tradeID: tradeID(h.s.rm.tradeBase, res, k)})
		case engine.EvCopySkipped, engine.EvCopyClosed, engine.EvProfitShare:
			if priv { // the copy channel (copystream.go)
				it.events = append(it.events, streamEvent{Event: *ev})
			}
		}
	}
	if len(it.events) == 0 && len(it.orders) == 0 {
		return
	}
	select {
	case h.in <- it:
	default:
		h.lost.Store(true)
	}
}

// close disconnects every stream and stops the hub (idempotent).
func (h *hub) close() {
	if h == nil {
		return
	}
	h.once.Do(func() {
		close(h.stop)
		<-h.done
	})
}

// do runs f on the hub goroutine; false if the hub stopped.
func (h *hub) do(f func()) bool {
	select {
	case h.ctl <- f:
		return true
	case <-h.stop:
		return false
	}
}

// doWait runs f on the hub goroutine and waits for it to have run; false
// if the hub stopped. A stream's reader hands the hub its ops so: the
// answers the reader queues itself afterwards (an error, rate_limited)
// then come after those f queued, and the client gets its answers in the
// order of its messages.
func (h *hub) doWait(f func()) bool {
	done := make(chan struct{})
	if !h.do(func() { defer close(done); f() }) {
		return false
	}
	<-done
	return true
}

func (h *hub) run() {
	defer close(h.done)
	t := time.NewTicker(streamBookPoll)
	defer t.Stop()
	for {
		var tick <-chan time.Time
		if len(h.books) > 0 {
			tick = t.C
		}
		select {
		case <-h.stop:
			for c := range h.conns {
				c.kill(websocket.CloseGoingAway, "server shutting down")
			}
			return
		case f := <-h.ctl:
			f()
		case it := <-h.in:
			h.dispatch(it)
		case <-tick:
			for id, f := range h.books {
				h.advanceBook(id, f)
			}
		}
		if h.lost.Swap(false) {
			// Messages were dropped: every stream must resync.
			for c := range h.conns {
				c.kill(websocket.CloseTryAgainLater, "server overloaded: resubscribe")
			}
		}
	}
}

// dispatch sends one result's trades, orders and fills.
func (h *hub) dispatch(it *streamItem) {
	var b []byte
	for i := range it.events {
		ev := &it.events[i]
		if isCopyEvent(ev.Kind) {
			h.sendCopyEvent(ev, it)
			continue
		}
		m, ok := h.s.marketByID(ev.Market)
		if !ok {
			continue
		}
		if subs := h.trades[ev.Market]; len(subs) > 0 {
			ch := "trades:" + m.name
			b = appendTrade(b[:0], m, ev.tradeID, ev.Price, ev.Qty, ev.Side, it.time)
			for c := range subs {
				c.sendData(ch, it.seq, b)
			}
		}
		makerSide := book.Buy
		if ev.Side == book.Buy {
			makerSide = book.Sell
		}
		h.sendFill(m, ev.Owner, &fillRec{TradeID: ev.tradeID, OrderID: ev.OrderID, Market: ev.Market,
			Side: ev.Side, Price: ev.Price, Qty: ev.Qty, Fee: ev.TakerFee, Time: it.time}, it.seq)
		h.sendFill(m, ev.MakerOwner, &fillRec{TradeID: ev.tradeID, OrderID: ev.MakerID, Market: ev.Market,
			Side: makerSide, Price: ev.Price, Qty: ev.Qty, Fee: ev.MakerFee, Maker: true, Time: it.time}, it.seq)
		if ev.Relation != 0 && len(h.accts) > 0 {
			h.sendCopyFill(m, ev, it) // a mirrored order's trade
		}
	}
	for i := range it.orders {
		o := &it.orders[i]
		subs := h.accts[o.Account]
		if len(subs) == 0 {
			continue
		}
		m, ok := h.s.marketByID(o.Market)
		if !ok {
			continue
		}
		b = h.s.appendOrder(b[:0], o, m)
		for c := range subs {
			if c.subs["orders"] {
				c.sendData("orders", it.seq, b)
			}
		}
	}
}

func (h *hub) sendFill(m *mkt, account uint64, f *fillRec, seq uint64) {
	subs := h.accts[account]
	if len(subs) == 0 {
		return
	}
	b := h.s.appendFill(nil, f, m)
	for c := range subs {
		if c.subs["fills"] {
			c.sendData("fills", seq, b)
		}
	}
}

// advanceBook sends the subscribers of market id the changes from the
// view they have to the latest published one.
func (h *hub) advanceBook(id uint32, f *bookFeed) {
	v, ok := h.s.eng.Market(id)
	if !ok || v == f.prev || (f.prev != nil && v.Seq <= f.prev.Seq) {
		return
	}
	m, ok := h.s.marketByID(id)
	if !ok {
		return
	}
	var prevBids, prevAsks []book.Level
	if f.prev != nil {
		prevBids, prevAsks = f.prev.Bids, f.prev.Asks
	}
	f.prev = v
	bids := diffLevels(nil, prevBids, v.Bids, m.u)
	asks := diffLevels(nil, prevAsks, v.Asks, m.u)
	if bids == nil && asks == nil {
		return
	}
	ch := "book:" + m.name
	for c := range f.subs {
		b := c.header(ch, "delta", v.Seq, len(bids)+len(asks))
		b = append(appendKey(b, "bids", false), '[')
		b = append(append(b, bids...), ']')
		b = append(appendKey(b, "asks", false), '[')
		b = append(append(b, asks...), "]}"...)
		c.enqueue(b)
	}
}

// diffLevels appends the [price, quantity] pairs that turn the levels
// prev into next (quantity "0": the level is gone), comma-separated.
func diffLevels(b []byte, prev, next []book.Level, u units) []byte {
	old := make(map[int64]int64, len(prev))
	for _, l := range prev {
		old[l.Price] = l.Qty
	}
	pair := func(price, qty int64) {
		if b != nil {
			b = append(b, ',')
		}
		b = append(u.appendPrice(append(b, `["`...), price), `","`...)
		b = append(u.appendQty(b, qty), `"]`...)
	}
	for _, l := range next {
		if q, ok := old[l.Price]; !ok || q != l.Qty {
			pair(l.Price, l.Qty)
		}
		delete(old, l.Price)
	}
	for _, l := range prev {
		if _, ok := old[l.Price]; ok {
			pair(l.Price, 0)
		}
	}
	return b
}

// streamConn is one WebSocket client.
type streamConn struct {
	h      *hub
	ws     *websocket.Conn
	ip     [16]byte // the client's
	closed chan struct{}
	once   sync.Once
	code   int
	reason string

	// The queue of messages for the writer (enqueue).
	qmu      sync.Mutex
	queue    [][]byte
	qbytes   int64          // size (msgSize) of queue and of the batch the writer holds
	qdone    bool           // the writer ended: nothing more is queued (releaseQueue)
	qmax     int64          // bound of qbytes
	qsince   int64          // when queue last became non-empty (monoNow)
	wake     chan struct{}  // (capacity 1) queue became non-empty
	progress atomic.Int64   // when the writer last wrote a message (monoNow)
	budget   *streamBudget  // the hub's, charged with qbytes; nil: none
	gate     *chan struct{} // test knob (hub.writeGate): non-nil, the writer waits for it before each write

	// cod is the account (and market, 0: all) whose orders the end of
	// the connection cancels (cancel_on_disconnect; account 0: none). The
	// reader sets it, and the stream handler, on the same goroutine,
	// reads it once the reader returns.
	cod codScope

	// Owned by the hub goroutine.
	account uint64
	toks    []*liveToken      // the tokens it authenticated with
	subs    map[string]bool   // channel → subscribed
	n       map[string]uint64 // channel → messages sent
}

// kill closes the connection with a close code (idempotent, never blocks).
func (c *streamConn) kill(code int, reason string) {
	c.once.Do(func() {
		c.code, c.reason = code, reason
		close(c.closed)
	})
}

// Close reasons (with 1008) of a slow consumer.
const (
	closeQueueFull  = "slow consumer: send queue full"
	closeNoProgress = "slow consumer: no progress"
	closeBudget     = "slow consumer: server queue budget"
)

// msgSize is what a queued message counts against its connection's
// bound: its array, and twice its slice header, since the queue's array
// grows by doubling at most.
func msgSize(b []byte) int64 { return int64(cap(b)) + 48 }

// enqueue queues message b for the writer, from any goroutine, without
// blocking; b must not change afterwards. It closes the connection (1008)
// as a slow consumer, dropping b, when b would take the messages queued
// and being written past the connection's byte bound (a message alone is
// always queued), when messages have been waiting for streamWriteWait
// while the writer wrote nothing, or when the hub's budget refuses b
// (streamBudget.take: the connection holds more than its fair share of a
// budget b would pass): a client that reads gets every message of a
// burst. Once the connection is killed it drops b.
func (c *streamConn) enqueue(b []byte) {
	if c.killed() {
		return
	}
	size, now := msgSize(b), monoNow()
	c.qmu.Lock()
	if c.qdone { // killed, and the writer ended, meanwhile
		c.qmu.Unlock()
		return
	}
	why := ""
	switch {
	case c.qbytes > 0 && c.qbytes+size > c.qmax:
		why = closeQueueFull
	case len(c.queue) > 0 && now-max(c.qsince, c.progress.Load()) > int64(streamWriteWait):
		why = closeNoProgress
	case !c.budget.take(c.qbytes, size): // last: charged once taken
		why = closeBudget
	}
	if why != "" {
		c.qmu.Unlock()
		c.kill(websocket.ClosePolicyViolation, why)
		return
	}
	first := len(c.queue) == 0
	if first {
		c.qsince = now
	}
	c.queue = append(c.queue, b)
	c.qbytes += size
	c.qmu.Unlock()
	if first {
		select {
		case c.wake <- struct{}{}:
		default: // the writer has a wake-up pending
		}
	}
}

// takeQueue hands the messages queued to the writer, which gives the
// array of its last batch, emptied, for the queue to reuse. Their bytes
// stay charged until the writer has written them (batchDone) or lets go
// of them (releaseQueue). Writer only.
func (c *streamConn) takeQueue(batch [][]byte) [][]byte {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	batch, c.queue = c.queue, batch[:0]
	return batch
}

// batchDone gives back size bytes, of messages the writer has written,
// to the queue's bound and the hub's budget. Writer only.
func (c *streamConn) batchDone(size int64) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	c.qbytes -= size
	c.budget.give(size)
}

// releaseQueue drops what is queued and gives back all that c still
// holds, the writer's batch included, when the writer ends (c was
// killed): nothing more is queued. Writer only.
func (c *streamConn) releaseQueue() {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	c.budget.give(c.qbytes)
	c.queue, c.qbytes, c.qdone = nil, 0, true
}

// header starts a channel message: {"channel":…,"type":…,"seq":…,"n":…
// (type omitted when empty), with room for extra bytes more. Hub
// goroutine only.
func (c *streamConn) header(ch, typ string, seq uint64, extra int) []byte {
	c.n[ch]++
	b := make([]byte, 0, 96+len(ch)+len(typ)+extra)
	b = appendString(append(b, `{"channel":`...), ch)
	if typ != "" {
		b = appendStr(b, "type", typ)
	}
	b = appendUint(b, "seq", seq)
	return appendUint(b, "n", c.n[ch])
}

// sendData sends {"channel","seq","n","data"}. Hub goroutine only.
func (c *streamConn) sendData(ch string, seq uint64, data []byte) {
	b := c.header(ch, "", seq, len(data))
	b = append(appendKey(b, "data", false), data...)
	c.enqueue(append(b, '}'))
}

// replyError queues an error message (from any goroutine).
func (c *streamConn) replyError(code, msg string) {
	c.enqueue(appendStreamError(nil, code, msg))
}

// appendStreamError appends the error message
// {"type":"error","error":{"code":…,"message":…}}.
func appendStreamError(b []byte, code, msg string) []byte {
	b = appendString(append(b, `{"type":"error","error":{"code":`...), code)
	return append(appendString(append(b, `,"message":`...), msg), "}}"...)
}

// streamRateLimited answers a client message refused by the rate
// limiter. Shared by every connection: never modified.
var streamRateLimited = appendStreamError(nil, "rate_limited", "rate limit exceeded; message not executed")

var streamUpgrader = websocket.FastHTTPUpgrader{
	HandshakeTimeout: 10 * time.Second,
	// Streams authenticate with a token in a message, not cookies: any
	// origin may connect.
	CheckOrigin: func(*fasthttp.RequestCtx) bool { return true },
	// A handshake the library refuses (no Sec-WebSocket-Key, another
	// version) is answered as every error is: a JSON error body, with the
	// X-Request-Id that handle set (its default, ctx.Error, drops both).
	Error: func(ctx *fasthttp.RequestCtx, status int, reason error) {
		ctx.Response.Header.Set("Sec-Websocket-Version", "13")
		writeJSON(ctx, status, appendErrorObject(nil, fmt.Errorf("%w: %v", errInvalid, reason)))
	},
}

// stream handles GET /v1/stream.
func (s *Server) stream(ctx *fasthttp.RequestCtx) {
	h := s.hub
	if h == nil || !s.ready.Load() {
		writeError(ctx, errUnavailable)
		return
	}
	if !websocket.FastHTTPIsWebSocketUpgrade(ctx) {
		writeError(ctx, fmt.Errorf("%w: /v1/stream needs a WebSocket upgrade", errInvalid))
		return
	}
	// The slot is taken once upgraded, in the hijack handler: fasthttp
	// does not call it if the handshake's answer cannot be written, and a
	// slot taken here would then never be released. Upgrades that race
	// past this check and find a cap reached there are closed at once.
	ip := clientNet(ctx)
	if err := h.slots.admit(ip, false); err != nil {
		writeError(ctx, err)
		if errors.Is(err, errRateLimited) {
			ctx.Response.Header.Set("Retry-After", "1")
		}
		return
	}
	_ = streamUpgrader.Upgrade(ctx, func(ws *websocket.Conn) {
		if err := h.slots.admit(ip, true); err != nil {
			code, reason := websocket.CloseTryAgainLater, "server overloaded: too many streams"
			if errors.Is(err, errRateLimited) {
				code, reason = websocket.ClosePolicyViolation, closeRateLimited
			}
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason),
				time.Now().Add(time.Second))
			_ = ws.Close()
			return
		}
		defer h.slots.release(ip) // whatever ends the stream
		c := &streamConn{h: h, ws: ws, ip: ip, qmax: h.queueBytes.Load(), wake: make(chan struct{}, 1),
			budget: &h.budget, gate: h.writeGate.Load(),
			closed: make(chan struct{}), subs: map[string]bool{}, n: map[string]uint64{}}
		if !h.do(func() { h.conns[c] = struct{}{}; h.clients.Add(1) }) {
			_ = ws.Close()
			return
		}
		writerDone := make(chan struct{})
		go c.writer(writerDone)
		why := c.reader()
		c.kill(websocket.CloseNormalClosure, "")
		if c.cod.account != 0 {
			h.s.cancelOnDisconnect(c.cod)
		}
		<-writerDone
		linger(ws, why)
		_ = ws.Close()
		h.do(func() { h.drop(c) })
	})
}

// linger reads what the client still sends after our close frame, until
// its own close frame arrives, it hangs up, or streamCloseWait passes.
// Closing a socket that holds unread data resets the connection, and the
// client may then lose our close frame, and with it why it was closed.
// why is the reader's result: after a read error nothing is left to read,
// except after an oversized message, whose error the WebSocket keeps
// returning, so the socket itself is drained.
func linger(ws *websocket.Conn, why error) {
	_ = ws.UnderlyingConn().SetReadDeadline(time.Now().Add(streamCloseWait))
	if errors.Is(why, errKilled) {
		for {
			var r io.Reader
			if _, r, why = ws.NextReader(); why != nil {
				break
			}
			if _, why = io.Copy(io.Discard, r); why != nil {
				break
			}
		}
	}
	// why is now the client's close frame, its hanging up, the deadline,
	// or an oversized message.
	if errors.Is(why, websocket.ErrReadLimit) {
		_, _ = io.Copy(io.Discard, ws.UnderlyingConn())
	}
}

// drop forgets c. Hub goroutine only.
func (h *hub) drop(c *streamConn) {
	if _, ok := h.conns[c]; !ok {
		return
	}
	delete(h.conns, c)
	h.clients.Add(-1)
	for ch := range c.subs {
		h.unsubscribe(c, ch)
	}
	for _, t := range c.toks {
		delete(h.tokens[t], c)
		if len(h.tokens[t]) == 0 {
			delete(h.tokens, t)
		}
	}
	c.toks = nil
}

// live reports whether c is still served: a closure its reader queued
// after c was dropped (revoked) must not subscribe it again. Hub
// goroutine only.
func (h *hub) live(c *streamConn) bool {
	_, ok := h.conns[c]
	return ok
}

// authenticate binds c to the account of token t, or, if t was revoked
// since the reader looked it up, closes c as revoke would have: revoke
// sets t.revoked before it queues its closure on the hub, so one of the
// two sees the other. Hub goroutine only.
func (h *hub) authenticate(c *streamConn, t *liveToken) {
	if !h.live(c) {
		return
	}
	if t.revoked.Load() {
		c.kill(websocket.ClosePolicyViolation, closeRevoked)
		h.drop(c)
		return
	}
	c.account = t.account
	if !slices.Contains(c.toks, t) {
		c.toks = append(c.toks, t)
		subs := h.tokens[t]
		if subs == nil {
			subs = map[*streamConn]struct{}{}
			h.tokens[t] = subs
		}
		subs[c] = struct{}{}
	}
	b := strconvUint([]byte(`{"type":"authenticated","account_id":`), t.account)
	c.enqueue(append(b, '}'))
}

// revoke closes (1008, closeRevoked) and drops every connection
// authenticated with token t, which the caller has just revoked, and
// waits for the hub to have done it. Its work is O(those connections).
// Once it returns, they get no message: their writers send none of those
// still queued. Safe for concurrent use; h may be nil.
func (h *hub) revoke(t *liveToken) {
	if h == nil {
		return
	}
	done := make(chan struct{})
	if h.do(func() {
		defer close(done)
		for c := range h.tokens[t] {
			c.kill(websocket.ClosePolicyViolation, closeRevoked)
			h.drop(c)
		}
		delete(h.tokens, t)
	}) {
		<-done
	}
}

// writer sends queued messages and pings until the connection is killed,
// then sends a close frame, and gives the client streamCloseWait to
// answer it before a reader still waiting gives up. The stream handler
// closes the socket.
func (c *streamConn) writer(done chan struct{}) {
	defer close(done)
	t := time.NewTicker(streamPing)
	defer t.Stop()
	defer func() {
		c.releaseQueue() // before the close frame, which may wait 1 s
		msg := websocket.FormatCloseMessage(c.code, c.reason)
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		_ = c.ws.UnderlyingConn().SetReadDeadline(time.Now().Add(streamCloseWait))
	}()
	var batch [][]byte
	for {
		select {
		case <-c.closed:
			return
		case <-c.wake:
			batch = c.takeQueue(batch)
			if !c.write(batch) {
				return
			}
			if cap(batch) > 1024 {
				batch = nil // a burst's array is not kept
			}
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(streamWriteWait)); err != nil {
				c.kill(websocket.CloseAbnormalClosure, "")
				return
			}
		}
	}
}

// monoStart is the origin of monoNow.
var monoStart = time.Now()

// monoNow is the time in nanoseconds since monoStart on the monotonic
// clock: the queue's progress times are compared with it, so that a step
// of the wall clock (NTP, an operator) neither closes every stream with
// messages queued as a slow consumer nor spares a stuck one.
func monoNow() int64 { return int64(time.Since(monoStart)) }

// write writes the messages of batch, which it takes from the queue,
// each within streamWriteWait, then gives their size back to the queue's
// bound and the hub's budget (batchDone); false if the connection was
// killed or a write failed.
func (c *streamConn) write(batch [][]byte) bool {
	var size int64
	now := time.Now()
	for i, b := range batch {
		if c.killed() { // nothing more once killed (a revoked token)
			return false
		}
		if g := c.gate; g != nil {
			select {
			case <-*g:
			case <-c.closed:
				return false
			}
			now = time.Now()
		}
		_ = c.ws.SetWriteDeadline(now.Add(streamWriteWait))
		if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
			c.kill(websocket.CloseAbnormalClosure, "")
			return false
		}
		now = time.Now()
		c.progress.Store(monoNow())
		size += msgSize(b)
		batch[i] = nil
	}
	c.batchDone(size)
	return true
}

// streamOp is a client message: {"op":"auth","token":"..."},
// {"op":"subscribe"|"unsubscribe","channels":["...",...]} or
// {"op":"cancel_on_disconnect","enabled":true|false,"market"?:"..."}.
type streamOp struct {
	Op       string
	Token    string
	Channels []string
	Enabled  bool
	Market   string // cancel_on_disconnect: only this market's orders ("": all)
}

// utf8Str returns the bytes of string v, refusing invalid UTF-8 (a text
// frame must be UTF-8).
func utf8Str(v *fastjson.Value, key string) ([]byte, error) {
	b, err := str(v, key)
	if err == nil && !utf8.Valid(b) {
		err = fmt.Errorf("%w: %s is not valid UTF-8", errInvalid, key)
	}
	return b, err
}

// decodeStreamOp decodes one client message into op, as strictly as a
// request body: a JSON object with "op" (auth, subscribe, unsubscribe or
// cancel_on_disconnect), "token" (a string, required by auth),
// "channels" (a list of strings, required and not empty for subscribe
// and unsubscribe), "enabled" (a boolean, required by
// cancel_on_disconnect) and "market" (a string, optional with
// cancel_on_disconnect; both refused with the other ops); any other field
// is refused, and so are strings that are not UTF-8. The strings are
// copied out of p, which may be reused once it returns. Errors wrap
// errInvalid.
func decodeStreamOp(p *fastjson.Parser, msg []byte, op *streamOp) error {
	*op = streamOp{}
	var hasOp, hasToken, hasEnabled, hasMarket bool
	err := object(p, msg, func(k []byte, v *fastjson.Value) error {
		switch string(k) {
		case "op":
			b, err := utf8Str(v, "op")
			op.Op, hasOp = string(b), true
			return err
		case "token":
			b, err := utf8Str(v, "token")
			op.Token, hasToken = string(b), true
			return err
		case "channels":
			a, err := v.Array()
			if err != nil {
				return fmt.Errorf("%w: channels must be a list of strings", errInvalid)
			}
			op.Channels = make([]string, 0, len(a))
			for _, c := range a {
				b, err := utf8Str(c, "channels")
				if err != nil {
					return fmt.Errorf("%w: channels must be a list of UTF-8 strings", errInvalid)
				}
				op.Channels = append(op.Channels, string(b))
			}
			return nil
		case "enabled":
			var err error
			op.Enabled, err = boolean(v, "enabled")
			hasEnabled = true
			return err
		case "market":
			b, err := utf8Str(v, "market")
			op.Market, hasMarket = string(b), true
			return err
		default:
			return unknown(k)
		}
	})
	switch {
	case err != nil:
		return err
	case !hasOp:
		return missing("op")
	case (hasEnabled || hasMarket) && op.Op != "cancel_on_disconnect":
		return fmt.Errorf("%w: enabled and market are fields of cancel_on_disconnect only", errInvalid)
	}
	switch op.Op {
	case "auth":
		if !hasToken {
			return missing("token")
		}
	case "subscribe", "unsubscribe":
		if len(op.Channels) == 0 {
			return fmt.Errorf("%w: channels is empty", errInvalid)
		}
	case "cancel_on_disconnect":
		if !hasEnabled {
			return missing("enabled")
		}
		if hasMarket && op.Market == "" {
			return fmt.Errorf("%w: market is empty (leave it out for every market)", errInvalid)
		}
	default:
		return fmt.Errorf("%w: unknown op %q (auth, subscribe, unsubscribe, cancel_on_disconnect)", errInvalid, op.Op)
	}
	return nil
}

// errKilled is what reader returns when the connection was killed while
// the client may still be sending.
var errKilled = errors.New("stream killed")

// killed reports whether c was killed.
func (c *streamConn) killed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// reader reads client messages until the connection fails (it returns
// the read error) or is killed (errKilled). Once c is killed it no longer
// renews the read deadline: the writer's streamCloseWait then bounds it.
// Each message is charged to the rate limiter first (allowStreamOp).
func (c *streamConn) reader() error {
	ws := c.ws
	ws.SetReadLimit(streamReadLimit)
	_ = ws.SetReadDeadline(time.Now().Add(streamPongWait))
	ws.SetPongHandler(func(string) error {
		if c.killed() {
			return nil
		}
		return ws.SetReadDeadline(time.Now().Add(streamPongWait))
	})
	var account uint64
	var tok *liveToken // the last token authenticated with
	var p fastjson.Parser
	bad, limited := 0, 0 // limited: refused in a row
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		if c.killed() {
			return errKilled
		}
		_ = ws.SetReadDeadline(time.Now().Add(streamPongWait))
		if !c.h.s.allowStreamOp(tok, c.ip) {
			if limited++; limited >= streamMaxLimited {
				c.kill(websocket.ClosePolicyViolation, closeRateLimited)
				return errKilled
			}
			c.enqueue(streamRateLimited)
			continue
		}
		limited = 0
		var op streamOp
		if err := decodeStreamOp(&p, msg, &op); err != nil {
			if bad++; bad >= streamMaxBad {
				c.kill(websocket.ClosePolicyViolation, "too many bad messages")
				return errKilled
			}
			c.replyError("invalid_argument", errMessage(err))
			continue
		}
		switch op.Op {
		case "auth":
			t, err := c.h.s.streamToken(op.Token)
			if err != nil {
				bad++
				c.replyError(classify(err).code, errMessage(err))
				break
			}
			if account != 0 && account != t.account {
				bad++
				c.replyError("invalid_argument", "already authenticated as another account")
				break
			}
			account, tok = t.account, t
			c.h.doWait(func() { c.h.authenticate(c, t) })
		case "cancel_on_disconnect":
			if account == 0 {
				bad++
				c.replyError("unauthenticated", `cancel_on_disconnect needs {"op":"auth"} first`)
				break
			}
			var mid uint32
			if op.Market != "" {
				m, ok := c.h.s.marketByName([]byte(op.Market))
				if !ok {
					bad++
					c.replyError("not_found", fmt.Sprintf("market %q", op.Market))
					break
				}
				mid = m.id
			}
			c.cod = codScope{}
			if op.Enabled {
				c.cod = codScope{account, mid}
			}
			b := appendBool([]byte(`{"type":"cancel_on_disconnect"`), "enabled", op.Enabled)
			b = appendKey(b, "market", false)
			if op.Market != "" {
				b = appendString(b, op.Market)
			} else {
				b = append(b, "null"...)
			}
			b = append(b, '}')
			c.h.doWait(func() { // after the answers queued before it
				if c.h.live(c) {
					c.enqueue(b)
				}
			})
		case "subscribe", "unsubscribe":
			var good, refused []string
			for _, ch := range op.Channels {
				if slices.Contains(good, ch) || slices.Contains(refused, ch) {
					// Once a message: a message is charged once, a book
					// channel named again would send a snapshot each
					// time, and a refused one an error each time.
					continue
				}
				if err := c.h.s.checkChannel(ch, account); err != nil {
					refused = append(refused, ch)
					bad++
					c.replyChannelError(ch, err)
					continue
				}
				good = append(good, ch)
			}
			if len(good) == 0 {
				break
			}
			sub := op.Op == "subscribe"
			c.h.doWait(func() {
				if !c.h.live(c) {
					return
				}
				if sub {
					// Private channels first: once the client reads the
					// answer, the engine's output keeps the orders of
					// the next result for the hub (h.private), so an
					// order placed after the answer has its orders
					// message. They queue nothing themselves, and the
					// hub, which alone queues channel messages, is here.
					for _, ch := range good {
						if privateChannel(ch) {
							c.h.subscribe(c, ch)
						}
					}
				}
				b := append([]byte(`{"type":"`), op.Op...)
				b = append(b, `d","channels":[`...)
				for i, ch := range good {
					if i > 0 {
						b = append(b, ',')
					}
					b = appendString(b, ch)
				}
				c.enqueue(append(b, "]}"...))
				if h := streamAnsweredHook.Load(); h != nil {
					(*h)()
				}
				for _, ch := range good {
					if sub {
						if !privateChannel(ch) {
							c.h.subscribe(c, ch)
						}
					} else {
						c.h.unsubscribe(c, ch)
					}
				}
			})
		}
		if bad >= streamMaxBad {
			c.kill(websocket.ClosePolicyViolation, "too many bad messages")
			return errKilled
		}
	}
}

// streamAnsweredHook, if set, runs on the hub goroutine right after a
// subscribe's or unsubscribe's answer is queued: tests hold the hub
// there. Atomic: the hub reads it while a test sets it.
var streamAnsweredHook atomic.Pointer[func()]

func (c *streamConn) replyChannelError(ch string, err error) {
	b := append([]byte(`{"type":"error","channel":`), appendString(nil, ch)...)
	b = append(b, `,"error":{"code":`...)
	b = appendString(b, classify(err).code)
	b = append(appendString(append(b, `,"message":`...), errMessage(err)), "}}"...)
	c.enqueue(b)
}

// errMessage is err's message as a REST error shows it: without our
// prefixes (trimWrap).
func errMessage(err error) string { return trimWrap(err.Error()) }

// checkChannel validates a channel name for a client authenticated as
// account (0: not authenticated).
func (s *Server) checkChannel(ch string, account uint64) error {
	switch {
	case privateChannel(ch):
		if account == 0 {
			return fmt.Errorf("%w: channel %q needs {\"op\":\"auth\"} first", errUnauth, ch)
		}
		return nil
	}
	for _, p := range []string{"book:", "trades:"} {
		if sym, ok := strings.CutPrefix(ch, p); ok {
			if _, ok := s.marketByName([]byte(sym)); !ok {
				return fmt.Errorf("%w: market %q", errNotFound, sym)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: unknown channel %q (book:SYMBOL, trades:SYMBOL, orders, fills, copy)", errInvalid, ch)
}

// subscribe adds c to channel ch (already checked). Subscribing again to
// a book channel sends a fresh snapshot, n restarting at 1 (a client
// resyncs so); to another channel it changes nothing. Hub goroutine only.
func (h *hub) subscribe(c *streamConn, ch string) {
	if c.subs[ch] && !strings.HasPrefix(ch, "book:") {
		return
	}
	c.subs[ch] = true
	switch {
	case privateChannel(ch):
		subs := h.accts[c.account]
		if subs == nil {
			subs = map[*streamConn]struct{}{}
			h.accts[c.account] = subs
		}
		if _, ok := subs[c]; !ok {
			subs[c] = struct{}{}
			h.private.Add(1)
		}
	case strings.HasPrefix(ch, "trades:"):
		m, ok := h.s.marketByName([]byte(ch[len("trades:"):]))
		if !ok {
			return
		}
		subs := h.trades[m.id]
		if subs == nil {
			subs = map[*streamConn]struct{}{}
			h.trades[m.id] = subs
		}
		subs[c] = struct{}{}
	case strings.HasPrefix(ch, "book:"):
		m, ok := h.s.marketByName([]byte(ch[len("book:"):]))
		if !ok {
			return
		}
		f := h.books[m.id]
		if f == nil {
			f = &bookFeed{subs: map[*streamConn]struct{}{}}
			f.prev, _ = h.s.eng.Market(m.id)
			h.books[m.id] = f
		} else {
			delete(f.subs, c)      // subscribed already: no delta before the snapshot
			h.advanceBook(m.id, f) // the others catch up to the view c starts from
		}
		f.subs[c] = struct{}{}
		delete(c.n, ch) // n restarts at 1 with the snapshot
		var seq uint64
		var bids, asks []book.Level
		if v := f.prev; v != nil {
			seq, bids, asks = v.Seq, v.Bids, v.Asks
		}
		b := c.header(ch, "snapshot", seq, 64*(len(bids)+len(asks)))
		b = appendInt(b, "depth", int64(h.s.opts.BookDepth)) // levels per side the view holds
		b = append(appendKey(b, "bids", false), '[')
		b = appendLevels(b, bids, len(bids), m.u)
		b = append(appendKey(b, "asks", false), '[')
		b = appendLevels(b, asks, len(asks), m.u)
		c.enqueue(append(b, '}'))
	}
}

// unsubscribe removes c from channel ch. Hub goroutine only.
func (h *hub) unsubscribe(c *streamConn, ch string) {
	if !c.subs[ch] {
		return
	}
	delete(c.subs, ch)
	delete(c.n, ch)
	switch {
	case privateChannel(ch):
		if c.subs["orders"] || c.subs["fills"] || c.subs["copy"] {
			return
		}
		if subs := h.accts[c.account]; subs != nil {
			if _, ok := subs[c]; ok {
				delete(subs, c)
				h.private.Add(-1)
			}
			if len(subs) == 0 {
				delete(h.accts, c.account)
			}
		}
	case strings.HasPrefix(ch, "trades:"):
		if m, ok := h.s.marketByName([]byte(ch[len("trades:"):])); ok {
			delete(h.trades[m.id], c)
			if len(h.trades[m.id]) == 0 {
				delete(h.trades, m.id)
			}
		}
	case strings.HasPrefix(ch, "book:"):
		if m, ok := h.s.marketByName([]byte(ch[len("book:"):])); ok {
			if f := h.books[m.id]; f != nil {
				delete(f.subs, c)
				if len(f.subs) == 0 {
					delete(h.books, m.id)
				}
			}
		}
	}
}
