package server

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// A command with more trade events than the earlier formula's 16 bits
// of event index numbers each one, consecutively, and the read model
// keeps them apart.
func TestTradeIDManyEvents(t *testing.T) {
	const n = 70_000
	res := &engine.Result{Seq: 9, Kind: engine.CmdPlace, Outcome: engine.Outcome{ID: n + 1, Trades: 1234}}
	res.Events = append(res.Events, engine.Event{Market: 1, Event: book.Event{Kind: book.EvAccepted,
		OrderID: n + 1, Owner: 2, Side: book.Buy, Price: 100, Qty: n}})
	for i := range n {
		res.Events = append(res.Events, engine.Event{Market: 1, Event: book.Event{Kind: book.EvTrade,
			OrderID: n + 1, Owner: 2, MakerID: uint64(i + 1), MakerOwner: 1, Side: book.Buy, Price: 100, Qty: 1,
			Remaining: int64(n - 1 - i)}})
	}
	const base = 5 << 16
	k := 0
	for i := range res.Events {
		if res.Events[i].Kind == book.EvTrade {
			k++
			if got, want := tradeID(base, res, k), uint64(base+1234+k); got != want {
				t.Fatalf("trade %d: id %d, want %d", k, got, want)
			}
		}
	}
	m := newReadModel()
	m.keepFills, m.tradeBase = -1, base
	m.apply(res)
	fills := m.fills(nil, 2, 0, 0, n+1)
	if len(fills) != n {
		t.Fatalf("%d fills, want %d", len(fills), n)
	}
	for i, f := range fills {
		if f.TradeID != uint64(base+1234+i+1) {
			t.Fatalf("fill %d: trade id %d, want %d", i, f.TradeID, base+1234+i+1)
		}
	}
	// Paging by trade id finds the fills past the 65,536th.
	if page := m.fills(nil, 2, 0, fills[1<<16].TradeID, 10); len(page) != 10 || page[0].TradeID != fills[1<<16+1].TradeID {
		t.Fatalf("fills after %d: %v", fills[1<<16].TradeID, page)
	}
}

// tradeFills returns the trade ids of a fill list (the POST answer's
// fills, GET /v1/fills).
func tradeFills(t *testing.T, list any) []uint64 {
	t.Helper()
	var ids []uint64
	for _, x := range list.([]any) {
		ids = append(ids, uint64(x.(map[string]any)["trade_id"].(float64)))
	}
	return ids
}

// publicTrades returns the ids of a market's public trades, oldest first.
func (ts *testServer) publicTrades(sym string) []uint64 {
	ts.t.Helper()
	var ids []uint64
	for _, x := range ts.must(200, "GET", "/v1/markets/"+sym+"/trades", "", "")["trades"].([]any) {
		ids = append(ids, uint64(x.(map[string]any)["id"].(float64)))
	}
	slices.Reverse(ids)
	return ids
}

// fillIDs returns the trade ids of the token's fills, oldest first, paging
// with after= by pages of limit.
func (ts *testServer) fillIDs(tok string, limit int) []uint64 {
	ts.t.Helper()
	var all []uint64
	after := ""
	for {
		page := tradeFills(ts.t, ts.must(200, "GET", fmt.Sprintf("/v1/fills?limit=%d%s", limit, after), tok, "")["fills"])
		all = append(all, page...)
		if len(page) < limit {
			return all
		}
		after = fmt.Sprintf("&after=%d", page[len(page)-1])
	}
}

