package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// The dead man's switch: POST /v1/orders/cancel-all-after
// {"timeout_ms":N} arms it for the caller's account, and if the account
// does not call it again within N milliseconds, istd cancels every open
// order of the account in every market (a CmdCancelAll per market, as
// DELETE /v1/orders does, reason cancelled). A market maker calls it
// every few seconds with a timeout of a minute: if it crashes or loses
// its connection to istd, its quotes do not stay on the book. A call
// with timeout_ms 0 disarms it; GET shows it.
//
// The deadline is stored (key "dm/" account(8): the deadline in Unix
// nanoseconds (8) and the timeout in milliseconds (8), written with
// Sync before the answer) and a restart arms it again: a deadline that
// passed while istd was down fires as soon as istd is up. Once the
// cancels are done the key is deleted; if one fails (istd shutting
// down), the key stays and the next start fires it. The clock is istd's
// wall clock, outside the engine: what the engine logs and replays are
// the cancels, ordinary commands.

// deadmanMin and deadmanMax bound timeout_ms (0 aside). Variables so
// that tests can fire a switch within milliseconds.
var (
	deadmanMin = time.Second
	deadmanMax = 24 * time.Hour
)

var prefixDeadman = []byte("dm/")

// deadman holds the armed switches, by account.
type deadman struct {
	mu      sync.Mutex
	armed   map[uint64]*deadmanSwitch
	stopped bool           // Shutdown has begun: no switch fires from now on
	firing  sync.WaitGroup // fires in progress, which Shutdown waits for
}

// deadmanSwitch is one account's armed switch.
type deadmanSwitch struct {
	at      time.Time // when it fires
	timeout time.Duration
	timer   *time.Timer
}

func deadmanKey(acct uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefixDeadman...), acct)
}

// cancelAfterReq is the body of POST /v1/orders/cancel-all-after.
type cancelAfterReq struct {
	timeoutMs uint64
}

// decodeCancelAfter decodes {"timeout_ms":N}: N is 0 (disarm) or between
// deadmanMin and deadmanMax in milliseconds.
func decodeCancelAfter(p *fastjson.Parser, body []byte, r *cancelAfterReq) error {
	has := false
	err := object(p, body, func(k []byte, v *fastjson.Value) (err error) {
		if string(k) != "timeout_ms" {
			return unknown(k)
		}
		r.timeoutMs, err = uintField(v, "timeout_ms")
		has = true
		return err
	})
	switch {
	case err != nil:
		return err
	case !has:
		return missing("timeout_ms")
	case r.timeoutMs != 0 && (r.timeoutMs < uint64(deadmanMin.Milliseconds()) || r.timeoutMs > uint64(deadmanMax.Milliseconds())):
		return fmt.Errorf("%w: timeout_ms must be 0 (disarm) or between %d and %d", errInvalid,
			deadmanMin.Milliseconds(), deadmanMax.Milliseconds())
	}
	return nil
}

// cancelAllAfter handles POST /v1/orders/cancel-all-after.
func (s *Server) cancelAllAfter(ctx *fasthttp.RequestCtx) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	var r cancelAfterReq
	p, ok := decodeBody(ctx, &r, decodeCancelAfter)
	if !ok {
		return
	}
	parsers.Put(p)
	timeout := time.Duration(r.timeoutMs) * time.Millisecond
	at, err := s.dm.arm(s, acct, timeout, time.Now())
	if err != nil {
		writeError(ctx, err)
		return
	}
	writeJSON(ctx, 200, appendDeadman(nil, timeout, at))
}

// getCancelAllAfter handles GET /v1/orders/cancel-all-after.
func (s *Server) getCancelAllAfter(ctx *fasthttp.RequestCtx) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	var timeout time.Duration
	var at time.Time
	s.dm.mu.Lock()
	if sw := s.dm.armed[acct]; sw != nil {
		timeout, at = sw.timeout, sw.at
	}
	s.dm.mu.Unlock()
	writeJSON(ctx, 200, appendDeadman(nil, timeout, at))
}

// appendDeadman appends the answer: {"timeout_ms":N,"cancel_at":T}, T
// null when disarmed.
func appendDeadman(b []byte, timeout time.Duration, at time.Time) []byte {
	b = strconvUint(append(b, `{"timeout_ms":`...), uint64(timeout.Milliseconds()))
	if at.IsZero() {
		b = append(b, `,"cancel_at":null`...)
	} else {
		b = appendTime(b, "cancel_at", at.UnixNano())
	}
	return append(b, '}')
}

