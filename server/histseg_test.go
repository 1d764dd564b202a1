package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// numbers returns the numbers of the bases (prefix prefixBase) or
// segments (prefixSeg) st holds, ascending, one per base or segment.
func numbers(t *testing.T, st *store, prefix []byte) []uint64 {
	t.Helper()
	upper := append(bytes.Clone(prefix[:len(prefix)-1]), prefix[len(prefix)-1]+1)
	it, err := st.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		t.Fatal(err)
	}
	var ns []uint64
	for ok := it.First(); ok; ok = it.Next() {
		n := binary.BigEndian.Uint64(it.Key()[len(prefix):])
		if len(ns) == 0 || ns[len(ns)-1] != n {
			ns = append(ns, n)
		}
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return ns
}

// saveAll saves live's changes to st, as the saver does (writing a base
// first when one is due).
func saveAll(t *testing.T, st *store, live *readModel) {
	t.Helper()
	if st.needsBase() {
		if err := st.writeBase(live, saver(st, live)); err != nil {
			t.Fatal(err)
		}
	}
	if err := saver(st, live)(); err != nil {
		t.Fatal(err)
	}
}

// saver returns a function that saves live's change log to st.
func saver(st *store, live *readModel) func() error {
	return func() error {
		c, s := live.takeChanges()
		if err := st.writeChanges(c, s, false); err != nil {
			live.putBack(c)
			return err
		}
		c.release()
		return nil
	}
}

// loadBack reads st into a fresh read model with live's retention and
// checks its sequence number.
func loadBack(t *testing.T, st *store, live *readModel) *readModel {
	t.Helper()
	m := reload(t, st, live)
	if m.Seq != live.Seq {
		t.Fatalf("read back seq %d, want %d", m.Seq, live.Seq)
	}
	return m
}

