package server

import (
	"bytes"
	"cmp"
	"math"
	"slices"
	"sync"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/internal/seqmap"
)

// Order statuses, as in the API.
const (
	statusOpen uint8 = iota
	statusPartial
	statusFilled
	statusCancelled
	statusRejected
	statusExpired
)

var statusNames = [...]string{"open", "partially_filled", "filled", "cancelled", "rejected", "expired"}

// orderRec is one order of the read model. Prices are in steps,
// quantities in lots, QuoteBudget in quote units (10^-8). It holds no
// pointer, so that the table of orders is never scanned by the garbage
// collector.
type orderRec struct {
	ID          uint64
	ClientID    engine.Ref // zero padded; see clientID
	Account     uint64
	Market      uint32
	Side        book.Side
	Type        book.OrderType
	TIF         book.TimeInForce
	STP         book.STPMode
	PostOnly    bool
	Stop        bool // a stop that has not triggered (cleared when done)
	Triggered   bool // a stop that triggered (histories of earlier releases: never set)
	Price       int64
	StopPrice   int64
	Qty         int64 // total quantity: filled + open (0: budget buy)
	QuoteBudget int64
	DisplayQty  int64 // an iceberg's slice size, lots, as placed (0: not an iceberg)
	Filled      int64
	Notional    int64 // Σ price × qty of fills, steps × lots (saturating)
	Status      uint8
	Reason      book.Reason // why a cancelled or expired order ended (ReasonNone otherwise, and in earlier releases' histories)
	// ExpireAt is a good-till-date order's expiry time (Unix ns; its
	// time_in_force is then gtd, TIF GTC), 0 for others.
	ExpireAt int64
	Created  int64
	Updated  int64

	logged uint64 // the sequence number of its last copy into the change log
	queued bool   // done and in its account's done queue
	gone   bool   // a change-log tombstone: trimmed from the history
}

func (o *orderRec) done() bool { return o.Status >= statusFilled }

// clientID returns the client order id without its zero padding, as a
// slice of o's own array.
func (o *orderRec) clientID() []byte {
	if i := bytes.IndexByte(o.ClientID[:], 0); i >= 0 {
		return o.ClientID[:i]
	}
	return o.ClientID[:]
}

// orderTab holds the read model's orders by id: pages of records in
// slots that are reused once freed, and an index from id to slot (a
// seqmap: the engine numbers orders in increasing order). Records hold no
// pointers, so the collector never scans them, a new order does not
// allocate once the table has grown, and growth adds a page instead of
// copying every order. Pages never move: a record pointer from get or put
// stays valid until that order is deleted (its slot may then be reused).
type orderTab struct {
	pages [][]orderRec
	next  int32   // slots used so far (freed ones included)
	free  []int32 // freed slots, reused first
	idx   *seqmap.Map
}

// orderPage is the number of records in a page of orderTab (168 KiB).
const orderPage = 1024

func newOrderTab() orderTab { return orderTab{idx: seqmap.New()} }

func (t *orderTab) at(i int32) *orderRec { return &t.pages[i/orderPage][i%orderPage] }

// get returns the record of order id, or nil.
func (t *orderTab) get(id uint64) *orderRec {
	i, ok := t.idx.Get(id)
	if !ok {
		return nil
	}
	return t.at(i)
}

// put stores o under o.ID (non-zero), replacing an order with that id.
func (t *orderTab) put(o *orderRec) *orderRec {
	// The slot a new order takes, offered to the index in the probe that
	// finds whether the order is there: one probe, not a Get and a Put.
	fresh := t.next
	if n := len(t.free); n > 0 {
		fresh = t.free[n-1]
	}
	i, ok := t.idx.GetOrPut(o.ID, fresh)
	if !ok {
		if n := len(t.free); n > 0 {
			t.free = t.free[:n-1]
		} else {
			if int(t.next) == len(t.pages)*orderPage {
				t.pages = append(t.pages, make([]orderRec, orderPage))
			}
			t.next++
		}
	}
	r := t.at(i)
	*r = *o
	return r
}

