package engine

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/instant-social-trading/ist/book"
)

// MaxPriceBandBps is the widest price band a market may have, in basis
// points of its reference price (100%: a sell may go down to one tick,
// a buy up to twice the reference).
const MaxPriceBandBps = 10000

// errBandRange is the error of a CmdCreateMarket or CmdSetPriceBand whose
// band is out of range. One value, not one made per command: outcomes of
// the same command compare equal.
var errBandRange = fmt.Errorf("%w: price band must be 0..%d bps", ErrInvalidSpec, MaxPriceBandBps)

// validBand reports whether bps is a price band a market may have.
func validBand(bps int32) bool { return bps >= 0 && bps <= MaxPriceBandBps }

// setPriceBand applies CmdSetPriceBand: the market's new band, for orders
// from the next command on. Live orders are untouched.
func (s *State) setPriceBand(cmd *Command) result {
	m, err := s.market(cmd.Market)
	if err != nil {
		return result{Err: err}
	}
	if !validBand(cmd.Spec.PriceBandBps) {
		return result{Err: errBandRange}
	}
	m.spec.PriceBandBps = cmd.Spec.PriceBandBps
	return result{ID: uint64(m.id)}
}

// bandBounds returns the bounds of m's price band (m has one) around
// reference price ref > 0: hi = ref × (10000 + bps) / 10000 rounded down
// to the tick, math.MaxInt64 if that is above every int64, and lo = ref ×
// (10000 − bps) / 10000 rounded up to the tick, at least one tick. The
// products are computed in 128 bits: nothing overflows.
func bandBounds(m *market, ref int64) (lo, hi int64) {
	bps := uint64(m.spec.PriceBandBps)
	tick := m.book.Rules().TickSize
	// ref < 2^63 and the factors ≤ 20000, so the high words are below
	// 10000 and the divisions cannot overflow.
	h, l := bits.Mul64(uint64(ref), 10000+bps)
	q, _ := bits.Div64(h, l, 10000)
	if q > math.MaxInt64 {
		hi = math.MaxInt64
	} else {
		hi = int64(q) / tick * tick
	}
	h, l = bits.Mul64(uint64(ref), 10000-bps)
	q, r := bits.Div64(h, l, 10000)
	if r != 0 {
		q++
	}
	lo = int64(q) // ≤ ref
	if rem := lo % tick; rem != 0 {
		lo += tick - rem
	}
	return max(lo, tick), hi
}

// outOfBand reports whether a limit price on side lies beyond m's band
// around ref on the aggressive side: a buy above the upper bound, a sell
// below the lower one. A price that is not positive is left to the book,
// which rejects it.
func outOfBand(m *market, side book.Side, price, ref int64) bool {
	if price <= 0 || ref <= 0 {
		return false
	}
	lo, hi := bandBounds(m, ref)
	if side == book.Buy {
		return price > hi
	}
	return side == book.Sell && price < lo
}

// bandBound returns the protection price m's band around ref gives an
// order on side whose own protection price is own (0: none): the band's
// bound if it is tighter than own, else 0 (the band bounds nothing the
// order does not already). An own price the book will reject (negative,
// off tick, above MaxPrice) is left for it to reject: 0.
func bandBound(m *market, side book.Side, own, ref int64) int64 {
	if ref <= 0 {
		return 0
	}
	r := m.book.Rules()
	if own < 0 || own%r.TickSize != 0 || own > r.MaxPrice {
		return 0
	}
	lo, hi := bandBounds(m, ref)
	switch side {
	case book.Buy:
		if hi < r.MaxPrice && (own == 0 || hi < own) {
			return hi
		}
	case book.Sell:
		if lo > own {
			return lo
		}
	}
	return 0
}

// bandPlace holds new order o to m's price band (m has one), before its
// funds are reserved:
//   - a limit order priced beyond the band around the last trade price
//     (none before the first trade) fails with ErrPriceOutOfBand;
//   - a stop-limit whose limit lies beyond the band around its stop
//     price, where it will trigger, likewise;
//   - a stop-market gets the band's bound around its stop price as its
//     protection price where that is tighter than its own, so that its
//     reservation (a buy's is at its protection price) and what it will
//     trade are held to it; a buy by quantity without a protection price
//     is left as it is, for reserve to refuse (ErrStopNeedsLimit);
//   - for a market order it returns the band's bound around the last
//     trade price where that is tighter than the order's own protection
//     price (else 0), which place gives the book as the order's
//     protection price once its funds are reserved: the reservation of a
//     market buy depends on whether it has a protection price of its own.
func bandPlace(m *market, o *book.Order) (bound int64, err error) {
	switch o.Type {
	case book.Limit:
		if outOfBand(m, o.Side, o.Price, m.book.LastPrice()) {
			return 0, ErrPriceOutOfBand
		}
	case book.StopLimit:
		if outOfBand(m, o.Side, o.Price, o.StopPrice) {
			return 0, ErrPriceOutOfBand
		}
	case book.StopMarket:
		if o.Side == book.Buy && o.Price == 0 && o.QuoteBudget == 0 {
			return 0, nil
		}
		if b := bandBound(m, o.Side, o.Price, o.StopPrice); b != 0 {
			o.Price = b
		}
	case book.Market:
		return bandBound(m, o.Side, o.Price, m.book.LastPrice()), nil
	}
	return 0, nil
}

// bandExpiry reports, as ReasonPriceBand instead of ReasonUnfilled, the
// expiry of market order o, which the band bounded at price o.Price (its
// own protection price being own), if the band is what stopped it: past
// the bound lay liquidity (the best level beyond it, beyond, found before
// the order matched: an order leaves the levels beyond its price
// untouched) that its own protection price accepts and of which what it
// had left (its quantity, within its budget if it has one) would have
// bought at least one lot. An order that ran out of liquidity or budget
// first, or that its own protection price would have stopped there too,
// keeps ReasonUnfilled; a FOK that cannot fill within the band expires
// whole, with ReasonFOK, as without one.
func bandExpiry(m *market, bevs []book.Event, o *book.Order, own, beyond int64) {
	if own != 0 && (o.Side == book.Buy && beyond > own || o.Side == book.Sell && beyond < own) {
		return
	}
	for i := range bevs {
		ev := &bevs[i]
		if ev.Kind != book.EvExpired || ev.OrderID != o.ID || ev.Reason != book.ReasonUnfilled {
			continue
		}
		if o.QuoteBudget != 0 {
			lot := m.book.Rules().LotSize
			want := ev.Remaining / beyond / lot * lot
			if o.Qty != 0 {
				want = min(want, ev.Qty)
			}
			if want <= 0 {
				return
			}
		}
		ev.Reason = book.ReasonPriceBand
		return
	}
}
