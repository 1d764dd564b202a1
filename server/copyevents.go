package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
	"github.com/valyala/fasthttp"
)

// The copy-event history: the engine's copy-trading events (a leader
// fill a follow did not mirror, a follow closed by its follower or by
// its stop-loss, a profit share paid) kept per account, newest kept (as
// many as its fills: Options.HistoryFills), so that a follower can page
// what happened to its follows and why, and a leader the profit share
// it received, after the copy stream announced them live. Each event is
// kept under the follower; a profit share also under the leader.
//
// Each account numbers its events 1, 2, … in the order apply sees them
// (the results' order, which the log replay gives again), and the next
// number follows the newest kept. Each event is its own key in the
// metadata store, written and deleted (once out of the retention) in
// the batch that saves the order history, with "rm/seq", so that the
// log replays exactly what the store misses:
//
//	"ce/" account(8) id(8)    version(1) | seq u | time v | type(1) | role(1) |
//	                          follow u | leader u | follower u | reason(1) |
//	                          amount v | market u | side(1) | leader order u |
//	                          price v | quantity v | computed v
//
// type is the engine's event kind less engine.EvCopySkipped (0 skipped,
// 1 closed, 2 profit share); role 0: the account is the follower, 1:
// the leader (profit share only). amount is the quote returned (closed)
// or paid (profit share); the rest is the leader fill a skip is about.

// copyEventRec is one copy-trading event as an account's history keeps it.
type copyEventRec struct {
	ID       uint64 // the account's own number of the event, from 1
	Account  uint64 // whose history holds it: the follower, or the leader (Leader role)
	Seq      uint64 // the command's sequence number
	Time     int64
	Kind     book.EventKind // engine.EvCopySkipped, EvCopyClosed or EvProfitShare
	Leader   bool           // Account is the leader (a profit share received)
	Relation uint64
	LeaderID uint64
	Follower uint64
	Reason   engine.CopyReason
	Amount   int64
	// A skip's leader fill: its market, side, order, price and quantity,
	// and the size the follow wanted (Computed, in the same units: the
	// event's Remaining, before a buy is shrunk to the wallet's means).
	Market      uint32
	Side        book.Side
	LeaderOrder uint64
	Price, Qty  int64
	Computed    int64
	gen         uint64 // the apply that added it (readModel.gen); 0 if loaded
	drop        bool   // in a change log: the event left the history (retention)
}

var prefixCopyEvent = []byte("ce/")

const copyEventVersion = 1

// copyEventNames are the values of "type", by Kind - EvCopySkipped.
var copyEventNames = [...]string{"skipped", "closed", "profit_share"}

func copyEventKey(account, id uint64) []byte {
	k := append(bytes.Clone(prefixCopyEvent), make([]byte, 16)...)
	binary.BigEndian.PutUint64(k[3:], account)
	binary.BigEndian.PutUint64(k[11:], id)
	return k
}

func appendCopyEventRec(b []byte, e *copyEventRec) []byte {
	b = append(b, copyEventVersion)
	b = binary.AppendUvarint(b, e.Seq)
	b = binary.AppendVarint(b, e.Time)
	b = append(b, byte(e.Kind-engine.EvCopySkipped), byte(b2i(e.Leader)))
	b = binary.AppendUvarint(b, e.Relation)
	b = binary.AppendUvarint(b, e.LeaderID)
	b = binary.AppendUvarint(b, e.Follower)
	b = append(b, byte(e.Reason))
	b = binary.AppendVarint(b, e.Amount)
	b = binary.AppendUvarint(b, uint64(e.Market))
	b = append(b, byte(e.Side))
	b = binary.AppendUvarint(b, e.LeaderOrder)
	b = binary.AppendVarint(b, e.Price)
	b = binary.AppendVarint(b, e.Qty)
	return binary.AppendVarint(b, e.Computed)
}

