package server

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fasthttp"
)

// Public market data: recent trades and candles per market, part of the
// read model (readModel.Markets), so they are saved, restored and rebuilt
// after a crash with it. Both are bounded.
const (
	// maxTrades is how many recent trades a market keeps.
	maxTrades = 10000
	// maxCandles is how many candles a market keeps per interval
	// (2000 one-minute candles always cover the ticker's 24 hours).
	maxCandles = 2000
)

// Candle intervals, in the order of marketData.Candles.
var intervals = [...]struct {
	name string
	ns   int64
}{
	{"1m", int64(time.Minute)},
	{"5m", 5 * int64(time.Minute)},
	{"1h", int64(time.Hour)},
	{"1d", 24 * int64(time.Hour)},
}

const numIntervals = len(intervals)

// tradeRec is one public trade. Price is in steps, Qty in lots; Side is
// the taker's.
type tradeRec struct {
	ID    uint64
	Price int64
	Qty   int64
	Side  book.Side
	Time  int64
}

// candle is the OHLCV of one interval that had trades. Prices are in
// steps, Volume in lots, QuoteVolume in steps × lots (exact sums, in 128
// bits).
type candle struct {
	Start                  int64 // Unix ns, a multiple of the interval
	Open, High, Low, Close int64
	Volume                 vol
	QuoteVolume            vol
	Trades                 int64
}

// marketData is one market's trades and candles.
type marketData struct {
	// Trades is a ring of the last maxTrades trades: Next is where the
	// next one goes (its length while it is not full).
	Trades  []tradeRec
	Next    int
	Candles [numIntervals][]candle // oldest first

	// seq is the sequence number of the result of the newest trade, or 0
	// for one read from the store (in memory only): the ticker compares
	// it with the book view's (getTicker).
	seq uint64
	// dirty: the market had trades since the change log was last taken,
	// and is in readModel.dirtyMarkets; dirtyFrom is, per interval, the
	// start of the first candle they changed.
	dirty     bool
	dirtyFrom [numIntervals]int64
}

// addTrade folds a trade into the market's data.
func (d *marketData) addTrade(t tradeRec) {
	if len(d.Trades) < maxTrades {
		d.Trades = append(d.Trades, t)
		d.Next = len(d.Trades) % maxTrades
	} else {
		d.Next %= len(d.Trades)
		d.Trades[d.Next] = t
		d.Next = (d.Next + 1) % len(d.Trades)
	}
	notional := mulVol(t.Price, t.Qty)
	for i, iv := range intervals {
		start := t.Time - t.Time%iv.ns
		if t.Time < 0 && t.Time%iv.ns != 0 {
			start -= iv.ns
		}
		cs := d.Candles[i]
		if n := len(cs); n > 0 && start <= cs[n-1].Start {
			// The same interval (or a clock step back: the last one).
			c := &cs[n-1]
			c.High, c.Low, c.Close = max(c.High, t.Price), min(c.Low, t.Price), t.Price
			c.Volume = c.Volume.add(volOf(t.Qty))
			c.QuoteVolume = c.QuoteVolume.add(notional)
			c.Trades++
			continue
		}
		if len(cs) >= maxCandles {
			cs = cs[:copy(cs, cs[len(cs)-maxCandles+1:])]
		}
		d.Candles[i] = append(cs, candle{Start: start, Open: t.Price, High: t.Price, Low: t.Price,
			Close: t.Price, Volume: volOf(t.Qty), QuoteVolume: notional, Trades: 1})
	}
}

// recent appends to dst up to limit trades, newest first.
func (d *marketData) recent(dst []tradeRec, limit int) []tradeRec {
	n := len(d.Trades)
	next := d.Next
	if n < maxTrades {
		next = n
	}
	for k := 0; k < n && k < limit; k++ {
		dst = append(dst, d.Trades[((next-1-k)%n+n)%n])
	}
	return dst
}

// last returns the newest trade.
func (d *marketData) last() (tradeRec, bool) {
	t := d.recent(nil, 1)
	if len(t) == 0 {
		return tradeRec{}, false
	}
	return t[0], true
}

