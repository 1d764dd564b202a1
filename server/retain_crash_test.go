package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestRetainCrashChild is the server process of TestCrashSnapshotsFasterThanHistory:
// it serves $IST_RETAIN_DIR on $IST_RETAIN_ADDR until killed, with a
// snapshot every 10 commands and the order history saved only on demand
// (istd's --history-interval 0).
func TestRetainCrashChild(t *testing.T) {
	dir := os.Getenv("IST_RETAIN_DIR")
	if dir == "" {
		t.Skip("run by TestCrashSnapshotsFasterThanHistory")
	}
	nop := zerolog.Nop()
	s, err := Open(&Options{DataDir: dir, AdminToken: adminTok, Logger: &nop, HistoryInterval: -1, SnapshotEvery: 10})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", os.Getenv("IST_RETAIN_ADDR"))
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(ln) // until SIGKILL
}

// startRetainChild starts TestRetainCrashChild on dir and returns it with
// a client of it once it is ready.
func startRetainChild(t *testing.T, dir string) (*exec.Cmd, *testServer) {
	t.Helper()
	addr := freeAddr(t)
	return startChildTest(t, "TestRetainCrashChild", dir, addr, "IST_RETAIN_DIR="+dir, "IST_RETAIN_ADDR="+addr)
}

// crossOrders has alice sell and bob buy 0.01 BTC at 65000, n times, and
// returns the ids of the orders, all acknowledged.
func crossOrders(ts *testServer, alice, bob string, n int) []string {
	var ids []string
	for range n {
		for _, o := range []struct{ tok, side string }{{alice, "sell"}, {bob, "buy"}} {
			out := ts.must(201, "POST", "/v1/orders", o.tok,
				fmt.Sprintf(`{"market":"BTC-USDT","side":%q,"price":"65000","quantity":"0.01"}`, o.side))
			ids = append(ids, id(out))
		}
	}
	return ids
}

// checkCrossed checks, after a restart, that every order crossOrders
// placed is there and filled, with its fill, and every public trade.
func checkCrossed(t *testing.T, ts *testServer, alice, bob string, ids []string) {
	t.Helper()
	var missing int
	for i, oid := range ids {
		tok := alice
		if i%2 == 1 {
			tok = bob
		}
		code, o := ts.req("GET", "/v1/orders/"+oid, tok, "")
		if code != 200 || o["status"] != "filled" {
			missing++
			t.Errorf("order %s after the restart: %d %v", oid, code, o)
		}
	}
	n := len(ids) / 2
	trades := ts.listLen("/v1/markets/BTC-USDT/trades?limit=100", "", "trades")
	fa, fb := ts.listLen("/v1/fills?limit=100", alice, "fills"), ts.listLen("/v1/fills?limit=100", bob, "fills")
	if missing > 0 || trades != n || fa != n || fb != n {
		t.Fatalf("after the restart: %d of %d orders missing or not filled; %d of %d trades, fills %d and %d of %d",
			missing, len(ids), trades, n, fa, fb, n)
	}
}

// Snapshots every 10 commands and the order history saved only on
// demand: a kill after 15 crossing pairs of orders loses none of them
// from the history. (Before, each snapshot truncated the log up to the
// older of the two newest snapshots, past the history's last save: 9 of
// 15 orders answered 404 after the restart, and trades and fills were
// missing.)
func TestCrashSnapshotsFasterThanHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd, ts := startRetainChild(t, dir)
	defer cmd.Process.Kill()
	alice, bob := ts.setup()
	ids := crossOrders(ts, alice, bob, 15)
	killChild(t, cmd, ts)

	var logs syncBuffer
	lg := zerolog.New(&logs).Level(zerolog.WarnLevel)
	ts2 := start(t, dir, &Options{AdminToken: adminTok, Logger: &lg})
	checkCrossed(t, ts2, alice, bob, ids)
	if logs.String() != "" {
		t.Fatalf("warnings at the restart:\n%s", logs.String())
	}
}

// stopSaver stops ts's history saver, as a crash before it runs would:
// the history and the statistics are saved only when the test says.
func stopSaver(ts *testServer) {
	s := ts.s
	close(s.stopSaver)
	<-s.saverDone
	done := make(chan struct{})
	close(done)
	s.stopSaver, s.saverDone = make(chan struct{}), done // for Shutdown and crashStop
}

// The same in process, the saver never running after the snapshots: the
// log is not truncated past the history's last save (none: so not at
// all), and the restart replays it from its start.
func TestCrashSnapshotsNoHistorySave(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{AdminToken: adminTok, HistoryInterval: -1, SnapshotEvery: 10}
	ts := start(t, dir, opts)
	stopSaver(ts)
	alice, bob := ts.setup()
	ids := crossOrders(ts, alice, bob, 15)
	if _, err := ts.s.eng.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	crashStop(ts)
	checkCrossed(t, start(t, dir, opts), alice, bob, ids)
}

