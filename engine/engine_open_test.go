package engine

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// Open validates its options before it reserves or allocates anything and
// returns an error, never panics.
func TestOpenInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"ring_huge", Options{RingSize: 1 << 40}},
		{"ring_above_max", Options{RingSize: MaxRingSize * 2}},
		{"ring_not_pow2", Options{RingSize: 3}},
		{"ring_negative", Options{RingSize: -8}},
		{"orders_huge", Options{Capacity: Capacity{Orders: math.MaxInt64 / 2}}},
		{"orders_above_max", Options{Capacity: Capacity{Orders: MaxCapacity + 1}}},
		{"orders_negative", Options{Capacity: Capacity{Orders: -1}}},
		{"book_orders_huge", Options{Capacity: Capacity{BookOrders: math.MaxInt64 / 2}}},
		{"book_orders_negative", Options{Capacity: Capacity{BookOrders: -1}}},
		{"commits_in_flight_huge", Options{CommitsInFlight: 1 << 40}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("Open panicked: %v", r)
				}
			}()
			e, err := Open(&tc.opts)
			if err == nil {
				e.Close()
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.HasPrefix(err.Error(), "engine: ") {
				t.Fatalf("error %q, want ErrInvalidOptions", err)
			}
		})
	}
}

// Options beyond what they can mean are taken at their most: a MaxBatch
// above the ring's size is the ring's size (a batch cannot be larger), not
// an overflow that stalls the pipeline.
func TestOpenMaxBatchHuge(t *testing.T) {
	e, err := Open(&Options{MaxBatch: math.MaxInt, RingSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for range 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := e.Do(ctx, &Command{Kind: CmdTick}, nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
}
