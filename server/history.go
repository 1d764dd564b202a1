package server

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// Incremental persistence of the read model.
//
// Every change apply makes is also appended, as a copy, to a change log
// (readModel.chg): orders (a tombstone when one is trimmed), fills,
// trades, candles, and the first fill, trade or candle still kept when
// older ones are trimmed. Saving swaps the log for an empty one under the
// read model's lock (a pointer swap, so the engine's output is never held
// up by the size of the history) and then, without the lock, encodes what
// the log holds into one Pebble batch together with the sequence number
// the log is current to. The store thus always holds the read model as of
// a result, like the old whole-history save, but a save costs what
// changed, not what is kept.
//
// Keys (all under "rm/"; big endian):
//
//	"rm/seq"                               sequence number of the saved history
//	"rm/o/" order(8)                       orderRec (appendOrder)
//	"rm/f/" account(8) trade(8) maker(1)   fillRec (appendFill)
//	"rm/t/" market(4) trade(8)             tradeRec (appendTradeRec)
//	"rm/c/" market(4) interval(1) start(8) candle (appendCandle); start with its sign bit flipped
//
// Trims are range deletions from the start of the account's (market's)
// keys up to the first one kept. A store written by an older istd holds
// the history as one gob value under "rm"; it is read once and rewritten
// as above by the first save (legacy).

// maxUnsaved is the size of the change log (in entries) past which the
// saver runs without waiting for HistoryInterval, which bounds its memory.
const maxUnsaved = 1 << 16

// chunkLen is the length of the change log's chunks: the log grows by
// chunks, never copying what it holds.
const chunkLen = 1024

// chunks is an append-only list of values in fixed-size chunks, taken
// from pool (if set).
type chunks[T any] struct {
	cs   [][]T
	pool *chunkPool[T]
}

func (c *chunks[T]) add(v T) {
	if n := len(c.cs); n == 0 || len(c.cs[n-1]) == chunkLen {
		c.cs = append(c.cs, c.pool.get())
	}
	last := &c.cs[len(c.cs)-1]
	*last = append(*last, v)
}

// release gives the chunks back to the pool; c is empty after.
func (c *chunks[T]) release() {
	c.pool.put(c.cs)
	c.cs = nil
}

// chunkPool recycles the chunks of saved change logs: the saver gives them
// back once written, and later change logs reuse them, so that the history
// does not make garbage at the rate of the trading (the values hold no
// pointers, so a reused chunk is simply overwritten). It keeps at most a
// full change log's worth.
type chunkPool[T any] struct {
	mu   sync.Mutex
	free [][]T
}

// get returns an empty chunk; p may be nil.
func (p *chunkPool[T]) get() []T {
	if p != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		if n := len(p.free); n > 0 {
			c := p.free[n-1]
			p.free = p.free[:n-1]
			return c[:0]
		}
	}
	return make([]T, 0, chunkLen)
}

// put keeps cs for reuse; p may be nil.
func (p *chunkPool[T]) put(cs [][]T) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		if len(p.free) >= maxUnsaved/chunkLen {
			return
		}
		p.free = append(p.free, c)
	}
}

// changePools are the chunk pools of a read model's change logs.
type changePools struct {
	orders  chunkPool[orderRec]
	fills   chunkPool[acctFill]
	trades  chunkPool[mktTrade]
	candles chunkPool[mktCandle]
}

// newChanges returns an empty change log drawing on p, which tells full
// once it grows past maxUnsaved entries.
func newChanges(full chan<- struct{}, p *changePools) *changes {
	c := &changes{full: full}
	c.orders.pool = &p.orders
	c.fills.pool, c.fillTrims.pool = &p.fills, &p.fills
	c.trades.pool, c.tradeTrims.pool = &p.trades, &p.trades
	c.candles.pool, c.candleTrims.pool = &p.candles, &p.candles
	return c
}

