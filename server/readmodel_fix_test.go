package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// twoTraders creates market sym (no fees, no minimum notional) and returns
// a seller (1000 base) and a buyer (10^6 quote).
func twoTraders(ts *testServer, sym, base, quote, tick, lot string) (seller, buyer string) {
	ts.t.Helper()
	ts.must(201, "POST", "/v1/admin/markets", adminTok, fmt.Sprintf(
		`{"symbol":%q,"base":%q,"quote":%q,"tick_size":%q,"lot_size":%q,"min_notional":"0","maker_fee_bps":0,"taker_fee_bps":0}`,
		sym, base, quote, tick, lot))
	sid, seller := ts.signup("seller")
	bid, buyer := ts.signup("buyer")
	ts.deposit(sid, base, "1000")
	ts.deposit(bid, quote, "1000000")
	return seller, buyer
}

// deposit credits account acct with amount of asset, under a ref of its
// own (refs are unique over the exchange).
func (ts *testServer) deposit(acct uint64, asset, amount string) {
	ts.t.Helper()
	ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(
		`{"account_id":%d,"asset":%q,"amount":%q,"ref":"dep-%d-%s-%s"}`, acct, asset, amount, acct, asset, amount))
}

// tradeResult applies to m one result of a command at time at that made
// one trade of qty lots at price on market 1.
func tradeResult(m *readModel, seq uint64, at time.Time, price, qty int64) {
	res := &engine.Result{Seq: seq, Time: at.UnixNano(), Kind: engine.CmdPlace}
	res.Trades = seq
	res.Events = []engine.Event{{Event: book.Event{Kind: book.EvTrade, Side: book.Buy, Price: price, Qty: qty}, Market: 1}}
	m.apply(res)
}

// orderStatus returns "status filled" of order oid.
func (ts *testServer) orderStatus(token, oid string) string {
	ts.t.Helper()
	o := ts.must(200, "GET", "/v1/orders/"+oid, token, "")
	return fmt.Sprint(o["status"], " ", o["filled"])
}

// Budget stop buys released together, more of them than the four order
// slots apply once had, and each spending its whole budget (no event ends
// them), are filled: also after a restart, from the saved history and
// from the log's replay. (Before, the fifth and later stayed
// "partially_filled" for ever: listed as open, not cancellable.)
func TestStopBudgetBuysReleasedTogetherAreFilled(t *testing.T) {
	for _, crash := range []bool{false, true} {
		dir := t.TempDir()
		opts := &Options{AdminToken: adminTok, HistoryInterval: -1}
		ts := start(t, dir, opts)
		seller, buyer := twoTraders(ts, "X-Y", "X", "Y", "1", "1")
		ts.must(201, "POST", "/v1/orders", seller, `{"market":"X-Y","side":"sell","price":"100","quantity":"10"}`)
		var stops []string
		for range 6 {
			stops = append(stops, id(ts.must(201, "POST", "/v1/orders", buyer,
				`{"market":"X-Y","side":"buy","type":"stop_market","stop_price":"100","quote_quantity":"100"}`)))
		}
		ts.must(201, "POST", "/v1/orders", buyer, `{"market":"X-Y","side":"buy","price":"100","quantity":"1"}`)
		check := func(when string) {
			t.Helper()
			for i, s := range stops {
				if got := ts.orderStatus(buyer, s); got != "filled 1" {
					t.Errorf("crash %v, %s: stop %d of %d: %s, want filled 1", crash, when, i+1, len(stops), got)
				}
			}
			if open := ts.must(200, "GET", "/v1/orders?status=open", buyer, "")["orders"].([]any); len(open) != 0 {
				t.Errorf("crash %v, %s: open orders %v", crash, when, open)
			}
		}
		check("running")
		if crash {
			crashStop(ts) // the restart replays every command
		} else {
			ts.stop() // the restart reads the saved history
		}
		ts = start(t, dir, opts)
		check("after a restart")
		ts.stop()
	}
}

