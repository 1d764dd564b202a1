package wal

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/instant-social-trading/ist/engine"
)

// Truncation after snapshots gives the space back: under a steady flow
// with a snapshot every 10,000 commands, the log's tables stay a few
// memtables' worth instead of growing with the history. (With Pebble's L0
// thresholds raised, truncated tables stayed: 10 MiB kept of 45 MiB here,
// growing with every command.)
func TestTruncationReclaimsSpace(t *testing.T) {
	const n = 300_000
	dir := t.TempDir()
	l, err := Open(dir, &Options{Logger: &quiet, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	state, _, err := l.Recover()
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(&engine.Options{Journal: l, State: state, Snapshots: l, SnapshotEvery: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	run(t, e, genesis(8))
	r := rand.New(rand.NewPCG(3, 3))
	var last atomic.Uint64 // set by the output goroutine
	for i := range n {
		c := trading(r, 8, last.Load())
		if err := e.Submit(context.Background(), &c, func(res *engine.Result) {
			if res.Kind == engine.CmdPlace && res.Err == nil {
				last.Store(res.ID)
			}
		}); err != nil {
			t.Fatal(err)
		}
		if i%50_000 == 0 {
			if _, err := e.Do(context.Background(), &engine.Command{Kind: engine.CmdTick}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := e.Do(context.Background(), &engine.Command{Kind: engine.CmdTick}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// Written: the log's entries (Pebble's WAL bytes in). Kept: the
	// commands since the oldest kept snapshot plus what compactions have
	// not yet reached.
	metrics := l.db.Metrics()
	written := int64(metrics.WAL.BytesIn)
	m := metrics.Total()
	t.Logf("%d commands, %d MiB of records written; tables now: %d, %d KiB", n, written>>20, m.TablesCount, m.TablesSize>>10)
	if bound := max(4<<20, written/16); m.TablesSize > bound {
		t.Fatalf("the log keeps %d KiB of tables for %d KiB written: truncation does not reclaim space", m.TablesSize>>10, written>>10)
	}
}