// release gives the chunks of a saved change log back to their pools;
// nothing may read c after.
func (c *changes) release() {
	c.orders.release()
	c.fills.release()
	c.fillTrims.release()
	c.trades.release()
	c.tradeTrims.release()
	c.candles.release()
	c.candleTrims.release()
}

// each calls f on every value, oldest first.
func (c *chunks[T]) each(f func(*T)) {
	for _, ch := range c.cs {
		for i := range ch {
			f(&ch[i])
		}
	}
}

// prepend puts the values of old before those of c.
func (c *chunks[T]) prepend(old *chunks[T]) { c.cs = append(old.cs, c.cs...) }

// acctFill is a fill with its account.
type acctFill struct {
	Account uint64
	fillRec
}

// mktTrade is a trade with its market.
type mktTrade struct {
	Market uint32
	tradeRec
}

// mktCandle is a candle with its market and interval.
type mktCandle struct {
	Market   uint32
	Interval uint8
	candle
}

// changes is the change log of the read model: copies of what changed
// since the last save, owned by the read model until taken (then by the
// saver, read-only).
type changes struct {
	orders      chunks[orderRec] // copies after a change, or tombstones (gone)
	fills       chunks[acctFill]
	fillTrims   chunks[acctFill] // the first fill an account keeps
	trades      chunks[mktTrade]
	tradeTrims  chunks[mktTrade]  // the first trade a market keeps
	candles     chunks[mktCandle] // copies after a change
	candleTrims chunks[mktCandle] // the first candle an interval keeps
	n           int               // about the number of entries
	full        chan<- struct{}   // the read model's: told once n reaches maxUnsaved
	signaled    bool              // full was told
}

// count adds k entries and, past maxUnsaved, asks the saver to run.
func (c *changes) count(k int) {
	c.n += k
	if c.n >= maxUnsaved && !c.signaled {
		c.signaled = true
		select {
		case c.full <- struct{}{}:
		default:
		}
	}
}

// takeChanges returns the change log and the sequence number it is
// current to, and starts an empty one.
func (m *readModel) takeChanges() (*changes, uint64) {
	m.mu.Lock()
	c, seq := m.chg, m.Seq
	m.chg = newChanges(m.full, &m.pools)
	m.mu.Unlock()
	return c, seq
}

// putBack returns a change log that could not be saved, to be saved
// with the next.
func (m *readModel) putBack(c *changes) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.chg
	n.orders.prepend(&c.orders)
	n.fills.prepend(&c.fills)
	n.fillTrims.prepend(&c.fillTrims)
	n.trades.prepend(&c.trades)
	n.tradeTrims.prepend(&c.tradeTrims)
	n.candles.prepend(&c.candles)
	n.candleTrims.prepend(&c.candleTrims)
	n.n += c.n
}

// Key prefixes.
var (
	keySeq       = []byte("rm/seq")
	keyLegacy    = []byte("rm")
	prefixOrder  = []byte("rm/o/")
	prefixFill   = []byte("rm/f/")
	prefixTrade  = []byte("rm/t/")
	prefixCandle = []byte("rm/c/")
)

func orderKey(b []byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, prefixOrder...), id)
}

func fillPrefix(b []byte, account uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, prefixFill...), account)
}

func fillKey(b []byte, account uint64, f *fillRec) []byte {
	b = binary.BigEndian.AppendUint64(fillPrefix(b, account), f.TradeID)
	if f.Maker {
		return append(b, 1)
	}
	return append(b, 0)
}

func tradePrefix(b []byte, market uint32) []byte {
	return binary.BigEndian.AppendUint32(append(b, prefixTrade...), market)
}

func tradeKey(b []byte, market uint32, id uint64) []byte {
	return binary.BigEndian.AppendUint64(tradePrefix(b, market), id)
}

func candlePrefix(b []byte, market uint32, iv uint8) []byte {
	return append(binary.BigEndian.AppendUint32(append(b, prefixCandle...), market), iv)
}

