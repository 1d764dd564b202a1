package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"
)

// maker is the market maker's state and what it does with it. It is not
// safe for concurrent use: one goroutine (loop) owns it, applies the
// stream's events to it in order and makes every request, one at a time,
// so the answer to a request is always applied before the events that
// follow it are looked at.
//
// What it knows of its orders comes from two places: the answers to its
// own requests, which set an order's price and quantity, and the stream,
// which tells of fills and of orders finishing. Stream messages may be
// older than an answer already applied, so they only ever move an order
// forward: its filled quantity up, its status to done. A resync replaces
// it all with what GET /v1/orders says.
type maker struct {
	api  *client
	mkt  market
	spec ladderSpec
	out  io.Writer

	orders   map[uint64]*order // open, in this market
	pos      position
	fallback int64     // --mid, ticks
	mid      int64     // the reference price, ticks: the others' mid, else fallback
	others   touch     // the others' best prices when the book was last read
	changed  time.Time // when a request of the maker's last changed its orders

	// Fills already booked: trade ids only grow, so the newest one seen
	// and the orders it filled (two if a trade was with itself) tell a
	// fill seen before from a new one.
	lastTrade       uint64
	lastTradeOrders []uint64

	cidPrefix string // of every client_order_id; unique per run
	cidNext   uint64

	// The dead man's switch of the market (nil: none): the maker places
	// and amends only while it is surely armed.
	deadman *deadman

	needResync bool   // the state may have missed events
	lastWarn   string // the last warning printed, not repeated in a row

	placed, amended, cancelled int // requests that succeeded
}

// Stepping a post-only quote away from the price it would cross at: at
// most maxSteps more tries, 1, 2, 4… ticks further each time.
const maxSteps = 4

// newMaker returns a maker quoting spec in mkt through api (which holds
// the user token), starting from the reference price mid (ticks).
func newMaker(api *client, mkt market, spec ladderSpec, mid int64, out io.Writer) *maker {
	m := &maker{api: api, mkt: mkt, spec: spec, out: out, orders: map[uint64]*order{}, fallback: mid, mid: mid,
		cidPrefix: "mm-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"}
	m.spec.market = &m.mkt
	return m
}

// errFatal marks an error after which quoting cannot go on.
var errFatal = errors.New("marketmaker: fatal")

// classify returns err wrapped with errFatal if the maker cannot go on
// after it (its token was refused), else err.
func classify(err error) error {
	switch errCode(err) {
	case "unauthenticated", "forbidden":
		return fmt.Errorf("%w: %w", errFatal, err)
	}
	return err
}

// warn prints a warning, unless it is the one printed last.
func (m *maker) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if msg != m.lastWarn {
		m.lastWarn = msg
		fmt.Fprintln(m.out, "warning:", msg)
	}
}

// start learns where the account's fills end (those before the maker
// started are not its own), adopts the account's open orders in the
// market and reads the book.
func (m *maker) start(ctx context.Context) error {
	for {
		fills, err := m.fillsAfter(ctx, m.lastTrade)
		if err != nil {
			return classify(err)
		}
		if len(fills) == 0 {
			break
		}
		last := fills[len(fills)-1]
		m.lastTrade, m.lastTradeOrders = last.TradeID, nil
		for _, f := range fills {
			if f.TradeID == last.TradeID {
				m.lastTradeOrders = append(m.lastTradeOrders, f.OrderID)
			}
		}
	}
	if err := m.resync(ctx); err != nil {
		return err
	}
	if len(m.orders) > 0 {
		fmt.Fprintf(m.out, "adopted %d open orders of the account in %s\n", len(m.orders), m.mkt.symbol)
	}
	return classify(m.readBook(ctx))
}

// fillsAfter returns a page of the account's fills in the market with a
// trade id after after, oldest first.
func (m *maker) fillsAfter(ctx context.Context, after uint64) ([]apiFill, error) {
	var res struct {
		Fills []apiFill `json:"fills"`
	}
	q := url.Values{"market": {m.mkt.symbol}, "limit": {"1000"}, "after": {strconv.FormatUint(after, 10)}}
	err := m.api.call(ctx, "GET", "/v1/fills?"+q.Encode(), "", &res)
	return res.Fills, err
}

