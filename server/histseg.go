package server

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The read model's store format: a base and a log of segments.
//
// Each save writes the change log as one segment: its records, in the
// order below, packed into values of about segPartSize bytes under
// consecutive keys, together with "rm/seq", in one Pebble batch. Reading
// the base and then the segments in key order, applying their records,
// rebuilds the read model. A handful of large values per save cost Pebble
// a fraction of what a key per order, fill and trade did (memtable
// inserts, flushes and compactions of small keys were a quarter of istd's
// CPU under a stream of batch orders).
//
// Keys (big endian):
//
//	"rm/seq"                     sequence number of the saved history
//	"rm/m"                       base(8) first(8): the base to read (0: none)
//	                             and the first segment after it
//	"rm/b/" base(8) part(4)      a part of a base
//	"rm/s/" segment(8) part(4)   a part of a segment
//
// A part (of a base or a segment):
//
//	+---------+--------+--------+-----+
//	| version | record | record | ... |     version: segVersion (1 byte)
//	+---------+--------+--------+-----+
//
//	record = kind (1 byte) | body length (uvarint) | body
//
//	kind  body (u: uvarint, v: varint)            applied
//	'o'   id u | appendOrder                      the order's copy replaces it
//	'x'   id u                                    the order is removed
//	'f'   account u | trade u | maker (1) | appendFill
//	                                              appended to the account's fills
//	'F'   account u | trade u | maker (1)         the account's fills before it go
//	't'   market u | id u | appendTradeRec        appended to the market's trades
//	'T'   market u | id u                         the market's trades before it go
//	'c'   market u | interval (1) | start v | appendCandle
//	                                              replaces or inserts the candle
//	'C'   market u | interval (1) | start v       the interval's candles before it go
//
// A segment lists its order copies and removals first (in the order they
// happened), then fills, fill trims, trades, trade trims, candles and
// candle trims. A fill or trade not after the last one held is a repeat
// and is skipped, so applying a record twice changes nothing.
//
// Compaction: once the segments written since the base hold more than
// twice its bytes (and at least compactMinBytes), the saver writes a new
// base from the read model in memory, a chunk at a time under its read
// lock (so the engine's output waits for a chunk at most, never for the
// whole history), in batches under the next base number, where nothing
// reads them yet; saves go on between its chunks when the change log
// fills up. The save after it writes its segment together with "rm/m"
// naming the new base and the first segment written since the base began,
// and deletes the older base and segments. The new base mixes states from
// while it was written, all after the last save before it began; the
// segments written since hold every change after that save, and applied
// over the base they end at the state the last of them saved:
// a copy of an order or candle is replaced by the later copies, a fill or
// trade the base already has is skipped. A crash before the switch leaves
// the old base and segments in force; what was written of the new base
// is deleted when the next one begins.
//
// Older formats, still read: one key per record (orders "rm/o/" id(8),
// fills "rm/f/" account(8) trade(8) maker(1), trades "rm/t/" market(4)
// trade(8), candles "rm/c/" market(4) interval(1) start(8) with the sign
// bit of start flipped), and before that the whole history as one gob
// value under "rm". The first save after reading either deletes it and
// writes the whole history as a segment.

// segVersion is the version byte of a segment part.
const segVersion = 1

// segPartSize is the size past which a segment part is closed and the next
// begins. Pebble writes a value larger than its block size as a block of
// its own, in a buffer it grows by doubling, when it flushes or compacts
// the value: parts of 1 MiB cost about four copies of each (in istbench
// http's batch phase, the flushes' block building was 8% of istd's CPU).
// With 32 KiB parts, batches were 13% faster; 8 and 128 KiB no better.
const segPartSize = 32 << 10

// compactMinBytes is the least a compaction waits for: the bytes of
// segments written since the base.
const compactMinBytes = 64 << 20

// baseBatchBytes is how much of a base is committed at a time (bounding
// the batch held in memory).
var baseBatchBytes = 16 << 20 // a variable for tests

// dumpChunk is how many orders (or fills, trades or candles) a base reads
// under one hold of the read model's lock.
var dumpChunk = 512

// yieldEvery is how many records a save encodes between yields to the
// scheduler (about 0.1 ms of work).
const yieldEvery = 256

// dumpHook, if set (by tests), runs after each chunk of a base, outside
// the lock.
var dumpHook func()

