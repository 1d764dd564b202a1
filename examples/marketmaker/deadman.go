package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The dead man's switch: POST /v1/orders/cancel-all-after
// {"timeout_ms":N,"market":SYM} arms the account's switch for the
// market: unless the account calls it again within N ms, istd cancels
// all its orders there. The maker arms it before it places anything,
// renews it every third of the timeout from a goroutine of its own (so
// that a slow order request never holds a renewal back) and disarms it
// ({"timeout_ms":0}) once its orders are cancelled at exit. If the maker
// dies, hangs or loses istd for longer than the timeout, its quotes go
// with it.
//
// A renewal that fails is printed and tried again within a second; the
// maker meanwhile places nothing once the last deadline it knows of has
// passed (deadman.armed): an order placed then would outlive it.

// deadman keeps the switch of one market armed. Its methods are safe for
// concurrent use: renew runs in its own goroutine while the maker's loop
// asks armed.
type deadman struct {
	api     *client // with a timeout of its own: see newDeadman
	market  string
	timeout time.Duration
	out     io.Writer // safe for concurrent use

	// until is the time (Unix ns, the maker's clock) before which the
	// switch is surely armed: the start of the last request that armed
	// it, plus the timeout. istd's deadline runs from when it got the
	// request, later.
	until atomic.Int64
}

// newDeadman returns the switch of market for api's account, with the
// given timeout (1 s to 24 h), not yet armed. out must be safe for
// concurrent use.
func newDeadman(api *client, market string, timeout time.Duration, out io.Writer) *deadman {
	// A renewal that takes longer than the pause between renewals is
	// better given up and sent again than waited for.
	c := *api
	c.hc = &http.Client{Timeout: min(max(timeout/3, time.Second), requestTimeout)}
	c.tries = 3
	return &deadman{api: &c, market: market, timeout: timeout, out: out}
}

// period is the pause between renewals.
func (d *deadman) period() time.Duration { return d.timeout / 3 }

// set arms the switch for timeout (disarms it if 0) and returns when
// istd will cancel the orders (zero if disarmed).
func (d *deadman) set(ctx context.Context, timeout time.Duration) (time.Time, error) {
	start := time.Now()
	var res struct {
		CancelAt *time.Time `json:"cancel_at"`
	}
	body := fmt.Sprintf(`{"timeout_ms":%d,"market":%q}`, timeout.Milliseconds(), d.market)
	if err := d.api.call(ctx, "POST", "/v1/orders/cancel-all-after", body, &res); err != nil {
		return time.Time{}, err
	}
	if timeout == 0 {
		d.until.Store(0)
		return time.Time{}, nil
	}
	d.until.Store(start.Add(timeout).UnixNano())
	if res.CancelAt == nil {
		return time.Time{}, fmt.Errorf("POST /v1/orders/cancel-all-after: no cancel_at in the answer")
	}
	return *res.CancelAt, nil
}

// arm arms the switch with the timeout.
func (d *deadman) arm(ctx context.Context) (time.Time, error) { return d.set(ctx, d.timeout) }

// disarm disarms the switch.
func (d *deadman) disarm(ctx context.Context) error {
	_, err := d.set(ctx, 0)
	return err
}

// armed reports whether the switch is surely armed at now: whether
// orders placed now are covered.
func (d *deadman) armed(now time.Time) bool { return now.UnixNano() < d.until.Load() }

// renew renews the switch every period until ctx ends, each renewal
// timed from the start of the one before. A failure is printed (once
// while it repeats) and the renewal tried again within a second; the
// first success after failures is printed too.
func (d *deadman) renew(ctx context.Context) {
	failing, last := false, ""
	for next := time.Now().Add(d.period()); ; {
		if sleep(ctx, time.Until(next)) != nil {
			return
		}
		start := time.Now()
		next = start.Add(d.period())
		at, err := d.arm(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			next = start.Add(min(d.period(), time.Second))
			if msg := err.Error(); msg != last {
				last = msg
				fmt.Fprintf(d.out, "warning: renewing the dead man's switch: %v; retrying\n", err)
			}
			failing = true
		case failing:
			failing, last = false, ""
			fmt.Fprintf(d.out, "dead man's switch renewed again: istd cancels the orders in %s at %s unless renewed\n",
				d.market, at.Format(time.RFC3339))
		}
	}
}

// lockedWriter makes a writer safe for concurrent use: each Write is
// whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
