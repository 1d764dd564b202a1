package engine

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// goldenClientIDState builds, deterministically, a state with live orders
// that have client order ids, done ones (cancelled and filled), and
// orders without one.
func goldenClientIDState(t *testing.T) *State {
	s, apply := clientIDState(t, 3)
	for i := range 600 {
		acct := uint64(1 + i%3)
		ref := mustRef(fmt.Sprint("g", i))
		switch {
		case i%5 == 4: // cancel by client order id an order placed earlier
			apply(Command{Kind: CmdCancel, Account: uint64(1 + (i-4)%3), Market: 1, Ref: mustRef(fmt.Sprint("g", i-4))})
		case i%11 == 10: // a market order that fills resting ones
			apply(Command{Kind: CmdPlace, Account: acct, Market: 1, Ref: ref, Order: book.Order{Side: book.Side(i % 2), Type: book.Market, Qty: 2}})
		case i%7 == 6: // no client order id
			apply(Command{Kind: CmdPlace, Account: acct, Market: 1, Order: book.Order{Side: book.Buy, Price: 800 - int64(i%40), Qty: 1}})
		default:
			o := book.Order{Side: book.Buy, Price: 900 - int64(i%50), Qty: 1 + int64(i%3)}
			if i%2 == 1 {
				o = book.Order{Side: book.Sell, Price: 1100 + int64(i%50), Qty: 1 + int64(i%3)}
			}
			apply(Command{Kind: CmdPlace, Account: acct, Market: 1, Ref: ref, Order: o})
		}
	}
	if s.doneIDs.n == 0 || s.clientIDs.len() == s.doneIDs.n {
		t.Fatalf("%d client order ids, %d done: want live and done ones", s.clientIDs.len(), s.doneIDs.n)
	}
	return s
}

// A version 3 snapshot (written by the release before version 4, with
// every client order id listed) restores the state it was taken from.
// IST_WRITE_SNAPSHOT_V3=1 with that release writes the file.
func TestSnapshotVersion3ClientIDs(t *testing.T) {
	const file = "testdata/snapshot-v3.bin"
	s := goldenClientIDState(t)
	if os.Getenv("IST_WRITE_SNAPSHOT_V3") != "" {
		if err := os.WriteFile(file, s.AppendSnapshot(nil), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if v := int(data[4]) | int(data[5])<<8; v != 3 {
		t.Fatalf("%s is version %d", file, v)
	}
	restored, err := DecodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(restored.AppendSnapshot(nil), s.AppendSnapshot(nil)) {
		t.Fatal("the version 3 snapshot restored another state")
	}
	for p := range s.doneIDs.n {
		k := s.doneIDs.keys[(s.doneIDs.head+p)%len(s.doneIDs.keys)]
		want, _ := s.clientID(&k)
		if got, ok := restored.clientID(&k); !ok || got != want {
			t.Fatalf("done %v: %d,%v want %d", k, got, ok, want)
		}
	}
}