// A stop budget buy released after the mirrored orders of four followers
// took the first order slots is filled too.
func TestStopBudgetBuyAfterMirroredOrdersIsFilled(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	seller, buyer := twoTraders(ts, "X-Y", "X", "Y", "1", "1")
	lid, lead := ts.signup("leader")
	ts.deposit(lid, "Y", "1000")
	ts.must(200, "PUT", "/v1/social/leader", lead, `{"profit_share_bps":0}`)
	for i := range 4 {
		fid, fol := ts.signup(fmt.Sprintf("follower%d", i))
		ts.deposit(fid, "Y", "1000")
		ts.must(201, "POST", "/v1/social/follows", fol, fmt.Sprintf(
			`{"leader_id":%d,"allocation":"1000","mode":"multiplier","value":"1","slippage_bps":300}`, lid))
	}
	// The leader and three mirrors buy at 100; the fourth mirror buys at
	// 101, which releases the stop: the sixth order of the command.
	ts.must(201, "POST", "/v1/orders", seller, `{"market":"X-Y","side":"sell","price":"100","quantity":"4"}`)
	ts.must(201, "POST", "/v1/orders", seller, `{"market":"X-Y","side":"sell","price":"101","quantity":"10"}`)
	stop := id(ts.must(201, "POST", "/v1/orders", buyer,
		`{"market":"X-Y","side":"buy","type":"stop_market","stop_price":"101","quote_quantity":"101"}`))
	ts.must(201, "POST", "/v1/orders", lead, `{"market":"X-Y","side":"buy","price":"100","quantity":"1","time_in_force":"ioc"}`)
	trades := ts.must(200, "GET", "/v1/markets/X-Y/trades", "", "")["trades"].([]any)
	if len(trades) != 6 {
		t.Fatalf("want 6 trades (leader, 4 mirrors, stop), got %v", trades)
	}
	if got := ts.orderStatus(buyer, stop); got != "filled 1" {
		t.Fatalf("stop released after four mirrored orders: %s, want filled 1", got)
	}
}

// A buy by quote budget that stops for lack of liquidity with budget
// enough for another lot expires (with what it filled); one whose rest
// cannot buy a lot at its last fill's price is filled.
func TestBudgetBuyStatus(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	seller, buyer := twoTraders(ts, "X-Y", "X", "Y", "1", "1")
	for _, c := range []struct {
		asks   []string // "price quantity"
		budget string
		want   string // status filled
	}{
		{[]string{"100 1"}, "1000", "expired 1"},         // out of liquidity: 900 left
		{[]string{"100 1"}, "199", "filled 1"},           // 99 left: not a lot at 100
		{[]string{"100 2"}, "200", "filled 2"},           // the whole budget: no event ends it
		{[]string{"100 1", "150 5"}, "230", "expired 1"}, // 130 left: a lot at 100, not at 150
		{nil, "100", "expired 0"},
	} {
		for _, a := range c.asks {
			var p, q string
			fmt.Sscan(a, &p, &q)
			ts.must(201, "POST", "/v1/orders", seller, fmt.Sprintf(`{"market":"X-Y","side":"sell","price":%q,"quantity":%q}`, p, q))
		}
		o := ts.must(201, "POST", "/v1/orders", buyer, fmt.Sprintf(`{"market":"X-Y","side":"buy","type":"market","quote_quantity":%q}`, c.budget))["order"].(map[string]any)
		if got := fmt.Sprint(o["status"], " ", o["filled"]); got != c.want {
			t.Errorf("budget %s against %v: %s, want %s", c.budget, c.asks, got, c.want)
		}
		if got := ts.orderStatus(buyer, id(map[string]any{"order": o})); got != fmt.Sprint(o["status"], " ", o["filled"]) {
			t.Errorf("budget %s: read back %s, answered %v", c.budget, got, o)
		}
		ts.must(200, "DELETE", "/v1/orders?market=X-Y", seller, "")
	}
}

// A stop that triggers without trading gets a new updated_at.
func TestTriggeredStopUpdatedAt(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	seller, buyer := twoTraders(ts, "X-Y", "X", "Y", "1", "1")
	stop := id(ts.must(201, "POST", "/v1/orders", seller, `{"market":"X-Y","side":"sell","type":"stop_limit","stop_price":"95","price":"200","quantity":"1"}`))
	before := ts.must(200, "GET", "/v1/orders/"+stop, seller, "")
	time.Sleep(5 * time.Millisecond)
	ts.must(201, "POST", "/v1/orders", buyer, `{"market":"X-Y","side":"buy","price":"90","quantity":"1"}`)
	ts.must(201, "POST", "/v1/orders", seller, `{"market":"X-Y","side":"sell","price":"90","quantity":"1"}`)
	after := ts.must(200, "GET", "/v1/orders/"+stop, seller, "")
	if after["triggered"] != true || after["status"] != "open" {
		t.Fatalf("stop after the trade at 90: %v", after)
	}
	if after["updated_at"] == before["updated_at"] {
		t.Fatalf("triggered stop: updated_at still %v", after["updated_at"])
	}
}

