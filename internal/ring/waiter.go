package ring

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// Default wait phases of the zero Waiter: this many cursor checks in a busy
// loop, then this many runtime.Gosched calls, then park.
const (
	DefaultSpin  = 128
	DefaultYield = 16
)

// oneP caches whether GOMAXPROCS is 1, in which case Wait skips its spin
// phase. It is read at start-up and refreshed whenever a goroutine parks,
// so a change of GOMAXPROCS (the runtime follows a container's CPU limit)
// is seen at the next park.
var oneP atomic.Bool

func init() { refreshOneP() }

func refreshOneP() { oneP.Store(runtime.GOMAXPROCS(0) == 1) }

// Waiter is the wait strategy for a goroutine waiting for a cursor to reach
// a value: spin a bounded number of checks (none when GOMAXPROCS is 1:
// no other goroutine could move the cursor meanwhile), yield a bounded
// number of times, then park on a channel until [Waiter.Notify] or
// [Waiter.Close]. A parked goroutine burns no CPU, so an idle pipeline
// costs nothing.
//
// Whoever advances a cursor that someone may wait for through this Waiter
// calls Notify afterwards. Notify costs one atomic load while nobody is
// parked; it takes a mutex and closes a channel only when somebody is.
//
// Any number of goroutines may Wait on one Waiter at once (each with its own
// condition); Notify wakes them all and each re-checks its cursor.
//
// The zero Waiter is ready to use with [DefaultSpin] and [DefaultYield]. A
// Waiter must not be copied after first use.
//
// # No lost wake-ups
//
// The waiter announces itself (sleepers.Add(1), while holding mu and taking
// the current channel ch), then checks the cursor once more, then blocks on
// ch. The notifier advances the cursor (an atomic store), then loads
// sleepers, and if it is non-zero closes the current channel under mu.
// Atomics are sequentially consistent, so either
//   - the notifier's load of sleepers came before the waiter's Add: then the
//     cursor store came before it too, and the waiter's re-check sees the new
//     value and does not block; or
//   - the load saw the Add: the Add happened while the waiter held mu, so the
//     notifier's critical section comes after the one in which the waiter took
//     ch. A channel stops being current only by being closed, so the notifier
//     closes ch or ch was already closed: the waiter wakes.
//
// Close stores closed before it takes mu, so the same argument holds for it.
type Waiter struct {
	spin, yield int  // wait phases, fixed at construction
	custom      bool // spin and yield were set by NewWaiter

	sleepers atomic.Int32 // goroutines parked or about to park
	parks    atomic.Int64 // times a goroutine blocked on ch; slow path only
	closed   atomic.Bool
	mu       sync.Mutex
	ch       chan struct{} // closed to wake the sleepers; nil when none is current
}

// NewWaiter returns a Waiter that checks the cursor spin times in a busy
// loop and then yields the processor yield times before parking. Zero for
// both parks at once, which is the right choice when the waiting goroutine
// shares its core with the producers.
func NewWaiter(spin, yield int) *Waiter {
	return &Waiter{spin: max(spin, 0), yield: max(yield, 0), custom: true}
}

// Wait returns once cursor() >= want, with the value it read. cursor must
// be cheap, safe for concurrent use and non-decreasing; it is called
// repeatedly while spinning and once per wake-up while parked.
//
// Wait returns ctx.Err() if ctx is done while it is parked (ctx is not
// consulted while the cursor is already there, nor during the bounded spin
// and yield phases), and [ErrClosed] once the Waiter is closed and the
// cursor is still short of want. On error the value is the last one read.
func (w *Waiter) Wait(ctx context.Context, want int64, cursor func() int64) (int64, error) {
	spin, yield := DefaultSpin, DefaultYield
	if w.custom {
		spin, yield = w.spin, w.yield
	}
	for i := 0; ; i++ {
		v := cursor()
		if v >= want {
			return v, nil
		}
		if i == 0 && spin > 0 && oneP.Load() {
			// One P: nothing else runs while this goroutine spins, so
			// the cursor cannot move; yield at once.
			i = spin
		}
		if w.closed.Load() {
			return w.closedWait(want, cursor)
		}
		switch {
		case i < spin:
		case i < spin+yield:
			runtime.Gosched()
		default:
			return w.park(ctx, want, cursor)
		}
	}
}

// park blocks until the cursor reaches want, the Waiter is closed or ctx is
// done. See the Waiter doc for why no wake-up can be lost.
func (w *Waiter) park(ctx context.Context, want int64, cursor func() int64) (int64, error) {
	// Parking is the slow path: refresh oneP here, not in Wait, because
	// reading GOMAXPROCS takes the scheduler's lock.
	refreshOneP()
	for {
		w.mu.Lock()
		if w.ch == nil {
			w.ch = make(chan struct{})
		}
		ch := w.ch
		w.sleepers.Add(1)
		w.mu.Unlock()

		v := cursor()
		var err error
		switch {
		case v >= want:
		case w.closed.Load():
			v, err = w.closedWait(want, cursor)
		default:
			w.parks.Add(1)
			select {
			case <-ch:
				w.sleepers.Add(-1)
				continue // spurious or not, re-check
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		w.sleepers.Add(-1)
		return v, err
	}
}

// closedWait is Wait's answer once it has seen the Waiter closed: the
// cursor read after that, which is final if whoever closes the Waiter
// advances the cursor before Close (as a stage that stores its last
// cursor and then closes on its way out). The read before it may be
// stale: it can miss a store made just before Close, and ErrClosed with
// that value would tell the waiter that what was published never will be.
func (w *Waiter) closedWait(want int64, cursor func() int64) (int64, error) {
	v := cursor()
	if v < want {
		return v, ErrClosed
	}
	return v, nil
}

// Notify wakes every goroutine parked in Wait so that it re-checks its
// cursor. Call it after advancing a cursor. It costs one atomic load when
// nobody is parked. Safe for concurrent use.
func (w *Waiter) Notify() {
	if w.sleepers.Load() == 0 {
		return
	}
	w.wake()
}

func (w *Waiter) wake() {
	w.mu.Lock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil // the next sleeper makes a fresh one
	}
	w.mu.Unlock()
}

// Close makes every current and future Wait that would block return
// [ErrClosed], and wakes the parked ones. A cursor advanced before Close
// is seen by every Wait: one that reaches want returns it with no error,
// however its reads and the Close interleave. Closing twice is harmless.
func (w *Waiter) Close() {
	w.closed.Store(true)
	w.wake()
}

// Parked returns the number of goroutines parked (or about to park) in
// Wait. It is for tests and metrics.
func (w *Waiter) Parked() int { return int(w.sleepers.Load()) }

// Parks returns how many times a goroutine has blocked in Wait since the
// Waiter was made: a metric of how often consumers went idle.
func (w *Waiter) Parks() int64 { return w.parks.Load() }
