package server

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/instant-social-trading/ist/book"
	"github.com/instant-social-trading/ist/engine"
)

// units converts one market's decimal strings to the engine's integers and
// back. Every asset has Scale (8) decimal places; a market with tick size
// T and lot size L (both decimals) trades prices in steps of T and
// quantities in lots of L:
//
//	BaseScale  = L × 10^8       base units per lot
//	QuoteScale = T × L × 10^8   quote units per price step per lot
//
// so a price string P is P/T steps and a quantity Q is Q/L lots, and both
// must be integral. Both scales must be integers ≥ 1.
type units struct {
	tick8 int64 // tick size in 10^-8
	lot8  int64 // lot size in 10^-8 (= BaseScale)
	qs    int64 // QuoteScale
}

// newUnits validates tick and lot sizes (in 10^-8) and returns the units.
func newUnits(tick8, lot8 int64) (units, error) {
	if tick8 <= 0 || lot8 <= 0 {
		return units{}, fmt.Errorf("%w: tick_size and lot_size must be positive", errInvalid)
	}
	hi, lo := bits.Mul64(uint64(tick8), uint64(lot8))
	if hi >= unit { // quotient would not fit
		return units{}, fmt.Errorf("%w: tick_size × lot_size too large", errInvalid)
	}
	q, r := bits.Div64(hi, lo, unit)
	if r != 0 || q == 0 || q > math.MaxInt64 {
		return units{}, fmt.Errorf("%w: tick_size × lot_size × 10^8 must be a whole number ≥ 1", errInvalid)
	}
	return units{tick8: tick8, lot8: lot8, qs: int64(q)}, nil
}

// unitsOf recovers a market's units from its engine spec.
func unitsOf(sp *engine.MarketSpec) units {
	lot8 := sp.BaseScale
	hi, lo := bits.Mul64(uint64(sp.QuoteScale), unit)
	q, _ := bits.Div64(hi, lo, uint64(lot8)) // hi < lot8: the quotient is tick8
	return units{tick8: int64(q), lot8: lot8, qs: sp.QuoteScale}
}

// spec returns the engine spec of a market with these units, with the
// rules of u.rules. Callers check u.rules's error first: the engine
// refuses a spec built despite it.
func (u units) spec(base, quote uint32, minNotional8 int64, makerBps, takerBps int32, maxPrice, maxQty int64) engine.MarketSpec {
	r, _ := u.rules(minNotional8, maxPrice, maxQty)
	return engine.MarketSpec{
		Base: base, Quote: quote, BaseScale: u.lot8, QuoteScale: u.qs,
		MakerFeeBps: makerBps, TakerFeeBps: takerBps, Rules: r,
	}
}

// rules returns the book rules of a market with these units. maxPrice
// (steps) and maxQty (lots) may be 0: the engine needs MaxPrice × MaxQty ×
// QuoteScale ≤ MaxInt64/2, and a missing bound takes what the other
// leaves of that budget (both missing: its square root each). The
// minimum notional (in 10^-8 quote) rounds up to whole steps × lots.
//
// It returns an error wrapping errInvalid, before any command is issued,
// for rules the engine's CmdCreateMarket would refuse as
// engine.ErrInvalidSpec (a budget of 0 steps × lots, bounds beyond it, a
// bound that leaves the other 0) and for a min_notional above the
// largest notional an order may have (MaxPrice × MaxQty), which no order
// could meet.
func (u units) rules(minNotional8, maxPrice, maxQty int64) (book.Rules, error) {
	budget := math.MaxInt64 / 2 / u.qs // steps × lots
	switch {
	case budget == 0:
		return book.Rules{}, fmt.Errorf("%w: tick_size × lot_size too large: a price step of one lot exceeds the engine's overflow budget", errInvalid)
	case maxPrice == 0 && maxQty == 0:
		maxPrice = int64(math.Sqrt(float64(budget)))
		maxQty = budget / max(maxPrice, 1)
	case maxPrice == 0:
		maxPrice = budget / maxQty
	case maxQty == 0:
		maxQty = budget / maxPrice
	case maxPrice > budget/maxQty:
		return book.Rules{}, fmt.Errorf("%w: max_price × max_quantity exceeds the engine's overflow budget (%d price steps × lots)", errInvalid, budget)
	}
	if maxPrice <= 0 || maxQty <= 0 {
		return book.Rules{}, fmt.Errorf("%w: max_price or max_quantity so large that no room is left for the other within the engine's overflow budget (%d price steps × lots)", errInvalid, budget)
	}
	// Formatting needs steps × tick8 and lots × lot8 to fit an int64.
	maxPrice = min(maxPrice, math.MaxInt64/u.tick8)
	maxQty = min(maxQty, math.MaxInt64/u.lot8)
	minN := minNotional8 / u.qs // rounded up, without overflow
	if minNotional8%u.qs != 0 {
		minN++
	}
	if minN > maxPrice*maxQty { // ≤ budget: no overflow
		return book.Rules{}, fmt.Errorf("%w: min_notional above the largest notional of an order (max_price × max_quantity)", errInvalid)
	}
	return book.Rules{TickSize: 1, LotSize: 1, MinNotional: minN, MaxPrice: maxPrice, MaxQty: maxQty}, nil
}