func candleKey(b []byte, market uint32, iv uint8, start int64) []byte {
	return binary.BigEndian.AppendUint64(candlePrefix(b, market, iv), uint64(start)^1<<63)
}

// maxRetainedSaveBytes bounds the buffer the save batch keeps between
// saves: a full change log (maxUnsaved changes) takes about 6 MB.
const maxRetainedSaveBytes = 16 << 20

// lastOrders returns the last copy of each order in c, by ascending id.
// Sorting the copies by id (and by position within an id) puts each
// order's copies together, last last, and gives Pebble ascending keys: an
// insert next to the one before it is the cheap one in its memtable. The
// sort is of (id, position) packed into a uint64 while both fit (ids are
// the engine's, counted from 1), else of posOrder values. The result is
// scratch of st, valid until the next call.
func (st *store) lastOrders(c *changes) []*orderRec {
	ptrs, keys, packed := st.ptrs[:0], st.keys[:0], true
	c.orders.each(func(o *orderRec) {
		p := uint64(len(ptrs))
		if o.ID >= 1<<(64-posBits) || p >= 1<<posBits {
			packed = false
		}
		keys = append(keys, o.ID<<posBits|p)
		ptrs = append(ptrs, o)
	})
	out := st.last[:0]
	if packed {
		slices.Sort(keys)
		for i, k := range keys {
			if i+1 < len(keys) && keys[i+1]>>posBits == k>>posBits {
				continue // a later copy follows
			}
			out = append(out, ptrs[k&(1<<posBits-1)])
		}
	} else {
		orders := make([]posOrder, len(ptrs))
		for i, o := range ptrs {
			orders[i] = posOrder{o.ID, uint32(i), o}
		}
		slices.SortFunc(orders, func(a, b posOrder) int {
			if a.id != b.id {
				return cmp.Compare(a.id, b.id)
			}
			return cmp.Compare(a.pos, b.pos)
		})
		for i := range orders {
			if i+1 < len(orders) && orders[i+1].id == orders[i].id {
				continue
			}
			out = append(out, orders[i].o)
		}
	}
	clear(ptrs)
	st.ptrs, st.keys, st.last = ptrs[:0], keys[:0], out
	return out
}

// posBits is the bits of a change log position in lastOrders' packed keys.
const posBits = 24

