package engine_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/instant-social-trading/ist/internal/cmdstream"
)

// The audit streams with limits on open orders (cmdstream's OpenLimits):
// replayed, through a chain of snapshots (version 10 exactly while some
// market has a limit), with Check after every command (every
// auditCheckEvery), and against a model of every account's live orders
// in every market that the commands' outcomes and events make (the
// engine publishes no count): each place of an order that could rest is
// refused with ErrTooManyOpenOrders exactly when its account had the
// limit's number of live orders or more, counted so that the coverage
// cannot silently vanish.

// TestAuditStreamOpenLimits: a stream with limits on open orders keeps
// the invariants after every command, replays to the same outcomes,
// events and hashes, directly and through a chain of snapshots (the
// limits survive each restore, the counts rebuilt from the orders); its
// places meet the limits as the model says (checkOpenLimits), and it
// holds every outcome of a limit.
func TestAuditStreamOpenLimits(t *testing.T) {
	seed := auditSeed(t, 17)
	rec := generateFrom(t, cmdstream.New(seed).OpenLimits(), auditLen(), auditCheckEvery)
	checkReplay(t, rec)
	st := checkChain(t, rec, rand.New(rand.NewPCG(seed, 99)))
	if st.limited < st.restores/2 {
		t.Fatalf("%d of %d snapshots while a limit on open orders was set", st.limited, st.restores)
	}
	checkOpenLimits(t, rec)
}

// limitedAfter returns, for each command of rec, whether some market has
// a limit on open orders after it, as the commands' outcomes say.
func limitedAfter(rec *recording) []bool {
	limits := map[uint64]int32{}
	n := 0 // markets with a limit
	set := func(m uint64, lim int32) {
		if (limits[m] != 0) != (lim != 0) {
			n += map[bool]int{true: 1, false: -1}[lim != 0]
		}
		limits[m] = lim
	}
	after := make([]bool, len(rec.cmds))
	for i, c := range rec.cmds {
		if out := rec.outs[i]; out.Err == nil {
			switch c.Kind {
			case engine.CmdCreateMarket:
				set(out.ID, c.Spec.MaxOpenOrders)
			case engine.CmdSetMaxOpenOrders:
				set(uint64(c.Market), c.Spec.MaxOpenOrders)
			}
		}
		after[i] = n > 0
	}
	return after
}

// openKey is an account in a market.
type openKey struct {
	account uint64
	market  uint32
}

// openOrder is a live order of the stream, as the model knows it.
type openOrder struct {
	key openKey
	// stop: a stop order not triggered yet (not in MarketView.Resting);
	// transient: an order that cannot outlive the command that placed or
	// triggered it (market, IOC and FOK orders, stop-markets and IOC or
	// FOK stop-limits once triggered).
	stop, transient bool
	// triggerEnds: a stop that cannot outlive the command that triggers
	// it (a stop-market, an IOC or FOK stop-limit).
	triggerEnds bool
}

// mayRest reports whether order o could stay live after its place (the
// package doc, Open order limits): a GTC limit order or a stop order.
func mayRestModel(o *book.Order) bool {
	switch o.Type {
	case book.Limit:
		return o.TIF == book.GTC
	case book.StopMarket, book.StopLimit:
		return true
	}
	return false
}

// openModel follows the live orders of a recording's accounts in every
// market, and the markets' limits on them, through its commands' outcomes
// and events.
type openModel struct {
	live   map[uint64]*openOrder
	count  map[openKey]int32
	limits map[uint32]int32 // markets that exist: their limit (0 none)
	halted map[uint32]bool
	frozen map[uint64]bool
}

func newOpenModel() *openModel {
	return &openModel{live: map[uint64]*openOrder{}, count: map[openKey]int32{}, limits: map[uint32]int32{},
		halted: map[uint32]bool{}, frozen: map[uint64]bool{}}
}

// done forgets live order id, if the model has it.
func (m *openModel) done(id uint64) {
	o := m.live[id]
	if o == nil {
		return
	}
	delete(m.live, id)
	if n := m.count[o.key] - 1; n > 0 {
		m.count[o.key] = n
	} else {
		delete(m.count, o.key)
	}
}

func (m *openModel) add(id uint64, o *openOrder) {
	m.live[id] = o
	m.count[o.key]++
}

// earlier returns the error a place by c must fail with before its limit
// on open orders is checked, as the model knows it (frozen account,
// halted market, bad expiry), or nil.
func (m *openModel) earlier(c *engine.Command) error {
	o := &c.Order
	switch {
	case m.frozen[c.Account]:
		return engine.ErrAccountFrozen
	case m.halted[c.Market]:
		return engine.ErrMarketHalted
	case c.ExpireAt == 0:
		return nil
	case o.TIF != book.GTC || (o.Type != book.Limit && o.Type != book.StopLimit):
		return book.ErrInvalidTIF
	case c.ExpireAt <= c.Time || c.ExpireAt < 0:
		return engine.ErrInvalidExpiry
	}
	return nil
}

