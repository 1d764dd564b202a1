package server

import (
	"bytes"
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
// trades, and the first trade or candle still kept when older ones are
// trimmed; the candles that trades changed, and the first fill each
// account keeps after a trim, are appended once, when the log is taken
// (logCandles, logFillTrims). Saving swaps the log for an empty one under
// the read model's lock (a pointer swap and those copies, so the engine's
// output is never held up by the size of the history) and then, without
// the lock, writes what the log holds as the next segment of the store,
// together with the sequence number the log is current to (histseg.go
// has the format). The store thus always holds the read model as of a
// result, and a save costs what changed, not what is kept.

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
	c.transfers.release()
	c.copyEvents.release()
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
	tradeTrims  chunks[mktTrade]     // the first trade a market keeps
	candles     chunks[mktCandle]    // copies after a change
	candleTrims chunks[mktCandle]    // the first candle an interval keeps
	transfers   chunks[transferRec]  // added, or dropped (transfers.go)
	copyEvents  chunks[copyEventRec] // added, or dropped (copyevents.go)
	n           int                  // about the number of entries
	full        chan<- struct{}      // the read model's: told once n reaches maxUnsaved
	signaled    bool                 // full was told
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
	m.logFillTrims()
	m.logCandles()
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
	n.transfers.prepend(&c.transfers)
	n.copyEvents.prepend(&c.copyEvents)
	n.n += c.n
}

// Key prefixes: "rm/seq", the whole-history value of older versions,
// and the records of the format before segments.
var (
	keySeq       = []byte("rm/seq")
	keyLegacy    = []byte("rm")
	prefixOrder  = []byte("rm/o/")
	prefixFill   = []byte("rm/f/")
	prefixTrade  = []byte("rm/t/")
	prefixCandle = []byte("rm/c/")
)

// maxRetainedSaveBytes bounds the buffer the save batch keeps between
// saves: a full change log (maxUnsaved changes) takes a few MB.
const maxRetainedSaveBytes = 16 << 20

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// writeChanges writes c as the next segment of the store, with seq, in
// one batch (histseg.go), which also puts in force a base written since
// the last save. rewrite deletes the history the store held first: c then
// holds the whole history, read from an older format.
func (st *store) writeChanges(c *changes, seq uint64, rewrite bool) error {
	// One batch serves every save, keeping its buffer: a fresh one per save
	// was a fifth of istd's garbage under a stream of batch orders.
	if st.batch == nil {
		st.batch = st.db.NewBatch(pebble.WithMaxRetainedSizeBytes(maxRetainedSaveBytes))
	}
	b := st.batch
	b.Reset()
	defer b.Reset()
	if rewrite {
		_ = b.DeleteRange([]byte("rm/"), []byte("rm0"), nil)
		_ = b.Delete(keyLegacy, nil)
	}
	seg := st.nextSeg
	w := &st.w
	w.reset(b, prefixSeg, seg)
	if err := w.changes(c); err != nil {
		return fmt.Errorf("server: save order history: %w", err)
	}
	writeTransfers(b, c)
	writeCopyEvents(b, c)
	_ = b.Set(keySeq, binary.BigEndian.AppendUint64(nil, seq), nil)
	base := st.pendingBase
	if base != 0 && !rewrite {
		_ = b.Set(keyManifest, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, base), st.baseFrom), nil)
		_ = b.DeleteRange(prefixBase, partKey(nil, prefixBase, base, 0), nil)
		_ = b.DeleteRange(prefixSeg, partKey(nil, prefixSeg, st.baseFrom, 0), nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("server: save order history: %w", err)
	}
	st.nextSeg++
	st.segsBytes += w.bytes
	st.sinceBase += w.bytes
	switch {
	case rewrite:
		st.base, st.baseBytes, st.segsBytes = 0, 0, w.bytes
	case base != 0:
		st.base, st.baseBytes, st.segsBytes, st.retryBase = base, st.pendingBytes, st.sinceBase, 0
	}
	st.pendingBase = 0
	st.publish()
	return nil
}

