package server

import (
	"errors"
	"strconv"
	"testing"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// TestPlacedAnswerAsItsCommandLeftIt: the order a place's answer shows is
// the one its own result left, copied while the result is applied, not
// what the read model holds once the answer is built (a later result may
// have traded with it by then, and the answer's fills have none of that).
func TestPlacedAnswerAsItsCommandLeftIt(t *testing.T) {
	m := newReadModel()
	var out placedOut
	m.expect(7, &orderRec{Type: book.Limit}, &out)
	m.apply(&engine.Result{Seq: 1, Tag: 7, Kind: engine.CmdPlace, Outcome: engine.Outcome{ID: 1},
		Events: []engine.Event{{Market: 1, Event: book.Event{Kind: book.EvAccepted, OrderID: 1, Owner: 5, Side: book.Sell, Price: 100, Qty: 5}}}})
	// Another account's order trades 2 with it before its answer is built.
	m.apply(&engine.Result{Seq: 2, Kind: engine.CmdPlace, Outcome: engine.Outcome{ID: 2},
		Events: []engine.Event{
			{Market: 1, Event: book.Event{Kind: book.EvAccepted, OrderID: 2, Owner: 6, Side: book.Buy, Price: 100, Qty: 2}},
			{Market: 1, Event: book.Event{Kind: book.EvTrade, OrderID: 2, Owner: 6, MakerID: 1, MakerOwner: 5,
				Side: book.Buy, Price: 100, Qty: 2, Remaining: 3}}}})
	if !out.found || out.rec.ID != 1 || out.rec.Account != 5 || out.rec.Qty != 5 || out.rec.Filled != 0 {
		t.Fatalf("answer's order = %+v (found %v), want order 1 of account 5 with 5 open and none filled", out.rec, out.found)
	}
	if now, ok := m.order(5, 1); !ok || now.Filled != 2 {
		t.Fatalf("the read model's order = %+v (%v), want 2 filled", now, ok)
	}
	if m.take(7).out != nil {
		t.Fatal("the registration outlived its result")
	}

	// A refused place copies nothing; a resend copies the original as it is
	// now.
	out = placedOut{found: true}
	m.expect(8, &orderRec{Type: book.Limit}, &out)
	m.apply(&engine.Result{Seq: 3, Tag: 8, Kind: engine.CmdPlace, Outcome: engine.Outcome{Err: errors.New("refused")}})
	if out.found {
		t.Fatal("a refused place's answer found an order")
	}
	m.expect(9, &orderRec{Type: book.Limit}, &out)
	m.apply(&engine.Result{Seq: 4, Tag: 9, Kind: engine.CmdPlace, Outcome: engine.Outcome{ID: 1, Duplicate: true}})
	if !out.found || out.rec.ID != 1 || out.rec.Filled != 2 {
		t.Fatalf("a resend's answer = %+v (found %v), want order 1 with 2 filled", out.rec, out.found)
	}
}

// TestAmendAnswerAsItsCommandLeftIt: the order a cancel's or an amend's
// answer shows (doOrderCmd registers the command's tag) is the one its own
// result left, copied while the result is applied, not what the read
// model holds once the answer is built: a later result may have traded
// with the amended order by then.
func TestAmendAnswerAsItsCommandLeftIt(t *testing.T) {
	m := newReadModel()
	m.apply(&engine.Result{Seq: 1, Tag: 7, Kind: engine.CmdPlace, Outcome: engine.Outcome{ID: 1},
		Events: []engine.Event{{Market: 1, Event: book.Event{Kind: book.EvAccepted, OrderID: 1, Owner: 5, Side: book.Sell, Price: 100, Qty: 5}}}})
	var out placedOut
	m.expect(8, nil, &out)
	m.apply(&engine.Result{Seq: 2, Time: 20, Tag: 8, Kind: engine.CmdAmendTotal, Outcome: engine.Outcome{ID: 1},
		Events: []engine.Event{{Market: 1, Event: book.Event{Kind: book.EvAmended, OrderID: 1, Owner: 5, Side: book.Sell,
			Price: 101, Qty: 4, KeptPriority: true}}}})
	// Another account's order trades 3 with it before its answer is built.
	m.apply(&engine.Result{Seq: 3, Time: 30, Kind: engine.CmdPlace, Outcome: engine.Outcome{ID: 2},
		Events: []engine.Event{
			{Market: 1, Event: book.Event{Kind: book.EvAccepted, OrderID: 2, Owner: 6, Side: book.Buy, Price: 101, Qty: 3}},
			{Market: 1, Event: book.Event{Kind: book.EvTrade, OrderID: 2, Owner: 6, MakerID: 1, MakerOwner: 5,
				Side: book.Buy, Price: 101, Qty: 3, Remaining: 1}}}})
	if !out.found || out.rec.ID != 1 || out.rec.Account != 5 || out.rec.Price != 101 || out.rec.Qty != 4 ||
		out.rec.Filled != 0 || out.rec.Updated != 20 {
		t.Fatalf("amend's answer = %+v (found %v), want order 1 of account 5 at 101 with 4, none filled, updated at 20",
			out.rec, out.found)
	}
	if now, ok := m.order(5, 1); !ok || now.Filled != 3 {
		t.Fatalf("the read model's order = %+v (%v), want 3 filled", now, ok)
	}
	if m.take(8).out != nil {
		t.Fatal("the amend's registration outlived its result")
	}

	// A cancel's answer shows the order cancelled with what it had
	// filled; a refused one copies nothing.
	m.expect(9, nil, &out)
	m.apply(&engine.Result{Seq: 4, Time: 40, Tag: 9, Kind: engine.CmdCancel, Outcome: engine.Outcome{ID: 1},
		Events: []engine.Event{{Market: 1, Event: book.Event{Kind: book.EvCancelled, OrderID: 1, Owner: 5, Side: book.Sell,
			Price: 101, Qty: 1}}}})
	if !out.found || out.rec.ID != 1 || out.rec.Status != statusCancelled || out.rec.Filled != 3 {
		t.Fatalf("cancel's answer = %+v (found %v), want order 1 cancelled with 3 filled", out.rec, out.found)
	}
	m.expect(10, nil, &out)
	m.apply(&engine.Result{Seq: 5, Tag: 10, Kind: engine.CmdCancel, Outcome: engine.Outcome{Err: errors.New("unknown order")}})
	if out.found {
		t.Fatal("a refused cancel's answer found an order")
	}
	// Results of cancels and amends without a tag (replayed from an older
	// log, or others') take nothing.
	m.expect(0, nil, &out)
	m.apply(&engine.Result{Seq: 6, Kind: engine.CmdCancel, Outcome: engine.Outcome{ID: 1}})
	if m.take(0).out == nil {
		t.Fatal("a result without a tag took the registration of tag 0")
	}
}

// TestAmendAnswerOverHTTP: PATCH and DELETE /v1/orders/{id} answer with
// the order as their own command left it, not as the read model holds it
// once the answer is built. A subscriber after the read model's changes
// the order (one more lot filled, as a later trade would) once the
// command's result is applied and before the handler gets it: the
// answer must not show it, GET must.
func TestAmendAnswerOverHTTP(t *testing.T) {
	ts := start(t, t.TempDir(), nil)
	alice, _ := ts.setup()
	sell := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.01"}`)
	oid, err := strconv.ParseUint(id(sell), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// Called after the read model's subscriber, before the result is
	// handed to the handler (engine.Subscribe).
	unsub := ts.s.eng.Subscribe(func(res *engine.Result) {
		if (res.Kind != engine.CmdAmendTotal && res.Kind != engine.CmdCancel) || res.Err != nil || res.ID != oid {
			return
		}
		ts.s.rm.mu.Lock()
		ts.s.rm.Orders.get(oid).Filled++
		ts.s.rm.mu.Unlock()
	})
	defer unsub()
	o := ts.must(200, "PATCH", "/v1/orders/"+id(sell), alice, `{"quantity":"0.02"}`)
	if o["quantity"] != "0.02" || o["filled"] != "0" {
		t.Fatalf("amend's answer: %v, want quantity 0.02 and filled 0 (as the amend left it)", o)
	}
	if o = ts.must(200, "GET", "/v1/orders/"+id(sell), alice, ""); o["filled"] != "0.0001" {
		t.Fatalf("GET after the amend: %v, want filled 0.0001 (the later change)", o)
	}
	o = ts.must(200, "DELETE", "/v1/orders/"+id(sell), alice, "")
	if o["status"] != "cancelled" || o["filled"] != "0.0001" {
		t.Fatalf("cancel's answer: %v, want cancelled with filled 0.0001 (as the cancel left it)", o)
	}
	if o = ts.must(200, "GET", "/v1/orders/"+id(sell), alice, ""); o["filled"] != "0.0002" {
		t.Fatalf("GET after the cancel: %v, want filled 0.0002 (the later change)", o)
	}
}
