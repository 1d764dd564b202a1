package engine_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/internal/cmdstream"
)

// The audit streams with good-till-date orders (cmdstream's GTD) and
// cancel-all causes (cmdstream's Causes): replayed, through a chain of
// snapshots, with Check after every command, and with what the streams
// hold counted, so that their coverage cannot silently vanish. ("After
// every command": every auditCheckEvery commands, which is 1 but under
// the race detector.)

// TestAuditStreamGTD: a stream with good-till-date orders keeps the
// invariants after every command, replays to the same outcomes, events
// and hashes, directly and through a chain of snapshots (the pending
// expiries survive each restore: orders placed before it expire after
// it, at the same command); every expiry happens at the first command
// whose time reaches it, in (time, id) order, and none is overdue after a
// command; and many orders expire, others are filled or cancelled
// before, invalid expiries are refused.
func TestAuditStreamGTD(t *testing.T) {
	seed := auditSeed(t, 5)
	rec := generateFrom(t, cmdstream.New(seed).GTD(), auditLen(), auditCheckEvery)
	checkReplay(t, rec)
	st := checkChain(t, rec, rand.New(rand.NewPCG(seed, 99)))
	if st.pending == 0 || st.expired == 0 {
		t.Fatalf("no restore with an expiry pending, or none expired after a restore: %+v", st)
	}
	checkGTD(t, rec)
}

// TestAuditStreamGTDUnevenTime is TestAuditStreamGTD with the times of a
// sequencer that is not evenly busy: a command comes 0 to 3 ms after the
// one before (several at the same time now and then) and a tick, sent
// after an idle spell, up to a second after it, so that orders expire at
// commands later than their time, many at one tick.
func TestAuditStreamGTDUnevenTime(t *testing.T) {
	seed := auditSeed(t, 8)
	r := rand.New(rand.NewPCG(seed, 100))
	var now int64
	rec := generateTimed(t, cmdstream.New(seed).GTD(), auditLen(), auditCheckEvery, func(c *engine.Command) int64 {
		if c.Kind == engine.CmdTick {
			now += r.Int64N(1_000_000_000)
		} else {
			now += r.Int64N(4) * 1_000_000
		}
		return now
	})
	checkReplay(t, rec)
	st := checkChain(t, rec, rand.New(rand.NewPCG(seed, 99)))
	if st.pending == 0 || st.expired == 0 {
		t.Fatalf("no restore with an expiry pending, or none expired after a restore: %+v", st)
	}
	checkGTD(t, rec)
}

// TestAuditStreamCauses: a stream whose cancel-alls give causes keeps
// the invariants after every command, replays to the same outcomes,
// events and hashes, directly and through a chain of snapshots; each
// cancel reports its cancel-all's cause, and a cause that is not allowed
// is refused.
func TestAuditStreamCauses(t *testing.T) {
	seed := auditSeed(t, 6)
	rec := generateFrom(t, cmdstream.New(seed).Causes(), auditLen(), auditCheckEvery)
	checkReplay(t, rec)
	checkChain(t, rec, rand.New(rand.NewPCG(seed, 99)))
	checkCauses(t, rec)
}

// TestAuditStreamAllOptions: a stream with every option of cmdstream (fee
// changes, freezes, good-till-date orders, cancel-all causes, price
// bands) keeps the invariants after every command, replays to the same
// outcomes, events and hashes, directly and through a chain of snapshots
// (with expiries pending and bands set), and holds what each option is
// meant to add (checkCoverage is TestAuditStreamReplay's:
// with every option, rarer outcomes such as a copy stop-loss may be
// missing from a stream of this length).
func TestAuditStreamAllOptions(t *testing.T) {
	seed := auditSeed(t, 15) // 7 before price bands: with them, its short stream lacks a resent good-till-date order
	rec := generateFrom(t, cmdstream.New(seed).FeeChanges().Freezes().GTD().Causes().PriceBands(), auditLen(), auditCheckEvery)
	checkReplay(t, rec)
	st := checkChain(t, rec, rand.New(rand.NewPCG(seed, 99)))
	if st.pending == 0 || st.expired == 0 || st.banded == 0 {
		t.Fatalf("no restore with an expiry pending, none expired after a restore, or none with a band: %+v", st)
	}
	seen := checkGTD(t, rec)
	if seen["cancelled account_frozen"] == 0 {
		gtdMissing(t, "cancelled account_frozen", seen)
	}
	checkCauses(t, rec)
	checkBands(t, rec)
}