// Value encodings: a version byte, then varints.
//
// A candle's value has version 1 (historyVersion) while its volumes fit
// an int64, as every release wrote them (they saturated there):
//
//	1 | open high low close volume quote_volume trades     (varints)
//
// and version 2 (candleVersionWide) once one does not:
//
//	2 | open high low close (varints) | volume_hi volume_lo
//	    quote_volume_hi quote_volume_lo (uvarints) | trades (varint)
//
// Both are read; a candle is written in version 1 whenever it can be, so
// what earlier releases read is unchanged on every market but the
// busiest.
//
// An order's value has version 1 (historyVersion) unless it was placed
// with a display quantity (an iceberg):
//
//	1 | side type tif stp flags status (bytes) | account market (uvarints) |
//	    price stop_price qty quote_budget filled notional created updated
//	    (varints) | client_order_id length (uvarint) | client_order_id
//
// version 2 (orderVersionDisplay) if it was: version 1 with its display
// quantity (a varint, > 0) after updated; version 3 (orderVersionReason)
// if it was cancelled or expired with a reason kept: version 1 with its
// display quantity (a varint, 0 if none) and then the reason (a byte, a
// cancellation reason of book) after updated; and version 4
// (orderVersionExpiry) if it is good-till-date: version 3 with, after the
// reason (0 if none: only a cancelled or expired order has one), the
// expiry time (a varint of Unix nanoseconds, > 0; its time in force byte
// is GTC, its API time_in_force gtd). Version 3 is as the release that
// introduced it (cancel_reason) wrote it, byte for byte: histories it
// wrote hold many such records. All four are read; an order is written in
// the lowest version that holds it, so a history without icebergs,
// cancelled or good-till-date orders reads the same with earlier
// releases (which stop reading a segment part at a version they do not
// know).

const historyVersion = 1

// candleVersionWide is the version of a candle value whose volumes do not
// fit an int64 (see above).
const candleVersionWide = 2

// orderVersionDisplay is the version of an order value with a display
// quantity (see above).
const orderVersionDisplay = 2

// orderVersionReason is the version of an order value with the reason it
// was cancelled or expired (see above).
const orderVersionReason = 3

// orderVersionExpiry is the version of a good-till-date order's value:
// version 3 with its expiry time (see above).
const orderVersionExpiry = 4

// endReason reports whether r is a reason an order is cancelled or
// expired with (book lists them after the rejections, ReasonCancelled
// first): the only ones an order record keeps.
func endReason(r book.Reason) bool {
	return r >= book.ReasonCancelled && r.String() != "reason?"
}

