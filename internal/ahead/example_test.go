package ahead_test

import (
	"fmt"

	"github.com/instant-social-trading/ist/internal/ahead"
)

func Example() {
	var next ahead.Array[uint64]
	table := make([]uint64, 1024)
	done := make(chan struct{})

	// Nearly full: ask for the next table and make it on another goroutine.
	if f := next.Ask(2 * len(table)); f != nil {
		go func() { f(); close(done) }()
	}
	<-done // (only so that the output is fixed: the owner never waits)

	// Full: take it, made ahead, or made now if it is not ready.
	bigger := next.Take(2 * len(table))
	copy(bigger, table)
	fmt.Println(len(bigger))
	// Output: 2048
}
