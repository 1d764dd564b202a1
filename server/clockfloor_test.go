package server

import (
	"testing"
	"time"
)

// After a restart on a clock behind the newest trade, new commands are
// dated no earlier than that trade: trades and candles stay in time
// order (before, the engine's floor started at 0 in each process, and a
// trade dated an hour back was folded into the newest candle).
func TestClockFloorAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir, nil)
	alice, bob := ts.setup()
	ts.must(201, "POST", "/v1/orders", alice, `{"market":"BTC-USDT","side":"sell","price":"65000","quantity":"0.5"}`)
	ts.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.1"}`)
	ts.stop()
	first := ts.s.rm.newestTrade()
	if first == 0 {
		t.Fatal("no trade recorded")
	}

	back := first - int64(time.Hour)
	was := wallClock
	wallClock = func() int64 { return back }
	// Restored after ts2 has stopped (cleanups run last first): its
	// engine reads the clock until then.
	t.Cleanup(func() { wallClock = was })
	ts2 := start(t, dir, nil)
	ts2.must(201, "POST", "/v1/orders", bob, `{"market":"BTC-USDT","side":"buy","price":"65000","quantity":"0.1"}`)
	trades := ts2.must(200, "GET", "/v1/markets/BTC-USDT/trades?limit=2", "", "")["trades"].([]any)
	if len(trades) != 2 {
		t.Fatalf("trades: %v", trades)
	}
	at := func(i int) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, trades[i].(map[string]any)["time"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	if newest, older := at(0), at(1); newest.Before(older) {
		t.Fatalf("the trade after the restart is dated %s, before the one before it, %s", newest, older)
	}
}