// decodeCopyEventRec decodes the value of account's event id, refusing
// one that does not make sense (errHistoryRecord).
func decodeCopyEventRec(account, id uint64, b []byte) (copyEventRec, error) {
	d := dec{b: b}
	if d.byte() != copyEventVersion {
		d.bad = true
	}
	e := copyEventRec{ID: id, Account: account}
	e.Seq = d.uvarint()
	e.Time = d.varint()
	typ, role := d.byte(), d.byte()
	e.Kind, e.Leader = engine.EvCopySkipped+book.EventKind(typ), role == 1
	e.Relation = d.uvarint()
	e.LeaderID = d.uvarint()
	e.Follower = d.uvarint()
	e.Reason = engine.CopyReason(d.byte())
	e.Amount = d.varint()
	market := d.uvarint()
	e.Market = uint32(market)
	side := d.byte()
	e.Side = book.Side(side)
	e.LeaderOrder = d.uvarint()
	e.Price = d.varint()
	e.Qty = d.varint()
	e.Computed = d.varint()
	owner := e.Follower
	if e.Leader {
		owner = e.LeaderID
	}
	skipped := e.Kind == engine.EvCopySkipped
	closeReason := e.Reason == engine.CopyUnfollowed || e.Reason == engine.CopyStopLoss
	if d.bad || len(d.b) != 0 || id == 0 || e.Seq == 0 || int(typ) >= len(copyEventNames) || role > 1 ||
		e.Relation == 0 || e.LeaderID == 0 || e.Follower == 0 || owner != account ||
		e.Leader && e.Kind != engine.EvProfitShare || e.Reason.String() == "reason?" ||
		skipped && (closeReason || e.Reason == engine.CopyNone || market == 0 || market > 1<<32-1 || side > 1) ||
		e.Kind == engine.EvCopyClosed && !closeReason || e.Kind == engine.EvProfitShare && e.Reason != engine.CopyNone ||
		!skipped && (market != 0 || side != 0 || e.LeaderOrder != 0 || e.Price != 0 || e.Qty != 0 || e.Computed != 0) ||
		e.Amount < 0 || e.Kind == engine.EvProfitShare && e.Amount == 0 || skipped && e.Amount != 0 {
		return copyEventRec{}, fmt.Errorf("%w: copy event %d of account %d", errHistoryRecord, id, account)
	}
	return e, nil
}

// addCopyEvents adds ev, an engine copy-trading event of the result with
// seq and time being applied, to the histories it belongs in (the lock
// held).
func (m *readModel) addCopyEvents(seq uint64, time int64, ev *engine.Event) {
	e := copyEventRec{Seq: seq, Time: time, Kind: ev.Kind, Relation: ev.Relation,
		LeaderID: ev.MakerOwner, Follower: ev.Owner, Reason: ev.CopyReason, Amount: ev.Amount}
	if ev.Kind == engine.EvCopySkipped {
		e.Amount = 0
		e.Market, e.Side, e.LeaderOrder = ev.Market, ev.Side, ev.OrderID
		e.Price, e.Qty, e.Computed = ev.Price, ev.Qty, ev.Remaining
	}
	e.Account = e.Follower
	m.addCopyEvent(e)
	if ev.Kind == engine.EvProfitShare {
		e.Account, e.Leader = e.LeaderID, true
		m.addCopyEvent(e)
	}
}