// checkOpenLimits follows the live orders of every account in every
// market of rec through its commands' outcomes and events (placed, traded
// in full, cancelled, expired, triggered), checked after every command
// against MarketView.Resting on a replay, and the markets' limits through
// CmdCreateMarket and CmdSetMaxOpenOrders, and fails t if:
//   - a place fails with ErrTooManyOpenOrders that is not of an order
//     that could rest (GTC limit, stop) by an account with the limit's
//     number of live orders or more, after the expiries due at it, or
//     that its account's freeze, its market's halt or its expiry should
//     have refused first; or changes anything (no event but those
//     expiries; the state is the one a tick at its time makes, for a
//     sample of them);
//   - a place of an order that could rest, past those checks, by an
//     account at or over the limit fails otherwise or succeeds;
//   - another command fails with ErrTooManyOpenOrders;
//   - a limit change of an unknown market or out of range is not
//     refused, or a valid one fails or has events but expiries due;
//
// and if the stream lacks one of these outcomes (with IST_SEED set, rare
// ones are only logged). It returns the counts.
func checkOpenLimits(t *testing.T, rec *recording) map[string]int {
	t.Helper()
	seen := map[string]int{}
	m := newOpenModel()
	s := engine.NewState()
	var buf []engine.Event
	proved := 0 // refusals whose state was compared with a tick's
	for i := range rec.cmds {
		c, out, evs := &rec.cmds[i], rec.outs[i], rec.events(i)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("command %d %s %+v (%+v): "+format, append([]any{i + 1, c.Kind, *c, out}, args...)...)
		}
		refused := errors.Is(out.Err, engine.ErrTooManyOpenOrders)
		if refused && c.Kind != engine.CmdPlace {
			fail("ErrTooManyOpenOrders for a command that is not a place")
		}
		// The expiries due at the command come first, before a place is
		// checked: their slots are free for it.
		nexp := 0
		for _, ev := range evs {
			if ev.Kind != book.EvExpired || ev.Reason != book.ReasonExpired {
				break
			}
			nexp++
		}
		var before int32 // the account's live orders in the market before the expiries
		if c.Kind == engine.CmdPlace {
			before = m.count[openKey{c.Account, c.Market}]
		}
		for _, ev := range evs[:nexp] {
			if m.live[ev.OrderID] == nil {
				fail("expiry %+v of an order that is not live", ev)
			}
			m.done(ev.OrderID)
		}
		var placed uint64 // the order the command placed
		var snapBefore []byte
		switch c.Kind {
		case engine.CmdPlace:
			key := openKey{c.Account, c.Market}
			limit, n := m.limits[c.Market], m.count[key]
			rests := mayRestModel(&c.Order)
			if out.Duplicate || errors.Is(out.Err, engine.ErrDuplicateClientID) ||
				errors.Is(out.Err, engine.ErrUnknownAccount) || errors.Is(out.Err, engine.ErrUnknownMarket) {
				if refused {
					fail("ErrTooManyOpenOrders for a resend")
				}
				break
			}
			if err := m.earlier(c); err != nil {
				if !errors.Is(out.Err, err) {
					fail("want %v (an earlier check than the limit's)", err)
				}
				if limit > 0 && rests && n >= limit {
					seen["refused earlier at the limit"]++
				}
				break
			}
			over := limit > 0 && rests && n >= limit
			switch {
			case refused && !over:
				fail("ErrTooManyOpenOrders with %d live orders (%d before expiries), limit %d, order could rest: %v",
					n, before, limit, rests)
			case over && !refused:
				fail("not refused with %d live orders, limit %d", n, limit)
			case refused:
				if len(evs) != nexp {
					fail("refused with events %+v", evs[nexp:])
				}
				seen["refused"]++
				seen["refused: "+c.Order.Type.String()]++
				if c.Order.PostOnly {
					seen["refused: post-only"]++
				}
				if c.Order.DisplayQty > 0 {
					seen["refused: iceberg"]++
				}
				if c.ExpireAt != 0 {
					seen["refused: good-till-date"]++
				}
				if limit == 1 {
					seen["refused at a limit of 1"]++
				}
				if n > limit {
					seen["refused over the limit (lowered)"]++
				}
				if seen["refused"]%10 == 1 && proved < 200 {
					snapBefore = s.AppendSnapshot(nil)
				}
			case limit > 0 && rests && out.Err == nil:
				seen["placed under a limit"]++
				if n == limit-1 {
					seen["placed into the last slot"]++
				}
				if before >= limit {
					seen["placed into a slot a due expiry freed"]++
				}
			case limit > 0 && !rests && n >= limit && out.Err == nil:
				seen["placed at the limit: "+c.Order.Type.String()+" "+c.Order.TIF.String()]++
				seen["placed at the limit: cannot rest"]++
			}
			if out.Err == nil {
				placed = out.ID
				o := &c.Order
				if m.live[placed] != nil {
					fail("order %d placed twice", placed)
				}
				stop := o.Type == book.StopLimit || o.Type == book.StopMarket
				m.add(out.ID, &openOrder{key: key, stop: stop,
					transient:   o.Type == book.Market || o.Type == book.Limit && o.TIF != book.GTC,
					triggerEnds: stop && (o.Type == book.StopMarket || o.TIF != book.GTC)})
			}
		case engine.CmdAmend, engine.CmdAmendTotal:
			if out.Err != nil {
				break
			}
			if o := m.live[out.ID]; o == nil {
				fail("amended order %d is not live", out.ID)
			} else if l := m.limits[o.key.market]; l > 0 && m.count[o.key] >= l {
				seen["amended at the limit"]++
			}
		case engine.CmdCancel:
			if o := m.live[out.ID]; out.Err == nil && o != nil {
				if l := m.limits[o.key.market]; l > 0 && m.count[o.key] >= l {
					seen["cancelled at the limit"]++
				}
			}
		case engine.CmdCreateMarket:
			n := c.Spec.MaxOpenOrders
			switch {
			case n < 0 || n > engine.MaxOpenOrdersLimit:
				if out.Err == nil {
					fail("a market created with a limit out of range")
				}
				if errors.Is(out.Err, engine.ErrInvalidSpec) {
					seen["create refused: limit"]++
				}
			case out.Err == nil:
				m.limits[uint32(out.ID)] = n
				if n != 0 && seen["places"] > 0 {
					seen["market created later with a limit"]++
				}
			}
		case engine.CmdSetMaxOpenOrders:
			if len(evs) != nexp {
				fail("events %+v", evs[nexp:])
			}
			n := c.Spec.MaxOpenOrders
			limit, ok := m.limits[c.Market]
			switch {
			case !ok:
				if !errors.Is(out.Err, engine.ErrUnknownMarket) {
					fail("an unknown market")
				}
				seen["limit refused: market"]++
			case n < 0 || n > engine.MaxOpenOrdersLimit:
				if !errors.Is(out.Err, engine.ErrInvalidSpec) {
					fail("a limit out of range")
				}
				seen["limit refused: range"]++
			case out.Err != nil || out.ID != uint64(c.Market):
				fail("a valid limit")
			default:
				m.limits[c.Market] = n
				seen["limit set"]++
				switch n {
				case 0:
					seen["limit removed"]++
				case 1:
					seen["limit of 1"]++
				case engine.MaxOpenOrdersLimit:
					seen["limit highest"]++
				}
				if n > 0 && (limit == 0 || n < limit) {
					for k, have := range m.count {
						if k.market == c.Market && have > n {
							seen["limit set below an account's live orders"]++
							break
						}
					}
				}
			}
		case engine.CmdHaltMarket, engine.CmdResumeMarket:
			if out.Err == nil {
				m.halted[c.Market] = c.Kind == engine.CmdHaltMarket
			}
		case engine.CmdSetAccountFrozen:
			if out.Err == nil {
				m.frozen[c.Account] = c.Frozen
			}
		}
		// The command's events end and trigger orders.
		var triggered []uint64
		for _, ev := range evs[nexp:] {
			switch ev.Kind {
			case book.EvTrade:
				if ev.Remaining == 0 {
					m.done(ev.OrderID)
				}
				if ev.MakerRemaining == 0 {
					m.done(ev.MakerID)
				}
				if ev.Relation != 0 {
					if l := m.limits[ev.Market]; l > 0 {
						seen["mirrored trade on a market with a limit"]++
					}
				}
			case book.EvCancelled, book.EvExpired:
				m.done(ev.OrderID)
			case book.EvTriggered:
				if o := m.live[ev.OrderID]; o != nil {
					if !o.stop {
						fail("order %d triggered twice", ev.OrderID)
					}
					o.stop, o.transient = false, o.triggerEnds
					triggered = append(triggered, ev.OrderID)
				}
			}
		}
		// What cannot rest is gone.
		if o := m.live[placed]; o != nil && o.transient {
			fail("order %d, which cannot rest, is live after the command by its events", placed)
		}
		for _, id := range triggered {
			if o := m.live[id]; o != nil && o.transient {
				fail("stop %d, triggered, cannot rest but is live after the command by its events", id)
			}
		}
		var evsNow []engine.Event
		_, evsNow = s.Apply(c, buf[:0])
		buf = evsNow
		if snapBefore != nil {
			// The refused place changed nothing: the state is the one a
			// tick at its time makes of the state before.
			s2, err := engine.DecodeState(snapBefore)
			if err != nil {
				t.Fatal(err)
			}
			tick := engine.Command{Kind: engine.CmdTick, Seq: c.Seq, Time: c.Time}
			s2.Apply(&tick, nil)
			if s2.Hash() != s.Hash() {
				fail("the refused place changed the state")
			}
			proved++
		}
		// The model's resting orders are the book's.
		if c.Kind != engine.CmdTick && c.Kind != engine.CmdSnapshot || nexp > 0 {
			resting := map[uint32]int{}
			for _, o := range m.live {
				if !o.stop {
					resting[o.key.market]++
				}
			}
			for id := range m.limits {
				v, err := s.MarketView(id, 0)
				if err != nil {
					fail("market %d: %v", id, err)
				}
				if v.Resting != resting[id] {
					fail("market %d: %d orders resting, %d by the events", id, v.Resting, resting[id])
				}
			}
		}
		if c.Kind == engine.CmdPlace && !out.Duplicate {
			seen["places"]++
			if m.limits[c.Market] > 0 && mayRestModel(&c.Order) {
				seen["places that could rest on a market with a limit"]++
			}
		}
	}
	seen["refusals shown to change nothing"] = proved
	t.Logf("open order limits: %v", seen)
	for _, k := range []string{"limit set", "limit removed", "limit of 1", "limit highest", "limit refused: range",
		"limit refused: market", "limit set below an account's live orders", "market created later with a limit",
		"create refused: limit", "refused", "refused: limit", "refused: stop_limit", "refused: stop_market",
		"refused: post-only", "refused: iceberg", "refused at a limit of 1", "refused over the limit (lowered)",
		"placed under a limit", "placed into the last slot", "placed at the limit: cannot rest",
		"amended at the limit", "cancelled at the limit", "refused earlier at the limit",
		"mirrored trade on a market with a limit", "refusals shown to change nothing"} {
		if seen[k] == 0 {
			gtdMissing(t, k, seen)
		}
	}
	// A good share of the places that could rest meet a limit: a
	// twentieth refused, a fifth placed under it, a fortieth into its
	// last slot (a stream with every option refuses many for other
	// reasons).
	if p := seen["places that could rest on a market with a limit"]; p < seen["places"]/4 || seen["refused"] < p/20 ||
		seen["placed under a limit"] < p/5 || seen["placed into the last slot"] < p/40 {
		t.Errorf("of %d places, %d could rest on a market with a limit: %d refused, %d placed, %d into the last slot",
			seen["places"], p, seen["refused"], seen["placed under a limit"], seen["placed into the last slot"])
	}
	if seen["limit set"] < len(rec.cmds)/200 {
		t.Errorf("%d limits set in %d commands", seen["limit set"], len(rec.cmds))
	}
	return seen
}