// applyTrade records a trade event of res (the read model's lock held).
func (m *readModel) applyTrade(res *engine.Result, ev *engine.Event, tradeID uint64) {
	if m.Markets == nil {
		m.Markets = map[uint32]*marketData{}
	}
	d := m.Markets[ev.Market]
	if d == nil {
		d = &marketData{}
		m.Markets[ev.Market] = d
	}
	// What addTrade pushes out, for the change log: the store keeps what
	// memory keeps, so the change log records the first trade and candles
	// still kept when older ones go.
	full := len(d.Trades) >= maxTrades
	var first [numIntervals]int64
	var had [numIntervals]bool
	for i, cs := range d.Candles {
		if len(cs) >= maxCandles {
			first[i], had[i] = cs[0].Start, true
		}
	}
	t := tradeRec{ID: tradeID, Price: ev.Price, Qty: ev.Qty, Side: ev.Side, Time: res.Time}
	d.addTrade(t)
	d.seq = res.Seq
	c := m.chg
	c.trades.add(mktTrade{Market: ev.Market, tradeRec: t})
	if full {
		c.tradeTrims.add(mktTrade{Market: ev.Market, tradeRec: d.Trades[d.Next%len(d.Trades)]})
	}
	if !d.dirty {
		// The candles this trade changed, the last of each interval, and
		// any after them are logged when the change log is taken
		// (logCandles): one copy of each, not one per trade.
		d.dirty = true
		for i, cs := range d.Candles {
			d.dirtyFrom[i] = cs[len(cs)-1].Start
		}
		m.dirtyMarkets = append(m.dirtyMarkets, ev.Market)
		c.count(numIntervals)
	}
	for i, cs := range d.Candles {
		if had[i] && cs[0].Start != first[i] {
			c.candleTrims.add(mktCandle{Market: ev.Market, Interval: uint8(i), candle: candle{Start: cs[0].Start}})
		}
	}
	c.count(2)
}

// logCandles logs a copy of every candle that changed since the change
// log was last taken (the lock held): those of each market with trades
// since, from the first candle each interval changed.
func (m *readModel) logCandles() {
	for _, mk := range m.dirtyMarkets {
		d := m.Markets[mk]
		if d == nil || !d.dirty {
			continue
		}
		d.dirty = false
		for i, cs := range d.Candles {
			j, _ := slices.BinarySearchFunc(cs, d.dirtyFrom[i], func(c candle, s int64) int { return cmp.Compare(c.Start, s) })
			for ; j < len(cs); j++ {
				m.chg.candles.add(mktCandle{Market: mk, Interval: uint8(i), candle: cs[j]})
			}
		}
	}
	m.dirtyMarkets = m.dirtyMarkets[:0]
}

// trades appends to dst up to limit recent trades of market, newest first.
func (m *readModel) trades(dst []tradeRec, market uint32, limit int) []tradeRec {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if d := m.Markets[market]; d != nil {
		dst = d.recent(dst, limit)
	}
	return dst
}

// candles appends to dst the last limit candles of market and interval
// iv, oldest first.
func (m *readModel) candles(dst []candle, market uint32, iv, limit int) []candle {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if d := m.Markets[market]; d != nil {
		cs := d.Candles[iv]
		dst = append(dst, cs[max(len(cs)-limit, 0):]...)
	}
	return dst
}

// stats24 is a ticker's summary of the last 24 hours.
type stats24 struct {
	now         int64 // the end of the 24 hours
	last        tradeRec
	any         bool // a trade ever
	n           int64
	open        int64
	high, low   int64
	volume      vol
	quoteVolume vol
	// seq is the market's marketData.seq.
	seq uint64
}