// del removes order id, if present: one probe of the index, and only the
// record's id cleared (put overwrites the whole record; each and the
// history's base skip a record whose id is 0), so that a trim dirties
// one of the record's three cache lines.
func (t *orderTab) del(id uint64) {
	if i, ok := t.idx.Take(id); ok {
		t.at(i).ID = 0
		t.free = append(t.free, i)
	}
}

// len returns the number of orders.
func (t *orderTab) len() int { return t.idx.Len() }

// each calls f with every order, in slot order.
func (t *orderTab) each(f func(o *orderRec)) {
	for i := range t.next {
		if o := t.at(i); o.ID != 0 {
			f(o)
		}
	}
}

// fillRec is one side of a trade, as its account sees it.
type fillRec struct {
	TradeID uint64
	OrderID uint64
	Market  uint32
	Side    book.Side
	Price   int64
	Qty     int64
	Fee     int64 // quote units
	Maker   bool
	Time    int64
}

// readModel is the order history, fills and public market data, built
// from the engine's results (Engine.Subscribe). apply runs on the engine's
// output goroutine before the submitter's Do returns, so a handler reads
// its own writes. It lives in memory, bounded by its retention (keepOrders,
// keepFills, and per market maxTrades and maxCandles), and every change is
// also copied into a change log that the saver writes incrementally to the
// metadata store (history.go); see the package documentation for what a
// crash loses.
type readModel struct {
	mu      sync.RWMutex
	Seq     uint64 // of the last result applied
	Orders  orderTab
	accts   map[uint64]*acctHist
	Markets map[uint32]*marketData // public trades and candles (mdata.go)

	// tradeBase is the data directory's trade id base (tradeid.go), set
	// before the log is replayed and fixed after.
	tradeBase uint64

	// keepOrders and keepFills are how many done orders and fills each
	// account keeps (≤ 0: all).
	keepOrders, keepFills int
	// chg holds copies of what changed since the last save (never nil);
	// full gets a value when it grows past maxUnsaved entries.
	chg     *changes
	full    chan struct{}
	pools   changePools // chunks of saved change logs, for the next
	touched []uint64    // scratch of apply: orders touched by one result
	// fillTrimmed lists the accounts whose fills were trimmed since the
	// change log was last taken: takeChanges logs the first fill each
	// keeps then, as the store needs only the last trim of an account,
	// instead of addFill reading the oldest fill (a cache miss) on every
	// trim.
	fillTrimmed []uint64
	// dirtyMarkets lists the markets with trades since the change log
	// was last taken, whose changed candles takeChanges logs (logCandles).
	dirtyMarkets []uint32
	gen          uint64 // counts apply calls (addCopyEvent)
	// settled, if set, gets each order a result touched, as the result
	// left it, before finish may trim it from the history (the lock
	// held): the streams' copy (hub.settled, stream.go).
	settled func(o *orderRec)

	// pending holds the request details of orders being placed, and
	// where the answers of places, cancels and amends want their order
	// copied, by Command.Tag: the engine's result does not carry the
	// command.
	pmu     sync.Mutex
	pending pendingTab
	ptx     map[uint64]transferRec // deposits and withdrawals by Seq (noteTransfer)
}

// acctHist is one account's part of the history.
type acctHist struct {
	ids   []uint64  // its order ids, ascending, with dead ones (trimmed) not yet compacted
	dead  int       // trimmed ids still in ids
	done  []doneRef // done orders in the order they finished, oldest first
	fills []fillRec
	// transfers: its deposits and withdrawals, oldest first (transfers.go).
	transfers []transferRec
	// copyEvents: its copy-trading events, oldest first (copyevents.go);
	// copyNext, if not 0, the number of the next once retention or a log
	// loss dropped them all.
	copyEvents []copyEventRec
	copyNext   uint64
	// fillBuf is the array fills moves back to the start of once trimming
	// has reached its end (addFill).
	fillBuf []fillRec
	// fillTrimmed: fills were trimmed since the change log was last
	// taken, and the account is in readModel.fillTrimmed.
	fillTrimmed bool
}

// pendingOrder is what is registered for an order being placed,
// cancelled or amended: the request's details (meta; a place's only),
// and where apply copies the order as its result left it (out; nil:
// nowhere).
type pendingOrder struct {
	meta *orderRec
	out  *placedOut
}

