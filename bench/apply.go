package bench

import (
	"errors"
	"fmt"
	"slices"

	"github.com/instant-social-trading/ist/book"
)

// Order returns the book order of a limit or market operation: a GTC Limit
// or a Market order (GTC, which for markets means its rest expires), with
// Owner set to the order id and no self-trade prevention.
func (op *Op) Order() book.Order {
	o := book.Order{
		ID:    op.ID,
		Owner: op.ID,
		Side:  op.Side,
		TIF:   book.GTC,
		STP:   book.STPNone,
		Qty:   op.Qty,
	}
	if op.Kind == OpMarket {
		o.Type = book.Market
	} else {
		o.Type = book.Limit
		o.Price = op.Price
	}
	return o
}

// errBadOp is returned by Apply for an operation of unknown kind.
var errBadOp = errors.New("bench: invalid operation kind")

// Apply executes op on b, appending its events to dst as book commands do,
// and returns the extended slice and the book's error, if any. Limit and
// market operations become Place calls (see Op.Order), cancels Cancel
// calls. It does not allocate beyond what the book does.
func Apply(b *book.Book, dst []book.Event, op *Op) ([]book.Event, error) {
	switch op.Kind {
	case OpLimit, OpMarket:
		o := op.Order()
		return b.Place(dst, &o)
	case OpCancel:
		return b.Cancel(dst, op.ID)
	}
	return dst, errBadOp
}

// Counter accumulates trade statistics from book events.
type Counter struct {
	Trades    int64 // number of EvTrade events (maker fills)
	TradedQty int64 // sum of their Qty
	Rejects   int64 // number of EvRejected events
}

// Add counts the events in evs.
func (c *Counter) Add(evs []book.Event) {
	for i := range evs {
		switch evs[i].Kind {
		case book.EvTrade:
			c.Trades++
			c.TradedQty += evs[i].Qty
		case book.EvRejected:
			c.Rejects++
		}
	}
}

// Measure returns the end state of b with the trade counts of c, under the
// known #end keys. Empty sides have best price 0.
func Measure(b *book.Book, c *Counter) End {
	e := End{
		"traded_qty":     c.TradedQty,
		"trades":         c.Trades,
		"resting_orders": int64(b.Len()),
	}
	n := b.Len() + 1 // there are never more levels than orders
	var lv []book.Level
	for _, s := range [2]struct {
		side   book.Side
		prefix string
	}{{book.Buy, "bid"}, {book.Sell, "ask"}} {
		lv = b.Depth(lv[:0], s.side, n)
		var qty int64
		for _, l := range lv {
			qty += l.Qty
		}
		e[s.prefix+"_levels"] = int64(len(lv))
		e[s.prefix+"_qty"] = qty
	}
	e["best_bid"], e["best_ask"] = 0, 0
	if p, _, ok := b.BestBid(); ok {
		e["best_bid"] = p
	}
	if p, _, ok := b.BestAsk(); ok {
		e["best_ask"] = p
	}
	return e
}

// Compare checks got against the expectations in want and returns one
// message per key of want whose value differs or is missing from got, in
// canonical key order, then sorted order for other keys.
func (want End) Compare(got End) []string {
	var msgs []string
	for _, k := range want.keys() {
		w := want[k]
		g, ok := got[k]
		switch {
		case !ok:
			msgs = append(msgs, fmt.Sprintf("%s: want %d, not measured", k, w))
		case g != w:
			msgs = append(msgs, fmt.Sprintf("%s: want %d, got %d", k, w, g))
		}
	}
	return msgs
}

// keys returns the keys of e, known keys first in canonical order.
func (e End) keys() []string {
	var keys, rest []string
	for _, k := range EndKeys() {
		if _, ok := e[k]; ok {
			keys = append(keys, k)
		}
	}
	for k := range e {
		if !slices.Contains(keys, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(keys, rest...)
}

// String formats e as space-separated key=value pairs, known keys first.
func (e End) String() string {
	var buf []byte
	for i, k := range e.keys() {
		if i > 0 {
			buf = append(buf, ' ')
		}
		buf = fmt.Appendf(buf, "%s=%d", k, e[k])
	}
	return string(buf)
}