// stats returns the 24-hour statistics of market up to the later of now
// and its last trade: the one-minute candles that start after that − 24 h.
func (m *readModel) stats(market uint32, now int64) stats24 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st := stats24{now: now}
	d := m.Markets[market]
	if d == nil {
		return st
	}
	st.last, st.any = d.last()
	st.seq = d.seq
	if st.any {
		st.now = max(now, st.last.Time)
	}
	from := st.now - 24*int64(time.Hour)
	for _, c := range d.Candles[0] {
		if c.Start <= from {
			continue
		}
		if st.n == 0 {
			st.open, st.high, st.low = c.Open, c.High, c.Low
		}
		st.high, st.low = max(st.high, c.High), min(st.low, c.Low)
		st.volume = st.volume.add(c.Volume)
		st.quoteVolume = st.quoteVolume.add(c.QuoteVolume)
		st.n += c.Trades
	}
	return st
}

// getTrades handles GET /v1/markets/{symbol}/trades?limit=.
func (s *Server) getTrades(ctx *fasthttp.RequestCtx, sym string) {
	m, ok := s.marketByName([]byte(sym))
	if !ok {
		writeError(ctx, fmt.Errorf("%w: market %q", errNotFound, sym))
		return
	}
	limit, err := queryLimit(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	ts := s.rm.trades(make([]tradeRec, 0, min(limit, 128)), m.id, limit)
	b := make([]byte, 0, 64+len(ts)*128)
	b = appendString(append(b, `{"market":`...), m.name)
	b = append(appendKey(b, "trades", false), '[')
	for i := range ts {
		t := &ts[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTrade(b, m, t.ID, t.Price, t.Qty, t.Side, t.Time)
	}
	writeJSON(ctx, 200, append(b, "]}"...))
}

// getCandles handles GET /v1/markets/{symbol}/candles?interval=&limit=.
func (s *Server) getCandles(ctx *fasthttp.RequestCtx, sym string) {
	m, ok := s.marketByName([]byte(sym))
	if !ok {
		writeError(ctx, fmt.Errorf("%w: market %q", errNotFound, sym))
		return
	}
	iv := -1
	name := string(ctx.QueryArgs().Peek("interval"))
	for i := range intervals {
		if intervals[i].name == name {
			iv = i
		}
	}
	if iv < 0 {
		writeError(ctx, fmt.Errorf("%w: interval must be 1m, 5m, 1h or 1d", errInvalid))
		return
	}
	limit, err := queryLimit(ctx)
	if err != nil {
		writeError(ctx, err)
		return
	}
	cs := s.rm.candles(make([]candle, 0, min(limit, 128)), m.id, iv, limit)
	b := make([]byte, 0, 64+len(cs)*256)
	b = appendString(append(b, `{"market":`...), m.name)
	b = appendStr(b, "interval", name)
	b = append(appendKey(b, "candles", false), '[')
	for i := range cs {
		c := &cs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRFC3339(append(b, `{"start":"`...), c.Start)
		b = append(b, '"')
		b = appendPriceField(b, "open", c.Open, m.u)
		b = appendPriceField(b, "high", c.High, m.u)
		b = appendPriceField(b, "low", c.Low, m.u)
		b = appendPriceField(b, "close", c.Close, m.u)
		b = append(appendKey(b, "volume", false), '"')
		b = append(appendScaledVol(b, c.Volume, m.u.lot8), '"')
		b = append(appendKey(b, "quote_volume", false), '"')
		b = append(appendScaledVol(b, c.QuoteVolume, m.u.qs), '"')
		b = appendInt(b, "trades", c.Trades)
		b = append(b, '}')
	}
	writeJSON(ctx, 200, append(b, "]}"...))
}

// tickerTries is how many times getTicker reads the book view and the
// statistics before it answers with a view older than the newest trade.
const tickerTries = 3

// getTicker handles GET /v1/markets/{symbol}/ticker: the last trade, the
// best bid and ask of the latest view, and the statistics of the 24 hours
// before the later of the server's clock and the last trade's time, all
// as of the view's sequence number, which it answers.
//
// The statistics come from the read model, which the engine updates
// before it publishes the views of the same commands, so the read model
// is never behind the view. The ticker waits (up to RequestTimeout) for
// the views to show every command acknowledged so far, then reads the
// view and after it the statistics: if the market's newest trade is not
// after the view's sequence number, both are as of that sequence number.
// Else it waits for the views to show that trade and reads both again, up
// to tickerTries times: under a constant stream of trades in the market
// the last answer may count trades its book does not show yet.
func (s *Server) getTicker(ctx *fasthttp.RequestCtx, sym string) {
	m, ok := s.marketByName([]byte(sym))
	if !ok {
		writeError(ctx, fmt.Errorf("%w: market %q", errNotFound, sym))
		return
	}
	clock := time.Now().UnixNano()
	_ = s.waitViews() // on a timeout, the latest view as it is
	var v *engine.MarketView
	var hasView bool
	var st stats24
	for try := 1; ; try++ {
		v, hasView = s.eng.Market(m.id)
		st = s.rm.stats(m.id, clock)
		if !hasView || st.seq <= v.Seq || try == tickerTries {
			break
		}
		s.waitSeq(st.seq)
	}
	now := st.now
	var arr [1024]byte
	b := appendString(append(arr[:0], `{"market":`...), m.name)
	var seq uint64
	last := int64(0)
	if hasView {
		seq, last = v.Seq, v.Last
	}
	if st.any {
		last = st.last.Price
	}
	b = appendUint(b, "sequence", seq)
	b = appendOptPrice(b, "last", last, last > 0, m.u)
	if st.any {
		b = appendTime(b, "last_time", st.last.Time)
	} else {
		b = append(appendKey(b, "last_time", false), "null"...)
	}
	var bid, ask book.Level
	if hasView && len(v.Bids) > 0 {
		bid = v.Bids[0]
	}
	if hasView && len(v.Asks) > 0 {
		ask = v.Asks[0]
	}
	b = appendOptPrice(b, "best_bid", bid.Price, bid.Qty > 0, m.u)
	b = appendOptQty(b, "best_bid_quantity", bid.Qty, bid.Qty > 0, m.u)
	b = appendOptPrice(b, "best_ask", ask.Price, ask.Qty > 0, m.u)
	b = appendOptQty(b, "best_ask_quantity", ask.Qty, ask.Qty > 0, m.u)
	has := st.n > 0
	b = appendOptPrice(b, "open_24h", st.open, has, m.u)
	b = appendOptPrice(b, "high_24h", st.high, has, m.u)
	b = appendOptPrice(b, "low_24h", st.low, has, m.u)
	b = append(appendKey(b, "volume_24h", false), '"')
	b = append(appendScaledVol(b, st.volume, m.u.lot8), '"')
	b = append(appendKey(b, "quote_volume_24h", false), '"')
	b = append(appendScaledVol(b, st.quoteVolume, m.u.qs), '"')
	b = appendInt(b, "trades_24h", st.n)
	b = appendTime(b, "time", now)
	writeJSON(ctx, 200, append(b, '}'))
}

// appendOptPrice appends a price field, or null unless ok.
func appendOptPrice(b []byte, key string, steps int64, ok bool, u units) []byte {
	if !ok {
		return append(appendKey(b, key, false), "null"...)
	}
	return appendPriceField(b, key, steps, u)
}

// appendOptQty appends a quantity field, or null unless ok.
func appendOptQty(b []byte, key string, lots int64, ok bool, u units) []byte {
	if !ok {
		return append(appendKey(b, key, false), "null"...)
	}
	return appendQtyField(b, key, lots, u)
}

// appendTrade appends one public trade as JSON, as served by
// /v1/markets/{symbol}/trades and the trades stream channel.
func appendTrade(b []byte, m *mkt, id uint64, price, qty int64, side book.Side, t int64) []byte {
	b = strconvUint(append(b, `{"id":`...), id)
	b = appendPriceField(b, "price", price, m.u)
	b = appendQtyField(b, "quantity", qty, m.u)
	b = appendStr(b, "side", sideNames[side&1])
	b = appendTime(b, "time", t)
	return append(b, '}')
}