// arm arms acct's switch to fire timeout after now (disarms it if timeout
// is 0) and returns when it fires. The store is written (synced) before
// the timer changes, under d.mu: calls for one account take effect in
// the order they return.
func (d *deadman) arm(s *Server, acct uint64, timeout time.Duration, now time.Time) (time.Time, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return time.Time{}, ErrClosed
	}
	key := deadmanKey(acct)
	var at time.Time
	if timeout == 0 {
		if err := s.store.db.Delete(key, pebble.Sync); err != nil {
			return time.Time{}, fmt.Errorf("server: metadata store: %w", err)
		}
	} else {
		at = now.Add(timeout)
		v := binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))
		if err := s.store.set(key, binary.BigEndian.AppendUint64(v, uint64(timeout.Milliseconds()))); err != nil {
			return time.Time{}, err
		}
	}
	d.set(s, acct, timeout, at)
	return at, nil
}

// set replaces acct's timer (none if at is zero). d.mu held.
func (d *deadman) set(s *Server, acct uint64, timeout time.Duration, at time.Time) {
	if old := d.armed[acct]; old != nil {
		old.timer.Stop()
		delete(d.armed, acct)
	}
	if at.IsZero() {
		return
	}
	if d.armed == nil {
		d.armed = map[uint64]*deadmanSwitch{}
	}
	sw := &deadmanSwitch{at: at, timeout: timeout}
	sw.timer = time.AfterFunc(time.Until(at), func() { d.fire(s, acct, sw) })
	d.armed[acct] = sw
}

// fire cancels acct's orders in every market if sw is still its switch,
// then deletes the stored deadline unless the account armed a new one
// meanwhile. A cancel that fails leaves the deadline stored (the next
// start fires it) and is logged.
func (d *deadman) fire(s *Server, acct uint64, sw *deadmanSwitch) {
	d.mu.Lock()
	if d.stopped || d.armed[acct] != sw {
		d.mu.Unlock()
		return
	}
	delete(d.armed, acct)
	d.firing.Add(1)
	d.mu.Unlock()
	defer d.firing.Done()

	n, err := s.cancelEverywhere(acct)
	s.met.deadman.Inc()
	ev := s.log.Info()
	if err != nil {
		ev = s.log.Error().Err(err)
	}
	ev.Uint64("account_id", acct).Int("cancelled", n).Time("deadline", sw.at).
		Msg("cancel-all-after: the account did not renew its deadline; its orders were cancelled")
	if err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.armed[acct] == nil {
		if err := s.store.db.Delete(deadmanKey(acct), pebble.Sync); err != nil {
			s.log.Error().Err(err).Uint64("account_id", acct).Msg("cancel-all-after: deleting the deadline fired")
		}
	}
}

// cancelEverywhere cancels every open order and pending stop of acct, a
// CmdCancelAll for each market, and returns how many it cancelled. It
// goes on past a market whose cancel fails and returns the errors.
func (s *Server) cancelEverywhere(acct uint64) (int, error) {
	n := 0
	var errs []error
	for _, m := range s.markets().list {
		res, err := s.do(&engine.Command{Kind: engine.CmdCancelAll, Account: acct, Market: m.id}, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("market %s: %w", m.name, err))
			continue
		}
		n += int(res.ID)
	}
	return n, errors.Join(errs...)
}

// load arms the switches the store holds (Open, once the engine has
// recovered): a deadline already past fires at once.
func (d *deadman) load(s *Server) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	it, err := s.store.db.NewIter(&pebble.IterOptions{LowerBound: prefixDeadman, UpperBound: []byte("dm0")})
	if err != nil {
		return fmt.Errorf("server: metadata store: %w", err)
	}
	var errs []error
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != len(prefixDeadman)+8 || len(v) != 16 {
			errs = append(errs, fmt.Errorf("server: cancel-all-after: bad record %q", k))
			continue
		}
		acct := binary.BigEndian.Uint64(k[len(prefixDeadman):])
		at := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
		timeout := time.Duration(binary.BigEndian.Uint64(v[8:])) * time.Millisecond
		d.set(s, acct, timeout, at)
	}
	return errors.Join(append(errs, it.Close())...)
}

// stop disarms every timer (the stored deadlines stay, for the next
// start) and waits for the fires in progress: Shutdown calls it before
// it closes the engine.
func (d *deadman) stop() {
	d.mu.Lock()
	d.stopped = true
	for _, sw := range d.armed {
		sw.timer.Stop()
	}
	d.mu.Unlock()
	d.firing.Wait()
}

// cancelOnDisconnect cancels acct's orders in every market: a stream that
// enabled cancel_on_disconnect ended. Not when istd itself is shutting
// down (Shutdown closes every stream): its orders then stay, as all of
// its state does, and a client that does not come back is covered by
// cancel-all-after, which a restart arms again.
func (s *Server) cancelOnDisconnect(acct uint64) {
	if s.closed.Load() {
		return
	}
	n, err := s.cancelEverywhere(acct)
	s.met.cancelOnDisconnect.Inc()
	ev := s.log.Info()
	if err != nil {
		ev = s.log.Error().Err(err)
	}
	ev.Uint64("account_id", acct).Int("cancelled", n).
		Msg("cancel_on_disconnect: a stream of the account ended; its orders were cancelled")
}
