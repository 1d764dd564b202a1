package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"testing"

	"github.com/instant-social-trading/ist/book"
)

// A snapshot whose market's last trade price no book could trade at (a
// negative one, one above the market's highest price) is corrupt: the
// restore refuses it instead of restoring a market without a last price.
func TestSnapshotBadLastPriceRefused(t *testing.T) {
	sc := newScenario(t)
	const p = 123_457
	sc.place(1, book.Order{Side: book.Sell, Price: p, Qty: 1})
	if out := sc.place(2, book.Order{Side: book.Buy, Price: p, Qty: 1}); out.Err != nil {
		t.Fatal(out.Err)
	}
	snap := sc.s.AppendSnapshot(nil)
	body := snap[:len(snap)-4]
	want := binary.LittleEndian.AppendUint64(nil, p)
	at := bytes.Index(body, want)
	if at < 0 || bytes.Contains(body[at+1:], want) {
		t.Fatalf("last price %d not once in the snapshot", p)
	}
	if _, err := DecodeState(snap); err != nil {
		t.Fatalf("unedited: %v", err)
	}
	for _, bad := range []int64{-5, math.MaxInt64} {
		b := bytes.Clone(body)
		binary.LittleEndian.PutUint64(b[at:], uint64(bad))
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
		if _, err := DecodeState(b); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("last price %d: %v, want ErrCorruptSnapshot", bad, err)
		}
	}
}
