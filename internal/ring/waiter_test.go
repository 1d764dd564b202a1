package ring

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func hammerN() int {
	if testing.Short() {
		return 2_000
	}
	return 50_000
}

// TestWaiterNoLostWakeup hammers park/unpark. The waiter (no spin, no
// yield: it parks whenever the cursor is short) acknowledges every value
// before the notifier moves on, so a lost wake-up is never rescued by a
// later Notify: it hangs (caught by hangGuard). The notifier polls for the
// ack instead of blocking, so the two run on both cores at once, and varies
// when it publishes: at once, after a busy-wait of varying length, or once
// the waiter is about to block (its park count moved), so the store races
// every step of the way to the block.
func TestWaiterNoLostWakeup(t *testing.T) {
	ctx := hangGuard(t)
	w := NewWaiter(0, 0)
	var cursor, acked, ackParks Sequence
	n := int64(hammerN())
	go func() {
		for want := int64(1); want <= n; want++ {
			if _, err := w.Wait(ctx, want, cursor.Load); err != nil {
				return // the notifier sees ctx.Err() too
			}
			ackParks.Store(w.Parks()) // parks before the next Wait
			acked.Store(want)
		}
	}()
	for v := int64(1); v <= n; v++ {
		switch v % 4 {
		case 0:
			for w.Parks() == ackParks.Load() && ctx.Err() == nil {
				runtime.Gosched() // wait until the waiter is about to block
			}
		default:
			// Busy-wait a varying 0 to a few hundred ns, sweeping the store
			// across the waiter's path from its ack to its block.
			for i := (v * 7919) % (16 << (v % 4 * 2)); i > 0 && cursor.Load() >= 0; i-- {
			}
		}
		cursor.Store(v)
		w.Notify()
		for i := 0; acked.Load() < v; i++ {
			if i%1024 == 1023 {
				if ctx.Err() != nil {
					t.Fatalf("value %d never acknowledged (lost wake-up?): %v", v, ctx.Err())
				}
				runtime.Gosched()
			}
		}
	}
	if w.Parks() < n/4 {
		t.Fatalf("waiter parked %d times in %d steps; the park path was not exercised", w.Parks(), n)
	}
}

// TestWaiterPingPong: two goroutines that hand a token back and forth, both
// parking every time: every step needs the other's wake-up.
func TestWaiterPingPong(t *testing.T) {
	ctx := hangGuard(t)
	var ping, pong Sequence
	wPing, wPong := NewWaiter(0, 0), NewWaiter(0, 0)
	n := int64(hammerN())
	errc := make(chan error, 1)
	go func() {
		for i := int64(1); i <= n; i++ {
			if _, err := wPing.Wait(ctx, i, ping.Load); err != nil {
				errc <- err
				return
			}
			pong.Store(i)
			wPong.Notify()
		}
		errc <- nil
	}()
	for i := int64(1); i <= n; i++ {
		ping.Store(i)
		wPing.Notify()
		if _, err := wPong.Wait(ctx, i, pong.Load); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d round trips, %d + %d parks", n, wPing.Parks(), wPong.Parks())
}

// TestWaiterBroadcast: one Notify wakes every waiter, each with its own
// target, and notifiers race with each other.
func TestWaiterBroadcast(t *testing.T) {
	ctx := hangGuard(t)
	w := NewWaiter(0, 1)
	var cursor Sequence
	var mu sync.Mutex // serialises the notifiers' cursor stores
	n := int64(hammerN() / 10)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for want := int64(1); want <= n; want++ {
				if _, err := w.Wait(ctx, want, cursor.Load); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				v := cursor.Load() + 1
				if v <= n {
					cursor.Store(v)
				}
				mu.Unlock()
				w.Notify()
				if v >= n {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestWaiterIdleParks: a waiter whose cursor never moves ends up parked and
// then stops polling the cursor entirely, i.e. uses no CPU. No timing
// assertion: we wait for "parked and the poll count stable", then check it
// stays stable; a spinning waiter would never get there (hangGuard).
func TestWaiterIdleParks(t *testing.T) {
	ctx := hangGuard(t)
	var w Waiter // defaults: spins, then yields, then parks
	var polls atomic.Int64
	cursor := func() int64 { polls.Add(1); return 0 }
	errc := make(chan error)
	go func() {
		_, err := w.Wait(ctx, 1, cursor)
		errc <- err
	}()
	for {
		before := polls.Load()
		time.Sleep(5 * time.Millisecond)
		if w.Parked() == 1 && polls.Load() == before && before > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("waiter never went quiet")
		}
	}
	before := polls.Load()
	if before < DefaultSpin+DefaultYield {
		t.Fatalf("parked after %d polls, want at least %d (spin, yield)", before, DefaultSpin+DefaultYield)
	}
	time.Sleep(50 * time.Millisecond)
	if after := polls.Load(); after != before {
		t.Fatalf("parked waiter polled %d more times", after-before)
	}
	w.Notify() // a spurious wake-up: one more poll, then parked again
	for polls.Load() == before {
		time.Sleep(time.Millisecond)
	}
	w.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close: %v, want ErrClosed", err)
	}
	if w.Parked() != 0 {
		t.Fatalf("Parked = %d after Close", w.Parked())
	}
}

// TestWaiterCloseAndCancel: Close wakes all parked waiters; a cancelled ctx
// ends one wait; a satisfied cursor wins over both.
func TestWaiterCloseAndCancel(t *testing.T) {
	guard := hangGuard(t)
	w := NewWaiter(0, 0)
	var cursor Sequence

	ctx, cancel := context.WithCancel(guard)
	errc := make(chan error)
	go func() {
		_, err := w.Wait(ctx, 1, cursor.Load)
		errc <- err
	}()
	for w.Parked() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Wait: %v", err)
	}
	if _, err := w.Wait(ctx, 0, cursor.Load); err != nil {
		t.Fatalf("satisfied Wait with a cancelled ctx: %v", err)
	}

	const waiters = 8
	for range waiters {
		go func() {
			_, err := w.Wait(guard, 1, cursor.Load)
			errc <- err
		}()
	}
	for w.Parked() < waiters {
		time.Sleep(time.Millisecond)
	}
	w.Close()
	for range waiters {
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait after Close: %v", err)
		}
	}
	if _, err := w.Wait(guard, 1, cursor.Load); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait on a closed Waiter: %v", err)
	}
	if v, err := w.Wait(guard, 0, cursor.Load); v != 0 || err != nil {
		t.Fatalf("satisfied Wait on a closed Waiter = %d, %v", v, err)
	}
	w.Close()
}