// placedOut receives the order that a place's (or a cancel's or an
// amend's) result left, copied by apply under the write lock it holds
// anyway, so that the request answers without taking the read lock: under
// a stream of batches the handlers' reads kept the engine's output
// waiting for the lock (a fifth of its time blocked), and it is what
// every order waits for. It is also the order as its own command left
// it, which a read once the result is delivered is not: a later command
// may have traded with it by then.
type placedOut struct {
	rec   orderRec
	found bool // rec is set: the result succeeded and its order is held
}

// expect registers the details of the order placed with tag, and where
// its order is to be copied (out, may be nil). A cancel or amend
// registers its tag with meta nil.
func (m *readModel) expect(tag uint64, meta *orderRec, out *placedOut) {
	m.pmu.Lock()
	m.pending.put(tag, pendingOrder{meta: meta, out: out})
	m.pmu.Unlock()
}

// expectAll registers several orders at once, pend[i] under tags[i] (one
// lock for a batch).
func (m *readModel) expectAll(tags []uint64, pend []pendingOrder) {
	m.pmu.Lock()
	for i, t := range tags {
		m.pending.put(t, pend[i])
	}
	m.pmu.Unlock()
}

// forget removes what is registered for tags, if anything (one lock
// for a batch): the registrations of commands whose results were never
// applied (a journal failure) or that were never submitted.
func (m *readModel) forget(tags []uint64) {
	m.pmu.Lock()
	for _, t := range tags {
		m.pending.take(t)
	}
	m.pmu.Unlock()
}

// take removes and returns what is registered for tag.
func (m *readModel) take(tag uint64) pendingOrder {
	m.pmu.Lock()
	p := m.pending.take(tag)
	m.pmu.Unlock()
	return p
}

// newReadModel returns an empty read model that keeps everything.
func newReadModel() *readModel {
	full := make(chan struct{}, 1)
	m := &readModel{Orders: newOrderTab(),
		accts: map[uint64]*acctHist{}, Markets: map[uint32]*marketData{},
		full: full}
	m.chg = newChanges(full, &m.pools)
	return m
}

// acct returns the history of account a, created if need be.
func (m *readModel) acct(a uint64) *acctHist {
	h := m.accts[a]
	if h == nil {
		h = &acctHist{}
		m.accts[a] = h
	}
	return h
}

// seq returns the sequence number of the last result applied.
func (m *readModel) seq() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.Seq
}

