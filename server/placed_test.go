package server

import (
	"errors"
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
