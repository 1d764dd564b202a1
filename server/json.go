package server

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// Responses are built by appending to a byte slice (no reflection): the
// helpers here append JSON values, and writeJSON sends the slice.

// Handlers build a response in a buffer on their stack (var arr [N]byte;
// b := arr[:0]) that grows to the heap only for large answers.

// writeJSON sets status, content type and body; body is copied.
func writeJSON(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendKey appends `"key":` after a comma unless first.
func appendKey(dst []byte, key string, first bool) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// appendStr appends a string field.
func appendStr(dst []byte, key, v string) []byte {
	return appendString(appendKey(dst, key, false), v)
}

// appendUint appends a number field.
func appendUint(dst []byte, key string, v uint64) []byte {
	return strconv.AppendUint(appendKey(dst, key, false), v, 10)
}

// appendInt appends a number field.
func appendInt(dst []byte, key string, v int64) []byte {
	return strconv.AppendInt(appendKey(dst, key, false), v, 10)
}

// appendBool appends a boolean field.
func appendBool(dst []byte, key string, v bool) []byte {
	return strconv.AppendBool(appendKey(dst, key, false), v)
}

// appendAmount appends an asset amount (10^-8 units) as a decimal string
// field.
func appendAmount(dst []byte, key string, v int64) []byte {
	dst = append(appendKey(dst, key, false), '"')
	dst = AppendDecimal(dst, v, Scale)
	return append(dst, '"')
}

// appendTime appends Unix nanoseconds as an RFC 3339 string field.
func appendTime(dst []byte, key string, ns int64) []byte {
	dst = append(appendKey(dst, key, false), '"')
	dst = appendRFC3339(dst, ns)
	return append(dst, '"')
}

// appendRFC3339 appends Unix nanoseconds as an RFC 3339 UTC time.
func appendRFC3339(dst []byte, ns int64) []byte {
	return time.Unix(0, ns).UTC().AppendFormat(dst, time.RFC3339Nano)
}

// strconvUint appends v.
func strconvUint(dst []byte, v uint64) []byte { return strconv.AppendUint(dst, v, 10) }
