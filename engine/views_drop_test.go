package engine

import (
	"context"
	"testing"
)

// TestDeliveredBatchesHoldNoViews checks that once a batch's views are
// published, the pipeline's per-slot record of them no longer points at
// any: stale views kept there stayed reachable (depth arrays and balances
// of every batch end the ring had seen, scanned by every collection).
func TestDeliveredBatchesHoldNoViews(t *testing.T) {
	cmds, _, _ := copyRun(t, testSeed(t, 12), 3_000, false)
	e, err := Open(&Options{ViewInterval: 1, RingSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	var last uint64
	for i := range cmds {
		res, err := e.Do(ctx, &cmds[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		last = res.Seq
	}
	if err := e.WaitViews(ctx, last); err != nil {
		t.Fatal(err)
	}
	// Do returned each result: every batch before the last command's is
	// delivered; the last one's views are published before its result.
	held := 0
	for i := range e.after {
		ab := &e.after[i]
		for _, v := range ab.markets[:cap(ab.markets)] {
			held += b2i(v != nil)
		}
		for _, v := range ab.accounts[:cap(ab.accounts)] {
			held += b2i(v != nil)
		}
		for _, v := range ab.relations[:cap(ab.relations)] {
			held += b2i(v != nil)
		}
		for _, v := range ab.leaders[:cap(ab.leaders)] {
			held += b2i(v != nil)
		}
	}
	if held != 0 {
		t.Fatalf("delivered batches still point at %d views", held)
	}
	if _, ok := e.Market(1); !ok {
		t.Fatal("no market view published")
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
