package server

import (
	"bytes"
	"os"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// goldenHistory is a small deterministic history: orders done and trimmed,
// fills and their trims, trades and candles.
func goldenHistory() *readModel {
	m := newReadModel()
	m.keepOrders, m.keepFills = 3, 4
	var seq uint64
	for k := range 8 {
		tradePair(m, &seq, k, 3)
	}
	return m
}

// goldenSegment encodes the change log of m as one segment and returns its
// parts, concatenated.
func goldenSegment(t *testing.T, m *readModel) []byte {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, _ := m.takeChanges()
	b := db.NewBatch()
	defer b.Close()
	w := &segWriter{}
	w.reset(b, prefixSeg, 1)
	if err := w.changes(c); err != nil {
		t.Fatal(err)
	}
	var out []byte
	r := b.Reader()
	for {
		_, _, v, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, v...)
	}
}

// The history's segment format is what this release writes
// (testdata/history-seg-v1.bin, written by it), byte for byte, and the
// golden reads back as the history it was written from.
func TestHistorySegmentGoldenV1(t *testing.T) {
	golden, err := os.ReadFile("testdata/history-seg-v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	if got := goldenSegment(t, goldenHistory()); !bytes.Equal(got, golden) {
		t.Fatalf("segment encoding changed:\n%x\nwant\n%x", got, golden)
	}
	m := newReadModel()
	if err := m.applyPart(golden); err != nil {
		t.Fatal(err)
	}
	m.keepOrders, m.keepFills = 3, 4
	m.index(false)
	sameHistory(t, m, goldenHistory(), false)
}