// Two trades of one command get distinct consecutive ids, the same in
// the POST answer, both accounts' fills, the public trades and the
// streams; a batch order's trades follow; the ids survive a restart and
// keep increasing after it.
func TestTradeIDsAgree(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, nil)
	alice, bob := ts.setup()
	if b := ts.s.rm.tradeBase; b != 0 {
		t.Fatalf("trade id base %d in a new data directory", b)
	}
	pub, priv := ts.dial(), ts.dial()
	pub.send(`{"op":"subscribe","channels":["trades:BTC-USDT"]}`)
	pub.next()
	priv.send(`{"op":"auth","token":"` + alice + `"}`)
	priv.next()
	priv.send(`{"op":"subscribe","channels":["fills"]}`)
	priv.next()

	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.1"}`)
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65001","quantity":"0.1"}`)
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65002","quantity":"0.1"}`)
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65003","quantity":"0.1"}`)
	out := ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65001","quantity":"0.2"}`)
	ids := tradeFills(t, out["fills"])
	if len(ids) != 2 || ids[0] != 1 || ids[1] != 2 {
		t.Fatalf("the POST answer's trade ids %v, want [1 2]", ids)
	}
	batch := ts.must(200, "POST", "/v1/orders/batch", bob,
		`{"orders":[{"market":"BTC-USDT","side":"buy","price":"65003","quantity":"0.2"}]}`)
	ids = append(ids, tradeFills(t, batch["results"].([]any)[0].(map[string]any)["fills"])...)
	if want := []uint64{1, 2, 3, 4}; !slices.Equal(ids, want) {
		t.Fatalf("trade ids %v after the batch, want %v", ids, want)
	}
	check := func(ts *testServer, want []uint64) {
		t.Helper()
		if got := ts.fillIDs(bob, 1); !slices.Equal(got, want) {
			t.Fatalf("taker's fills %v, want %v", got, want)
		}
		if got := ts.fillIDs(alice, 2); !slices.Equal(got, want) {
			t.Fatalf("maker's fills %v, want %v", got, want)
		}
		if got := ts.publicTrades("BTC-USDT"); !slices.Equal(got, want) {
			t.Fatalf("public trades %v, want %v", got, want)
		}
	}
	check(ts, ids)
	var streamed, filled []uint64
	for len(streamed) < len(ids) {
		var d struct{ ID uint64 }
		m := pub.expect("trade", func(m wsMsg) bool { return m.Channel == "trades:BTC-USDT" })
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatal(err)
		}
		streamed = append(streamed, d.ID)
	}
	for len(filled) < len(ids) {
		var d struct {
			TradeID uint64 `json:"trade_id"`
		}
		m := priv.expect("fill", func(m wsMsg) bool { return m.Channel == "fills" })
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatal(err)
		}
		filled = append(filled, d.TradeID)
	}
	if !slices.Equal(streamed, ids) || !slices.Equal(filled, ids) {
		t.Fatalf("streamed trades %v and fills %v, want %v", streamed, filled, ids)
	}
	ts.stop()

	ts2 := start(t, dir, nil)
	check(ts2, ids)
	ts2.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.1"}`)
	out = ts2.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.1"}`)
	if got := tradeFills(t, out["fills"]); len(got) != 1 || got[0] != 5 {
		t.Fatalf("trade ids after the restart %v, want [5]", got)
	}
	check(ts2, append(ids, 5))
}

// After a crash the order history is rebuilt from the log (the killed
// process never saved it): the trades get the ids the POST answers gave.
func TestTradeIDsAfterCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd, ts := startChild(t, dir, freeAddr(t))
	defer cmd.Process.Kill()
	alice, bob := ts.setup()
	var ids []uint64
	for round := range 3 {
		for i := range 3 {
			ts.must(201, "POST", "/v1/orders", alice, fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":"%d","quantity":"0.01"}`, 65000+i))
		}
		out := ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65002","quantity":"0.03"}`)
		got := tradeFills(t, out["fills"])
		if len(got) != 3 {
			t.Fatalf("round %d: fills %v", round, got)
		}
		ids = append(ids, got...)
	}
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(ids, want) {
		t.Fatalf("trade ids %v, want %v", ids, want)
	}
	killChild(t, cmd, ts)

	ts2 := start(t, dir, nil)
	if got := ts2.fillIDs(bob, 1000); !slices.Equal(got, ids) {
		t.Fatalf("fills after the crash %v, want %v", got, ids)
	}
	if got := ts2.publicTrades("BTC-USDT"); !slices.Equal(got, ids) {
		t.Fatalf("public trades after the crash %v, want %v", got, ids)
	}
}

