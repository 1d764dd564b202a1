package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// A cancelled or expired order says why in cancel_reason: cancelled (on
// request: DELETE and cancel all), self_trade_prevented (the taker of
// cancel_taker, the maker of cancel_maker), unfilled (an IOC's and a
// market order's rest), fill_or_kill and fee_change; an open, partly
// filled or filled order has none. The same in GET, the list, the orders
// stream, and after a restart, from the saved history and from the log's
// replay. (Before, every such order showed only its status.)
func TestCancelReason(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := "saved"
		if crash {
			name = "replayed"
		}
		t.Run(name, func(t *testing.T) { cancelReasonScenario(t, crash) })
	}
}

func cancelReasonScenario(t *testing.T, crash bool) {
	dir := t.TempDir()
	opts := &Options{AdminToken: adminTok, HistoryInterval: -1}
	ts := start(t, dir, opts)
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":10,"taker_fee_bps":20}`)
	aid, alice := ts.signup("alice")
	bid, bob := ts.signup("bob")
	cid, carol := ts.signup("carol")
	for _, d := range []struct {
		acct          uint64
		asset, amount string
	}{{aid, "BTC", "2"}, {aid, "USDT", "100000"}, {bid, "USDT", "100000"}, {cid, "USDT", "6012"}} {
		ts.must(201, "POST", "/v1/admin/deposits", adminTok,
			fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":"d-%d-%s"}`, d.acct, d.asset, d.amount, d.acct, d.asset))
	}
	ws := ts.dial()
	ws.send(`{"op":"auth","token":"` + alice + `"}`)
	ws.next()
	ws.send(`{"op":"subscribe","channels":["orders"]}`)
	ws.next()

	place := func(token, body string) string {
		t.Helper()
		return id(ts.must(201, "POST", "/v1/orders", token, `{"market":"BTC-USDT",`+body+`}`))
	}
	// want: order id → token, status, cancel_reason ("-": none).
	type state struct{ token, status, reason string }
	want := map[string]state{}

	// On request: one by DELETE, one by cancel all.
	c1 := place(alice, `"side":"sell","price":"70000","quantity":"0.1"`)
	c2 := place(alice, `"side":"sell","price":"71000","quantity":"0.1"`)
	if o := ts.must(200, "DELETE", "/v1/orders/"+c1, alice, ""); o["cancel_reason"] != "cancelled" {
		t.Fatalf("DELETE answer: %v", o)
	}
	ts.must(200, "DELETE", "/v1/orders?market=BTC-USDT", alice, "")
	want[c1] = state{alice, "cancelled", "cancelled"}
	want[c2] = state{alice, "cancelled", "cancelled"}

	// Self-trade prevention: the taker (cancel_taker, the default), then
	// the maker (cancel_maker; the buy rests, and is cancelled on request).
	s1 := place(alice, `"side":"sell","price":"65000","quantity":"0.1"`)
	out := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.05"}`)
	if o := out["order"].(map[string]any); o["status"] != "cancelled" || o["cancel_reason"] != "self_trade_prevented" {
		t.Fatalf("a self-trading taker: %v", o)
	}
	want[id(out)] = state{alice, "cancelled", "self_trade_prevented"}
	t2 := place(alice, `"side":"buy","price":"65000","quantity":"0.05","stp":"cancel_maker"`)
	want[s1] = state{alice, "cancelled", "self_trade_prevented"}
	if o := ts.must(200, "GET", "/v1/orders/"+t2, alice, ""); o["status"] != "open" || o["cancel_reason"] != nil {
		t.Fatalf("an open order: %v", o)
	}
	ts.must(200, "DELETE", "/v1/orders/"+t2, alice, "")
	want[t2] = state{alice, "cancelled", "cancelled"}

	// An IOC's rest, a FOK that cannot fill, a market order into an empty
	// book.
	s2 := place(alice, `"side":"sell","price":"65000","quantity":"0.1"`)
	i1 := place(bob, `"side":"buy","price":"65000","quantity":"0.3","time_in_force":"ioc"`)
	want[s2] = state{alice, "filled", "-"}
	want[i1] = state{bob, "expired", "unfilled"}
	s3 := place(alice, `"side":"sell","price":"65000","quantity":"0.1"`)
	f1 := place(bob, `"side":"buy","price":"65000","quantity":"0.2","time_in_force":"fok"`)
	want[f1] = state{bob, "expired", "fill_or_kill"}
	m1 := place(bob, `"side":"sell","type":"market","quantity":"0.01"`)
	want[m1] = state{bob, "expired", "unfilled"}
	// A partial fill, then a whole one.
	p1 := place(bob, `"side":"buy","price":"65000","quantity":"0.04"`)
	want[p1] = state{bob, "filled", "-"}
	want[s3] = state{alice, "partially_filled", "-"}

	// A fee raise carol's buy cannot pay (6000 + 12 locked at 20 bps).
	fc := place(carol, `"side":"buy","price":"60000","quantity":"0.1"`)
	ts.must(200, "PATCH", "/v1/admin/markets/BTC-USDT", adminTok, `{"maker_fee_bps":15,"taker_fee_bps":40}`)
	want[fc] = state{carol, "cancelled", "fee_change"}
	open := place(alice, `"side":"sell","price":"80000","quantity":"0.1"`)
	want[open] = state{alice, "open", "-"}

	// The orders stream shows the reason.
	m := ws.expect("the self-trade cancel of the maker on the orders stream", func(m wsMsg) bool {
		return m.Channel == "orders" && bytes.Contains(m.Data, []byte(`"id":`+s1+`,`)) &&
			bytes.Contains(m.Data, []byte(`"cancelled"`))
	})
	var so map[string]any
	if err := json.Unmarshal(m.Data, &so); err != nil || so["cancel_reason"] != "self_trade_prevented" {
		t.Fatalf("orders stream: %s (%v)", m.Data, err)
	}
	if _, err := ts.s.saveHistory(); err != nil { // the restart reads some from the history, replays the rest
		t.Fatal(err)
	}
	e1 := place(alice, `"side":"sell","price":"90000","quantity":"0.1"`)
	ts.must(200, "DELETE", "/v1/orders/"+e1, alice, "")
	want[e1] = state{alice, "cancelled", "cancelled"}
	b5 := place(alice, `"side":"buy","price":"50000","quantity":"0.05"`)
	i2 := place(bob, `"side":"sell","price":"50000","quantity":"0.1","time_in_force":"ioc"`)
	want[b5] = state{alice, "filled", "-"}
	want[i2] = state{bob, "expired", "unfilled"}

	check := func(when string) {
		t.Helper()
		for oid, w := range want {
			o := ts.must(200, "GET", "/v1/orders/"+oid, w.token, "")
			r, ok := o["cancel_reason"]
			if !ok {
				r = "-"
			}
			if o["status"] != w.status || r != w.reason {
				t.Errorf("%s: order %s is %v with cancel_reason %v, want %s with %s: %v", when, oid, o["status"], r, w.status, w.reason, o)
			}
		}
		for _, tok := range []string{alice, bob, carol} {
			for _, lo := range ts.must(200, "GET", "/v1/orders?limit=100", tok, "")["orders"].([]any) {
				lo := lo.(map[string]any)
				oid := fmt.Sprint(uint64(lo["id"].(float64)))
				if w, ok := want[oid]; ok && fmt.Sprint(lo["cancel_reason"]) != fmt.Sprint(map[bool]any{true: nil, false: w.reason}[w.reason == "-"]) {
					t.Errorf("%s: the list shows order %s with cancel_reason %v, want %s", when, oid, lo["cancel_reason"], w.reason)
				}
			}
		}
	}
	check("running")
	if crash {
		crashStop(ts)
	} else {
		ts.stop()
	}
	ts = start(t, dir, opts)
	defer ts.stop()
	check("after the restart")
}

// An order record keeps a cancelled or expired order's reason in version
// 3 (version 1 with the display quantity, 0 if none, and the reason after
// updated), as the release that introduced it wrote it, and a
// good-till-date order's expiry time in version 4 (version 3 with the
// expiry time after the reason, which is 0 if none); an order with
// neither is written as before (version 1, or 2 for an iceberg), byte for
// byte. A reason that does not end an order, one on an order that is not
// cancelled or expired, a version 3 record without a reason, or a version
// 4 record without a positive expiry time or of an order that cannot be
// good-till-date is refused as damage.
func TestOrderRecordReasonVersion(t *testing.T) {
	o := orderRec{ID: 7, Account: 3, Market: 1, Side: book.Sell, Type: book.Limit, TIF: book.GTC, STP: book.STPCancelTaker,
		Price: 650, Qty: 9, Filled: 2, Notional: 1300, Status: statusPartial, Created: 1, Updated: 2}
	copy(o.ClientID[:], "abc")
	v1 := appendOrder(nil, &o)
	if v1[0] != historyVersion {
		t.Fatalf("an order without a reason is written as version %d", v1[0])
	}
	o.Status = statusCancelled
	v1c := appendOrder(nil, &o) // a cancelled order of an earlier release
	if v1c[0] != historyVersion {
		t.Fatalf("a cancelled order without a reason is written as version %d", v1c[0])
	}
	if got, err := decodeOrderRec(7, v1c); err != nil || got != o {
		t.Fatalf("version 1 record read as %+v, %v; want %+v", got, err, o)
	}
	const exp = 1_800_000_000_123_456_789
	for _, c := range []struct {
		status  uint8
		reason  book.Reason
		display int64
		expire  int64
	}{
		{statusCancelled, book.ReasonCancelled, 0, 0},
		{statusCancelled, book.ReasonSelfTrade, 0, 0},
		{statusCancelled, book.ReasonFeeChange, 2500, 0},
		{statusExpired, book.ReasonUnfilled, 0, 0},
		{statusExpired, book.ReasonFOK, 0, 0},
		{statusPartial, book.ReasonNone, 0, exp},      // a live good-till-date order
		{statusOpen, book.ReasonNone, 2500, exp},      // an iceberg one
		{statusExpired, book.ReasonExpired, 0, exp},   // expired at its time
		{statusCancelled, book.ReasonCancelled, 0, 1}, // cancelled before
		{statusFilled, book.ReasonNone, 0, exp},
	} {
		r := o
		r.Status, r.Reason, r.DisplayQty, r.ExpireAt = c.status, c.reason, c.display, c.expire
		v := appendOrder(nil, &r)
		// Version 3: version 1's fields to updated, the display quantity,
		// the reason, then the client order id; version 4: the expiry
		// time after the reason.
		wantV := binary.AppendVarint(append([]byte{orderVersionReason}, v1c[1:19]...), c.display)
		wantV = append(wantV, byte(c.reason))
		if c.expire != 0 {
			wantV[0] = orderVersionExpiry
			wantV = binary.AppendVarint(wantV, c.expire)
		}
		wantV = append(wantV, 3, 'a', 'b', 'c')
		wantV[6] = c.status
		if !bytes.Equal(v, wantV) {
			t.Errorf("%v %d: written as\n%x\nwant\n%x", c.reason, c.expire, v, wantV)
		}
		if got, err := decodeOrderRec(7, v); err != nil || got != r {
			t.Errorf("%v %d: read as %+v, %v; want %+v", c.reason, c.expire, got, err, r)
		}
	}
	r := o
	r.Reason = book.ReasonCancelled
	good := appendOrder(nil, &r) // ... reason, then 3 'a' 'b' 'c'
	r.Reason, r.Status, r.ExpireAt = book.ReasonNone, statusOpen, exp
	gtd := appendOrder(nil, &r) // ... reason 0, expiry, then 3 'a' 'b' 'c'
	ne := binary.PutVarint(make([]byte, 10), exp)
	for _, bad := range [][]byte{
		func() []byte { b := bytes.Clone(good); b[len(b)-5] = byte(book.ReasonNone); return b }(), // version 3 without a reason
		func() []byte { b := bytes.Clone(good); b[len(b)-5] = byte(book.ReasonWouldCross); return b }(),
		func() []byte { b := bytes.Clone(good); b[len(b)-5] = 200; return b }(),
		func() []byte { b := bytes.Clone(good); b[6] = statusFilled; return b }(),
		func() []byte { b := bytes.Clone(good); b[6] = statusPartial; return b }(),
		func() []byte { b := bytes.Clone(good); b[len(b)-6] = 1; return b }(),                   // display −1
		append(bytes.Clone(good[:len(good)-5]), 3, 'a', 'b', 'c'),                               // no reason
		append(append([]byte{orderVersionExpiry}, good[1:len(good)-4]...), 0, 3, 'a', 'b', 'c'), // expiry 0
		append(append([]byte{orderVersionExpiry}, good[1:len(good)-4]...), 1, 3, 'a', 'b', 'c'), // expiry −1
		append(bytes.Clone(gtd[:len(gtd)-4-ne]), 3, 'a', 'b', 'c'),                              // expiry cut
		func() []byte { b := bytes.Clone(gtd); b[len(b)-5-ne] = 200; return b }(),               // reason 200
		func() []byte { b := bytes.Clone(gtd); b[3] = byte(book.IOC); return b }(),              // an IOC
		func() []byte { b := bytes.Clone(gtd); b[2] = byte(book.Market); return b }(),           // a market order
		append([]byte{orderVersionReason}, gtd[1:]...),                                          // version 3 with an expiry
		append([]byte{orderVersionExpiry + 1}, good[1:]...),
	} {
		if got, err := decodeOrderRec(7, bad); !errors.Is(err, errHistoryRecord) {
			t.Errorf("%x read as %+v, %v", bad, got, err)
		}
	}
}