// Record kinds.
const (
	recOrder      = 'o'
	recGone       = 'x'
	recFill       = 'f'
	recFillTrim   = 'F'
	recTrade      = 't'
	recTradeTrim  = 'T'
	recCandle     = 'c'
	recCandleTrim = 'C'
)

var (
	prefixSeg   = []byte("rm/s/")
	prefixBase  = []byte("rm/b/")
	keyManifest = []byte("rm/m")
	segUpper    = []byte("rm/s0")
	baseUpper   = []byte("rm/b0")
)

// partKey appends the key of part of segment or base n (prefix prefixSeg
// or prefixBase) to b.
func partKey(b, prefix []byte, n uint64, part uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(append(b, prefix...), n), part)
}

// segWriter packs records into the parts of one segment or base, setting
// each in a batch as it fills.
type segWriter struct {
	b     *pebble.Batch
	pfx   []byte // prefixSeg or prefixBase
	n     uint64
	part  uint32
	buf   []byte // the open part
	body  []byte // scratch: the record being encoded
	kbuf  []byte
	bytes int64 // bytes set so far
	held  bool  // the read model's lock is held: parts wait for spill
	recs  int   // records appended, for yielding every yieldEvery
	// maxHold is the longest dump held the read model's lock.
	maxHold time.Duration
	// flush, if set, is called after each part is set (a base commits its
	// batch there), and between, if set, after each chunk a base reads.
	flush, between func() error
}

func (w *segWriter) reset(b *pebble.Batch, prefix []byte, n uint64) {
	w.b, w.pfx, w.n, w.part, w.bytes, w.held = b, prefix, n, 0, 0, false
	w.buf = append(w.buf[:0], segVersion)
}

// rec appends a record of kind with body w.body.
func (w *segWriter) rec(kind byte) error {
	if w.recs++; w.recs%yieldEvery == 0 && !w.held {
		// A save encodes every change since the last (about 0.5 µs a
		// record): yield now and then, as dump does between chunks
		// (never under the read model's lock).
		runtime.Gosched()
	}
	w.buf = append(w.buf, kind)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(w.body)))
	w.buf = append(w.buf, w.body...)
	if len(w.buf) >= segPartSize && !w.held {
		return w.close()
	}
	return nil
}

// spill closes the open part if it is full.
func (w *segWriter) spill() error {
	if len(w.buf) >= segPartSize {
		return w.close()
	}
	return nil
}

// close sets the open part, if it holds records, and opens the next.
func (w *segWriter) close() error {
	if len(w.buf) <= 1 {
		return nil
	}
	w.kbuf = partKey(w.kbuf[:0], w.pfx, w.n, w.part)
	_ = w.b.Set(w.kbuf, w.buf, nil) // the batch copies both
	w.bytes += int64(len(w.buf))
	w.part++
	w.buf = append(w.buf[:0], segVersion)
	if w.flush != nil {
		return w.flush()
	}
	return nil
}

func (w *segWriter) order(o *orderRec) error {
	if o.gone {
		w.body = binary.AppendUvarint(w.body[:0], o.ID)
		return w.rec(recGone)
	}
	w.body = appendOrder(binary.AppendUvarint(w.body[:0], o.ID), o)
	return w.rec(recOrder)
}

func (w *segWriter) fillHead(account uint64, f *fillRec) {
	w.body = binary.AppendUvarint(binary.AppendUvarint(w.body[:0], account), f.TradeID)
	w.body = append(w.body, byte(b2i(f.Maker)))
}

func (w *segWriter) fill(account uint64, f *fillRec) error {
	w.fillHead(account, f)
	w.body = appendFill(w.body, f)
	return w.rec(recFill)
}

func (w *segWriter) fillTrim(account uint64, f *fillRec) error {
	w.fillHead(account, f)
	return w.rec(recFillTrim)
}

func (w *segWriter) trade(market uint32, t *tradeRec) error {
	w.body = binary.AppendUvarint(binary.AppendUvarint(w.body[:0], uint64(market)), t.ID)
	w.body = appendTradeRec(w.body, t)
	return w.rec(recTrade)
}

func (w *segWriter) tradeTrim(market uint32, id uint64) error {
	w.body = binary.AppendUvarint(binary.AppendUvarint(w.body[:0], uint64(market)), id)
	return w.rec(recTradeTrim)
}

