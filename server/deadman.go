package server

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// The dead man's switch: POST /v1/orders/cancel-all-after
// {"timeout_ms":N,"market":"SYM"} arms a switch of the caller's account,
// and if the account does not call it again within N milliseconds, istd
// cancels every open order and pending stop of the account in that
// market (a CmdCancelAll, as DELETE /v1/orders?market= does; the
// orders' cancel_reason is cancel_all_after), or, without "market", in
// every market. A market maker
// calls it every few seconds with a timeout of a minute: if it crashes
// or loses its connection to istd, its quotes do not stay on the book.
// Each market has a switch of its own, and the account one more for all
// markets, so that makers of one account in different markets do not
// disarm each other's. timeout_ms 0 disarms the switch; GET lists those
// armed.
//
// The deadline is stored (key "dm/" account(8) market(4), market 0 for
// all: the deadline in Unix nanoseconds (8) and the timeout in
// milliseconds (8), written with Sync before the answer) and a restart
// arms it again: a deadline that passed while istd was down fires as
// soon as istd is up. Once the cancels are done the key is deleted; if
// one fails (istd shutting down), the key stays and the next start fires
// it. The clock is istd's wall clock, outside the engine: what the engine
// logs and replays are the cancels, ordinary commands.
//
// A stream does the same when it ends if it sent
// {"op":"cancel_on_disconnect","enabled":true} (cancelOnDisconnect).

// deadmanMin and deadmanMax bound timeout_ms (0 aside). The minimum is
// a variable, atomic, so that tests can fire a switch within
// milliseconds while handlers read it.
var deadmanMin atomic.Int64 // nanoseconds

const deadmanMax = 24 * time.Hour

func init() { deadmanMin.Store(int64(time.Second)) }

var prefixDeadman = []byte("dm/")

// codScope is whose orders a switch or a stream's end cancels: the
// account's in one market, or in all of them (market 0).
type codScope struct {
	account uint64
	market  uint32
}

// deadman holds the armed switches. mu guards the map and is never held
// across a write to the store: a synced write under it would make every
// account's arms (and every fire) wait for one another's fsyncs, and one
// client renewing as fast as its rate limit allows would delay everyone's
// renewals past their deadlines. What orders one switch's store writes
// and timer changes is its key lock (keyLock).
type deadman struct {
	mu      sync.Mutex
	armed   map[codScope]*deadmanSwitch
	stopped bool           // Shutdown has begun: no switch is armed or fires from now on
	busy    sync.WaitGroup // arms and fires in progress, which stop waits for
	keyMu   [64]sync.Mutex // by switch (keyLock)
}

// keyLock returns the lock of switch k, held across the change of its
// stored deadline and of its timer, so that they change in the same
// order.
func (d *deadman) keyLock(k codScope) *sync.Mutex {
	h := (k.account ^ uint64(k.market)<<32) * 0x9E3779B97F4A7C15
	return &d.keyMu[h>>58]
}

// begin counts an arm or a fire in progress (stop waits for them), or
// reports false once stop has begun.
func (d *deadman) begin() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return false
	}
	d.busy.Add(1)
	return true
}

// deadmanSwitch is one armed switch.
type deadmanSwitch struct {
	at      time.Time // when it fires
	timeout time.Duration
	timer   *time.Timer
}

func deadmanKey(k codScope) []byte {
	b := binary.BigEndian.AppendUint64(append([]byte(nil), prefixDeadman...), k.account)
	return binary.BigEndian.AppendUint32(b, k.market)
}

// cancelAfterReq is the body of POST /v1/orders/cancel-all-after.
type cancelAfterReq struct {
	timeoutMs uint64
	market    []byte // nil: all markets
}

