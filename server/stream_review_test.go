package server

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// reviewClient is a stream client that applies what it reads as it comes
// (a goroutine reads it): each book channel's snapshot and deltas into a
// local book, and the orders and fills of its account. It checks, per
// channel, that n counts from 1 (again at each snapshot) without a gap
// and that seq never goes back, and that no book message comes while the
// channel is not subscribed. Safe for concurrent use.
type reviewClient struct {
	ws      *websocket.Conn
	account uint64 // 0: not authenticated

	mu     sync.Mutex
	errs   []string
	books  map[string]*reviewBook // book channel → local book; nil: not subscribed
	n      map[string]float64
	seq    map[string]uint64
	orders map[uint64]string    // order id → last status sent
	fills  map[uint64]int       // order id → fills sent
	last   map[uint64]string    // order id → the last order object sent
	fillBy map[[2]uint64]string // (trade id, order id) → the fill object sent
	acks   int                  // subscribed / unsubscribed / authenticated answers
	closed error
}

// reviewBook is a book as a client rebuilds it: price → quantity.
type reviewBook struct {
	seq        uint64
	bids, asks map[string]string
}

func reviewDial(t *testing.T, ts *testServer) *reviewClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.base, "http")+"/v1/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &reviewClient{ws: ws, books: map[string]*reviewBook{}, n: map[string]float64{},
		seq: map[string]uint64{}, orders: map[uint64]string{}, fills: map[uint64]int{},
		last: map[uint64]string{}, fillBy: map[[2]uint64]string{}}
	go c.read()
	return c
}