// resync replaces what the maker knows of its orders with the account's
// open orders in the market (GET /v1/orders?status=open), adopting any
// it did not know of, and books the fills it missed (GET /v1/fills).
// Fills come first: they may belong to orders that are gone.
func (m *maker) resync(ctx context.Context) error {
	for {
		fills, err := m.fillsAfter(ctx, m.lastTrade)
		if err != nil {
			return classify(err)
		}
		for i := range fills {
			m.onFill(&fills[i])
		}
		if len(fills) < 1000 {
			break
		}
	}
	open := map[uint64]*order{}
	for after := uint64(0); ; {
		var res struct {
			Orders []apiOrder `json:"orders"`
		}
		q := url.Values{"market": {m.mkt.symbol}, "status": {"open"}, "limit": {"1000"}, "after": {strconv.FormatUint(after, 10)}}
		if err := m.api.call(ctx, "GET", "/v1/orders?"+q.Encode(), "", &res); err != nil {
			return classify(err)
		}
		for i := range res.Orders {
			a := &res.Orders[i]
			after = a.ID
			if o, err := m.parseOrder(a); err != nil {
				m.warn("order %d: %v", a.ID, err)
			} else if !a.done() {
				open[o.id] = o
			}
		}
		if len(res.Orders) < 1000 {
			break
		}
	}
	m.orders = open
	m.needResync = false
	return nil
}

// parseOrder converts an order of the API.
func (m *maker) parseOrder(a *apiOrder) (*order, error) {
	s, ok := parseSide(a.Side)
	if !ok {
		return nil, fmt.Errorf("side %q", a.Side)
	}
	o := &order{id: a.ID, cid: a.ClientOrderID, side: s}
	var err error
	if o.price, err = m.mkt.ticks(a.Price); err != nil {
		return nil, fmt.Errorf("price: %w", err)
	}
	if o.qty, err = m.mkt.lots(a.Quantity); err != nil {
		return nil, fmt.Errorf("quantity: %w", err)
	}
	if o.filled, err = m.mkt.lots(a.Filled); err != nil {
		return nil, fmt.Errorf("filled: %w", err)
	}
	return o, nil
}

// track applies an order from the answer to one of the maker's requests.
func (m *maker) track(a *apiOrder) {
	o, err := m.parseOrder(a)
	if err != nil {
		m.warn("order %d: %v", a.ID, err)
		m.needResync = true
		return
	}
	if a.done() {
		delete(m.orders, a.ID)
		return
	}
	if old := m.orders[o.id]; old != nil {
		o.filled = max(o.filled, old.filled)
	}
	m.orders[o.id] = o
}

// handle applies a stream event.
func (m *maker) handle(ev *event) {
	switch ev.kind {
	case evOrder:
		m.onOrder(&ev.order)
	case evFill:
		m.onFill(&ev.fill)
	case evGap, evReconnect:
		fmt.Fprintf(m.out, "%s: resyncing\n", ev.msg)
		m.needResync = true
	case evWarn:
		m.warn("%s", ev.msg)
	}
}

// onOrder applies an order message: one the maker does not know of (not
// in its market, or gone already) is ignored, and one it knows only
// moves forward.
func (m *maker) onOrder(a *apiOrder) {
	o := m.orders[a.ID]
	if o == nil || a.Market != m.mkt.symbol {
		return
	}
	if a.done() {
		delete(m.orders, a.ID)
		return
	}
	if filled, err := m.mkt.lots(a.Filled); err == nil {
		o.filled = max(o.filled, filled)
	}
}

// onFill books a fill of the maker's market, once, and prints it.
func (m *maker) onFill(f *apiFill) {
	if f.Market != m.mkt.symbol || m.seen(f.TradeID, f.OrderID) {
		return
	}
	s, ok := parseSide(f.Side)
	price, err1 := m.mkt.ticks(f.Price)
	qty, err2 := m.mkt.lots(f.Quantity)
	fee, err3 := parseFixed(f.Fee)
	if err := errors.Join(err1, err2, err3); !ok || err != nil {
		m.warn("fill %d of order %d: bad side %q or %v", f.TradeID, f.OrderID, f.Side, err)
		return
	}
	if f.FeeAsset != "" && f.FeeAsset != m.mkt.quote {
		fee = 0 // not in quote: not part of the PnL
	}
	m.pos.apply(&m.mkt, s, price, qty, fee)
	fmt.Fprintf(m.out, "fill: %s %s %s @ %s, fee %s %s (%s, order %d, trade %d); inventory %s %s, realised PnL %s %s\n",
		f.Side, f.Quantity, f.Market, f.Price, f.Fee, f.FeeAsset, f.Liquidity, f.OrderID, f.TradeID,
		m.mkt.qty(m.pos.inv), m.mkt.base, formatFixed(m.pos.realised), m.mkt.quote)
}