// A fresh node that crashes after its first snapshots, before its first
// history save: the restart replays the log from its start, so the
// history has everything. (Before, the first snapshot truncated the log,
// and the history restarted from the newest snapshot.)
func TestCrashFreshNodeAfterSnapshot(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{AdminToken: adminTok, SnapshotInterval: time.Hour}
	ts := start(t, dir, opts)
	stopSaver(ts)
	alice, bob := ts.setup()
	ids := crossOrders(ts, alice, bob, 3)
	for range 2 {
		if _, err := ts.s.eng.Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, crossOrders(ts, alice, bob, 2)...)
	}
	crashStop(ts)
	checkCrossed(t, start(t, dir, opts), alice, bob, ids)
}

// Leader statistics saved, then a buy, a snapshot and the sell that
// closes the round trip, then a crash: the restart replays both into the
// statistics. (Before, the snapshot truncated the log past the save, and
// the leader showed roi 0, pnl 0 and no round trip.)
func TestStatsTailAfterSnapshot(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{AdminToken: adminTok, HistoryInterval: -1, SnapshotInterval: time.Hour}
	ts := start(t, dir, opts)
	stopSaver(ts)
	ts.must(201, "POST", "/v1/admin/markets", adminTok,
		`{"symbol":"BTC-USDT","base":"BTC","quote":"USDT","tick_size":"0.01","lot_size":"0.0001","min_notional":"1","maker_fee_bps":0,"taker_fee_bps":0}`)
	dep := func(id uint64, asset, amt, ref string) {
		ts.must(201, "POST", "/v1/admin/deposits", adminTok, fmt.Sprintf(`{"account_id":%d,"asset":%q,"amount":%q,"ref":%q}`, id, asset, amt, ref))
	}
	lid, lea := ts.signup("lea")
	mid, mo := ts.signup("mo")
	xid, _ := ts.signup("xav")
	dep(lid, "USDT", "10000", "stats-l")
	dep(mid, "BTC", "100", "stats-m1")
	dep(mid, "USDT", "100000", "stats-m2")
	dep(xid, "USDT", "1000", "stats-x")
	ts.must(200, "PUT", "/v1/social/leader", lea, `{}`)
	if _, err := ts.s.saveHistory(); err != nil {
		t.Fatal(err)
	}
	ts.must(201, "POST", "/v1/orders", mo, `{"market":"BTC-USDT","side":"sell","price":"100","quantity":"10"}`)
	ts.must(201, "POST", "/v1/orders", lea, `{"market":"BTC-USDT","side":"buy","price":"100","quantity":"10"}`)
	if _, err := ts.s.eng.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts.must(201, "POST", "/v1/orders", mo, `{"market":"BTC-USDT","side":"buy","price":"120","quantity":"10"}`)
	ts.must(201, "POST", "/v1/orders", lea, `{"market":"BTC-USDT","side":"sell","price":"120","quantity":"10"}`)
	row := func(ts *testServer) map[string]any {
		return ts.must(200, "GET", fmt.Sprintf("/v1/social/leaders/%d", lid), "", "")["stats"].(map[string]any)["all"].(map[string]any)
	}
	live := row(ts)
	if fmt.Sprint(live["pnl"]) == "0" || fmt.Sprint(live["round_trips"]) != "1" {
		t.Fatalf("live statistics: %v (want a round trip with a profit)", live)
	}
	crashStop(ts)
	ts2 := start(t, dir, opts)
	got := row(ts2)
	for _, k := range []string{"roi", "pnl", "round_trips"} {
		if fmt.Sprint(got[k]) != fmt.Sprint(live[k]) {
			t.Errorf("after the crash, %s: %v, live %v\nafter: %v\nlive:  %v", k, got[k], live[k], got, live)
		}
	}
}

// With the history saved only on demand, each snapshot wakes the saver:
// the history catches up, and the next snapshots truncate the log again.
// (Without the wake, the log was never truncated past the history's last
// save, and grew until shutdown.)
func TestSnapshotWakesHistorySaver(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, HistoryInterval: -1, SnapshotInterval: time.Hour})
	alice, bob := ts.setup()
	for i := 0; ; i++ {
		crossOrders(ts, alice, bob, 2)
		snap, err := ts.s.eng.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); ts.s.histSaved.Load() < snap; {
			if time.Now().After(deadline) {
				t.Fatalf("the history, saved at %d, did not follow the snapshot at %d", ts.s.histSaved.Load(), snap)
			}
			time.Sleep(time.Millisecond)
		}
		ls, err := ts.s.wal.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if ls.FirstSeq > 1 {
			break // truncated
		}
		if i == 5 {
			t.Fatalf("log never truncated after %d snapshots: %+v", i+1, ls)
		}
	}
}
