package book_test

import (
	"fmt"
	"sync"

	"github.com/instant-social-trading/ist/book"
)

// printEvents prints one line per event.
func printEvents(evs []book.Event) {
	for _, e := range evs {
		switch e.Kind {
		case book.EvAccepted:
			fmt.Printf("accepted  order %d (%v) %d@%d\n", e.OrderID, e.Side, e.Qty, e.Price)
		case book.EvTrade:
			fmt.Printf("trade     taker %d (%v) maker %d: %d@%d, taker left %d, maker left %d\n",
				e.OrderID, e.Side, e.MakerID, e.Qty, e.Price, e.Remaining, e.MakerRemaining)
		case book.EvAmended:
			fmt.Printf("amended   order %d now %d@%d, kept priority: %t\n", e.OrderID, e.Qty, e.Price, e.KeptPriority)
		case book.EvTriggered:
			fmt.Printf("triggered order %d at last price %d\n", e.OrderID, e.Price)
		default: // rejected, cancelled, expired
			fmt.Printf("%-9v order %d qty %d: %v\n", e.Kind, e.OrderID, e.Qty, e.Reason)
		}
	}
}

func ExampleBook_Place() {
	b, err := book.New(book.Rules{TickSize: 1, LotSize: 1}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	var evs []book.Event // reused across commands
	evs, err = b.Place(evs[:0], &book.Order{ID: 1, Owner: 7, Side: book.Sell, Price: 101, Qty: 5})
	printEvents(evs)
	evs, err = b.Place(evs[:0], &book.Order{ID: 2, Owner: 8, Side: book.Buy, Price: 101, Qty: 3})
	printEvents(evs)
	fmt.Println("error:", err)
	price, qty, _ := b.BestAsk()
	fmt.Printf("best ask %d@%d, last price %d\n", qty, price, b.LastPrice())
	// Output:
	// accepted  order 1 (sell) 5@101
	// accepted  order 2 (buy) 3@101
	// trade     taker 2 (buy) maker 1: 3@101, taker left 0, maker left 2
	// error: <nil>
	// best ask 2@101, last price 101
}

func ExampleBook_Depth() {
	b, _ := book.New(book.Rules{}, nil)
	for _, o := range []book.Order{
		{ID: 1, Owner: 1, Side: book.Buy, Price: 100, Qty: 5},
		{ID: 2, Owner: 2, Side: book.Buy, Price: 100, Qty: 10, DisplayQty: 4}, // iceberg: 4 visible
		{ID: 3, Owner: 3, Side: book.Buy, Price: 99, Qty: 7},
		{ID: 4, Owner: 4, Side: book.Sell, Price: 102, Qty: 2},
		{ID: 5, Owner: 5, Side: book.Sell, Price: 102, Qty: 6},
		{ID: 6, Owner: 6, Side: book.Sell, Price: 103, Qty: 3},
	} {
		if _, err := b.Place(nil, &o); err != nil {
			fmt.Println(err)
		}
	}
	for _, side := range []book.Side{book.Buy, book.Sell} {
		for _, l := range b.Depth(nil, side, 10) {
			fmt.Printf("%-4v %d: qty %d in %d orders\n", side, l.Price, l.Qty, l.Orders)
		}
	}
	bid, _, _ := b.BestBid()
	ask, _, _ := b.BestAsk()
	fmt.Printf("spread %d-%d\n", bid, ask)
	// Output:
	// buy  100: qty 9 in 2 orders
	// buy  99: qty 7 in 1 orders
	// sell 102: qty 8 in 2 orders
	// sell 103: qty 3 in 1 orders
	// spread 100-102
}

func ExampleBook_Amend() {
	b, _ := book.New(book.Rules{}, nil)
	var evs []book.Event
	evs, _ = b.Place(evs, &book.Order{ID: 1, Owner: 1, Side: book.Buy, Price: 100, Qty: 5})
	evs, _ = b.Place(evs, &book.Order{ID: 2, Owner: 2, Side: book.Buy, Price: 100, Qty: 5})
	evs, _ = b.Place(evs, &book.Order{ID: 3, Owner: 3, Side: book.Sell, Price: 102, Qty: 2})
	printEvents(evs)

	// Less quantity at the same price: order 1 stays first in the queue.
	evs, _ = b.Amend(evs[:0], 1, 100, 3)
	printEvents(evs)

	// A new price loses priority, and here crosses the ask.
	evs, _ = b.Amend(evs[:0], 2, 102, 5)
	printEvents(evs)

	// Amending an order the book does not know is rejected.
	_, err := b.Amend(nil, 9, 100, 1)
	fmt.Println("error:", err)

	for oi := range b.All() {
		fmt.Printf("resting order %d: %v %d@%d\n", oi.ID, oi.Side, oi.Open, oi.Price)
	}
	// Output:
	// accepted  order 1 (buy) 5@100
	// accepted  order 2 (buy) 5@100
	// accepted  order 3 (sell) 2@102
	// amended   order 1 now 3@100, kept priority: true
	// amended   order 2 now 5@102, kept priority: false
	// trade     taker 2 (buy) maker 3: 2@102, taker left 3, maker left 0
	// error: book: unknown order
	// resting order 2: buy 3@102
	// resting order 1: buy 3@100
}

// A Frozen copy lets another goroutine read a book's orders, for a
// snapshot, while the book's owner goes on changing it.
func ExampleBook_FreezeInto() {
	b, _ := book.New(book.Rules{}, nil)
	var evs []book.Event
	evs, _ = b.Place(evs[:0], &book.Order{ID: 1, Owner: 1, Side: book.Buy, Price: 100, Qty: 5})
	evs, _ = b.Place(evs[:0], &book.Order{ID: 2, Owner: 2, Side: book.Sell, Price: 102, Qty: 3})
	var f book.Frozen // keep it: the next FreezeInto reuses its memory
	b.FreezeInto(&f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for o := range f.All() {
			fmt.Printf("order %d: %v %d@%d\n", o.ID, o.Side, o.Open, o.Price)
		}
	}()
	_, _ = b.Cancel(evs[:0], 1) // the copy does not change
	<-done
	fmt.Println("book:", b.Len(), "copy:", f.Len())
	// Output:
	// order 1: buy 5@100
	// order 2: sell 3@102
	// book: 1 copy: 2
}

// A book's owner has the arrays of its next growth made on another
// goroutine, so that the order that fills the book does not wait for
// them: after each batch of commands, it runs what GrowAhead returns.
func ExampleBook_GrowAhead() {
	b, _ := book.New(book.Rules{TickSize: 1, LotSize: 1}, nil)
	var evs []book.Event
	var wg sync.WaitGroup
	const batch = 1000
	for id := uint64(1); id <= 100_000; id++ {
		evs, _ = b.Place(evs[:0], &book.Order{ID: id, Owner: 1, Side: book.Buy, Price: 1 + int64(id%100), Qty: 1})
		if id%batch == 0 { // the end of a batch
			if f := b.GrowAhead(batch); f != nil {
				wg.Go(f) // the book takes the arrays when it grows, if they are ready
			}
		}
	}
	wg.Wait()
	fmt.Println(b.Len(), b.Cap() >= b.Len())
	// Output: 100000 true
}

// A book without an index finds its orders by the handles its events give.
func ExampleBook_CancelAt() {
	b, err := book.New(book.Rules{TickSize: 1, LotSize: 1}, &book.Options{NoIndex: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	handles := map[uint64]book.Handle{} // the owner's: by order id
	keep := func(evs []book.Event) {
		for _, e := range evs {
			if e.Kind == book.EvAccepted || e.Kind == book.EvAmended || e.Kind == book.EvTriggered {
				handles[e.OrderID] = e.Handle // 0 if nothing of it rests
			}
		}
	}
	var evs []book.Event
	evs, _ = b.Place(evs[:0], &book.Order{ID: 1, Owner: 7, Side: book.Sell, Price: 101, Qty: 5})
	keep(evs)
	evs, _ = b.Place(evs[:0], &book.Order{ID: 2, Owner: 8, Side: book.Buy, Price: 101, Qty: 3})
	keep(evs)
	fmt.Println("order 2 rests:", handles[2] != 0) // it filled
	_, err = b.Cancel(evs[:0], 1)                  // by id: no index
	fmt.Println("by id:", err)
	evs, err = b.CancelAt(evs[:0], handles[1], 1)
	printEvents(evs)
	fmt.Println("error:", err)
	// Output:
	// order 2 rests: false
	// by id: book: unknown order
	// cancelled order 1 qty 2: cancelled
	// error: <nil>
}
