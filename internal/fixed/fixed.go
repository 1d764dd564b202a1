// Package fixed has the saturating integer arithmetic that ist's money
// computations share (engine sizing and valuation, server statistics):
// products and ratios of non-negative int64 amounts, computed in 128
// bits, that saturate at math.MaxInt64 instead of wrapping.
//
//	fixed.MulDiv(units, price, scale) // units × price / scale, no overflow
package fixed

import (
	"math"
	"math/bits"
)

// MulDiv returns a × b / c, rounded down, for a, b ≥ 0 and c > 0,
// computed in 128 bits and saturating at MaxInt64; 0 if any of them is
// not positive.
func MulDiv(a, b, c int64) int64 { return mulDiv(a, b, c, false) }

// MulDivCeil is MulDiv rounded up.
func MulDivCeil(a, b, c int64) int64 { return mulDiv(a, b, c, true) }

func mulDiv(a, b, c int64, up bool) int64 {
	if c <= 0 || a <= 0 || b <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, uint64(c))
	if up && r != 0 {
		q++
	}
	return int64(min(q, math.MaxInt64))
}

// MulSat returns a × b, saturating at MaxInt64; negative operands count
// as 0.
func MulSat(a, b int64) int64 {
	hi, lo := bits.Mul64(uint64(max(a, 0)), uint64(max(b, 0)))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}

// SatAdd returns a + b for a, b ≥ 0, saturating at MaxInt64.
func SatAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// CeilDiv returns ⌈a / b⌉ for a ≥ 0 and b > 0.
func CeilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}
