package server

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/instant-social-trading/ist/book"
)

// storedKeys counts the store's keys under prefix.
func storedKeys(t *testing.T, st *store, prefix []byte) int {
	t.Helper()
	upper := append(bytes.Clone(prefix[:len(prefix)-1]), prefix[len(prefix)-1]+1)
	it, err := st.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

// diffAt describes where got first differs from want.
func diffAt(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	clip := func(s string) string { return s[max(0, i-80):min(len(s), i+80)] }
	return fmt.Sprintf("(%d bytes, want %d; first difference at %d)\n…%s…\nwant\n…%s…", len(got), len(want), i, clip(got), clip(want))
}

// storedHistory reads the history base and segments of st into a fresh
// read model, as stored: without the retention and indexes of a load.
func storedHistory(t *testing.T, st *store) *readModel {
	t.Helper()
	m := newReadModel()
	if _, err := m.loadStored(st); err != nil {
		t.Fatal(err)
	}
	return m
}

// storedFills counts the fills of m.
func storedFills(m *readModel) int {
	n := 0
	for _, a := range m.accts {
		n += len(a.fills)
	}
	return n
}

// listLen returns the length of the list key of GET path.
func (ts *testServer) listLen(path, token, key string) int {
	ts.t.Helper()
	return len(ts.must(200, "GET", path, token, "")[key].([]any))
}

// TestHistoryIncremental checks that a save writes only what changed
// since the last one, and that the store then reads back as the model in
// memory.
func TestHistoryIncremental(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, HistoryInterval: -1})
	alice, bob := ts.setup()
	var ids []string
	for i := range 5 {
		out := ts.must(201, "POST", "/v1/orders", alice, fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":"%d","quantity":"0.01"}`, 65000+i))
		ids = append(ids, id(out))
	}
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.01"}`)
	if _, err := ts.s.saveHistory(); err != nil {
		t.Fatal(err)
	}
	if n := storedHistory(t, ts.s.store).Orders.len(); n != 6 {
		t.Fatalf("%d orders stored, want 6", n)
	}
	// Nothing changed: nothing to write.
	c, _ := ts.s.rm.takeChanges()
	if c.n != 0 {
		t.Fatalf("%d changes after a save", c.n)
	}
	// One cancel: one order to write.
	ts.must(200, "DELETE", "/v1/orders/"+ids[3], alice, "")
	c, seq := ts.s.rm.takeChanges()
	var got []uint64
	c.orders.each(func(o *orderRec) { got = append(got, o.ID) })
	if fmt.Sprint(got) != "["+ids[3]+"]" || c.fills.cs != nil || c.trades.cs != nil {
		t.Fatalf("changes after one cancel: orders %v, %d entries", got, c.n)
	}
	ts.s.rm.putBack(c)
	// The engine's view tick may have advanced the sequence meanwhile.
	saved, err := ts.s.saveHistory()
	if err != nil || saved < seq {
		t.Fatalf("saved to %d (%v), want ≥ %d", saved, err, seq)
	}
	seq = saved
	// The store reads back as the model.
	m := newReadModel()
	if _, err := m.loadHistory(ts.s.store); err != nil {
		t.Fatal(err)
	}
	if m.Seq != seq {
		t.Fatalf("stored seq %d, want %d", m.Seq, seq)
	}
	live := ts.s.rm
	live.mu.RLock()
	defer live.mu.RUnlock()
	sameHistory(t, m, live, true)
}

// sameHistory fails t unless m, read back from a store, holds what live
// holds: orders, fills (and each account's order ids, if ids), and
// market data.
func sameHistory(t *testing.T, m, live *readModel, ids bool) {
	t.Helper()
	if m.Orders.len() != live.Orders.len() {
		t.Fatalf("%d orders read back, want %d", m.Orders.len(), live.Orders.len())
	}
	live.Orders.each(func(o *orderRec) {
		r := m.Orders.get(o.ID)
		want := *o
		if r != nil {
			want.logged = r.logged // bookkeeping of the change log, not stored
		}
		if r == nil || *r != want {
			t.Fatalf("order %d read back as %+v, want %+v", o.ID, r, o)
		}
	})
	for a, h := range live.accts {
		r := m.accts[a]
		if r == nil {
			t.Fatalf("account %d not read back", a)
		}
		if got, want := fmt.Sprint(r.fills), fmt.Sprint(h.fills); got != want {
			t.Fatalf("account %d: fills read back as %s", a, diffAt(got, want))
		}
		if got, want := fmt.Sprint(r.ids), fmt.Sprint(h.ids); ids && got != want {
			t.Fatalf("account %d: order ids read back as %s", a, diffAt(got, want))
		}
	}
	for mk, d := range live.Markets {
		r := m.Markets[mk]
		if fmt.Sprint(r.recent(nil, 100)) != fmt.Sprint(d.recent(nil, 100)) || fmt.Sprint(r.Candles) != fmt.Sprint(d.Candles) {
			t.Fatalf("market %d read back as %+v, want %+v", mk, r, d)
		}
	}
}