// posOrder is an order copy of a change log with its id and position.
type posOrder struct {
	id  uint64
	pos uint32
	o   *orderRec
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// writeChanges encodes c into a batch of the store, with seq, and commits
// it (Sync). It only reads c.
func (st *store) writeChanges(c *changes, seq uint64, legacy bool) error {
	// One batch serves every save, keeping its buffer: a fresh one per save
	// was a fifth of istd's garbage under a stream of batch orders.
	if st.batch == nil {
		st.batch = st.db.NewBatch(pebble.WithMaxRetainedSizeBytes(maxRetainedSaveBytes))
	}
	b := st.batch
	b.Reset()
	defer b.Reset()
	var k, v []byte
	// Orders: the last copy of each wins, in key order (lastOrders).
	last := st.lastOrders(c)
	for _, o := range last {
		k = orderKey(k[:0], o.ID)
		if o.gone {
			_ = b.Delete(k, nil)
			continue
		}
		v = appendOrder(v[:0], o)
		_ = b.Set(k, v, nil)
	}
	clear(last) // no pointers into c's chunks stay behind
	// Fills and trades: each is written once; trims come after, so that
	// they also remove what was added and trimmed since the last save.
	// Fills arrive in trade order, spread over accounts; in key order
	// (account, trade) they are cheaper to insert.
	fills := st.fills[:0]
	c.fills.each(func(f *acctFill) { fills = append(fills, f) })
	defer func() { clear(fills); st.fills = fills[:0] }()
	slices.SortFunc(fills, func(a, b *acctFill) int {
		if a.Account != b.Account {
			return cmp.Compare(a.Account, b.Account)
		}
		if a.TradeID != b.TradeID {
			return cmp.Compare(a.TradeID, b.TradeID)
		}
		return cmp.Compare(b2i(a.Maker), b2i(b.Maker))
	})
	for _, f := range fills {
		k = fillKey(k[:0], f.Account, &f.fillRec)
		_ = b.Set(k, appendFill(v[:0], &f.fillRec), nil)
	}
	fillFrom := map[uint64]*acctFill{}
	c.fillTrims.each(func(f *acctFill) { fillFrom[f.Account] = f })
	for a, f := range fillFrom {
		_ = b.DeleteRange(fillPrefix(nil, a), fillKey(nil, a, &f.fillRec), nil)
	}
	c.trades.each(func(t *mktTrade) {
		k = tradeKey(k[:0], t.Market, t.ID)
		_ = b.Set(k, appendTradeRec(v[:0], &t.tradeRec), nil)
	})
	tradeFrom := map[uint32]uint64{}
	c.tradeTrims.each(func(t *mktTrade) { tradeFrom[t.Market] = t.ID })
	for mk, id := range tradeFrom {
		_ = b.DeleteRange(tradePrefix(nil, mk), tradeKey(nil, mk, id), nil)
	}
	// Candles: the last copy of each wins.
	type ck struct {
		market uint32
		iv     uint8
		start  int64
	}
	candles := map[ck]*candle{}
	c.candles.each(func(x *mktCandle) { candles[ck{x.Market, x.Interval, x.Start}] = &x.candle })
	for key, x := range candles {
		k = candleKey(k[:0], key.market, key.iv, key.start)
		_ = b.Set(k, appendCandle(v[:0], x), nil)
	}
	candleFrom := map[ck]int64{}
	c.candleTrims.each(func(x *mktCandle) { candleFrom[ck{x.Market, x.Interval, 0}] = x.Start })
	for key, start := range candleFrom {
		_ = b.DeleteRange(candlePrefix(nil, key.market, key.iv), candleKey(nil, key.market, key.iv, start), nil)
	}
	_ = b.Set(keySeq, binary.BigEndian.AppendUint64(nil, seq), nil)
	if legacy {
		_ = b.Delete(keyLegacy, nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("server: save order history: %w", err)
	}
	return nil
}

// Value encodings: a version byte, then varints.

const historyVersion = 1

func appendOrder(b []byte, o *orderRec) []byte {
	var flags byte
	if o.PostOnly {
		flags |= 1
	}
	if o.Stop {
		flags |= 2
	}
	b = append(b, historyVersion, byte(o.Side), byte(o.Type), byte(o.TIF), byte(o.STP), flags, o.Status)
	b = binary.AppendUvarint(b, o.Account)
	b = binary.AppendUvarint(b, uint64(o.Market))
	for _, x := range [...]int64{o.Price, o.StopPrice, o.Qty, o.QuoteBudget, o.Filled, o.Notional, o.Created, o.Updated} {
		b = binary.AppendVarint(b, x)
	}
	id := o.clientID()
	b = binary.AppendUvarint(b, uint64(len(id)))
	return append(b, id...)
}

func appendFill(b []byte, f *fillRec) []byte {
	b = append(b, historyVersion, byte(f.Side))
	b = binary.AppendUvarint(b, f.OrderID)
	b = binary.AppendUvarint(b, uint64(f.Market))
	for _, x := range [...]int64{f.Price, f.Qty, f.Fee, f.Time} {
		b = binary.AppendVarint(b, x)
	}
	return b
}

func appendTradeRec(b []byte, t *tradeRec) []byte {
	b = append(b, historyVersion, byte(t.Side))
	for _, x := range [...]int64{t.Price, t.Qty, t.Time} {
		b = binary.AppendVarint(b, x)
	}
	return b
}

func appendCandle(b []byte, c *candle) []byte {
	b = append(b, historyVersion)
	for _, x := range [...]int64{c.Open, c.High, c.Low, c.Close, c.Volume, c.QuoteVolume, c.Trades} {
		b = binary.AppendVarint(b, x)
	}
	return b
}

// errHistoryRecord is returned for a history record that does not decode.
var errHistoryRecord = errors.New("server: bad order history record")

// dec reads what the append functions wrote; a short or bad input sets
// bad.
type dec struct {
	b   []byte
	bad bool
}

func (d *dec) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *dec) uvarint() uint64 {
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *dec) varint() int64 {
	x, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return x
}

// version checks the leading version byte.
func (d *dec) version() {
	if d.byte() != historyVersion {
		d.bad = true
	}
}

func decodeOrderRec(id uint64, b []byte) (orderRec, error) {
	d := dec{b: b}
	d.version()
	o := orderRec{ID: id, Side: book.Side(d.byte()), Type: book.OrderType(d.byte()), TIF: book.TimeInForce(d.byte()),
		STP: book.STPMode(d.byte())}
	flags := d.byte()
	o.PostOnly, o.Stop = flags&1 != 0, flags&2 != 0
	o.Status = d.byte()
	o.Account = d.uvarint()
	o.Market = uint32(d.uvarint())
	for _, p := range [...]*int64{&o.Price, &o.StopPrice, &o.Qty, &o.QuoteBudget, &o.Filled, &o.Notional, &o.Created, &o.Updated} {
		*p = d.varint()
	}
	n := d.uvarint()
	if d.bad || id == 0 || n != uint64(len(d.b)) || n > uint64(len(o.ClientID)) || bytes.IndexByte(d.b, 0) >= 0 ||
		o.Status >= uint8(len(statusNames)) {
		return orderRec{}, fmt.Errorf("%w: order %d", errHistoryRecord, id)
	}
	copy(o.ClientID[:], d.b)
	return o, nil
}

func decodeFillRec(tradeID uint64, maker bool, b []byte) (fillRec, error) {
	d := dec{b: b}
	d.version()
	f := fillRec{TradeID: tradeID, Maker: maker, Side: book.Side(d.byte())}
	f.OrderID = d.uvarint()
	f.Market = uint32(d.uvarint())
	for _, p := range [...]*int64{&f.Price, &f.Qty, &f.Fee, &f.Time} {
		*p = d.varint()
	}
	if d.bad || len(d.b) != 0 {
		return f, fmt.Errorf("%w: fill %d", errHistoryRecord, tradeID)
	}
	return f, nil
}

func decodeTradeRecord(id uint64, b []byte) (tradeRec, error) {
	d := dec{b: b}
	d.version()
	t := tradeRec{ID: id, Side: book.Side(d.byte())}
	for _, p := range [...]*int64{&t.Price, &t.Qty, &t.Time} {
		*p = d.varint()
	}
	if d.bad || len(d.b) != 0 {
		return t, fmt.Errorf("%w: trade %d", errHistoryRecord, id)
	}
	return t, nil
}

func decodeCandleRec(start int64, b []byte) (candle, error) {
	d := dec{b: b}
	d.version()
	c := candle{Start: start}
	for _, p := range [...]*int64{&c.Open, &c.High, &c.Low, &c.Close, &c.Volume, &c.QuoteVolume, &c.Trades} {
		*p = d.varint()
	}
	if d.bad || len(d.b) != 0 {
		return c, fmt.Errorf("%w: candle %d", errHistoryRecord, start)
	}
	return c, nil
}

// loadHistory reads the read model from the store into an empty m. It
// reports whether the store held the old whole-history value (legacy),
// in which case everything read is in m's change log, so that the next
// save rewrites it incrementally.
func (m *readModel) loadHistory(st *store) (legacy bool, err error) {
	b, err := st.get(keyLegacy)
	if err != nil {
		return false, err
	}
	if b != nil {
		if err := m.decodeLegacy(b); err != nil {
			return true, err
		}
	}
	if err := m.loadKeys(st); err != nil {
		return b != nil, err
	}
	m.index(b != nil)
	return b != nil, nil
}

// loadKeys reads the "rm/" keys.
func (m *readModel) loadKeys(st *store) error {
	it, err := st.db.NewIter(&pebble.IterOptions{LowerBound: []byte("rm/"), UpperBound: []byte("rm0")})
	if err != nil {
		return fmt.Errorf("server: metadata store: %w", err)
	}
	var errs []error
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		var err error
		switch {
		case bytes.Equal(k, keySeq) && len(v) == 8:
			m.Seq = binary.BigEndian.Uint64(v)
		case bytes.HasPrefix(k, prefixOrder) && len(k) == len(prefixOrder)+8:
			var o orderRec
			if o, err = decodeOrderRec(binary.BigEndian.Uint64(k[len(prefixOrder):]), v); err == nil {
				m.Orders.put(&o)
			}
		case bytes.HasPrefix(k, prefixFill) && len(k) == len(prefixFill)+17:
			k = k[len(prefixFill):]
			var f fillRec
			if f, err = decodeFillRec(binary.BigEndian.Uint64(k[8:]), k[16] != 0, v); err == nil {
				a := m.acct(binary.BigEndian.Uint64(k))
				a.fills = append(a.fills, f)
			}
		case bytes.HasPrefix(k, prefixTrade) && len(k) == len(prefixTrade)+12:
			k = k[len(prefixTrade):]
			var t tradeRec
			if t, err = decodeTradeRecord(binary.BigEndian.Uint64(k[4:]), v); err == nil {
				d := m.market(binary.BigEndian.Uint32(k))
				d.Trades = append(d.Trades, t)
			}
		case bytes.HasPrefix(k, prefixCandle) && len(k) == len(prefixCandle)+13 && int(k[len(prefixCandle)+4]) < numIntervals:
			k = k[len(prefixCandle):]
			var c candle
			if c, err = decodeCandleRec(int64(binary.BigEndian.Uint64(k[5:])^1<<63), v); err == nil {
				d := m.market(binary.BigEndian.Uint32(k))
				d.Candles[k[4]] = append(d.Candles[k[4]], c)
			}
		default:
			err = fmt.Errorf("%w: key %q", errHistoryRecord, k)
		}
		if err != nil && len(errs) < 10 {
			errs = append(errs, err)
		}
	}
	errs = append(errs, it.Close())
	return errors.Join(errs...)
}