// decodeCancelAfter decodes {"timeout_ms":N,"market":"SYM"}: N is 0
// (disarm) or between deadmanMin and deadmanMax in milliseconds; market
// is optional.
func decodeCancelAfter(p *fastjson.Parser, body []byte, r *cancelAfterReq) error {
	has := false
	err := object(p, body, func(k []byte, v *fastjson.Value) (err error) {
		switch string(k) {
		case "timeout_ms":
			r.timeoutMs, err = uintField(v, "timeout_ms")
			has = true
		case "market":
			r.market, err = str(v, "market")
		default:
			err = unknown(k)
		}
		return err
	})
	minMs := time.Duration(deadmanMin.Load()).Milliseconds()
	switch {
	case err != nil:
		return err
	case !has:
		return missing("timeout_ms")
	case r.timeoutMs != 0 && (r.timeoutMs < uint64(minMs) || r.timeoutMs > uint64(deadmanMax.Milliseconds())):
		return fmt.Errorf("%w: timeout_ms must be 0 (disarm) or between %d and %d", errInvalid,
			minMs, deadmanMax.Milliseconds())
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
	defer parsers.Put(p)
	k := codScope{account: acct}
	if r.market != nil {
		m, ok := s.marketByName(r.market)
		if !ok {
			writeError(ctx, fmt.Errorf("%w: market %q", errNotFound, r.market))
			return
		}
		k.market = m.id
	}
	timeout := time.Duration(r.timeoutMs) * time.Millisecond
	at, err := s.dm.arm(s, k, timeout, time.Now())
	if err != nil {
		writeError(ctx, err)
		return
	}
	writeJSON(ctx, 200, s.appendDeadman(nil, k.market, timeout, at))
}

// getCancelAllAfter handles GET /v1/orders/cancel-all-after: the
// caller's armed switches, the one of all markets first, then by market
// id.
func (s *Server) getCancelAllAfter(ctx *fasthttp.RequestCtx) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	type armed struct {
		market  uint32
		timeout time.Duration
		at      time.Time
	}
	// By the account's possible switches (every market, and all), not
	// by every account's: the request costs the same however many
	// accounts have armed theirs.
	mkts := s.markets().list
	var list []armed
	s.dm.mu.Lock()
	for i := -1; i < len(mkts); i++ {
		k := codScope{account: acct}
		if i >= 0 {
			k.market = mkts[i].id
		}
		if sw := s.dm.armed[k]; sw != nil {
			list = append(list, armed{k.market, sw.timeout, sw.at})
		}
	}
	s.dm.mu.Unlock()
	slices.SortFunc(list, func(a, b armed) int { return cmp.Compare(a.market, b.market) })
	b := append([]byte(nil), `{"switches":[`...)
	for i, a := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.appendDeadman(b, a.market, a.timeout, a.at)
	}
	writeJSON(ctx, 200, append(b, "]}"...))
}

// appendDeadman appends a switch: {"market":M,"timeout_ms":N,
// "cancel_at":T}, M null for all markets, T null when disarmed.
func (s *Server) appendDeadman(b []byte, market uint32, timeout time.Duration, at time.Time) []byte {
	b = append(b, `{"market":`...)
	if m, ok := s.marketByID(market); ok && market != 0 {
		b = appendString(b, m.name)
	} else {
		b = append(b, "null"...)
	}
	b = appendUint(b, "timeout_ms", uint64(timeout.Milliseconds()))
	if at.IsZero() {
		b = append(b, `,"cancel_at":null`...)
	} else {
		b = appendTime(b, "cancel_at", at.UnixNano())
	}
	return append(b, '}')
}

// arm arms switch k to fire timeout after now (disarms it if timeout is
// 0) and returns when it fires. The store is written (synced) before the
// timer changes, under k's key lock: calls for one switch take effect in
// the order they return.
func (d *deadman) arm(s *Server, k codScope, timeout time.Duration, now time.Time) (time.Time, error) {
	if !d.begin() {
		return time.Time{}, ErrClosed
	}
	defer d.busy.Done()
	l := d.keyLock(k)
	l.Lock()
	defer l.Unlock()
	key := deadmanKey(k)
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
	d.mu.Lock()
	d.set(s, k, timeout, at)
	d.mu.Unlock()
	return at, nil
}

// set replaces k's timer (none if at is zero). d.mu held.
func (d *deadman) set(s *Server, k codScope, timeout time.Duration, at time.Time) {
	if old := d.armed[k]; old != nil {
		old.timer.Stop()
		delete(d.armed, k)
	}
	if at.IsZero() {
		return
	}
	if d.armed == nil {
		d.armed = map[codScope]*deadmanSwitch{}
	}
	sw := &deadmanSwitch{at: at, timeout: timeout}
	sw.timer = time.AfterFunc(time.Until(at), func() { d.fire(s, k, sw) })
	d.armed[k] = sw
}

// fire cancels the orders of k if sw is still its switch, then deletes
// the stored deadline unless a new one was armed meanwhile. A cancel the
// engine refuses as full is tried again (cancelOrders) until stop; one
// that fails leaves the deadline stored (the next start fires it) and is
// logged.
func (d *deadman) fire(s *Server, k codScope, sw *deadmanSwitch) {
	d.mu.Lock()
	if d.stopped || d.armed[k] != sw {
		d.mu.Unlock()
		return
	}
	delete(d.armed, k)
	d.busy.Add(1)
	d.mu.Unlock()
	defer d.busy.Done()

	n, err := s.cancelOrders(k, book.ReasonCancelAllAfter, d.isStopped)
	s.met.deadman.Inc()
	s.logCancels(k, n, err).Time("deadline", sw.at).
		Msg("cancel-all-after: the account did not renew its deadline; its orders were cancelled")
	if err != nil {
		return
	}
	l := d.keyLock(k) // no arm of k between the look and the delete
	l.Lock()
	defer l.Unlock()
	d.mu.Lock()
	rearmed := d.armed[k] != nil
	d.mu.Unlock()
	if !rearmed {
		if err := s.store.db.Delete(deadmanKey(k), pebble.Sync); err != nil {
			s.log.Error().Err(err).Uint64("account_id", k.account).Msg("cancel-all-after: deleting the deadline fired")
		}
	}
}