// apply folds one engine result into the model.
func (m *readModel) apply(res *engine.Result) {
	var p pendingOrder
	switch res.Kind {
	case engine.CmdPlace:
		p = m.take(res.Tag)
	case engine.CmdCancel, engine.CmdAmendTotal:
		if res.Tag != 0 { // the server's own (doOrderCmd)
			p = m.take(res.Tag)
		}
	}
	meta := p.meta
	var xfer transferRec
	isXfer := false
	if res.Kind == engine.CmdDeposit || res.Kind == engine.CmdWithdraw {
		xfer, isXfer = m.takeTransfer(res.Seq)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.out != nil {
		defer m.placed(res, p.out) // after settle, deferred below
	}
	m.Seq = res.Seq
	m.gen++
	if isXfer && res.Err == nil && !res.Duplicate {
		m.addTransfer(xfer)
	}
	if len(res.Events) == 0 {
		return
	}
	defer m.settle(res.Seq)
	// ends: a market order (or a released stop market) took in this
	// result; lastID and lastPx: the taker of the last trade and its price.
	ends, k := false, 0 // k: trade events so far
	var lastID uint64
	var lastPx int64
	for i := range res.Events {
		ev := &res.Events[i]
		switch ev.Kind {
		case book.EvAccepted:
			o := &orderRec{ID: ev.OrderID, Account: ev.Owner, Market: ev.Market, Side: ev.Side,
				Price: ev.Price, Qty: ev.Qty, Created: res.Time}
			// o stays on the stack: put copies it into the table.
			if meta != nil && ev.OrderID == res.ID {
				o.ClientID, o.Type, o.TIF, o.STP, o.PostOnly = meta.ClientID, meta.Type, meta.TIF, meta.STP, meta.PostOnly
				o.StopPrice, o.QuoteBudget, o.DisplayQty, o.ExpireAt = meta.StopPrice, meta.QuoteBudget, meta.DisplayQty, meta.ExpireAt
				o.Stop = o.Type == book.StopMarket || o.Type == book.StopLimit
			}
			if ev.Relation != 0 {
				// A mirrored order (not journaled, so no request meta):
				// always an IOC limit with copy-group self-trade prevention.
				o.Type, o.TIF, o.STP = book.Limit, book.IOC, book.STPCancelTaker
			}
			m.Orders.put(o)
			a := m.acct(o.Account)
			if n := len(a.ids); n == 0 || a.ids[n-1] < o.ID {
				a.ids = append(a.ids, o.ID)
			} else if i, found := slices.BinarySearch(a.ids, o.ID); !found {
				// An id given again after a start that accepted a log
				// ending before the history (Options.AcceptLogLoss): ids
				// stay ascending, as orders' paging needs.
				a.ids = slices.Insert(a.ids, i, o.ID)
			}
			m.touched = append(m.touched, o.ID)
			ends = ends || o.Type == book.Market
		case book.EvTriggered:
			if o := m.Orders.get(ev.OrderID); o != nil {
				o.Stop, o.Triggered = false, true
				o.Updated = res.Time
				m.touched = append(m.touched, o.ID)
				ends = ends || o.Type == book.StopMarket
			}
		case book.EvTrade:
			k++
			id := tradeID(m.tradeBase, res, k)
			m.applyTrade(res, ev, id)
			lastID, lastPx = ev.OrderID, ev.Price
			if o := m.Orders.get(ev.OrderID); o != nil {
				o.fill(ev.Price, ev.Qty)
				if ev.Remaining == 0 && o.Qty > 0 {
					o.Status = statusFilled
				}
				m.addFill(o.Account, fillRec{TradeID: id, OrderID: o.ID,
					Market: ev.Market, Side: o.Side, Price: ev.Price, Qty: ev.Qty, Fee: ev.TakerFee, Time: res.Time})
				o.Updated = res.Time
				m.touched = append(m.touched, o.ID)
			}
			if o := m.Orders.get(ev.MakerID); o != nil {
				o.fill(ev.Price, ev.Qty)
				if ev.MakerRemaining == 0 {
					o.Status = statusFilled
				}
				m.addFill(o.Account, fillRec{TradeID: id, OrderID: o.ID,
					Market: ev.Market, Side: o.Side, Price: ev.Price, Qty: ev.Qty, Fee: ev.MakerFee, Maker: true, Time: res.Time})
				o.Updated = res.Time
				m.touched = append(m.touched, o.ID)
			}
		case book.EvCancelled, book.EvExpired:
			if o := m.Orders.get(ev.OrderID); o != nil {
				o.Status, o.Reason = statusCancelled, ev.Reason
				if ev.Kind == book.EvExpired {
					o.Status = statusExpired
					if o.Qty == 0 && o.Filled > 0 && lastID == o.ID && ev.Remaining < lastPx {
						// A buy by quote budget alone whose rest cannot
						// pay for another lot at its last fill's price
						// (ev.Remaining, in steps × lots, against the
						// price of one lot): it bought what it could.
						o.Status, o.Reason = statusFilled, book.ReasonNone
					}
				}
				o.Stop = false
				o.Updated = res.Time
				m.touched = append(m.touched, o.ID)
			}
		case book.EvAmended:
			if o := m.Orders.get(ev.OrderID); o != nil {
				o.Price = ev.Price
				o.Qty = o.Filled + ev.Qty
				o.Updated = res.Time
				m.touched = append(m.touched, o.ID)
			}
		case engine.EvCopySkipped, engine.EvCopyClosed, engine.EvProfitShare:
			m.addCopyEvents(res.Seq, res.Time, ev)
		}
	}
	if ends {
		m.endMarketOrders(res.Time)
	}
}

// endMarketOrders ends the market orders (and released stop markets) that
// took in the result being applied and got no event that ends them: those
// that used up their budget or quantity (the lock held). It walks every
// order the result touched, however many took.
func (m *readModel) endMarketOrders(at int64) {
	for _, id := range m.touched {
		if o := m.Orders.get(id); o != nil && o.unended() {
			o.end(at)
		}
	}
}

// unended reports whether o is a market order or a released stop market
// that is not done. After a result is applied there is none: such an
// order never outlives the command that placed or released it. Histories
// of earlier releases, which ended only the first four orders to take in
// a result, may hold some (index ends them).
func (o *orderRec) unended() bool {
	return !o.done() && !o.Stop && (o.Type == book.Market || o.Type == book.StopMarket)
}

// end ends an unended market order at time at: filled if it filled
// anything (it used up its budget or quantity), else expired.
func (o *orderRec) end(at int64) {
	if o.Filled > 0 {
		o.Status = statusFilled
	} else {
		o.Status, o.Reason = statusExpired, book.ReasonUnfilled
	}
	o.Updated = at
}

// fill records a fill of qty lots at price.
func (o *orderRec) fill(price, qty int64) {
	o.Filled += qty
	if price > 0 && qty > 0 {
		if p := price * qty; p/qty == price && o.Notional <= math.MaxInt64-p {
			o.Notional += p
		} else {
			o.Notional = math.MaxInt64
		}
	}
	if o.Status == statusOpen {
		o.Status = statusPartial
	}
}

// order returns a copy of order id if it belongs to account.
func (m *readModel) order(account, id uint64) (orderRec, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	o := m.Orders.get(id)
	if o == nil || o.Account != account {
		return orderRec{}, false
	}
	return *o, true
}

// orders appends to dst up to limit orders of account with id > after,
// on market (0: any), open or done as status says (0: both, 1: open,
// 2: done).
func (m *readModel) orders(dst []orderRec, account uint64, market uint32, status int, after uint64, limit int) []orderRec {
	m.mu.RLock()
	defer m.mu.RUnlock()
	a := m.accts[account]
	if a == nil {
		return dst
	}
	// ids ascend: a page starts where the last ended, not at the
	// account's first order (a market maker's open orders are many).
	i, _ := slices.BinarySearch(a.ids, after)
	for _, id := range a.ids[i:] {
		if len(dst) >= limit {
			break
		}
		if id <= after {
			continue
		}
		o := m.Orders.get(id)
		if o == nil || o.Account != account || (market != 0 && o.Market != market) ||
			(status == 1 && o.done()) || (status == 2 && !o.done()) {
			continue
		}
		dst = append(dst, *o)
	}
	return dst
}

// openMarkets returns the markets where account has open orders or
// pending stops, ascending.
func (m *readModel) openMarkets(account uint64) []uint32 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	a := m.accts[account]
	if a == nil {
		return nil
	}
	var ms []uint32
	for _, id := range a.ids {
		if o := m.Orders.get(id); o != nil && o.Account == account && !o.done() && !slices.Contains(ms, o.Market) {
			ms = append(ms, o.Market)
		}
	}
	slices.Sort(ms)
	return ms
}