// market returns the data of market id, created if need be.
func (m *readModel) market(id uint32) *marketData {
	d := m.Markets[id]
	if d == nil {
		d = &marketData{}
		m.Markets[id] = d
	}
	return d
}

// index rebuilds, after loading, the accounts' order lists and done
// queues and applies the retention (logging what it trims). all logs
// every record, for a rewrite of the whole history.
func (m *readModel) index(all bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Orders.each(func(o *orderRec) {
		a := m.acct(o.Account)
		a.ids = append(a.ids, o.ID)
		if all {
			m.chg.orders.add(*o)
		}
	})
	for acct, a := range m.accts {
		slices.Sort(a.ids)
		var done []*orderRec
		for _, id := range a.ids {
			if o := m.Orders.get(id); o.done() {
				done = append(done, o)
			}
		}
		slices.SortFunc(done, func(x, y *orderRec) int {
			if x.Updated != y.Updated {
				return cmpInt(x.Updated, y.Updated)
			}
			return cmpInt(x.ID, y.ID)
		})
		for _, o := range done {
			m.finish(o)
		}
		fills := a.fills
		if m.keepFills > 0 && len(fills) > m.keepFills {
			fills = slices.Clone(fills[len(fills)-m.keepFills:])
		}
		if all {
			for i := range fills {
				m.chg.fills.add(acctFill{Account: acct, fillRec: fills[i]})
			}
		}
		if len(fills) < len(a.fills) {
			m.chg.fillTrims.add(acctFill{Account: acct, fillRec: fills[0]})
		}
		a.fills = fills
	}
	for id, d := range m.Markets {
		if n := len(d.Trades); n > maxTrades {
			d.Trades = slices.Clone(d.Trades[n-maxTrades:])
			m.chg.tradeTrims.add(mktTrade{Market: id, tradeRec: d.Trades[0]})
		}
		d.Next = len(d.Trades) % maxTrades
		if all {
			for i := range d.Trades {
				m.chg.trades.add(mktTrade{Market: id, tradeRec: d.Trades[i]})
			}
		}
		for iv, cs := range d.Candles {
			if n := len(cs); n > maxCandles {
				cs = slices.Clone(cs[n-maxCandles:])
				d.Candles[iv] = cs
				m.chg.candleTrims.add(mktCandle{Market: id, Interval: uint8(iv), candle: cs[0]})
			}
			if all {
				for i := range cs {
					m.chg.candles.add(mktCandle{Market: id, Interval: uint8(iv), candle: cs[i]})
				}
			}
		}
	}
}

