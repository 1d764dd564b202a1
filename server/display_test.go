package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// displayOf returns the display_quantity of an order object, "-" if it
// has none.
func displayOf(o map[string]any) string {
	v, ok := o["display_quantity"]
	if !ok {
		return "-"
	}
	return fmt.Sprint(v)
}

// An iceberg's order object shows the display_quantity it was placed
// with, and an order placed without one shows none: in the answers of
// POST (single, batch, an identical resend), GET, the list, PATCH and
// DELETE and on the orders stream, after a fill and after amends (the
// book keeps the display quantity: a larger quantity shows a new slice of
// it), and after a restart, from the saved history and
// from the log's replay (a crash before the history's last save), for
// open and done orders alike. (Before, no order object showed it.)
func TestIcebergDisplayQuantity(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := "saved"
		if crash {
			name = "replayed"
		}
		t.Run(name, func(t *testing.T) { icebergScenario(t, crash) })
	}
}

func icebergScenario(t *testing.T, crash bool) {
	dir := t.TempDir()
	opts := &Options{AdminToken: adminTok, HistoryInterval: -1}
	ts := start(t, dir, opts)
	alice, bob := ts.setup()
	ws := ts.dial()
	ws.send(`{"op":"auth","token":"` + alice + `"}`)
	ws.next()
	ws.send(`{"op":"subscribe","channels":["orders"]}`)
	ws.next()

	placeIce := `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"1","display_quantity":"0.25","client_order_id":"ice-1"}`
	out := ts.must(201, "POST", "/v1/orders", alice, placeIce)
	ice := id(out)
	if got := displayOf(out["order"].(map[string]any)); got != "0.25" {
		t.Fatalf("POST answer: display_quantity %s, want 0.25: %v", got, out)
	}
	out = ts.must(200, "POST", "/v1/orders", alice, placeIce) // an identical resend
	if got := displayOf(out["order"].(map[string]any)); id(out) != ice || got != "0.25" {
		t.Fatalf("resend: display_quantity %s, want 0.25: %v", got, out)
	}
	out = ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"66000","quantity":"0.1"}`)
	plain := id(out)
	if got := displayOf(out["order"].(map[string]any)); got != "-" {
		t.Fatalf("an order without display_quantity shows %s: %v", got, out)
	}
	out = ts.must(201, "POST", "/v1/orders", alice,
		`{"market":"BTC-USDT","side":"sell","type":"stop_limit","stop_price":"60000","price":"59000","quantity":"0.2","display_quantity":"0.1"}`)
	stop := id(out)
	if o := out["order"].(map[string]any); displayOf(o) != "0.1" || o["stop_price"] != "60000" {
		t.Fatalf("a stop_limit iceberg: %v", o)
	}
	out = ts.must(200, "POST", "/v1/orders/batch", alice,
		`{"orders":[{"market":"BTC-USDT","side":"sell","price":"67000","quantity":"0.4","display_quantity":"0.2"}]}`)
	bo := out["results"].([]any)[0].(map[string]any)["order"].(map[string]any)
	batched := fmt.Sprint(uint64(bo["id"].(float64)))
	if got := displayOf(bo); got != "0.2" {
		t.Fatalf("batch answer: display_quantity %s, want 0.2: %v", got, bo)
	}
	const book0 = "[] [[65000 0.25] [66000 0.1] [67000 0.2]]"
	if got := ts.book("BTC-USDT", book0); got != book0 {
		t.Fatalf("book %s, want %s", got, book0)
	}
	// The orders stream.
	m := ws.expect("the iceberg on the orders stream", func(m wsMsg) bool {
		return m.Channel == "orders" && bytes.Contains(m.Data, []byte(`"id":`+ice+`,`))
	})
	var so map[string]any
	if err := json.Unmarshal(m.Data, &so); err != nil || displayOf(so) != "0.25" {
		t.Fatalf("orders stream: %s (%v)", m.Data, err)
	}

	// A fill of part of the visible slice.
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.1"}`)
	m = ws.expect("the fill on the orders stream", func(m wsMsg) bool {
		return m.Channel == "orders" && bytes.Contains(m.Data, []byte(`"id":`+ice+`,`)) &&
			bytes.Contains(m.Data, []byte(`"partially_filled"`))
	})
	if err := json.Unmarshal(m.Data, &so); err != nil || displayOf(so) != "0.25" {
		t.Fatalf("orders stream after a fill: %s (%v)", m.Data, err)
	}
	if o := ts.must(200, "GET", "/v1/orders/"+ice, alice, ""); displayOf(o) != "0.25" || o["filled"] != "0.1" {
		t.Fatalf("after a fill: %v", o)
	}
	if _, err := ts.s.saveHistory(); err != nil { // what follows is saved at the stop, or replayed
		t.Fatal(err)
	}

	// Amends: the book keeps the display quantity. Lowering the quantity
	// keeps the slice shown (0.15 after the fill) within the remaining
	// quantity; raising it shows a new slice of the display quantity.
	o := ts.must(200, "PATCH", "/v1/orders/"+ice, alice, `{"quantity":"0.3"}`) // 0.2 remaining
	if displayOf(o) != "0.25" || o["remaining"] != "0.2" {
		t.Fatalf("amended down: %v", o)
	}
	const book1 = "[] [[65000 0.15] [66000 0.1] [67000 0.2]]"
	if got := ts.book("BTC-USDT", book1); got != book1 {
		t.Fatalf("book after amending down %s, want %s", got, book1)
	}
	o = ts.must(200, "PATCH", "/v1/orders/"+ice, alice, `{"quantity":"0.9"}`) // 0.8 remaining
	if displayOf(o) != "0.25" || o["remaining"] != "0.8" {
		t.Fatalf("amended up: %v", o)
	}
	const book2 = "[] [[65000 0.25] [66000 0.1] [67000 0.2]]"
	if got := ts.book("BTC-USDT", book2); got != book2 {
		t.Fatalf("book after amending up %s, want %s", got, book2)
	}
	// Placed after the save, and a done one.
	out = ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"68000","quantity":"0.2","display_quantity":"0.05"}`)
	late := id(out)
	if o := ts.must(200, "DELETE", "/v1/orders/"+batched, alice, ""); displayOf(o) != "0.2" || o["status"] != "cancelled" {
		t.Fatalf("cancelled: %v", o)
	}
	const book3 = "[] [[65000 0.25] [66000 0.1] [68000 0.05]]"
	if got := ts.book("BTC-USDT", book3); got != book3 {
		t.Fatalf("book %s, want %s", got, book3)
	}

	want := map[string]string{ice: "0.25", plain: "-", stop: "0.1", batched: "0.2", late: "0.05"}
	objects := map[string]string{} // the whole order objects, to compare after the restart
	check := func(when string) {
		t.Helper()
		for oid, w := range want {
			o := ts.must(200, "GET", "/v1/orders/"+oid, alice, "")
			if got := displayOf(o); got != w {
				t.Errorf("%s: order %s shows display_quantity %s, want %s: %v", when, oid, got, w, o)
			}
			if s := fmt.Sprint(o); objects[oid] == "" {
				objects[oid] = s
			} else if s != objects[oid] {
				t.Errorf("%s: order %s is\n%s\nwas\n%s", when, oid, s, objects[oid])
			}
		}
		listed := 0
		for _, lo := range ts.must(200, "GET", "/v1/orders", alice, "")["orders"].([]any) {
			lo := lo.(map[string]any)
			oid := fmt.Sprint(uint64(lo["id"].(float64)))
			if w, ok := want[oid]; ok {
				listed++
				if got := displayOf(lo); got != w {
					t.Errorf("%s: list shows order %s with display_quantity %s, want %s", when, oid, got, w)
				}
			}
		}
		if listed != len(want) {
			t.Errorf("%s: %d of the %d orders listed", when, listed, len(want))
		}
	}
	check("running")
	if crash {
		crashStop(ts) // the restart replays what followed the save
	} else {
		ts.stop() // the restart reads the saved history
	}
	ts = start(t, dir, opts)
	defer ts.stop()
	check("after the restart")
	if got := ts.book("BTC-USDT", book3); got != book3 {
		t.Fatalf("book after the restart %s, want %s", got, book3)
	}
	if o := ts.must(200, "PATCH", "/v1/orders/"+ice, alice, `{"quantity":"0.5"}`); displayOf(o) != "0.25" {
		t.Fatalf("amended after the restart: %v", o)
	}
}

// An order record of version 1, as every earlier release wrote it, still
// reads (with no display quantity); an iceberg's record is version 2,
// with its display quantity, and every other order is still written as
// version 1, byte for byte. A version 2 record without a display
// quantity, or of a version after 4 (TestOrderRecordReasonVersion), is
// refused as damaged.
func TestOrderRecordDisplayVersion(t *testing.T) {
	o := orderRec{ID: 7, Account: 3, Market: 1, Side: book.Sell, Type: book.Limit, TIF: book.GTC, STP: book.STPCancelTaker,
		Price: 650, Qty: 9, Filled: 2, Notional: 1300, Status: statusPartial, Created: 1, Updated: 2}
	copy(o.ClientID[:], "abc")
	// Version 1: side type tif stp flags status, account market, the
	// zigzag varints price 650, stop 0, qty 9, budget 0, filled 2,
	// notional 1300, created 1, updated 2, then the client order id.
	v1 := []byte{1, 1, 0, 0, byte(book.STPCancelTaker), 0, statusPartial, 3, 1, 0x94, 0x0a, 0, 0x12, 0, 4, 0xa8, 0x14, 2, 4, 3, 'a', 'b', 'c'}
	if got, err := decodeOrderRec(7, v1); err != nil || got != o {
		t.Fatalf("version 1 record read as %+v, %v; want %+v", got, err, o)
	}
	if got := appendOrder(nil, &o); !bytes.Equal(got, v1) {
		t.Fatalf("an order without a display quantity is written as\n%x\nwant version 1\n%x", got, v1)
	}
	ice := o
	ice.DisplayQty = 2500
	// Version 2: version 1 with the display quantity (zigzag 5000) after updated.
	v2 := append(append([]byte{orderVersionDisplay}, v1[1:19]...), 0x88, 0x27, 3, 'a', 'b', 'c')
	if got := appendOrder(nil, &ice); !bytes.Equal(got, v2) {
		t.Fatalf("an iceberg is written as\n%x\nwant\n%x", got, v2)
	}
	if got, err := decodeOrderRec(7, v2); err != nil || got != ice {
		t.Fatalf("version 2 record read as %+v, %v; want %+v", got, err, ice)
	}
	for _, bad := range [][]byte{
		append(append([]byte{orderVersionDisplay}, v1[1:19]...), 0, 3, 'a', 'b', 'c'), // display 0
		append(append([]byte{orderVersionDisplay}, v1[1:19]...), 1, 3, 'a', 'b', 'c'), // display -1
		append([]byte{orderVersionDisplay}, v1[1:]...),                                // no display
		append([]byte{orderVersionExpiry + 1}, v2[1:]...),
		append([]byte{orderVersionExpiry + 1}, v1[1:]...),
	} {
		if got, err := decodeOrderRec(7, bad); !errors.Is(err, errHistoryRecord) {
			t.Errorf("%x read as %+v, %v", bad, got, err)
		}
	}
}