func (c *reviewClient) failf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *reviewClient) read() {
	for {
		_, raw, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.closed = err
			c.mu.Unlock()
			return
		}
		var m struct {
			wsMsg
			Channels []string `json:"channels"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			c.mu.Lock()
			c.failf("bad message %s: %v", raw, err)
			c.mu.Unlock()
			continue
		}
		c.mu.Lock()
		c.apply(&m.wsMsg, m.Channels, raw)
		c.mu.Unlock()
	}
}

// apply applies one message (c.mu held).
func (c *reviewClient) apply(m *wsMsg, channels []string, raw []byte) {
	switch m.Type {
	case "error":
		c.failf("error message %s", raw)
		return
	case "authenticated":
		c.acks++
		return
	case "subscribed", "unsubscribed":
		c.acks++
		if m.Type == "unsubscribed" {
			for _, ch := range channels {
				delete(c.books, ch) // nothing more until a snapshot
				delete(c.n, ch)
			}
		}
		return
	}
	if m.Channel == "" {
		c.failf("message without a channel: %s", raw)
		return
	}
	want := c.n[m.Channel] + 1
	if m.Type == "snapshot" {
		want = 1
		delete(c.seq, m.Channel)
	}
	if m.N != want {
		c.failf("%s: n %v, want %v: %s", m.Channel, m.N, want, raw)
	}
	c.n[m.Channel] = m.N
	if m.Seq < c.seq[m.Channel] {
		c.failf("%s: seq %d after %d: %s", m.Channel, m.Seq, c.seq[m.Channel], raw)
	}
	c.seq[m.Channel] = m.Seq
	switch {
	case strings.HasPrefix(m.Channel, "book:"):
		b := c.books[m.Channel]
		switch m.Type {
		case "snapshot":
			b = &reviewBook{bids: map[string]string{}, asks: map[string]string{}}
			c.books[m.Channel] = b
		case "delta":
			if b == nil {
				c.failf("%s: a delta while not subscribed: %s", m.Channel, raw)
				return
			}
		default:
			c.failf("%s: type %q", m.Channel, m.Type)
			return
		}
		b.seq = m.Seq
		for _, side := range []struct {
			lv [][2]string
			to map[string]string
		}{{m.Bids, b.bids}, {m.Asks, b.asks}} {
			for _, l := range side.lv {
				if l[1] == "0" {
					if _, ok := side.to[l[0]]; !ok && m.Type == "delta" {
						c.failf("%s: delta removes %s, which the book does not hold: %s", m.Channel, l[0], raw)
					}
					delete(side.to, l[0])
				} else {
					side.to[l[0]] = l[1]
				}
			}
		}
	case m.Channel == "orders":
		var o struct {
			ID      uint64 `json:"id"`
			Account uint64 `json:"account_id"`
			Status  string `json:"status"`
		}
		if err := json.Unmarshal(m.Data, &o); err != nil || o.ID == 0 {
			c.failf("orders message %s: %v", raw, err)
			return
		}
		if o.Account != c.account {
			c.failf("account %d got an order of account %d: %s", c.account, o.Account, raw)
		}
		c.orders[o.ID] = o.Status
		c.last[o.ID] = string(m.Data)
	case m.Channel == "fills":
		var f struct {
			TradeID uint64 `json:"trade_id"`
			OrderID uint64 `json:"order_id"`
		}
		if err := json.Unmarshal(m.Data, &f); err != nil || f.OrderID == 0 {
			c.failf("fills message %s: %v", raw, err)
			return
		}
		c.fills[f.OrderID]++
		k := [2]uint64{f.TradeID, f.OrderID}
		if _, ok := c.fillBy[k]; ok {
			c.failf("fill sent twice: %s", raw)
		}
		c.fillBy[k] = string(m.Data)
	}
}

// check fails t with what the reader found wrong.
func (c *reviewClient) check(t *testing.T, name string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.errs {
		t.Errorf("%s: %s", name, e)
	}
	if c.closed != nil {
		t.Errorf("%s: the stream ended: %v", name, c.closed)
	}
	c.errs = nil
}

// levels returns a side of a book as GET book shows it: [price, qty] pairs
// best first.
func reviewLevels(side map[string]string, bids bool) [][2]string {
	out := make([][2]string, 0, len(side))
	for p, q := range side {
		out = append(out, [2]string{p, q})
	}
	slices.SortFunc(out, func(a, b [2]string) int {
		x, _ := strconv.ParseFloat(a[0], 64)
		y, _ := strconv.ParseFloat(b[0], 64)
		if bids {
			x, y = -x, -y
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	return out
}

// restBook is GET /v1/markets/{sym}/book?depth=depth.
type restBook struct {
	Sequence   uint64      `json:"sequence"`
	Bids, Asks [][2]string `json:"-"`
}

func getBook(t *testing.T, ts *testServer, sym string, depth int) restBook {
	t.Helper()
	out := ts.must(200, "GET", fmt.Sprintf("/v1/markets/%s/book?depth=%d", sym, depth), "", "")
	b := restBook{Sequence: uint64(out["sequence"].(float64))}
	for _, side := range []struct {
		key string
		to  *[][2]string
	}{{"bids", &b.Bids}, {"asks", &b.Asks}} {
		*side.to = [][2]string{}
		for _, l := range out[side.key].([]any) {
			l := l.([]any)
			*side.to = append(*side.to, [2]string{l[0].(string), l[1].(string)})
		}
	}
	return b
}

// reviewSeed returns the seed of a randomized test: IST_SEED if set, else
// the time; the test logs it.
func reviewSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("IST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("IST_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (IST_SEED=%d reproduces it)", seed, seed)
	return seed
}

// reviewTrader is an account of the randomized test.
type reviewTrader struct {
	id     uint64
	tok    string
	c      *reviewClient // its orders and fills
	placed []uint64      // ids of its orders
	open   []uint64      // ids of its orders that may still rest
}

// Random orders, amends, cancels, cancel-alls, halts and resumes over
// HTTP, in two markets (one created midway), with several stream clients
// subscribing, resubscribing and unsubscribing their books at random
// moments: each client's book rebuilt from its snapshot and deltas is,
// once the engine is idle, the book GET /v1/markets/{symbol}/book shows
// at the server's depth (a small one, so that levels keep entering and
// leaving the view); n never has a gap on any channel; and each trader's
// private stream has every order's last status and every fill of its own
// orders only.
func TestStreamReviewRandomBooks(t *testing.T) {
	const depth = 4
	rng := rand.New(rand.NewPCG(reviewSeed(t), 7))
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, BookDepth: depth})
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)
	var traders []*reviewTrader
	for i := range 3 {
		id, tok := ts.signup(fmt.Sprintf("trader%d", i))
		for _, d := range [][2]string{{"BTC", "100"}, {"USDT", "100000000"}} {
			ts.must(201, "POST", "/v1/admin/deposits", adminTok,
				fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"d-%d-%s"}`, id, d[0], d[1], id, d[0]))
		}
		c := reviewDial(t, ts)
		c.account = id
		c.ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"auth","token":"`+tok+`"}`))
		c.ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","channels":["orders","fills"]}`))
		traders = append(traders, &reviewTrader{id: id, tok: tok, c: c})
	}
	markets := []string{"BTC-USDT"}
	mid := map[string]int{"BTC-USDT": 65000, "ETH-USDT": 3000}

	// Book clients, and whether each one is subscribed to each market's book
	// (as far as the test asked).
	var watchers []*reviewClient
	subbed := map[*reviewClient]map[string]bool{}
	for range 4 {
		c := reviewDial(t, ts)
		watchers = append(watchers, c)
		subbed[c] = map[string]bool{}
	}
	send := func(c *reviewClient, op, sym string) {
		if err := c.ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"`+op+`","channels":["book:`+sym+`","trades:`+sym+`"]}`)); err != nil {
			t.Fatal(err)
		}
		subbed[c][sym] = op == "subscribe"
	}
	send(watchers[0], "subscribe", "BTC-USDT")

	// A noise trader places and cancels BTC-USDT orders meanwhile, so that
	// subscriptions race with views being published.
	noiseID, noiseTok := ts.signup("noise")
	for _, d := range [][2]string{{"BTC", "100"}, {"USDT", "100000000"}} {
		ts.must(201, "POST", "/v1/admin/deposits", adminTok,
			fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"d-noise-%s"}`, noiseID, d[0], d[1], d[0]))
	}
	stopNoise, noiseDone := make(chan struct{}), make(chan struct{})
	nrng := rand.New(rand.NewPCG(rng.Uint64(), 9))
	go func() {
		defer close(noiseDone)
		for i := 0; ; i++ {
			select {
			case <-stopNoise:
				return
			default:
			}
			body := fmt.Sprintf(`{"market":"BTC-USDT","side":%q,"price":"%d","quantity":"0.000%d","client_order_id":"n-%d"}`,
				[]string{"buy", "sell"}[nrng.IntN(2)], 64990+nrng.IntN(21), 1+nrng.IntN(9), i)
			code, out, err := ts.send("POST", "/v1/orders", noiseTok, body)
			if err != nil {
				t.Errorf("noise: %v", err)
				return
			}
			if code == 201 && nrng.IntN(2) == 0 {
				oid := uint64(out["order"].(map[string]any)["id"].(float64))
				if _, _, err := ts.send("DELETE", fmt.Sprintf("/v1/orders/%d", oid), noiseTok, ""); err != nil {
					t.Errorf("noise: %v", err)
					return
				}
			}
		}
	}()
	defer func() {
		select {
		case <-stopNoise:
		default:
			close(stopNoise)
		}
		<-noiseDone
	}()

	halted := map[string]bool{}
	steps := 600
	if testing.Short() {
		steps = 150
	}
	for step := range steps {
		if step == steps/3 {
			// A market created midway, with a subscriber before its first order.
			ts.must(201, "POST", "/v1/admin/markets", adminTok,
				`{"symbol":"ETH-USDT","base":"ETH","quote":"USDT","tick_size":"0.01","lot_size":"0.001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)
			markets = append(markets, "ETH-USDT")
			for _, tr := range traders {
				ts.must(201, "POST", "/v1/admin/deposits", adminTok,
					fmt.Sprintf(`{"account_id":%d,"asset":"ETH","amount":"1000","ref":"d-%d-ETH"}`, tr.id, tr.id))
			}
			send(watchers[1], "subscribe", "ETH-USDT")
		}
		sym := markets[rng.IntN(len(markets))]
		tr := traders[rng.IntN(len(traders))]
		side := []string{"buy", "sell"}[rng.IntN(2)]
		price := mid[sym] + rng.IntN(21) - 10
		qty := fmt.Sprintf("%.4f", float64(1+rng.IntN(20))*0.0001)
		if sym == "ETH-USDT" {
			qty = fmt.Sprintf("%.3f", float64(1+rng.IntN(20))*0.001)
		}
		switch r := rng.IntN(100); {
		case r < 4: // a watcher subscribes, resubscribes or unsubscribes
			c := watchers[rng.IntN(len(watchers))]
			op := "subscribe"
			if subbed[c][sym] && rng.IntN(2) == 0 {
				op = "unsubscribe"
			}
			send(c, op, sym)
		case r < 6:
			op := "halt"
			if halted[sym] {
				op = "resume"
			}
			halted[sym] = !halted[sym]
			ts.must(200, "POST", "/v1/admin/markets/"+sym+"/"+op, adminTok, "")
		case r < 55:
			extra := ""
			switch rng.IntN(12) {
			case 0:
				extra = `,"time_in_force":"ioc"`
			case 1:
				extra = `,"time_in_force":"fok"`
			case 2:
				extra = `,"post_only":true`
			case 3:
				extra = `,"stp":"` + []string{"cancel_maker", "cancel_both", "none"}[rng.IntN(3)] + `"`
			}
			body := fmt.Sprintf(`{"market":%q,"side":%q,"price":"%d","quantity":"%s"%s}`, sym, side, price, qty, extra)
			switch rng.IntN(12) {
			case 0:
				body = fmt.Sprintf(`{"market":%q,"side":%q,"type":"market","quantity":"%s"}`, sym, side, qty)
			case 1:
				body = fmt.Sprintf(`{"market":%q,"side":%q,"type":"stop_limit","stop_price":"%d","price":"%d","quantity":"%s"}`,
					sym, side, price, price, qty)
			}
			code, out := ts.req("POST", "/v1/orders", tr.tok, body)
			if code == 201 {
				o := out["order"].(map[string]any)
				oid := uint64(o["id"].(float64))
				tr.placed = append(tr.placed, oid)
				if s := o["status"]; s == "open" || s == "partially_filled" {
					tr.open = append(tr.open, oid)
				}
			} else if code != 400 && code != 409 && code != 422 && code != 403 {
				t.Fatalf("POST /v1/orders %s: %d %v", body, code, out)
			}
		case r < 75 && len(tr.open) > 0:
			i := rng.IntN(len(tr.open))
			oid := tr.open[i]
			tr.open = slices.Delete(tr.open, i, i+1)
			if code, out := ts.req("DELETE", fmt.Sprintf("/v1/orders/%d", oid), tr.tok, ""); code >= 500 {
				t.Fatalf("DELETE order %d: %d %v", oid, code, out)
			}
		case r < 90 && len(tr.open) > 0:
			oid := tr.open[rng.IntN(len(tr.open))]
			body := fmt.Sprintf(`{"quantity":"%s"}`, qty)
			if rng.IntN(2) == 0 {
				body = fmt.Sprintf(`{"price":"%d"}`, price)
			}
			if code, out := ts.req("PATCH", fmt.Sprintf("/v1/orders/%d", oid), tr.tok, body); code >= 500 {
				t.Fatalf("PATCH order %d %s: %d %v", oid, body, code, out)
			}
		case r < 92:
			if code, out := ts.req("DELETE", "/v1/orders?market="+sym, tr.tok, ""); code >= 500 {
				t.Fatalf("DELETE orders: %d %v", code, out)
			}
			tr.open = tr.open[:0] // some may be of the other market: cancels then fail, harmlessly
		}
	}
	close(stopNoise)
	<-noiseDone
	// Every watcher ends subscribed to every book, some having just
	// subscribed.
	for _, c := range watchers {
		for _, sym := range markets {
			if !subbed[c][sym] || rng.IntN(4) == 0 {
				send(c, "subscribe", sym)
			}
		}
	}

	// The engine is idle now: each book's view is final once the views
	// show every command.
	if err := ts.s.waitViews(); err != nil {
		t.Fatalf("the views do not catch up: %v", err)
	}
	final := map[string]restBook{}
	for _, sym := range markets {
		final[sym] = getBook(t, ts, sym, depth)
	}
	for _, sym := range markets {
		ch := "book:" + sym
		for i, c := range watchers {
			deadline := time.Now().Add(10 * time.Second)
			for {
				c.mu.Lock()
				b := c.books[ch]
				var bids, asks [][2]string
				var seq uint64
				if b != nil {
					seq, bids, asks = b.seq, reviewLevels(b.bids, true), reviewLevels(b.asks, false)
				}
				c.mu.Unlock()
				want := final[sym]
				// A view that changed nothing in the top levels (a halt, a
				// change deeper in the book) sends no delta: the book, not
				// its seq, catches up.
				same := slices.Equal(bids, want.Bids) && slices.Equal(asks, want.Asks)
				if seq > want.Sequence {
					t.Fatalf("watcher %d %s: book at seq %d, past GET book's %d", i, sym, seq, want.Sequence)
				}
				if same && b != nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("watcher %d %s at seq %d: rebuilt\n bids %v\n asks %v\nGET book at seq %d\n bids %v\n asks %v",
						i, sym, seq, bids, asks, want.Sequence, want.Bids, want.Asks)
				}
				time.Sleep(5 * time.Millisecond)
			}
			c.check(t, fmt.Sprintf("watcher %d", i))
		}
	}

	// Private streams: each order's last status as GET shows it, each of
	// its fills once, and nothing of another account's.
	for _, tr := range traders {
		type fillsOut struct {
			Fills []struct {
				OrderID uint64 `json:"order_id"`
			} `json:"fills"`
		}
		raw := ts.must(200, "GET", "/v1/fills?limit=1000", tr.tok, "")
		var fo fillsOut
		b, _ := json.Marshal(raw)
		_ = json.Unmarshal(b, &fo)
		wantFills := map[uint64]int{}
		for _, f := range fo.Fills {
			wantFills[f.OrderID]++
		}
		wantStatus := map[uint64]string{}
		for _, oid := range tr.placed {
			o := ts.must(200, "GET", fmt.Sprintf("/v1/orders/%d", oid), tr.tok, "")
			wantStatus[oid] = o["status"].(string)
		}
		deadline := time.Now().Add(burstWait)
		for {
			tr.c.mu.Lock()
			same := len(tr.c.orders) == len(wantStatus) && len(tr.c.fills) == len(wantFills)
			for oid, s := range wantStatus {
				same = same && tr.c.orders[oid] == s
			}
			for oid, n := range wantFills {
				same = same && tr.c.fills[oid] == n
			}
			got, gotFills := fmt.Sprint(tr.c.orders), fmt.Sprint(tr.c.fills)
			tr.c.mu.Unlock()
			if same {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("account %d: the stream's orders %s\nGET orders %v\nthe stream's fills %s\nGET fills %v",
					tr.id, got, wantStatus, gotFills, wantFills)
			}
			time.Sleep(5 * time.Millisecond)
		}
		// The objects themselves are those of the REST API.
		tr.c.mu.Lock()
		for _, oid := range tr.placed {
			_, raw := ts.req("GET", fmt.Sprintf("/v1/orders/%d", oid), tr.tok, "")
			if got := reviewJSON(t, tr.c.last[oid]); got != reviewJSON(t, raw) {
				t.Errorf("account %d: order %d: the stream's last %s\nGET %s", tr.id, oid, got, reviewJSON(t, raw))
			}
		}
		for _, f := range raw["fills"].([]any) {
			f := f.(map[string]any)
			k := [2]uint64{uint64(f["trade_id"].(float64)), uint64(f["order_id"].(float64))}
			if got := reviewJSON(t, tr.c.fillBy[k]); got != reviewJSON(t, f) {
				t.Errorf("account %d: fill %v: the stream's %s\nGET %s", tr.id, k, got, reviewJSON(t, f))
			}
		}
		tr.c.mu.Unlock()
		tr.c.check(t, fmt.Sprintf("account %d", tr.id))
	}
}

// hubState is what the hub holds of its connections, read on its goroutine.
type hubState struct {
	conns, books, trades, accts, tokens int
	clients, private, queued            int64
}

func readHub(t *testing.T, h *hub) hubState {
	t.Helper()
	var st hubState
	if !h.doWait(func() {
		st = hubState{conns: len(h.conns), books: len(h.books), trades: len(h.trades), accts: len(h.accts),
			tokens: len(h.tokens)}
	}) {
		t.Fatal("the hub stopped")
	}
	st.clients, st.private, st.queued = h.clients.Load(), h.private.Load(), h.budget.queued.Load()
	return st
}

// reviewClosed reads ws until it ends, and returns the close error.
func reviewClosed(t *testing.T, ws *websocket.Conn) error {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(burstWait))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return err
		}
	}
}

// However a stream ends (the client's close frame, the client going
// away, too many bad messages, an oversized message, its token revoked,
// a slow consumer, the rate limit), the hub forgets it entirely: no
// subscription, account, token or byte of queue is left, the stream's
// slot is free and its goroutines are gone.
func TestStreamReviewLifecycleNoLeak(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, RateLimit: 1000, RateBurst: 1000,
		AnonRateLimit: 1, AnonRateBurst: 20})
	alice, bob := ts.setup()
	h := ts.s.hub
	base := readHub(t, h)
	if base != (hubState{}) {
		t.Fatalf("hub before any stream: %+v", base)
	}
	waitGoroutines := func(what string) {
		t.Helper()
		deadline := time.Now().Add(burstWait)
		for n := streamGoroutines(); n > 0; n = streamGoroutines() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d goroutines of streams left", what, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.01"}`)

	// open dials and subscribes to everything as alice (with a second
	// token too, which it returns with its id).
	open := func() (*websocket.Conn, uint64) {
		t.Helper()
		tok := ts.must(201, "POST", "/v1/tokens", alice, "")
		ws := budgetQuiet(t, ts, `{"op":"auth","token":"`+alice+`"}`,
			`{"op":"auth","token":"`+tok["token"].(string)+`"}`,
			`{"op":"subscribe","channels":["book:BTC-USDT","trades:BTC-USDT","orders","fills","copy"]}`)
		for n := 0; n < 4; { // authenticated ×2, subscribed, snapshot
			_ = ws.SetReadDeadline(time.Now().Add(burstWait))
			if _, _, err := ws.ReadMessage(); err != nil {
				t.Fatal(err)
			}
			n++
		}
		return ws, uint64(tok["id"].(float64))
	}
	for _, tc := range []struct {
		name string
		end  func(ws *websocket.Conn, tokID uint64) error
		want string // the close error the client reads
	}{
		{"client close frame", func(ws *websocket.Conn, _ uint64) error {
			_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			return reviewClosed(t, ws)
		}, "websocket: close 1000 (normal)"},
		{"client gone", func(ws *websocket.Conn, _ uint64) error { return ws.UnderlyingConn().Close() }, ""},
		{"bad messages", func(ws *websocket.Conn, _ uint64) error {
			for range streamMaxBad {
				_ = ws.WriteMessage(websocket.TextMessage, []byte(`{`))
			}
			return reviewClosed(t, ws)
		}, "websocket: close 1008 (policy violation): too many bad messages"},
		{"oversized", func(ws *websocket.Conn, _ uint64) error {
			_ = ws.WriteMessage(websocket.TextMessage, []byte(strings.Repeat(" ", 2*streamReadLimit)))
			return reviewClosed(t, ws)
		}, "websocket: close 1009 (message too big)"},
		{"revoked", func(ws *websocket.Conn, id uint64) error {
			ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", id), alice, "")
			return reviewClosed(t, ws)
		}, "websocket: close 1008 (policy violation): token revoked"},
		{"slow consumer", func(ws *websocket.Conn, _ uint64) error {
			return reviewClosed(t, ws)
		}, "websocket: close 1008 (policy violation): slow consumer: send queue full"},
		{"rate limited", func(ws *websocket.Conn, _ uint64) error { // last: it empties the IP's bucket
			// Unauthenticated messages, charged to the IP.
			for range 20 + streamMaxLimited {
				if ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"unsubscribe","channels":["orders"]}`)) != nil {
					break
				}
			}
			return reviewClosed(t, ws)
		}, "websocket: close 1008 (policy violation): rate limited"},
	} {
		var ws *websocket.Conn
		var tokID uint64
		switch tc.name {
		case "rate limited":
			ws = budgetQuiet(t, ts)
		case "slow consumer":
			h.queueBytes.Store(2048)
			gate := make(chan struct{}) // never opened
			h.writeGate.Store(&gate)
			ws = budgetQuiet(t, ts, `{"op":"subscribe","channels":["trades:BTC-USDT","book:BTC-USDT"]}`)
			budgetWait(t, "the slow stream subscribed", func() bool { tr, _ := budgetSubs(t, ts); return tr == 1 })
			h.writeGate.Store(nil) // for the streams opened later
			h.queueBytes.Store(streamQueueBytes)
			for range 20 {
				ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.0001"}`)
			}
		default:
			ws, tokID = open()
		}
		t0 := time.Now()
		if err := tc.end(ws, tokID); tc.want != "" && (err == nil || err.Error() != tc.want) {
			t.Errorf("%s: the client read %v, want %s", tc.name, err, tc.want)
		}
		t.Logf("%s: closed after %v", tc.name, time.Since(t0))
		budgetWait(t, tc.name+": the hub forgets the stream", func() bool { return readHub(t, h) == base })
		waitStreams(t, h, 0, 0)
		t.Logf("%s: hub empty after %v", tc.name, time.Since(t0))
		waitGoroutines(tc.name)
		t.Logf("%s: all gone after %v", tc.name, time.Since(t0))
	}
}