func appendOrder(b []byte, o *orderRec) []byte {
	var flags byte
	if o.PostOnly {
		flags |= 1
	}
	if o.Stop {
		flags |= 2
	}
	if o.Triggered {
		flags |= 4
	}
	version := byte(historyVersion)
	switch {
	case o.ExpireAt != 0:
		version = orderVersionExpiry
	case o.Reason != book.ReasonNone:
		version = orderVersionReason
	case o.DisplayQty != 0:
		version = orderVersionDisplay
	}
	b = append(b, version, byte(o.Side), byte(o.Type), byte(o.TIF), byte(o.STP), flags, o.Status)
	b = binary.AppendUvarint(b, o.Account)
	b = binary.AppendUvarint(b, uint64(o.Market))
	for _, x := range [...]int64{o.Price, o.StopPrice, o.Qty, o.QuoteBudget, o.Filled, o.Notional, o.Created, o.Updated} {
		b = binary.AppendVarint(b, x)
	}
	if version != historyVersion {
		b = binary.AppendVarint(b, o.DisplayQty)
	}
	if version >= orderVersionReason {
		b = append(b, byte(o.Reason))
	}
	if version == orderVersionExpiry {
		b = binary.AppendVarint(b, o.ExpireAt)
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
	v, okV := c.Volume.int64()
	q, okQ := c.QuoteVolume.int64()
	if okV && okQ {
		b = append(b, historyVersion)
		for _, x := range [...]int64{c.Open, c.High, c.Low, c.Close, v, q, c.Trades} {
			b = binary.AppendVarint(b, x)
		}
		return b
	}
	b = append(b, candleVersionWide)
	for _, x := range [...]int64{c.Open, c.High, c.Low, c.Close} {
		b = binary.AppendVarint(b, x)
	}
	for _, x := range [...]uint64{c.Volume.Hi, c.Volume.Lo, c.QuoteVolume.Hi, c.QuoteVolume.Lo} {
		b = binary.AppendUvarint(b, x)
	}
	return binary.AppendVarint(b, c.Trades)
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

// namedOrder reports whether every enumerated field of o has a name in
// the API (side, type, time in force, STP and status): a stored record
// that fails it is damaged, not an order to show.
func namedOrder(o *orderRec) bool {
	return int(o.Side) < len(sideNames) && int(o.Type) < len(typeNames) && int(o.TIF) < len(tifNames) &&
		int(o.STP) < len(stpNames) && int(o.Status) < len(statusNames)
}

func decodeOrderRec(id uint64, b []byte) (orderRec, error) {
	d := dec{b: b}
	version := d.byte()
	if version < historyVersion || version > orderVersionExpiry {
		d.bad = true
	}
	o := orderRec{ID: id, Side: book.Side(d.byte()), Type: book.OrderType(d.byte()), TIF: book.TimeInForce(d.byte()),
		STP: book.STPMode(d.byte())}
	flags := d.byte()
	o.PostOnly, o.Stop, o.Triggered = flags&1 != 0, flags&2 != 0, flags&4 != 0
	o.Status = d.byte()
	o.Account = d.uvarint()
	o.Market = uint32(d.uvarint())
	for _, p := range [...]*int64{&o.Price, &o.StopPrice, &o.Qty, &o.QuoteBudget, &o.Filled, &o.Notional, &o.Created, &o.Updated} {
		*p = d.varint()
	}
	switch version {
	case orderVersionDisplay:
		if o.DisplayQty = d.varint(); o.DisplayQty <= 0 {
			d.bad = true // version 1 is written without one
		}
	case orderVersionReason, orderVersionExpiry:
		if o.DisplayQty = d.varint(); o.DisplayQty < 0 {
			d.bad = true
		}
		// Only a cancelled or expired order keeps a reason; version 3
		// always has one, version 4 (good-till-date) an expiry time.
		o.Reason = book.Reason(d.byte())
		if o.Reason != book.ReasonNone && (!endReason(o.Reason) ||
			o.Status != statusCancelled && o.Status != statusExpired) {
			d.bad = true
		}
		if version == orderVersionReason {
			d.bad = d.bad || o.Reason == book.ReasonNone
		} else if o.ExpireAt = d.varint(); o.ExpireAt <= 0 || o.TIF != book.GTC ||
			o.Type != book.Limit && o.Type != book.StopLimit {
			d.bad = true // only a GTC limit or stop-limit can be good-till-date
		}
	}
	n := d.uvarint()
	if d.bad || id == 0 || n != uint64(len(d.b)) || n > uint64(len(o.ClientID)) || bytes.IndexByte(d.b, 0) >= 0 ||
		flags > 7 || !namedOrder(&o) {
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
	if d.bad || len(d.b) != 0 || int(f.Side) >= len(sideNames) {
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
	if d.bad || len(d.b) != 0 || int(t.Side) >= len(sideNames) {
		return t, fmt.Errorf("%w: trade %d", errHistoryRecord, id)
	}
	return t, nil
}

func decodeCandleRec(start int64, b []byte) (candle, error) {
	d := dec{b: b}
	c := candle{Start: start}
	switch d.byte() {
	case historyVersion:
		var v, q int64
		for _, p := range [...]*int64{&c.Open, &c.High, &c.Low, &c.Close, &v, &q, &c.Trades} {
			*p = d.varint()
		}
		c.Volume, c.QuoteVolume = volOf(v), volOf(q) // never negative (as 0 if so)
	case candleVersionWide:
		for _, p := range [...]*int64{&c.Open, &c.High, &c.Low, &c.Close} {
			*p = d.varint()
		}
		for _, p := range [...]*uint64{&c.Volume.Hi, &c.Volume.Lo, &c.QuoteVolume.Hi, &c.QuoteVolume.Lo} {
			*p = d.uvarint()
		}
		c.Trades = d.varint()
	default:
		d.bad = true
	}
	if d.bad || len(d.b) != 0 {
		return c, fmt.Errorf("%w: candle %d", errHistoryRecord, start)
	}
	return c, nil
}

// loadHistory reads the read model from the store into an empty m: the
// old whole-history value or the old records (one key each), if any, then
// the base and segments. If the store held an older format (r.legacy),
// everything read is in m's change log, so that the next save rewrites
// the store. Before saving to st, the reader of r calls st.resume(r).
func (m *readModel) loadHistory(st *store) (r loaded, err error) {
	b, err := st.get(keyLegacy)
	if err != nil {
		return r, err
	}
	if b != nil {
		if err := m.decodeLegacy(b); err != nil {
			return loaded{legacy: true}, err
		}
	}
	keyed, err := m.loadKeys(st)
	r, serr := m.loadStored(st)
	r.legacy = b != nil || keyed
	m.index(r.legacy)
	return r, errors.Join(err, serr, m.loadTransfers(st), m.loadCopyEvents(st))
}

// loadKeys reads "rm/seq" and the records of the older format, one key
// each, reporting whether there were any.
func (m *readModel) loadKeys(st *store) (keyed bool, err error) {
	it, err := st.db.NewIter(&pebble.IterOptions{LowerBound: []byte("rm/"), UpperBound: []byte("rm0")})
	if err != nil {
		return false, fmt.Errorf("server: metadata store: %w", err)
	}
	var errs []error
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		var err error
		switch {
		case bytes.Equal(k, keySeq) && len(v) == 8:
			m.Seq = binary.BigEndian.Uint64(v)
		case bytes.HasPrefix(k, prefixSeg) || bytes.HasPrefix(k, prefixBase) || bytes.Equal(k, keyManifest): // loadStored
		case bytes.HasPrefix(k, prefixOrder) && len(k) == len(prefixOrder)+8:
			keyed = true
			var o orderRec
			if o, err = decodeOrderRec(binary.BigEndian.Uint64(k[len(prefixOrder):]), v); err == nil {
				m.Orders.put(&o)
			}
		case bytes.HasPrefix(k, prefixFill) && len(k) == len(prefixFill)+17:
			keyed = true
			k = k[len(prefixFill):]
			var f fillRec
			if f, err = decodeFillRec(binary.BigEndian.Uint64(k[8:]), k[16] != 0, v); err == nil {
				a := m.acct(binary.BigEndian.Uint64(k))
				a.fills = append(a.fills, f)
			}
		case bytes.HasPrefix(k, prefixTrade) && len(k) == len(prefixTrade)+12:
			keyed = true
			k = k[len(prefixTrade):]
			var t tradeRec
			if t, err = decodeTradeRecord(binary.BigEndian.Uint64(k[4:]), v); err == nil {
				d := m.market(binary.BigEndian.Uint32(k))
				d.Trades = append(d.Trades, t)
			}
		case bytes.HasPrefix(k, prefixCandle) && len(k) == len(prefixCandle)+13 && int(k[len(prefixCandle)+4]) < numIntervals:
			keyed = true
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
	return keyed, errors.Join(errs...)
}

// newestTrade returns the time of the newest trade of every market, 0 if
// there is none.
func (m *readModel) newestTrade() int64 {
	var t int64
	for _, d := range m.Markets {
		if last, ok := d.last(); ok {
			t = max(t, last.Time)
		}
	}
	return t
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
// every record, for a rewrite of the whole history. Market orders an
// earlier release left unended are ended as of their last change (and
// logged).
func (m *readModel) index(all bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Orders.each(func(o *orderRec) {
		a := m.acct(o.Account)
		a.ids = append(a.ids, o.ID)
		unended := o.unended()
		if unended {
			o.end(o.Updated)
		}
		if all || unended {
			m.chg.orders.add(*o)
		}
		if unended {
			m.chg.count(1)
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
		slices.SortFunc(done, cmpDone)
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

// legacyData is the whole-history value an older istd saved under "rm".
type legacyData struct {
	Seq       uint64
	Orders    map[uint64]*legacyOrder
	ByAccount map[uint64][]uint64
	Fills     map[uint64][]fillRec
	Markets   map[uint32]*legacyMarket
}

// legacyMarket is a market of legacyData: its candles' volumes were
// int64s.
type legacyMarket struct {
	Trades  []tradeRec
	Next    int
	Candles [numIntervals][]legacyCandle
}

// legacyCandle is a candle of legacyMarket.
type legacyCandle struct {
	Start, Open, High, Low, Close, Volume, QuoteVolume, Trades int64
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
		o := &orderRec{ID: id, ClientID: ref, Account: lo.Account, Market: lo.Market, Side: lo.Side,
			Type: lo.Type, TIF: lo.TIF, STP: lo.STP, PostOnly: lo.PostOnly, Stop: lo.Stop, Price: lo.Price,
			StopPrice: lo.StopPrice, Qty: lo.Qty, QuoteBudget: lo.QuoteBudget, Filled: lo.Filled,
			Notional: lo.Notional, Status: lo.Status, Created: lo.Created, Updated: lo.Updated}
		if !ok || !namedOrder(o) {
			return fmt.Errorf("%w: order %d", errHistoryRecord, id)
		}
		m.Orders.put(o)
	}
	for a, fs := range d.Fills {
		for i := range fs {
			if int(fs[i].Side) >= len(sideNames) {
				return fmt.Errorf("%w: fill %d", errHistoryRecord, fs[i].TradeID)
			}
		}
		m.acct(a).fills = fs
	}
	for id, md := range d.Markets {
		if md == nil {
			continue
		}
		// Unroll the ring, oldest first. A negative next slot, which no
		// release wrote, would index before the ring.
		n := len(md.Trades)
		if md.Next < 0 {
			return fmt.Errorf("%w: market %d: trade ring at %d", errHistoryRecord, id, md.Next)
		}
		next := md.Next % max(n, 1)
		if n < maxTrades {
			next = 0
		}
		d := &marketData{}
		for iv, cs := range md.Candles {
			for _, c := range cs {
				d.Candles[iv] = append(d.Candles[iv], candle{Start: c.Start, Open: c.Open, High: c.High, Low: c.Low,
					Close: c.Close, Volume: volOf(c.Volume), QuoteVolume: volOf(c.QuoteVolume), Trades: c.Trades})
			}
		}
		for k := range n {
			t := md.Trades[(next+k)%n]
			if int(t.Side) >= len(sideNames) {
				return fmt.Errorf("%w: trade %d", errHistoryRecord, t.ID)
			}
			d.Trades = append(d.Trades, t)
		}
		m.Markets[id] = d
	}
	return nil
}
