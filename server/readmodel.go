package server

import (
	"bytes"
	"encoding/gob"
	"math"
	"slices"
	"sync"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
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
// quantities in lots, QuoteBudget in quote units (10^-8).
type orderRec struct {
	ID          uint64
	ClientID    string
	Account     uint64
	Market      uint32
	Side        book.Side
	Type        book.OrderType
	TIF         book.TimeInForce
	STP         book.STPMode
	PostOnly    bool
	Stop        bool // a stop that has not triggered
	Price       int64
	StopPrice   int64
	Qty         int64 // total quantity: filled + open (0: budget buy)
	QuoteBudget int64
	Filled      int64
	Notional    int64 // Σ price × qty of fills, steps × lots (saturating)
	Status      uint8
	Created     int64
	Updated     int64
}

func (o *orderRec) done() bool { return o.Status >= statusFilled }

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

// rmData is the persistent part of the read model.
type rmData struct {
	Seq       uint64
	Orders    map[uint64]*orderRec
	ByAccount map[uint64][]uint64 // order ids, ascending
	Fills     map[uint64][]fillRec
	// Markets holds each market's public trades and candles (mdata.go).
	Markets map[uint32]*marketData
}

// readModel is the order history and fills, built from the engine's
// results (Engine.Subscribe). apply runs on the engine's output goroutine
// before the submitter's Do returns, so a handler reads its own writes.
// It lives in memory and is saved to the metadata store on shutdown; see
// the package documentation for what a crash loses.
type readModel struct {
	mu sync.RWMutex
	rmData
	// pending holds the request details of orders being placed, by
	// Command.Tag: the engine's result does not carry the command.
	pmu     sync.Mutex
	pending map[uint64]*orderRec
}

// expect registers the details of the order placed with tag.
func (m *readModel) expect(tag uint64, meta *orderRec) {
	m.pmu.Lock()
	m.pending[tag] = meta
	m.pmu.Unlock()
}

// take removes and returns the details registered for tag.
func (m *readModel) take(tag uint64) *orderRec {
	m.pmu.Lock()
	meta := m.pending[tag]
	delete(m.pending, tag)
	m.pmu.Unlock()
	return meta
}

func newReadModel() *readModel {
	return &readModel{pending: map[uint64]*orderRec{}, rmData: rmData{Orders: map[uint64]*orderRec{},
		ByAccount: map[uint64][]uint64{}, Fills: map[uint64][]fillRec{}, Markets: map[uint32]*marketData{}}}
}

// encode returns the gob encoding of the read model and the sequence
// number it is current to. It holds the read lock meanwhile, so the
// engine's output waits: the cost grows with the history (see the package
// documentation).
//
// It holds the lock only to copy the data (a memory copy, milliseconds for
// a large history): the engine's output goroutine applies results under
// that lock, so encoding under it stalled every acknowledgement for as
// long as the encoding took (about 0.45 s seen under load).
func (m *readModel) encode() ([]byte, uint64, error) {
	m.mu.RLock()
	c := m.rmData.clone()
	m.mu.RUnlock()
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(&c)
	return buf.Bytes(), c.Seq, err
}

// clone returns a deep copy of d.
func (d *rmData) clone() rmData {
	c := rmData{Seq: d.Seq, Orders: make(map[uint64]*orderRec, len(d.Orders)),
		ByAccount: make(map[uint64][]uint64, len(d.ByAccount)), Fills: make(map[uint64][]fillRec, len(d.Fills)),
		Markets: make(map[uint32]*marketData, len(d.Markets))}
	recs := make([]orderRec, 0, len(d.Orders)) // one allocation; never grows, so pointers stay valid
	for id, o := range d.Orders {
		recs = append(recs, *o)
		c.Orders[id] = &recs[len(recs)-1]
	}
	for a, ids := range d.ByAccount {
		c.ByAccount[a] = slices.Clone(ids)
	}
	for a, f := range d.Fills {
		c.Fills[a] = slices.Clone(f)
	}
	for id, md := range d.Markets {
		cp := &marketData{Trades: slices.Clone(md.Trades), Next: md.Next}
		for i := range md.Candles {
			cp.Candles[i] = slices.Clone(md.Candles[i])
		}
		c.Markets[id] = cp
	}
	return c
}

// seq returns the sequence number of the last result applied.
func (m *readModel) seq() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.Seq
}

// decode replaces the read model's data.
func (m *readModel) decode(b []byte) error {
	d := rmData{}
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&d); err != nil {
		return err
	}
	if d.Orders == nil {
		d.Orders = map[uint64]*orderRec{}
	}
	if d.ByAccount == nil {
		d.ByAccount = map[uint64][]uint64{}
	}
	if d.Fills == nil {
		d.Fills = map[uint64][]fillRec{}
	}
	if d.Markets == nil {
		d.Markets = map[uint32]*marketData{}
	}
	m.mu.Lock()
	m.rmData = d
	m.mu.Unlock()
	return nil
}

