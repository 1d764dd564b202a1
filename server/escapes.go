package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// JSON string escapes. fastjson unescapes a string leniently when a
// decoder reads it: an escape RFC 8259 does not allow ("\x") is kept as
// its text, and a \u escape of half a UTF-16 surrogate pair ("\ud800")
// as its six characters, which no client meant. checkEscapes refuses
// both in a whole body once it parsed (parse, request.go), before any
// decoder reads a string, so that every request body and stream message
// is refused for them and no field (client_order_id, ref, a name, a
// symbol) stores such text.

// checkEscapes returns an invalid_argument error if body, a JSON text
// that fastjson parsed, holds a string escape RFC 8259 does not allow.
// Allowed are \" \\ \/ \b \f \n \r \t and \uXXXX (4 hex digits) where a
// \u escape of a high surrogate (D800 to DBFF) is followed at once by a
// \u escape of a low one (DC00 to DFFF), and a low one comes only so.
// In a JSON text a backslash occurs only inside a string, where it
// starts an escape, so a scan of the bytes is exact. The error says
// which field's key or value holds the first bad escape, the offset of
// its backslash in body (0 is the first byte) and what is wrong.
//
// It does not allocate unless it fails; a body without a backslash, as
// an order usually is, costs one bytes.IndexByte.
func checkEscapes(body []byte) error {
	i := bytes.IndexByte(body, '\\')
	if i < 0 {
		return nil
	}
	for {
		n, bad := escapeLen(body[i:])
		if bad != escOK {
			return escapeError(body, i, bad)
		}
		j := bytes.IndexByte(body[i+n:], '\\')
		if j < 0 {
			return nil
		}
		i += n + j
	}
}

// escapeProblem says what is wrong with an escape.
type escapeProblem uint8

const (
	escOK      escapeProblem = iota
	escUnknown               // a backslash before a character JSON does not escape
	escHex                   // \u without 4 hex digits
	escHigh                  // a high surrogate not followed by a low one
	escLow                   // a low surrogate not after a high one
)

// escapeLen returns the length of the escape e starts with (e[0] is a
// backslash): 2, 6, or 12 for a surrogate pair; or what is wrong with it.
func escapeLen(e []byte) (int, escapeProblem) {
	if len(e) < 2 {
		return 0, escUnknown
	}
	switch e[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, escOK
	case 'u':
	default:
		return 0, escUnknown
	}
	r := hex4(e[2:])
	switch {
	case r < 0:
		return 0, escHex
	case r < 0xd800 || r > 0xdfff:
		return 6, escOK
	case r >= 0xdc00:
		return 0, escLow
	}
	if len(e) >= 12 && e[6] == '\\' && e[7] == 'u' {
		if lo := hex4(e[8:]); 0xdc00 <= lo && lo <= 0xdfff {
			return 12, escOK
		}
	}
	return 0, escHigh
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

// escapeError is the error of checkEscapes for the escape at body[at]:
// "client_order_id holds an invalid JSON string escape at byte 97: \x is
// not a JSON escape (...)".
func escapeError(body []byte, at int, bad escapeProblem) error {
	var why string
	switch e := body[at:]; bad {
	case escHex:
		why = `\u must be followed by 4 hex digits`
	case escHigh:
		why = fmt.Sprintf(`\u%s is the high half of a UTF-16 surrogate pair without its low half`, e[2:6])
	case escLow:
		why = fmt.Sprintf(`\u%s is the low half of a UTF-16 surrogate pair without its high half`, e[2:6])
	default:
		s := "a backslash at the end"
		if len(e) > 1 && e[1] > ' ' && e[1] < 0x7f {
			s = `\` + string(e[1])
		} else if len(e) > 1 {
			s = fmt.Sprintf("a backslash before byte %#02x", e[1])
		}
		why = s + ` is not a JSON escape (only \" \\ \/ \b \f \n \r \t and \uXXXX are)`
	}
	where := "invalid JSON string escape"
	switch field, key := escapeField(body, at); {
	case key:
		where = "a field name holds an " + where
	case field != "":
		where = field + " holds an " + where
	}
	return fmt.Errorf("%w: %s at byte %d: %s", errInvalid, where, at, why)
}

// escapeField returns where body[at], inside a string of body (a JSON
// text), is: key is true if that string is a field name; else field is
// the path of the field whose value holds it ("orders[2].client_order_id",
// "channels[0]"), or "" if it is not in an object's field.
func escapeField(body []byte, at int) (field string, key bool) {
	var stack []jsonFrame
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '{', '[':
			stack = append(stack, jsonFrame{obj: c == '{'})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if len(stack) > 0 && !stack[len(stack)-1].obj {
				stack[len(stack)-1].idx++
			}
		case '"':
			end := i + 1 // the closing quote
			for end < len(body) && body[end] != '"' {
				if body[end] == '\\' {
					end++
				}
				end++
			}
			j := end + 1
			for j < len(body) && strings.IndexByte(" \t\r\n", body[j]) >= 0 {
				j++
			}
			isKey := j < len(body) && body[j] == ':'
			if at < end {
				if isKey {
					return "", true
				}
				return fieldPath(stack), false
			}
			if isKey && len(stack) > 0 {
				stack[len(stack)-1].key = body[i+1 : min(end, len(body))]
			}
			i = end
		}
	}
	return "", false
}

// jsonFrame is an object or array escapeField is in.
type jsonFrame struct {
	obj bool
	key []byte // the raw name of the object's last field
	idx int    // the array's element
}

// fieldPath returns the path of a value inside the frames of stack, or
// "" if the outermost is not an object's field.
func fieldPath(stack []jsonFrame) string {
	var b strings.Builder
	for n, f := range stack {
		switch {
		case f.obj && f.key != nil:
			if n > 0 {
				b.WriteByte('.')
			}
			b.WriteString(fieldName(f.key))
		case f.obj || n == 0:
			return ""
		default:
			b.WriteString("[" + strconv.Itoa(f.idx) + "]")
		}
	}
	return b.String()
}

// fieldName returns raw, a field name as the body spells it (its escapes
// valid), as a message shows it: as is if it reads as an identifier,
// else quoted.
func fieldName(raw []byte) string {
	var s string
	if json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s) != nil {
		s = string(raw)
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