// reload reads st into a fresh read model with the retention of like.
func reload(t *testing.T, st *store, like *readModel) *readModel {
	t.Helper()
	m := newReadModel()
	m.keepOrders, m.keepFills = like.keepOrders, like.keepFills
	if _, err := m.loadHistory(st); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestHistoryCompaction saves a growing history with a small compaction
// threshold, past the trade ring and the retention (so trims too), and
// checks that new bases were written and put in force, each with only the
// segments after it, and that the store reads back as the model in memory
// after every save.
func TestHistoryCompaction(t *testing.T) {
	st := tempStore(t)
	st.compactMin = 64 << 10
	live := newReadModel()
	live.keepOrders, live.keepFills = 700, 900
	var seq uint64
	k, bases := 0, 0
	for save := range 30 {
		for range 700 {
			tradePair(live, &seq, k, 5)
			k++
		}
		base := st.base
		saveAll(t, st, live)
		if st.base != base {
			bases++
			if b, s := numbers(t, st, prefixBase), numbers(t, st, prefixSeg); len(b) != 1 || b[0] != st.base || len(s) != 1 || s[0] != st.nextSeg-1 {
				t.Fatalf("save %d: bases %v and segments %v after base %d", save, b, s, st.base)
			}
		}
		sameHistory(t, loadBack(t, st, live), live, false)
	}
	if k <= maxTrades {
		t.Fatalf("%d trades: the test needs more than the ring holds", k)
	}
	if bases < 2 {
		t.Fatalf("%d bases, want several", bases)
	}
}

// TestHistoryBaseWhileTrading writes bases while the read model changes
// between the chunks they read (the results applied meanwhile), then
// checks that the save that puts each in force reads back as the model.
func TestHistoryBaseWhileTrading(t *testing.T) {
	defer func(n int) { dumpChunk, dumpHook = n, nil }(dumpChunk)
	dumpChunk = 16
	st := tempStore(t)
	live := newReadModel()
	live.keepOrders, live.keepFills = 40, 30
	var seq uint64
	k := 0
	for round := range 4 {
		for range 500 {
			tradePair(live, &seq, k, 7)
			k++
		}
		saveAll(t, st, live)
		during, chunks, saves := 0, 0, 0
		save := saver(st, live)
		dumpHook = func() {
			// Trade on: new orders, fills and trims, and cancels of
			// resting orders (done orders trimmed); every third chunk,
			// the change log reports itself full, so a save runs.
			for range 3 {
				tradePair(live, &seq, k, 7)
				k++
				during++
			}
			if chunks++; chunks%3 == 0 {
				live.full <- struct{}{}
			}
		}
		from := st.nextSeg
		err := st.writeBase(live, func() error { saves++; return save() })
		dumpHook = nil
		if err != nil {
			t.Fatal(err)
		}
		if during == 0 || saves == 0 {
			t.Fatalf("%d trades and %d saves while the base was written: the test needs both", during, saves)
		}
		// A crash here keeps the old base and the segments, those of the
		// saves during the base included (and of one more, written here
		// without putting the base in force, to compare with live).
		pending := st.pendingBase
		st.pendingBase = 0
		if err := save(); err != nil {
			t.Fatal(err)
		}
		st.pendingBase = pending
		saves++
		sameHistory(t, loadBack(t, st, live), live, false)
		for range 10 { // and the save after the base
			tradePair(live, &seq, k, 7)
			k++
		}
		saveAll(t, st, live)
		if st.base != uint64(round+1) {
			t.Fatalf("round %d: base %d in force", round, st.base)
		}
		if s := numbers(t, st, prefixSeg); len(s) != saves+1 || s[0] != from {
			t.Fatalf("round %d: segments %v after the base, want the %d from %d on", round, s, saves+1, from)
		}
		sameHistory(t, loadBack(t, st, live), live, false)
	}
}

// TestHistorySegmentsRepeated checks that reading a segment twice counts
// nothing twice, and that the parts of a base a crash interrupted are
// ignored and then deleted.
func TestHistorySegmentsRepeated(t *testing.T) {
	st, live, seq := savedModel(t, 50, 60, 300, 3)
	for k := 300; k < 400; k++ {
		tradePair(live, &seq, k, 3)
	}
	// A save written twice (as a retry after a commit reported failed but
	// done would).
	c, s := live.takeChanges()
	for range 2 {
		if err := st.writeChanges(c, s, false); err != nil {
			t.Fatal(err)
		}
	}
	c.release()
	sameHistory(t, loadBack(t, st, live), live, false)
	// A base written, then a crash before a save put it in force.
	if err := st.writeBase(live, saver(st, live)); err != nil {
		t.Fatal(err)
	}
	st.pendingBase = 0
	if b := numbers(t, st, prefixBase); len(b) != 1 {
		t.Fatalf("bases %v", b)
	}
	sameHistory(t, loadBack(t, st, live), live, false)
	// The next base takes its place.
	for k := 400; k < 450; k++ {
		tradePair(live, &seq, k, 3)
	}
	if err := st.writeBase(live, saver(st, live)); err != nil {
		t.Fatal(err)
	}
	saveAll(t, st, live)
	if b, s := numbers(t, st, prefixBase), numbers(t, st, prefixSeg); len(b) != 1 || b[0] != 1 || len(s) != 1 {
		t.Fatalf("bases %v, segments %v", b, s)
	}
	sameHistory(t, loadBack(t, st, live), live, false)
}

// TestHistoryKeyedUpgrade starts istd on a store of the format before
// segments (a key per record): it reads it, the first save replaces it
// with a base segment, and the next start reads that.
func TestHistoryKeyedUpgrade(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, &Options{AdminToken: adminTok})
	alice, bob := ts.setup()
	sell := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.02","client_order_id":"keyed"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.01"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"64000","quantity":"0.01"}`)
	wantFills := fmt.Sprint(ts.must(200, "GET", "/v1/fills", alice, "")["fills"])
	wantTrades := fmt.Sprint(ts.must(200, "GET", "/v1/markets/BTC-USDT/trades", "", "")["trades"])
	wantCandles := fmt.Sprint(ts.must(200, "GET", "/v1/markets/BTC-USDT/candles?interval=1m", "", "")["candles"])
	wantOpen := fmt.Sprint(ts.must(200, "GET", "/v1/orders?status=open", bob, "")["orders"])
	ts.stop()

	// Rewrite the store as the older format.
	st, err := openStore(dir, &ts.s.log)
	if err != nil {
		t.Fatal(err)
	}
	stored := newReadModel()
	if _, err := stored.loadHistory(st); err != nil {
		t.Fatal(err)
	}
	writeKeyed(t, st, stored)
	if n := storedKeys(t, st, prefixOrder); n != 3 {
		t.Fatalf("%d keyed orders, want 3", n)
	}
	st.close()

	for round := range 2 { // the first start converts, the second reads segments
		ts2 := start(t, dir, &Options{AdminToken: adminTok})
		if o := ts2.must(200, "GET", "/v1/orders/"+id(sell), alice, ""); o["client_order_id"] != "keyed" || o["status"] != "partially_filled" {
			t.Fatalf("round %d: order %v", round, o)
		}
		for _, c := range []struct{ path, tok, key, want string }{
			{"/v1/fills", alice, "fills", wantFills},
			{"/v1/markets/BTC-USDT/trades", "", "trades", wantTrades},
			{"/v1/markets/BTC-USDT/candles?interval=1m", "", "candles", wantCandles},
			{"/v1/orders?status=open", bob, "orders", wantOpen},
		} {
			if got := fmt.Sprint(ts2.must(200, "GET", c.path, c.tok, "")[c.key]); got != c.want {
				t.Fatalf("round %d: %s\n%s\nwant\n%s", round, c.path, got, c.want)
			}
		}
		ts2.stop()
		st, err := openStore(dir, &ts.s.log)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range [][]byte{prefixOrder, prefixFill, prefixTrade, prefixCandle} {
			if n := storedKeys(t, st, p); n != 0 {
				t.Fatalf("round %d: %d keys under %q left", round, n, p)
			}
		}
		if segs := numbers(t, st, prefixSeg); len(segs) == 0 {
			t.Fatalf("round %d: no segments", round)
		}
		st.close()
	}
}

// writeKeyed replaces the history in st with m in the format before
// segments: a key per order, fill, trade and candle.
func writeKeyed(t *testing.T, st *store, m *readModel) {
	t.Helper()
	b := st.db.NewBatch()
	_ = b.DeleteRange([]byte("rm/"), []byte("rm0"), nil)
	_ = b.Set(keySeq, binary.BigEndian.AppendUint64(nil, m.Seq), nil)
	m.Orders.each(func(o *orderRec) {
		_ = b.Set(binary.BigEndian.AppendUint64(bytes.Clone(prefixOrder), o.ID), appendOrder(nil, o), nil)
	})
	for a, h := range m.accts {
		for i := range h.fills {
			f := &h.fills[i]
			k := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(bytes.Clone(prefixFill), a), f.TradeID)
			_ = b.Set(append(k, byte(b2i(f.Maker))), appendFill(nil, f), nil)
		}
	}
	for mk, d := range m.Markets {
		for i := range d.Trades {
			k := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(bytes.Clone(prefixTrade), mk), d.Trades[i].ID)
			_ = b.Set(k, appendTradeRec(nil, &d.Trades[i]), nil)
		}
		for iv, cs := range d.Candles {
			for i := range cs {
				k := append(binary.BigEndian.AppendUint32(bytes.Clone(prefixCandle), mk), byte(iv))
				k = binary.BigEndian.AppendUint64(k, uint64(cs[i].Start)^1<<63)
				_ = b.Set(k, appendCandle(nil, &cs[i]), nil)
			}
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

// TestHistorySegmentDamage checks that a segment part that does not
// decode is reported by the load, naming it, and that the other parts
// are still read.
func TestHistorySegmentDamage(t *testing.T) {
	st := tempStore(t)
	live := newReadModel()
	var seq uint64
	for k := range 100 {
		tradePair(live, &seq, k, 3)
	}
	saveAll(t, st, live)
	badSeg := st.nextSeg
	bad := partKey(nil, prefixSeg, badSeg, 0)
	if err := st.db.Set(bad, []byte{segVersion, recFill, 3, 1, 2}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	m := newReadModel()
	_, err := m.loadHistory(st)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(fmt.Sprintf("segment %d part 0", badSeg))) {
		t.Fatalf("load of a damaged part: %v", err)
	}
	if m.Orders.len() != live.Orders.len() {
		t.Fatalf("%d orders read besides the damaged part, want %d", m.Orders.len(), live.Orders.len())
	}
}

// segParts encodes m as a base segment and returns its parts.
func segParts(t *testing.T, db *pebble.DB, m *readModel) [][]byte {
	b := db.NewBatch()
	defer b.Close()
	w := &segWriter{}
	w.reset(b, prefixBase, 1)
	if err := w.dump(m); err != nil {
		t.Fatal(err)
	}
	var parts [][]byte
	r := b.Reader()
	for {
		_, _, v, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return parts
		}
		parts = append(parts, bytes.Clone(v))
	}
}

// FuzzDecodeSegment feeds arbitrary bytes to the decoder of a segment
// part: it must not panic, and the history it accepts must encode to parts
// that read back as the same history (the same encoding again).
func FuzzDecodeSegment(f *testing.F) {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	live := newReadModel()
	live.keepOrders, live.keepFills = 3, 4
	var seq uint64
	for k := range 12 {
		tradePair(live, &seq, k, 3)
	}
	// An iceberg: its order record is of the version with a display
	// quantity. Another order, cancelled by self-trade prevention: its
	// record is of the version with a reason.
	seq++
	live.expect(99, &orderRec{Type: book.Limit, DisplayQty: 2}, nil)
	live.apply(&engine.Result{Seq: seq, Tag: 99, Kind: engine.CmdPlace, Outcome: engine.Outcome{ID: 100},
		Events: []engine.Event{{Market: 1, Event: book.Event{Kind: book.EvAccepted, OrderID: 100, Owner: 1, Side: book.Sell, Price: 100, Qty: 5}}}})
	seq++
	live.apply(&engine.Result{Seq: seq, Kind: engine.CmdPlace, Outcome: engine.Outcome{ID: 101},
		Events: []engine.Event{{Market: 1, Event: book.Event{Kind: book.EvAccepted, OrderID: 101, Owner: 1, Side: book.Buy, Price: 100, Qty: 1}},
			{Market: 1, Event: book.Event{Kind: book.EvCancelled, OrderID: 101, Owner: 1, Side: book.Buy, Reason: book.ReasonSelfTrade, Qty: 1}}}})
	c, _ := live.takeChanges()
	b := db.NewBatch()
	w := &segWriter{}
	w.reset(b, prefixSeg, 1)
	if err := w.changes(c); err != nil {
		f.Fatal(err)
	}
	r := b.Reader()
	if _, _, v, ok, err := r.Next(); ok && err == nil {
		f.Add(bytes.Clone(v))
	}
	b.Close()
	f.Add([]byte{segVersion, recGone, 1, 7})
	f.Add([]byte{segVersion, recCandleTrim, 3, 1, 0, 2})
	f.Fuzz(func(t *testing.T, v []byte) {
		m := newReadModel()
		if m.applyPart(v) != nil {
			return
		}
		parts := segParts(t, db, m)
		m2 := newReadModel()
		for _, p := range parts {
			if err := m2.applyPart(p); err != nil {
				t.Fatalf("re-encoded part refused: %v", err)
			}
		}
		if again := segParts(t, db, m2); fmt.Sprint(again) != fmt.Sprint(parts) {
			t.Fatalf("history %x re-encoded as\n%x\nthen\n%x", v, parts, again)
		}
	})
}

// TestHistoryCandlesAcrossSaves saves a history whose trades, between
// two saves, span several candles of each interval (a result every 17
// s), past maxCandles one-minute candles (so candle trims too), and
// checks after every save that the store reads back as the model: the
// change log logs, when it is taken, every candle changed since the last
// save (logCandles), not only the last of each interval.
func TestHistoryCandlesAcrossSaves(t *testing.T) {
	st := tempStore(t)
	live := newReadModel()
	live.keepOrders, live.keepFills = 50, 60
	var seq uint64
	r := rand.New(rand.NewPCG(3, 4))
	k := 0
	for k < 4*maxCandles {
		for range 1 + r.IntN(600) {
			tradePairEvery(live, &seq, k, 5, 17*time.Second)
			k++
		}
		saveAll(t, st, live)
		sameHistory(t, loadBack(t, st, live), live, false)
	}
	if n := len(live.Markets[1].Candles[0]); n != maxCandles {
		t.Fatalf("%d one-minute candles, want the test to reach maxCandles (%d)", n, maxCandles)
	}
}

// TestHistoryBaseInBatches writes a base of several parts through a batch
// committed at every part (writeBase commits it and reuses it as it goes),
// then checks that the save that puts the base in force reads back as the
// model.
func TestHistoryBaseInBatches(t *testing.T) {
	defer func(b int) { baseBatchBytes = b }(baseBatchBytes)
	baseBatchBytes = 1
	st, live, _ := savedModel(t, 5000, 5000, 2000, 7)
	if err := st.writeBase(live, saver(st, live)); err != nil {
		t.Fatal(err)
	}
	if st.bw.part < 3 {
		t.Fatalf("a base of %d parts: the test needs several, each committed on its own", st.bw.part)
	}
	saveAll(t, st, live)
	if b := numbers(t, st, prefixBase); len(b) != 1 || st.base != b[0] {
		t.Fatalf("bases %v, %d in force", b, st.base)
	}
	sameHistory(t, loadBack(t, st, live), live, false)
}

// savedModel returns a store holding a read model that keeps keepOrders
// done orders and keepFills fills an account, with the results of n
// trade pairs between accounts accounts saved, and its sequence number.
func savedModel(t *testing.T, keepOrders, keepFills, n, accounts int) (*store, *readModel, uint64) {
	t.Helper()
	st := tempStore(t)
	live := newReadModel()
	live.keepOrders, live.keepFills = keepOrders, keepFills
	var seq uint64
	for k := range n {
		tradePair(live, &seq, k, accounts)
	}
	saveAll(t, st, live)
	return st, live, seq
}