func (w *segWriter) candleHead(market uint32, iv uint8, start int64) {
	w.body = append(binary.AppendUvarint(w.body[:0], uint64(market)), iv)
	w.body = binary.AppendVarint(w.body, start)
}

func (w *segWriter) candle(market uint32, iv uint8, c *candle) error {
	w.candleHead(market, iv, c.Start)
	w.body = appendCandle(w.body, c)
	return w.rec(recCandle)
}

func (w *segWriter) candleTrim(market uint32, iv uint8, start int64) error {
	w.candleHead(market, iv, start)
	return w.rec(recCandleTrim)
}

// candleID identifies a candle: market, interval and start.
type candleID struct {
	market uint32
	iv     uint8
	start  int64
}

// changes writes the change log c into w: every order copy, fill and
// trade, the last copy of each candle, and the last trim of each account,
// market and interval.
func (w *segWriter) changes(c *changes) error {
	var err error
	c.orders.each(func(o *orderRec) {
		if err == nil {
			err = w.order(o)
		}
	})
	c.fills.each(func(f *acctFill) {
		if err == nil {
			err = w.fill(f.Account, &f.fillRec)
		}
	})
	fillFrom := map[uint64]*acctFill{}
	c.fillTrims.each(func(f *acctFill) { fillFrom[f.Account] = f })
	for _, a := range slices.Sorted(maps.Keys(fillFrom)) {
		if err == nil {
			err = w.fillTrim(a, &fillFrom[a].fillRec)
		}
	}
	c.trades.each(func(t *mktTrade) {
		if err == nil {
			err = w.trade(t.Market, &t.tradeRec)
		}
	})
	tradeFrom := map[uint32]uint64{}
	c.tradeTrims.each(func(t *mktTrade) { tradeFrom[t.Market] = t.ID })
	for _, mk := range slices.Sorted(maps.Keys(tradeFrom)) {
		if err == nil {
			err = w.tradeTrim(mk, tradeFrom[mk])
		}
	}
	// Candles: each take logs a copy of every candle changed since the
	// last (logCandles), and a log put back after a failed save holds
	// earlier copies too; only the last copy of each is written, in the
	// order of last copies.
	last := map[candleID]int{}
	var cs []*mktCandle
	c.candles.each(func(x *mktCandle) {
		id := candleID{x.Market, x.Interval, x.Start}
		if i, ok := last[id]; ok {
			cs[i] = nil
		}
		last[id] = len(cs)
		cs = append(cs, x)
	})
	for _, x := range cs {
		if x != nil && err == nil {
			err = w.candle(x.Market, x.Interval, &x.candle)
		}
	}
	candleFrom := map[candleID]int64{}
	c.candleTrims.each(func(x *mktCandle) { candleFrom[candleID{x.Market, x.Interval, 0}] = x.Start })
	for _, id := range slices.SortedFunc(maps.Keys(candleFrom), cmpCandleID) {
		if err == nil {
			err = w.candleTrim(id.market, id.iv, candleFrom[id])
		}
	}
	if err != nil {
		return err
	}
	return w.close()
}

func cmpCandleID(a, b candleID) int {
	return cmp.Or(cmp.Compare(a.market, b.market), cmp.Compare(a.iv, b.iv), cmp.Compare(a.start, b.start))
}