// logCancels starts the log line of cancels made for k: info, or error
// with err.
func (s *Server) logCancels(k codScope, n int, err error) *zerolog.Event {
	ev := s.log.Info()
	if err != nil {
		ev = s.log.Error().Err(err)
	}
	ev = ev.Uint64("account_id", k.account)
	if m, ok := s.marketByID(k.market); ok && k.market != 0 {
		ev = ev.Str("market", m.name)
	}
	return ev.Int("cancelled", n)
}

// isStopped reports whether stop has begun.
func (d *deadman) isStopped() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stopped
}

// cancelAllHook, if set (tests), is called with each market cancelOrders
// sends a CmdCancelAll for. Atomic: a switch's timer may fire while a
// test sets it.
var cancelAllHook atomic.Pointer[func(market uint32)]

// cancelRetryMax bounds the wait between two tries of a cancel the
// engine refused as full.
const cancelRetryMax = 100 * time.Millisecond

// cancelOrders cancels every open order and pending stop of k's account
// in k's market, or with market 0 in every market where it has any (a
// CmdCancelAll each, whose cancels report cause as their reason), and
// returns how many it cancelled. A cancel the engine refuses because
// it is full (engine.ErrFull: istd's engine fails fast, and a burst is
// when a client is likeliest to lose its connection) is tried again,
// after a millisecond and then up to cancelRetryMax, until it runs or
// give reports true (istd is shutting down). It goes on past a market
// whose cancel fails and returns the errors.
func (s *Server) cancelOrders(k codScope, cause book.Reason, give func() bool) (int, error) {
	n := 0
	var errs []error
	// Every market: only those where the order history, once it has
	// applied every command durable now, shows the account's orders
	// (not a command per market of the exchange); all of them if it
	// lags that long.
	var open []uint32
	all := k.market == 0 && s.waitHistory(s.eng.DurableSeq()) != nil
	if k.market == 0 && !all {
		open = s.rm.openMarkets(k.account)
	}
	for _, m := range s.markets().list {
		if k.market != 0 && m.id != k.market || k.market == 0 && !all && !slices.Contains(open, m.id) {
			continue
		}
		if h := cancelAllHook.Load(); h != nil {
			(*h)(m.id)
		}
		cmd := engine.Command{Kind: engine.CmdCancelAll, Account: k.account, Market: m.id, Cause: cause}
		res, err := s.do(&cmd, nil)
		for wait := time.Millisecond; errors.Is(err, engine.ErrFull) && !give(); wait = min(2*wait, cancelRetryMax) {
			time.Sleep(wait)
			res, err = s.do(&cmd, nil)
		}
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
		if len(k) != len(prefixDeadman)+12 || len(v) != 16 {
			errs = append(errs, fmt.Errorf("server: cancel-all-after: bad record %q", k))
			continue
		}
		key := codScope{binary.BigEndian.Uint64(k[len(prefixDeadman):]), binary.BigEndian.Uint32(k[len(prefixDeadman)+8:])}
		at := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
		timeout := time.Duration(binary.BigEndian.Uint64(v[8:])) * time.Millisecond
		d.set(s, key, timeout, at)
	}
	return errors.Join(append(errs, it.Close())...)
}

// stop disarms every timer (the stored deadlines stay, for the next
// start) and waits for the arms and fires in progress: Shutdown calls it
// before it closes the engine and the store. (A timer an arm in progress
// sets afterwards finds d.stopped when it fires.)
func (d *deadman) stop() {
	d.mu.Lock()
	d.stopped = true
	for _, sw := range d.armed {
		sw.timer.Stop()
	}
	d.mu.Unlock()
	d.busy.Wait()
}

// cancelOnDisconnect cancels the orders of k: a stream that enabled
// cancel_on_disconnect ended. Not when istd itself is shutting down
// (Shutdown closes every stream): the orders then stay, as all of its
// state does, and a client that does not come back is covered by
// cancel-all-after, which a restart arms again. A cancel the engine
// refuses as full is tried again until it runs or Shutdown begins.
func (s *Server) cancelOnDisconnect(k codScope) {
	if s.closed.Load() {
		return
	}
	n, err := s.cancelOrders(k, book.ReasonDisconnect, s.closed.Load)
	s.met.cancelOnDisconnect.Inc()
	s.logCancels(k, n, err).Msg("cancel_on_disconnect: a stream of the account ended; its orders were cancelled")
}
