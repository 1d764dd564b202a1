package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// SnapshotResult is what SnapshotPause measured.
type SnapshotResult struct {
	Pauses  []time.Duration // the matcher's pause for each snapshot
	Bytes   int             // the snapshot's size
	Restore time.Duration   // decoding it back into a state (engine.DecodeState), as a restart does
}

// SnapshotPause measures how long the matcher pauses to snapshot a state
// with orders resting orders on one market (each with a client order id
// if clientIDs): it builds the state, opens an engine on it with the
// Pebble log in dir as journal and snapshot store, and takes rounds
// snapshots one after another. The engine readies the memory of the first
// when it opens, and of each next one after saving the last, as a running
// engine does. It also times decoding the snapshot.
func SnapshotPause(dir string, orders, rounds int, clientIDs bool) (SnapshotResult, error) {
	var res SnapshotResult
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
			return res, err
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
			return res, err
		}
	}
	data := s.AppendSnapshot(nil)
	res.Bytes = len(data)
	t0 := time.Now()
	if _, err := engine.DecodeState(data); err != nil {
		return res, err
	}
	res.Restore = time.Since(t0)
	l, err := OpenLog(dir)
	if err != nil {
		return res, err
	}
	defer l.Close()
	// The state was built without the log: saved into it first, as its
	// starting point, the log then ends where the state does.
	if err := l.SaveSnapshot(s.Seq(), data); err != nil {
		return res, err
	}
	e, err := engine.Open(&engine.Options{Journal: l, State: s, Snapshots: l})
	if err != nil {
		return res, err
	}
	defer e.Close()
	for range rounds {
		if _, err := e.Snapshot(context.Background()); err != nil {
			return res, err
		}
		_, p := e.SnapshotStats()
		res.Pauses = append(res.Pauses, p)
	}
	return res, nil
}