// streamGoroutines counts the goroutines running a stream's handler,
// reader or writer.
func streamGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	k := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "server.(*streamConn)") || strings.Contains(g, "server.(*Server).stream") {
			k++
		}
	}
	return k
}

// Shutdown closes every stream (1001 "server shutting down") without
// running cancel_on_disconnect, and its streams' goroutines end.
func TestStreamReviewShutdown(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.01"}`)
	var ws []*websocket.Conn
	for range 3 {
		c := budgetQuiet(t, ts, `{"op":"auth","token":"`+alice+`"}`, `{"op":"cancel_on_disconnect","enabled":true}`,
			`{"op":"subscribe","channels":["book:BTC-USDT","trades:BTC-USDT","orders","fills"]}`)
		for range 4 { // authenticated, cancel_on_disconnect, subscribed, snapshot
			_ = c.SetReadDeadline(time.Now().Add(burstWait))
			if _, _, err := c.ReadMessage(); err != nil {
				t.Fatal(err)
			}
		}
		ws = append(ws, c)
	}
	ts.stop()
	for i, c := range ws {
		if err := reviewClosed(t, c); err == nil || err.Error() != "websocket: close 1001 (going away): server shutting down" {
			t.Errorf("stream %d: %v, want close 1001 server shutting down", i, err)
		}
	}
	deadline := time.Now().Add(burstWait)
	for streamGoroutines() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of streams left after Shutdown", streamGoroutines())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ts = start(t, ts.dir, nil)
	if got := fmt.Sprint(ts.openOrders(alice)); got != "map[BTC-USDT:1]" {
		t.Fatalf("after istd's shutdown, alice's open orders %s", got)
	}
}

