package main

import (
	"errors"
	"math"
	"math/big"
	"strconv"
)

// Numbers. istd writes every price, quantity and amount as a decimal
// string with at most 8 decimal places (API.md). The maker reads them
// into int64 counts of 10^-8 ("fixed8": "101.25" is 10125000000), turns
// prices into whole ticks and quantities into whole lots of the market,
// and does all its arithmetic on those integers. Decimal strings exist
// only on the wire; no float ever holds a price.

// fixedScale is the number of decimal places of a fixed8 number, and
// fixedOne is 1 in fixed8.
const (
	fixedScale = 8
	fixedOne   = 100_000_000
)

// Errors of parseFixed.
var (
	errDecimalSyntax = errors.New("marketmaker: not a decimal number")
	errDecimalPlaces = errors.New("marketmaker: more than 8 decimal places")
	errDecimalRange  = errors.New("marketmaker: decimal number out of range")
)

// parseFixed parses a plain decimal string ("101.25", "-0.5", "3") into
// fixed8. It rejects exponents, '+', spaces, a point without a digit on
// both sides, more than 8 decimal places and values beyond int64.
func parseFixed(s string) (int64, error) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	ip, fp, point := s, "", false
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			ip, fp, point = s[:i], s[i+1:], true
			break
		}
	}
	if ip == "" || (point && fp == "") || !digits(ip) || !digits(fp) {
		return 0, errDecimalSyntax
	}
	if len(fp) > fixedScale {
		return 0, errDecimalPlaces
	}
	for len(fp) < fixedScale {
		fp += "0"
	}
	// The magnitude goes up to MaxInt64; a negative one may be one more.
	u, err := strconv.ParseUint(ip+fp, 10, 64)
	if err != nil || u > math.MaxInt64+1 || (!neg && u > math.MaxInt64) {
		return 0, errDecimalRange
	}
	if neg {
		return int64(-u), nil // -(2^63) wraps to itself: MinInt64
	}
	return int64(u), nil
}

// digits reports whether s holds only ASCII digits (true when empty).
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// formatFixed formats a fixed8 number as a decimal string without
// trailing fractional zeros, as istd does ("101.25", "3", "-0.5").
// parseFixed(formatFixed(v)) == v for every v.
func formatFixed(v int64) string {
	var b []byte
	u := uint64(v)
	if v < 0 {
		b = append(b, '-')
		u = -u // two's complement: right for MinInt64 too
	}
	b = strconv.AppendUint(b, u/fixedOne, 10)
	if f := u % fixedOne; f != 0 {
		fs := strconv.FormatUint(f+fixedOne, 10)[1:] // zero-padded to 8 digits
		for fs[len(fs)-1] == '0' {
			fs = fs[:len(fs)-1]
		}
		b = append(append(b, '.'), fs...)
	}
	return string(b)
}

// rounding is a direction of integer division.
type rounding int8

const (
	roundDown    rounding = iota // towards −∞
	roundUp                      // towards +∞
	roundNearest                 // to the nearest, halves towards +∞
)

// mulDiv returns the product of factors divided by den (den > 0),
// rounded as r, computed exactly whatever the size of the intermediate
// product. ok is false if the result does not fit an int64.
func mulDiv(r rounding, den int64, factors ...int64) (_ int64, ok bool) {
	if den <= 0 {
		panic("marketmaker: mulDiv by a non-positive number")
	}
	n := big.NewInt(1)
	for _, f := range factors {
		n.Mul(n, big.NewInt(f))
	}
	d := big.NewInt(den)
	q, m := new(big.Int).DivMod(n, d, new(big.Int)) // Euclidean: 0 ≤ m < den, so q is the floor
	switch {
	case m.Sign() == 0:
	case r == roundUp:
		q.Add(q, big.NewInt(1))
	case r == roundNearest && m.Lsh(m, 1).Cmp(d) >= 0:
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 0, false
	}
	return q.Int64(), true
}

// roundTo rounds a fixed8 value v to a whole number of steps of size
// step (> 0, in fixed8) and returns that number of steps: a price to
// ticks, a quantity to lots.
func roundTo(v, step int64, r rounding) int64 {
	n, _ := mulDiv(r, step, v) // |v/step| ≤ |v|: always fits
	return n
}