// gtdOrder is a good-till-date order of a recording, as its events tell.
type gtdOrder struct {
	at                         int64 // its ExpireAt
	stop                       bool  // a stop-limit
	traded, amended, triggered bool
	fate                       string // how it ended; "" while live
}

// checkGTD follows every good-till-date order of rec through its events,
// and a replay of rec through the engine's expiry index, and fails t if
// they disagree, if an order expired at another command than the first
// whose time reaches its expiry, out of (time, id) order or after another
// event of the command, if one is overdue after a command, or if the
// stream lacks what GTD is meant to make (with IST_SEED set, rare ones
// are only logged). It returns the counts.
func checkGTD(t *testing.T, rec *recording) map[string]int {
	t.Helper()
	seen := map[string]int{}
	orders := map[uint64]*gtdOrder{}
	s := engine.NewState()
	var buf []engine.Event
	var touched []uint64
	prevTime := int64(math.MinInt64)
	for i := range rec.cmds {
		c, out, evs := &rec.cmds[i], rec.outs[i], rec.events(i)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("command %d %s %+v: "+format, append([]any{i + 1, c.Kind, *c}, args...)...)
		}
		touched = touched[:0]
		// The expiries come first, due at this command and not at an
		// earlier one, in (time, id) order.
		n := 0
		var lastAt int64
		var lastID uint64
		for k, ev := range evs {
			if ev.Kind != book.EvExpired || ev.Reason != book.ReasonExpired {
				continue
			}
			o := orders[ev.OrderID]
			switch {
			case k != n:
				fail("expiry %+v after another event", ev)
			case o == nil || o.fate != "":
				fail("expiry %+v of an order that is not a live good-till-date order (%+v)", ev, o)
			case o.at > c.Time || o.at <= prevTime:
				fail("order %d expiring at %d expired at time %d, the previous command's %d", ev.OrderID, o.at, c.Time, prevTime)
			case n > 0 && (o.at < lastAt || o.at == lastAt && ev.OrderID <= lastID):
				fail("order %d (at %d) expired after order %d (at %d)", ev.OrderID, o.at, lastID, lastAt)
			}
			if o.at == c.Time {
				seen["expired at exactly its time"]++
			}
			if n > 0 && o.at == lastAt {
				seen["expired at the time of another"]++
			}
			lastAt, lastID = o.at, ev.OrderID
			n++
			o.fate = "expired"
			touched = append(touched, ev.OrderID)
			seen["expired"]++
			if o.stop {
				seen["expired stop-limit"]++
				if !o.triggered {
					seen["expired stop-limit pending"]++
				}
			}
			if o.traded {
				seen["expired partly filled"]++
			}
			if o.amended {
				seen["expired amended"]++
			}
			switch {
			case c.Kind == engine.CmdTick:
				seen["expired at a tick"]++
			case out.Err != nil:
				seen["expired at a refused command"]++
			}
		}
		if n > 1 {
			seen["commands with several expiries"]++
		}
		if c.Kind == engine.CmdPlace && c.ExpireAt != 0 {
			switch {
			case out.Duplicate:
				seen["place duplicate"]++
			case out.Err == nil:
				seen["placed"]++
				if c.ExpireAt == math.MaxInt64 {
					seen["placed: never expires"]++
				}
				orders[out.ID] = &gtdOrder{at: c.ExpireAt, stop: c.Order.Type == book.StopLimit}
				touched = append(touched, out.ID)
			case errors.Is(out.Err, engine.ErrInvalidExpiry):
				seen["refused: expiry"]++
				if c.ExpireAt < 0 {
					seen["refused: negative expiry"]++
				}
			case errors.Is(out.Err, book.ErrInvalidTIF):
				seen["refused: not gtc"]++
			default:
				seen["refused: other"]++
			}
		}
		// The command's other events on good-till-date orders.
		end := func(id uint64, fate string) {
			if o := orders[id]; o != nil {
				if o.fate != "" {
					fail("order %d %s, but it %s before", id, fate, o.fate)
				}
				o.fate = fate
				seen[fate]++
				touched = append(touched, id)
			}
		}
		for _, ev := range evs[n:] {
			switch ev.Kind {
			case book.EvTrade:
				for _, x := range []struct {
					id   uint64
					rest int64
				}{{ev.OrderID, ev.Remaining}, {ev.MakerID, ev.MakerRemaining}} {
					if o := orders[x.id]; o != nil {
						o.traded = true
						if x.rest == 0 {
							end(x.id, "filled")
						}
					}
				}
			case book.EvCancelled:
				end(ev.OrderID, "cancelled "+ev.Reason.String())
			case book.EvExpired:
				if orders[ev.OrderID] != nil {
					fail("good-till-date order %d: %+v", ev.OrderID, ev)
				}
			case book.EvAmended:
				if o := orders[ev.OrderID]; o != nil {
					o.amended = true
				}
			case book.EvTriggered:
				if o := orders[ev.OrderID]; o != nil {
					o.triggered = true
				}
			}
		}
		// The engine's index agrees, and has nothing overdue.
		_, buf = s.Apply(c, buf[:0])
		if at, ok := s.NextExpiry(); ok && at <= c.Time {
			fail("an expiry at %d is overdue", at)
		}
		for _, id := range touched {
			o := orders[id]
			at, ok := s.ExpireAt(id)
			if ok != (o.fate == "") || ok && at != o.at {
				fail("order %d: the state has expiry %d %v, its events say %q (expiring at %d)", id, at, ok, o.fate, o.at)
			}
		}
		prevTime = c.Time
	}
	for id, o := range orders {
		if o.fate != "" {
			continue
		}
		seen["live at the end"]++
		if at, ok := s.ExpireAt(id); !ok || at != o.at {
			t.Fatalf("order %d, live by its events, has expiry %d %v in the state", id, at, ok)
		}
		if o.at <= prevTime {
			t.Fatalf("order %d expiring at %d is live at the end, at time %d", id, o.at, prevTime)
		}
	}
	t.Logf("good-till-date orders: %v", seen)
	// A good share expire within the stream, others end before.
	if placed := seen["placed"]; seen["expired"] < placed/4 || seen["filled"] < placed/20 || seen["cancelled cancelled"] < placed/50 {
		t.Errorf("of %d good-till-date orders, %d expired, %d were filled and %d cancelled before", placed,
			seen["expired"], seen["filled"], seen["cancelled cancelled"])
	}
	for _, k := range []string{"placed", "expired", "filled", "cancelled cancelled", "live at the end",
		"refused: expiry", "refused: negative expiry", "refused: not gtc", "place duplicate", "placed: never expires",
		"expired stop-limit pending", "expired partly filled", "expired amended", "expired at a tick",
		"expired at a refused command", "commands with several expiries", "expired at the time of another",
		"expired at exactly its time",
		"cancelled self_trade_prevented"} {
		if seen[k] == 0 {
			gtdMissing(t, k, seen)
		}
	}
	return seen
}