// TestHistoryRetention checks that done orders and fills beyond the
// retention leave memory and the store, open orders stay, and a restart
// (also with a lower retention) restores what is kept.
func TestHistoryRetention(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, &Options{AdminToken: adminTok, HistoryOrders: 3, HistoryFills: 2})
	alice, bob := ts.setup()
	open := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"70000","quantity":"0.01"}`)
	var cancelled []string
	for i := range 6 {
		out := ts.must(201, "POST", "/v1/orders", alice, fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":"%d","quantity":"0.01"}`, 66000+i))
		ts.must(200, "DELETE", "/v1/orders/"+id(out), alice, "")
		cancelled = append(cancelled, id(out))
	}
	for range 4 { // 4 fills each for alice and bob
		ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.01"}`)
		ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.01"}`)
	}
	check := func(ts *testServer, doneWant, fillsWant int) {
		t.Helper()
		if n := ts.listLen("/v1/orders?status=done&limit=1000", alice, "orders"); n != doneWant {
			t.Fatalf("alice has %d done orders, want %d", n, doneWant)
		}
		if n := ts.listLen("/v1/orders?status=open", alice, "orders"); n != 1 {
			t.Fatalf("alice has %d open orders, want 1", n)
		}
		ts.must(200, "GET", "/v1/orders/"+id(open), alice, "")
		if code, _ := ts.errCode("GET", "/v1/orders/"+cancelled[0], alice, ""); code != 404 {
			t.Fatalf("trimmed order: %d", code)
		}
		if n := ts.listLen("/v1/fills?limit=1000", alice, "fills"); n != fillsWant {
			t.Fatalf("alice has %d fills, want %d", n, fillsWant)
		}
		if n := ts.listLen("/v1/markets/BTC-USDT/trades", "", "trades"); n != 4 {
			t.Fatalf("%d public trades, want 4", n)
		}
	}
	check(ts, 3, 2)
	// The last done orders are the last finished: the filled ones.
	done := ts.must(200, "GET", "/v1/orders?status=done", alice, "")["orders"].([]any)
	for _, o := range done {
		if o.(map[string]any)["status"] != "filled" {
			t.Fatalf("done orders kept %v", done)
		}
	}
	if _, err := ts.s.saveHistory(); err != nil {
		t.Fatal(err)
	}
	// alice: 1 open + 3 done; bob: 3 done.
	stored := storedHistory(t, ts.s.store)
	if n := stored.Orders.len(); n != 7 {
		t.Fatalf("%d orders stored, want 7", n)
	}
	if n := storedFills(stored); n != 4 {
		t.Fatalf("%d fills stored, want 4", n)
	}
	ts.stop()

	ts2 := start(t, dir, &Options{AdminToken: adminTok, HistoryOrders: 3, HistoryFills: 2})
	check(ts2, 3, 2)
	ts2.stop()

	ts3 := start(t, dir, &Options{AdminToken: adminTok, HistoryOrders: 1, HistoryFills: 1})
	check(ts3, 1, 1)
	ts3.stop()
	st, err := openStore(dir, &ts3.s.log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	stored = storedHistory(t, st)
	if n := stored.Orders.len(); n != 3 {
		t.Fatalf("%d orders stored after a lower retention, want 3", n)
	}
	if n := storedFills(stored); n != 2 {
		t.Fatalf("%d fills stored after a lower retention, want 2", n)
	}
}