func cmpInt[T int64 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// legacyData is the whole-history value an older istd saved under "rm".
type legacyData struct {
	Seq       uint64
	Orders    map[uint64]*legacyOrder
	ByAccount map[uint64][]uint64
	Fills     map[uint64][]fillRec
	Markets   map[uint32]*marketData
}

// legacyOrder is an order of legacyData, whose client order id was a
// string.
type legacyOrder struct {
	ID          uint64
	ClientID    string
	Account     uint64
	Market      uint32
	Side        book.Side
	Type        book.OrderType
	TIF         book.TimeInForce
	STP         book.STPMode
	PostOnly    bool
	Stop        bool
	Price       int64
	StopPrice   int64
	Qty         int64
	QuoteBudget int64
	Filled      int64
	Notional    int64
	Status      uint8
	Created     int64
	Updated     int64
}

// decodeLegacy reads the old whole-history value into m (which index
// then logs whole).
func (m *readModel) decodeLegacy(b []byte) error {
	d := legacyData{}
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&d); err != nil {
		return fmt.Errorf("server: old order history: %w", err)
	}
	m.Seq = d.Seq
	for id, lo := range d.Orders {
		if lo == nil || id == 0 {
			continue
		}
		ref, ok := engine.MakeRef(lo.ClientID)
		if !ok || lo.Status >= uint8(len(statusNames)) {
			return fmt.Errorf("%w: order %d", errHistoryRecord, id)
		}
		m.Orders.put(&orderRec{ID: id, ClientID: ref, Account: lo.Account, Market: lo.Market, Side: lo.Side,
			Type: lo.Type, TIF: lo.TIF, STP: lo.STP, PostOnly: lo.PostOnly, Stop: lo.Stop, Price: lo.Price,
			StopPrice: lo.StopPrice, Qty: lo.Qty, QuoteBudget: lo.QuoteBudget, Filled: lo.Filled,
			Notional: lo.Notional, Status: lo.Status, Created: lo.Created, Updated: lo.Updated})
	}
	for a, fs := range d.Fills {
		m.acct(a).fills = fs
	}
	for id, md := range d.Markets {
		if md == nil {
			continue
		}
		// Unroll the ring, oldest first.
		n := len(md.Trades)
		next := md.Next % max(n, 1)
		if n < maxTrades {
			next = 0
		}
		d := &marketData{Candles: md.Candles}
		for k := range n {
			d.Trades = append(d.Trades, md.Trades[(next+k)%n])
		}
		m.Markets[id] = d
	}
	return nil
}