// A data directory written by an earlier release (a history, no trade id
// base) gets a base above every id that release could have given, once:
// new ids continue above the old ones, and after= paging carries on.
func TestTradeIDUpgrade(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, nil)
	alice, bob := ts.setup()
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.2"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.1"}`)
	ts.stop()

	// As the earlier release left it: no base, and the trade numbered
	// sequence × 65,536 + event index (as if it were the last command).
	nop := ts.s.log
	st, err := openStore(dir, &nop)
	if err != nil {
		t.Fatal(err)
	}
	m := newReadModel()
	m.keepFills = -1
	r, err := m.loadHistory(st)
	if err != nil {
		t.Fatal(err)
	}
	st.resume(r)
	oldID := m.Seq<<16 | 1
	c := newChanges(nil, &changePools{})
	m.Orders.each(func(o *orderRec) { c.orders.add(*o) })
	for acct, a := range m.accts {
		for _, f := range a.fills {
			if f.TradeID != 1 {
				t.Fatalf("stored fill %+v, want trade 1", f)
			}
			f.TradeID = oldID
			c.fills.add(acctFill{Account: acct, fillRec: f})
		}
	}
	for id, d := range m.Markets {
		for _, tr := range d.Trades {
			tr.ID = oldID
			c.trades.add(mktTrade{Market: id, tradeRec: tr})
		}
		for iv, cs := range d.Candles {
			for _, cd := range cs {
				c.candles.add(mktCandle{Market: id, Interval: uint8(iv), candle: cd})
			}
		}
	}
	if err := st.writeChanges(c, m.Seq, true); err != nil {
		t.Fatal(err)
	}
	if err := st.db.Delete(keyTradeBase, nil); err != nil {
		t.Fatal(err)
	}
	st.close()

	ts2 := start(t, dir, nil)
	base := ts2.s.rm.tradeBase
	if base < (m.Seq+1)<<16 || base >= 1<<53 {
		t.Fatalf("base %d after an upgrade from history seq %d", base, m.Seq)
	}
	out := ts2.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.1"}`)
	first := tradeFills(t, out["fills"])
	if len(first) != 1 || first[0] != base+2 {
		t.Fatalf("first trade after the upgrade %v, want [%d]", first, base+2)
	}
	for _, tok := range []string{alice, bob} {
		if got := ts2.fillIDs(tok, 1); !slices.Equal(got, []uint64{oldID, base + 2}) {
			t.Fatalf("fills %v, want [%d %d]", got, oldID, base+2)
		}
	}
	if got := ts2.publicTrades("BTC-USDT"); !slices.Equal(got, []uint64{oldID, base + 2}) {
		t.Fatalf("public trades %v, want [%d %d]", got, oldID, base+2)
	}
	page := tradeFills(t, ts2.must(200, "GET", fmt.Sprintf("/v1/fills?after=%d", oldID), bob, "")["fills"])
	if !slices.Equal(page, first) {
		t.Fatalf("fills after the old id %v, want %v", page, first)
	}
	ts2.stop()

	// Recorded once: a later start keeps it, ids keep counting.
	ts3 := start(t, dir, nil)
	if ts3.s.rm.tradeBase != base {
		t.Fatalf("base %d on the next start, was %d", ts3.s.rm.tradeBase, base)
	}
	ts3.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.1"}`)
	out = ts3.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.1"}`)
	if got := tradeFills(t, out["fills"]); len(got) != 1 || got[0] != base+3 {
		t.Fatalf("trade ids on the next start %v, want [%d]", got, base+3)
	}
}

func TestTradeBase(t *testing.T) {
	for _, c := range []struct{ last, want uint64 }{{0, 0}, {1, 2 << 16}, {123_456, 123_457 << 16}, {1<<37 - 2, 1<<53 - 1<<16}} {
		if got := upgradeTradeBase(c.last); got != c.want {
			t.Errorf("upgradeTradeBase(%d) = %d, want %d", c.last, got, c.want)
		}
		// Above every id the earlier release gave up to last.
		if c.last > 0 && upgradeTradeBase(c.last) <= c.last<<16|(1<<16-1) {
			t.Errorf("upgradeTradeBase(%d) not above the old ids", c.last)
		}
	}
	st := tempStore(t)
	if b, rec, err := st.tradeBase(41); err != nil || !rec || b != 42<<16 {
		t.Fatalf("first start over seq 41: base %d unrecorded %v, %v", b, rec, err)
	}
	if b, rec, err := st.tradeBase(50); err != nil || !rec || b != 51<<16 {
		t.Fatalf("first start again, not recorded (a refused start): base %d unrecorded %v, %v", b, rec, err)
	}
	if err := st.setTradeBase(42 << 16); err != nil {
		t.Fatal(err)
	}
	if b, rec, err := st.tradeBase(1000); err != nil || rec || b != 42<<16 {
		t.Fatalf("next start: base %d unrecorded %v, %v; want the recorded %d", b, rec, err, 42<<16)
	}
	fresh := tempStore(t)
	if b, rec, err := fresh.tradeBase(0); err != nil || !rec || b != 0 {
		t.Fatalf("new data directory: base %d unrecorded %v, %v", b, rec, err)
	}
	if err := fresh.setTradeBase(0); err != nil {
		t.Fatal(err)
	}
	if b, _, err := fresh.tradeBase(77); err != nil || b != 0 {
		t.Fatalf("new data directory, next start: base %d, %v", b, err)
	}
	if err := fresh.set(keyTradeBase, binary.BigEndian.AppendUint32(nil, 1)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fresh.tradeBase(0); err == nil || !strings.Contains(err.Error(), "trade id base") {
		t.Fatalf("a damaged base: %v", err)
	}
}