// TestAuditStreamOpenLimitsAllOptions is TestAuditStreamAllOptions (fee
// changes, freezes, good-till-date orders, cancel-all causes, price
// bands) with limits on open orders too, whose stream it leaves as it
// was: the limits meet frozen accounts, halted markets, expiries due
// before a place (whose slots it may take) and refused expiries, price
// bands (checked after the limit), and the snapshots hold expiries,
// bands and limits at once (version 10).
func TestAuditStreamOpenLimitsAllOptions(t *testing.T) {
	seed := auditSeed(t, 44) // its short stream has a place into a slot an expiry due at it freed
	rec := generateFrom(t, cmdstream.New(seed).FeeChanges().Freezes().GTD().Causes().PriceBands().OpenLimits(),
		auditLen(), auditCheckEvery)
	checkReplay(t, rec)
	st := checkChain(t, rec, rand.New(rand.NewPCG(seed, 99)))
	if st.pending == 0 || st.expired == 0 || st.banded == 0 || st.limited < st.restores/2 {
		t.Fatalf("no restore with an expiry pending, none expired after a restore, none with a band, or few with a limit: %+v", st)
	}
	seen := checkGTD(t, rec)
	if seen["cancelled account_frozen"] == 0 {
		gtdMissing(t, "cancelled account_frozen", seen)
	}
	checkCauses(t, rec)
	checkBands(t, rec)
	seen = checkOpenLimits(t, rec)
	for _, k := range []string{"placed into a slot a due expiry freed", "refused: good-till-date"} {
		if seen[k] == 0 {
			gtdMissing(t, k, seen)
		}
	}
}