// dump writes the whole of m into w, as a base: orders, then fills by
// account, then trades (oldest first) and candles by market. It reads m a
// chunk at a time under its read lock, so what it writes mixes the states
// m went through meanwhile (see the format above).
func (w *segWriter) dump(m *readModel) error {
	var err error
	w.maxHold = 0
	locked := func(f func()) {
		m.mu.RLock()
		t0 := time.Now()
		w.held = true
		f()
		w.held = false
		w.maxHold = max(w.maxHold, time.Since(t0))
		m.mu.RUnlock()
		// A base takes tens of ms of CPU: let the goroutines that serve
		// requests run between chunks instead of waiting for a preemption
		// (10 ms) on a busy machine.
		runtime.Gosched()
		if dumpHook != nil {
			dumpHook()
		}
		if err == nil {
			err = w.spill()
		}
		if err == nil && w.between != nil {
			err = w.between()
		}
	}
	// chunks calls step under the lock until it reports nothing left;
	// run writes elements i… of n, at most dumpChunk, returning where it
	// stopped.
	chunks := func(step func(started bool) (more bool)) {
		for started, more := false, true; more && err == nil; started = true {
			locked(func() { more = step(started) })
		}
	}
	run := func(i, n int, write func(k int) error) int {
		for end := min(n, i+dumpChunk); i < end && err == nil; i++ {
			err = write(i)
		}
		return i
	}
	var next int // order slot
	chunks(func(bool) bool {
		n := int(m.Orders.next)
		next = run(next, n, func(k int) error {
			if o := m.Orders.at(int32(k)); o.ID != 0 {
				return w.order(o)
			}
			return nil
		})
		return next < n
	})
	var accts []uint64
	var mks []uint32
	locked(func() {
		accts = slices.Sorted(maps.Keys(m.accts))
		mks = slices.Sorted(maps.Keys(m.Markets))
	})
	// Fills, trades and candles are read in chunks too, each chunk resuming
	// after the last record written: trims may have moved them meanwhile.
	for _, a := range accts {
		var last fillRec
		chunks(func(started bool) bool {
			h := m.accts[a]
			if h == nil {
				return false
			}
			fs, i := h.fills, 0
			if started {
				i = fillAfter(fs, &last)
			}
			i = run(i, len(fs), func(k int) error { last = fs[k]; return w.fill(a, &fs[k]) })
			return i < len(fs)
		})
	}
	for _, mk := range mks {
		var last uint64 // trade id
		chunks(func(started bool) bool {
			d := m.Markets[mk]
			if d == nil {
				return false
			}
			n, next := len(d.Trades), 0
			if n >= maxTrades {
				next = d.Next % n
			}
			at := func(k int) *tradeRec { return &d.Trades[(next+k)%n] }
			k := 0
			if started {
				k = sort.Search(n, func(k int) bool { return at(k).ID > last })
			}
			k = run(k, n, func(k int) error { last = at(k).ID; return w.trade(mk, at(k)) })
			return k < n
		})
		for iv := range numIntervals {
			var last int64 // candle start
			chunks(func(started bool) bool {
				d := m.Markets[mk]
				if d == nil {
					return false
				}
				cs, i := d.Candles[iv], 0
				if started {
					i = sort.Search(len(cs), func(i int) bool { return cs[i].Start > last })
				}
				i = run(i, len(cs), func(k int) error { last = cs[k].Start; return w.candle(mk, uint8(iv), &cs[k]) })
				return i < len(cs)
			})
		}
	}
	if err != nil {
		return err
	}
	return w.close()
}

// fillAfter returns the index in fills (an account's, in trade order) of
// the fill after last, or, if last is gone, of the first fill of its trade
// or a later one (written again, a repeat is skipped when read).
func fillAfter(fills []fillRec, last *fillRec) int {
	i := sort.Search(len(fills), func(i int) bool { return fills[i].TradeID >= last.TradeID })
	for j := i; j < len(fills) && fills[j].TradeID == last.TradeID; j++ {
		if fills[j].Maker == last.Maker {
			return j + 1
		}
	}
	return i
}

// errSegment is returned for a segment part that does not decode.
var errSegment = errors.New("server: bad order history segment")

// applyPart applies the records of one segment part to m, which is being
// loaded (the lock is not needed). Market trades are kept as a plain list,
// oldest first (index makes the ring). It stops at the first record that
// does not decode.
func (m *readModel) applyPart(v []byte) error {
	if len(v) == 0 || v[0] != segVersion {
		return fmt.Errorf("%w: version %v", errSegment, v[:min(len(v), 1)])
	}
	v = v[1:]
	for len(v) > 0 {
		kind := v[0]
		n, k := binary.Uvarint(v[1:])
		if k <= 0 || n > uint64(len(v)-1-k) {
			return fmt.Errorf("%w: record %q: bad length", errSegment, kind)
		}
		body := v[1+k : 1+k+int(n)]
		v = v[1+k+int(n):]
		if err := m.applyRecord(kind, body); err != nil {
			return err
		}
	}
	return nil
}