// price parses a decimal price into steps.
func (u units) price(s []byte, field string) (int64, error) {
	v, err := ParseDecimal(s, Scale, false)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q: %w", errInvalid, field, s, err)
	}
	if v%u.tick8 != 0 {
		return 0, fmt.Errorf("%w: %s %q is not a multiple of the tick size", errInvalid, field, s)
	}
	return v / u.tick8, nil
}

// qty parses a decimal quantity into lots.
func (u units) qty(s []byte, field string) (int64, error) {
	v, err := ParseDecimal(s, Scale, false)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q: %w", errInvalid, field, s, err)
	}
	if v%u.lot8 != 0 {
		return 0, fmt.Errorf("%w: %s %q is not a multiple of the lot size", errInvalid, field, s)
	}
	return v / u.lot8, nil
}

// appendPrice appends steps as a decimal price.
func (u units) appendPrice(dst []byte, steps int64) []byte {
	return appendScaled(dst, steps, u.tick8)
}

// appendQty appends lots as a decimal quantity.
func (u units) appendQty(dst []byte, lots int64) []byte {
	return appendScaled(dst, lots, u.lot8)
}

// appendPriceField appends a price (steps) as a decimal string field.
func appendPriceField(b []byte, key string, steps int64, u units) []byte {
	b = append(appendKey(b, key, false), '"')
	return append(u.appendPrice(b, steps), '"')
}

// appendQtyField appends a quantity (lots) as a decimal string field.
func appendQtyField(b []byte, key string, lots int64, u units) []byte {
	b = append(appendKey(b, key, false), '"')
	return append(u.appendQty(b, lots), '"')
}

// appendScaled appends n × m (in 10^-8; n < 0 counts as 0, m ≥ 0) as a
// decimal, exactly: a product past math.MaxInt64 takes the slow path of
// appendScaledVol.
func appendScaled(dst []byte, n, m int64) []byte {
	hi, lo := bits.Mul64(uint64(max(n, 0)), uint64(m))
	if hi == 0 && lo <= math.MaxInt64 {
		return AppendDecimal(dst, int64(lo), Scale)
	}
	return appendScaledVol(dst, volOf(n), m)
}

// vol is a sum of volumes (lots, or steps × lots) in 128 bits: the
// volume of a candle or of the ticker's 24 hours passes math.MaxInt64 on
// a busy market of a cheap asset with a small lot, and a sum must not
// saturate. A trade adds less than 2^63 lots and, within the market's
// overflow budget (units.rules), less than 2^62 steps × lots, so a sum
// would need 2^65 trades to wrap.
type vol struct{ Hi, Lo uint64 }

// volOf returns n (n < 0 counts as 0) as a vol.
func volOf(n int64) vol { return vol{Lo: uint64(max(n, 0))} }

// mulVol returns a × b (negative factors count as 0) as a vol.
func mulVol(a, b int64) vol {
	hi, lo := bits.Mul64(uint64(max(a, 0)), uint64(max(b, 0)))
	return vol{hi, lo}
}

// add returns v + x.
func (v vol) add(x vol) vol {
	lo, c := bits.Add64(v.Lo, x.Lo, 0)
	hi, _ := bits.Add64(v.Hi, x.Hi, c)
	return vol{hi, lo}
}

// int64 returns v and whether it fits an int64.
func (v vol) int64() (int64, bool) { return int64(v.Lo), v.Hi == 0 && v.Lo <= math.MaxInt64 }

// appendScaledVol appends v × m (in 10^-8, m ≥ 0) as a decimal, exactly.
func appendScaledVol(dst []byte, v vol, m int64) []byte {
	// The product, up to 192 bits: p[0] most significant.
	h0, l0 := bits.Mul64(v.Lo, uint64(m))
	h1, l1 := bits.Mul64(v.Hi, uint64(m))
	mid, c := bits.Add64(l1, h0, 0)
	p := [3]uint64{h1 + c, mid, l0}
	if p[0] == 0 && p[1] == 0 && p[2] <= math.MaxInt64 {
		return AppendDecimal(dst, int64(p[2]), Scale)
	}
	// Decimal digits, 19 at a time from the least significant (10^19 <
	// 2^64): 192 bits are at most 58 digits, four times 19.
	const chunk = 10_000_000_000_000_000_000
	var buf [4 * 19]byte
	n := len(buf)
	for p != [3]uint64{} {
		var r uint64
		for i := range p {
			p[i], r = bits.Div64(r, p[i], chunk)
		}
		for range 19 {
			n--
			buf[n] = byte('0' + r%10)
			r /= 10
		}
	}
	for n < len(buf)-Scale-1 && buf[n] == '0' { // leading zeros
		n++
	}
	point := len(buf) - Scale
	dst = append(dst, buf[n:point]...)
	end := len(buf)
	for end > point && buf[end-1] == '0' {
		end--
	}
	if end > point {
		dst = append(append(dst, '.'), buf[point:end]...)
	}
	return dst
}

// amount parses an asset amount (10^-8 units).
func amount(s []byte, field string) (int64, error) {
	v, err := ParseDecimal(s, Scale, false)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q: %w", errInvalid, field, s, err)
	}
	return v, nil
}
