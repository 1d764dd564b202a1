package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/instant-social-trading/ist/engine"
	"github.com/rs/zerolog"
)

// stallEngine blocks the engine's output stage (a subscriber that waits)
// and fills its ingress ring with harmless commands (cancels of an order
// that does not exist), so that the next command is refused with
// engine.ErrFull, as istd's fail-fast engine does under a burst. The
// returned function lets the engine go again.
func stallEngine(t *testing.T, ts *testServer) (release func()) {
	t.Helper()
	gate := make(chan struct{})
	var blocking atomic.Bool
	blocking.Store(true)
	unsub := ts.s.eng.Subscribe(func(*engine.Result) {
		if blocking.Load() {
			<-gate
		}
	})
	for n := 0; ; n++ {
		err := ts.s.eng.Submit(context.Background(), &engine.Command{Kind: engine.CmdCancel, Account: 2, OrderID: 1 << 40}, nil)
		if errors.Is(err, engine.ErrFull) {
			break
		}
		if err != nil || n > 1<<20 {
			t.Fatalf("filling the ring: %d commands, %v", n, err)
		}
	}
	var once atomic.Bool
	release = func() {
		if once.CompareAndSwap(false, true) {
			blocking.Store(false)
			close(gate)
			unsub()
		}
	}
	t.Cleanup(release)
	return release
}

// A dead man's switch that comes due while the engine is saturated (the
// fail-fast engine refuses its cancels with ErrFull, as it does in the
// very bursts in which a market maker is likeliest to lose its
// connection) still cancels the account's orders once the engine has
// room again. (Before, the switch was dropped after its failed cancel:
// the orders stayed on the book until istd's next restart.)
func TestCancelAllAfterEngineFull(t *testing.T) {
	deadmanFast(t)
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, RingSize: 64})
	alice, _ := deadmanSetup(ts)
	ts.must(200, "POST", "/v1/orders/cancel-all-after", alice, `{"timeout_ms":300}`)
	release := stallEngine(t, ts)
	// The switch comes due and its cancels are refused.
	for i := 0; ; i++ {
		if got, _ := ts.switches(alice); got == "[]" {
			break
		}
		if i > 500 {
			t.Fatal("the switch did not fire")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	release()
	if got := ts.waitOpen(alice, "map[]"); got != "map[]" {
		t.Fatalf("the switch fired while the engine was full; once it had room again, alice's open orders: %s", got)
	}
}

// The same for a stream with cancel_on_disconnect that ends while the
// engine is saturated.
func TestCancelOnDisconnectEngineFull(t *testing.T) {
	ts := start(t, t.TempDir(), &Options{AdminToken: adminTok, RingSize: 64})
	alice, _ := deadmanSetup(ts)
	c := ts.dial()
	codOn(t, c, alice, true)
	release := stallEngine(t, ts)
	c.ws.UnderlyingConn().Close()
	time.Sleep(300 * time.Millisecond) // the stream ends, its cancels are refused
	release()
	if got := ts.waitOpen(alice, "map[]"); got != "map[]" {
		t.Fatalf("the stream ended while the engine was full; once it had room again, alice's open orders: %s", got)
	}
}

// BenchmarkDeadmanArm arms the switches of many accounts at once, as
// their market makers' heartbeats do: each arm writes its deadline with
// a synced write.
func BenchmarkDeadmanArm(b *testing.B) {
	nop := zerolog.Nop()
	s, err := Open(&Options{DataDir: b.TempDir(), AdminToken: adminTok, Logger: &nop})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var next atomic.Uint64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		acct := next.Add(1)
		for pb.Next() {
			if _, err := s.dm.arm(s, codScope{account: acct}, time.Hour, time.Now()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// Switches armed, renewed and disarmed from many goroutines while they
// fire: once stop has returned, every switch still armed is stored with
// its deadline (a stored one that is not armed is a deadline that came
// due, which the next start fires), and nothing is armed after stop.
func TestDeadmanArmFireRace(t *testing.T) {
	deadmanFast(t)
	ts := start(t, t.TempDir(), nil)
	deadmanSetup(ts)
	mkts := ts.s.markets().list
	var wg sync.WaitGroup
	deadline := time.Now().Add(time.Second)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := codScope{account: uint64(1 + g%2)}
			if g%4 >= 2 {
				k.market = mkts[g%len(mkts)].id
			}
			for i := 0; time.Now().Before(deadline); i++ {
				timeout := time.Duration(i%5) * time.Millisecond // 0: disarm
				if _, err := ts.s.dm.arm(ts.s, k, timeout, time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	ts.s.dm.stop()
	if _, err := ts.s.dm.arm(ts.s, codScope{account: 1}, time.Hour, time.Now()); !errors.Is(err, ErrClosed) {
		t.Errorf("arm after stop: %v", err)
	}
	ts.s.dm.mu.Lock()
	defer ts.s.dm.mu.Unlock()
	for k, sw := range ts.s.dm.armed {
		v, err := ts.s.store.get(deadmanKey(k))
		if err != nil || len(v) != 16 || int64(binary.BigEndian.Uint64(v)) != sw.at.UnixNano() {
			t.Errorf("switch %+v armed for %v, stored %x (%v)", k, sw.at, v, err)
		}
	}
}

// A switch fires in a halted market (cancels are not halted) and for a
// frozen account (which has nothing left to cancel): either way the
// stored deadline goes, so that it does not fire again at every start.
func TestCancelAllAfterHaltedAndFrozen(t *testing.T) {
	deadmanFast(t)
	ts := start(t, t.TempDir(), nil)
	alice, bob := deadmanSetup(ts)
	ts.must(200, "POST", "/v1/admin/markets/BTC-USDT/halt", adminTok, "")
	ts.must(200, "POST", "/v1/orders/cancel-all-after", alice, `{"timeout_ms":100}`)
	if got := ts.waitOpen(alice, "map[]"); got != "map[]" {
		t.Fatalf("a switch in a halted market: alice's open orders %s", got)
	}
	bid := ts.accountID(bob)
	ts.must(200, "POST", fmt.Sprintf("/v1/admin/accounts/%d/freeze", bid), adminTok, "")
	ts.must(200, "POST", "/v1/orders/cancel-all-after", bob, `{"timeout_ms":100}`)
	for _, k := range []codScope{{account: 1}, {account: bid}} {
		var v []byte
		for range 200 {
			if v, _ = ts.s.store.get(deadmanKey(k)); v == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if v != nil {
			t.Errorf("account %d: the fired deadline is still stored", k.account)
		}
	}
}