// applyRecord applies one record (applyPart).
func (m *readModel) applyRecord(kind byte, body []byte) error {
	d := dec{b: body}
	bad := func() error { return fmt.Errorf("%w: record %q", errSegment, kind) }
	switch kind {
	case recOrder:
		id := d.uvarint()
		if d.bad {
			return bad()
		}
		o, err := decodeOrderRec(id, d.b)
		if err != nil {
			return err
		}
		m.Orders.put(&o)
	case recGone:
		id := d.uvarint()
		if d.bad || len(d.b) != 0 {
			return bad()
		}
		m.Orders.del(id)
	case recFill, recFillTrim:
		a, trade, maker := d.uvarint(), d.uvarint(), d.byte()
		if d.bad || maker > 1 {
			return bad()
		}
		h := m.acct(a)
		if kind == recFillTrim {
			if len(d.b) != 0 {
				return bad()
			}
			h.fills = h.fills[fillsFrom(h.fills, trade, maker == 1):]
			return nil
		}
		f, err := decodeFillRec(trade, maker == 1, d.b)
		if err != nil {
			return err
		}
		if !heldFill(h.fills, trade, maker == 1) {
			h.fills = append(h.fills, f)
		}
	case recTrade, recTradeTrim:
		mk, id := d.uvarint(), d.uvarint()
		if d.bad || mk > 1<<32-1 {
			return bad()
		}
		md := m.market(uint32(mk))
		if kind == recTradeTrim {
			if len(d.b) != 0 {
				return bad()
			}
			i, _ := slices.BinarySearchFunc(md.Trades, id, func(t tradeRec, id uint64) int { return cmp.Compare(t.ID, id) })
			md.Trades = md.Trades[i:]
			return nil
		}
		t, err := decodeTradeRecord(id, d.b)
		if err != nil {
			return err
		}
		if n := len(md.Trades); n == 0 || md.Trades[n-1].ID < id {
			md.Trades = append(md.Trades, t)
		}
	case recCandle, recCandleTrim:
		mk, iv, start := d.uvarint(), d.byte(), d.varint()
		if d.bad || mk > 1<<32-1 || int(iv) >= numIntervals {
			return bad()
		}
		md := m.market(uint32(mk))
		cs := md.Candles[iv]
		i, found := slices.BinarySearchFunc(cs, start, func(c candle, s int64) int { return cmp.Compare(c.Start, s) })
		if kind == recCandleTrim {
			if len(d.b) != 0 {
				return bad()
			}
			md.Candles[iv] = cs[i:]
			return nil
		}
		c, err := decodeCandleRec(start, d.b)
		if err != nil {
			return err
		}
		if found {
			cs[i] = c
		} else {
			md.Candles[iv] = slices.Insert(cs, i, c)
		}
	default:
		return fmt.Errorf("%w: unknown record kind %q", errSegment, kind)
	}
	return nil
}

// fillsFrom returns the index of the fill (trade, maker) in fills, or, if
// it is not there, of the first fill of a later trade: where an account's
// fills start after a trim.
func fillsFrom(fills []fillRec, trade uint64, maker bool) int {
	for i := range fills {
		if f := &fills[i]; f.TradeID > trade || f.TradeID == trade && f.Maker == maker {
			return i
		}
	}
	return len(fills)
}

// heldFill reports whether fill (trade, maker) is already among fills,
// which hold an account's fills in trade order: it is if a later trade's
// fill is held, or the same one.
func heldFill(fills []fillRec, trade uint64, maker bool) bool {
	for i := len(fills) - 1; i >= 0; i-- {
		f := &fills[i]
		switch {
		case f.TradeID > trade:
			return true
		case f.TradeID < trade:
			return false
		case f.Maker == maker:
			return true
		}
	}
	return false
}

// loaded is what loadHistory read: the base (0: none), the first segment
// after it and the last (0: none), their bytes, and whether the store
// held an older format.
type loaded struct {
	base, first, last    uint64
	baseBytes, segsBytes int64
	legacy               bool
}

// resume sets the counters of st's saves from what a load read.
func (st *store) resume(r loaded) {
	st.base, st.nextSeg = r.base, max(r.first, r.last+1)
	st.baseBytes, st.segsBytes = r.baseBytes, r.segsBytes
	st.publish()
}

// publish makes the byte counts visible to /metrics.
func (st *store) publish() {
	st.storedBase.Store(st.baseBytes)
	st.storedSegs.Store(st.segsBytes)
}