// fills appends to dst up to limit fills of account with trade id > after
// on market (0: any), and one more if the last is half of a self-trade
// (the account's order on each side: two fills, one trade id): pages
// follow each other by trade id, so they never split a trade.
func (m *readModel) fills(dst []fillRec, account uint64, market uint32, after uint64, limit int) []fillRec {
	m.mu.RLock()
	defer m.mu.RUnlock()
	a := m.accts[account]
	if a == nil {
		return dst
	}
	n := 0
	for _, f := range a.fills {
		if f.TradeID <= after || (market != 0 && f.Market != market) {
			continue
		}
		if n >= limit && (n == 0 || f.TradeID != dst[len(dst)-1].TradeID) {
			break
		}
		dst = append(dst, f)
		n++
	}
	return dst
}

// addFill appends a fill to account a's fills, dropping the oldest beyond
// keepFills, and logs both (the lock held).
func (m *readModel) addFill(a uint64, f fillRec) {
	h := m.acct(a)
	trim := m.keepFills > 0 && len(h.fills) >= m.keepFills
	if trim {
		// Reslicing drops the oldest without a copy. Once the window
		// reaches the end of its array, what is kept moves to the start
		// of fillBuf (2×keepFills, allocated once): readers copy fills
		// out under the lock, so nothing holds the old window.
		h.fills = h.fills[len(h.fills)-m.keepFills+1:]
		if len(h.fills) == cap(h.fills) {
			if cap(h.fillBuf) < 2*m.keepFills {
				h.fillBuf = make([]fillRec, 2*m.keepFills)
			}
			h.fills = h.fillBuf[:copy(h.fillBuf[:cap(h.fillBuf)], h.fills)]
		}
	}
	h.fills = append(h.fills, f)
	if trim && !h.fillTrimmed {
		// The store keeps what memory keeps: from the first fill kept,
		// logged when the change log is taken (logFillTrims).
		h.fillTrimmed = true
		m.fillTrimmed = append(m.fillTrimmed, a)
		m.chg.count(1)
	}
	m.chg.fills.add(acctFill{Account: a, fillRec: f})
	m.chg.count(1)
}