// GET /v1/fills?limit=N answers N fills, or N+1 when the N-th and the
// next are the two fills of one self-trade (documented): a page never
// splits a trade, so paging by trade id loses neither.
func TestFillsLimitPlusOneForSelfTrade(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	_, buyer := twoTraders(ts, "X-Y", "X", "Y", "1", "1")
	me := ts.must(200, "GET", "/v1/account", buyer, "")["id"].(float64)
	ts.deposit(uint64(me), "X", "10")
	ts.must(201, "POST", "/v1/orders", buyer, `{"market":"X-Y","side":"sell","price":"100","quantity":"1"}`)
	ts.must(201, "POST", "/v1/orders", buyer, `{"market":"X-Y","side":"buy","price":"100","quantity":"1","stp":"none"}`)
	ts.must(201, "POST", "/v1/orders", buyer, `{"market":"X-Y","side":"sell","price":"100","quantity":"1"}`)
	ts.must(201, "POST", "/v1/orders", buyer, `{"market":"X-Y","side":"buy","price":"100","quantity":"1","stp":"none"}`)
	trades := func(path string) string {
		var ids []string
		for _, f := range ts.must(200, "GET", path, buyer, "")["fills"].([]any) {
			ids = append(ids, fmt.Sprint(f.(map[string]any)["trade_id"]))
		}
		return strings.Join(ids, " ")
	}
	all := trades("/v1/fills")
	if n := len(strings.Fields(all)); n != 4 {
		t.Fatalf("fills of two self-trades: %s", all)
	}
	t1, t2 := strings.Fields(all)[0], strings.Fields(all)[2]
	for _, c := range []struct{ path, want string }{
		{"/v1/fills?limit=1", t1 + " " + t1},
		{"/v1/fills?limit=2", t1 + " " + t1},
		{"/v1/fills?limit=3", all},
		{"/v1/fills?limit=1&after=" + t1, t2 + " " + t2},
	} {
		if got := trades(c.path); got != c.want {
			t.Errorf("%s: trade ids %s, want %s", c.path, got, c.want)
		}
	}
}

// after= beyond 16 digits (ids are below 2^53) is refused with a message
// that says so.
func TestAfterTooLongSaysTheBound(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	_, buyer := twoTraders(ts, "X-Y", "X", "Y", "1", "1")
	for _, path := range []string{"/v1/orders", "/v1/fills"} {
		code, out := ts.req("GET", path+"?after=12345678901234567", buyer, "")
		msg := fmt.Sprint(out["error"].(map[string]any)["message"])
		if code != 400 || !strings.Contains(msg, "16 digits") {
			t.Errorf("%s?after= of 17 digits: %d %s", path, code, msg)
		}
		ts.must(200, "GET", path+"?after=1234567890123456", buyer, "")
	}
}

// Retention keeps the same done orders whether or not the server restarted
// in between: the done orders are ordered by (updated_at, id) both ways.
// (Before, a sweeping taker went before the makers it filled while
// running, after them once reloaded.)
func TestRetentionSameAfterRestart(t *testing.T) {
	run := func(restart bool) string {
		dir := t.TempDir()
		opts := &Options{AdminToken: adminTok, HistoryOrders: 3}
		ts := start(t, dir, opts)
		twoTraders(ts, "X-Y", "X", "Y", "1", "1")
		aid, a := ts.signup("a")
		ts.deposit(aid, "X", "10")
		ts.deposit(aid, "Y", "10000")
		ts.must(201, "POST", "/v1/orders", a, `{"market":"X-Y","side":"sell","price":"100","quantity":"1"}`)
		ts.must(201, "POST", "/v1/orders", a, `{"market":"X-Y","side":"sell","price":"101","quantity":"1"}`)
		ts.must(201, "POST", "/v1/orders", a, `{"market":"X-Y","side":"buy","price":"101","quantity":"2","stp":"none"}`)
		x := id(ts.must(201, "POST", "/v1/orders", a, `{"market":"X-Y","side":"buy","price":"50","quantity":"1"}`))
		if restart {
			ts.stop()
			ts = start(t, dir, opts)
		}
		ts.must(200, "DELETE", "/v1/orders/"+x, a, "")
		var ids []any
		for _, o := range ts.must(200, "GET", "/v1/orders?status=done", a, "")["orders"].([]any) {
			ids = append(ids, o.(map[string]any)["id"])
		}
		ts.stop()
		return fmt.Sprint(ids)
	}
	without, with := run(false), run(true)
	if without != with {
		t.Fatalf("retention keeps %s without a restart, %s with one", without, with)
	}
	if want := "[2 3 4]"; without != want {
		t.Fatalf("retention keeps %s, want %s (the last 3 by updated_at, then id)", without, want)
	}
}