// reviewJSON returns v (a JSON string or a decoded value) as canonical
// JSON, its object keys sorted.
func reviewJSON(t *testing.T, v any) string {
	t.Helper()
	if s, ok := v.(string); ok {
		if s == "" {
			return "(none)"
		}
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A client's messages are answered in the order it sent them: a refused
// subscribe, a bad message or a rate-limited one is not answered before
// the subscribe sent ahead of it (the reader queued its own errors at
// once while the hub had yet to queue the subscribe's answer: the error
// came first nearly every time).
func TestStreamReviewAnswersInOrder(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	ts.setup()
	var cs []*burstClient
	for range 10 {
		cs = append(cs, burstDial(t, ts))
	}
	for round := range 4 {
		for _, c := range cs {
			c.send(`{"op":"subscribe","channels":["trades:BTC-USDT"]}`)
			c.send(`{"op":"subscribe","channels":["trades:NOPE"]}`)
		}
		for i, c := range cs {
			if m := c.next("the subscribe's answer"); m.Type != "subscribed" {
				t.Fatalf("round %d, stream %d: first answer %+v, want subscribed", round, i, m)
			}
			if m := c.next("the refused subscribe's answer"); m.Type != "error" || m.Channel != "trades:NOPE" {
				t.Fatalf("round %d, stream %d: second answer %+v, want the error", round, i, m)
			}
		}
	}
}

// The copy channel against the REST API, on random trades of a leader
// (as taker and as maker) followed by two accounts in different modes:
// each follower's copy stream has every fill of its follow's wallet as
// GET /v1/social/follows/{id}/fills shows it, once, and every skipped and
// closed event GET /v1/social/events has, and nothing of the other
// follow's; the leader's copy stream has nothing (no profit share here).
func TestStreamReviewCopyRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(reviewSeed(t), 11))
	ts, lid, lead, fid, fol := startLeaderFollower(t)
	maker, _ := fundCopyParties(ts, lid, fid)
	gid, gus := ts.signup("gus")
	mid := uint64(ts.must(200, "GET", "/v1/account", maker, "")["id"].(float64))
	for _, d := range []struct {
		id          uint64
		asset, amnt string
	}{{gid, "USDT", "1000"}, {lid, "BTC", "5"}, {mid, "USDT", "100000"}} {
		ts.must(201, "POST", "/v1/admin/deposits", adminTok,
			fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"d2-%d-%s"}`, d.id, d.asset, d.amnt, d.id, d.asset))
	}
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"display_name":"Lea"}`)
	type follower struct {
		tok string
		rel uint64
		c   *burstClient
	}
	var fs []*follower
	for _, f := range []struct{ tok, body string }{
		{fol, `"mode":"proportional","value":"1"`},
		{gus, `"mode":"multiplier","value":"0.5","max_order_quote":"60"`},
	} {
		out := ts.must(201, "POST", "/v1/social/follows", f.tok,
			fmt.Sprintf(`{"leader_id":%d,"allocation":"800","slippage_bps":300,%s}`, lid, f.body))
		fs = append(fs, &follower{tok: f.tok, rel: uint64(out["id"].(float64)), c: burstSubscribe(t, ts, f.tok, "copy")})
	}
	leaderC := burstSubscribe(t, ts, lead, "copy")

	for step := range 60 {
		price := 95 + rng.IntN(11)
		qty := fmt.Sprintf("%.2f", float64(2+rng.IntN(29))*0.01)
		side := []string{"buy", "sell"}[rng.IntN(2)]
		other := map[string]string{"buy": "sell", "sell": "buy"}[side]
		switch r := rng.IntN(10); {
		case r < 5: // the leader takes
			ts.must(201, "POST", "/v1/orders", maker, fmt.Sprintf(`{"market":"BTC-USDT","side":%q,"price":"%d","quantity":"%s"}`, other, price, qty))
			ts.req("POST", "/v1/orders", lead, fmt.Sprintf(`{"market":"BTC-USDT","side":%q,"price":"%d","quantity":"%s","time_in_force":"ioc"}`, side, price, qty))
		case r < 8: // the leader makes
			ts.req("POST", "/v1/orders", lead, fmt.Sprintf(`{"market":"BTC-USDT","side":%q,"price":"%d","quantity":"%s"}`, side, price, qty))
			ts.req("POST", "/v1/orders", maker, fmt.Sprintf(`{"market":"BTC-USDT","side":%q,"price":"%d","quantity":"%s","time_in_force":"ioc"}`, other, price, qty))
		case r < 9: // liquidity for the mirrors
			ts.must(201, "POST", "/v1/orders", maker, fmt.Sprintf(`{"market":"BTC-USDT","side":%q,"price":"%d","quantity":"%s"}`, side, price, qty))
		default:
			f := fs[rng.IntN(len(fs))]
			op := "pause"
			if step%2 == 0 {
				op = "resume"
			}
			ts.req("POST", fmt.Sprintf("/v1/social/follows/%d/%s", f.rel, op), f.tok, "")
		}
	}
	for _, f := range fs { // closed at market: the wallet's last fills
		ts.must(201, "POST", "/v1/orders", maker, `{"market":"BTC-USDT","side":"buy","price":"90","quantity":"50"}`)
		ts.must(200, "DELETE", fmt.Sprintf("/v1/social/follows/%d?close=market", f.rel), f.tok, "")
	}

	for i, f := range fs {
		want := map[string]string{} // "fill trade order" or "skipped/closed …" → fields
		for _, fl := range ts.must(200, "GET", fmt.Sprintf("/v1/social/follows/%d/fills?limit=1000", f.rel), f.tok, "")["fills"].([]any) {
			fl := fl.(map[string]any)
			want[fmt.Sprintf("fill %v %v", fl["trade_id"], fl["order_id"])] = fmt.Sprint(fl["market"], fl["side"], fl["price"], fl["quantity"], fl["fee"], fl["fee_asset"], fl["time"])
		}
		nEvents := 0
		for _, e := range ts.must(200, "GET", fmt.Sprintf("/v1/social/events?limit=1000&follow_id=%d", f.rel), f.tok, "")["events"].([]any) {
			e := e.(map[string]any)
			nEvents++
			want[fmt.Sprintf("%v %v", e["type"], e["sequence"])] += fmt.Sprint(e["reason"], e["quantity"], e["computed_quantity"], e["returned"], e["leader_order_id"], ";")
		}
		got := map[string]string{}
		for len(got) < len(want) {
			m := f.c.next(fmt.Sprintf("follower %d: copy messages (%d of %d)", i, len(got), len(want)))
			var d map[string]any
			if err := json.Unmarshal(m.Data, &d); err != nil {
				t.Fatalf("copy message %+v: %v", m, err)
			}
			if uint64(d["relation_id"].(float64)) != f.rel {
				t.Fatalf("follower %d got another follow's copy message: %s", i, m.Data)
			}
			if m.Type == "fill" {
				k := fmt.Sprintf("fill %v %v", d["trade_id"], d["order_id"])
				if _, ok := got[k]; ok {
					t.Fatalf("follower %d: fill sent twice: %s", i, m.Data)
				}
				got[k] = fmt.Sprint(d["market"], d["side"], d["price"], d["quantity"], d["fee"], d["fee_asset"], d["time"])
			} else {
				got[fmt.Sprintf("%v %v", m.Type, m.Seq)] += fmt.Sprint(d["reason"], d["quantity"], d["computed_quantity"], d["returned"], d["leader_order_id"], ";")
			}
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("follower %d: %s: stream %q, REST %q", i, k, got[k], w)
			}
		}
		t.Logf("follower %d: %d copy messages (%d events)", i, len(want), nEvents)
		f.c.alive() // nothing more came before the answer to this
	}
	leaderC.alive()
}