// gtdMissing reports that the stream has no k: an error, or with IST_SEED
// set only a log (another seed's stream may lack a rare one).
func gtdMissing(t *testing.T, k string, seen map[string]int) {
	t.Helper()
	if os.Getenv("IST_SEED") != "" {
		t.Logf("the stream has no %q (another seed may): %v", k, seen)
		return
	}
	t.Errorf("the stream has no %q: %v", k, seen)
}

// checkCauses fails t unless every cancel of a cancel-all of rec reports
// its cause (on request without one) and is of the command's account, a
// refused cancel-all has no events but expiries, and the stream has
// cancels of each cause and refused causes. It returns the counts.
func checkCauses(t *testing.T, rec *recording) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i, c := range rec.cmds {
		if c.Kind != engine.CmdCancelAll {
			continue
		}
		out := rec.outs[i]
		want := c.Cause
		if want == book.ReasonNone {
			want = book.ReasonCancelled
		}
		switch {
		case errors.Is(out.Err, engine.ErrInvalidCommand):
			seen["refused: cause"]++
		case out.Err != nil:
			seen["refused: other"]++
		default:
			seen["cancel_all "+want.String()]++
		}
		n := 0
		for _, ev := range rec.events(i) {
			switch {
			case ev.Kind == book.EvExpired && ev.Reason == book.ReasonExpired: // before the command
			case out.Err == nil && ev.Kind == book.EvCancelled && ev.Reason == want && ev.Owner == c.Account:
				n++
				seen["cancelled "+want.String()]++
			default:
				t.Fatalf("command %d %+v (%+v) gave %+v", i+1, c, out, ev)
			}
		}
		if out.Err == nil && uint64(n) != out.ID {
			t.Fatalf("command %d %+v: %d cancels, %d in the outcome", i+1, c, n, out.ID)
		}
	}
	t.Logf("cancel-alls: %v", seen)
	for _, r := range []book.Reason{book.ReasonCancelled, book.ReasonCancelAllAfter, book.ReasonDisconnect} {
		if seen["cancelled "+r.String()] == 0 {
			t.Errorf("the stream has no cancel-all's cancel %v: %v", r, seen)
		}
	}
	if seen["refused: cause"] == 0 {
		t.Errorf("the stream has no cancel-all refused for its cause: %v", seen)
	}
	return seen
}