// apply folds one engine result into the model.
func (m *readModel) apply(res *engine.Result) {
	var meta *orderRec
	if res.Kind == engine.CmdPlace {
		meta = m.take(res.Tag)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Seq = res.Seq
	if len(res.Events) == 0 {
		return
	}
	var takers [4]uint64 // orders that took in this command
	nt := 0
	for i := range res.Events {
		ev := &res.Events[i]
		switch ev.Kind {
		case book.EvAccepted:
			o := &orderRec{ID: ev.OrderID, Account: ev.Owner, Market: ev.Market, Side: ev.Side,
				Price: ev.Price, Qty: ev.Qty, Created: res.Time}
			if meta != nil && ev.OrderID == res.ID {
				o.ClientID, o.Type, o.TIF, o.STP, o.PostOnly = meta.ClientID, meta.Type, meta.TIF, meta.STP, meta.PostOnly
				o.StopPrice, o.QuoteBudget = meta.StopPrice, meta.QuoteBudget
				o.Stop = o.Type == book.StopMarket || o.Type == book.StopLimit
			}
			m.Orders[o.ID] = o
			m.ByAccount[o.Account] = append(m.ByAccount[o.Account], o.ID)
			if nt < len(takers) {
				takers[nt] = o.ID
				nt++
			}
		case book.EvTriggered:
			if o := m.Orders[ev.OrderID]; o != nil {
				o.Stop = false
				if nt < len(takers) {
					takers[nt] = o.ID
					nt++
				}
			}
		case book.EvTrade:
			tradeID := res.Seq<<16 | uint64(min(i, 1<<16-1))
			m.applyTrade(res, ev, tradeID)
			if o := m.Orders[ev.OrderID]; o != nil {
				o.fill(ev.Price, ev.Qty)
				if ev.Remaining == 0 && o.Qty > 0 {
					o.Status = statusFilled
				}
				m.Fills[o.Account] = append(m.Fills[o.Account], fillRec{TradeID: tradeID, OrderID: o.ID,
					Market: ev.Market, Side: o.Side, Price: ev.Price, Qty: ev.Qty, Fee: ev.TakerFee, Time: res.Time})
				o.Updated = res.Time
			}
			if o := m.Orders[ev.MakerID]; o != nil {
				o.fill(ev.Price, ev.Qty)
				if ev.MakerRemaining == 0 {
					o.Status = statusFilled
				}
				m.Fills[o.Account] = append(m.Fills[o.Account], fillRec{TradeID: tradeID, OrderID: o.ID,
					Market: ev.Market, Side: o.Side, Price: ev.Price, Qty: ev.Qty, Fee: ev.MakerFee, Maker: true, Time: res.Time})
				o.Updated = res.Time
			}
		case book.EvCancelled, book.EvExpired:
			if o := m.Orders[ev.OrderID]; o != nil {
				o.Status = statusCancelled
				if ev.Kind == book.EvExpired {
					o.Status = statusExpired
					if o.Qty == 0 && o.Filled > 0 {
						// A buy by quote budget that bought what it
						// could: the rest is less than a lot's price.
						o.Status = statusFilled
					}
				}
				o.Stop = false
				o.Updated = res.Time
			}
		case book.EvAmended:
			if o := m.Orders[ev.OrderID]; o != nil {
				o.Price = ev.Price
				o.Qty = o.Filled + ev.Qty
				o.Updated = res.Time
			}
		}
	}
	// Market orders that used up their budget or quantity end without an
	// event of their own.
	for _, id := range takers[:nt] {
		o := m.Orders[id]
		if o == nil || o.done() || o.Stop || (o.Type != book.Market && o.Type != book.StopMarket) {
			continue
		}
		if o.Filled > 0 {
			o.Status = statusFilled
		} else {
			o.Status = statusExpired
		}
		o.Updated = res.Time
	}
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
	o := m.Orders[id]
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
	for _, id := range m.ByAccount[account] {
		if len(dst) >= limit {
			break
		}
		if id <= after {
			continue
		}
		o := m.Orders[id]
		if o == nil || (market != 0 && o.Market != market) ||
			(status == 1 && o.done()) || (status == 2 && !o.done()) {
			continue
		}
		dst = append(dst, *o)
	}
	return dst
}

// fills appends to dst up to limit fills of account with trade id > after
// on market (0: any).
func (m *readModel) fills(dst []fillRec, account uint64, market uint32, after uint64, limit int) []fillRec {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, f := range m.Fills[account] {
		if len(dst) >= limit {
			break
		}
		if f.TradeID <= after || (market != 0 && f.Market != market) {
			continue
		}
		dst = append(dst, f)
	}
	return dst
}