// TestWaiterNoSpinOnOneP checks that with a single P the waiter skips its
// spin phase (nothing could move the cursor meanwhile) and goes on to
// yield and park, and that with two it spins.
func TestWaiterNoSpinOnOneP(t *testing.T) {
	defer refreshOneP()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	const spin, yield = 100_000, 3
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		refreshOneP() // as the next park would
		w := NewWaiter(spin, yield)
		var calls atomic.Int64
		cursor := func() int64 { calls.Add(1); return 0 }
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := w.Wait(context.Background(), 1, cursor); !errors.Is(err, ErrClosed) {
				t.Errorf("GOMAXPROCS %d: Wait = %v, want ErrClosed", procs, err)
			}
		}()
		for w.Parked() == 0 {
			time.Sleep(time.Millisecond)
		}
		n := calls.Load() // before parking: the checks of the spin and yield phases, and the park's
		w.Close()
		<-done
		if procs == 1 && n > yield+2 {
			t.Errorf("GOMAXPROCS 1: %d cursor checks before parking, want at most %d (no spin)", n, yield+2)
		}
		if procs == 2 && n < spin {
			t.Errorf("GOMAXPROCS 2: %d cursor checks before parking, want at least %d (spin)", n, spin)
		}
	}
}

// TestWaiterCursorReachedBeforeClose: a cursor that reaches want and then
// has its Waiter closed (as the engine's matcher stores its last batch's
// cursor and then closes the Waiter on its way out) is seen by a Wait that
// read the cursor just before the store: Wait returns the value and no
// error, as its doc says (ErrClosed only while the cursor is still short),
// both in the spin phase and when parking. Returning ErrClosed with the
// stale value made the engine's output stage stop before delivering that
// batch, and Do calls in it never returned.
func TestWaiterCursorReachedBeforeClose(t *testing.T) {
	for _, tc := range []struct {
		name  string
		w     *Waiter
		stale int // the cursor read after which the store and Close happen
	}{
		{"spin", NewWaiter(4, 0), 1},
		{"yield", NewWaiter(0, 4), 1},
		{"park", NewWaiter(0, 0), 2}, // Wait's first read, then park's
	} {
		var c atomic.Int64
		reads := 0
		cursor := func() int64 {
			v := c.Load()
			reads++
			if reads == tc.stale {
				c.Store(5)
				tc.w.Close()
			}
			return v
		}
		v, err := tc.w.Wait(context.Background(), 5, cursor)
		if v != 5 || err != nil {
			t.Errorf("%s: Wait = %d, %v; want 5, nil (the cursor reached 5 before Close)", tc.name, v, err)
		}
	}
}