// The done queue is ordered by (updated_at, id) also across results that
// share a time (a batch of the engine stamps one time on all its
// commands): a restart keeps the same orders.
func TestDoneQueueOrderAcrossResults(t *testing.T) {
	m := newReadModel()
	m.keepOrders = 2
	const at = 1_000
	accept := func(seq, id uint64) {
		m.apply(&engine.Result{Seq: seq, Time: at, Kind: engine.CmdPlace, Events: []engine.Event{{Event: book.Event{
			Kind: book.EvAccepted, OrderID: id, Owner: 7, Side: book.Buy, Price: 10, Qty: 1}, Market: 1}}})
	}
	cancel := func(seq, id uint64) {
		m.apply(&engine.Result{Seq: seq, Time: at, Kind: engine.CmdCancel, Events: []engine.Event{{Event: book.Event{
			Kind: book.EvCancelled, OrderID: id, Owner: 7, Side: book.Buy, Price: 10, Qty: 1}, Market: 1}}})
	}
	for id := uint64(1); id <= 3; id++ {
		accept(id, id)
	}
	cancel(4, 3)
	cancel(5, 1)
	cancel(6, 2)
	if got := fmt.Sprint(doneIDs(m.accts[7])); got != "[2 3]" {
		t.Fatalf("done queue %s, want [2 3]: the last two by (updated_at, id)", got)
	}
}

// Loading a history that an earlier release left with unended market
// orders (budget buys beyond the fourth to take in a result) ends them,
// as of their last change, and logs them for the next save.
func TestLoadEndsUnendedMarketOrders(t *testing.T) {
	m := newReadModel()
	for _, o := range []orderRec{
		{ID: 1, Account: 7, Market: 1, Side: book.Buy, Type: book.StopMarket, Triggered: true, QuoteBudget: 100, Filled: 1, Notional: 100, Status: statusPartial, Created: 10, Updated: 20},
		{ID: 2, Account: 7, Market: 1, Side: book.Buy, Type: book.Market, QuoteBudget: 100, Status: statusOpen, Created: 10, Updated: 20},
		{ID: 3, Account: 7, Market: 1, Side: book.Buy, Type: book.StopMarket, Stop: true, QuoteBudget: 100, Status: statusOpen, Created: 10}, // pending
		{ID: 4, Account: 7, Market: 1, Side: book.Buy, Type: book.Limit, Price: 10, Qty: 2, Filled: 1, Status: statusPartial, Created: 10, Updated: 20},
	} {
		m.Orders.put(&o)
	}
	m.index(false)
	var got []string
	for id := uint64(1); id <= 4; id++ {
		o := m.Orders.get(id)
		got = append(got, fmt.Sprint(statusNames[o.Status], " ", o.Updated))
	}
	if want := "[filled 20 expired 20 open 0 partially_filled 20]"; fmt.Sprint(got) != want {
		t.Fatalf("after loading: %v, want %s", got, want)
	}
	if got := fmt.Sprint(doneIDs(m.accts[7])); got != "[1 2]" {
		t.Fatalf("done queue %s, want [1 2]", got)
	}
	var logged []uint64
	m.chg.orders.each(func(o *orderRec) { logged = append(logged, o.ID) })
	if fmt.Sprint(logged) != "[1 2]" {
		t.Fatalf("logged for the next save: %v, want [1 2]", logged)
	}
}

// doneIDs returns the ids in a's done queue, in its order.
func doneIDs(a *acctHist) []uint64 {
	var ids []uint64
	for _, d := range a.done {
		ids = append(ids, d.ID)
	}
	return ids
}
