package server

import (
	"context"
	"time"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// The stream's private copy channel (see stream.go): for a follower, the
// fills of its relations' mirrored orders ("fill"), the leader fills not
// mirrored ("skipped"), relations closed ("closed") and profit share paid
// ("profit_share"); for a leader, the profit share it received. Messages
// are {"channel":"copy","type",…,"seq","n","data":{…}}.

// privateChannel reports whether ch needs an authenticated stream.
func privateChannel(ch string) bool {
	return ch == "orders" || ch == "fills" || ch == "copy"
}

// copySubscribed reports whether a connection of account listens to the
// copy channel. Hub goroutine only.
func (h *hub) copySubscribed(account uint64) bool {
	for c := range h.accts[account] {
		if c.subs["copy"] {
			return true
		}
	}
	return false
}

// sendCopyData sends a copy message to account's copy subscribers. Hub
// goroutine only.
func (h *hub) sendCopyData(account uint64, typ string, seq uint64, data []byte) {
	for c := range h.accts[account] {
		if !c.subs["copy"] {
			continue
		}
		b := c.header("copy", typ, seq, len(data))
		b = append(appendKey(b, "data", false), data...)
		c.enqueue(append(b, '}'))
	}
}

// relation returns the view of relation id, waiting (briefly) for the
// views of command seq when it is not published yet: a relation opened in
// the same batch as its first mirror. Hub goroutine only.
func (h *hub) relation(id, seq uint64) (*engine.RelationView, bool) {
	if v, ok := h.s.eng.Relation(id); ok {
		return v, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = h.s.eng.WaitViews(ctx, seq)
	return h.s.eng.Relation(id)
}

// sendCopyFill sends a mirrored order's trade to its follower. Hub
// goroutine only.
func (h *hub) sendCopyFill(m *mkt, ev *streamEvent, it *streamItem) {
	v, ok := h.relation(ev.Relation, it.seq)
	if !ok || !h.copySubscribed(v.Follower) {
		return
	}
	b := strconvUint(append(make([]byte, 0, 384), `{"relation_id":`...), v.ID)
	b = appendUint(b, "leader_id", v.Leader)
	b = appendUint(b, "trade_id", ev.tradeID)
	b = appendUint(b, "order_id", ev.OrderID)
	b = appendStr(b, "market", m.name)
	b = appendStr(b, "side", sideNames[ev.Side&1])
	b = appendPriceField(b, "price", ev.Price, m.u)
	b = appendQtyField(b, "quantity", ev.Qty, m.u)
	b = appendAmount(b, "fee", ev.TakerFee)
	b = appendStr(b, "fee_asset", m.quote)
	b = appendTime(b, "time", it.time)
	h.sendCopyData(v.Follower, "fill", it.seq, append(b, '}'))
}

// sendCopyEvent sends an EvCopySkipped, EvCopyClosed or EvProfitShare to
// the follower (Owner) and, for profit share, to the leader (MakerOwner).
// Hub goroutine only.
func (h *hub) sendCopyEvent(ev *streamEvent, it *streamItem) {
	follower, leader := ev.Owner, ev.MakerOwner
	toLeader := ev.Kind == engine.EvProfitShare && h.copySubscribed(leader)
	if !h.copySubscribed(follower) && !toLeader {
		return
	}
	b := strconvUint(append(make([]byte, 0, 384), `{"relation_id":`...), ev.Relation)
	b = appendUint(b, "leader_id", leader)
	b = appendUint(b, "follower_id", follower)
	var typ string
	switch ev.Kind {
	case engine.EvCopySkipped:
		typ = "skipped"
		b = h.s.appendSkipped(b, ev.CopyReason, ev.OrderID, ev.Market, ev.Side, ev.Price, ev.Qty, ev.Remaining)
	case engine.EvCopyClosed:
		typ = "closed"
		b = appendStr(b, "reason", ev.CopyReason.String())
		b = appendAmount(b, "returned", ev.Amount)
	case engine.EvProfitShare:
		typ = "profit_share"
		b = appendAmount(b, "amount", ev.Amount)
	default:
		return
	}
	if ev.Kind != engine.EvCopySkipped {
		if v, ok := h.relation(ev.Relation, it.seq); ok {
			b = appendStr(b, "asset", h.s.assetName(v.Asset))
		}
	}
	b = append(appendTime(b, "time", it.time), '}')
	h.sendCopyData(follower, typ, it.seq, b)
	if toLeader {
		h.sendCopyData(leader, typ, it.seq, b)
	}
}

// isCopyEvent reports whether ev is one of the engine's copy-trading
// events, which book.EventKind.String does not know.
func isCopyEvent(k book.EventKind) bool {
	return k == engine.EvCopySkipped || k == engine.EvCopyClosed || k == engine.EvProfitShare
}