// addCopyEvent numbers e after its account's newest event and appends
// it, dropping the oldest beyond keepFills, and logs both (the lock
// held).
//
// Events held from earlier results at or after e's sequence number are
// of commands the log lost (Options.AcceptLogLoss; see addTransfer):
// they leave first, and their numbers are given again (the first of
// them, not 1, if they were all the account kept: those retention
// dropped before them were not lost).
func (m *readModel) addCopyEvent(e copyEventRec) {
	a := m.acct(e.Account)
	i := len(a.copyEvents)
	for i > 0 && a.copyEvents[i-1].Seq >= e.Seq && a.copyEvents[i-1].gen != m.gen {
		i--
	}
	if i == 0 && len(a.copyEvents) > 0 {
		a.copyNext = a.copyEvents[0].ID
	}
	if i < len(a.copyEvents) {
		for _, x := range a.copyEvents[i:] {
			m.chg.copyEvents.add(copyEventRec{ID: x.ID, Account: x.Account, drop: true})
		}
		m.chg.count(len(a.copyEvents) - i)
		a.copyEvents = a.copyEvents[:i]
	}
	e.ID = 1
	if i > 0 {
		e.ID = a.copyEvents[i-1].ID + 1
	} else if a.copyNext > 0 {
		e.ID = a.copyNext
	}
	e.gen = m.gen
	a.copyEvents = append(a.copyEvents, e)
	a.copyNext = 0
	m.chg.copyEvents.add(e)
	m.chg.count(1)
	if m.keepFills > 0 && len(a.copyEvents) > m.keepFills {
		m.dropCopyEvents(a, len(a.copyEvents)-m.keepFills)
	}
}

// dropCopyEvents drops the n oldest events of a and logs their removal.
func (m *readModel) dropCopyEvents(a *acctHist, n int) {
	for _, e := range a.copyEvents[:n] {
		m.chg.copyEvents.add(copyEventRec{ID: e.ID, Account: e.Account, drop: true})
	}
	m.chg.count(n)
	if n == len(a.copyEvents) {
		a.copyNext = a.copyEvents[n-1].ID + 1
	}
	a.copyEvents = slices.Delete(a.copyEvents, 0, n)
}

// copyEventFilter selects the events copyEvents lists.
type copyEventFilter struct {
	follow uint64         // 0: any
	kind   book.EventKind // 0: any
	after  uint64         // only ids above
	limit  int
}

// copyEvents appends to dst the events of account that f selects.
func (m *readModel) copyEvents(dst []copyEventRec, account uint64, f copyEventFilter) []copyEventRec {
	m.mu.RLock()
	defer m.mu.RUnlock()
	a := m.accts[account]
	if a == nil {
		return dst
	}
	i, _ := slices.BinarySearchFunc(a.copyEvents, f.after, func(e copyEventRec, after uint64) int {
		if e.ID <= after {
			return -1
		}
		return 1
	})
	for _, e := range a.copyEvents[i:] {
		if len(dst) >= f.limit {
			break
		}
		if (f.follow == 0 || e.Relation == f.follow) && (f.kind == 0 || e.Kind == f.kind) {
			dst = append(dst, e)
		}
	}
	return dst
}

// writeCopyEvents adds c's copy events to batch b (writeChanges).
func writeCopyEvents(b *pebble.Batch, c *changes) {
	var v []byte
	c.copyEvents.each(func(e *copyEventRec) {
		k := copyEventKey(e.Account, e.ID)
		if e.drop {
			_ = b.Delete(k, nil)
			return
		}
		v = appendCopyEventRec(v[:0], e)
		_ = b.Set(k, v, nil)
	})
}

// loadCopyEvents reads the copy events of the store, dropping those
// beyond the retention (the next save deletes them).
func (m *readModel) loadCopyEvents(st *store) error {
	err := st.eachAccountRec(prefixCopyEvent, func(acct, id uint64, v []byte) error {
		e, err := decodeCopyEventRec(acct, id, v)
		if err == nil {
			a := m.acct(acct)
			a.copyEvents = append(a.copyEvents, e)
		}
		return err
	})
	if m.keepFills > 0 {
		for _, a := range m.accts {
			if n := len(a.copyEvents) - m.keepFills; n > 0 {
				m.dropCopyEvents(a, n)
			}
		}
	}
	return err
}

// listCopyEvents handles GET /v1/social/events: the caller's copy events.
func (s *Server) listCopyEvents(ctx *fasthttp.RequestCtx) {
	acct, ok := s.authed(ctx)
	if !ok {
		return
	}
	s.writeCopyEvents(ctx, acct)
}

