package server

import (
	"errors"
	"math"
)

// Scale is the number of decimal places of every asset amount in the
// server: balances, deposits, fees and quote budgets are integers of
// 10^-8 units of their asset ("1.5" BTC is 150000000).
const Scale = 8

// unit is 10^Scale.
const unit = 100_000_000

// Errors of ParseDecimal.
var (
	ErrDecimalSyntax   = errors.New("server: not a decimal number")
	ErrDecimalPlaces   = errors.New("server: too many decimal places")
	ErrDecimalOverflow = errors.New("server: decimal number out of range")
	ErrDecimalNegative = errors.New("server: decimal number must not be negative")
)

var pow10 = [...]int64{1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000,
	100_000_000, 1_000_000_000, 10_000_000_000, 100_000_000_000, 1_000_000_000_000,
	10_000_000_000_000, 100_000_000_000_000, 1_000_000_000_000_000,
	10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000}

// ParseDecimal parses a plain decimal string such as "101.25" into an
// integer of 10^-scale units (with scale 2, "101.25" is 10125). It accepts
// digits with an optional fraction ("1", "1.5", "0.001"); "1." and ".5"
// are rejected (a digit is required on both sides of the point). A leading
// '-' is accepted only if signed is true; '+', spaces, exponents, "NaN",
// "Inf", hex and underscores are rejected. More than scale decimal places
// is an error even if the extra digits are zeros, and so is a value that
// does not fit an int64. scale must be between 0 and 18. It does not
// allocate.
func ParseDecimal(s []byte, scale int, signed bool) (int64, error) {
	if scale < 0 || scale >= len(pow10) {
		return 0, ErrDecimalPlaces
	}
	neg := false
	if len(s) > 0 && s[0] == '-' {
		if !signed {
			return 0, ErrDecimalNegative
		}
		neg = true
		s = s[1:]
	}
	if len(s) == 0 {
		return 0, ErrDecimalSyntax
	}
	// The magnitude is accumulated as a negative number (see pushDigit).
	var v int64
	var ok bool
	i := 0
	for ; i < len(s) && s[i] != '.'; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, ErrDecimalSyntax
		}
		if v, ok = pushDigit(v, c); !ok {
			return 0, ErrDecimalOverflow
		}
	}
	if i == 0 {
		return 0, ErrDecimalSyntax
	}
	places := 0
	if i < len(s) {
		i++ // the point
		if i == len(s) {
			return 0, ErrDecimalSyntax
		}
		for ; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, ErrDecimalSyntax
			}
			places++
			if places > scale {
				return 0, ErrDecimalPlaces
			}
			if v, ok = pushDigit(v, c); !ok {
				return 0, ErrDecimalOverflow
			}
		}
	}
	m := pow10[scale-places]
	if v < math.MinInt64/m {
		return 0, ErrDecimalOverflow
	}
	v *= m
	if neg {
		return v, nil
	}
	if v == math.MinInt64 {
		return 0, ErrDecimalOverflow
	}
	return -v, nil
}

// pushDigit returns v×10 − d for the digit c = '0'+d: ParseDecimal
// accumulates the magnitude as a negative number so that math.MinInt64
// parses. ok is false if the result does not fit an int64.
func pushDigit(v int64, c byte) (_ int64, ok bool) {
	if v < math.MinInt64/10 {
		return 0, false
	}
	v *= 10
	d := int64(c - '0')
	if v < math.MinInt64+d {
		return 0, false
	}
	return v - d, true
}

// AppendDecimal appends v, an integer of 10^-scale units, to dst as a
// decimal string without trailing fractional zeros ("101.25", "3", "-0.5")
// and returns the extended slice. scale must be between 0 and 18.
// ParseDecimal(AppendDecimal(nil, v, scale), scale, true) == v for every v.
func AppendDecimal(dst []byte, v int64, scale int) []byte {
	var u uint64
	if v < 0 {
		dst = append(dst, '-')
		u = uint64(-(v + 1)) + 1
	} else {
		u = uint64(v)
	}
	m := uint64(pow10[scale])
	ip, fp := u/m, u%m
	var buf [20]byte
	n := len(buf)
	for {
		n--
		buf[n] = byte('0' + ip%10)
		ip /= 10
		if ip == 0 {
			break
		}
	}
	dst = append(dst, buf[n:]...)
	if fp == 0 {
		return dst
	}
	dst = append(dst, '.')
	var fb [18]byte
	for i := scale - 1; i >= 0; i-- {
		fb[i] = byte('0' + fp%10)
		fp /= 10
	}
	end := scale
	for end > 0 && fb[end-1] == '0' {
		end--
	}
	return append(dst, fb[:end]...)
}
