package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/rs/zerolog"
)

// crashStop stops ts's server the way a crash leaves it: everything
// acknowledged is durable in the log, but there is no final snapshot and
// no last save of the order history or the leader statistics.
func crashStop(ts *testServer) {
	ts.c.CloseIdleConnections()
	s := ts.s
	s.closeOnce.Do(func() {
		s.dm.stop() // no timer of the process fires after its crash
		s.hub.close()
		s.http.Shutdown()
		s.eng.Close()
		s.unsub()
		close(s.stopSaver)
		<-s.saverDone
		s.wal.Close()
		s.store.close()
	})
}

// A crash after a snapshot that is newer than the order history's last
// save: the restart replays the log from the older snapshot, which the
// log still reaches back to, so the history has the orders and fills of
// the commands between its save and the newer snapshot, and no gap is
// reported. (Before, the restart replayed from the newer snapshot only:
// the sell below stayed "open" with nothing filled, silently.)
func TestCrashAfterSnapshotNewerThanHistory(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, &Options{AdminToken: adminTok, HistoryInterval: -1})
	alice, bob := ts.setup()
	ctx := context.Background()
	if _, err := ts.s.eng.Snapshot(ctx); err != nil { // the older snapshot
		t.Fatal(err)
	}
	sell := ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5"}`)
	saved, err := ts.s.saveHistory()
	if err != nil {
		t.Fatal(err)
	}
	// Between the save and the newer snapshot: bob fills alice's sell.
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.5"}`)
	snap, err := ts.s.eng.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap <= saved {
		t.Fatalf("snapshot at %d, history saved at %d: want the snapshot newer", snap, saved)
	}
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"60000","quantity":"0.1"}`)
	crashStop(ts)

	var logs syncBuffer
	lg := zerolog.New(&logs)
	ts2 := start(t, dir, &Options{AdminToken: adminTok, Logger: &lg})
	if o := ts2.must(200, "GET", "/v1/orders/"+id(sell), alice, ""); o["status"] != "filled" || o["filled"] != "0.5" {
		t.Fatalf("the sell filled between the history's save and the snapshot, after the restart: %v", o)
	}
	fills := ts2.must(200, "GET", "/v1/fills", alice, "")["fills"].([]any)
	if len(fills) != 1 || fills[0].(map[string]any)["order_id"] != sell["order"].(map[string]any)["id"] {
		t.Fatalf("alice's fills after the restart: %v", fills)
	}
	if tr := ts2.must(200, "GET", "/v1/markets/BTC-USDT/trades", "", "")["trades"].([]any); len(tr) != 1 {
		t.Fatalf("public trades after the restart: %v", tr)
	}
	if strings.Contains(logs.String(), "behind the engine") {
		t.Fatalf("a gap was reported:\n%s", logs.String())
	}
}

// Backups taken while orders flow start without a gap or excess in their
// order history: the copy's history is saved before its log is copied,
// so it is never ahead of the log, and the log reaches back to a
// snapshot no newer than it. (Before, the log was copied first: 19 of 20
// backups had a history holding orders their log did not, and the engine
// started from them gave those orders' ids to new ones.)
func TestBackupHistoryConsistent(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, &Options{AdminToken: adminTok, HistoryInterval: -1, SnapshotEvery: 50})
	alice, _ := ts.setup()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ts.req("POST", "/v1/orders", alice, fmt.Sprintf(`{"market":"BTC-USDT","side":"sell","price":"%d","quantity":"0.0001"}`, 70000+i%1000))
		}
	}()
	defer func() { close(stop); <-done }()
	for k := range 8 {
		bdir := filepath.Join(t.TempDir(), "b")
		seq, err := ts.s.backupTo(bdir)
		if err != nil {
			t.Fatal(err)
		}
		var logs syncBuffer
		lg := zerolog.New(&logs).Level(zerolog.WarnLevel)
		s2, err := Open(&Options{DataDir: bdir, AdminToken: adminTok, Logger: &lg})
		if err != nil {
			t.Fatal(err)
		}
		hist, eng := s2.rm.seq(), s2.eng.DurableSeq()
		var maxID uint64
		s2.rm.Orders.each(func(o *orderRec) { maxID = max(maxID, o.ID) })
		next, err := s2.eng.Do(context.Background(), &engine.Command{Kind: engine.CmdPlace, Account: 1, Market: 1,
			Order: book.Order{Side: book.Sell, Price: 99_999 * 100, Qty: 2}}, nil)
		s2.Close()
		if err != nil || next.Err != nil {
			t.Fatal(err, next.Err)
		}
		if seq > eng || hist != eng || logs.String() != "" {
			t.Fatalf("backup %d (reported at %d): history at %d, engine at %d, warnings:\n%s", k, seq, hist, eng, logs.String())
		}
		if next.ID <= maxID {
			t.Fatalf("backup %d: a new order got id %d, which the history already holds (up to %d)", k, next.ID, maxID)
		}
	}
}