// adminCopyEvents handles GET /v1/admin/accounts/{id}/social/events.
func (s *Server) adminCopyEvents(ctx *fasthttp.RequestCtx, acct uint64) {
	if err := s.admin(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	if _, ok := s.eng.Account(acct); !ok || acct == engine.FeeAccount {
		writeError(ctx, fmt.Errorf("%w: account %d", errNotFound, acct))
		return
	}
	s.writeCopyEvents(ctx, acct)
}

// writeCopyEvents answers a page of account acct's copy events, as the
// query's follow_id, type, limit and after say.
func (s *Server) writeCopyEvents(ctx *fasthttp.RequestCtx, acct uint64) {
	var f copyEventFilter
	var err error
	args := ctx.QueryArgs()
	if v := args.Peek("follow_id"); v != nil {
		if f.follow, err = parseID(string(v)); err != nil {
			writeError(ctx, fmt.Errorf("%w: follow_id %q", errInvalid, v))
			return
		}
	}
	if v := args.Peek("type"); v != nil {
		i := slices.Index(copyEventNames[:], string(v))
		if i < 0 {
			writeError(ctx, fmt.Errorf("%w: type %q: skipped, closed or profit_share", errInvalid, v))
			return
		}
		f.kind = engine.EvCopySkipped + book.EventKind(i)
	}
	if f.limit, err = queryLimit(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	if f.after, err = queryAfter(ctx); err != nil {
		writeError(ctx, err)
		return
	}
	es := s.rm.copyEvents(nil, acct, f)
	b := append(make([]byte, 0, 64+256*len(es)), `{"events":[`...)
	for i := range es {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.appendCopyEvent(b, &es[i])
	}
	writeJSON(ctx, 200, append(b, "]}"...))
}

// appendCopyEvent appends the JSON object of e.
func (s *Server) appendCopyEvent(b []byte, e *copyEventRec) []byte {
	b = strconvUint(append(b, `{"id":`...), e.ID)
	b = appendStr(b, "type", copyEventNames[e.Kind-engine.EvCopySkipped])
	role := "follower"
	if e.Leader {
		role = "leader"
	}
	b = appendStr(b, "role", role)
	b = appendUint(b, "follow_id", e.Relation)
	b = appendUint(b, "leader_id", e.LeaderID)
	b = appendUint(b, "follower_id", e.Follower)
	switch e.Kind {
	case engine.EvCopySkipped:
		b = s.appendSkipped(b, e.Reason, e.LeaderOrder, e.Market, e.Side, e.Price, e.Qty, e.Computed)
	case engine.EvCopyClosed:
		b = appendStr(b, "reason", e.Reason.String())
		b = appendAmount(b, "returned", e.Amount)
	case engine.EvProfitShare:
		b = appendAmount(b, "amount", e.Amount)
	}
	if e.Kind != engine.EvCopySkipped {
		if v, ok := s.eng.Relation(e.Relation); ok {
			b = appendStr(b, "asset", s.assetName(v.Asset))
		}
	}
	b = appendUint(b, "sequence", e.Seq)
	return append(appendTime(b, "time", e.Time), '}')
}

// appendSkipped appends the fields of a skipped mirror, as the copy
// stream and GET /v1/social/events show it: why, and the leader fill
// (its order, market, side, price and quantity) with the size the follow
// computed.
func (s *Server) appendSkipped(b []byte, reason engine.CopyReason, order uint64, market uint32, side book.Side, price, qty, computed int64) []byte {
	b = appendStr(b, "reason", reason.String())
	b = appendUint(b, "leader_order_id", order)
	if m, ok := s.marketByID(market); ok {
		b = appendStr(b, "market", m.name)
		b = appendStr(b, "side", sideNames[side&1])
		b = appendPriceField(b, "price", price, m.u)
		b = appendQtyField(b, "quantity", qty, m.u)
		b = appendQtyField(b, "computed_quantity", computed, m.u)
	}
	return b
}