// loadStored applies the base and the segments after it to m, which is
// being loaded. A part that does not decode is reported (naming it) and
// the rest still applied.
func (m *readModel) loadStored(st *store) (loaded, error) {
	var r loaded
	v, err := st.get(keyManifest)
	if err != nil {
		return r, err
	}
	var errs []error
	if len(v) == 16 {
		r.base, r.first = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
	} else if v != nil {
		errs = append(errs, fmt.Errorf("%w: manifest %x", errSegment, v))
	}
	if r.base > 0 {
		n, _, err := m.applyParts(st, "base", partKey(nil, prefixBase, r.base, 0), partKey(nil, prefixBase, r.base+1, 0), &r.baseBytes)
		if n == 0 && err == nil {
			err = fmt.Errorf("%w: base %d missing", errSegment, r.base)
		}
		errs = append(errs, err)
	}
	_, r.last, err = m.applyParts(st, "segment", partKey(nil, prefixSeg, r.first, 0), segUpper, &r.segsBytes)
	errs = append(errs, err)
	return r, errors.Join(errs...)
}

// applyParts applies the parts of keys [lower, upper) (of bases or
// segments, named what) to m in order, adding their bytes to size. It
// returns the number of parts and the number of the last.
func (m *readModel) applyParts(st *store, what string, lower, upper []byte, size *int64) (parts int, last uint64, err error) {
	it, err := st.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return 0, 0, fmt.Errorf("server: metadata store: %w", err)
	}
	var errs []error
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != len(prefixSeg)+12 {
			errs = append(errs, fmt.Errorf("%w: key %q", errSegment, k))
			continue
		}
		parts++
		last = binary.BigEndian.Uint64(k[len(prefixSeg):])
		*size += int64(len(v))
		if err := m.applyPart(v); err != nil && len(errs) < 10 {
			errs = append(errs, fmt.Errorf("%s %d part %d: %w", what, last, binary.BigEndian.Uint32(k[len(prefixSeg)+8:]), err))
		}
	}
	errs = append(errs, it.Close())
	return parts, last, errors.Join(errs...)
}

// needsBase reports whether the segments written since the base call for
// a new one.
func (st *store) needsBase() bool {
	return st.pendingBase == 0 && st.segsBytes >= max(st.compactMin, 2*st.baseBytes, st.retryBase)
}

// writeBase writes m as the next base (see the format above), for the next
// save to put in force. It runs on the saver's goroutine, the only writer
// of the history. Whenever m's change log fills up meanwhile (m.full), it
// calls save between chunks, so that a long base does not let the change
// log grow without bound; the segments those saves write come after the
// base, as do all written since it began.
func (st *store) writeBase(m *readModel, save func() error) error {
	base := st.base + 1
	st.baseFrom, st.sinceBase = st.nextSeg, 0
	// One batch, made at its full size and reused: grown from empty by
	// doubling, each batch of a base cost Pebble about a copy of itself.
	// It is committed once past baseBatchBytes, by at most a part, and a
	// part closes only between chunks of a base (tens of KiB past
	// segPartSize): 1 MiB of room keeps it from growing. (Closed, it goes
	// back to Pebble's pool of batches with its buffer, until a
	// collection.)
	b := st.db.NewBatchWithSize(baseBatchBytes+1<<20, pebble.WithMaxRetainedSizeBytes(2*baseBatchBytes))
	defer b.Close()
	// What a crash left of an earlier try.
	_ = b.DeleteRange(partKey(nil, prefixBase, base, 0), baseUpper, nil)
	w := &st.bw
	w.reset(b, prefixBase, base)
	w.flush = func() error {
		if b.Len() < baseBatchBytes {
			return nil
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return err
		}
		b.Reset()
		return nil
	}
	w.between = func() error {
		select {
		case <-m.full:
			return save()
		default:
			return nil
		}
	}
	defer func() { w.flush, w.between = nil, nil }()
	err := w.dump(m)
	if err == nil {
		err = b.Commit(pebble.NoSync) // made durable by the save that puts it in force
	}
	if err != nil {
		st.retryBase = 2 * st.segsBytes // not at every save
		return fmt.Errorf("server: write order history base: %w", err)
	}
	st.pendingBase, st.pendingBytes = base, w.bytes
	return nil
}
