package server

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Names other users see: an account's name (POST /v1/accounts, at most
// engine.Name's 24 bytes) and a leader's display_name (PUT
// /v1/social/leader, social.go). Both show on leaderboards and in
// follows, so both must read as what they are: valid UTF-8 without
// control characters (Cc: "a\nb", BEL), format characters (Cf: the bidi
// overrides that would show "\u202eecila" as "alice", zero-width
// characters) or line and paragraph separators (Zl, Zp); not blank; and
// without white space at either end, which is refused rather than
// trimmed, so that a name is stored exactly as sent. Names are not
// unique: two accounts may have the same.

// checkName returns an invalid_argument error naming field unless b is
// a name fit to show, of 1 to maxLen bytes, as the comment above says.
func checkName(field string, b []byte, maxLen int) error {
	if len(b) == 0 || len(b) > maxLen {
		return fmt.Errorf("%w: %s must be 1 to %d bytes", errInvalid, field, maxLen)
	}
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: %s must be valid UTF-8", errInvalid, field)
	}
	blank := true
	for _, r := range string(b) {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return fmt.Errorf("%w: %s must not contain control or format characters (%U)", errInvalid, field, r)
		}
		blank = blank && unicode.IsSpace(r)
	}
	first, _ := utf8.DecodeRune(b)
	last, _ := utf8.DecodeLastRune(b)
	switch {
	case blank:
		return fmt.Errorf("%w: %s must not be blank", errInvalid, field)
	case unicode.IsSpace(first) || unicode.IsSpace(last):
		return fmt.Errorf("%w: %s must not begin or end with white space", errInvalid, field)
	}
	return nil
}

// loneSurrogate reports whether JSON text js (valid JSON) escapes a
// UTF-16 surrogate that is not half of a pair ("\ud800"): the decoder
// lets such an escape through as its six characters, where it must be
// refused as not UTF-8.
func loneSurrogate(js []byte) bool {
	for i := 0; i < len(js); i++ {
		if js[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if i >= len(js) || js[i] != 'u' {
			continue
		}
		r := hex4(js[i+1:])
		i += 4
		switch {
		case r < 0xd800 || r > 0xdfff:
		case r >= 0xdc00: // a low half first
			return true
		default: // a high half: a low one must follow
			if i+6 >= len(js) || js[i+1] != '\\' || js[i+2] != 'u' {
				return true
			}
			if lo := hex4(js[i+3:]); lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			i += 6
		}
	}
	return false
}

// hex4 returns the value of the 4 hex digits b starts with, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
