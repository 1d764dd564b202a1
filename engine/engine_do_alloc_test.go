//go:build !race

package engine

import (
	"context"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/book"
)

// Do allocates nothing when dst has room for the events: its future and
// the future's channel are pooled.
func TestDoAllocs(t *testing.T) {
	// No views are rebuilt during the test (they allocate).
	e, err := Open(&Options{ViewInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, c := range genesis(2) {
		mustDo(t, e, c)
	}
	buf := make([]Event, 0, 16)
	cmds := [2]Command{
		{Kind: CmdPlace, Account: 1, Market: 1, Order: book.Order{Side: book.Sell, Price: 100, Qty: 1}},
		{Kind: CmdPlace, Account: 2, Market: 1, Order: book.Order{Side: book.Buy, Price: 100, Qty: 1}},
	}
	ctx := context.Background()
	i := 0
	do := func() {
		res, err := e.Do(ctx, &cmds[i%2], buf[:0])
		if err != nil || res.Err != nil || len(res.Events) == 0 {
			t.Fatalf("%v %+v", err, res)
		}
		i++
	}
	for range 100 {
		do() // warm the pool
	}
	if n := testing.AllocsPerRun(1000, do); n != 0 {
		t.Fatalf("Do: %v allocations", n)
	}
}