// logFillTrims logs, for each account whose fills were trimmed since the
// change log was last taken, the first fill it keeps (the lock held).
func (m *readModel) logFillTrims() {
	for _, a := range m.fillTrimmed {
		if h := m.accts[a]; h != nil && h.fillTrimmed {
			h.fillTrimmed = false
			if len(h.fills) > 0 {
				m.chg.fillTrims.add(acctFill{Account: a, fillRec: h.fills[0]})
			}
		}
	}
	m.fillTrimmed = m.fillTrimmed[:0]
}

// settle ends the application of result seq (the lock held): it logs a
// copy of every order the result touched, queues those that finished and
// trims the oldest done orders beyond keepOrders.
func (m *readModel) settle(seq uint64) {
	for _, id := range m.touched {
		o := m.Orders.get(id)
		if o == nil || o.logged == seq {
			continue
		}
		o.logged = seq
		m.chg.orders.add(*o)
		m.chg.count(1)
		if m.settled != nil {
			m.settled(o)
		}
		if o.done() && !o.queued {
			m.finish(o)
		}
	}
	m.touched = m.touched[:0]
}

// placed copies the order that place, cancel or amend result res left
// into out (the lock held, the result applied).
func (m *readModel) placed(res *engine.Result, out *placedOut) {
	out.found = false
	if res.Err != nil {
		return
	}
	if o := m.Orders.get(res.ID); o != nil {
		out.rec, out.found = *o, true
	}
}

// finish puts a done order into its account's done queue and trims the
// queue to keepOrders (the lock held).
//
// The queue is in (Updated, ID) order, the order index rebuilds it in
// after a restart, so that the same orders are kept whether or not the
// server restarted: the time alone does not order them, since the orders
// one result finishes, and those of the results of one engine batch,
// share a time. Finished orders almost always come last; the rest are
// moved into place from the end.
func (m *readModel) finish(o *orderRec) {
	o.queued = true
	a := m.acct(o.Account)
	i := len(a.done)
	for i > 0 && a.done[i-1].after(o) {
		i--
	}
	d := doneRef{ID: o.ID, Updated: o.Updated}
	a.done = append(a.done, d)
	if i < len(a.done)-1 {
		copy(a.done[i+1:], a.done[i:])
		a.done[i] = d
	}
	for m.keepOrders > 0 && len(a.done) > m.keepOrders {
		old := a.done[0].ID
		a.done = a.done[1:]
		m.Orders.del(old)
		a.dead++
		m.chg.orders.add(orderRec{ID: old, gone: true})
		m.chg.count(1)
	}
	if a.dead > 16 && a.dead > len(a.ids)/2 {
		ids := a.ids[:0]
		for _, id := range a.ids {
			if m.Orders.get(id) != nil {
				ids = append(ids, id)
			}
		}
		clear(a.ids[len(ids):])
		a.ids, a.dead = ids, 0
	}
}

// doneRef is an entry of a done queue: a done order's id and its time,
// which no longer changes, held with the id so that finish orders the
// queue without reading the records (cache misses).
type doneRef struct {
	ID      uint64
	Updated int64
}

// after reports whether the done order d comes after o in a done queue.
func (d doneRef) after(o *orderRec) bool {
	return cmp.Or(cmp.Compare(d.Updated, o.Updated), cmp.Compare(d.ID, o.ID)) > 0
}

// cmpDone orders done orders as a done queue holds them: by (Updated, ID).
func cmpDone(x, y *orderRec) int {
	return cmp.Or(cmp.Compare(x.Updated, y.Updated), cmp.Compare(x.ID, y.ID))
}
