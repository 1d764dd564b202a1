package server

import (
	"math/rand/v2"
	"testing"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// TestOrderTab runs random puts, replacements and deletions against a map
// and checks every lookup, the count and the iteration after each step,
// across several pages and with slots reused.
func TestOrderTab(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tab := newOrderTab()
	model := map[uint64]orderRec{}
	for step := range 20_000 {
		id := 1 + uint64(r.IntN(3*orderPage))
		switch r.IntN(3) {
		case 0, 1:
			o := orderRec{ID: id, Price: int64(step), Account: uint64(r.IntN(9))}
			copy(o.ClientID[:], "c")
			if p := tab.put(&o); *p != o {
				t.Fatalf("step %d: put returned %+v", step, *p)
			}
			model[id] = o
		case 2:
			tab.del(id)
			delete(model, id)
		}
		if got := tab.get(id); (got != nil) != (model[id].ID != 0) || (got != nil && *got != model[id]) {
			t.Fatalf("step %d: get(%d) = %+v, want %+v", step, id, got, model[id])
		}
		if tab.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(model))
		}
		if step%997 == 0 {
			seen := 0
			tab.each(func(o *orderRec) {
				seen++
				if *o != model[o.ID] {
					t.Fatalf("step %d: each gave %+v, want %+v", step, *o, model[o.ID])
				}
			})
			if seen != len(model) {
				t.Fatalf("step %d: each saw %d orders, want %d", step, seen, len(model))
			}
		}
	}
	if max := int32(3 * orderPage); tab.next > max {
		t.Fatalf("%d slots used for at most %d orders: freed slots not reused", tab.next, max)
	}
}

// TestOrderRecClientID checks the padded client order id.
func TestOrderRecClientID(t *testing.T) {
	var o orderRec
	if got := o.clientID(); len(got) != 0 {
		t.Fatalf("empty: %q", got)
	}
	full := "0123456789abcdef0123456789abcdef0123"
	for _, s := range []string{"a", "order-7", full} {
		ref, ok := engine.MakeRef(s)
		if !ok {
			t.Fatal(s)
		}
		o.ClientID = ref
		if got := string(o.clientID()); got != s {
			t.Fatalf("clientID() = %q, want %q", got, s)
		}
		if got := string(appendString(nil, o.clientID())); got != `"`+s+`"` {
			t.Fatalf("JSON %s", got)
		}
	}
}

// FuzzDecodeHistory feeds arbitrary bytes to the decoders of the stored
// order history: they must not panic, and what one accepts must encode to
// bytes that decode to the same record.
func FuzzDecodeHistory(f *testing.F) {
	o := orderRec{ID: 7, Account: 3, Market: 1, Side: book.Sell, Type: book.StopLimit, Price: 650, StopPrice: 640,
		Qty: 9, Filled: 2, Notional: 1300, Status: statusPartial, Created: 1, Updated: 2, Stop: true}
	copy(o.ClientID[:], "abc")
	f.Add(uint8(0), appendOrder(nil, &o))
	ice := o
	ice.Type, ice.Stop, ice.StopPrice, ice.DisplayQty = book.Limit, false, 0, 3 // an iceberg: version 2
	f.Add(uint8(0), appendOrder(nil, &ice))
	gone := ice
	gone.Status, gone.Reason = statusCancelled, book.ReasonFeeChange // version 3
	f.Add(uint8(0), appendOrder(nil, &gone))
	gtd := ice
	gtd.ExpireAt = 1_800_000_000_000_000_000 // good-till-date, live: version 3 without a reason
	f.Add(uint8(0), appendOrder(nil, &gtd))
	gtd.Status, gtd.Reason = statusExpired, book.ReasonExpired
	f.Add(uint8(0), appendOrder(nil, &gtd))
	f.Add(uint8(1), appendFill(nil, &fillRec{OrderID: 7, Market: 1, Price: 650, Qty: 2, Fee: -3, Time: 5}))
	f.Add(uint8(2), appendTradeRec(nil, &tradeRec{Price: 650, Qty: 2, Side: book.Buy, Time: 5}))
	f.Add(uint8(3), appendCandle(nil, &candle{Open: 1, High: 3, Low: 1, Close: 2, Volume: volOf(9), QuoteVolume: volOf(18), Trades: 4}))
	f.Add(uint8(0), []byte{historyVersion, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		switch kind % 4 {
		case 0:
			o, err := decodeOrderRec(7, b)
			if err != nil {
				return
			}
			if len(o.clientID()) > len(o.ClientID) || !namedOrder(&o) {
				t.Fatalf("accepted %+v", o)
			}
			if o2, err := decodeOrderRec(7, appendOrder(nil, &o)); err != nil || o2 != o {
				t.Fatalf("%+v re-decoded as %+v, %v", o, o2, err)
			}
		case 1:
			fr, err := decodeFillRec(7, true, b)
			if err != nil {
				return
			}
			if int(fr.Side) >= len(sideNames) {
				t.Fatalf("accepted %+v", fr)
			}
			if f2, err := decodeFillRec(7, true, appendFill(nil, &fr)); err != nil || f2 != fr {
				t.Fatalf("%+v re-decoded as %+v, %v", fr, f2, err)
			}
		case 2:
			tr, err := decodeTradeRecord(7, b)
			if err != nil {
				return
			}
			if int(tr.Side) >= len(sideNames) {
				t.Fatalf("accepted %+v", tr)
			}
			if t2, err := decodeTradeRecord(7, appendTradeRec(nil, &tr)); err != nil || t2 != tr {
				t.Fatalf("%+v re-decoded as %+v, %v", tr, t2, err)
			}
		case 3:
			c, err := decodeCandleRec(7, b)
			if err != nil {
				return
			}
			if c2, err := decodeCandleRec(7, appendCandle(nil, &c)); err != nil || c2 != c {
				t.Fatalf("%+v re-decoded as %+v, %v", c, c2, err)
			}
		}
	})
}