// seen reports whether the fill of trade id for order was booked
// already, and notes it if not.
func (m *maker) seen(id, order uint64) bool {
	switch {
	case id < m.lastTrade:
		return true
	case id == m.lastTrade:
		for _, o := range m.lastTradeOrders {
			if o == order {
				return true
			}
		}
		m.lastTradeOrders = append(m.lastTradeOrders, order)
	default:
		m.lastTrade, m.lastTradeOrders = id, append(m.lastTradeOrders[:0], order)
	}
	return false
}

// bookSettle is how long after changing its orders the maker leaves the
// book unread. GET /v1/markets/{symbol}/book serves a published view up
// to about a millisecond old, which may still show orders the maker has
// just moved; at their old prices they would pass for the others'.
const bookSettle = 50 * time.Millisecond

// readBook reads the top of the book and from it the others' best prices
// (what is left of each level once the maker's own open orders at its
// price are taken out) and the reference price. Just after the maker
// changed its orders (bookSettle) it does nothing: the next refresh reads
// the book.
func (m *maker) readBook(ctx context.Context) error {
	if time.Since(m.changed) < bookSettle {
		return nil
	}
	var res struct {
		Bids [][2]string `json:"bids"`
		Asks [][2]string `json:"asks"`
	}
	// The maker's orders take at most levels prices a side: one more
	// level reaches the others' best if they have orders.
	path := fmt.Sprintf("/v1/markets/%s/book?depth=%d", url.PathEscape(m.mkt.symbol), m.spec.levels+1)
	if err := m.api.call(ctx, "GET", path, "", &res); err != nil {
		return err
	}
	var own [2]map[int64]int64 // side → price → lots
	for _, o := range m.orders {
		if own[o.side] == nil {
			own[o.side] = map[int64]int64{}
		}
		own[o.side][o.price] += o.remaining()
	}
	best := func(levels [][2]string, s side) int64 {
		for _, l := range levels {
			p, err1 := m.mkt.ticks(l[0])
			q, err2 := m.mkt.lots(l[1])
			if err1 == nil && err2 == nil && q > own[s][p] {
				return p
			}
		}
		return 0
	}
	m.others = touch{bid: best(res.Bids, buy), ask: best(res.Asks, sell)}
	m.mid = m.others.mid(m.fallback)
	return nil
}

// requote moves the maker's orders to the ladder for the current mid,
// inventory and others' prices. It stops early, leaving the rest, when
// ctx is done, and only cancels while its dead man's switch has run out. Errors of single requests are printed and skipped; it
// returns only fatal ones.
func (m *maker) requote(ctx context.Context) error {
	bids, asks := m.spec.quotes(m.mid, m.pos.inv, m.others)
	open := make([]*order, 0, len(m.orders))
	for _, o := range m.orders {
		open = append(open, o)
	}
	lapsed := m.deadman != nil && !m.deadman.armed(time.Now())
	for _, a := range plan(open, bids, asks) {
		if ctx.Err() != nil {
			return nil
		}
		if lapsed && a.kind != actCancel {
			m.warn("the dead man's switch was not renewed in time: placing nothing until it is")
			continue
		}
		var err error
		switch a.kind {
		case actPlace:
			err = m.place(ctx, a.q)
		case actAmend:
			err = m.amend(ctx, a.id, a.q)
		case actCancel:
			err = m.cancel(ctx, a.id)
		}
		if err == nil {
			m.changed = time.Now()
			continue
		}
		if err = classify(err); errors.Is(err, errFatal) {
			return err
		}
		if errCode(err) == "" { // no answer: the request may have gone through
			m.needResync = true
		}
		m.warn("%s %s %s @ %s: %v", a.kind, a.q.side, m.mkt.qty(a.q.qty), m.mkt.price(a.q.price), err)
	}
	return nil
}

// away returns q's price moved n ticks further from the other side, or
// false if no such price is valid.
func (m *maker) away(q quote, n int64) (int64, bool) {
	if q.side == buy {
		return q.price - n, q.price-n >= 1
	}
	return q.price + n, q.price+n <= m.mkt.maxPrice
}

