package ring_test

import (
	"context"
	"fmt"

	"github.com/instant-social-trading/ist/internal/ring"
)

// A producer goroutine claims, fills and publishes slots; the consumer, the
// only (and so last) stage, consumes them in batches and releases them.
func Example() {
	type command struct {
		id   int
		text string
	}
	r, err := ring.New[command](4) // a power of two
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	go func() {
		for i := 1; i <= 6; i++ {
			seq, slot, err := r.Claim(ctx) // waits while all 4 slots are in use
			if err != nil {
				return
			}
			*slot = command{id: i, text: fmt.Sprintf("order %d", i)} // overwrite every field
			r.Publish(seq)
		}
	}()

	for next := int64(1); next <= 6; {
		hi, err := r.WaitPublished(ctx, next) // spins, yields, then parks
		if err != nil {
			panic(err)
		}
		for s := next; s <= hi; s++ {
			c := r.Slot(s) // ours until Release
			fmt.Println(s, c.id, c.text)
		}
		r.Release(hi) // producers may now reuse these slots
		next = hi + 1
	}
	r.Close()
	// Output:
	// 1 1 order 1
	// 2 2 order 2
	// 3 3 order 3
	// 4 4 order 4
	// 5 5 order 5
	// 6 6 order 6
}
