package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// SnapshotPause measures how long the matcher pauses to snapshot a state
// with orders resting orders on one market (each with a client order id
// if clientIDs): it builds the state, opens an engine on it with the
// Pebble log in dir as journal and snapshot store, and takes rounds
// snapshots one after another. The first encodes into new memory, the
// next ones into the last one's, as a running engine does. It returns
// each pause and the snapshot's size in bytes.
func SnapshotPause(dir string, orders, rounds int, clientIDs bool) ([]time.Duration, int, error) {
	s := engine.NewState()
	var evs []engine.Event
	seq := uint64(0)
	apply := func(c *engine.Command) error {
		seq++
		c.Seq = seq
		var out engine.Outcome
		if out, evs = s.Apply(c, evs[:0]); out.Err != nil {
			return fmt.Errorf("bench: %v: %w", c.Kind, out.Err)
		}
		return nil
	}
	for _, c := range Genesis(100) {
		if err := apply(&c); err != nil {
			return nil, 0, err
		}
	}
	s.Reserve(engine.Capacity{Orders: orders, BookOrders: orders})
	for i := range orders {
		c := engine.Command{Kind: engine.CmdPlace, Account: uint64(1 + i%100), Market: 1,
			Order: book.Order{Side: book.Side(i % 2), Price: int64(1_000_000 - 1 - i%5000), Qty: 1}}
		if c.Order.Side == book.Sell {
			c.Order.Price = int64(1_000_000 + 1 + i%5000)
		}
		if clientIDs {
			strconv.AppendUint(c.Ref[:0:len(c.Ref)], uint64(i), 10)
		}
		if err := apply(&c); err != nil {
			return nil, 0, err
		}
	}
	size := len(s.AppendSnapshot(nil))
	l, err := OpenLog(dir)
	if err != nil {
		return nil, 0, err
	}
	defer l.Close()
	e, err := engine.Open(&engine.Options{Journal: l, State: s, Snapshots: l})
	if err != nil {
		return nil, 0, err
	}
	defer e.Close()
	pauses := make([]time.Duration, 0, rounds)
	for range rounds {
		if _, err := e.Snapshot(context.Background()); err != nil {
			return nil, 0, err
		}
		_, p := e.SnapshotStats()
		pauses = append(pauses, p)
	}
	return pauses, size, nil
}
