package server

import (
	"bytes"
	"encoding/gob"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/instant-social-trading/ist/book"
)

// legacySeed returns the gob of an old whole-history value: an order, a
// fill, candles and a market whose ring of trades is full (maxTrades),
// its next slot at next.
func legacySeed(next int) []byte {
	d := legacyData{Seq: 9, Orders: map[uint64]*legacyOrder{
		7: {ID: 7, ClientID: "old", Account: 1, Market: 1, Side: book.Sell, Price: 650, Qty: 3, Filled: 1,
			Notional: 650, Status: statusPartial, Created: 1, Updated: 2},
	}, ByAccount: map[uint64][]uint64{1: {7}}, Fills: map[uint64][]fillRec{1: {{TradeID: 1, OrderID: 7, Market: 1, Price: 650, Qty: 1}}},
		Markets: map[uint32]*legacyMarket{}}
	lm := &legacyMarket{Next: next}
	for i := range maxTrades {
		lm.Trades = append(lm.Trades, tradeRec{ID: uint64(i + 1), Price: 650, Qty: 1, Time: int64(i)})
	}
	lm.Candles[0] = []legacyCandle{{Start: 0, Open: 650, High: 650, Low: 650, Close: 650, Volume: 1, QuoteVolume: 650, Trades: 1}}
	d.Markets[1] = lm
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&d); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// FuzzDecodeLegacy feeds arbitrary bytes to the reader of the order
// history an older istd saved as one gob value ("rm", read once by Open
// and rewritten as segments): it must not panic, and a history it
// accepts must index and encode to segments that read back.
func FuzzDecodeLegacy(f *testing.F) {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	f.Add(legacySeed(3))
	f.Add(legacySeed(0))
	var buf bytes.Buffer
	_ = gob.NewEncoder(&buf).Encode(&legacyData{Seq: 1})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		m := newReadModel()
		if m.decodeLegacy(b) != nil {
			return
		}
		m.index(true)
		m2 := newReadModel()
		for _, p := range segParts(t, db, m) {
			if err := m2.applyPart(p); err != nil {
				t.Fatalf("the history read encodes to a part refused: %v", err)
			}
		}
	})
}

// An old history whose full ring of trades has a negative next slot is
// refused as damaged: it indexed the ring at that slot, a panic in Open.
func TestDecodeLegacyNegativeNext(t *testing.T) {
	m := newReadModel()
	if err := m.decodeLegacy(legacySeed(-5)); !errors.Is(err, errHistoryRecord) {
		t.Fatalf("decodeLegacy: %v, want errHistoryRecord", err)
	}
	if err := newReadModel().decodeLegacy(legacySeed(3)); err != nil {
		t.Fatal(err)
	}
}