// cancel_on_disconnect fires however the server ends the stream, but for
// its own shutdown (TestStreamReviewShutdown): a revoked token, a slow
// consumer, the hub's queue overflowing (1013), too many bad messages.
func TestStreamReviewCancelOnServerClose(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, bob := deadmanSetup(ts)
	h := ts.s.hub
	for _, tc := range []struct{ name, want string }{
		{"revoked", "websocket: close 1008 (policy violation): token revoked"},
		{"slow consumer", "websocket: close 1008 (policy violation): slow consumer: send queue full"},
		{"overloaded", "websocket: close 1013: server overloaded: resubscribe"},
		{"bad messages", "websocket: close 1008 (policy violation): too many bad messages"},
	} {
		if got := fmt.Sprint(ts.openOrders(alice)["ETH-USDT"]); got != "1" {
			ts.must(201, "POST", "/v1/orders", alice, `{"market":"ETH-USDT","side":"sell","price":"3000","quantity":"1"}`)
		}
		tok := ts.must(201, "POST", "/v1/tokens", alice, "")
		if tc.name == "slow consumer" {
			h.queueBytes.Store(2048)
			gate := make(chan struct{}) // never opened
			h.writeGate.Store(&gate)
		}
		ws := budgetQuiet(t, ts, `{"op":"auth","token":"`+tok["token"].(string)+`"}`,
			`{"op":"cancel_on_disconnect","enabled":true,"market":"ETH-USDT"}`,
			`{"op":"subscribe","channels":["trades:BTC-USDT","book:BTC-USDT"]}`)
		budgetWait(t, tc.name+": subscribed", func() bool { tr, _ := budgetSubs(t, ts); return tr == 1 })
		h.writeGate.Store(nil)
		h.queueBytes.Store(streamQueueBytes)
		switch tc.name {
		case "revoked":
			ts.must(200, "DELETE", fmt.Sprintf("/v1/tokens/%d", uint64(tok["id"].(float64))), alice, "")
		case "slow consumer":
			for range 20 { // trades with alice's ask at 70000
				ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"70000","quantity":"0.0001"}`)
			}
		case "overloaded":
			h.lost.Store(true)
			h.doWait(func() {}) // the hub checks after each op
		case "bad messages":
			for range streamMaxBad {
				_ = ws.WriteMessage(websocket.TextMessage, []byte(`{`))
			}
		}
		if err := reviewClosed(t, ws); err == nil || err.Error() != tc.want {
			t.Errorf("%s: the client read %v, want %s", tc.name, err, tc.want)
		}
		budgetWait(t, tc.name+": alice's ETH-USDT order cancelled", func() bool { return ts.openOrders(alice)["ETH-USDT"] == 0 })
		budgetWait(t, tc.name+": the hub forgets the stream", func() bool { return readHub(t, h).conns == 0 })
	}
}