// place places q as a post-only limit order. A price refused with
// would_cross is stepped away from the other side and tried again.
func (m *maker) place(ctx context.Context, q quote) error {
	for step := 0; ; step++ {
		m.cidNext++
		cid := m.cidPrefix + strconv.FormatUint(m.cidNext, 36)
		body := fmt.Sprintf(`{"market":%q,"side":%q,"type":"limit","price":%q,"quantity":%q,"time_in_force":"gtc","post_only":true,"client_order_id":%q}`,
			m.mkt.symbol, q.side, m.mkt.price(q.price), m.mkt.qty(q.qty), cid)
		var res struct {
			Order apiOrder  `json:"order"`
			Fills []apiFill `json:"fills"`
		}
		err := m.api.call(ctx, "POST", "/v1/orders", body, &res)
		if errCode(err) == "would_cross" && step < maxSteps {
			var ok bool
			if q.price, ok = m.away(q, 1<<step); ok {
				continue
			}
		}
		if err != nil {
			return err
		}
		m.placed++
		m.track(&res.Order)
		for i := range res.Fills { // none for a post-only order; booked if ever
			m.onFill(&res.Fills[i])
		}
		return nil
	}
}

// amend moves order id to q's price and remaining quantity. If the order
// is gone (filled or cancelled meanwhile) q is placed instead; a price
// refused with would_cross is stepped away as place does.
func (m *maker) amend(ctx context.Context, id uint64, q quote) error {
	o := m.orders[id]
	if o == nil {
		return m.place(ctx, q)
	}
	for step := 0; ; step++ {
		body := fmt.Sprintf(`{"price":%q,"quantity":%q}`, m.mkt.price(q.price), m.mkt.qty(o.filled+q.qty))
		var res apiOrder
		err := m.api.call(ctx, "PATCH", "/v1/orders/"+strconv.FormatUint(id, 10), body, &res)
		switch code := errCode(err); {
		case code == "would_cross" && step < maxSteps:
			var ok bool
			if q.price, ok = m.away(q, 1<<step); ok {
				continue
			}
		case code == "not_found":
			delete(m.orders, id)
			return m.place(ctx, q)
		case code == "invalid_argument":
			// Most likely filled more than the maker knows (the new total
			// must exceed the filled quantity): learn how much.
			m.needResync = true
		}
		if err != nil {
			return err
		}
		m.amended++
		m.track(&res)
		return nil
	}
}

// cancel cancels order id; one already gone counts as cancelled.
func (m *maker) cancel(ctx context.Context, id uint64) error {
	var res apiOrder
	err := m.api.call(ctx, "DELETE", "/v1/orders/"+strconv.FormatUint(id, 10), "", &res)
	if err != nil && errCode(err) != "not_found" {
		return err
	}
	if err == nil {
		m.cancelled++
	}
	delete(m.orders, id)
	return nil
}

// cancelAll cancels every open order of the account in the market
// (DELETE /v1/orders?market=), and again while GET /v1/orders still shows
// one open (a request of the maker's that timed out may have been
// executed late), then books the fills it has not seen yet.
func (m *maker) cancelAll(ctx context.Context) error {
	q := url.Values{"market": {m.mkt.symbol}}.Encode()
	var err error
	for range 3 {
		var res struct {
			Cancelled []uint64 `json:"cancelled"`
		}
		if err = m.api.call(ctx, "DELETE", "/v1/orders?"+q, "", &res); err != nil {
			continue
		}
		m.cancelled += len(res.Cancelled)
		fmt.Fprintf(m.out, "cancelled %d open orders in %s\n", len(res.Cancelled), m.mkt.symbol)
		if err = m.resync(ctx); err == nil && len(m.orders) == 0 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("%d orders still open in %s", len(m.orders), m.mkt.symbol)
		}
	}
	return err
}

// summary prints what the run did.
func (m *maker) summary() {
	p := &m.pos
	fmt.Fprintf(m.out, "summary: orders placed %d, amended %d, cancelled %d; fills %d, volume %s %s; inventory %s %s; realised PnL %s %s (fees %s %s)\n",
		m.placed, m.amended, m.cancelled, p.fills, m.mkt.qty(p.volume), m.mkt.base,
		m.mkt.qty(p.inv), m.mkt.base, formatFixed(p.realised), m.mkt.quote, formatFixed(p.fees), m.mkt.quote)
}
