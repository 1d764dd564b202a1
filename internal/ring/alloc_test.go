//go:build !race

package ring

import (
	"context"
	"testing"
)

// TestNoAllocs: the hot path (claim, publish, wait for a publication that is
// there, release, notify with nobody parked) allocates nothing.
func TestNoAllocs(t *testing.T) {
	r, _ := New[item](8)
	ctx := context.Background()
	var cursor Sequence
	var w Waiter
	next := int64(1)
	allocs := testing.AllocsPerRun(1000, func() {
		seq, slot, err := r.Claim(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slot.seq = seq
		r.Publish(seq)
		hi, err := r.WaitPublished(ctx, next)
		if err != nil || hi != seq {
			t.Fatalf("WaitPublished = %d, %v; want %d", hi, err, seq)
		}
		cursor.Store(hi)
		w.Notify()
		if _, err := w.Wait(ctx, hi, cursor.Load); err != nil {
			t.Fatal(err)
		}
		r.Release(hi)
		next = hi + 1
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per message, want 0", allocs)
	}
}