// TestHistoryLegacy starts from a store holding the old whole-history
// value: it is read, rewritten as a segment and deleted.
func TestHistoryLegacy(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, &Options{AdminToken: adminTok})
	alice, bob := ts.setup()
	sell := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.02","client_order_id":"old"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.01"}`)
	// What an older istd saved: the model as one gob value.
	live := ts.s.rm
	live.mu.RLock()
	d := legacyData{Seq: live.Seq, Orders: map[uint64]*legacyOrder{}, ByAccount: map[uint64][]uint64{},
		Fills: map[uint64][]fillRec{}, Markets: map[uint32]*legacyMarket{}}
	for id, md := range live.Markets {
		lm := &legacyMarket{Trades: md.Trades, Next: md.Next}
		for iv, cs := range md.Candles {
			for _, c := range cs {
				lm.Candles[iv] = append(lm.Candles[iv], legacyCandle{Start: c.Start, Open: c.Open, High: c.High, Low: c.Low,
					Close: c.Close, Volume: int64(c.Volume.Lo), QuoteVolume: int64(c.QuoteVolume.Lo), Trades: c.Trades})
			}
		}
		d.Markets[id] = lm
	}
	for a, h := range live.accts {
		d.ByAccount[a], d.Fills[a] = h.ids, h.fills
	}
	live.Orders.each(func(o *orderRec) {
		// The old record, field for field (gob matches fields by name).
		d.Orders[o.ID] = &legacyOrder{ID: o.ID, ClientID: string(o.clientID()), Account: o.Account, Market: o.Market,
			Side: o.Side, Type: o.Type, TIF: o.TIF, STP: o.STP, PostOnly: o.PostOnly, Stop: o.Stop, Price: o.Price,
			StopPrice: o.StopPrice, Qty: o.Qty, QuoteBudget: o.QuoteBudget, Filled: o.Filled, Notional: o.Notional,
			Status: o.Status, Created: o.Created, Updated: o.Updated}
	})
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(&d)
	live.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	ts.stop()
	st, err := openStore(dir, &ts.s.log)
	if err != nil {
		t.Fatal(err)
	}
	b := st.db.NewBatch()
	_ = b.DeleteRange([]byte("rm/"), []byte("rm0"), nil)
	_ = b.Set(keyLegacy, buf.Bytes(), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	st.close()

	for range 2 { // the first start converts, the second reads the records
		ts2 := start(t, dir, &Options{AdminToken: adminTok})
		if o := ts2.must(200, "GET", "/v1/orders/"+id(sell), alice, ""); o["client_order_id"] != "old" || o["status"] != "partially_filled" {
			t.Fatalf("order %v", o)
		}
		if n := ts2.listLen("/v1/fills", bob, "fills"); n != 1 {
			t.Fatalf("bob has %d fills", n)
		}
		if n := ts2.listLen("/v1/markets/BTC-USDT/trades", "", "trades"); n != 1 {
			t.Fatalf("%d trades", n)
		}
		ts2.stop()
	}
	st, err = openStore(dir, &ts.s.log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if v, err := st.get(keyLegacy); err != nil || v != nil {
		t.Fatalf("old history value still there: %d bytes, %v", len(v), err)
	}
}

// TestHistoryCrashAfterSave starts from a copy of a data directory taken
// as a crash would leave it: the history saved part of the way, the log
// further. Start-up must read what was saved and rebuild the rest from the
// log, without counting anything twice.
func TestHistoryCrashAfterSave(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, HistoryInterval: -1})
	alice, bob := ts.setup()
	var ids []string
	for i := range 3 {
		out := ts.must(201, "POST", "/v1/orders", alice, fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":"%d","quantity":"0.02"}`, 65000+i))
		ids = append(ids, id(out))
	}
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.01"}`)
	if _, err := ts.s.saveHistory(); err != nil {
		t.Fatal(err)
	}
	// After the save: another fill of the first order, a new fill of the
	// second, a cancel and a new order.
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65001","quantity":"0.02"}`)
	ts.must(200, "DELETE", "/v1/orders/"+ids[2], alice, "")
	late := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"66000","quantity":"0.01"}`)
	want := map[string]any{}
	for _, oid := range append(ids, id(late)) {
		o := ts.must(200, "GET", "/v1/orders/"+oid, alice, "")
		want[oid] = fmt.Sprint(o["status"], o["filled"], o["avg_price"])
	}
	wantFills := fmt.Sprint(ts.must(200, "GET", "/v1/fills", alice, "")["fills"])
	wantTrades := fmt.Sprint(ts.must(200, "GET", "/v1/markets/BTC-USDT/trades", "", "")["trades"])
	wantCandles := fmt.Sprint(ts.must(200, "GET", "/v1/markets/BTC-USDT/candles?interval=1m", "", "")["candles"])
	// The crash: the log and the store as they are, the history unsaved.
	dir := t.TempDir() + "/copy"
	if err := ts.s.wal.Backup(dir); err != nil {
		t.Fatal(err)
	}
	if err := ts.s.store.checkpoint(dir + "/server"); err != nil {
		t.Fatal(err)
	}
	ts.stop()

	ts2 := start(t, dir, &Options{AdminToken: adminTok})
	for oid, w := range want {
		o := ts2.must(200, "GET", "/v1/orders/"+oid, alice, "")
		if got := fmt.Sprint(o["status"], o["filled"], o["avg_price"]); got != w {
			t.Fatalf("order %s after the crash: %s, want %s", oid, got, w)
		}
	}
	if got := fmt.Sprint(ts2.must(200, "GET", "/v1/fills", alice, "")["fills"]); got != wantFills {
		t.Fatalf("fills after the crash:\n%s\nwant\n%s", got, wantFills)
	}
	if got := fmt.Sprint(ts2.must(200, "GET", "/v1/markets/BTC-USDT/trades", "", "")["trades"]); got != wantTrades {
		t.Fatalf("trades after the crash:\n%s\nwant\n%s", got, wantTrades)
	}
	if got := fmt.Sprint(ts2.must(200, "GET", "/v1/markets/BTC-USDT/candles?interval=1m", "", "")["candles"]); got != wantCandles {
		t.Fatalf("candles after the crash:\n%s\nwant\n%s", got, wantCandles)
	}
}

// TestHistoryChunkReuse saves many change logs, each of several chunks,
// through the chunk pools (each save's chunks serve the next change logs),
// and checks that the store then reads back as the model in memory.
func TestHistoryChunkReuse(t *testing.T) {
	st := tempStore(t)
	live := newReadModel()
	live.keepOrders, live.keepFills = 700, 900 // trims too
	var seq uint64
	k := 0
	for save := range 6 {
		for range 1500 + 700*save {
			tradePair(live, &seq, k, 5)
			k++
		}
		c, s := live.takeChanges()
		if len(c.orders.cs) < 2 {
			t.Fatalf("save %d: %d chunks of orders; the test needs several", save, len(c.orders.cs))
		}
		if err := st.writeChanges(c, s, false); err != nil {
			t.Fatal(err)
		}
		c.release()
		if save == 0 && len(live.pools.orders.free) == 0 {
			t.Fatal("a released change log gave no chunks back")
		}
	}
	m := newReadModel()
	if _, err := m.loadHistory(st); err != nil {
		t.Fatal(err)
	}
	if m.Seq != seq {
		t.Fatalf("read back seq %d, want %d", m.Seq, seq)
	}
	sameHistory(t, m, live, false)
}

// TestHistoryRecordNames: a stored record whose side, type, time in
// force, STP, status or flags has no meaning is refused as damaged, not
// shown with a placeholder name ("type?").
func TestHistoryRecordNames(t *testing.T) {
	good := orderRec{ID: 7, Account: 3, Market: 1, Side: book.Sell, Type: book.StopLimit, TIF: book.FOK,
		STP: book.STPCancelBoth, Price: 650, StopPrice: 640, Qty: 9, Status: statusPartial, Stop: true}
	if _, err := decodeOrderRec(7, appendOrder(nil, &good)); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"side", "type", "time in force", "stp", "flags", "status"} {
		b := appendOrder(nil, &good)
		b[1+i] = 0x7f // after the version byte, in this order
		if o, err := decodeOrderRec(7, b); !errors.Is(err, errHistoryRecord) {
			t.Errorf("%s 0x7f: %+v, %v", name, o, err)
		}
	}
	fb := appendFill(nil, &fillRec{OrderID: 7, Market: 1, Side: book.Sell, Price: 650, Qty: 2, Time: 5})
	fb[1] = 2
	if f, err := decodeFillRec(7, false, fb); !errors.Is(err, errHistoryRecord) {
		t.Errorf("fill side 2: %+v, %v", f, err)
	}
	tb := appendTradeRec(nil, &tradeRec{Price: 650, Qty: 2, Side: book.Sell, Time: 5})
	tb[1] = 2
	if tr, err := decodeTradeRecord(7, tb); !errors.Is(err, errHistoryRecord) {
		t.Errorf("trade side 2: %+v, %v", tr, err)
	}
}
