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
// unique: two accounts may have the same. A body escaping half a UTF-16
// surrogate pair ("\ud800", which fastjson would keep as six characters)
// is refused before any name is read (checkEscapes, escapes.go).

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
